"""Stress tests on plain data: stops that gap fill at the gapped price, cash after, the halts.

Every expected figure is worked out by hand from the case's numbers.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from engine.data.bars import Bars
from engine.risk import RiskLimits
from engine.risk.stress import (
    EPISODES,
    Episode,
    Holding,
    Shock,
    StressBook,
    apply_shock,
    correlations_to_one,
    gap,
    halts,
    replay,
    stress_test,
)

LIMITS = RiskLimits()  # daily 2%, weekly 5% soft (sizes x0.5), 8% hard


def book(*holdings: Holding, cash: float = 50_000.0, week_loss: float = 0.0) -> StressBook:
    value = sum(h.qty * h.price for h in holdings)
    return StressBook(tuple(holdings), cash=cash, equity=cash + value, week_loss=week_loss)


AAPL = Holding("AAPL", 100, 100.0, stop_price=95.0)  # $10,000 at $100, stop $95
GE = Holding("GE", 1000, 20.0, stop_price=18.0)  # $20,000 at $20, stop $18
F = Holding("F", 500, 10.0)  # $5,000 at $10, no stop


def shock(moves: dict[str, np.ndarray]) -> Shock:
    return Shock("test", "hypothetical", "a test shock", moves)


def test_a_gap_through_the_stop_fills_at_the_open_not_the_stop():
    result = apply_shock(book(AAPL), shock({"AAPL": gap(0.90)}), LIMITS)

    (fill,) = result.stops
    assert (fill.fill_price, fill.gapped, fill.session) == (90.0, True, 1)
    assert fill.past_stop == pytest.approx(500.0)  # 100 shares x ($95 - $90)
    assert result.pnl == pytest.approx(-1_000.0)  # not the -$500 the stop promised
    assert result.cash_after == pytest.approx(50_000 + 9_000)
    assert result.buying_power_after == result.cash_after  # a cash account


def test_a_session_that_trades_down_through_the_stop_fills_at_the_stop():
    path = np.array([[0.98, 0.94, 0.96]])  # opens at $98, trades to $94, closes at $96
    result = apply_shock(book(AAPL), shock({"AAPL": path}), LIMITS)

    (fill,) = result.stops
    assert (fill.fill_price, fill.gapped) == (95.0, False)
    assert result.pnl == pytest.approx(-500.0)  # sold at the stop, not marked at the $96 close


def test_a_position_without_a_stop_rides_the_shock_to_its_close():
    result = apply_shock(book(F), shock({"F": gap(0.70)}), LIMITS)
    assert result.stops == () and result.pnl == pytest.approx(-1_500.0)
    assert result.cash_after == 50_000.0


def test_a_stop_hit_on_the_second_session_and_the_halts_it_trips():
    # Equity $80,000: $50,000 cash, AAPL $10,000, GE $20,000.
    # Session 1: both fall 5% (AAPL opens $95 = its stop: filled, not gapped; GE $19).
    # Session 2: GE opens at $17, below its $18 stop: filled at $17 (gapped).
    moves = {
        "AAPL": gap(0.95, 0.90),
        "GE": gap(0.95, 0.85),
    }
    result = apply_shock(book(AAPL, GE), shock(moves), LIMITS)

    fills = {s.symbol: (s.session, s.fill_price, s.gapped) for s in result.stops}
    assert fills == {"AAPL": (1, 95.0, False), "GE": (2, 17.0, True)}
    # Close 1: 50,000 + 9,500 (AAPL sold) + 19,000 (GE at $19) = 78,500 (-1.875%)
    # Close 2: 50,000 + 9,500 + 17,000 = 76,500 (-2.548% on the day)
    assert result.equity_after == pytest.approx(76_500.0)
    assert result.worst_day_loss == pytest.approx(1 - 76_500 / 78_500)
    assert result.week_loss == pytest.approx(1 - 76_500 / 80_000)  # 4.375%
    assert result.halt == "no entries"  # the daily limit (2%), not the weekly soft one (5%)
    assert result.pnl_by_symbol == pytest.approx({"AAPL": -500.0, "GE": -3_000.0})


def test_the_weeks_loss_so_far_counts_toward_the_weekly_halts():
    moves = {"AAPL": gap(0.95, 0.90), "GE": gap(0.95, 0.85)}
    down_already = apply_shock(book(AAPL, GE, week_loss=0.04), shock(moves), LIMITS)
    # 1 - 0.96 x 76,500 / 80,000 = 8.2%: past the hard limit of 8%.
    assert down_already.week_loss == pytest.approx(1 - 0.96 * 76_500 / 80_000)
    assert down_already.halt == "HALTED"


@pytest.mark.parametrize(
    "worst_day, week, expected",
    [
        pytest.param(0.019, 0.049, [], id="under-every-limit"),
        pytest.param(0.02, 0.02, ["daily loss 2.0% past the 2% limit: no new entries that day"], id="daily-at-limit"),
        pytest.param(0.01, 0.05, ["weekly loss 5.0% past the 5% soft limit: new sizes cut to 50%"], id="weekly-soft"),
        pytest.param(
            0.03,
            0.08,
            [
                "daily loss 3.0% past the 2% limit: no new entries that day",
                "weekly loss 8.0% past the 8% hard limit: HALTED until a trader resumes",
            ],
            id="weekly-hard-says-halted-not-soft",
        ),
    ],
)  # fmt: skip
def test_halts_under_the_limits_in_force(worst_day, week, expected):
    assert list(halts(worst_day, week, LIMITS)) == expected


def test_a_day_that_stops_entries_and_cuts_sizes_says_both():
    # $10,000 of equity, half of it in F without a stop; F gaps 12%: -$600, -6%.
    result = apply_shock(book(F, cash=5_000.0), shock({"F": gap(0.88)}), LIMITS)
    assert result.pnl_pct == pytest.approx(-0.06)
    assert result.halt == "no entries, sizes cut"


def test_the_limits_in_force_decide_the_halts():
    loose = RiskLimits(daily_loss_limit=0.05, weekly_soft_loss=0.1, weekly_hard_loss=0.2)
    assert halts(0.04, 0.09, loose) == ()


# -- historical episodes -------------------------------------------------------------------

EPISODE = Episode("test crash", date(2008, 10, 3), (date(2008, 10, 6), date(2008, 10, 7)), (100.0, 95.0, 80.0))


def episode_bars(symbol: str, rows: list[tuple[str, float, float, float]]) -> Bars:
    """Adjusted bars of one symbol from (date, open, low, close) rows."""
    index = pd.DatetimeIndex([pd.Timestamp(r[0]) for r in rows])
    opens, lows, closes = ([r[i] for r in rows] for i in (1, 2, 3))

    def column(values):
        return pd.DataFrame({symbol: values}, index=index, dtype=float)

    highs = [max(o, c) for o, c in zip(opens, closes, strict=True)]
    return Bars(column(opens), column(highs), column(lows), column(closes), column([1e6] * len(rows)))


def test_an_episode_replays_a_symbols_own_bars_and_moves_the_others_with_the_index():
    bars = episode_bars(
        "AAPL",
        [("2008-10-03", 50.0, 49.0, 50.0), ("2008-10-06", 48.0, 44.0, 45.0), ("2008-10-07", 46.0, 40.0, 42.0)],
    )  # fmt: skip
    held = book(AAPL, GE)
    replayed = replay(EPISODE, held, bars)

    # AAPL: its own sessions over its close before (50): open 0.96, low 0.88, close 0.90, ...
    np.testing.assert_allclose(replayed.moves["AAPL"], [[0.96, 0.88, 0.90], [0.92, 0.80, 0.84]])
    # GE has no bars: the index's closes (95, 80 over 100) as overnight gaps.
    np.testing.assert_allclose(replayed.moves["GE"], gap(0.95, 0.80))
    assert replayed.notes == (
        "replayed from stored bars (adjusted): AAPL",
        "no stored bars for 2008-10-03 to 2008-10-07: GE moved with the S&P 500 (-20.0%; "
        "beta one), each session's move as an overnight gap",
    )
    result = apply_shock(held, replayed, LIMITS)
    # AAPL: low $88 < stop $95 with the open $96 above it: filled at the stop.
    # GE: session 1 opens at $19 (above $18); session 2 opens at $16, below: gapped.
    fills = {s.symbol: (s.session, s.fill_price) for s in result.stops}
    assert fills == {"AAPL": (1, 95.0), "GE": (2, 16.0)}


def test_a_symbol_missing_one_session_of_the_episode_is_assumed_not_half_replayed():
    bars = episode_bars("AAPL", [("2008-10-03", 50.0, 49.0, 50.0), ("2008-10-06", 48.0, 44.0, 45.0)])
    replayed = replay(EPISODE, book(AAPL), bars)
    np.testing.assert_allclose(replayed.moves["AAPL"], gap(0.95, 0.80))
    assert "AAPL moved with the S&P 500" in replayed.notes[-1]


def test_the_episodes_are_the_ones_the_issue_names():
    moves = {e.name: round(e.index_move, 3) for e in EPISODES}
    assert moves == {
        "2008 worst day": -0.090,
        "2008 worst week": -0.182,
        "March 2020": -0.150,
        "1987-style day": -0.205,
    }
    for e in EPISODES:
        assert len(e.index_closes) == len(e.sessions) + 1


# -- hypothetical shocks and the whole report ---------------------------------------------


def test_correlations_to_one_takes_each_symbols_own_bad_day_and_averages_for_the_unknown():
    rng = np.random.default_rng(7)
    returns = pd.DataFrame({"AAPL": rng.normal(0, 0.02, 200), "GE": rng.normal(0, 0.01, 200)})
    held = book(AAPL, GE, F)
    correlated = correlations_to_one(held, returns)

    aapl, ge = returns["AAPL"].quantile(0.01), returns["GE"].quantile(0.01)
    assert correlated.moves["AAPL"][0, 2] == pytest.approx(1 + aapl)
    assert correlated.moves["GE"][0, 2] == pytest.approx(1 + ge)
    assert correlated.moves["F"][0, 2] == pytest.approx(1 + (aapl + ge) / 2)
    assert "F assumed" in correlated.notes[-1] and "the others' average" in correlated.notes[-1]
    nothing_known = correlations_to_one(held, pd.DataFrame())
    assert all(m[0, 2] == pytest.approx(0.9) for m in nothing_known.moves.values())


def test_the_report_has_every_scenario_and_shows_the_worst_single_symbol():
    held = book(AAPL, GE, F)
    report = stress_test(held, LIMITS, history={}, returns=pd.DataFrame())

    frame = report.frame()
    assert list(frame["scenario"]) == [
        "2008 worst day", "2008 worst week", "March 2020", "1987-style day",
        "Every position -10%", "One symbol -30% overnight", "Correlations to one",
    ]  # fmt: skip
    every = frame.set_index("scenario").loc["Every position -10%"]
    assert every["pnl"] == pytest.approx(-0.10 * 35_000)  # stops gapped: the full 10%
    assert every["pnl_pct"] == pytest.approx(-3_500 / 85_000)
    # One symbol -30%: AAPL -$3,000, GE -$6,000, F -$1,500: GE is the worst.
    one = next(r for r in report.results if r.name == "One symbol -30% overnight")
    assert one.pnl == pytest.approx(-6_000.0) and "GE opens" in one.description
    assert one.notes[-1] == "each held symbol in turn: AAPL -$3,000.00, GE -$6,000.00, F -$1,500.00"
    assert report.notes == ("no protective stop: F",)
    assert report.worst.name == "1987-style day"


def test_a_flat_book_has_nothing_to_stress():
    report = stress_test(book(), LIMITS, history={}, returns=pd.DataFrame())
    assert report.results == () and report.notes == ("the book is flat: nothing to stress",)
