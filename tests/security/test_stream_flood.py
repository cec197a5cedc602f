"""Live streams must not starve the web tier (issue #14 item 2).

A real `omnihub web` (gunicorn, 2 processes × 32 threads). 500 streams are opened from raw
sockets and left open — chat widget streams (anonymous) and inbox streams (logged in) — and
while they are open /healthz and signed webhooks must answer in under 1 s at the 99th
percentile. The open streams must still deliver: a widget visitor gets the agent-visible
entries of their conversation, an inbox tab gets the ids of changed conversations. Past the
global or per-address cap a stream is answered 429.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time

import httpx
import pytest

from hub import signing
from tests.support.hub import wait_until
from tests.web.conftest import AGENT, add_users, free_port

ORIGIN = "https://shop.example"
SECRET = "flood-secret-0123456789"
STREAMS = 500


def _start_web(hub, port: int) -> str:
    hub.start("web", "web", "--host", "127.0.0.1", "--port", str(port))
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(url + "/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(up, timeout=60, interval=0.2, message="omnihub web to answer /healthz")
    return url


def _login(url: str) -> str:
    with httpx.Client(base_url=url, timeout=10) as c:
        html = c.get("/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
        r = c.post("/login", data={"email": AGENT[0], "password": AGENT[1], "csrf_token": token})
        assert r.status_code == 302, r.status_code
        return c.cookies["omnihub_session"]


class Streams:
    """Raw-socket SSE clients held open on their own event loop (in a thread)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.conns: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def _open(self, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}", "Accept: text/event-stream"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split()[1])
        first = b""
        if status == 200:
            first = await reader.readuntil(b"\n\n")  # the first chunk: "retry: …" (+ the widget's entries)
        self.conns.append((reader, writer))
        return status, first

    def open(self, requests: list[tuple[str, dict[str, str]]], timeout: float) -> list:
        """Open every stream concurrently; each result is (status, first bytes) or an exception."""

        async def run():
            tasks = [asyncio.wait_for(self._open(p, h), timeout) for p, h in requests]
            return await asyncio.gather(*tasks, return_exceptions=True)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout + 30)

    def close(self) -> None:
        async def run():
            for _r, w in self.conns:
                w.close()

        asyncio.run_coroutine_threadsafe(run(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def _p99(values: list[float]) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(0.99 * (len(values) - 1))))]


def _sse_events(url: str, path: str, headers: dict[str, str], want, connected: threading.Event, timeout: float = 30.0):
    """Read one stream with an ordinary HTTP client until ``want(event, data)`` is true."""
    deadline = time.monotonic() + timeout
    with httpx.stream("GET", url + path, headers=headers, timeout=timeout) as r:
        assert r.status_code == 200, r.status_code
        connected.set()
        event = None
        for line in r.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and want(event, json.loads(line[6:])):
                return True
            if time.monotonic() > deadline:
                break
    return False


def _watch(url: str, path: str, headers: dict[str, str], want) -> threading.Event:
    """A stream read on its own thread; the event is set once ``want`` matched."""
    seen = threading.Event()
    seen.connected = threading.Event()  # type: ignore[attr-defined]

    def run():
        if _sse_events(url, path, headers, want, seen.connected):  # type: ignore[attr-defined]
            seen.set()

    threading.Thread(target=run, daemon=True).start()
    return seen


@pytest.fixture
def flood_hub(make_hub):
    port = free_port()
    hub = make_hub(public_url=f"http://127.0.0.1:{port}", web_workers=2, web_threads=32, max_streams_per_ip=STREAMS * 2)
    hub.add_connector("chat", "api", secret=SECRET, widget=True, widget_origins=[ORIGIN])
    add_users(hub)
    hub.start_worker()
    hub.port = port
    yield hub
    hub.stop_all()


def test_webhooks_and_healthz_answer_while_500_streams_are_open(flood_hub):
    hub = flood_hub
    url = _start_web(hub, hub.port)
    cookie = _login(url)
    widget = [(f"/widget/chat/stream?visitor=flood{i:04d}{'x' * 12}", {"Origin": ORIGIN}) for i in range(STREAMS - 100)]
    inbox = [("/inbox/events", {"Cookie": f"omnihub_session={cookie}"}) for _ in range(100)]
    held = Streams(hub.port)
    try:
        results = held.open(widget + inbox, timeout=30)
        failed = [r for r in results if isinstance(r, BaseException) or r[0] != 200]
        assert not failed, f"{len(failed)} of {STREAMS} streams did not open: {failed[:3]}"
        assert all(b"retry:" in r[1] for r in results)

        health, hooks = [], []
        for i in range(60):
            t0 = time.perf_counter()
            r = httpx.get(url + "/healthz", timeout=10)
            health.append(time.perf_counter() - t0)
            assert r.status_code == 200
            body = json.dumps({"id": f"flood-{i}", "from": {"id": f"cust{i}"}, "text": f"hello {i}"}).encode()
            t0 = time.perf_counter()
            r = httpx.post(url + "/webhooks/chat/messages", content=body, timeout=10,
                           headers={"Content-Type": "application/json", **signing.sign(SECRET, body)})
            hooks.append(time.perf_counter() - t0)
            assert r.status_code == 200, r.text
        assert _p99(health) < 1.0, f"/healthz p99 {_p99(health):.3f} s with {STREAMS} streams open"
        assert _p99(hooks) < 1.0, f"webhook p99 {_p99(hooks):.3f} s with {STREAMS} streams open"

        # The open streams still deliver: an inbox tab hears about a new conversation, and a
        # visitor sees their own message come back on the widget's stream.
        inbox_seen = _watch(url, "/inbox/events", {"Cookie": f"omnihub_session={cookie}"},
                            lambda e, d: e == "change" and bool(d["conversations"]))
        visitor = "flood-visitor-" + "v" * 10
        widget_seen = _watch(url, f"/widget/chat/stream?visitor={visitor}", {"Origin": ORIGIN},
                             lambda e, d: e == "messages" and any(x["text"] == "is anyone there?" for x in d["items"]))
        assert inbox_seen.connected.wait(15) and widget_seen.connected.wait(15)
        r = httpx.post(url + "/widget/chat/messages", timeout=10, headers={"Origin": ORIGIN},
                       json={"visitor": visitor, "text": "is anyone there?"})
        assert r.status_code == 202, r.text
        assert widget_seen.wait(30), "the widget stream did not deliver the visitor's own message"
        assert inbox_seen.wait(30), "the inbox stream did not announce the new conversation"
    finally:
        held.close()


