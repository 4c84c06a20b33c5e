"""The earnings blackout: no new entries in a symbol in the last sessions before it reports.

A report moves a price by more than any stop distance allows for, and a gap through a
stop fills at the gapped price. With ``earnings_blackout_sessions`` = N (0, the default,
switches the rule off), a buy of a symbol whose next earnings date is E is refused on
each of the N sessions before E and on E itself: the report may come before the open or
after the close, and the date alone does not say which. Sessions are NYSE sessions, so a
weekend or a holiday in between does not count. From the session after E on, the symbol
may be bought again.

Exits and protective stops are never refused here (they reduce exposure). A symbol with
no earnings date known on or after the order's session is let through, with a note in
the audit trail saying so. Dates come from :mod:`engine.data.earnings` (Yahoo or a CSV),
which the live loop reads into the account state while the rule is on.

>>> from datetime import UTC, date, datetime
>>> from engine.risk import AccountState, OrderIntent, RiskGate, RiskLimits, SymbolSnapshot
>>> state = AccountState(equity=100_000, cash=100_000, market={"AAPL": SymbolSnapshot(190.0, 5e9)},
...                      earnings={"AAPL": (date(2024, 5, 2),)})
>>> gate = RiskGate(RiskLimits(earnings_blackout_sessions=3))
>>> monday = datetime(2024, 4, 29, 15, 0, tzinfo=UTC)  # 11:00 in New York
>>> print(gate.check(OrderIntent("AAPL", "buy", 10, config_id="c1"), state, monday).reason)
buy 10 AAPL refused: AAPL reports earnings on Thu 2024-05-02, 3 sessions after this order's session (Mon 2024-04-29); no new entries within 3 sessions before earnings (earnings_blackout_sessions)
"""

from __future__ import annotations

import bisect

from engine.risk import sessions
from engine.risk.context import GateContext
from engine.risk.decision import Flag, Outcome
from engine.risk.gate_inputs import OrderIntent
from engine.risk.gate_rules import describe_order, refuse
from engine.risk.rule_facts import rule

HINT = "`wb earnings refresh` fetches dates from Yahoo; `wb earnings import FILE` loads a CSV"


@rule(alerts=False, buys_only=True)
def earnings_blackout(intent: OrderIntent, ctx: GateContext) -> Outcome | None:
    """A buy within ``earnings_blackout_sessions`` sessions before the symbol's earnings is refused."""
    window = ctx.limits.earnings_blackout_sessions
    if window <= 0:
        return None
    symbol, day = intent.symbol, ctx.trade_date
    known = ctx.state.earnings.get(symbol, ())
    i = bisect.bisect_left(known, day)
    if i == len(known):
        last = f" (the last known was {known[-1]})" if known else ""
        return Flag(
            "earnings_blackout",
            "earnings_date_unknown",
            f"{describe_order(intent)} allowed: no earnings date of {symbol} is known on or after "
            f"{day}{last}, so the earnings blackout could not be checked; {HINT}",
        )
    reports = known[i]
    if (reports - day).days > 2 * window + 7:  # N sessions never span that many days
        return None
    left = sessions.sessions_until(day, reports)
    if left > window:
        return None
    when = (
        "the session this order trades in"
        if left == 0
        else f"{left} session{'s' if left != 1 else ''} after this order's session ({day:%a %Y-%m-%d})"
    )
    return refuse(
        "earnings_blackout",
        intent,
        f"{symbol} reports earnings on {reports:%a %Y-%m-%d}, {when}; no new entries within "
        f"{window} session{'s' if window != 1 else ''} before earnings "
        "(earnings_blackout_sessions)",
    )
