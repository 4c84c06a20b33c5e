"""Risk and compliance: the gate every order passes, position sizing, and portfolio risk.

Pure code: nothing here touches the store or a broker. The live loop builds an
:class:`AccountState` each step and asks :class:`RiskGate` about each
:class:`OrderIntent`; the control room shows :mod:`engine.risk.analytics` and edits
:class:`RiskLimits`.
"""

from engine.risk.context import day_trades_in_window
from engine.risk.decision import Decision
from engine.risk.gate import RULES, RiskGate, submitted
from engine.risk.gate_inputs import (
    AccountState,
    EquityMark,
    OrderIntent,
    OrderType,
    Position,
    Purpose,
    RealisedSale,
    Side,
    SubmittedOrder,
    SymbolSnapshot,
    TradingState,
)
from engine.risk.limits import (
    LimitsError,
    RiskLimits,
    limits_diff,
    limits_from_mapping,
    load_limits,
)
from engine.risk.market import market_snapshot
from engine.risk.sizing import position_size, size_entry

__all__ = [
    "RULES",
    "AccountState",
    "Decision",
    "EquityMark",
    "LimitsError",
    "OrderIntent",
    "OrderType",
    "Position",
    "Purpose",
    "RealisedSale",
    "RiskGate",
    "RiskLimits",
    "Side",
    "SubmittedOrder",
    "SymbolSnapshot",
    "TradingState",
    "limits_diff",
    "limits_from_mapping",
    "load_limits",
    "market_snapshot",
    "position_size",
    "size_entry",
    "submitted",
    "day_trades_in_window",
]
