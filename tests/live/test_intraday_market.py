"""Paper trading at intraday speed: a 5-minute loop on the NYSE clock, fed by Alpaca.

alpaca-py's real data client asks the loopback stand-in of Alpaca's data API for each
bar a few seconds after its close. The stand-in holds only the minutes that have ended by
the (fake) wall clock, less those a test holds back: a bar late at the source. The clock
moves only when the loop sleeps, so a day and a half of bar closes take seconds.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pandas as pd
import pytest

from engine.data.sources.alpaca import AlpacaSource, DataRetry
from engine.errors import InputError
from engine.live import ids
from engine.live.alerts import Notifiers
from engine.live.clock import MarketClock, bars_between, session_bars
from engine.live.commands import SetRiskLimits, submit_command
from engine.live.decisions import Plan, PlannedEntry, PlannedExit, PlannedStop
from engine.live.job import run_step
from engine.live.loop import flat_plans
from engine.live.records import LivePosition
from engine.live.runner import run_market
from engine.live.setup import open_loop
from tests.live.conftest import REPLAY_LIMITS, approve
from tests.standins import alpaca_stream
from tests.standins.alpaca_data import API_KEY, SECRET_KEY, AlpacaDataStandIn
from tests.standins.alpaca_stream import AlpacaStreamStandIn

pytestmark = pytest.mark.slow  # real processes or long replays: run early (tests/conftest.py)

NY = "America/New_York"
SYMBOLS = ["AAA", "BBB"]
PARAMS = {"entry_window": 6, "exit_window": 3, "atr_window": 6}
#: Sessions of minute bars: Thanksgiving (the 28th) shut, the 29th closing at 13:00.
FIRST, LAST = "2024-11-20", "2024-11-29"


def rising_minutes(start: float, crash: str | None = None) -> pd.DataFrame:
    """Every regular-session minute from FIRST to LAST, the price a little higher each
    minute: a breakout enters on every bar and never exits on its own. From ``crash`` (New
    York time) on, the price is 40% lower."""
    minutes = bars_between(FIRST, LAST, "1m")
    price = start + 0.01 * pd.RangeIndex(len(minutes)).to_numpy()
    if crash is not None:
        price[[m.start >= pd.Timestamp(crash, tz=NY) for m in minutes]] *= 0.6
    return pd.DataFrame({
        "timestamp": [m.start for m in minutes], "open": price, "high": price + 0.02,
        "low": price - 0.01, "close": price + 0.01, "volume": 10_000.0,
    })  # fmt: skip


class Market:
    """The wall clock and Alpaca's data, moved on by the loop's sleeps.

    The data API holds the minutes that ended by now; a minute in ``late`` is held back
    until its release time (None: it never comes).
    """

    def __init__(self, server: AlpacaDataStandIn, start: str, frames=None):
        self.server = server
        self.frames = frames or {"AAA": rising_minutes(50.0), "BBB": rising_minutes(80.0)}
        self.stream = None
        self.late: list[tuple[pd.Timestamp, pd.Timestamp, pd.Timestamp | None]] = []
        self.start_at(start)

    def start_at(self, start: str) -> None:
        """The wall clock at ``start`` (New York time), the data API up to it."""
        self.now = pd.Timestamp(start, tz=NY).tz_convert("UTC").tz_localize(None).to_pydatetime()
        self.publish()

    def hold_back(self, start: str, end: str, until: str | None = None) -> None:
        """The minutes from ``start`` to before ``end`` (New York) come at ``until`` (None: never)."""
        stamp = lambda text: pd.Timestamp(text, tz=NY)  # noqa: E731
        self.late.append((stamp(start), stamp(end), until and stamp(until)))
        self.publish()

    def stream_to(self, stream: AlpacaStreamStandIn) -> None:
        """Send the minutes that end from now on over ``stream`` too, as each ends."""
        self.stream, self.streamed = stream, pd.Timestamp(self.now, tz="UTC")

    def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        self.publish()

    def publish(self) -> None:
        now = pd.Timestamp(self.now, tz="UTC")
        ended = {}
        for symbol, frame in self.frames.items():
            done = frame["timestamp"] + pd.Timedelta(minutes=1) <= now
            for start, end, until in self.late:
                held = (frame["timestamp"] >= start) & (frame["timestamp"] < end)
                done &= ~held | (until is not None and now >= until)
            ended[symbol] = frame[done]
            self.server.add_minutes(symbol, ended[symbol])
        if self.stream is not None:
            self.stream.wait_subscribed(1)  # the loop subscribes as it starts
            fresh = [f[f["timestamp"] + pd.Timedelta(minutes=1) > self.streamed].assign(symbol=s)
                     for s, f in ended.items()]  # fmt: skip
            self.stream.publish(pd.concat(fresh, ignore_index=True))
            self.streamed = now


@pytest.fixture
def market():
    with AlpacaDataStandIn(page_size=10_000) as server:
        yield Market(server, "2024-11-27 15:00")


@pytest.fixture
def quiet_heartbeat(monkeypatch):
    monkeypatch.setenv("WB_HEARTBEAT_STALE_S", str(4 * 86_400))  # a tick may span the holiday


def open_paper(store, market: Market, alerts: Notifiers, feed=None, stream_options=None,
               bar_size="5m", limits=None, **settings):  # fmt: skip
    config = approve(store, "donchian_breakout", PARAMS, list(market.frames), bar_size=bar_size,
                     size="fraction", fraction=0.3, max_positions=2, **settings)  # fmt: skip
    limits = {**REPLAY_LIMITS.to_mapping(), **(limits or {})}
    submit_command(store, SetRiskLimits(limits=limits), actor="bob")
    source = AlpacaSource(api_key=API_KEY, secret_key=SECRET_KEY, url_override=market.server.url,
                          retry=DataRetry(attempts=2, backoff=0.01, max_backoff=0.02, jitter=0.0),
                          timeout=2.0)  # fmt: skip
    clock = MarketClock(bar_size=bar_size, sleep=market.sleep, now=lambda: market.now)
    opened = open_loop(store, mode="paper", config_ids=[config.config_id], clock=clock,
                       notifier=alerts, data_source=source, lookback=60, feed=feed,
                       stream_options=stream_options)  # fmt: skip
    return opened


def at(report) -> str:
    return f"{report.bar.session:%d} {report.bar.close:%H:%M}"


def fills(store) -> pd.DataFrame:
    frame = store.query("SELECT client_order_id, symbol, side, qty, filled_at FROM paper_fills "
                        "ORDER BY filled_at, client_order_id")  # fmt: skip
    frame["filled_at"] = pd.to_datetime(frame["filled_at"]).dt.tz_localize("UTC").dt.tz_convert(NY)
    return frame


def test_paper_trading_steps_every_bar_close_skips_a_late_bar_and_is_flat_on_time(
    store, market, quiet_heartbeat
):
    # The 10:00-10:05 bar of the 29th reaches Alpaca only at 10:07, after the step's
    # bounded wait; the flat bar of the early close (12:25-12:30) never comes.
    market.hold_back("2024-11-29 10:00", "2024-11-29 10:05", until="2024-11-29 10:07")
    market.hold_back("2024-11-29 12:25", "2024-11-29 12:30")
    alerts = Notifiers()
    opened = open_paper(store, market, alerts, flat_by_close=True, flat_minutes_before_close=30)

    reports = run_market(opened.loop, opened.clock, sessions=2, tick=3600)

    # Started at 15:00, a step a few seconds after every bar close of the calendar: 15:00
    # to 16:00 on the 27th, none on Thanksgiving, 09:35 to 13:00 on the early close.
    steps = [at(r) for r in reports]
    assert steps[:2] == ["27 15:00", "27 15:05"] and steps[12] == "27 16:00"
    assert steps[13] == "29 09:35" and steps[-1] == "29 13:00"
    assert [r.bar for r in reports] == bars_between("2024-11-27", "2024-11-29", "5m")[-(13 + 42):]

    # The late bar: no decisions, an alert, and the next bar's step as usual.
    by_time = {at(r): r for r in reports}
    assert by_time["29 10:05"].skipped.startswith("no bar for 2024-11-29 10:00-10:05")
    assert by_time["29 10:05"].submitted == []
    assert not by_time["29 10:10"].skipped
    stale = [a.text for a in alerts.sent if a.kind == "stale_data"]
    assert any("10:00-10:05" in text for text in stale)

    # Flat by the close, 30 minutes before it: sold at the close of the 15:25-15:30 bar on
    # the 27th, and of the 12:25-12:30 bar on the 29th although that bar never came.
    sells = fills(store).query("side == 'sell'")
    decided = [ids.parse_decision_id(c) for c in sells.client_order_id]
    assert {f"{d.bar:%d}T{d.at}" for d in decided} == {"27T1530", "29T1230"}
    late_flat = by_time["29 12:30"]
    assert late_flat.skipped and sorted(late_flat.submitted) == sorted(
        ids.decision_id(opened.loop.configs[0].config_id, s, "sell", late_flat.bar)
        for s in SYMBOLS
    )
    assert any("sold out on time" in text for text in stale)
    # Those sales filled in the session, at the next bar's open, and no buy filled after
    # the flat bar: nothing was held into either close.
    assert sorted(set(sells.filled_at.dt.strftime("%d %H:%M"))) == ["27 15:30", "29 12:30"]
    buys = fills(store).query("side == 'buy'")
    assert set(buys.filled_at.dt.strftime("%d")) == {"27", "29"}
    for day, flat in (("27", "15:30"), ("29", "12:30")):
        on_day = buys[buys.filled_at.dt.strftime("%d") == day]
        assert (on_day.filled_at.dt.strftime("%H:%M") < flat).all()
    assert opened.loop.broker.positions() == []


def test_the_stream_feed_builds_the_loops_bars_from_alpacas_minutes(store, market,
                                                                    quiet_heartbeat):
    market.start_at("2024-11-29 10:00")
    with AlpacaStreamStandIn() as stream:
        stream.faults.add("duplicate", path="AAA@*T10:12")
        stream.faults.add("drop", path="*T10:17")  # the network lost before that minute
        market.stream_to(stream)
        options = {"api_key": alpaca_stream.API_KEY, "secret_key": alpaca_stream.SECRET_KEY,
                   "url_override": stream.url, "wait": timedelta(seconds=3),
                   "reconnect": (0.05, 0.2)}  # fmt: skip
        opened = open_paper(store, market, Notifiers(), feed="alpaca-stream",
                            stream_options=options)  # fmt: skip
        feed = opened.loop.feed
        seen, backfilled = {}, {}
        window = feed.window

        def watched(bar):  # what each step saw, and whether it asked the REST API for it
            before = len(market.server.requests)
            bars = window(bar)
            asked = market.server.requests[before:]
            backfilled[bar] = any(pd.Timestamp(r.query.get("start")) == bar.start for r in asked)
            seen[bar] = bars.volume.iloc[-1]
            return bars

        feed.window = watched
        reports = run_market(opened.loop, opened.clock, steps=5, tick=3600)
        reconnections = stream.connections - 1

    assert [at(r) for r in reports] == ["29 10:00", "29 10:05", "29 10:10", "29 10:15",
                                        "29 10:20"]  # fmt: skip
    assert not any(r.skipped for r in reports) and not feed.running  # stopped with the loop
    # The stream, subscribed at 10:00, vouches for the bars that began after it, built from
    # its minutes (the duplicate 10:12 kept once); the bars it cannot vouch for, those
    # begun before it connected and the one its dropped connection cut, come from the
    # REST API. Each bar a step saw is Alpaca's own.
    assert [backfilled[r.bar] for r in reports] == [True, True, False, False, True]
    assert feed.book.duplicates == 1 and reconnections == 1
    alpaca = AlpacaSource(api_key=API_KEY, secret_key=SECRET_KEY, url_override=market.server.url)
    expected = alpaca.fetch(SYMBOLS, "2024-11-29", "2024-11-29", bar_size="5m")
    for report in reports:
        row = expected[expected["timestamp"] == report.bar.start].set_index("symbol")
        assert seen[report.bar][SYMBOLS].tolist() == row.loc[SYMBOLS, "volume"].tolist()


def denials(store) -> list[dict]:
    """The ``order.denied`` events' payloads, oldest first."""
    frame = store.query("SELECT payload FROM events WHERE kind = 'order.denied' ORDER BY id")
    return [json.loads(payload) for payload in frame.payload]


