"""A loopback stand-in for Alpaca's market-data API (``/v2/stocks/bars``), with faults.

A small threaded HTTP server on 127.0.0.1 that answers the bars endpoint the way
Alpaca's does, so alpaca-py's real ``StockHistoricalDataClient`` is pointed at it with
``url_override=server.url``:

- ``GET /v2/stocks/bars?symbols=A,B&timeframe=5Min&start=...&end=...&limit=...&feed=iex
  &adjustment=raw&page_token=...``, answered ``{"bars": {"A": [{"t","o","h","l","c","v",
  "n","vw"}, ...]}, "next_page_token": ..., "currency": "USD"}``; bars ordered by symbol
  then time, ``limit`` counting bars across symbols, pages chained by an opaque token;
- bars aggregated from the minute bars the test gives it, on the clock grid as Alpaca
  does (5Min bins start at :00, :05, ...; Hour bins on the hour; Day bins per New York
  date, stamped at midnight New York time); extended hours included, as Alpaca sends them;
- ``adjustment=split`` or ``all`` divides prices before each split by its ratio;
- a symbol it has no bars for is simply absent from ``bars``; a malformed symbol is
  400 "invalid symbol"; wrong keys are 401; ``feed=sip`` without ``sip_allowed`` is 403.

Faults, asked for on the server and recorded as injected (see tests/standins/faults.py)::

    server.faults.add("429", retry_after=1)                 # the next request
    server.faults.add("503", count=2)
    server.faults.add("drop", path="*page=3")               # the 3rd page of a result, dropped
    server.faults.add("slow", delay=2.0)                    # answered after the client gave up

Faults match the path ``/v2/stocks/bars?page=N`` (N counts pages of a result from 1), so
a pattern can pick one page.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest

from tests.standins._server import JsonHandler, LoopbackServer
from tests.standins.faults import Faults

API_KEY = "standin-data-key"
SECRET_KEY = "standin-data-secret"
ERROR_KINDS = {"400", "403", "429", "500", "502", "503", "504"}
FAULT_KINDS = ERROR_KINDS | {"drop", "slow"}
_SYMBOL = re.compile(r"^[A-Z][A-Z0-9.]{0,9}$")
_TIMEFRAME = re.compile(r"^(\d+)(Min|T|Hour|H|Day|D)$")
NY = "America/New_York"


@dataclass(frozen=True)
class Request:
    """One request the server saw: its query, which page it asked for, and the answer."""

    path: str
    query: dict
    page: int
    status: int | None
    fault: str | None


class AlpacaDataStandIn(LoopbackServer):
    """Alpaca's bars endpoint on a random loopback port, over minute bars you give it."""

    def __init__(self, *, api_key: str = API_KEY, secret_key: str = SECRET_KEY, seed: int = 0,
                 sip_allowed: bool = False, page_size: int = 10_000):
        self.api_key, self.secret_key = api_key, secret_key
        self.sip_allowed = sip_allowed
        self.page_size = page_size  # at most this many bars a page, whatever ``limit`` says
        self.faults = Faults(FAULT_KINDS, seed)
        self.lock = threading.Lock()
        self.requests: list[Request] = []
        self.minutes: dict[str, pd.DataFrame] = {}
        self.splits: dict[str, list[tuple[pd.Timestamp, float]]] = {}

    # -- data --------------------------------------------------------------------------

    def add_minutes(self, symbol: str, frame: pd.DataFrame) -> None:
        """Minute bars for ``symbol``: timestamp (tz-aware start), open, high, low, close, volume."""
        frame = frame.copy()
        frame["timestamp"] = pd.to_datetime(frame["timestamp"]).dt.tz_convert("UTC")
        self.minutes[symbol] = frame.sort_values("timestamp").reset_index(drop=True)

    def add_split(self, symbol: str, day: str, ratio: float) -> None:
        """A ``ratio``-for-1 split effective at the open of ``day``."""
        self.splits.setdefault(symbol, []).append((pd.Timestamp(day), float(ratio)))

    # -- the endpoint ------------------------------------------------------------------

    def bars(self, query: dict) -> tuple[int, Any, int]:
        """(status, payload, page number) for one bars request."""
        symbols = [s for s in query.get("symbols", "").split(",") if s]
        bad = [s for s in symbols if not _SYMBOL.match(s)]
        if not symbols or bad:
            return 400, {"message": f"invalid symbol: {(bad or [''])[0]}"}, 1
        if query.get("feed", "iex") == "sip" and not self.sip_allowed:
            return 403, {"message": "subscription does not permit querying recent SIP data"}, 1
        match = _TIMEFRAME.match(query.get("timeframe", ""))
        if not match:
            return 400, {"message": f"invalid timeframe: {query.get('timeframe')}"}, 1
        start = _parse(query.get("start")) or pd.Timestamp("1970-01-01", tz="UTC")
        end = _parse(query.get("end")) or pd.Timestamp.now(tz="UTC")
        items = []
        for symbol in sorted(set(symbols)):
            for bar in self._aggregate(symbol, int(match[1]), match[2][0], start, end,
                                       query.get("adjustment", "raw")):
                items.append((symbol, bar))
        limit = min(int(query.get("limit") or 1000), self.page_size)
        offset = _offset(query.get("page_token"))
        page = items[offset:offset + limit]
        nxt = offset + len(page)
        payload: dict = {"bars": {}, "currency": "USD",
                         "next_page_token": _token(nxt) if nxt < len(items) else None}
        for symbol, bar in page:
            payload["bars"].setdefault(symbol, []).append(bar)
        return 200, payload, offset // limit + 1

    def _aggregate(self, symbol, amount, unit, start, end, adjustment) -> list[dict]:
        minutes = self.minutes.get(symbol)
        if minutes is None:
            return []
        frame = minutes.copy()
        local = frame["timestamp"].dt.tz_convert(NY)
        if adjustment in ("split", "all"):
            for day, ratio in self.splits.get(symbol, []):
                before = local.dt.tz_localize(None) < day
                for col in ("open", "high", "low", "close"):
                    frame.loc[before, col] = frame.loc[before, col] / ratio
                frame.loc[before, "volume"] = frame.loc[before, "volume"] * ratio
        if unit == "D":
            wall = local.dt.tz_localize(None)
            regular = (wall - wall.dt.normalize()).between(pd.Timedelta("9h30min"), pd.Timedelta("15h59min"))
            frame, local = frame[regular], local[regular]
            key = local.dt.tz_localize(None).dt.normalize().dt.tz_localize(NY).dt.tz_convert("UTC")
        else:
            minutes_per_bin = amount * (60 if unit == "H" else 1)
            key = frame["timestamp"].dt.floor(f"{minutes_per_bin}min")
        frame = frame.assign(key=key.to_numpy(), value=frame["close"] * frame["volume"])
        frame = frame[(frame["key"] >= start) & (frame["key"] <= end)]
        agg = frame.groupby("key", sort=True).agg(
            o=("open", "first"), h=("high", "max"), l=("low", "min"), c=("close", "last"),
            v=("volume", "sum"), n=("close", "size"), value=("value", "sum"))
        agg["vw"] = (agg["value"] / agg["v"]).where(agg["v"] > 0, 0.0)
        agg["t"] = agg.index.strftime("%Y-%m-%dT%H:%M:%SZ")
        return agg[["t", "o", "h", "l", "c", "v", "n", "vw"]].to_dict(orient="records")