def test_stream_caps_answer_429_and_free_their_slot_when_the_client_leaves(make_hub):
    """Per web process: at most OMNIHUB_MAX_STREAMS_PER_IP streams per client address and
    OMNIHUB_MAX_STREAMS in all; a stream whose client went away frees its slot."""
    port = free_port()
    hub = make_hub(public_url=f"http://127.0.0.1:{port}", web_workers=1, max_streams=5, max_streams_per_ip=3)
    hub.add_connector("chat", "api", secret=SECRET, widget=True, widget_origins=[ORIGIN])
    url = _start_web(hub, port)

    def req(i: int, ip: str) -> tuple[str, dict[str, str]]:
        # omnihub web trusts X-Forwarded-For from loopback (a local reverse proxy)
        return f"/widget/chat/stream?visitor=cap{i:04d}{'y' * 12}", {"Origin": ORIGIN, "X-Forwarded-For": ip}

    held = Streams(port)
    try:
        first = held.open([req(i, "198.51.100.1") for i in range(3)], timeout=20)
        assert [r[0] for r in first] == [200, 200, 200], first
        r = httpx.get(url + req(9, "198.51.100.1")[0], headers=req(9, "198.51.100.1")[1], timeout=10)
        assert r.status_code == 429 and r.headers["Retry-After"], r.status_code  # per address
        more = held.open([req(i, "198.51.100.2") for i in range(10, 12)], timeout=20)
        assert [r[0] for r in more] == [200, 200], more
        r = httpx.get(url + req(20, "198.51.100.3")[0], headers=req(20, "198.51.100.3")[1], timeout=10)
        assert r.status_code == 429  # the process's total
        assert httpx.get(url + "/healthz", timeout=5).status_code == 200
    finally:
        held.close()  # the clients leave: the stream loop sees EOF and frees the slots

    def slot_free() -> bool:
        try:
            with httpx.stream("GET", url + req(30, "198.51.100.1")[0], headers=req(30, "198.51.100.1")[1], timeout=10) as r:
                return r.status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(slot_free, timeout=20, interval=0.2, message="the departed clients' slots to be freed")
    hub.stop_all()


def test_a_stream_ends_after_its_lifetime_with_a_well_formed_response(make_hub):
    """The loop ends each stream after OMNIHUB_SSE_SECONDS with the closing chunk, so an
    ordinary HTTP client sees a complete response (EventSource then reconnects)."""
    port = free_port()
    hub = make_hub(public_url=f"http://127.0.0.1:{port}", web_workers=1)
    hub.add_connector("chat", "api", secret=SECRET, widget=True, widget_origins=[ORIGIN])
    hub.start("web", "web", "--host", "127.0.0.1", "--port", str(port), env={"OMNIHUB_SSE_SECONDS": "2"})
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: _healthy(url), timeout=60, interval=0.2, message="omnihub web")
    t0 = time.monotonic()
    with httpx.stream("GET", url + "/widget/chat/stream?visitor=" + "z" * 20, headers={"Origin": ORIGIN}, timeout=15) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["connection"] == "close"  # the loop ends the connection with the stream
        body = b"".join(r.iter_bytes())  # raises on a malformed chunked body
    assert time.monotonic() - t0 < 10
    assert body.startswith(b"retry: 1500\n\nevent: messages\ndata: ")
    hub.stop_all()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_ipv6_clients_are_capped_per_64_not_per_address(make_hub):
    """An IPv6 host holds a whole /64 and can use a fresh address for every stream: the
    per-address cap counts a /64 as one client (an IPv4-mapped address as its IPv4 address)."""
    port = free_port()
    hub = make_hub(public_url=f"http://127.0.0.1:{port}", web_workers=1, max_streams_per_ip=2)
    hub.add_connector("chat", "api", secret=SECRET, widget=True, widget_origins=[ORIGIN])
    url = _start_web(hub, port)

    def req(i: int, ip: str) -> tuple[str, dict[str, str]]:
        return f"/widget/chat/stream?visitor=six{i:04d}{'s' * 12}", {"Origin": ORIGIN, "X-Forwarded-For": ip}

    held = Streams(port)
    try:
        opened = held.open([req(1, "2001:db8:7:1::1"), req(2, "2001:db8:7:1:abcd::2"), req(3, "::ffff:203.0.113.9"),
                            req(4, "203.0.113.9")], timeout=20)
        assert [r[0] for r in opened] == [200, 200, 200, 200], opened
        for i, ip in ((5, "2001:db8:7:1:ffff:ffff:ffff:fffe"), (6, "::ffff:203.0.113.9"), (7, "203.0.113.9")):
            with httpx.stream("GET", url + req(i, ip)[0], headers=req(i, ip)[1], timeout=10) as r:
                assert r.status_code == 429, (ip, r.status_code)
        more = held.open([req(8, "2001:db8:7:2::1")], timeout=20)  # the next /64 is another client
        assert [r[0] for r in more] == [200], more
    finally:
        held.close()
        hub.stop_all()