@pytest.mark.parametrize("policy", ["pdt", "intraday_margin"])
def test_an_hourly_flat_book_meets_the_day_trading_rule_its_account_is_under(
    store, market, quiet_heartbeat, policy
):
    # Two sessions of an hourly book flat 30 minutes before the close: bought at 10:30,
    # sold at 15:30, two day trades a session, in a $10,000 account.
    market.start_at("2024-11-25 09:00")
    opened = open_paper(store, market, Notifiers(), bar_size="1h", init_cash=10_000.0,
                        flat_by_close=True, flat_minutes_before_close=30,
                        limits={"day_trade_policy": policy})  # fmt: skip
    reports = run_market(opened.loop, opened.clock, sessions=2, tick=3600)

    assert [at(r) for r in reports[:7]] == ["25 10:30", "25 11:30", "25 12:30", "25 13:30",
                                           "25 14:30", "25 15:30", "25 16:00"]  # fmt: skip
    assert len(reports) == 14
    sells = fills(store).query("side == 'sell'")
    same_day = sells[sells.filled_at.dt.strftime("%H:%M") == "15:30"]
    # (The entries signalled on each session's last bar are refused by the session rule,
    # last_bar_entries being "refuse": not the rule under test.)
    denied = [cid for r in reports for cid in r.denied if "-sell-" in cid]
    why = [d["reason"] for d in denials(store) if d["rule"] == "day_trading"]
    if policy == "pdt":
        # Under $25,000 the 4th day trade in 5 sessions is refused: the 26th's second flat
        # sale. That position is sold after the close instead, for the next open (not a
        # day trade), never kept by a guess.
        assert len(same_day) == 3 and len(denied) == 1 and len(why) == 1
        (refused,) = denied
        assert refused.endswith("-sell-20241126T1530") and "day trade" in why[0]
        symbol = ids.parse_decision_id(refused).symbol
        assert any(c.endswith(f"{symbol}-sell-20241126T1600") for c in reports[-1].submitted)
    else:
        # The 2026 intraday margin standard counts no day trades: all four sales go.
        assert len(same_day) == 4 and denied == [] and why == []
        assert opened.loop.broker.positions() == []


