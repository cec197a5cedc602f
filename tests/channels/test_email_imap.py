"""email channel inbound against a real Dovecot: IDLE, catch-up, UIDVALIDITY, reconnect, backfill."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest

from channels.email import EmailChannel, imap
from hub.types import ConnectorContext, MemoryState
from tests.support.dovecot import dovecot, running_dovecot  # noqa: F401 - fixture
from tests.support.mail import RecordingSink, make_mail


def adapter(server, state=None, **overrides) -> EmailChannel:
    config = EmailChannel.Config(**server.config(**overrides))
    ch = EmailChannel(ConnectorContext(name="mail", kind="email", config=config, state=state if state is not None else MemoryState()))
    ch.watcher_options = {"backoff_start": 0.2, "backoff_max": 1.0, "idle_poll": 0.2}
    return ch


class Poller:
    """Runs adapter.poll in a thread; ``with`` stops it."""

    def __init__(self, ch: EmailChannel, sink: RecordingSink) -> None:
        self.ch, self.sink, self.stop = ch, sink, threading.Event()
        self.thread = threading.Thread(target=ch.poll, args=(sink, self.stop), daemon=True)

    def __enter__(self) -> Poller:
        self.thread.start()
        return self

    def wait_idle(self, timeout: float = 5.0, idle: bool = True) -> None:
        """Until every folder watcher finished its first catch-up and entered IDLE (with
        ``idle=False``, for a server without IDLE: until every watcher has a session)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ch.watchers and all(w.idle_rounds if idle else w.sessions for w in self.ch.watchers):
                return
            time.sleep(0.02)
        raise AssertionError("poller did not start")

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(15)
        assert not self.thread.is_alive(), "poll() did not return after stop"


def test_append_reaches_the_journal_within_2s_through_idle(dovecot):
    sink = RecordingSink()
    raw = make_mail(1)
    with Poller(adapter(dovecot), sink) as p:
        p.wait_idle()
        appended = time.monotonic()
        dovecot.append(raw)
        assert sink.wait_for(1, timeout=2.0), "not journaled within 2 s"
        latency = sink.first_seen["<q1@example.org>"] - appended
    assert latency < 2.0
    [event] = sink.offered
    assert event.external_id == "<q1@example.org>" and event.content_type == "message/rfc822" and event.hook == "imap"
    assert event.payload.replace(b"\r\n", b"\n") == raw.replace(b"\r\n", b"\n")  # raw bytes, before normalization
    assert event.meta["folder"] == "INBOX" and event.meta["uid"] == 1 and event.meta["internaldate"]
    [msg] = adapter(dovecot).normalize(event)
    assert msg.sender.address == "customer@example.org" and msg.extra["uid"] == 1


def test_500_messages_appended_while_down_are_journaled_exactly_once(dovecot):
    state = MemoryState()
    sink = RecordingSink()
    dovecot.append(make_mail("before"))
    with Poller(adapter(dovecot, state), sink) as p:
        p.wait_idle()
        assert sink.wait_for(1)
    with dovecot.client() as c:
        c.multiappend("INBOX", [make_mail(i) for i in range(500)])
    # a new adapter instance (a restarted process) with the persisted state
    with Poller(adapter(dovecot, state), sink) as p:
        assert sink.wait_for(501, timeout=20), f"only {len(sink.unique)} of 501"
    assert len(sink.offered) == 501, "a message was offered twice"
    assert state["imap:INBOX:uid"] == 501
    assert [e.meta["uid"] for e in sink.offered] == list(range(1, 502))


