"""Round trips from fills: FIFO across scale-ins and partial exits, fees spread per share."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.live.round_trips import closed, realised_pnl, round_trips


def fills(*rows, symbol="AAPL", config_id="cfg1"):
    """Fills from (day, side, qty, price[, fee]) rows, one day apart from 2024-01-01."""
    frame = pd.DataFrame(
        [(*r, 0.0) if len(r) == 4 else r for r in rows],
        columns=["day", "side", "qty", "price", "fee"],
    )
    frame["filled_at"] = pd.Timestamp("2024-01-01 15:00") + pd.to_timedelta(frame.pop("day"), "D")
    return frame.assign(symbol=symbol, config_id=config_id)


def test_a_scale_in_then_one_exit_is_one_trip_at_the_average_entry():
    trip = round_trips(fills((0, "buy", 10, 100.0), (1, "buy", 10, 110.0), (4, "sell", 20, 120.0)))

    assert len(trip) == 1
    trip = trip.iloc[0]
    assert (trip.direction, trip.qty, trip.entries, trip.exits) == ("long", 20, 2, 1)
    assert trip.entry_price == pytest.approx(105.0) and trip.exit_price == pytest.approx(120.0)
    assert trip.realised_pnl == pytest.approx(300.0)
    assert trip.held == pd.Timedelta(days=4) and trip.open_qty == 0
    assert trip.return_pct == pytest.approx(300 / 2100)


def test_a_partial_exit_realises_the_oldest_shares_first_and_the_trip_stays_open():
    trips = round_trips(fills((0, "buy", 10, 100.0), (1, "buy", 10, 110.0), (2, "sell", 15, 120.0)))

    trip = trips.iloc[0]
    # FIFO: 10 at 100 and 5 at 110 are sold at 120; average cost would say 15 x 15 = 225.
    assert trip.realised_pnl == pytest.approx(10 * 20 + 5 * 10)
    assert pd.isna(trip.closed_at) and trip.open_qty == pytest.approx(5)
    assert closed(trips).empty
    assert realised_pnl(trips) == pytest.approx(250.0)


def test_fees_of_entry_and_exit_come_off_the_shares_they_belong_to():
    # Entry fee $2 on 10 shares; the first exit of 4 shares carries 4/10 of it and its own $1.
    trips = round_trips(
        fills((0, "buy", 10, 100.0, 2.0), (1, "sell", 4, 105.0, 1.0), (2, "sell", 6, 90.0, 1.0))
    )

    trip = trips.iloc[0]
    assert trip.realised_pnl == pytest.approx(4 * 5 - 0.8 - 1.0 + 6 * -10 - 1.2 - 1.0)
    assert trip.fees == pytest.approx(4.0)


def test_a_sell_larger_than_the_position_closes_it_and_opens_a_short_with_the_rest():
    trips = round_trips(
        fills((0, "buy", 10, 100.0), (1, "sell", 15, 110.0, 3.0), (3, "buy", 5, 100.0))
    )

    long, short = trips.iloc[0], trips.iloc[1]
    assert (long.direction, long.qty, long.realised_pnl) == ("long", 10, pytest.approx(100 - 2.0))
    assert (short.direction, short.qty) == ("short", 5)
    assert short.realised_pnl == pytest.approx(5 * 10 - 1.0)  # sold short at 110, covered at 100
    assert short.held == pd.Timedelta(days=2)


def test_symbols_are_matched_apart_and_the_strategy_is_the_first_entrys():
    both = pd.concat([
        fills((0, "buy", 10, 100.0), (2, "sell", 10, 90.0), config_id=None),
        fills((1, "buy", 5, 50.0), (3, "sell", 5, 60.0), symbol="GE", config_id="cfg2"),
    ])  # fmt: skip

    trips = closed(round_trips(both)).set_index("symbol")

    assert trips.loc["AAPL", "realised_pnl"] == pytest.approx(-100.0)
    assert trips.loc["GE", "realised_pnl"] == pytest.approx(50.0)
    assert trips.loc["GE", "config_id"] == "cfg2" and pd.isna(trips.loc["AAPL", "config_id"])


def test_no_fills_no_trips():
    assert round_trips(pd.DataFrame()).empty and realised_pnl(round_trips(pd.DataFrame())) == 0.0


trade = st.tuples(
    st.sampled_from(["buy", "sell"]),
    st.integers(1, 300),
    st.floats(1.0, 500.0, allow_nan=False).map(lambda p: round(p, 2)),
    st.floats(0.0, 5.0, allow_nan=False),
    st.sampled_from(["AAPL", "GE"]),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(trade, min_size=1, max_size=40), st.floats(1.0, 500.0, allow_nan=False))
def test_realised_plus_open_pnl_is_the_books_pnl_whatever_the_fills(rows, mark):
    frame = pd.DataFrame(rows, columns=["side", "qty", "price", "fee", "symbol"])
    frame["filled_at"] = pd.Timestamp("2024-01-02") + pd.to_timedelta(range(len(frame)), "h")
    signed = frame["qty"].where(frame["side"] == "buy", -frame["qty"])

    trips = round_trips(frame)

    # The book: what its fills paid and got, plus what it still holds at the mark.
    held = signed.groupby(frame["symbol"]).sum()
    book_pnl = -(signed * frame["price"]).sum() - frame["fee"].sum() + held.sum() * mark
    # The trips: realised, plus the open shares at the mark less their entry fees.
    open_pnl = _open_pnl(frame, mark)
    assert realised_pnl(trips) + open_pnl == pytest.approx(book_pnl, abs=1e-6 * (1 + abs(book_pnl)))
    # Each symbol's still-open shares are what the book holds.
    still = trips[trips["closed_at"].isna()].groupby("symbol")["open_qty"].sum()
    for symbol, qty in held.items():
        sign = 1 if qty > 0 else -1
        assert sign * still.get(symbol, 0.0) == pytest.approx(qty)


def _open_pnl(frame: pd.DataFrame, mark: float) -> float:
    """The open shares' P&L at ``mark`` from a plain FIFO ledger of lots (independent of the module)."""
    total = 0.0
    for _, fills_ in frame.groupby("symbol"):
        lots: list[list[float]] = []  # [signed qty, price, fee per share]
        for row in fills_.itertuples():
            qty = row.qty if row.side == "buy" else -row.qty
            fee_per_share = row.fee / row.qty
            while qty and lots and (lots[0][0] > 0) != (qty > 0):
                take = min(abs(qty), abs(lots[0][0]))
                lots[0][0] += take if lots[0][0] < 0 else -take
                qty += take if qty < 0 else -take
                if abs(lots[0][0]) < 1e-12:
                    lots.pop(0)
            if qty:
                lots.append([qty, row.price, fee_per_share])
        total += sum(q * (mark - p) - abs(q) * f for q, p, f in lots)
    return total


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 100), st.floats(1, 200).map(lambda p: round(p, 2))),
                min_size=1, max_size=10),
       st.floats(1, 200).map(lambda p: round(p, 2)))  # fmt: skip
def test_a_book_that_ends_flat_realised_its_cash_flow_in_closed_trips(buys, exit_price):
    total = sum(q for q, _ in buys)
    rows = [(i, "buy", q, p) for i, (q, p) in enumerate(buys)] + [
        (len(buys), "sell", total, exit_price)
    ]
    frame = fills(*rows)

    trips = round_trips(frame)

    cash_flow = total * exit_price - sum(q * p for q, p in buys)
    assert len(closed(trips)) == 1
    assert closed(trips)["realised_pnl"].sum() == pytest.approx(cash_flow, abs=1e-6)


def test_fills_of_one_instant_keep_their_order_an_exit_then_a_re_entry():
    same_bar = fills((0, "buy", 10, 100.0), (1, "sell", 10, 110.0), (1, "buy", 10, 111.0))

    trips = round_trips(same_bar)

    assert trips["realised_pnl"].tolist() == pytest.approx([100.0, 0.0])
    assert pd.notna(trips["closed_at"].iloc[0]) and trips["open_qty"].tolist() == [0, 10]
