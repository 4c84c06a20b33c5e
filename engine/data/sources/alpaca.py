"""Bars from Alpaca's market-data API through alpaca-py's ``StockHistoricalDataClient``.

What this source adds to alpaca-py, and why:

- **Every page retried on its own.** alpaca-py follows ``next_page_token`` to the end but
  retries only 429 and 504, three times, 3 s apart, ignoring Retry-After, and sends no
  timeout. We switch its retries off and give its HTTP session a timeout and urllib3's
  ``Retry``: 429, 5xx, timeouts and dropped connections are retried with exponential
  backoff and jitter, Retry-After honoured (capped), so a failed page 40 of 60 is asked
  again without starting over.
- **As traded, with Alpaca's adjustment.** Bars are fetched raw (as traded) and adjusted
  for splits and dividends (``adjustment=all``); the adjusted close becomes ``adj_close``.
- **Bins like the workbench's.** 1m-30m bars come as Alpaca makes them (they start on the
  9:30 grid); hourly bars are built from 30-minute bars with the workbench's resampler,
  because Alpaca's hours start on the clock hour (9:00, 10:00) and mix the pre-market in.
  Extended-hours bars are dropped unless asked for.
- **Errors in the workbench's terms.** Bad keys, a feed the plan does not include, an
  invalid or unknown symbol, rate limits and outages each get one clear line.

Keys come from the arguments or APCA_API_KEY_ID / APCA_API_SECRET_KEY, the feed from
``feed`` or WB_ALPACA_FEED (``iex`` by default; ``sip`` with a plan that includes it),
and WB_ALPACA_DATA_URL points the client elsewhere (the loopback stand-in in tests).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import pandas as pd
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from engine.data.bar_sizes import BAR_SIZES, DAILY
from engine.data.bars import INTRADAY_COLUMNS, LONG_COLUMNS
from engine.data.calendar import TZ, session_times
from engine.data.sources._common import served
from engine.errors import InputError, NetworkError, NotFoundError, OperatorError, TemporaryError

KEY_ENV, SECRET_ENV = "APCA_API_KEY_ID", "APCA_API_SECRET_KEY"
FEED_ENV, URL_ENV = "WB_ALPACA_FEED", "WB_ALPACA_DATA_URL"
FEEDS = ("iex", "sip")
#: The Alpaca timeframe each bar size is fetched in: (amount, unit).
_WIRE = {"1m": (1, "Min"), "5m": (5, "Min"), "15m": (15, "Min"), "30m": (30, "Min"),
         "1h": (30, "Min"), "1d": (1, "Day")}


@dataclass(frozen=True)
class DataRetry:
    """How hard to try each request: ``attempts`` in all, waits doubling from ``backoff``
    (plus up to ``jitter`` seconds), never shorter than Retry-After up to ``max_retry_after``."""

    attempts: int = 6
    backoff: float = 0.5
    max_backoff: float = 8.0
    jitter: float = 0.5
    max_retry_after: int = 30

    def urllib3(self) -> Retry:
        tries = max(self.attempts - 1, 0)
        return Retry(
            total=tries, connect=tries, read=tries, status=tries, other=0,
            allowed_methods={"GET"}, status_forcelist={429, 500, 502, 503, 504},
            backoff_factor=self.backoff, backoff_max=self.max_backoff, backoff_jitter=self.jitter,
            respect_retry_after_header=True, retry_after_max=self.max_retry_after,
            raise_on_status=False,  # the last answer reaches alpaca-py, which names the error
        )


class _DataSession(requests.Session):
    """A requests session with a timeout on every request and per-request retries."""

    def __init__(self, timeout: float, retry: DataRetry):
        super().__init__()
        self.timeout = timeout
        adapter = HTTPAdapter(max_retries=retry.urllib3())
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def request(self, method, url, **kwargs):
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, **kwargs)


class AlpacaSource:
    """Daily and intraday bars from Alpaca's market data (IEX feed unless told SIP)."""

    name = "alpaca"
    bar_sizes = frozenset(BAR_SIZES)
    remote = True

    def __init__(
        self,
        *,
        api_key: str | None = None,
        secret_key: str | None = None,
        feed: str | None = None,
        url_override: str | None = None,
        timeout: float = 30.0,
        retry: DataRetry | None = None,
        symbols_per_request: int = 50,
    ):
        from alpaca.data.historical.stock import StockHistoricalDataClient

        api_key = api_key or os.environ.get(KEY_ENV)
        secret_key = secret_key or os.environ.get(SECRET_ENV)
        missing = [env for env, value in ((KEY_ENV, api_key), (SECRET_ENV, secret_key)) if not value]
        if missing:
            raise InputError(
                f"Alpaca market data needs API keys: {' and '.join(missing)} not set",
                hint=f"export {KEY_ENV}=... and {SECRET_ENV}=... (the keys from the Alpaca "
                "dashboard; paper keys read market data too), or use --source sample, yahoo or csv",
            )
        self.feed = (feed or os.environ.get(FEED_ENV) or "iex").strip().lower()
        if self.feed not in FEEDS:
            raise InputError(f"unknown Alpaca feed {self.feed!r}", hint="use iex (free) or sip (paid plans)")
        self.retry = retry or DataRetry()
        self.symbols_per_request = symbols_per_request
        self.client = StockHistoricalDataClient(
            api_key=api_key, secret_key=secret_key, raw_data=True,
            url_override=url_override or os.environ.get(URL_ENV) or None,
        )
        _take_over_retries(self.client, _DataSession(timeout, self.retry))

    def __repr__(self) -> str:
        return f"AlpacaSource(feed={self.feed})"

    def fetch(self, symbols: list[str] | None, start=None, end=None, *,
              bar_size: str = DAILY, extended_hours: bool = False) -> pd.DataFrame:
        bar_size = served(self, bar_size)
        if not symbols:
            raise InputError("Alpaca needs symbols", hint="pass --symbols, e.g. --symbols AAPL,MSFT")
        if start is None and bar_size != DAILY:
            raise InputError(
                f"say how far back to fetch {bar_size} bars from Alpaca",
                hint="add --start YYYY-MM-DD (a year of 1m bars is about 98,000 rows a symbol); "
                "later ingests continue from the last stored bar by themselves",
            )
        first = pd.Timestamp(start or "2016-01-01").normalize()  # Alpaca's history begins in 2016
        last = pd.Timestamp(end).normalize() if end is not None else pd.Timestamp.now(tz=TZ).tz_localize(None).normalize()
        if last < first:
            raise InputError(f"the range {first.date()} .. {last.date()} is backwards",
                             hint="give --start before --end")
        # Whole New York days, as UTC instants; Alpaca's end is inclusive.
        since = first.tz_localize(TZ).tz_convert("UTC")
        until = (last + pd.Timedelta(days=1)).tz_localize(TZ).tz_convert("UTC") - pd.Timedelta(seconds=1)

        def unknown(batch: list[str]) -> None:
            raise NotFoundError(
                f"Alpaca has no {bar_size} bars for {', '.join(batch)} from {first.date()} to "
                f"{last.date()} on the {self.feed.upper()} feed",
                hint="check the ticker (Alpaca spells class shares BRK.B) and the dates "
                "(Alpaca's history starts in 2016)",
            )

        return self._fetch(symbols, since, until, bar_size, extended_hours, adjust=True,
                           on_unknown=unknown)

    def bars_between(self, symbols: list[str], since, until, *, bar_size: str,
                     extended_hours: bool = False, adjust: bool = True) -> pd.DataFrame:
        """Long rows of the bars that start from ``since`` to ``until`` (tz-aware instants,
        both inclusive): what the live feed asks for right after each close.

        A symbol with no bar there is simply absent (a quiet minute is no error). Without
        ``adjust`` only the traded prices are fetched (one request, not two) and
        ``adj_close`` is the close: right for bars of the current session, which no split
        or dividend has adjusted yet.
        """
        bar_size = served(self, bar_size)
        if not symbols:
            raise InputError("Alpaca needs symbols", hint="name at least one symbol")
        since, until = pd.Timestamp(since), pd.Timestamp(until)
        if since.tzinfo is None or until.tzinfo is None:
            raise InputError("bars_between takes tz-aware instants",
                             hint="tz_localize them (New York or UTC) first")
        if bar_size == "1h":  # built from 30-minute bars: take in each hour's second half
            until = until + pd.Timedelta(minutes=30)
        return self._fetch(symbols, since.tz_convert("UTC"), until.tz_convert("UTC"), bar_size,
                           extended_hours, adjust=adjust, on_unknown=None)

    def _fetch(self, symbols, since, until, bar_size, extended_hours, *, adjust, on_unknown):
        frames = []
        since, until = since.to_pydatetime(), until.to_pydatetime()
        for i in range(0, len(symbols), self.symbols_per_request):
            batch = list(symbols[i:i + self.symbols_per_request])
            raw = self._bars(batch, bar_size, since, until, "raw")
            missing = [s for s in batch if not raw.get(s)]
            if missing and on_unknown is not None:
                on_unknown(missing)
            if not any(raw.values()):
                continue
            adjusted = self._bars(batch, bar_size, since, until, "all") if adjust else raw
            frames.append(_rows(raw, adjusted, bar_size))
        if not frames:
            return pd.DataFrame(columns=LONG_COLUMNS if bar_size == DAILY else INTRADAY_COLUMNS)
        rows = pd.concat(frames, ignore_index=True)
        if bar_size == DAILY:
            return rows[LONG_COLUMNS]
        rows = _in_hours(rows, extended_hours)
        if bar_size == "1h":
            from engine.data.resample import resample

            rows = resample(rows, "1h", source_size="30m")
        return rows[INTRADAY_COLUMNS].reset_index(drop=True)

    def _bars(self, symbols: list[str], bar_size: str, start, end, adjustment: str) -> dict:
        from alpaca.common.exceptions import APIError
        from alpaca.data.enums import Adjustment, DataFeed
        from alpaca.data.requests import StockBarsRequest
        from alpaca.data.timeframe import TimeFrame, TimeFrameUnit

        amount, unit = _WIRE[bar_size]
        request = StockBarsRequest(
            symbol_or_symbols=symbols, start=start, end=end,
            timeframe=TimeFrame(amount, {"Min": TimeFrameUnit.Minute, "Day": TimeFrameUnit.Day}[unit]),
            adjustment=Adjustment(adjustment), feed=DataFeed(self.feed),
        )
        try:
            return self.client.get_stock_bars(request) or {}
        except APIError as exc:
            raise _api_error(exc, self.feed, self.retry.attempts) from None
        except requests.exceptions.RequestException as exc:
            raise NetworkError(
                f"cannot reach Alpaca's market data after {self.retry.attempts} tries: "
                f"{type(exc).__name__}",
                hint="check the network and run the same ingest again (it fetches only what "
                "the store lacks); offline, use --source sample or csv",
            ) from exc


