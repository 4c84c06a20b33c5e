"""Period returns, P&L by day/week/month and performance by symbol or strategy, from plain data."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import InputError
from engine.live.performance import (
    performance_by,
    period_return,
    pnl_by_period,
    strategy_label,
)
from engine.live.round_trips import round_trips


def curve(equity: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame({"bar_date": pd.to_datetime(list(equity)), "equity": list(equity.values())})


BOOK = curve({
    "2023-12-28": 100_000, "2023-12-29": 101_000,  # the last close of 2023
    "2024-01-02": 102_000, "2024-01-03": 99_000, "2024-01-04": 100_000,
    "2024-01-05": 101_000, "2024-01-08": 102_010, "2024-01-12": 103_020,
})  # fmt: skip


def test_1d_is_the_last_mark_against_the_one_before():
    day = period_return(BOOK, "1D", starting_cash=100_000)

    assert day.base == 102_010 and day.end == 103_020
    assert day.return_pct == pytest.approx(103_020 / 102_010 - 1)
    assert day.base_label == "close of 2024-01-08" and len(day.curve) == 2


def test_1w_is_measured_from_the_close_a_week_before():
    week = period_return(BOOK, "1W")

    assert week.base_label == "close of 2024-01-05" and week.pnl == pytest.approx(2_020)
    assert week.curve["bar_date"].iloc[0] == pd.Timestamp("2024-01-05")


def test_ytd_starts_from_last_years_final_close_and_all_from_the_starting_cash():
    ytd = period_return(BOOK, "YTD", starting_cash=100_000)
    whole = period_return(BOOK, "all", starting_cash=95_000)

    assert (ytd.base, ytd.base_label) == (101_000, "close of 2023-12-29")
    assert ytd.return_pct == pytest.approx(103_020 / 101_000 - 1)
    assert (whole.base, whole.base_label) == (95_000, "starting cash")
    assert len(whole.curve) == len(BOOK)


def test_a_book_younger_than_the_period_is_measured_from_its_starting_cash():
    young = curve({"2024-01-10": 100_500, "2024-01-11": 101_000})

    month = period_return(young, "1M", starting_cash=100_000)

    assert month.base_label == "starting cash" and month.return_pct == pytest.approx(0.01)


def test_an_unknown_period_and_an_empty_book_are_told_plainly():
    with pytest.raises(InputError, match="unknown period '2Y'"):
        period_return(BOOK, "2Y")
    with pytest.raises(InputError, match="no equity marks"):
        period_return(BOOK.iloc[:0], "all")


def test_pnl_by_week_ends_on_fridays_and_starts_from_the_starting_cash():
    weeks = pnl_by_period(BOOK, "week", starting_cash=100_000)

    assert weeks["period"].dt.day_name().eq("Friday").all()
    assert weeks["pnl"].tolist() == pytest.approx([1_000, 0, 2_020])  # 101k, 101k, 103.02k


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.floats(50_000, 150_000), min_size=1, max_size=60),
    st.sampled_from(["day", "week", "month"]),
)
def test_the_periods_add_up_to_the_whole_pnl(equity, bucket):
    dates = pd.bdate_range("2024-01-01", periods=len(equity))
    frame = pd.DataFrame({"bar_date": dates, "equity": equity})

    by = pnl_by_period(frame, bucket, starting_cash=100_000)

    assert by["pnl"].sum() == pytest.approx(equity[-1] - 100_000, abs=1e-6)
    assert len(by) == len(
        pd.Series(dates).dt.to_period({"day": "D", "week": "W-FRI", "month": "M"}[bucket]).unique()
    )


def test_performance_by_strategy_counts_closed_trips_and_sums_all_realised_pnl():
    fills = pd.DataFrame(
        [("2024-01-02", "AAPL", "buy", 10, 100.0, "a"), ("2024-01-04", "AAPL", "sell", 10, 110.0, "a"),
         ("2024-01-03", "GE", "buy", 10, 50.0, "a"), ("2024-01-05", "GE", "sell", 10, 45.0, "a"),
         ("2024-01-03", "F", "buy", 10, 10.0, None), ("2024-01-08", "F", "sell", 4, 12.0, None)],
        columns=["filled_at", "symbol", "side", "qty", "price", "config_id"],
    ).assign(filled_at=lambda f: pd.to_datetime(f["filled_at"]), fee=0.0)  # fmt: skip
    trips = round_trips(fills)
    trips["strategy"] = trips["config_id"].map(lambda c: strategy_label(c, {"a": "sma_crossover"}))

    by = performance_by(trips, "strategy").set_index("strategy")

    sma = by.loc["sma_crossover · a"]
    assert (sma.trades, sma.wins, sma.win_rate) == (2, 1, 0.5)
    assert sma.realised_pnl == pytest.approx(50.0) and sma.profit_factor == pytest.approx(2.0)
    assert sma.avg_held == pd.Timedelta(days=2)
    manual = by.loc["manual"]  # still open, but its partial exit realised $8
    assert manual.trades == 0 and manual.realised_pnl == pytest.approx(8.0)
    assert by["realised_pnl"].sum() == pytest.approx(trips["realised_pnl"].sum())


def test_a_strategy_is_named_with_a_short_id():
    names = {"1a2b3c4d5e6f7a8b": "donchian_breakout"}
    assert strategy_label("1a2b3c4d5e6f7a8b", names) == "donchian_breakout · 1a2b3c4d"
    assert strategy_label("ffffeeee00001111", names) == "config ffffeeee"
    assert strategy_label(None, names) == "manual"
