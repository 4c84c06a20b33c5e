"""Where bars come from: the bundled sample, a CSV file, or Yahoo Finance (yfinance).

Every source returns the same long, unadjusted rows:
``date, symbol, open, high, low, close, volume, adj_close`` with tz-naive dates.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from engine.data.bars import LONG_COLUMNS
from engine.errors import InputError, NetworkError, NotFoundError, TemporaryError

SOURCES = ("sample", "csv", "yahoo")


def _window(rows: pd.DataFrame, start, end) -> pd.DataFrame:
    if start is not None:
        rows = rows[rows["date"] >= pd.Timestamp(start)]
    if end is not None:
        rows = rows[rows["date"] <= pd.Timestamp(end)]
    return rows


class SampleSource:
    """The real bars bundled with the workbench (see data/sample/SOURCE.md)."""

    name = "sample"

    def fetch(self, symbols: list[str] | None, start=None, end=None, progress=None) -> pd.DataFrame:
        from engine.data.sample import sample_rows

        rows = sample_rows(None, start, end)
        available = sorted(sample_rows()["symbol"].unique())
        if symbols:
            unknown = [s for s in symbols if s not in available]
            if unknown:
                raise NotFoundError(
                    f"the sample bars have no {', '.join(unknown)}",
                    hint=f"the sample has {', '.join(available)}; use --source yahoo or csv for others",
                )
            rows = rows[rows["symbol"].isin(symbols)]
        return rows[LONG_COLUMNS].reset_index(drop=True)


class CsvSource:
    """A CSV file with columns date,symbol,open,high,low,close,volume[,adj_close]."""

    name = "csv"

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def fetch(self, symbols: list[str] | None, start=None, end=None, progress=None) -> pd.DataFrame:
        if not self.path.is_file():
            raise InputError(f"no such CSV file: {self.path}", hint="check the --path argument")
        try:
            rows = pd.read_csv(self.path, dtype={"symbol": str})
        except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
            raise InputError(
                f"{self.path} is not a readable CSV: {exc}",
                hint="expected a header row date,symbol,open,high,low,close,volume[,adj_close]",
            ) from exc
        rows.columns = [str(c).strip().lower().replace(" ", "_") for c in rows.columns]
        required = [c for c in LONG_COLUMNS if c != "adj_close"]
        missing = [c for c in required if c not in rows.columns]
        if missing:
            raise InputError(
                f"{self.path.name} lacks column(s) {', '.join(missing)}",
                hint="the header must name date,symbol,open,high,low,close,volume (adj_close optional)",
            )
        if "adj_close" not in rows.columns:
            rows["adj_close"] = rows["close"]
        rows["symbol"] = rows["symbol"].astype(str).str.strip().str.upper()
        dates = pd.to_datetime(rows["date"], errors="coerce", format="mixed")
        bad = rows.loc[dates.isna(), "date"]
        if len(bad):
            lines = ", ".join(f"line {i + 2}: {v!r}" for i, v in bad.head(5).items())
            raise InputError(
                f"{self.path.name}: {len(bad)} date(s) could not be read ({lines})",
                hint="write dates as YYYY-MM-DD",
            )
        rows["date"] = dates.dt.tz_localize(None) if dates.dt.tz is not None else dates
        rows["date"] = rows["date"].dt.normalize()
        for col in ("open", "high", "low", "close", "volume", "adj_close"):
            rows[col] = pd.to_numeric(rows[col], errors="coerce")  # unreadable -> NaN -> quality error
        if symbols:
            rows = rows[rows["symbol"].isin(symbols)]
        return _window(rows, start, end)[LONG_COLUMNS].reset_index(drop=True)


def _yfinance_history(symbol: str, start, end) -> pd.DataFrame:
    """One symbol's daily history from Yahoo, unadjusted OHLC plus 'Adj Close'."""
    import yfinance as yf

    # Make yfinance raise instead of printing and returning an empty frame, so that an
    # unknown ticker and a network failure can be told apart.
    yf.config.debug.hide_exceptions = False
    end_exclusive = None if end is None else (pd.Timestamp(end) + pd.Timedelta(days=1)).date()
    return yf.Ticker(symbol).history(
        start=None if start is None else pd.Timestamp(start).date(),
        end=end_exclusive,
        interval="1d",
        auto_adjust=False,  # explicit: we store raw OHLC and adjust on read from Adj Close
        actions=False,
        repair=False,
        timeout=10,
    )