def test_fetch_batches_are_bounded_by_count_and_bytes(dovecot):
    big = make_mail("big", text="x" * 20_000)
    dovecot.append([make_mail(i) for i in range(7)] + [big] + [make_mail(i) for i in range(7, 10)])
    sink = RecordingSink()
    ch = adapter(dovecot)
    ch.watcher_options = {**ch.watcher_options, "batch_size": 4, "batch_bytes": 8_000}
    with Poller(ch, sink) as p:
        assert sink.wait_for(11)
        p.wait_idle()
    sizes = [len(e.payload) for e in sink.offered]
    assert sizes[7] > 20_000 and len(sink.offered) == 11
    # 4 + 3, the big one alone, then 3: never more than 4 messages, never past 8 KB but for the big one
    assert sink.calls == 4


def test_uidvalidity_change_resyncs_without_duplicates(dovecot):
    state = MemoryState()
    sink = RecordingSink()
    first = [make_mail(i) for i in range(5)]
    dovecot.append(first, folder="Tickets")
    with Poller(adapter(dovecot, state, folders=["Tickets"]), sink) as p:
        p.wait_idle()
        assert sink.wait_for(5)
    old_validity = state["imap:Tickets:uidvalidity"]
    with dovecot.client() as c:  # recreate the folder: same mail, new UIDVALIDITY
        c.delete_folder("Tickets")
        c.create_folder("Tickets")
        c.multiappend("Tickets", first + [make_mail("new")])
        assert c.select_folder("Tickets")[b"UIDVALIDITY"] != old_validity
    with Poller(adapter(dovecot, state, folders=["Tickets"]), sink) as p:
        assert sink.wait_for(6)
        p.wait_idle()
    assert state["imap:Tickets:uidvalidity"] != old_validity
    assert len(sink.offered) == 11  # the full resync offered all 6 again...
    assert len(sink.unique) == 6  # ...and the journal's unique id kept each once
    assert state["imap:Tickets:uid"] == 6


def test_survives_a_server_restart(dovecot):
    sink = RecordingSink()
    with Poller(adapter(dovecot), sink) as p:
        p.wait_idle()
        dovecot.restart()
        dovecot.append(make_mail("after-restart"))
        assert sink.wait_for(1, timeout=10), "not ingested after the server restarted"
        assert p.ch.watchers[0].sessions >= 2


def test_idle_is_reissued_on_the_same_connection(dovecot):
    sink = RecordingSink()
    ch = adapter(dovecot)
    ch.watcher_options = {**ch.watcher_options, "idle_renew": 0.3}  # production: 29 minutes
    with Poller(ch, sink) as p:
        p.wait_idle()
        deadline = time.monotonic() + 10
        while p.ch.watchers[0].idle_rounds < 4 and time.monotonic() < deadline:  # renewed 3 times
            time.sleep(0.02)
        dovecot.append(make_mail("late"))
        assert sink.wait_for(1, timeout=2)
        [w] = p.ch.watchers
        assert w.idle_rounds >= 4 and w.sessions == 1
    assert imap.FolderWatcher.idle_renew <= 29 * 60


def test_one_session_per_folder(dovecot):
    dovecot.append(make_mail("a"), folder="Billing")
    sink = RecordingSink()
    with Poller(adapter(dovecot, folders=["INBOX", "Billing"]), sink) as p:
        p.wait_idle()
        dovecot.append(make_mail("b"))
        assert sink.wait_for(2, timeout=3)
        names = {t.name for t in threading.enumerate()}
        assert {"imap-mail-INBOX", "imap-mail-Billing"} <= names
    assert {e.meta["folder"] for e in sink.offered} == {"INBOX", "Billing"}


@pytest.mark.parametrize("after", ["seen", "move:Done"])
def test_after_ingest(dovecot, after):
    dovecot.append([make_mail(1), make_mail(2)])
    if after.startswith("move:"):
        with dovecot.client() as c:
            c.create_folder("Done")
    sink = RecordingSink()
    with Poller(adapter(dovecot, after_ingest=after), sink) as p:
        assert sink.wait_for(2)
        p.wait_idle()
    with dovecot.client() as c:
        info = c.select_folder("INBOX")
        if after == "seen":
            flags = c.get_flags([1, 2])
            assert all(b"\\Seen" in f for f in flags.values())
        else:
            assert info[b"EXISTS"] == 0
            assert c.select_folder("Done")[b"EXISTS"] == 2


