"""A real HTTP receiver of event webhooks (werkzeug in a thread) that can fail on purpose.

``fail_first``: the first N requests for each event id are answered with ``fail_status``;
``fail_always``: every request is. Every request is recorded (time, headers, body, status).
``hold``: each request waits until ``release()`` (a slow receiver); ``max_in_flight`` is the
most requests it held at once.
"""

from __future__ import annotations

import json
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


class EventReceiver:
    def __init__(self, fail_first: int = 0, fail_status: int = 503, fail_always: bool = False, hold: bool = False) -> None:
        self.hold = hold
        self.released = threading.Event()
        self.in_flight = 0
        self.max_in_flight = 0
        self.arrived = 0
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.fail_always = fail_always
        self.requests: list[Received] = []
        self._seen: dict[str, int] = {}
        self._lock = threading.Lock()
        self.server = make_server("127.0.0.1", 0, self._app, threaded=True, request_handler=_QuietHandler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/omnihub"
        self._thread = threading.Thread(target=self.server.serve_forever, name="event-receiver", daemon=True)

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
            with self._lock:
                self.arrived += 1
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.released.wait(60)
            with self._lock:
                self.in_flight -= 1
        with self._lock:
            key = req.headers.get("X-Omnihub-Event-Id", "")
            n = self._seen.get(key, 0) + 1
            self._seen[key] = n
            failing = self.fail_always or n <= self.fail_first
            status = self.fail_status if failing else 200
            self.requests.append(Received(time.time(), dict(req.headers), body, status))
        text = "receiver is down for maintenance" if failing else '{"ok":true}'
        return Response(text, status=status, content_type="application/json")(environ, start_response)

    def ok(self, event_type: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.status == 200 and (event_type is None or r.headers.get("X-Omnihub-Event") == event_type)]

    def for_event(self, event_id: str) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.event_id == event_id]
