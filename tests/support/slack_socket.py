"""A local Socket Mode endpoint for tests (https://docs.slack.dev/apis/events-api/using-socket-mode).

``EnvelopeServer`` is a real websocket server (the ``websockets`` library) that greets with
``hello``, sends queued ``events_api`` envelopes and collects the app's acknowledgements.
"""

from __future__ import annotations

import json
import queue
import threading
import time

from websockets.sync.server import serve

from hub.types import RawEvent

HELLO = {
    "type": "hello",
    "num_connections": 1,
    "debug_info": {"host": "applink-local", "build_number": 1, "approximate_connection_time": 18060},
    "connection_info": {"app_id": "A0442TUPHGR"},
}


class Sink:
    """A PollSink recording what was journaled and when; can refuse chosen event ids."""

    def __init__(self, refuse: set[str] = frozenset()) -> None:
        self.records: list[tuple[float, RawEvent]] = []
        self.refuse = set(refuse)

    def record(self, events: list[RawEvent]) -> list[int]:
        for ev in events:
            if ev.external_id in self.refuse:
                raise RuntimeError("journal unavailable")
        now = time.monotonic()
        self.records.extend((now, ev) for ev in events)
        return list(range(len(events)))


class EnvelopeServer:
    """Local Socket Mode endpoint: sends hello + queued envelopes, collects acks.

    ``per_connection`` scripts what each successive connection is sent (the last script
    repeats), e.g. a ``disconnect`` on the first and events on the second.
    """

    def __init__(self, envelopes: list[dict] | None = None, *, per_connection: list[list[dict]] | None = None) -> None:
        self.scripts = per_connection or [envelopes or []]
        self.acks: queue.Queue[tuple[float, dict]] = queue.Queue()
        self.paths: list[str] = []
        self.server = serve(self._handle, "127.0.0.1", 0, ping_interval=None)
        self.port = self.server.socket.getsockname()[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _handle(self, conn) -> None:
        self.paths.append(conn.request.path)
        script = self.scripts[min(len(self.paths), len(self.scripts)) - 1]
        conn.send(json.dumps(HELLO))
        for env in script:
            conn.send(json.dumps(env))
        try:
            while True:
                message = json.loads(conn.recv(timeout=10))
                self.acks.put((time.monotonic(), message))
        except Exception:  # noqa: BLE001 - client closed, test over
            return

    def __enter__(self) -> EnvelopeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.thread.join(5)


def envelope(envelope_id: str, payload: dict, retry_attempt: int = 0) -> dict:
    return {
        "envelope_id": envelope_id,
        "payload": payload,
        "type": "events_api",
        "accepts_response_payload": False,
        "retry_attempt": retry_attempt,
        "retry_reason": "timeout" if retry_attempt else "",
    }
