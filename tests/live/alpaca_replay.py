"""A replay on Alpaca in a process of its own, for the tests that kill it.

``python -m tests.live.alpaca_replay --data-dir D --config C --start S --end E --url U``
replays config C through the real alpaca-py client against a stand-in already running
at U (in the test's process, so its books outlive every kill). The stand-in's market
moves to each replayed bar (a session, or an intraday bar) through its test-only ``POST
/standin/bar``, which plays a bar once: a step repeated after a crash finds the market as
the killed run left it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import requests

from engine.brokers.alpaca import RetryPolicy
from engine.live.runner import run_replay
from engine.live.setup import open_loop
from engine.store import Store
from tests.standins.alpaca import API_KEY, SECRET_KEY

RETRY = RetryPolicy(max_attempts=6, backoff=0.001, max_backoff=0.01, max_retry_after=0.01)


def closed_bar(bars) -> tuple[str, dict[str, tuple[float, float, float, float]]]:
    """(the bar's time, its (open, high, low, close) per symbol that traded): the last bar
    of a step's window as traded, the one that just closed (a session, or an intraday bar)."""
    fields = ("open", "high", "low", "close")
    row = {f: bars[f].iloc[-1] for f in fields}
    prices = {
        symbol: tuple(float(row[f][symbol]) for f in fields)
        for symbol in bars.symbols
        if row["close"][symbol] == row["close"][symbol]
    }
    return str(bars.index[-1]), prices


class RemoteMarket:
    """Moves a stand-in's market (at ``url``) to each replayed bar, its clock with it."""

    def __init__(self, url: str):
        self.url = url
        self.clock = None  # the replay's, set once the loop is opened

    def advance(self, day, bars) -> None:
        at, bar = closed_bar(bars)
        answer = requests.post(
            f"{self.url}/standin/bar",
            json={"day": at, "now": self.clock.now().isoformat(), "bar": bar},
            headers={"APCA-API-KEY-ID": API_KEY, "APCA-API-SECRET-KEY": SECRET_KEY},
            timeout=30,
        )
        answer.raise_for_status()


def open_replay(store, config_id: str, start: str, end: str, url: str):
    """The replay of ``config_id`` on the stand-in at ``url``, opened (not started)."""
    market = RemoteMarket(url)
    opened = open_loop(
        store, mode="replay", config_ids=[config_id], broker="alpaca", start=start, end=end,
        market=market,
        alpaca_options={"api_key": API_KEY, "secret_key": SECRET_KEY, "url_override": url,
                        "timeout": 5.0, "retry": RETRY, "cancel_wait": 2.0},
    )  # fmt: skip
    market.clock = opened.clock
    return opened


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("--data-dir", "--config", "--start", "--end", "--url"):
        parser.add_argument(name, required=True)
    args = parser.parse_args(argv)
    opened = open_replay(Store.open(Path(args.data_dir)), args.config, args.start, args.end,
                         args.url)  # fmt: skip
    run_replay(opened.loop, opened.days, sleep=lambda seconds: None)


if __name__ == "__main__":
    main()
