"""Bars from Yahoo Finance through yfinance: daily, and intraday within Yahoo's windows.

Yahoo keeps intraday bars for a while only: 1-minute bars for about the last 7 days,
5- to 30-minute bars for about 60 days, hourly bars for about two years. A request
outside its window is refused up front with the window named, rather than answered
with an empty frame. Hourly bars come anchored to the 9:30 open, like the workbench's.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from engine.data.bar_sizes import BAR_SIZES, DAILY
from engine.data.bars import INTRADAY_COLUMNS, LONG_COLUMNS
from engine.data.calendar import TZ
from engine.data.sources._common import served, window
from engine.errors import InputError, NetworkError, NotFoundError, TemporaryError

#: How far back Yahoo serves each intraday size (a little inside its own limits).
WINDOWS = {"1m": pd.Timedelta(days=7), "5m": pd.Timedelta(days=60), "15m": pd.Timedelta(days=60),
           "30m": pd.Timedelta(days=60), "1h": pd.Timedelta(days=730)}
_WINDOW_TEXT = {"1m": "the last 7 days", "5m": "the last 60 days", "15m": "the last 60 days",
                "30m": "the last 60 days", "1h": "the last 730 days (about two years)"}


def _yfinance_history(symbol: str, start, end, *, interval: str = "1d",
                      prepost: bool = False) -> pd.DataFrame:
    """One symbol's history from Yahoo: OHLC as Yahoo gives it, 'Adj Close' and its splits."""
    import yfinance as yf

    # Make yfinance raise instead of printing and returning an empty frame, so that an
    # unknown ticker and a network failure can be told apart.
    yf.config.debug.hide_exceptions = False
    end_exclusive = None if end is None else (pd.Timestamp(end) + pd.Timedelta(days=1)).date()
    return yf.Ticker(symbol).history(
        start=None if start is None else pd.Timestamp(start).date(),
        end=end_exclusive,
        interval=interval,
        prepost=prepost,
        auto_adjust=False,  # explicit: we store OHLC and adjust on read from Adj Close
        actions=True,  # the 'Stock Splits' column tells a split from a real jump
        repair=False,
        timeout=10,
    )


def is_network_failure(exc: Exception) -> bool:
    """True when ``exc`` is the network failing (worth a retry), not Yahoo refusing."""
    if isinstance(exc, OSError | TimeoutError):
        return True
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(names & {"ConnectionError", "Timeout", "ReadTimeout", "ConnectTimeout",
                         "RequestException", "CurlError", "DNSError", "ProxyError", "SSLError"})