class _Handler(JsonHandler):
    standin: AlpacaDataStandIn
    protocol_version = "HTTP/1.0"  # one request per connection: a drop drops only that one

    def log_message(self, format, *args):  # noqa: A002 - keep test output quiet
        pass

    def do_GET(self):
        standin = self.standin
        split = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}

        def log(status, fault, page):
            with standin.lock:
                standin.requests.append(Request(split.path, query, page, status, fault))

        if (self.headers.get("APCA-API-KEY-ID") != standin.api_key
                or self.headers.get("APCA-API-SECRET-KEY") != standin.secret_key):
            log(401, None, 0)
            return self._send(401, {"message": "unauthorized."})
        if split.path != "/v2/stocks/bars":
            log(404, None, 0)
            return self._send(404, {"message": "not found"})
        status, payload, page = standin.bars(query)
        where = f"{split.path}?page={page}"
        picked = standin.faults.pick("GET", where)
        fault, kind = picked if picked else (None, None)
        if fault is not None:
            standin.faults.record("GET", where, kind, None)
        if kind in ERROR_KINDS:
            log(int(kind), kind, page)
            headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
            return self._send(int(kind), {"code": int(kind) * 100000,
                                          "message": fault.message or f"fault {kind}"}, headers)
        if kind == "drop":
            log(None, kind, page)
            return self._drop()
        if kind == "slow":
            time.sleep(fault.delay)
        log(status, kind, page)
        return self._send(status, payload)



def _parse(text: str | None) -> pd.Timestamp | None:
    if not text:
        return None
    stamp = pd.Timestamp(text)
    return stamp.tz_convert("UTC") if stamp.tzinfo else stamp.tz_localize("UTC")


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _offset(token: str | None) -> int:
    return int(base64.urlsafe_b64decode(token.encode()).decode().split(":")[1]) if token else 0


@pytest.fixture
def alpaca_data():
    """A running market-data stand-in with no bars and no faults, stopped after the test."""
    with AlpacaDataStandIn() as server:
        yield server


AlpacaDataStandIn.handler_class = _Handler
