"""Client order ids: the loop names every order by the decision it carries out.

A strategy's order is ``<config id>-<symbol>-<buy|sell|stop|protect>-<YYYYMMDD>``: the
config, the symbol, what the order does and the bar whose close decided it (``protect``:
a position's stop put back at the start of a step because it had gone missing). Deciding the same thing
again (a repeated step, a restart after a crash) gives the same id, and the broker gives
back the order it already has instead of placing a second one. A trader's order from a
command is ``cmd<id>-<symbol>-<what>``, so a command applied twice places nothing twice.

>>> decision_id("5c0f3e9a1b7d2c44", "AAPL", "buy", date(2024, 5, 1))
'5c0f3e9a1b7d2c44-AAPL-buy-20240501'
>>> parse_decision_id("5c0f3e9a1b7d2c44-AAPL-buy-20240501")
Decision(config_id='5c0f3e9a1b7d2c44', symbol='AAPL', action='buy', bar=datetime.date(2024, 5, 1))
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import NamedTuple

ACTIONS = ("buy", "sell", "stop", "protect")
_DECISION = re.compile(r"^([0-9a-f]{4,64})-([A-Z][A-Z0-9.\-]*)-(buy|sell|stop|protect)-(\d{8})$")
_COMMAND = re.compile(r"^cmd(\d+)-([A-Z][A-Z0-9.\-]*)-([a-z]+)$")


class Decision(NamedTuple):
    config_id: str
    symbol: str
    action: str
    bar: date


def decision_id(config_id: str, symbol: str, action: str, bar: date) -> str:
    """The client order id of ``config_id``'s ``action`` on ``symbol`` decided at ``bar``'s close."""
    if action not in ACTIONS:
        raise ValueError(f"action {action!r} is not one of {ACTIONS}")
    return f"{config_id}-{symbol}-{action}-{bar:%Y%m%d}"


def command_id(command: int, symbol: str, what: str) -> str:
    """The client order id of a trader's command number ``command`` acting on ``symbol``."""
    return f"cmd{int(command)}-{symbol}-{what}"


def parse_decision_id(client_order_id: str) -> Decision | None:
    """The decision a strategy order's id names, or None when it is not one of ours."""
    found = _DECISION.match(client_order_id or "")
    if found is None:
        return None
    config_id, symbol, action, day = found.groups()
    return Decision(config_id, symbol, action, datetime.strptime(day, "%Y%m%d").date())


def is_command_order(client_order_id: str) -> bool:
    """True for the id of an order a trader's command sent through the loop."""
    return _COMMAND.match(client_order_id or "") is not None


def attached_stop_of(client_order_id: str) -> Decision | None:
    """The entry whose attached stop the paper broker named ``client_order_id`` (else None)."""
    if not (client_order_id or "").endswith("-stop"):
        return None
    parent = parse_decision_id(client_order_id[: -len("-stop")])
    return parent if parent is not None and parent.action == "buy" else None
