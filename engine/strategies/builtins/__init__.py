"""The built-in strategies; importing this package registers them.

Each is long-only and documents what it trades on. Their parameters are frozen models
whose validators reject combinations that make no sense (``fast >= slow``).

Each is declared in ``<name>.py`` (its params, what it trades on, its warm-up: no pandas,
so ``wb strategies`` lists them in a blink) and computed in ``signals/<name>.py``, which
the registry imports when the strategy is first used.
"""

from engine.strategies.builtins import (  # noqa: F401  (imported to declare)
    bollinger_reversion,
    donchian_breakout,
    ml_classifier,
    momentum_rotation,
    rsi_reversion,
    sma_crossover,
)
