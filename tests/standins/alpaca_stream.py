"""A loopback stand-in for Alpaca's market-data stream (``wss://stream.data.alpaca.markets/v2/iex``).

A websocket server on 127.0.0.1 speaking the protocol alpaca-py's real
``StockDataStream`` speaks (``alpaca/data/live/websocket.py``), so the client is pointed
at it with ``url_override=server.url``. Every frame is a msgpack array of messages:

- on connect: ``[{"T": "success", "msg": "connected"}]``;
- ``{"action": "auth", "key", "secret"}``: ``[{"T": "success", "msg": "authenticated"}]``,
  or ``[{"T": "error", "code": 402, "msg": "auth failed"}]`` and the connection closed;
- ``{"action": "subscribe", "bars": [...], ...}``: ``[{"T": "subscription", "trades": [],
  "quotes": [], "bars": [...], ...}]``, the connection's channels so far;
- minute bars, as the test publishes them: ``{"T": "b", "S", "o", "h", "l", "c", "v",
  "t", "n", "vw"}`` with ``t`` a msgpack timestamp (the bar's start), all bars of one
  minute in one frame. Like Alpaca's, the stream never replays: a bar published while a
  client is not connected is lost to it.

Faults on demand (tests/standins/faults.py), matched per bar on the path
``SYMBOL@YYYY-MM-DDTHH:MM`` (the bar's start, New York time)::

    server.faults.add("duplicate", path="AAA@*T10:02")   # that bar sent twice
    server.faults.add("late", path="AAA@*T10:04", delay=2.0)  # sent 2 s after the others
    server.faults.add("drop", path="*T10:03")            # connections dropped before it

and ``server.drop()`` drops every connection at once (no close frame: a lost network).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass, field

import msgpack
import pandas as pd
import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from tests.standins._server import StartStop
from tests.standins.faults import Faults

API_KEY = "standin-stream-key"
SECRET_KEY = "standin-stream-secret"
FAULT_KINDS = {"drop", "late", "duplicate"}
NY = "America/New_York"
CHANNELS = ("trades", "quotes", "bars", "updatedBars", "dailyBars", "statuses", "lulds",
            "corrections", "cancelErrors")


@dataclass
class Client:
    """One connection the server accepted: whether it authenticated, what it subscribed."""

    connection: ServerConnection
    authenticated: bool = False
    channels: dict[str, set[str]] = field(default_factory=lambda: {c: set() for c in CHANNELS})

    def wants(self, symbol: str) -> bool:
        bars = self.channels["bars"]
        return self.authenticated and (symbol in bars or "*" in bars)


class AlpacaStreamStandIn(StartStop):
    """Alpaca's stock data stream on a random loopback port; bars are published by the test."""

    def __init__(self, *, api_key: str = API_KEY, secret_key: str = SECRET_KEY, seed: int = 0):
        self.api_key, self.secret_key = api_key, secret_key
        self.faults = Faults(FAULT_KINDS, seed)
        self.clients: list[Client] = []
        self.connections = 0  # connections accepted, reconnections included
        self.subscribed = threading.Condition()
        self.subscriptions = 0  # subscribe messages answered
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> AlpacaStreamStandIn:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the stream stand-in did not start")
        return self

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)

        async def main():
            self._server = await serve(self._serve, "127.0.0.1", 0, compression=None)
            self._ready.set()
            await self._server.serve_forever()

        with contextlib.suppress(asyncio.CancelledError):
            self._loop.run_until_complete(main())

    def stop(self) -> None:
        if self._loop is None or self._server is None:
            return

        async def shut():
            self._server.close()
            for client in list(self.clients):
                client.connection.transport.abort()

        asyncio.run_coroutine_threadsafe(shut(), self._loop).result(10)
        self._thread.join(10)
        self._server = None

    @property
    def url(self) -> str:
        host, port = next(iter(self._server.sockets)).getsockname()[:2]
        return f"ws://{host}:{port}/v2/iex"

    # -- what the test does --------------------------------------------------------------

    def wait_subscribed(self, count: int = 1, timeout: float = 10.0) -> None:
        """Block until ``count`` subscriptions have been answered (a reconnection subscribes again)."""
        with self.subscribed:
            if not self.subscribed.wait_for(lambda: self.subscriptions >= count, timeout):
                raise TimeoutError(f"{self.subscriptions} subscriptions, not {count}, in {timeout} s")

    def publish(self, minutes: pd.DataFrame) -> None:
        """Send minute bars (symbol, timestamp = the bar's start, open, high, low, close,
        volume) to the subscribed clients, one frame a minute, faults applied."""
        minutes = minutes.sort_values(["timestamp", "symbol"])
        asyncio.run_coroutine_threadsafe(self._publish(minutes), self._loop).result(30)

    def drop(self) -> None:
        """Drop every connection now, as a lost network does (no close frame)."""

        async def drop_all():
            for client in list(self.clients):
                client.connection.transport.abort()

        asyncio.run_coroutine_threadsafe(drop_all(), self._loop).result(10)

    # -- the server ----------------------------------------------------------------------

    async def _serve(self, connection: ServerConnection) -> None:
        client = Client(connection)
        self.connections += 1
        self.clients.append(client)
        try:
            await connection.send(_pack([{"T": "success", "msg": "connected"}]))
            async for frame in connection:
                message = msgpack.unpackb(frame) if isinstance(frame, bytes) else {}
                if not await self._answer(client, message):
                    break
        except ConnectionClosed:
            pass
        finally:
            self.clients.remove(client)

    async def _answer(self, client: Client, message: dict) -> bool:
        """Answer one client message; False when the connection must end."""
        connection = client.connection
        action = message.get("action")
        if action == "auth":
            if message.get("key") != self.api_key or message.get("secret") != self.secret_key:
                await connection.send(_pack([{"T": "error", "code": 402, "msg": "auth failed"}]))
                await connection.close()
                return False
            client.authenticated = True
            await connection.send(_pack([{"T": "success", "msg": "authenticated"}]))
            return True
        if not client.authenticated:
            await connection.send(_pack([{"T": "error", "code": 401, "msg": "not authenticated"}]))
            await connection.close()
            return False
        if action in ("subscribe", "unsubscribe"):
            for channel in CHANNELS:
                symbols = set(message.get(channel) or [])
                if action == "subscribe":
                    client.channels[channel] |= symbols
                else:
                    client.channels[channel] -= symbols
            ack = {"T": "subscription", **{c: sorted(client.channels[c]) for c in CHANNELS}}
            await connection.send(_pack([ack]))
            with self.subscribed:
                self.subscriptions += 1
                self.subscribed.notify_all()
            return True
        await connection.send(_pack([{"T": "error", "code": 400, "msg": "invalid syntax"}]))
        return True

    async def _publish(self, minutes: pd.DataFrame) -> None:
        for _, frame in minutes.groupby("timestamp", sort=True):
            now: list[dict] = []
            for row in frame.itertuples(index=False):
                message = _bar_message(row)
                where = f"{row.symbol}@{pd.Timestamp(row.timestamp).tz_convert(NY):%Y-%m-%dT%H:%M}"
                picked = self.faults.pick("BAR", where)
                kind = picked[1] if picked else None
                if kind is not None:
                    self.faults.record("BAR", where, kind, None)
                if kind == "drop":
                    for client in list(self.clients):
                        client.connection.transport.abort()
                    await asyncio.sleep(0)
                if kind == "late":
                    self._loop.call_later(picked[0].delay, self._send_later, row.symbol, message)
                    continue
                now += [message, message] if kind == "duplicate" else [message]
            for client in list(self.clients):
                mine = [m for m in now if client.wants(m["S"])]
                if mine:
                    with contextlib.suppress(ConnectionClosed):
                        await client.connection.send(_pack(mine))

    def _send_later(self, symbol: str, message: dict) -> None:
        for client in list(self.clients):
            if client.wants(symbol):
                self._loop.create_task(_send_quietly(client.connection, _pack([message])))


async def _send_quietly(connection: ServerConnection, data: bytes) -> None:
    with contextlib.suppress(ConnectionClosed):
        await connection.send(data)


def _bar_message(row) -> dict:
    start = pd.Timestamp(row.timestamp).tz_convert("UTC")
    return {
        "T": "b", "S": row.symbol, "o": float(row.open), "h": float(row.high),
        "l": float(row.low), "c": float(row.close), "v": int(row.volume),
        "t": msgpack.Timestamp.from_unix_nano(start.value), "n": 1, "vw": float(row.close),
    }


def _pack(messages: list[dict]) -> bytes:
    return msgpack.packb(messages)


@pytest.fixture
def alpaca_stream():
    """A running stream stand-in with no faults, stopped after the test."""
    with AlpacaStreamStandIn() as server:
        yield server
