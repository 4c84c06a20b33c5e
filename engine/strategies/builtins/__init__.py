"""The built-in strategies; importing this package registers them.

Each is long-only and documents what it trades on. Their parameters are frozen models
whose validators reject combinations that make no sense (``fast >= slow``).
"""

from engine.strategies.builtins import (  # noqa: F401  (imported to register)
    bollinger_reversion,
    donchian_breakout,
    ml_classifier,
    momentum_rotation,
    rsi_reversion,
    sma_crossover,
)