def _rows(raw: dict, adjusted: dict, bar_size: str) -> pd.DataFrame:
    """Long rows from Alpaca's raw answers: as traded, with the adjusted close beside them."""
    parts = []
    for symbol, bars in raw.items():
        if not bars:
            continue
        frame = pd.DataFrame(bars)
        adj = pd.DataFrame(adjusted.get(symbol) or [], columns=["t", "c"]).rename(columns={"c": "adj_close"})
        frame = frame.merge(adj, on="t", how="left")
        frame["symbol"] = symbol
        parts.append(frame)
    frame = pd.concat(parts, ignore_index=True).rename(
        columns={"o": "open", "h": "high", "l": "low", "c": "close", "v": "volume"})
    stamps = pd.to_datetime(frame["t"], utc=True, format="ISO8601").dt.tz_convert(TZ)
    if bar_size == DAILY:
        frame["date"] = stamps.dt.tz_localize(None).dt.normalize()  # a day bar is stamped at midnight
    else:
        frame["timestamp"] = stamps
    for col in ("open", "high", "low", "close", "volume", "adj_close"):
        frame[col] = frame[col].astype(float)
    return frame


def _in_hours(rows: pd.DataFrame, extended_hours: bool) -> pd.DataFrame:
    """Rows in the regular session (or, asked, in extended hours); Alpaca sends 4:00-20:00."""
    local = rows["timestamp"].dt.tz_localize(None)
    day = local.dt.normalize()
    minute = (local - day) // pd.Timedelta(minutes=1)
    times = session_times(day.min(), day.max()).reindex(day)
    lo, hi = ("pre", "post") if extended_hours else ("open", "close")
    keep = (minute >= times[lo].to_numpy()) & (minute < times[hi].to_numpy())
    return rows[keep.to_numpy()]