def test_the_days_loss_on_every_steps_marks_stops_new_entries(store, quiet_heartbeat):
    # BBB falls 40% in the 11:30 bar: the book's equity is down past the 5% daily limit
    # at the 12:30 step, the first to see it, and the slot BBB's exit frees stays empty.
    frames = {"AAA": rising_minutes(50.0), "BBB": rising_minutes(80.0, crash="2024-11-26 11:30"),
              "CCC": rising_minutes(30.0)}  # fmt: skip
    with AlpacaDataStandIn(page_size=10_000) as server:
        market = Market(server, "2024-11-26 09:00", frames)
        opened = open_paper(store, market, Notifiers(), bar_size="1h",
                            limits={"daily_loss_limit": 0.05})  # fmt: skip
        reports = run_market(opened.loop, opened.clock, steps=4, tick=3600)

    assert [at(r) for r in reports] == ["26 10:30", "26 11:30", "26 12:30", "26 13:30"]
    crash = reports[2]
    assert any("-BBB-sell-" in c for c in crash.submitted)  # the breakout's exit
    assert any(cid.endswith("-buy-20241126T1230") for cid in crash.denied)
    losses = [d["reason"] for d in denials(store) if d["rule"] == "daily_loss"]
    assert losses and "since the prior close" in losses[0]
    bought = fills(store).query("side == 'buy'")
    assert (bought.filled_at.dt.strftime("%H:%M") == "10:30").all()