def _is_network_failure(exc: Exception) -> bool:
    if isinstance(exc, OSError | TimeoutError):
        return True
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(names & {"ConnectionError", "Timeout", "ReadTimeout", "ConnectTimeout",
                         "RequestException", "CurlError", "DNSError", "ProxyError", "SSLError"})


class YahooSource:
    """Daily bars from Yahoo Finance through yfinance, with retries and clear errors.

    ``history`` fetches one symbol (injectable so tests can replay recorded frames
    without the network); failures that may pass (rate limits, network) are retried with
    exponential backoff and jitter.
    """

    name = "yahoo"

    def __init__(
        self,
        history: Callable[[str, object, object], pd.DataFrame] | None = None,
        *,
        retries: int = 3,
        backoff: float = 1.0,
    ):
        self.history = history or _yfinance_history
        self.retries = retries
        self.backoff = backoff

    def fetch(self, symbols: list[str] | None, start=None, end=None, progress=None) -> pd.DataFrame:
        if not symbols:
            raise InputError("Yahoo needs symbols", hint="pass --symbols, e.g. --symbols AAPL,MSFT")
        frames = []
        for symbol in symbols:
            frames.append(self._fetch_one(symbol, start, end))
            if progress is not None:
                progress(symbol)
        return pd.concat(frames, ignore_index=True)

    def _fetch_one(self, symbol: str, start, end) -> pd.DataFrame:
        from yfinance.exceptions import YFRateLimitError, YFTickerMissingError

        for attempt in range(self.retries + 1):
            try:
                raw = self.history(symbol, start, end)
                break
            except YFTickerMissingError as exc:
                raise NotFoundError(
                    f"Yahoo has no bars for {symbol}: {exc}",
                    hint="check the ticker as Yahoo spells it (e.g. BRK-B, not BRK.B) and the dates",
                ) from exc
            except Exception as exc:
                transient = isinstance(exc, YFRateLimitError) or _is_network_failure(exc)
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
        return normalise_yahoo(symbol, raw, start, end)


def normalise_yahoo(symbol: str, raw: pd.DataFrame, start=None, end=None) -> pd.DataFrame:
    """Long rows from a yfinance history frame (exchange-local tz-aware index)."""
    if raw is None or raw.empty:
        raise NotFoundError(
            f"Yahoo returned no bars for {symbol} between {start or 'the start'} and {end or 'today'}",
            hint="check the ticker and that the dates include trading days",
        )
    frame = raw.copy()
    if isinstance(frame.columns, pd.MultiIndex):  # yf.download-style (field, ticker) columns
        frame.columns = frame.columns.get_level_values(0)
    index = pd.DatetimeIndex(frame.index)
    # Yahoo stamps daily bars at midnight exchange time; keep the exchange's calendar date.
    dates = index.tz_localize(None) if index.tz is not None else index
    out = pd.DataFrame(
        {
            "date": dates.normalize(),
            "symbol": symbol,
            "open": frame["Open"].to_numpy(dtype=float),
            "high": frame["High"].to_numpy(dtype=float),
            "low": frame["Low"].to_numpy(dtype=float),
            "close": frame["Close"].to_numpy(dtype=float),
            "volume": frame["Volume"].to_numpy(dtype=float),
            "adj_close": (frame["Adj Close"] if "Adj Close" in frame else frame["Close"]).to_numpy(dtype=float),
        }
    )
    return _window(out, start, end).reset_index(drop=True)


def make_source(name: str, *, path: str | Path | None = None):
    """The source called ``name`` (sample, csv or yahoo)."""
    if name == "sample":
        return SampleSource()
    if name == "csv":
        if path is None:
            raise InputError("--source csv needs a file", hint="add --path FILE.csv")
        return CsvSource(path)
    if name == "yahoo":
        return YahooSource()
    raise InputError(f"unknown source {name!r}", hint=f"use one of {', '.join(SOURCES)}")
