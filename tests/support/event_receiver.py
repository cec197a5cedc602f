"""A real HTTP receiver of event webhooks (werkzeug in a thread) that can fail on purpose.

``fail_first``: the first N requests for each event id are answered with ``fail_status``;
``fail_always``: every request is. Every request is recorded (time, headers, body, status).
``hold``: each request waits until ``release()`` (a slow receiver, or one that never answers);
``max_in_flight`` is the most requests it held at once while their senders still waited (a
request whose sender closed the connection, its timeout, stops counting: ``abandoned``).
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

from werkzeug import Request, Response
from werkzeug.serving import WSGIRequestHandler, make_server


class _QuietHandler(WSGIRequestHandler):
    def log(self, *args: Any) -> None:  # keep the test output clean
        pass


@dataclass
class Received:
    at: float
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def event_id(self) -> str:
        return self.headers.get("X-Omnihub-Event-Id", "")


def _closed(sock: Any) -> bool:
    """The peer closed this connection (it reads as end of file)."""
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


class EventReceiver:
    def __init__(self, fail_first: int = 0, fail_status: int = 503, fail_always: bool = False, hold: bool = False) -> None:
        self.hold = hold
        self.released = threading.Event()
        self.in_flight = 0
        self.max_in_flight = 0
        self.abandoned = 0
        self._held: set[Any] = set()
        self.arrived = 0
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.fail_always = fail_always
        self.requests: list[Received] = []
        self._seen: dict[str, int] = {}
        self._lock = threading.Lock()
        self.server = make_server("127.0.0.1", 0, self._app, threaded=True, request_handler=_QuietHandler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/omnihub"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, name="event-receiver", daemon=True)

    def __enter__(self) -> EventReceiver:
        self._thread.start()
        return self

    def release(self) -> None:
        self.released.set()

    def __exit__(self, *exc: Any) -> None:
        self.released.set()
        self.server.shutdown()
        self._thread.join(5)

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        req = Request(environ)
        body = req.get_data()
        if self.hold:
            sock = environ.get("werkzeug.socket")
            with self._lock:
                self.arrived += 1
                # the requests held so far whose senders have closed meanwhile do not count (a
                # sender that timed out may open its next request within our polling interval)
                for other in list(self._held):
                    if _closed(other):
                        self._held.discard(other)
                self._held.add(sock)
                self.max_in_flight = max(self.max_in_flight, len(self._held))
                self.in_flight += 1
            gone = self._hold(sock)
            with self._lock:
                self._held.discard(sock)
                self.in_flight -= 1
            if gone:  # the sender gave up (its timeout): nothing to answer, and no longer in flight
                self.abandoned += 1
                return Response("", status=499)(environ, start_response)
        with self._lock:
            key = req.headers.get("X-Omnihub-Event-Id", "")
            n = self._seen.get(key, 0) + 1
            self._seen[key] = n
            failing = self.fail_always or n <= self.fail_first
            status = self.fail_status if failing else 200
            self.requests.append(Received(time.time(), dict(req.headers), body, status))
        text = "receiver is down for maintenance" if failing else '{"ok":true}'
        return Response(text, status=status, content_type="application/json")(environ, start_response)

    def _hold(self, sock: Any) -> bool:
        """Wait until released (at most 60 s); True when the sender closed the connection meanwhile."""
        deadline = time.monotonic() + 60
        while not self.released.wait(0.05) and time.monotonic() < deadline:
            if _closed(sock):
                return True
        return False

    def ok(self, event_type: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.status == 200 and (event_type is None or r.headers.get("X-Omnihub-Event") == event_type)]

    def for_event(self, event_id: str) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.event_id == event_id]
