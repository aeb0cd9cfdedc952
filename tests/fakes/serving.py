"""What the HTTP fakes (`tests.fakes.binance`, `tests.fakes.bybit`) share: a server on a free
127.0.0.1 port, serving from a daemon thread, and the queue of scripted failures `fail_next` fills."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol, TypeVar


class QuietHandler(BaseHTTPRequestHandler):
    """A keep-alive handler that logs nothing: the fakes' tests read what the fake recorded."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        """Nothing: http.server would print every request to stderr."""


class LocalServer:
    """`handler` served on 127.0.0.1 at `url` between `start()` and `stop()`."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], name: str) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class ScriptedFailure(Protocol):
    remaining: int  # requests it still fails
    skip: int  # requests to answer normally first


Failure = TypeVar("Failure", bound=ScriptedFailure)


def next_failure(failures: list[Failure]) -> Failure | None:
    """The failure this request gets, if any, counted off the queue (first `skip` requests pass,
    then `remaining` fail). Call it under the fake's lock."""
    if not failures:
        return None
    failure = failures[0]
    if failure.skip:
        failure.skip -= 1
        return None
    failure.remaining -= 1
    if failure.remaining == 0:
        failures.pop(0)
    return failure