class YahooSource:
    """Bars from Yahoo Finance through yfinance, with retries and clear errors.

    ``history`` fetches one symbol (injectable so tests can replay recorded frames
    without the network); failures that may pass (rate limits, network) are retried with
    exponential backoff and jitter. ``now`` is the clock the intraday windows count from.
    """

    name = "yahoo"
    bar_sizes = frozenset(BAR_SIZES)
    remote = True

    def __init__(
        self,
        history: Callable[..., pd.DataFrame] | None = None,
        *,
        retries: int = 3,
        backoff: float = 1.0,
        now: Callable[[], pd.Timestamp] = lambda: pd.Timestamp.now(tz=TZ),
    ):
        self.history = history or _yfinance_history
        self.retries = retries
        self.backoff = backoff
        self.now = now

    def fetch(self, symbols: list[str] | None, start=None, end=None, *,
              bar_size: str = DAILY, extended_hours: bool = False) -> pd.DataFrame:
        bar_size = served(self, bar_size)
        if not symbols:
            raise InputError("Yahoo needs symbols", hint="pass --symbols, e.g. --symbols AAPL,MSFT")
        if bar_size != DAILY:
            start = self._inside_window(bar_size, start, end)
        frames = [self._fetch_one(symbol, start, end, bar_size, extended_hours) for symbol in symbols]
        return pd.concat(frames, ignore_index=True)

    def _inside_window(self, bar_size: str, start, end):
        """``start`` (default: the window's first day) once the request fits Yahoo's window."""
        earliest = (self.now() - WINDOWS[bar_size]).tz_localize(None).normalize() + pd.Timedelta(days=1)
        if start is None:
            return earliest
        if pd.Timestamp(start) < earliest or (end is not None and pd.Timestamp(end) < earliest):
            raise InputError(
                f"Yahoo keeps {bar_size} bars for {_WINDOW_TEXT[bar_size]} only: "
                f"{pd.Timestamp(start).date()} is before {earliest.date()}",
                hint=f"ask from {earliest.date()} on, or use --source alpaca for older intraday bars",
            )
        return start

    def _fetch_one(self, symbol: str, start, end, bar_size: str, extended_hours: bool) -> pd.DataFrame:
        from yfinance.exceptions import YFRateLimitError, YFTickerMissingError

        for attempt in range(self.retries + 1):
            try:
                raw = self.history(symbol, start, end, interval=bar_size, prepost=extended_hours)
                break
            except YFTickerMissingError as exc:
                raise NotFoundError(
                    f"Yahoo has no bars for {symbol}: {exc}",
                    hint="check the ticker as Yahoo spells it (e.g. BRK-B, not BRK.B) and the dates",
                ) from exc
            except Exception as exc:
                transient = isinstance(exc, YFRateLimitError) or is_network_failure(exc)
                if not transient:
                    raise
                if attempt == self.retries:
                    if isinstance(exc, YFRateLimitError):
                        raise TemporaryError(
                            f"Yahoo rate-limited us fetching {symbol}",
                            hint="wait a few minutes, then run the same ingest again",
                        ) from exc
                    raise NetworkError(
                        f"cannot reach Yahoo Finance for {symbol}: {type(exc).__name__}: {exc}",
                        hint="check the network; offline, use --source sample or --source csv",
                    ) from exc
                time.sleep(random.uniform(0.5, 1.0) * self.backoff * 2**attempt)
        return normalise_yahoo(symbol, raw, start, end, bar_size=bar_size)


def normalise_yahoo(symbol: str, raw: pd.DataFrame, start=None, end=None, *,
                    bar_size: str = DAILY) -> pd.DataFrame:
    """Long rows from a yfinance history frame (exchange-local tz-aware index).

    Daily rows take the exchange's calendar date; intraday rows the bar's start in New
    York time. A 'Stock Splits' column (0 when none) becomes ``split_ratio``, a 'Dividends'
    column ``dividend``.
    """
    if raw is None or raw.empty:
        raise NotFoundError(
            f"Yahoo returned no bars for {symbol} between {start or 'the start'} and {end or 'today'}",
            hint="check the ticker and that the dates include trading days",
        )
    frame = raw.copy()
    if isinstance(frame.columns, pd.MultiIndex):  # yf.download-style (field, ticker) columns
        frame.columns = frame.columns.get_level_values(0)
    index = pd.DatetimeIndex(frame.index)
    if bar_size == DAILY:
        # Yahoo stamps daily bars at midnight exchange time; keep the exchange's calendar date.
        when = "date"
        stamps = (index.tz_localize(None) if index.tz is not None else index).normalize()
    else:
        when = "timestamp"
        stamps = index.tz_convert(TZ) if index.tz is not None else index.tz_localize(TZ)
    out = pd.DataFrame(
        {
            when: stamps,
            "symbol": symbol,
            "open": frame["Open"].to_numpy(dtype=float),
            "high": frame["High"].to_numpy(dtype=float),
            "low": frame["Low"].to_numpy(dtype=float),
            "close": frame["Close"].to_numpy(dtype=float),
            "volume": frame["Volume"].to_numpy(dtype=float),
            "adj_close": (frame["Adj Close"] if "Adj Close" in frame else frame["Close"]).to_numpy(dtype=float),
        }
    )
    columns = LONG_COLUMNS if bar_size == DAILY else INTRADAY_COLUMNS
    if "Stock Splits" in frame and bar_size == DAILY:
        ratio = frame["Stock Splits"].to_numpy(dtype=float)
        out["split_ratio"] = np.where(ratio > 0, ratio, np.nan)
        columns = [*columns, "split_ratio"]
    if "Dividends" in frame and bar_size == DAILY:  # cash per share on its ex-date, 0 when none
        cash = frame["Dividends"].to_numpy(dtype=float)
        out["dividend"] = np.where(cash > 0, cash, np.nan)
        columns = [*columns, "dividend"]
    return window(out, start, end)[columns].reset_index(drop=True)