def _api_error(exc, feed: str, attempts: int) -> Exception:
    """A workbench error for an error answer from Alpaca's data API."""
    status = exc.status_code
    try:
        message = json.loads(str(exc)).get("message") or str(exc)
    except (ValueError, AttributeError):
        message = str(exc)
    if status == 401:
        return InputError(f"Alpaca refused the API keys ({status}: {message})",
                          hint=f"check {KEY_ENV} and {SECRET_ENV}: market data takes the same keys as trading")
    if status == 403:
        if feed == "sip" or "subscription" in message.lower() or "sip" in message.lower():
            return InputError(f"your Alpaca plan may not use the {feed.upper()} feed ({message})",
                              hint="use --feed iex (the default), or a market-data plan that includes SIP")
        return InputError(f"Alpaca refused access to market data ({status}: {message})",
                          hint=f"check {KEY_ENV} and {SECRET_ENV} and the account's market-data permissions")
    if status in (400, 404, 422):
        return InputError(f"Alpaca refused the request ({status}: {message})",
                          hint="check the tickers (Alpaca spells class shares BRK.B) and the dates")
    if status == 429:
        return TemporaryError(f"Alpaca kept rate-limiting us after {attempts} tries",
                              hint="wait a minute, then run the same ingest again (it fetches only what the store lacks)")
    if status is not None and status >= 500:
        return NetworkError(f"Alpaca's market data kept failing ({status}: {message}) after {attempts} tries",
                            hint="try again later; the same ingest fetches only what the store lacks")
    return InputError(f"Alpaca answered {status}: {message}")


def _take_over_retries(client, session: requests.Session) -> None:
    """Switch off alpaca-py's own retries and give it our session (timeouts, retries).

    alpaca-py (0.40 to 0.44 at least) keeps both in private attributes of its RESTClient:
    ``_retry`` (extra tries on 429/504) and ``_session`` (a requests.Session without a
    timeout). If a release renames them we stop here rather than fetch without timeouts.
    """
    if not (hasattr(client, "_retry") and isinstance(getattr(client, "_session", None), requests.Session)):
        raise OperatorError(
            "this alpaca-py version no longer has the _retry/_session attributes the Alpaca "
            "data source relies on for retries and timeouts",
            hint="pin alpaca-py to a tested version (see pyproject.toml) or update engine/data/sources/alpaca.py",
        )
    client._retry = 0
    client._retry_codes = []
    client._session = session
