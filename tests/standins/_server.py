"""A stand-in's HTTP server on loopback: an ephemeral port, served from a daemon thread."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class JsonHandler(BaseHTTPRequestHandler):
    """A request handler that answers in JSON, or hangs up as a crashed proxy would."""

    def _send(self, status: int, payload: Any, headers: dict | None = None) -> None:
        data = b"" if payload is None else json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (a "slow" fault): that is the point

    def _drop(self) -> None:
        """Close the connection without a word, as a crashed proxy would."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


class StartStop:
    """A stand-in used as a context manager: started on entry (its ``start`` gives it back),
    stopped on exit."""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class LoopbackServer(StartStop):
    """Serves ``handler_class`` (whose ``standin`` is this object) on 127.0.0.1 while started.

    Use it as a context manager, or :meth:`start` and :meth:`stop`; :attr:`url` is the base
    URL to give the client.
    """

    handler_class: type[JsonHandler]

    _httpd: ThreadingHTTPServer | None = None

    def start(self) -> Self:
        handler = type("Handler", (self.handler_class,), {"standin": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @property
    def url(self) -> str:
        """The base URL to give alpaca-py as ``url_override``."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"