def test_an_unknown_feed_is_refused_with_the_choices(store, monkeypatch):
    config = approve(store, "donchian_breakout", PARAMS, SYMBOLS, bar_size="5m")
    with pytest.raises(InputError, match="unknown data feed 'polygon'") as refused:
        open_loop(store, mode="paper", config_ids=[config.config_id], feed="polygon")
    assert "store, alpaca, alpaca-stream" in refused.value.hint
    monkeypatch.setenv("WB_LIVE_FEED", "store")
    with pytest.raises(InputError, match="nothing stores 5m bars during the session") as refused:
        open_loop(store, mode="paper", config_ids=[config.config_id])
    assert "--feed alpaca" in refused.value.hint


def test_a_book_flat_at_the_close_itself_is_refused_by_paper_trading(store):
    config = approve(store, "donchian_breakout", PARAMS, SYMBOLS, bar_size="5m",
                     flat_by_close=True)  # fmt: skip
    with pytest.raises(InputError, match="would fill at the next open") as refused:
        open_loop(store, mode="paper", config_ids=[config.config_id], feed="alpaca")
    assert "flat_minutes_before_close" in refused.value.hint


def test_a_flat_book_sells_all_it_holds_and_enters_only_for_the_next_open():
    opened = datetime(2024, 11, 29, 15)
    held = {s: LivePosition(s, owner, 10.0, 50.0, opened, opened)
            for s, owner in (("AAA", "flat"), ("BBB", "flat"), ("CCC", "other"))}  # fmt: skip
    entry = PlannedEntry("DDD", 5.0, 20.0, float("nan"), None)
    decided = [("flat", Plan("flat", None, exits=[PlannedExit("AAA", 10.0, "signal")],
                             entries=[entry], stops=[PlannedStop("BBB", 10.0, 45.0)])),
               ("other", Plan("other", None, entries=[entry]))]  # fmt: skip
    *earlier, last = session_bars("2024-11-29", "5m")

    for bar, entries in ((earlier[-1], []), (last, [entry])):
        plans = dict(flat_plans(decided, held, frozenset({"flat"}), bar))
        # Every position of the flat config sold once, the other config's plan untouched;
        # an entry goes only from the session's last bar, for the next open.
        assert plans["flat"].exits == [PlannedExit("AAA", 10.0, "flat"),
                                       PlannedExit("BBB", 10.0, "flat")]  # fmt: skip
        assert plans["flat"].stops == [] and plans["flat"].entries == entries
        assert plans["other"] == decided[1][1]
    # A config with no plan (its bar late, or warming up) still sells out.
    (late,) = flat_plans([], held, frozenset({"flat"}), earlier[-1])
    assert [e.symbol for e in late[1].exits] == ["AAA", "BBB"]


def test_the_daily_step_job_refuses_an_intraday_config_and_says_how_to_run_it(store):
    config = approve(store, "donchian_breakout", PARAMS, SYMBOLS, bar_size="5m")
    with pytest.raises(InputError, match="trades intraday bars; a live_step job") as refused:
        run_step(store, {"configs": [config.config_id]}, actor="scheduler")
    assert "wb live --mode paper" in refused.value.hint
