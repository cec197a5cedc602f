"""Live streams (server-sent events) that do not hold a web thread.

The inbox (``/events``) and the chat widget (``/widget/<c>/stream``) keep a response open for
``OMNIHUB_SSE_SECONDS``. Served the ordinary way, each open stream holds one of gunicorn's
request threads for that long, so a few dozen anonymous widget streams could starve webhooks
and ``/healthz``. Instead:

- the Flask view authenticates the request as usual, reserves a slot (global and per-IP caps,
  answered 429), computes the first event, and returns a response whose body is a
  :class:`Handoff`;
- gunicorn writes the status line, the headers and that first chunk; on its next read the
  :class:`Handoff` duplicates the connection's socket, gives it to this process's
  :class:`StreamHub` and ends the WSGI response without the closing chunk, so the request
  thread is free at once and gunicorn closes only its own descriptor;
- the hub is one asyncio loop per web process (a daemon thread) that writes the following
  events on the duplicated sockets, notices disconnects, sends pings and ends each stream
  after its lifetime with the closing chunk (``EventSource`` reconnects by itself);
- one poll of the database per process (``change_marks``, every POLL_SECONDS) feeds every
  stream: inbox streams get the changed conversation ids, widget streams recompute their
  entries only when one of their visitor's conversations changed. Each stream keeps its own
  cursor, so one that joins between two polls misses nothing.

Outside gunicorn (the Flask test client, a development server) or over gunicorn's own TLS,
the handoff is not possible; the view's generator then serves the stream in the request
thread as before, still within the caps.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import func, select

from hub.models import AuditLog, Conversation, Message, Reply
from hub.web import presence

log = structlog.get_logger("omnihub.streams")

POLL_SECONDS = 0.7
SEND_TIMEOUT = 10.0
PING_SECONDS = 10.0

#: environ key under which the WSGI wrapper (``hub.wsgi``) leaves gunicorn's start_response.
START_RESPONSE = "omnihub.start_response"


@dataclass(eq=False)
class Stream:
    """One open stream: who it is for and how it turns a change into events."""

    ip: str
    lifetime: float
    #: called in the hub's worker thread with (changed conversation ids, identity addresses of
    #: those conversations); returns the SSE text to send, or "" for nothing.
    on_change: Callable[[list[int], set[str]], str]
    #: only call on_change when one of these identity addresses changed (None: always).
    addresses: set[str] | None = None
    #: called every poll tick with who is typing where (``hub.web.presence.active``); returns
    #: the SSE text to send, or "" for nothing.
    on_typing: Callable[[set[tuple[int, str]]], str] | None = None
    #: the stream's cursor: the database's change marks its last event was computed at
    marks: Any = None
    sock: socket.socket | None = None
    #: HTTP/1.1 responses are chunked (the hub frames each write); HTTP/1.0 ones are raw
    chunked: bool = True
    closed: bool = False
    opened: float = field(default_factory=time.monotonic)


class Caps:
    """Open-stream counters of this process: a global and a per-IP cap."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.total = 0
        self.per_ip: Counter[str] = Counter()

    def reserve(self, ip: str, max_total: int, max_per_ip: int) -> bool:
        with self.lock:
            if self.total >= max_total or self.per_ip[ip] >= max_per_ip:
                return False
            self.total += 1
            self.per_ip[ip] += 1
            return True

    def release(self, ip: str) -> None:
        with self.lock:
            self.total -= 1
            self.per_ip[ip] -= 1
            if self.per_ip[ip] <= 0:
                del self.per_ip[ip]


