"""Bars for paper and live trading from Alpaca's minute-bar stream, built into the config's size.

:class:`StreamFeed` subscribes alpaca-py's ``StockDataStream`` to the bars channel and
builds each bar of the config's size from the stream's 1-minute bars with the research
resampler (:func:`engine.data.resample.resample`), the moment the bar's last minute is in:
no REST round trip on the step's critical path. History (the lookback) and whatever the
stream cannot vouch for come from the REST feed (:class:`~engine.live.alpaca_feed.AlpacaFeed`).

When is a stream-built bar whole? Alpaca sends each minute's bars once, in time order,
right after the minute, and never replays what a client missed while it was
disconnected. So a bar of one symbol is whole when:

- one connection delivered all its minutes: that connection's first minute came before
  the bar began (a bar that began before a (re)connection may have lost minutes), and the
  connection is still up or went on past the bar's end; and
- its last minute has arrived, or the connection has delivered a later minute (then a
  symbol without that minute did not trade in it).

A symbol whose bar is not whole when ``wait`` is up is asked of the REST API once; what
that has not either is missing (never built from part of its minutes, never guessed).
A minute seen twice is kept once. Reconnection, with exponential backoff and jitter, is
alpaca-py's own (``reconnect`` sets its bounds).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pandas as pd

from engine.data import calendar
from engine.data.bars import Bars
from engine.data.resample import resample
from engine.data.sources.alpaca import KEY_ENV, SECRET_ENV
from engine.errors import InputError, OperatorError, TemporaryError
from engine.live.alpaca_feed import AlpacaFeed, as_bar
from engine.live.clock import BarClose
from engine.store.events import utcnow

log = logging.getLogger("engine.live")

MINUTE = pd.Timedelta(minutes=1)


@dataclass
class Connection:
    """One subscribed connection of the stream: the first and newest minute it delivered."""

    first: pd.Timestamp | None = None
    last: pd.Timestamp | None = None
    up: bool = True

    def delivered_all(self, start: pd.Timestamp, end: pd.Timestamp) -> bool:
        """True when every minute from ``start`` to before ``end`` came over this connection
        (or will: it is up and has not reached ``end`` yet)."""
        if self.first is None or not self.first < start:
            return False
        return self.up or (self.last is not None and self.last >= end)


class MinuteBook:
    """The stream's minute bars by symbol and minute, and the connections that brought them.

    Thread-safe: the stream's thread adds, the loop's thread reads; ``changed`` wakes a
    reader waiting for a bar.
    """

    def __init__(self):
        self.changed = threading.Condition()
        self.minutes: dict[str, dict[pd.Timestamp, tuple]] = {}
        self.connections: list[Connection] = []
        self.duplicates = 0  # minutes delivered again (kept once)
        self.late = 0  # minutes that came after their bar was built
        self.built_through: pd.Timestamp | None = None

    def connected(self) -> None:
        """A (re)subscription: minutes from here on come over a new connection."""
        with self.changed:
            for connection in self.connections:
                connection.up = False
            self.connections.append(Connection())
            self.changed.notify_all()

    def add(self, symbol: str, start: pd.Timestamp, bar: tuple) -> None:
        """One minute bar (open, high, low, close, volume) of ``symbol`` starting at ``start``."""
        with self.changed:
            held = self.minutes.setdefault(symbol, {})
            if start in held:
                self.duplicates += 1
            if self.built_through is not None and start < self.built_through:
                self.late += 1
            held[start] = bar
            if self.connections:
                current = self.connections[-1]
                current.first = start if current.first is None else current.first
                current.last = start if current.last is None else max(current.last, start)
            self.changed.notify_all()

    def whole(self, symbols: list[str], bar: BarClose) -> set[str]:
        """The symbols whose ``bar`` the stream delivered whole (see the module docstring)."""
        start, end = bar.start, bar.close
        with self.changed:
            carrier = next((c for c in self.connections if c.delivered_all(start, end)), None)
            if carrier is None:
                return set()
            if carrier.last is not None and carrier.last >= end:
                return set(symbols)  # the stream went past the bar: every minute of it is in
            final = end - MINUTE
            return {s for s in symbols if final in self.minutes.get(s, {})}

    def rows(self, symbols: set[str], bar: BarClose) -> pd.DataFrame:
        """The minute bars of ``symbols`` within ``bar``, as long rows for the resampler."""
        with self.changed:
            records = [
                (start, symbol, *values)
                for symbol in sorted(symbols)
                for start, values in self.minutes.get(symbol, {}).items()
                if bar.start <= start < bar.close
            ]
        columns = ["timestamp", "symbol", "open", "high", "low", "close", "volume"]
        return pd.DataFrame(records, columns=columns)

    def forget_before(self, moment: pd.Timestamp) -> None:
        """Drop minutes before ``moment`` (a finished session's)."""
        with self.changed:
            for symbol, held in self.minutes.items():
                self.minutes[symbol] = {t: v for t, v in held.items() if t >= moment}


class StreamFeed:
    """The loop's bars built from Alpaca's minute-bar stream (see the module docstring).

    ``rest`` gives the history and what the stream could not vouch for. The stream's keys
    default to APCA_API_KEY_ID / APCA_API_SECRET_KEY and its feed (iex or sip) to the REST
    source's; ``url_override`` points it elsewhere (the loopback stand-in in tests).
    ``reconnect`` is alpaca-py's backoff between reconnection attempts, (first, most) seconds.
    """

    def __init__(
        self,
        rest: AlpacaFeed,
        *,
        api_key: str | None = None,
        secret_key: str | None = None,
        url_override: str | None = None,
        feed: str | None = None,
        wait: timedelta = timedelta(seconds=30),
        reconnect: tuple[float, float] = (1.0, 30.0),
        now: Callable[[], datetime] = utcnow,
    ):
        self.rest = rest
        self.symbols = rest.symbols
        self.bar_size = rest.bar_size
        self.wait = wait
        self._now = now
        self.book = MinuteBook()
        self._session: date | None = None
        self.stream = _stream(
            self.book,
            api_key=api_key or os.environ.get(KEY_ENV),
            secret_key=secret_key or os.environ.get(SECRET_ENV),
            url_override=url_override,
            feed=feed or rest.source.feed,
            reconnect=reconnect,
        )
        self._thread: threading.Thread | None = None

    # -- running -----------------------------------------------------------------------

    def start(self) -> StreamFeed:
        """Subscribe to the symbols' minute bars and run the stream in a thread of its own
        (once: a running stream is left as it is)."""
        if self._thread is not None:
            return self
        self.stream.subscribe_bars(self._on_bar, *self.symbols)
        self._thread = threading.Thread(target=self._run, name="alpaca-bar-stream", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self.stream.run()
        except Exception:  # the loop carries on with the REST feed; say why the stream stopped
            log.exception("the Alpaca bar stream stopped")

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the stream and wait for its thread (at most ``timeout`` seconds)."""
        if not self.running:
            return
        loop = self.stream._loop  # alpaca-py's event loop, set while the stream runs
        if loop is not None and loop.is_running():
            asyncio.run_coroutine_threadsafe(self.stream.stop_ws(), loop).result(timeout)
            # Close the socket too, so the stream's reader wakes now rather than at its
            # next 5-second poll.
            asyncio.run_coroutine_threadsafe(self.stream.close(), loop).result(timeout)
        self._thread.join(timeout)

    def __enter__(self) -> StreamFeed:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    async def _on_bar(self, message: dict) -> None:
        start = _minute(message["t"])
        values = tuple(float(message[k]) for k in ("o", "h", "l", "c", "v"))
        self.book.add(message["S"], start, values)

    # -- the loop's interface ------------------------------------------------------------

    def window(self, bar: date | BarClose) -> Bars:
        """The lookback ending at ``bar``: ``bar`` from the stream once whole (or, after
        ``wait``, from the REST API), the bars before it from the REST API."""
        bar = as_bar(bar, self.bar_size)
        if self._session != bar.session:
            self.book.forget_before(pd.Timestamp(bar.session).tz_localize(calendar.TZ))
            self._session = bar.session
        self.rest.history(bar)
        whole = self._await_whole(bar)
        rows = self.book.rows(whole, bar)
        if not rows.empty:
            built = resample(rows, self.bar_size, source_size="1m")
            built["adj_close"] = built["close"]  # this session's bars: nothing has adjusted them
            self.rest.held.add(built)
        with self.book.changed:
            self.book.built_through = max(self.book.built_through or bar.close, bar.close)
        rest_for = sorted(set(self.symbols) - whole)
        if rest_for:
            try:
                self.rest.held.add(self.rest.source.bars_between(
                    rest_for, bar.start, bar.start, bar_size=self.bar_size, adjust=False
                ))  # fmt: skip
            except TemporaryError as exc:  # then those bars are missing, not guessed
                log.warning("the REST API could not give %s's bar %s: %s", rest_for, bar, exc)
        return self.rest.held.window(bar)

    def missing(self, bar: date | BarClose) -> list[str]:
        return self.rest.missing(bar)

    def latest(self) -> date | None:
        return self.rest.latest()

    def _await_whole(self, bar: BarClose) -> set[str]:
        """The symbols whose ``bar`` is whole, waiting at most ``wait`` for the others."""
        deadline = self._now() + self.wait
        wanted = set(self.symbols)
        with self.book.changed:
            while True:
                whole = self.book.whole(self.symbols, bar)
                left = (deadline - self._now()).total_seconds()
                if whole >= wanted or left <= 0 or not self.running:
                    return whole
                self.book.changed.wait(min(left, 1.0))


def _minute(stamp) -> pd.Timestamp:
    """A stream bar's start (a msgpack timestamp, or a datetime) in New York time."""
    if hasattr(stamp, "to_unix_nano"):
        return pd.Timestamp(stamp.to_unix_nano(), unit="ns", tz="UTC").tz_convert(calendar.TZ)
    return pd.Timestamp(stamp).tz_convert(calendar.TZ)


def _stream(book: MinuteBook, *, api_key, secret_key, url_override, feed, reconnect):
    """alpaca-py's StockDataStream, telling ``book`` of each (re)subscription."""
    from alpaca.data.enums import DataFeed
    from alpaca.data.live.stock import StockDataStream

    if not api_key or not secret_key:
        raise InputError(
            "Alpaca's bar stream needs API keys",
            hint=f"export {KEY_ENV}=... and {SECRET_ENV}=... (the same keys as market data)",
        )
    class _Stream(StockDataStream):
        async def _send_subscribe_msg(self) -> None:
            await super()._send_subscribe_msg()
            book.connected()

    stream = _Stream(
        api_key, secret_key, raw_data=True, feed=DataFeed(feed), url_override=url_override
    )
    # Private in alpaca-py (0.44): the hook above and the backoff bounds. If a release
    # renames them, stop here rather than stream without knowing when a connection broke.
    lacking = [n for n in ("_send_subscribe_msg",) if not hasattr(StockDataStream, n)]
    lacking += [n for n in ("_reconnect_min_backoff", "_reconnect_max_backoff")
                if not hasattr(stream, n)]  # fmt: skip
    if lacking:
        raise OperatorError(
            "this alpaca-py version lacks what the bar stream relies on "
            f"({', '.join(lacking)}): reconnection backoff and a hook on each subscription",
            hint="use alpaca-py 0.44 (pip install alpaca-py==0.44.*), or trade on the REST "
            "feed alone",
        )
    stream._reconnect_min_backoff, stream._reconnect_max_backoff = reconnect
    return stream