def test_leave_does_not_mark_seen(dovecot):
    dovecot.append(make_mail(1))
    sink = RecordingSink()
    with Poller(adapter(dovecot), sink) as p:
        assert sink.wait_for(1)
        p.wait_idle()
    with dovecot.client() as c:
        c.select_folder("INBOX")
        assert b"\\Seen" not in c.get_flags([1])[1]


def test_backfill_with_progress_and_since(dovecot):
    old = make_mail("old")
    with dovecot.client() as c:
        c.append("INBOX", old, msg_time=datetime(2020, 1, 1, tzinfo=UTC))
        c.multiappend("INBOX", [make_mail(i) for i in range(7)])
    sink = RecordingSink()
    steps: list[tuple[int, int]] = []
    ch = adapter(dovecot)
    assert ch.backfill(sink, progress=lambda done, total: steps.append((done, total))) == 8
    assert steps[0] == (0, 8) and steps[-1] == (8, 8)
    assert len(sink.unique) == 8
    since_sink = RecordingSink()
    assert ch.backfill(since_sink, since=datetime(2025, 1, 1)) == 7
    assert "<qold@example.org>" not in since_sink.unique
    assert ch.ctx.state == {}  # backfill leaves the poll cursor alone


def test_check_reports_a_refused_login_without_the_password(dovecot):
    # (one attempt only: Dovecot's anvil delays repeated failures from one address by seconds)
    result = adapter(dovecot, password="wrong-pw-123").check()
    assert not result.ok and "login refused" in result.summary
    assert "wrong-pw-123" not in result.summary


def test_a_server_without_idle_is_polled():
    # Dovecot advertising a capability list without IDLE
    with running_dovecot("imap_capability = IMAP4rev1 LITERAL+ SASL-IR UIDPLUS MOVE\n") as server:
        with server.client() as c:
            assert not c.has_capability("IDLE")
        sink = RecordingSink()
        ch = adapter(server)
        ch.watcher_options = {**ch.watcher_options, "poll_interval": 0.3}
        with Poller(ch, sink) as p:
            p.wait_idle(idle=False)
            server.append(make_mail("polled"))
            assert sink.wait_for(1, timeout=3)
            assert p.ch.watchers[0].idle_rounds == 0 and p.ch.watchers[0].sessions == 1


def test_sessions_use_tcp_keepalive(dovecot):
    import socket

    client = imap.connect(adapter(dovecot).imap_account())
    try:
        assert client.socket().getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
    finally:
        client.logout()


class _AppendDuringCatchUp(RecordingSink):
    """Mail arrives while a catch-up is storing what it fetched: after its SEARCH, before the
    watcher enters IDLE again (the record call appends the next mail and waits for the server)."""

    def __init__(self, server, arriving: list[bytes]) -> None:
        super().__init__()
        self.server, self.arriving = server, arriving

    def record(self, events):
        ids = super().record(events)
        if self.arriving:
            self.server.append(self.arriving.pop(0))
        return ids


def test_mail_that_arrives_during_a_catch_up_is_not_left_for_the_next_idle_renewal(dovecot):
    """The server announces such mail (EXISTS) when the next command starts: it can come
    before IDLE's continuation line, where imapclient keeps it aside and ``idle_check`` never
    returns it. The watcher must look there, or the mail waits for the 29-minute renewal."""
    sink = _AppendDuringCatchUp(dovecot, [make_mail(f"during-{n}") for n in range(3)])
    with Poller(adapter(dovecot), sink) as p:
        p.wait_idle()
        dovecot.append(make_mail("first"))
        assert sink.wait_for(4, timeout=10), f"journaled: {sorted(sink.unique)}"
