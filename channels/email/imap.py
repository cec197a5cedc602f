"""IMAP in with imapclient: one IDLE session per folder, catch-up by UID, UIDVALIDITY tracking.

Cursor per folder in the connector state (``imap:<folder>:uidvalidity`` and
``imap:<folder>:uid``), written only after ``sink.record`` has journaled the batch, so a
crash re-reads at most one batch (the journal's unique external id absorbs the repeat).
A UIDVALIDITY change resets the cursor: the whole folder is offered again and the journal
deduplicates by Message-ID. No time window and no per-run cap: everything above the
cursor is fetched, in batches.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from hub.errors import AuthError
from hub.net import check_host
from hub.types import PollSink, RawEvent, StateStore
from normalizers.email import external_id_for

DEFAULT_PORTS = {"ssl": 993, "starttls": 143, "none": 143}
FETCH_ITEMS = [b"BODY.PEEK[]", b"INTERNALDATE"]
#: errors after which a session is dropped and re-opened with backoff
SESSION_ERRORS = (IMAPClientError, OSError, ssl.SSLError, EOFError)


@dataclass(frozen=True)
class ImapAccount:
    host: str
    port: int | None
    security: str
    username: str
    password: str = ""
    timeout: float = 60.0
    #: auth oauth2: ``oauth2(force_refresh) -> access token`` (SASL XOAUTH2 instead of LOGIN)
    oauth2: Callable[[bool], str] | None = field(default=None, compare=False)


def connect(account: ImapAccount) -> IMAPClient:
    """A logged-in IMAPClient (TLS per ``security``). LoginError -> AuthError."""
    port = account.port or DEFAULT_PORTS[account.security]
    check_host(account.host, port, key="imap_host")  # the outbound URL guard (SSRF)
    # Loading the CA bundle costs ~30 ms: only when TLS is used (benchmarks P3).
    context = ssl.create_default_context() if account.security != "none" else None
    client = IMAPClient(account.host, port=port, ssl=account.security == "ssl", ssl_context=context, timeout=account.timeout)
    try:
        if account.security == "starttls":
            client.starttls(context)
        if account.oauth2 is not None:
            _oauth2_login(client, account)
        else:
            client.login(account.username, account.password)
    except LoginError as exc:
        _logout(client)
        raise AuthError(f"IMAP {account.host}:{port}: login refused: {_text(exc)}") from None
    except BaseException:
        _logout(client)
        raise
    _keepalive(client)
    return client


def _oauth2_login(client: IMAPClient, account: ImapAccount) -> None:
    """SASL XOAUTH2; a refused token is refreshed and tried once more."""
    assert account.oauth2 is not None
    try:
        client.oauth2_login(account.username, account.oauth2(False))
    except LoginError:
        client.oauth2_login(account.username, account.oauth2(True))


def _keepalive(client: IMAPClient) -> None:
    """TCP keepalive: a peer that vanished (NAT timeout, crashed server) is noticed within
    about two minutes instead of at the next IDLE renewal."""
    sock = client.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (("TCP_KEEPIDLE", 60), ("TCP_KEEPINTVL", 20), ("TCP_KEEPCNT", 3)):
        if hasattr(socket, name):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)


def _text(exc: BaseException) -> str:
    value = exc.args[0] if exc.args else exc
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _logout(client: IMAPClient) -> None:
    try:
        client.logout()
    except SESSION_ERRORS:
        try:
            client.shutdown()
        except SESSION_ERRORS:
            pass


def chunks(items: list[int], size: int) -> Iterable[list[int]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _internaldate(value: Any) -> str | None:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).isoformat()
    return None


def events_from_fetch(folder: str, uidvalidity: int, response: dict[int, dict[bytes, Any]]) -> list[RawEvent]:
    """RawEvents (raw RFC 822 bytes, before any parsing) in UID order."""
    out = []
    for uid in sorted(response):
        data = response[uid]
        raw = data.get(b"BODY[]")
        if raw is None:
            continue  # expunged between SEARCH and FETCH
        out.append(
            RawEvent(
                external_id=external_id_for(raw),
                hook="imap",
                payload=bytes(raw),
                content_type="message/rfc822",
                meta={"folder": folder, "uid": uid, "uidvalidity": uidvalidity, "internaldate": _internaldate(data.get(b"INTERNALDATE"))},
            )
        )
    return out


def _announced(client: IMAPClient) -> bool:
    """Whether the server announced new mail (EXISTS / RECENT) in a response that imapclient
    kept aside instead of returning it: during a catch-up's FETCH, or at the start of IDLE,
    before its continuation line (``idle_check`` reads only what comes after). Those
    announcements are taken (so each counts once); without this, mail that arrived while a
    catch-up was storing what it fetched waited for the next IDLE renewal (29 minutes)."""
    kept = getattr(getattr(client, "_imap", None), "untagged_responses", None)
    if not isinstance(kept, dict):
        return False
    found = False
    for kind in ("EXISTS", "RECENT"):
        if kept.pop(kind, None):
            found = True
    return found


def _buffered(client: IMAPClient) -> bool:
    """Whether a server response already sits in the connection's read buffer: a line that
    came in the same read as IDLE's continuation. ``idle_check`` waits on the socket, which has
    nothing more to say, so that line (an EXISTS) would wait for the next one."""
    imap = getattr(client, "_imap", None)
    reader = getattr(imap, "file", None)
    if reader is None or not hasattr(reader, "peek"):
        return False
    sock = client.socket()
    timeout = sock.gettimeout()
    sock.setblocking(False)  # peek reads the socket only when the buffer is empty: never wait
    try:
        return bool(reader.peek(1))
    except OSError:  # nothing buffered and nothing to read (BlockingIOError, SSLWantReadError)
        return False
    finally:
        sock.settimeout(timeout)


class FolderWatcher:
    """Keeps one folder ingested: catch-up, then IDLE, forever (until ``stop``)."""

    #: re-issue IDLE before servers drop it (RFC 2177: at most every 29 minutes)
    idle_renew: float = 29 * 60
    #: how often the IDLE wait checks ``stop``
    idle_poll: float = 0.5
    batch_size: int = 200
    #: and at most this many bytes per FETCH (a folder of large messages stays in memory bounds)
    batch_bytes: int = 32 * 1024 * 1024
    backoff_start: float = 1.0
    backoff_max: float = 60.0
    #: servers without IDLE are polled (a catch-up) this often
    poll_interval: float = 30.0

    def __init__(
        self,
        account: ImapAccount,
        folder: str,
        state: StateStore,
        sink: PollSink,
        *,
        after_ingest: str = "leave",
        log: Any = None,
        connect_fn: Callable[[ImapAccount], IMAPClient] = connect,
    ) -> None:
        self.account = account
        self.folder = folder
        self.state = state
        self.sink = sink
        self.after_ingest = after_ingest
        self.log = log
        self.connect = connect_fn
        self.sessions = 0  # sessions opened (tests, metrics)
        self.idle_rounds = 0  # IDLE commands issued

    # --- cursor -----------------------------------------------------------------------------
    @property
    def _key_validity(self) -> str:
        return f"imap:{self.folder}:uidvalidity"

    @property
    def _key_uid(self) -> str:
        return f"imap:{self.folder}:uid"

    def cursor(self) -> tuple[int | None, int]:
        validity = self.state.get(self._key_validity)
        return (int(validity) if validity is not None else None), int(self.state.get(self._key_uid) or 0)

    # --- one pass -----------------------------------------------------------------------------
    def select(self, client: IMAPClient) -> dict[bytes, Any]:
        return client.select_folder(self.folder, readonly=self.after_ingest == "leave")

    def catch_up(self, client: IMAPClient) -> int:
        """Journal every message above the cursor (reset on a UIDVALIDITY change). Returns the count."""
        info = self.select(client)
        _announced(client)  # SELECT's own EXISTS / RECENT: counted by the SEARCH below, not news
        validity = int(info[b"UIDVALIDITY"])
        uidnext = int(info.get(b"UIDNEXT") or 0)
        stored_validity, last_uid = self.cursor()
        if stored_validity != validity:
            if stored_validity is not None and self.log:
                self.log.warning("imap.uidvalidity_changed", folder=self.folder, old=stored_validity, new=validity)
            last_uid = 0
            self.state.set(self._key_validity, validity)
            self.state.set(self._key_uid, 0)
        if uidnext and last_uid + 1 >= uidnext:
            return 0
        uids = sorted(u for u in client.search(["UID", f"{last_uid + 1}:*"]) if u > last_uid)
        done = 0
        # one-deep pipeline: FETCH batch k+1 while the sink journals batch k; the cursor and
        # after_ingest for a batch happen only once its record() returned
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"imap-journal-{self.folder}") as pool:
            pending: tuple[Future | None, list[int], int] | None = None
            for batch in self._batches(client, uids):
                events = events_from_fetch(self.folder, validity, client.fetch(batch, FETCH_ITEMS))
                if pending:
                    done += self._settle(client, *pending)
                pending = (pool.submit(self.sink.record, events) if events else None, batch, len(events))
            if pending:
                done += self._settle(client, *pending)
        if done and self.log:
            self.log.info("imap.ingested", folder=self.folder, count=done, uid=uids[-1] if uids else last_uid)
        return done

    def _batches(self, client: IMAPClient, uids: list[int]) -> Iterable[list[int]]:
        """UID batches of at most ``batch_size`` messages and about ``batch_bytes`` bytes.

        Messages up to batch_bytes / batch_size count as that size, so only the rare larger
        ones need their RFC822.SIZE (found with one SEARCH LARGER); a message larger than
        ``batch_bytes`` is a batch of its own.
        """
        if len(uids) <= 1:
            yield from chunks(uids, self.batch_size)
            return
        small = max(1, self.batch_bytes // self.batch_size)
        large = sorted(u for u in client.search(["UID", f"{uids[0]}:*", "LARGER", small]) if u >= uids[0])
        sizes: dict[int, int] = {}
        for part in chunks(large, 5000):
            sizes.update({uid: int(data.get(b"RFC822.SIZE") or 0) for uid, data in client.fetch(part, [b"RFC822.SIZE"]).items()})
        batch: list[int] = []
        total = 0
        for uid in uids:
            size = sizes.get(uid, small)
            if batch and (len(batch) >= self.batch_size or total + size > self.batch_bytes):
                yield batch
                batch, total = [], 0
            batch.append(uid)
            total += size
        if batch:
            yield batch

    def _settle(self, client: IMAPClient, future: Future | None, batch: list[int], count: int) -> int:
        if future is not None:
            future.result()  # journaled (raises what the sink raised)
        self.state.set(self._key_uid, batch[-1])
        self._after_ingest(client, batch)
        return count

    def _after_ingest(self, client: IMAPClient, uids: list[int]) -> None:
        if self.after_ingest == "leave" or not uids:
            return
        if self.after_ingest == "seen":
            client.add_flags(uids, [b"\\Seen"], silent=True)
            return
        target = self.after_ingest.split(":", 1)[1]
        if client.has_capability("MOVE"):
            client.move(uids, target)
        else:
            client.copy(uids, target)
            client.add_flags(uids, [b"\\Deleted"], silent=True)
            if client.has_capability("UIDPLUS"):
                client.uid_expunge(uids)
            else:
                client.expunge()

    # --- the long-running loop ----------------------------------------------------------------
    def session(self, stop: threading.Event) -> None:
        """One connection: catch up, then IDLE rounds until stop or a connection error."""
        client = self.connect(self.account)
        self.sessions += 1
        try:
            self.catch_up(client)
            self._report(None)
            if not client.has_capability("IDLE"):
                if self.log:
                    self.log.warning("imap.no_idle", folder=self.folder, poll_interval=self.poll_interval)
                while not stop.wait(self.poll_interval):
                    self.catch_up(client)
                return
            while not stop.is_set():
                while _announced(client) and not stop.is_set():  # mail that arrived during the catch-up
                    self.catch_up(client)
                client.idle()
                self.idle_rounds += 1
                started = time.monotonic()
                # announced before IDLE's continuation line, or right behind it in the same read
                changed = _announced(client) or _buffered(client)
                try:
                    while not changed and not stop.is_set() and time.monotonic() - started < self.idle_renew:
                        responses = client.idle_check(timeout=self.idle_poll)
                        if any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses):
                            changed = True
                            break
                        if any(r and r[0] == b"BYE" for r in responses):
                            raise EOFError("server said BYE")
                finally:
                    client.idle_done()
                if changed or not stop.is_set():
                    self.catch_up(client)
        finally:
            _logout(client)

    def _report(self, error: str | None, auth: bool = False) -> None:
        """Tell the sink (when it keeps connector health) that a session worked or failed."""
        note = getattr(self.sink, "health", None)
        if note is None:
            return
        try:
            note(error, auth=auth)
        except Exception as exc:  # noqa: BLE001 - a health note must never stop ingestion
            if self.log:
                self.log.warning("imap.health_note_failed", error=f"{exc.__class__.__name__}: {exc}")

    def run(self, stop: threading.Event) -> None:
        """Sessions with exponential backoff between failures, until ``stop`` is set."""
        delay = self.backoff_start
        while not stop.is_set():
            started = time.monotonic()
            try:
                self.session(stop)
                delay = self.backoff_start
            except AuthError as exc:
                if self.log:
                    self.log.error("imap.login_refused", folder=self.folder, error=str(exc))
                self._report(f"IMAP {self.folder}: {exc}", auth=True)
                delay = self.backoff_max
            except SESSION_ERRORS as exc:
                if time.monotonic() - started > 60:
                    delay = self.backoff_start
                if self.log:
                    self.log.warning("imap.session_lost", folder=self.folder, error=f"{exc.__class__.__name__}: {exc}", retry_in=delay)
                self._report(f"IMAP {self.folder}: {exc.__class__.__name__}: {exc}")
            except Exception as exc:  # noqa: BLE001 - supervisor loop: a failing sink must not end ingestion
                if self.log:
                    self.log.exception("imap.session_failed", folder=self.folder, error=f"{exc.__class__.__name__}: {exc}", retry_in=delay)
                self._report(f"IMAP {self.folder}: {exc.__class__.__name__}: {exc}")
            if stop.wait(delay):
                break
            delay = min(delay * 2, self.backoff_max)


def backfill(
    account: ImapAccount,
    folders: Iterable[str],
    sink: PollSink,
    *,
    since: date | None = None,
    progress: Callable[[int, int], None] | None = None,
    batch_size: int = 200,
    connect_fn: Callable[[ImapAccount], IMAPClient] = connect,
) -> int:
    """Offer every message (or those since a date) of the folders to the journal again.

    Read-only (EXAMINE, BODY.PEEK): flags, folders and cursors are left alone; the journal's
    unique external id drops what it already has. ``progress(done, total)`` after each batch
    (messages read). Returns how many were new to the journal.
    """
    client = connect_fn(account)
    try:
        plan: list[tuple[str, int, list[int]]] = []
        for folder in folders:
            info = client.select_folder(folder, readonly=True)
            day = since.date() if isinstance(since, datetime) else since
            criteria = ["SINCE", day] if day else ["ALL"]
            plan.append((folder, int(info[b"UIDVALIDITY"]), sorted(client.search(criteria))))
        total = sum(len(uids) for _, _, uids in plan)
        done = new = 0
        if progress:
            progress(0, total)
        for folder, validity, uids in plan:
            client.select_folder(folder, readonly=True)
            for batch in chunks(uids, batch_size):
                events = events_from_fetch(folder, validity, client.fetch(batch, FETCH_ITEMS))
                if events:
                    new += len(sink.record(events))
                done += len(batch)
                if progress:
                    progress(done, total)
        return new
    finally:
        _logout(client)


def capabilities(client: IMAPClient) -> list[str]:
    return sorted(c.decode() if isinstance(c, bytes) else str(c) for c in client.capabilities())