class StreamHub:
    """The asyncio loop of one web process that owns every handed-off stream."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.caps = Caps()
        self.streams: set[Stream] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    # ---- lifecycle --------------------------------------------------------------------
    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self.loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.create_task(self._changes())
                    loop.run_forever()

                threading.Thread(target=run, name="omnihub-streams", daemon=True).start()
                ready.wait(5)
                self.loop = loop
            return self.loop

    def adopt(self, stream: Stream, sock: socket.socket) -> None:
        """Take over ``sock`` (headers and first chunk already written) for ``stream``."""
        sock.setblocking(False)
        stream.sock = sock
        loop = self._ensure_loop()
        loop.call_soon_threadsafe(self._start, stream)

    def _start(self, stream: Stream) -> None:
        self.streams.add(stream)
        assert self.loop is not None
        self.loop.create_task(self._serve(stream))

    # ---- one stream -------------------------------------------------------------------
    async def _serve(self, stream: Stream) -> None:
        loop = asyncio.get_running_loop()
        assert stream.sock is not None
        reader = loop.create_task(self._watch_eof(stream))
        try:
            deadline = stream.opened + stream.lifetime
            while not stream.closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                await asyncio.wait([reader], timeout=min(PING_SECONDS, left))
                if stream.closed or reader.done():
                    break
                if deadline - time.monotonic() > 0.5:
                    await self.send(stream, ": ping\n\n")
            if not reader.done() and stream.chunked:
                await self._write(stream, b"0\r\n\r\n")  # the closing chunk: a clean end of the response
        finally:
            reader.cancel()
            self._close(stream)

    async def _watch_eof(self, stream: Stream) -> None:
        loop = asyncio.get_running_loop()
        assert stream.sock is not None  # adopt() sets it before this watcher starts and it is never cleared
        try:
            while True:
                data = await loop.sock_recv(stream.sock, 4096)
                if not data:
                    return
        except (OSError, asyncio.CancelledError):
            return

    async def send(self, stream: Stream, text: str) -> None:
        data = text.encode()
        await self._write(stream, b"%x\r\n%s\r\n" % (len(data), data) if stream.chunked else data)

    async def _write(self, stream: Stream, data: bytes) -> None:
        if stream.closed or stream.sock is None:
            return
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(loop.sock_sendall(stream.sock, data), SEND_TIMEOUT)
        except (TimeoutError, OSError):
            self._close(stream)

    def _close(self, stream: Stream) -> None:
        if stream.closed:
            return
        stream.closed = True
        self.streams.discard(stream)
        self.caps.release(stream.ip)
        if stream.sock is not None:
            try:
                stream.sock.close()
            except OSError:
                pass

    # ---- the one source of changes ----------------------------------------------------
    async def _changes(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(POLL_SECONDS)
            if not self.streams:
                continue
            try:
                batch = await loop.run_in_executor(None, self._poll, list(self.streams))
            except Exception as exc:  # a database hiccup: try again next tick
                log.warning("streams.poll_failed", error=str(exc))
                continue
            for stream, text in batch:
                if text:
                    await self.send(stream, text)

    def _poll(self, streams: list[Stream]) -> list[tuple[Stream, str]]:
        """Runs in a worker thread: one look at the database for every stream of the process.

        Each stream keeps its own cursor (the change marks its last event was computed at), so
        a stream that joins between two polls still gets the changes since its first event,
        exactly as a stream polling on its own would. Nearly always every stream is at the
        same cursor and the changed conversations are read once for all of them.
        """
        from hub.models import Conversation, Identity

        with self.app.app_context():
            runtime = self.app.extensions["omnihub"]
            live = [st for st in streams if not st.closed]
            with runtime.db.read() as s:
                marks = change_marks(s)
                changes: dict[Any, tuple[list[int], set[str]]] = {}
                for since in {st.marks for st in live if st.marks != marks}:
                    ids = changed_conversations(s, since)
                    addresses: set[str] = set()
                    if ids and any(st.addresses is not None and st.marks == since for st in live):
                        addresses = set(s.scalars(
                            select(Identity.address).join(Conversation, Conversation.identity_id == Identity.id).where(Conversation.id.in_(ids))
                        ))
                    changes[since] = (ids, addresses)
            typing_now: set[tuple[int, str]] = set()
            if any(st.on_typing for st in live):
                try:
                    typing_now = presence.active(runtime)
                except Exception as exc:  # Redis hiccup: no indicators this tick
                    log.warning("streams.typing_failed", error=str(exc))
            out = []
            for stream in live:
                texts = []
                if stream.on_typing is not None:
                    try:
                        texts.append(stream.on_typing(typing_now))
                    except Exception as exc:
                        log.warning("streams.typing_event_failed", error=str(exc))
                if stream.marks != marks:
                    ids, addresses = changes[stream.marks]
                    stream.marks = marks
                    # an audit entry alone (a sign-in) moves the marks without changing a conversation
                    if ids and (stream.addresses is None or stream.addresses & addresses):
                        try:
                            texts.append(stream.on_change(ids, addresses))
                        except Exception as exc:
                            log.warning("streams.event_failed", error=str(exc))
                if any(texts):
                    out.append((stream, "".join(texts)))
            return out


def keep_start_response(wsgi_app: Callable) -> Callable:
    """WSGI middleware for gunicorn: leaves start_response in the environ for :class:`Handoff`."""

    def call(environ: dict, start_response: Callable) -> Any:
        environ[START_RESPONSE] = start_response
        return wsgi_app(environ, start_response)

    return call


def address_key(ip: str) -> str:
    """The per-address cap's key: an IPv4 address, or an IPv6 client's /64.

    One IPv6 host usually holds a whole /64 and can take a fresh address for every request,
    so counting single IPv6 addresses would not cap anyone.
    """
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.IPv6Network((addr, 64), strict=False))
    return str(addr)


def hub_of(app: Any) -> StreamHub:
    hub = app.extensions.get("omnihub.streams")
    if hub is None:
        hub = app.extensions["omnihub.streams"] = StreamHub(app)
    return hub


def _take_over(sock: socket.socket) -> socket.socket:
    """The connection behind ``sock``, on a descriptor of our own; ``sock`` keeps a stand-in.

    gunicorn closes a finished connection gracefully: ``shutdown(SHUT_WR)`` (a FIN to the
    client, which would end the stream) and then up to 2 s draining reads in its main loop.
    So its descriptor is pointed at one end of a socket pair whose other end is closed: the
    shutdown, the drain (EOF at once) and the close all happen there.
    """
    real = sock.dup()
    stand_in, peer = socket.socketpair()
    peer.close()
    os.dup2(stand_in.fileno(), sock.fileno())
    stand_in.close()
    return real


class Handoff:
    """The body of a stream response: the first chunk, then the socket goes to the hub.

    Falls back to ``fallback`` (a generator serving the stream in this thread) where the
    socket cannot be handed over.
    """

    def __init__(self, hub: StreamHub, stream: Stream, environ: dict, first: str, fallback: Callable[[], Iterator[str]]) -> None:
        self.hub, self.stream, self.environ = hub, stream, environ
        self.first = first
        self.fallback = fallback
        self._state = 0
        self._it: Iterator[str] | None = None
        self._released = False

    def _can_hand_off(self) -> bool:
        sock = self.environ.get("gunicorn.socket")
        start_response = self.environ.get(START_RESPONSE)
        gresp = getattr(start_response, "__self__", None)
        return (
            sock is not None
            and self.environ.get("REQUEST_METHOD") == "GET"  # a HEAD response has no body to stream
            and gresp is not None
            and getattr(gresp, "chunked", None) is not None
            and hasattr(gresp, "force_close")
            and type(sock) is socket.socket  # not gunicorn's own TLS: the TLS state cannot be duplicated
        )

    def __iter__(self) -> Handoff:
        return self

    def __next__(self) -> bytes:
        if self._state == 0:
            self._state = 1
            if self._can_hand_off():
                # the headers are not written yet: they say "Connection: close", since the
                # stream loop ends the connection with the stream and no request follows on it
                self.environ[START_RESPONSE].__self__.force_close()
            return self.first.encode()
        if self._state == 1:
            self._state = 2
            if self._can_hand_off():
                gresp = self.environ[START_RESPONSE].__self__
                if gresp.headers_sent:
                    sock = _take_over(self.environ["gunicorn.socket"])
                    self.stream.chunked = bool(gresp.chunked)
                    gresp.chunked = False  # gunicorn must not write the closing chunk: the hub will
                    gresp.force_close()  # and gunicorn closes only the stand-in
                    self._released = True
                    self.hub.adopt(self.stream, sock)
                    raise StopIteration
            self._it = self.fallback()
        assert self._it is not None
        return next(self._it).encode()

    def close(self) -> None:
        if not self._released:
            self._released = True
            self.hub.caps.release(self.stream.ip)


def open_stream(
    ip: str,
    lifetime: float,
    first: str,
    on_change: Callable[[list[int], set[str]], str],
    in_thread: Callable[[], Iterator[str]],
    marks: Any,
    addresses: set[str] | None = None,
    on_typing: Callable[[set[tuple[int, str]]], str] | None = None,
) -> Handoff | None:
    """The body of a stream response for the current request, or None when a cap is reached."""
    from flask import current_app, request

    app = current_app._get_current_object()  # type: ignore[attr-defined]  # a LocalProxy, typed as the app
    settings = app.extensions["omnihub"].settings
    hub = hub_of(app)
    ip = address_key(ip)
    if not hub.caps.reserve(ip, settings.max_streams, settings.max_streams_per_ip):
        log.info("streams.refused", ip=ip, open=hub.caps.total)
        return None
    stream = Stream(ip=ip, lifetime=lifetime, on_change=on_change, addresses=addresses, marks=marks, on_typing=on_typing)
    return Handoff(hub, stream, request.environ, first, in_thread)


# ---------------------------------------------------------------- what changed
#: audit actions whose entries list the conversations they removed (``conversation_ids``)
REMOVALS = ("contact.erase",)


def change_marks(s) -> tuple[int, str, str, int]:
    """Where the changes stand: the newest message, reply change, conversation change, and
    audit entry (an erasure removes conversations: nothing newer appears, something goes)."""
    return (
        s.scalar(select(func.max(Message.id))) or 0,
        str(s.scalar(select(func.max(Reply.updated_at))) or ""),
        str(s.scalar(select(func.max(Conversation.updated_at))) or ""),
        s.scalar(select(func.max(AuditLog.id))) or 0,
    )


def changed_conversations(s, since: tuple) -> list[int]:
    """The conversations changed since the marks ``since``: new messages, reply and
    conversation changes, and the conversations an erasure removed (an open pane learns
    that its conversation is gone)."""
    msg_id, reply_at, conv_at = since[:3]
    audit_id = since[3] if len(since) > 3 else None
    ids = set(s.scalars(select(Message.conversation_id).where(Message.id > msg_id)))
    if audit_id is not None:
        for details in s.scalars(select(AuditLog.details).where(AuditLog.id > audit_id, AuditLog.action.in_(REMOVALS))):
            if isinstance(details, dict):
                ids |= {int(i) for i in details.get("conversation_ids") or () if isinstance(i, int)}
    if reply_at:
        ids |= set(s.scalars(select(Reply.conversation_id).where(Reply.updated_at > datetime.fromisoformat(reply_at))))
    else:
        ids |= set(s.scalars(select(Reply.conversation_id)))
    if conv_at:
        ids |= set(s.scalars(select(Conversation.id).where(Conversation.updated_at > datetime.fromisoformat(conv_at))))
    else:
        ids |= set(s.scalars(select(Conversation.id)))
    return sorted(ids)
