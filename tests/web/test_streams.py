"""The web process's stream loop: one database poll per process feeds every open stream."""

from __future__ import annotations

import json
import socket

from hub.models import Conversation
from hub.web import streams
from hub.web.inbox import change_marks
from tests.web.conftest import seed_conversation


def _inbox_stream(marks) -> streams.Stream:
    def on_change(ids, _addresses):
        return f"event: change\ndata: {json.dumps({'conversations': ids})}\n\n"

    return streams.Stream(ip="192.0.2.1", lifetime=25, on_change=on_change, marks=marks)


def _touch(hub, conv_id: int, subject: str) -> None:
    with hub.rt.db.session() as s:
        s.get(Conversation, conv_id).subject = subject


class Client:
    """The browser's end of a handed-off stream: a real socket pair, read with a timeout."""

    def __init__(self, loop: streams.StreamHub, stream: streams.Stream) -> None:
        self.sock, server = socket.socketpair()
        self.sock.settimeout(15)
        stream.chunked = False
        loop.caps.reserve(stream.ip, 10, 10)
        loop.adopt(stream, server)
        self.buf = b""

    def next_change(self) -> list[int]:
        while True:
            while b"\n\n" not in self.buf:
                data = self.sock.recv(4096)
                assert data, "the stream ended"
                self.buf += data
            event, self.buf = self.buf.split(b"\n\n", 1)
            if not event.startswith(b":"):  # not a ping
                return json.loads(event.decode().split("data: ")[1])["conversations"]


def test_a_stream_that_joins_between_two_polls_still_gets_the_changes_since_its_first_event(hub):
    hub.add_connector("web", "api", secret="s" * 24)
    _c, first = seed_conversation(hub, "web", "web:carla", "Carla")
    _c, second = seed_conversation(hub, "web", "web:dora", "Dora")
    loop = streams.StreamHub(hub.app)
    with hub.rt.db.read() as s:
        before = change_marks(s)
    early = Client(loop, _inbox_stream(before))
    _touch(hub, first, "changed")
    assert early.next_change() == [first]  # the process's poll has moved past the change

    # A stream whose first event was computed before that change, handed over only now
    late = Client(loop, _inbox_stream(before))
    _touch(hub, second, "changed too")
    assert early.next_change() == [second]
    assert late.next_change() == [first, second]  # nothing missed


def test_widget_streams_hear_only_of_their_own_visitors_conversations(hub):
    hub.add_connector("chat", "api", secret="s" * 24, widget=True)
    _c, mine = seed_conversation(hub, "chat", "chat:widget-" + "a" * 20, "A")
    _c, other = seed_conversation(hub, "chat", "chat:widget-" + "b" * 20, "B")
    loop = streams.StreamHub(hub.app)
    with hub.rt.db.read() as s:
        marks = change_marks(s)
    calls = []
    widget = streams.Stream(ip="192.0.2.1", lifetime=25, marks=marks, addresses={"chat:widget-" + "a" * 20},
                            on_change=lambda ids, addresses: calls.append(ids) or "event: messages\ndata: {}\n\n")
    _touch(hub, other, "not theirs")
    assert loop._poll([widget]) == [] and calls == []
    _touch(hub, mine, "theirs")
    assert loop._poll([widget]) == [(widget, "event: messages\ndata: {}\n\n")] and calls == [[mine]]


