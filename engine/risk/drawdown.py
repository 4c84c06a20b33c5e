"""Losses measured on equity marks: since the prior close, the prior week, or a resume.

One definition serves the gate (which acts on the losses) and the control room (which
shows them), so what the trader sees is what the gate enforced:

- the **daily** loss is measured from the last mark before the trading day's session opens
  (in practice the prior close);
- the **weekly** loss from the last mark before the week's first session opens (the prior
  week's close);
- a loss is a positive fraction (0.03 means equity is 3% below the reference); a gain is
  a negative loss.

When no mark precedes the reference time (a new account), the earliest mark is the
reference; with no marks at all, nothing is lost yet.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from engine.risk import sessions
from engine.risk.gate_inputs import EquityMark, as_utc


@dataclass(frozen=True, slots=True)
class PeriodLosses:
    """The account's losses now: since the prior close, since the prior week, since a resume."""

    equity: float
    daily: float
    weekly: float
    #: The weekly loss the hard halt uses: measured from a resume made this week, if any.
    weekly_since_resume: float
    daily_reference: float | None
    weekly_reference: float | None


def equity_before(
    marks: Sequence[EquityMark], at: datetime, *, inclusive: bool = False
) -> float | None:
    """The equity of the last mark before ``at`` (or at it, if ``inclusive``); else the first mark.

    ``marks`` must be in time order (an :class:`AccountState` keeps them so).
    """
    if not marks:
        return None
    at = as_utc(at)
    find = bisect.bisect_right if inclusive else bisect.bisect_left
    i = find(marks, at, key=_mark_time)
    return marks[i - 1].equity if i > 0 else marks[0].equity


def _mark_time(mark: EquityMark) -> datetime:
    return mark.at


def loss(equity: float, reference: float | None) -> float:
    """How far ``equity`` is below ``reference`` as a fraction (negative when above)."""
    if reference is None or reference <= 0:
        return 0.0
    return 1.0 - equity / reference


def period_losses(
    marks: Sequence[EquityMark],
    equity: float,
    trade_day: date,
    *,
    resumed_at: datetime | None = None,
) -> PeriodLosses:
    """The daily and weekly losses of ``equity`` for orders trading on ``trade_day``."""
    today = sessions.session_on(trade_day)
    day_open = today.open if today else datetime.combine(trade_day, datetime.min.time())
    week_first = sessions.session_on(sessions.week_start(trade_day))
    week_open = week_first.open if week_first else day_open
    daily_ref = equity_before(marks, day_open)
    weekly_ref = equity_before(marks, week_open)
    weekly = loss(equity, weekly_ref)
    since_resume = weekly
    if resumed_at is not None and as_utc(resumed_at) >= week_open:
        since_resume = loss(equity, equity_before(marks, resumed_at, inclusive=True))
    return PeriodLosses(
        equity=equity,
        daily=loss(equity, daily_ref),
        weekly=weekly,
        weekly_since_resume=since_resume,
        daily_reference=daily_ref,
        weekly_reference=weekly_ref,
    )
