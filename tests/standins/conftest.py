"""The stand-ins' own fixtures, for the tests of the stand-ins themselves."""

from tests.standins.alpaca import alpaca_standin  # noqa: F401