def test_a_client_that_never_reads_nor_leaves_loses_its_stream_and_slot_after_the_lifetime(make_hub):
    """Half-open or stalled clients do not keep a slot (or a socket) past OMNIHUB_SSE_SECONDS."""
    import httpx

    from tests.support.hub import wait_until
    from tests.web.conftest import free_port

    port = free_port()
    hub = make_hub(public_url=f"http://127.0.0.1:{port}", web_workers=1, max_streams_per_ip=1)
    hub.add_connector("chat", "api", secret="s" * 24, widget=True, widget_origins=["https://shop.example"])
    hub.start("web", "web", "--host", "127.0.0.1", "--port", str(port), env={"OMNIHUB_SSE_SECONDS": "6"})  # long enough to be seen under load
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(url + "/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(up, timeout=60, interval=0.2, message="omnihub web")
    stalled = socket.create_connection(("127.0.0.1", port))
    try:
        stalled.sendall(b"GET /widget/chat/stream?visitor=" + b"q" * 20 + b" HTTP/1.1\r\nHost: x\r\nOrigin: https://shop.example\r\n\r\n")
        # the stalled client's stream is open (its headers came back) before any probe: a probe
        # that got there first would hold the one slot itself and turn the test into a race
        stalled.settimeout(20)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = stalled.recv(4096)
            assert chunk, "the server closed the stalled client's request"
            head += chunk
        assert head.startswith(b"HTTP/1.1 200"), head[:200]

        def status() -> int:
            with httpx.stream("GET", url + "/widget/chat/stream?visitor=" + "r" * 20,
                              headers={"Origin": "https://shop.example"}, timeout=10) as r:
                return r.status_code

        assert wait_until(lambda: status() == 429, timeout=10, message="the stalled stream to hold the slot")
        # the stalled client reads nothing and never closes; after its lifetime the loop ends it
        wait_until(lambda: status() == 200, timeout=40, interval=0.3, message="the stalled client's slot to be freed")
        stalled.settimeout(5)
        data = b""
        while chunk := stalled.recv(65536):
            data += chunk
        assert data.endswith(b"0\r\n\r\n")  # the server ended the response and closed the connection
    finally:
        stalled.close()
        hub.stop_all()


def test_typing_reaches_streams_through_the_process_poll_with_one_redis_read(hub):
    """The handed-off (gunicorn) path: the loop reads who is typing once per tick for every
    stream; an inbox stream hears of customers typing, a widget stream only of agents typing in
    its own visitor's conversation; an unchanged state sends nothing, and signals expire."""
    import time

    from hub.web import presence

    hub.add_connector("chat", "api", secret="s" * 24, widget=True)
    _c, mine = seed_conversation(hub, "chat", "chat:widget-" + "a" * 20, "A")
    _c, other = seed_conversation(hub, "chat", "chat:widget-" + "b" * 20, "B")
    loop = streams.StreamHub(hub.app)
    with hub.rt.db.read() as s:
        marks = change_marks(s)
    inbox = _inbox_stream(marks)
    inbox.on_typing = presence.inbox_watcher()
    widget = streams.Stream(ip="192.0.2.1", lifetime=25, marks=marks, addresses={"chat:widget-" + "a" * 20},
                            on_change=lambda ids, addresses: "", on_typing=presence.widget_watcher(lambda: [mine]))
    assert loop._poll([inbox, widget]) == []
    presence.note(hub.rt, other, "agent")  # an agent typing to someone else
    presence.note(hub.rt, mine, "customer")
    assert loop._poll([inbox, widget]) == [(inbox, f'event: typing\ndata: {{"conversations": [{mine}], "ttl": 6.0}}\n\n')]
    assert loop._poll([inbox, widget]) == []  # unchanged: nothing sent again
    presence.note(hub.rt, mine, "agent")
    assert loop._poll([inbox, widget]) == [(widget, 'event: typing\ndata: {"agent": true, "ttl": 6.0}\n\n')]
    # expiry: the signals lapse after the TTL without anyone saying so
    key = f"{hub.settings.queue_prefix}:typing"
    hub.rt.redis.zadd(key, {f"{mine}:customer": time.time() - 1, f"{mine}:agent": time.time() - 1})
    assert loop._poll([inbox, widget]) == [(inbox, 'event: typing\ndata: {"conversations": [], "ttl": 6.0}\n\n'),
                                           (widget, 'event: typing\ndata: {"agent": false, "ttl": 6.0}\n\n')]
    assert presence.active(hub.rt) == {(other, "agent")}
