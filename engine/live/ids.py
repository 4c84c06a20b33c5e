"""Client order ids: the loop names every order by the decision it carries out.

A strategy's order is ``<config id>-<symbol>-<buy|sell|stop|protect>[leg]-<bar>``: the
config, the symbol, what the order does (with a scale-in ladder's leg number from 2 on:
``buy2`` buys the second leg, ``stop2`` is its stop; the first leg's names are unchanged)
and the bar whose close decided it, ``YYYYMMDD``
for a daily bar and ``YYYYMMDDTHHMM`` (its close, New York time) for an intraday one (``protect``:
a position's stop put back at the start of a step because it had gone missing). Deciding the same thing
again (a repeated step, a restart after a crash) gives the same id, and the broker gives
back the order it already has instead of placing a second one. A trader's order from a
command is ``cmd<id>-<symbol>-<what>``, so a command applied twice places nothing twice.

>>> decision_id("5c0f3e9a1b7d2c44", "AAPL", "buy", date(2024, 5, 1))
'5c0f3e9a1b7d2c44-AAPL-buy-20240501'
>>> parse_decision_id("5c0f3e9a1b7d2c44-AAPL-buy-20240501")
Decision(config_id='5c0f3e9a1b7d2c44', symbol='AAPL', action='buy', bar=datetime.date(2024, 5, 1), at='', leg=1)
>>> parse_decision_id("5c0f3e9a1b7d2c44-AAPL-sell-20240501T1035").key
'20240501T1035'
>>> decision_id("5c0f3e9a1b7d2c44", "AAPL", "buy", date(2024, 5, 3), leg=2)
'5c0f3e9a1b7d2c44-AAPL-buy2-20240503'
>>> parse_decision_id("5c0f3e9a1b7d2c44-AAPL-buy2-20240503").leg
2
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from typing import NamedTuple
from zoneinfo import ZoneInfo

ACTIONS = ("buy", "sell", "stop", "protect")
_DECISION = re.compile(
    r"^([0-9a-f]{4,64})-([A-Z][A-Z0-9.\-]*)-(buy|sell|stop|protect)([2-9]|10)?-(\d{8})(?:T(\d{4}))?$"
)
#: The actions that name a ladder's leg (an exit sells every leg).
LEG_ACTIONS = ("buy", "stop", "protect")
NEW_YORK = ZoneInfo("America/New_York")
_COMMAND = re.compile(r"^cmd(\d+)-([A-Z][A-Z0-9.\-]*)-([a-z]+)$")


class Decision(NamedTuple):
    config_id: str
    symbol: str
    action: str
    bar: date  # the session
    at: str = ""  # an intraday bar's close, HHMM New York time ("" for a daily bar)
    leg: int = 1  # a scale-in ladder's leg the order buys or protects (1: the first)

    @property
    def key(self) -> str:
        """The deciding bar as the id names it (ordered as the bars are, at one bar size)."""
        return f"{self.bar:%Y%m%d}" + (f"T{self.at}" if self.at else "")

    @property
    def decided_at(self) -> datetime:
        """The deciding bar as the risk gate keys it (naive UTC): an intraday bar's close, a
        daily bar's session date at midnight."""
        if not self.at:
            return datetime.combine(self.bar, datetime.min.time())
        local = datetime.combine(self.bar, time(int(self.at[:2]), int(self.at[2:])), NEW_YORK)
        return local.astimezone(UTC).replace(tzinfo=None)


def bar_key(bar) -> str:
    """``bar`` (a session date, or an intraday :class:`~engine.live.clock.BarClose`) as an
    order id names it: ``YYYYMMDD``, or ``YYYYMMDDTHHMM`` with the bar's New York close."""
    if getattr(bar, "bar_size", "1d") == "1d":
        return f"{getattr(bar, 'session', bar):%Y%m%d}"
    return f"{bar.session:%Y%m%d}T{bar.close:%H%M}"


def session_of(bar) -> date:
    """The session ``bar`` belongs to (a date is its own session)."""
    return getattr(bar, "session", bar)


def decision_id(config_id: str, symbol: str, action: str, bar, leg: int = 1) -> str:
    """The client order id of ``config_id``'s ``action`` on ``symbol`` decided at ``bar``'s
    close (a session date, or an intraday bar), for a ladder's ``leg`` (1: the first)."""
    if action not in ACTIONS:
        raise ValueError(f"action {action!r} is not one of {ACTIONS}")
    if leg != 1 and (action not in LEG_ACTIONS or not 2 <= leg <= 10):
        raise ValueError(f"{action!r} for leg {leg}: only {LEG_ACTIONS} name legs 2 to 10")
    named = action if leg == 1 else f"{action}{leg}"
    return f"{config_id}-{symbol}-{named}-{bar_key(bar)}"


def command_id(command: int, symbol: str, what: str) -> str:
    """The client order id of a trader's command number ``command`` acting on ``symbol``."""
    return f"cmd{int(command)}-{symbol}-{what}"


def parse_decision_id(client_order_id: str) -> Decision | None:
    """The decision a strategy order's id names, or None when it is not one of ours."""
    found = _DECISION.match(client_order_id or "")
    if found is None:
        return None
    config_id, symbol, action, leg, day, at = found.groups()
    if leg and action not in LEG_ACTIONS:
        return None
    bar = date.fromisoformat(day)  # YYYYMMDD (Python 3.11+); a tenth of strptime's time
    return Decision(config_id, symbol, action, bar, at or "", int(leg or 1))


def is_command_order(client_order_id: str) -> bool:
    """True for the id of an order a trader's command sent through the loop."""
    return _COMMAND.match(client_order_id or "") is not None


def leg_of(client_order_id: str) -> int:
    """The ladder leg an order of ours buys or protects (an attached stop its buy's); 1 else."""
    decided = parse_decision_id(client_order_id) or attached_stop_of(client_order_id)
    return decided.leg if decided is not None else 1


def attached_stop_of(client_order_id: str) -> Decision | None:
    """The entry whose attached stop the paper broker named ``client_order_id`` (else None)."""
    if not (client_order_id or "").endswith("-stop"):
        return None
    parent = parse_decision_id(client_order_id[: -len("-stop")])
    return parent if parent is not None and parent.action == "buy" else None
