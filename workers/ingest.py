"""The ingest stage: journaled raw events -> normalized, redacted, threaded, stored messages."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import inspect, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from hub import events, journal, routing, threads
from hub.connectors import is_channel
from hub.errors import AuthError, ConfigError, PayloadInvalid, PermanentDeliveryError, RetriableDeliveryError
from hub.models import (
    AttachmentRow,
    Connector,
    Conversation,
    ConversationEvent,
    Delivery,
    HelpdeskLink,
    Identity,
    InboundEvent,
    Message,
    Reply,
    now,
)
from hub.net import TooLarge
from hub.runtime import Runtime
from hub.states import CONVERSATION_DONE, REPLY_FAILURES, REPLY_PROGRESS, DeliveryState, EventState, ReplyState
from normalizers import pipeline
from normalizers import redact as redaction
from normalizers.entities import conversation_chain
from normalizers.model import Attachment, Bounce, IdentityUpdate, NormalizedMessage, Sealed
from normalizers.redact import merge_redactions, redact_attachment, redact_text
from workers import automatic, hooks, intel, outbox
from workers.retry import exhausted, next_attempt, rerun_transient, transient
from workers.services import service

log = structlog.get_logger("omnihub.ingest")

PRIORITY_RANK = {"low": 0, "normal": 1, "high": 2, "urgent": 3}
REPLY_RANK = REPLY_PROGRESS
TERMINAL_FAILURES = REPLY_FAILURES


class RetryLater(Exception):
    """The event refers to something not stored yet (e.g. an edit before its message)."""


#: How many times an edit waits for its target message before it is stored on its own.
EDIT_WAITS = 3
#: attempts of an event whose file cannot be reached before the file becomes a placeholder
#: (at most the event's retry_max_attempts: the last attempt always stores the message)
MEDIA_WAITS = 3


@dataclass
class Prepared:
    event_id: int
    connector: Connector
    attempts: int = 0
    adapter: Any = None
    messages: list[NormalizedMessage] = field(default_factory=list)
    agent_replies: list[Any] = field(default_factory=list)
    error: str | None = None
    permanent: bool = False
    retry_after: float | None = None


@dataclass
class Outcome:
    push: list[int] = field(default_factory=list)
    send: list[int] = field(default_factory=list)
    #: Deliveries added but not flushed yet (their ids exist once the savepoint is released).
    push_rows: list[Delivery] = field(default_factory=list)
    #: teams whose queue got a conversation: the caller assigns them once the batch is committed
    #: (workers.jobs.drain, after handing the turn on; hub.assignment)
    teams: set[int] = field(default_factory=set)
    #: the batch's rows (``BatchContext``), held until the local push has read them: the
    #: session's identity map holds clean rows weakly, and without this the push loaded
    #: again, by an IN query per table, every message and conversation the garbage collector
    #: had already dropped (P2R profile: about 2 in 3). ``_store_batch`` lets go of them.
    held: list[Any] = field(default_factory=list, repr=False)

    def add(self, local: Outcome) -> None:
        """Take in one event's outcome (after its rows were flushed: the deliveries' ids exist)."""
        self.push += [d.id for d in local.push_rows] + local.push
        self.send += local.send
        self.teams |= local.teams


#: Seconds between two `last_inbound_at` health notes of one connector from one process.
HEALTH_EVERY = 5.0
_health_noted: dict[tuple[int, int], float] = {}


#: what a batch claimed: (event ids, the lease written on them), for ``release``
Claims = list[tuple[list[int], datetime]]


def _claim(rt: Runtime, ids: list[int], takeover: bool = False, claims: Claims | None = None) -> list[tuple[int, Connector, Any, int]]:
    """Lease the pending events among ``ids``. ``takeover``: also those still leased, by a
    batch whose worker is known dead (``Queues.wait_turn``); were it alive after all, its
    store and ours cannot both succeed (a message is unique per connector and provider id).
    ``claims``: the ids and their lease are added to it once committed."""
    t = now()
    with rt.db.session() as s:
        free = [] if takeover else [or_(InboundEvent.locked_until.is_(None), InboundEvent.locked_until < t)]
        rows = s.scalars(
            select(InboundEvent).where(
                InboundEvent.id.in_(ids),
                InboundEvent.state == EventState.PENDING,
                *free,
            )
            # Arrival order: without it the database may return rows in index order
            # (state, next_attempt_at), which the sweeper reshuffles, and a conversation's
            # messages would be stored (and pushed) out of order.
            .order_by(InboundEvent.id)
            # PostgreSQL: a row another transaction holds at this instant (another worker's
            # claim, the sweeper) is waited for, then checked again (READ COMMITTED): claimed
            # once, never twice. Not SKIP LOCKED: a skipped event was stored later, from the
            # sweeper's copy, after the later messages of its conversation (tests/scale). The
            # rows are locked in id order, as by every claim, so two claims cannot deadlock.
            # (SQLite writers are serialized; it ignores the clause.)
            .with_for_update()
        ).all()
        lease = t + timedelta(seconds=rt.settings.lease_seconds)
        if rows:
            # one UPDATE ... WHERE id IN (the locked rows) for the batch, not the ORM's
            # executemany of one UPDATE per row (the rows' objects are not read again)
            s.execute(update(InboundEvent).where(InboundEvent.id.in_([r.id for r in rows])).values(locked_until=lease),
                      execution_options={"synchronize_session": False})
            if claims is not None:
                claims.append(([r.id for r in rows], lease))
        out = []
        conns: dict[int, Connector] = {}
        for r in rows:
            if r.connector_id not in conns:
                conns[r.connector_id] = s.get_one(Connector, r.connector_id)
            out.append((r.id, conns[r.connector_id], journal.open_event(rt.box, r), r.attempts))
        return out


def _fetch_attachments(rt: Runtime, adapter: Any, msg: NormalizedMessage, attempts: int = 0) -> NormalizedMessage:
    """Download (and store) the message's files. A file the provider answers with an error
    for, or that is over the size limit, becomes a visible placeholder; one that cannot be
    reached (a network error, a 5xx) is tried again with the event, and after
    ``MEDIA_WAITS`` attempts also becomes a placeholder, so the message is never held back
    for good by one file."""
    limit = rt.settings.max_attachment_bytes
    out: list[Attachment] = []
    redactions: list[Any] = []
    changed = False
    for att in msg.attachments:
        if att.placeholder_reason or att.storage_key:
            out.append(att)
            continue
        content = att.content
        if content is None and att.url:
            try:
                content = adapter.fetch_attachment(att, limit)
            except TooLarge as exc:
                out.append(_placeholder(att, str(exc)))
                changed = True
                continue
            except PayloadInvalid as exc:
                out.append(_placeholder(att, str(exc)))
                changed = True
                continue
            except AuthError:
                raise  # the connector's credentials: retried once they are fixed, the file is not given up
            except RetriableDeliveryError as exc:
                if attempts + 1 < min(MEDIA_WAITS, rt.settings.retry_max_attempts):
                    raise  # the event is tried again later (its last attempt keeps the message)
                out.append(_placeholder(att, f"the file could not be downloaded after {attempts + 1} attempts: {exc}"))
                changed = True
                continue
            except PermanentDeliveryError as exc:
                # the provider will never give this file (an expired or unknown file id): the
                # message, its caption included, is stored with a visible placeholder, not lost
                out.append(_placeholder(att, f"the file could not be downloaded: {exc}"))
                changed = True
                continue
        if content is None:
            out.append(_placeholder(att, "no content"))
            changed = True
            continue
        if len(content) > limit:
            out.append(_placeholder(att, f"file is {len(content)} bytes, over the {limit}-byte limit", size=len(content)))
            changed = True
            continue
        if att.content is None:  # fetched just now, after the pipeline: redact before storing
            att, found = redact_attachment(_replace(att, content=content))
            assert att.content is not None  # redaction keeps the bytes
            content = att.content
            redactions.extend(found)
        key, digest = rt.blobs.put(content)
        out.append(_replace(att, storage_key=key, sha256=digest, size=len(content), content=None))
        changed = True
    if redactions:
        msg = msg.replace(redactions=merge_redactions(msg.redactions, redactions))
    return msg.replace(attachments=tuple(out)) if changed else msg


def _replace(att: Attachment, **kw: Any) -> Attachment:
    import dataclasses

    return dataclasses.replace(att, **kw)


def _placeholder(att: Attachment, reason: str, size: int | None = None) -> Attachment:
    return _replace(att, content=None, placeholder_reason=reason, size=size if size is not None else att.size)


def redaction_context(rt: Runtime, connector: Connector, msg: NormalizedMessage) -> redaction.Context:
    """What redaction needs to know about the conversation ``msg`` belongs to: did the
    agent's or bot's last message ask for a transaction id/hash, which network is it
    about (its entities), and the key that keeps redacted identifiers unique."""
    key = rt.box.id_key
    asked, chain = False, None
    if msg.direction == "inbound" and redaction.may_hold_a_hash(msg):
        thread_key = redaction.redact_identifier(msg.thread_key, key)[0]
        refs = [redaction.redact_identifier(r, key)[0] for r in threads.reference_ids(msg)]
        with rt.db.read() as s:
            conv_id = None
            if refs:
                conv_id = s.scalar(select(Message.conversation_id).where(Message.connector_id == connector.id, Message.external_id.in_(refs)).order_by(Message.id.desc()).limit(1))
            if conv_id is None:
                conv_id = s.scalar(select(Conversation.id).where(Conversation.connector_id == connector.id, Conversation.thread_key == thread_key).order_by(Conversation.id.desc()).limit(1))
            if conv_id is not None:
                conv = s.get_one(Conversation, conv_id)
                last = s.scalar(
                    select(Reply.text).where(Reply.conversation_id == conv_id, Reply.kind.in_(("reply", "auto"))).order_by(Reply.id.desc()).limit(1)
                )
                asked = redaction.asks_for_transaction(last or "")
                chain = conversation_chain(conv.entities)
    return redaction.Context(asked_for_tx=asked, chain=chain, id_key=key)


def _run_pipeline(rt: Runtime, connector: Connector, msg: NormalizedMessage) -> NormalizedMessage:
    with redaction.context(redaction_context(rt, connector, msg)):
        return pipeline.run(msg)


def _seal(rt: Runtime, msg: NormalizedMessage) -> NormalizedMessage:
    """Encrypt the values the pipeline sealed (hub key) before anything is stored or logged."""
    if not any(not x.sealed for x in msg.sealed):
        return msg
    return msg.replace(sealed=tuple(
        x if x.sealed else Sealed(ref=x.ref, kind=x.kind, value=rt.box.seal(x.value.encode()).decode("ascii"), sealed=True)
        for x in msg.sealed
    ))


def sealed_extra(extra: dict[str, Any], msg: NormalizedMessage) -> dict[str, Any]:
    """``Message.extra`` with the message's sealed values (ciphertext) under ``sealed``."""
    out = dict(extra)
    out.pop("sealed", None)  # never a customer-supplied value (the api channel keeps extra fields)
    if msg.sealed:
        out["sealed"] = {str(x.ref): {"kind": x.kind, "token": x.value} for x in msg.sealed if x.sealed}
    return out


def _with_language_confidence(extra: dict[str, Any], msg: NormalizedMessage) -> dict[str, Any]:
    """``extra`` with the detector's confidence in the message's language (0-1; also when it said
    "unknown"), never a value the sender supplied."""
    extra.pop("language_confidence", None)
    if msg.direction == "inbound" and msg.language_confidence is not None:
        extra["language_confidence"] = msg.language_confidence
    return extra


def _renumber_sealed(msg: NormalizedMessage, offset: int) -> NormalizedMessage:
    """Shift a message's sealed refs (and their placeholders) by ``offset``."""

    def shift(text: str) -> str:
        return redaction.SEALED_RE.sub(lambda m: m.group(0).replace(f"#{m.group(1)}]", f"#{int(m.group(1)) + offset}]"), text or "")

    return msg.replace(
        text=shift(msg.text), full_text=shift(msg.full_text), html=shift(msg.html), subject=shift(msg.subject),
        sealed=tuple(Sealed(ref=x.ref + offset, kind=x.kind, value=x.value, sealed=x.sealed) for x in msg.sealed),
    )


def prepare(rt: Runtime, ids: list[int], takeover: bool = False, claim_turn: tuple[Callable[[], Any], Callable[[], Any]] | None = None,
            claims: Claims | None = None) -> list[Prepared]:
    """Decrypt, normalize, run the pipeline and fetch attachments (no write transaction).
    ``claim_turn``: (wait for the batch before to have claimed, say this one has), around the
    claim only, so batches claim in order and prepare in parallel."""
    out: list[Prepared] = []
    svc = service(rt)
    if claim_turn is not None and not claim_turn[0]():
        log.info("ingest.claim_turn_skipped", note="the batch before did not claim in time; claiming anyway")
    claimed = _claim(rt, ids, takeover, claims)
    if claim_turn is not None:
        claim_turn[1]()
    for event_id, connector, raw, attempts in claimed:
        p = Prepared(event_id, connector, attempts=attempts)
        out.append(p)
        try:
            p.adapter = svc.adapter(connector)
            if is_channel(connector.kind):
                msgs = p.adapter.normalize(raw)
                p.messages = [_fetch_attachments(rt, p.adapter, _seal(rt, _run_pipeline(rt, connector, m)), attempts) for m in msgs]
            else:
                p.agent_replies = list(p.adapter.parse_agent_reply(raw))
        except PayloadInvalid as exc:
            p.error, p.permanent = str(exc) or exc.__class__.__name__, True
        except RetriableDeliveryError as exc:
            p.error, p.retry_after = str(exc), exc.retry_after
        except ConfigError as exc:
            p.error = str(exc)
        except Exception as exc:  # a bug in a normalizer must not lose the event: retry, then quarantine
            log.exception("normalize.failed", event_id=event_id, connector=connector.name)
            p.error = f"{exc.__class__.__name__}: {exc}"
    return out


@dataclass
class BatchContext:
    """What one ingest batch loads once instead of once per message: the journal rows, the
    messages already stored (duplicate check), identities and threads (``threads.Lookups``)
    and the helpdesk connectors. Valid inside the batch's transaction only."""

    events: dict[int, InboundEvent] = field(default_factory=dict)
    stored: set[tuple[int, str]] = field(default_factory=set)
    lookups: threads.Lookups | None = None
    helpdesks: dict[str, Connector] = field(default_factory=dict)
    #: Rows stored by the batch, held so the local push finds them in the identity map.
    stored_rows: list[Any] = field(default_factory=list)
    #: routing rules, default team and connectors, read once per batch (ingest writes none)
    routing: routing.Cache = field(default_factory=routing.Cache)
    #: the steps of each stored message that need its rows' ids (routing, the intelligence
    #: hooks), run in message order by ``run_after`` once the rows are flushed
    after: list[Callable[[], None]] = field(default_factory=list)

    @classmethod
    def load(cls, s: Session, prepared: list[Prepared]) -> BatchContext:
        ctx = cls()
        ctx.events = {e.id: e for e in s.scalars(select(InboundEvent).where(InboundEvent.id.in_([p.event_id for p in prepared])))}
        msgs = [(p.connector.id, m) for p in prepared if not p.error for m in p.messages]
        by_connector: dict[int, set[str]] = {}
        for connector_id, m in msgs:
            if m.external_id:
                by_connector.setdefault(connector_id, set()).add(m.external_id)
        for connector_id, ext_ids in by_connector.items():
            ctx.stored.update(
                (connector_id, e)
                for e in s.scalars(select(Message.external_id).where(Message.connector_id == connector_id, Message.external_id.in_(ext_ids)))
            )
        ctx.lookups = threads.Lookups.preload(
            s,
            [(m.sender.medium, m.sender.address) for _c, m in msgs],
            [(c, m.thread_key) for c, m in msgs if m.kind not in ("status",)],
            [((m.sender.medium, m.sender.address), threads.verified_email(m.sender)) for _c, m in msgs if m.sender.verified_email],
            [(c, r) for c, m in msgs for r in threads.reference_ids(m)],
        )
        return ctx

    def run_after(self, s: Session) -> None:
        """Write the stored rows (one flush: a multi-row INSERT per table), then run the steps
        that need their ids, in message order."""
        if not self.after:
            return
        s.flush()
        steps, self.after = self.after, []
        for step in steps:
            step()

    def invalidate(self) -> None:
        """After a savepoint rolled back: rows created in it are gone; query again."""
        self.after = []
        self.lookups = None
        self.stored = set()
        self.helpdesks = {}
        self.routing = routing.Cache()


def process(rt: Runtime, ids: list[int], *, push_local: bool = False, wait_turn: Callable[[], Any] | None = None,
            claim_turn: tuple[Callable[[], Any], Callable[[], Any]] | None = None) -> Outcome:
    """Store a batch of journaled events. With ``push_local``, deliveries to a built-in
    helpdesk are pushed in the same transaction and ``Outcome.push`` keeps only the others.
    ``claim_turn`` orders the batches' claims (``prepare``).
    ``wait_turn`` is called between preparing (parallel) and storing (in batch order); when
    it answers a ``hub.queues.Turn`` with ids taken over from earlier batches whose workers
    died, those are stored first, in the same transaction (journal order)."""
    intel.install()  # the support-intelligence hooks, registered explicitly (idempotent)
    claims: Claims = []
    try:
        prepared = prepare(rt, ids, claim_turn=claim_turn, claims=claims)
        if wait_turn is not None:
            turn = wait_turn()
            if not turn:
                log.info("ingest.turn_skipped", note="the batch before did not finish in time; storing anyway")
            taken = sorted(set(getattr(turn, "taken", None) or ()) - set(ids))
            if taken:
                more = prepare(rt, taken, takeover=True, claims=claims)
                log.info("ingest.batch_taken_over", ids=len(taken), pending=len(more))
                prepared = sorted(prepared + more, key=lambda p: p.event_id)
        if not prepared:
            return Outcome()
        outcome = rerun_transient(lambda: _store_batch(rt, prepared, push_local), "ingest.store_retried")
    except BaseException:
        release(rt, claims)  # the sweeper schedules them after OMNIHUB_SWEEP_AFTER, not after the lease
        raise
    # A health note per connector at most every HEALTH_EVERY seconds, not a write transaction
    # per batch (P5 profile: single-message batches paid a fourth commit for it).
    t = time.monotonic()
    for connector_id in sorted({p.connector.id for p in prepared if not p.error}):
        key = (id(rt), connector_id)
        if t - _health_noted.get(key, -HEALTH_EVERY) >= HEALTH_EVERY:
            _health_noted[key] = t
            service(rt).record_health(connector_id, last_inbound_at=now())
    return outcome


def release(rt: Runtime, claims: Claims) -> int:
    """Give back the claims of a batch that failed (a Redis failover that outlasted the
    retries, a database error): its events that are still pending and still carry the lease
    it wrote (not one written since by another batch) are unleased, so the sweeper schedules
    them once due (OMNIHUB_SWEEP_AFTER after they arrived) instead of after
    OMNIHUB_LEASE_SECONDS. Best effort: when the database is what failed, the lease stays and
    ends by itself. Returns how many events were released."""
    if not claims:
        return 0
    released = 0
    try:
        with rt.db.session() as s:
            for ids, lease in claims:
                result = s.execute(
                    update(InboundEvent)
                    .where(InboundEvent.id.in_(ids), InboundEvent.state == EventState.PENDING, InboundEvent.locked_until == lease)
                    .values(locked_until=None),
                    execution_options={"synchronize_session": False})
                released += int(getattr(result, "rowcount", 0) or 0)
    except Exception as exc:  # noqa: BLE001 - the batch's own error is the one raised
        log.warning("ingest.release_failed", error=f"{exc.__class__.__name__}: {exc}"[:200])
        return 0
    if released:
        log.warning("ingest.claims_released", count=released, note="the sweeper schedules them again after OMNIHUB_SWEEP_AFTER")
    return released


def _store_batch(rt: Runtime, prepared: list[Prepared], push_local: bool) -> Outcome:
    """The batch's one write transaction: all events together (``_store_together``) or, when
    event subscriptions are on or that failed, one savepoint each (``_store_each``). A transient
    database error is raised, not recorded on the event: the caller runs the whole batch again,
    so an event never falls behind the later messages of its conversation."""
    outcome = Outcome()
    with rt.db.session() as s:
        stored = None
        if not events.subscribed(s):
            try:
                stored = _store_together(rt, s, prepared)
            except Exception as exc:  # noqa: BLE001 - stored again one savepoint per event, which handles it
                if transient(exc):
                    raise  # the whole batch again (process), in order
                s.rollback()
                log.info("ingest.batch_per_event", count=len(prepared), reason=f"{exc.__class__.__name__}: {exc}"[:200])
        outcome = stored if stored is not None else _store_each(rt, s, prepared)
        if push_local and outcome.push:
            try:
                with s.begin_nested():
                    outcome.push = outbox.push(rt, outcome.push, local_only=True, session=s)
            except Exception as exc:
                if transient(exc):
                    raise
                log.exception("ingest.local_push_failed", count=len(outcome.push))  # the push queue takes them
        outcome.held = []
    return outcome


def _store_together(rt: Runtime, s: Session, prepared: list[Prepared]) -> Outcome:
    """Store the batch's events in the transaction itself, without a savepoint each: no
    SAVEPOINT / RELEASE round trips and no flush per release (P2R profile). Any exception
    propagates: the caller rolls the whole batch back and stores it with ``_store_each``,
    whose savepoints keep one event's failure from the others; so the outcome is the same.
    Only when no event subscription is enabled (``events.subscribed``): the savepoint
    releases would then have dropped the events the batch queued, and so does this."""
    outcome = Outcome()
    ctx = BatchContext.load(s, prepared)
    locals_: list[Outcome] = []
    failed: list[tuple[InboundEvent, Prepared]] = []
    for p in prepared:
        row = ctx.events.get(p.event_id)
        if row is None or row.state != EventState.PENDING:
            continue
        if p.error:
            failed.append((row, p))  # after the others: nothing below can fail then
            continue
        locals_.append(_store_one(rt, s, p, row, ctx))
    ctx.run_after(s)
    s.flush()  # the deliveries' ids; a constraint a row breaks shows here, not at the commit
    events.discard(s)
    for local in locals_:
        outcome.add(local)
    outcome.held = [ctx, locals_]
    for row, p in failed:
        assert p.error is not None
        _fail(rt, row, p.error, p.permanent, p.retry_after)
    return outcome


def _store_one(rt: Runtime, s: Session, p: Prepared, row: InboundEvent, ctx: BatchContext) -> Outcome:
    """Store one prepared event and mark its journal row done (its payload redacted)."""
    local = Outcome()
    if p.agent_replies or not is_channel(p.connector.kind):
        state, reason = store_agent_replies(s, rt, p, local)
    else:
        state, reason = store_messages(s, rt, p, local, ctx)
    row.state = state
    row.error = reason
    # always in the UPDATE, even when unchanged (None): the batch's journal rows then share
    # one column list and go out as one executemany, not one statement per run of rows
    # whose error did or did not change (P2R: ~140 UPDATE statements per 600 emails)
    flag_modified(row, "error")
    row.processed_at = now()
    row.locked_until = None
    journal.replace_with_redacted(rt.box, row, [m.to_dict() for m in p.messages])
    return local


def _store_each(rt: Runtime, s: Session, prepared: list[Prepared]) -> Outcome:
    """Store the batch's events one savepoint each: an event that fails is rolled back alone."""
    outcome = Outcome()
    ctx = BatchContext.load(s, prepared)
    for p in prepared:
        row = ctx.events.get(p.event_id)
        if row is None or row.state != EventState.PENDING:
            continue
        if p.error:
            _fail(rt, row, p.error, p.permanent, p.retry_after)
            continue
        try:
            with s.begin_nested():
                local = _store_one(rt, s, p, row, ctx)
                ctx.run_after(s)
            outcome.add(local)
        except IntegrityError as exc:
            # A concurrent worker stored the same thing first; try again shortly.
            ctx.invalidate()
            _fail(rt, row, f"conflict: {exc.orig}", False, 1.0)
        except RetryLater as exc:
            ctx.invalidate()
            row.attempts += 1
            row.error = str(exc)
            row.locked_until = None
            row.next_attempt_at = now() + timedelta(seconds=rt.settings.retry_base_seconds * row.attempts)
        except Exception as exc:
            if transient(exc):
                raise  # the whole batch again (process)
            ctx.invalidate()
            log.exception("ingest.store_failed", event_id=row.id)
            _fail(rt, row, f"{exc.__class__.__name__}: {exc}", False, None)
    outcome.held = [ctx]
    return outcome


def _fail(rt: Runtime, row: InboundEvent, error: str, permanent: bool, retry_after: float | None) -> None:
    row.attempts += 1
    row.error = redact_text(error)[0][:2000]  # an exception message may quote the customer's text
    row.locked_until = None
    if permanent or exhausted(rt.settings, row.attempts):
        row.state = EventState.QUARANTINED
        log.warning("event.quarantined", event_id=row.id, reason=row.error)
    else:
        row.next_attempt_at = next_attempt(rt.settings, row.attempts, now(), retry_after)


# --------------------------------------------------------------------------- messages
def store_messages(s: Session, rt: Runtime, p: Prepared, out: Outcome, ctx: BatchContext | None = None) -> tuple[str, str | None]:
    if not p.messages:
        return EventState.IGNORED, "nothing to store (housekeeping or our own message)"
    stored = 0
    reasons = []
    for msg in p.messages:
        state, reason = store_message(s, rt, p, msg, out, ctx)
        stored += state == EventState.PROCESSED
        if reason:
            reasons.append(reason)
    return (EventState.PROCESSED if stored or not reasons else EventState.IGNORED), "; ".join(reasons) or None


def _find_message(s: Session, connector_id: int, external_id: str | None) -> Message | None:
    if not external_id:
        return None
    return s.scalar(select(Message).where(Message.connector_id == connector_id, Message.external_id == external_id))


def _is_stored(s: Session, ctx: BatchContext | None, connector_id: int, external_id: str | None) -> bool:
    if not external_id:
        return False
    if ctx is not None and ctx.lookups is not None:  # preloaded (and kept up to date) for the batch
        return (connector_id, external_id) in ctx.stored
    return _find_message(s, connector_id, external_id) is not None


def store_message(
    s: Session, rt: Runtime, p: Prepared, msg: NormalizedMessage, out: Outcome, ctx: BatchContext | None = None
) -> tuple[str, str | None]:
    """Store one normalized message, by kind: a delivery status, an edit or delete of an
    earlier message, or a customer's (or our own echoed) message. A bounce also fails the
    reply it names. Returns the event's state and, when ignored, the reason."""
    conn = p.connector
    if _is_stored(s, ctx, conn.id, msg.external_id):
        return EventState.PROCESSED, None  # duplicate: stored once
    if msg.kind == "status":
        if msg.status is None and msg.identity_update is not None:
            # the channel's account of the customer's choice (Telegram: the bot was blocked)
            lookups = ctx.lookups if ctx is not None else None
            _apply_identity_update(threads.resolve_identity(s, msg.sender, lookups), msg.identity_update)
            return EventState.PROCESSED, None
        _apply_status(s, conn, msg)
        return EventState.PROCESSED, None
    if msg.bounce is not None and msg.bounce.names_a_message:
        _apply_bounce(s, conn, msg.bounce)
    if msg.reaction is not None:
        if _apply_reaction(s, conn, msg):
            return EventState.PROCESSED, None  # shown on the message it reacts to
        # kept as a placeholder message in the reacting customer's OWN conversation: the message
        # it names (unknown, or someone else's) must not pull it into another conversation
        msg = msg.replace(in_reply_to=None, references=())
    if msg.kind in ("edit", "delete"):
        done = _store_edit_or_delete(s, p, msg)
        if done is not None:
            return done
        msg = msg.replace(kind="message")  # an edit of a message we never got: keep it as new
    return _store_customer_message(s, rt, p, msg, out, ctx)


def _reply_by_provider_id(s: Session, conn: Connector, ref: str) -> Reply | None:
    """Our reply with this provider id, or whose later part has it (a split reply)."""
    reply = s.scalar(select(Reply).where(Reply.connector_id == conn.id, Reply.external_id == ref))
    if reply is None:
        for candidate in s.scalars(
            select(Reply).where(Reply.connector_id == conn.id, Reply.state.notin_((ReplyState.PENDING, ReplyState.NOTE))).order_by(Reply.id.desc()).limit(200)
        ):
            if ref in (candidate.status_detail or {}).get("parts", []):
                return candidate
    return reply


def _apply_reaction(s: Session, conn: Connector, msg: NormalizedMessage) -> bool:
    """Put a reaction on the message or reply it names: one entry per reacting person, an
    empty emoji takes theirs back. False when the hub does not know that message (the
    reaction is then stored as a message of its own, its text a visible placeholder)."""
    assert msg.reaction is not None
    ref = msg.in_reply_to
    if not ref:
        return False
    target: Message | Reply | None = _find_message(s, conn.id, ref) or _reply_by_provider_id(s, conn, ref)
    if target is None:
        return False
    conv = s.get(Conversation, target.conversation_id)
    if conv is None or conv.thread_key != msg.thread_key:
        return False  # only a message of the reacting customer's own conversation carries their reaction
    by = msg.sender.address
    kept = [r for r in (target.reactions or []) if r.get("by") != by]
    mine = [r for r in (target.reactions or []) if r.get("by") == by]
    if mine and str(mine[0].get("at") or "") > msg.sent_at.isoformat():
        return True  # a newer reaction of the same person is already shown
    if msg.reaction.emoji:
        kept.append({"by": by, "name": msg.sender.name, "emoji": msg.reaction.emoji[:32], "at": msg.sent_at.isoformat(),
                     "external_id": msg.external_id})
    target.reactions = kept  # a new list: the JSON column sees the change
    conv.updated_at = now()  # the open inbox refreshes the conversation (a reply's own updated_at moves too)
    return True


def _store_edit_or_delete(s: Session, p: Prepared, msg: NormalizedMessage) -> tuple[str, str | None] | None:
    """Apply an edit or delete to the message it names (kept in its history). None: the
    target never arrived, so an edit is stored as a new message."""
    target = _find_message(s, p.connector.id, msg.in_reply_to) if msg.in_reply_to else None
    if target is not None:
        author = s.get(Identity, target.identity_id) if target.identity_id else None
        if author is None or author.address != msg.sender.address:
            # only the one who wrote a message edits or deletes it: a customer naming another
            # customer's message id changes nothing (kept in the journal with the reason)
            log.warning("ingest.foreign_edit", kind=msg.kind, connector=p.connector.name)
            return EventState.IGNORED, f"{msg.kind} of a message its sender did not write: not applied"
        conv = s.get(Conversation, target.conversation_id)
        if conv is not None:
            conv.updated_at = now()  # the open inbox refreshes the conversation and shows the change
        history = list(target.history or [])
        history.append({"at": msg.sent_at.isoformat(), "kind": msg.kind, "text": target.text, "external_id": msg.external_id})
        target.history = history
        if msg.kind == "delete":
            target.deleted = True
        else:
            kept = dict((target.extra or {}).get("sealed") or {})
            if msg.sealed and kept:  # number the edit's sealed values after the original's
                msg = _renumber_sealed(msg, max(int(k) for k in kept))
            target.text, target.full_text = msg.text, msg.full_text or msg.text
            if msg.sealed:
                target.extra = {**(target.extra or {}), "sealed": {**kept, **sealed_extra({}, msg)["sealed"]}}
            if msg.html:
                target.html = msg.html
            if msg.redactions:
                target.redactions = list(target.redactions or []) + [r.__dict__ if hasattr(r, "__dict__") else _asdict(r) for r in msg.redactions]
            if msg.attachments:
                _store_attachments(s, target, msg)
        return EventState.PROCESSED, None
    if p.attempts < EDIT_WAITS:
        raise RetryLater(f"{msg.kind} for {msg.in_reply_to!r} arrived before that message; waiting for it")
    if msg.kind == "delete":
        return EventState.IGNORED, f"delete for unknown message {msg.in_reply_to!r}"
    return None


def _store_customer_message(
    s: Session, rt: Runtime, p: Prepared, msg: NormalizedMessage, out: Outcome, ctx: BatchContext | None
) -> tuple[str, str | None]:
    """A message in a conversation: threaded, stored, pushed to the helpdesk, and handed to
    the support-intelligence hooks; a command (STOP) changes the opt-out state instead."""
    conn = p.connector
    update = msg.identity_update
    adapter = p.adapter
    lookups = ctx.lookups if ctx is not None else None
    if msg.direction == "inbound" and msg.triage is not None and msg.triage.command:
        return _apply_command(s, msg, msg.triage.command, lookups)
    reopen, gap = adapter.thread_policy(msg)
    # In a batch (ctx), nothing is flushed per message: the rows are linked by relationship,
    # written by the batch's one flush (one multi-row INSERT per table), and the steps that need
    # their ids (routing, the intelligence hooks) run after it, in message order (ctx.after).
    defer = ctx is not None
    res = threads.resolve(
        s, conn, msg, reopen_resolved=reopen, idle_gap_seconds=gap.total_seconds() if gap else None, at=msg.sent_at, lookups=lookups,
        flush=not defer,
    )
    if msg.auto_generated and msg.direction == "inbound":
        if automatic.automatic_sign(msg):  # the address showed itself automatic: remembered on its identity
            automatic.remember_automatic(res.identity if res is not None else threads.resolve_identity(s, msg.sender, lookups), msg)
    if res is None:
        if update:
            ident = threads.resolve_identity(s, msg.sender, lookups)
            _apply_identity_update(ident, update)
            return EventState.PROCESSED, None
        return EventState.IGNORED, "auto-generated message outside any conversation"
    if update:
        _apply_identity_update(res.identity, update)
    conv = res.conversation
    row = Message(
        conversation=conv,
        connector_id=conn.id,
        external_id=msg.external_id,
        direction=msg.direction,
        kind=msg.kind,
        identity=res.identity,
        sender_name=msg.sender.name or res.identity.display_name,
        sent_at=msg.sent_at,
        subject=msg.subject,
        text=msg.text,
        full_text=msg.full_text or msg.text,
        html=msg.html,
        language=msg.language,
        auto_generated=msg.auto_generated,
        in_reply_to=msg.in_reply_to,
        redactions=[_asdict(r) for r in msg.redactions],
        entities=[_asdict(e) for e in msg.entities],
        triage=_asdict(msg.triage) if msg.triage else None,
        extra=_with_language_confidence(sealed_extra({**_jsonable(msg.extra), **({"auto_reason": msg.auto_reason} if msg.auto_reason else {})}, msg), msg),
        history=[],
        reactions=[],
        referral={**_asdict(msg.referral), "label": msg.referral.label} if msg.referral is not None else None,
        event_id=p.event_id,
    )
    s.add(row)
    if ctx is not None:
        ctx.stored_rows.append(row)
        if msg.external_id:
            ctx.stored.add((conn.id, msg.external_id))
    if lookups is not None:
        lookups.note_message(conn.id, msg.external_id, conv)
    _store_attachments(s, row, msg)
    _update_conversation(conv, msg)
    if msg.direction == "inbound":
        helpdesk = _helpdesk_for(s, rt, adapter, ctx)
        d = Delivery(message=row, conversation=conv, helpdesk_id=helpdesk.id, state=DeliveryState.PENDING)
        s.add(d)
        out.push_rows.append(d)  # flushed with the batch (or the event's savepoint)
    if msg.direction == "inbound" and not msg.auto_generated:
        def after() -> None:
            if res.created:  # triaged and language detected: the routing rules decide the team
                team_id = routing.route(s, conv, cache=ctx.routing if ctx is not None else None)
                if team_id is not None:
                    out.teams.add(team_id)
            elif res.reopened and conv.team_id is not None:
                conv.queued_at = now()  # a resolved conversation the customer reopened: a new wait (docs/teams.md)
                if conv.assignee_id is None:
                    out.teams.add(conv.team_id)
            ev = hooks.IngestEvent(s, rt, adapter, conv, row, msg, res.created, res.reopened)
            for hook in hooks.AFTER_INGEST:
                hook(ev)
            out.send += ev.send_reply_ids

        if defer:
            assert ctx is not None
            ctx.after.append(after)
        else:
            s.flush()
            after()
    return EventState.PROCESSED, None


def _store_attachments(s: Session, row: Message, msg: NormalizedMessage) -> None:
    for att in msg.attachments:
        s.add(
            AttachmentRow(
                message=row,
                filename=(att.filename or "attachment")[:512],
                content_type=att.content_type or "application/octet-stream",
                size=att.size,
                sha256=att.sha256,
                content_id=att.content_id,
                inline=att.inline,
                storage_key=att.storage_key,
                placeholder_reason=att.placeholder_reason,
                source_url=None if att.storage_key or not att.url else redact_text(att.url)[0],
            )
        )


def _update_conversation(conv: Conversation, msg: NormalizedMessage) -> None:
    if msg.sent_at and (conv.last_message_at is None or msg.sent_at >= conv.last_message_at):
        conv.last_message_at = msg.sent_at
    if msg.direction == "inbound" and not msg.auto_generated:
        conv.last_inbound_at = max(filter(None, [conv.last_inbound_at, msg.sent_at]))
    _update_language(conv, msg)
    if msg.triage:
        if PRIORITY_RANK.get(msg.triage.priority, 1) > PRIORITY_RANK.get(conv.priority, 1):
            conv.priority = msg.triage.priority
        if not conv.category or conv.category == "general_question":
            conv.category = msg.triage.category
        if msg.triage.security:
            conv.security_flag = True
    if msg.entities:
        known = {(e.get("kind"), e.get("value")) for e in conv.entities or []}
        merged = list(conv.entities or [])
        for e in msg.entities:
            if (e.kind, e.value) not in known:
                merged.append(_asdict(e))
                known.add((e.kind, e.value))
        conv.entities = merged


LANGUAGE_SWITCH_CONFIDENCE = 0.9
#: nor on fewer words than this: "ok merci", "thanks!", "5 - excellent service!" say too little to
#: move a German conversation (and its survey's thanks) to French or English
LANGUAGE_SWITCH_WORDS = 4


def _says_enough(msg: NormalizedMessage, confidence: float) -> bool:
    """Whether a message's detected language may replace a language already known."""
    from normalizers.language import evidence_words

    return confidence >= LANGUAGE_SWITCH_CONFIDENCE and evidence_words("\n".join(t for t in (msg.subject, msg.text) if t)) >= LANGUAGE_SWITCH_WORDS


def _update_language(conv: Conversation, msg: NormalizedMessage) -> None:
    """A language an agent confirmed (conversation, else contact) wins over detection; an
    unconfirmed conversation takes the first detected language and follows a later message
    only when that message's detection is confident and says enough (``_says_enough``)."""
    if msg.direction != "inbound" or (conv.extra or {}).get("language_confirmed"):
        return
    contact = conv.contact  # by relationship: a new conversation may not be flushed yet
    if contact is not None and contact.language and (contact.attrs or {}).get("language_confirmed"):
        conv.language = contact.language
        return
    confidence = float(msg.language_confidence or 0.0)
    if not conv.language:
        # a new conversation: the contact's earlier language is the prior — it wins over an
        # unsure detection of a short message ("ok", "STOP?", "no llega") and fills in when
        # detection said "unknown"
        earlier = contact.language if contact is not None else None
        if earlier and (not msg.language or (msg.language != earlier and confidence < LANGUAGE_SWITCH_CONFIDENCE)):
            conv.language = earlier
        elif msg.language:
            conv.language = msg.language
    elif msg.language and msg.language != conv.language and _says_enough(msg, confidence):
        conv.language = msg.language
    if contact is not None and conv.language and not (contact.attrs or {}).get("language_confirmed"):
        contact.language = conv.language  # learned (not confirmed): the prior of the contact's next conversation


def _helpdesk_for(s: Session, rt: Runtime, adapter: Any, ctx: BatchContext | None = None) -> Connector:
    name = getattr(adapter.config, "helpdesk", None) or rt.settings.default_helpdesk
    row = ctx.helpdesks.get(name) if ctx is not None else None
    if row is None:
        row = s.scalar(select(Connector).where(Connector.name == name))
        if ctx is not None and row is not None:
            ctx.helpdesks[name] = row
    if row is None or is_channel(row.kind):
        raise ConfigError(
            f"helpdesk connector {name!r} does not exist (set OMNIHUB_DEFAULT_HELPDESK or the channel's `helpdesk` key)"
        )
    return row


def _apply_command(s: Session, msg: NormalizedMessage, command: str, lookups: Any) -> tuple[str, str | None]:
    """An SMS-style keyword message (STOP / BAJA / ARRÊT, START / UNSTOP, HELP): the opt-out
    state of the sender's identity changes; no conversation is opened or reopened, so there
    is no acknowledgement, no SLA target and nothing in the needs-reply view."""
    ident = threads.resolve_identity(s, msg.sender, lookups)
    update = msg.identity_update
    if update is not None and update.opted_out is not None:
        _apply_identity_update(ident, update)  # the channel's own account of it (Twilio: OptOutType, the word, the date)
    elif command == "stop":
        word = (msg.text or "").strip()[:40] or "STOP"
        _apply_identity_update(ident, IdentityUpdate(opted_out=True, reason=f"The customer replied {word!r} on {msg.sent_at.date().isoformat()}"))
    elif command == "start":
        _apply_identity_update(ident, IdentityUpdate(opted_out=False))
    # the agent sees it: an entry in the timeline of the customer's latest conversation on this
    # identity (the conversation is not reopened, no SLA target, nothing to answer)
    latest = s.scalar(select(Conversation.id).where(Conversation.identity_id == ident.id).order_by(Conversation.id.desc()).limit(1))
    if latest is not None:
        s.add(ConversationEvent(conversation_id=latest, at=msg.sent_at, kind=f"command_{command}",
                                actor=(msg.sender.name or msg.sender.address)[:320],
                                details={"word": (msg.text or "").strip()[:40], "opted_out": ident.opted_out}))
    log.info("ingest.command", command=command, identity_id=ident.id, medium=msg.medium)
    return EventState.PROCESSED, None


def _apply_identity_update(ident: Identity, update: IdentityUpdate) -> None:
    if update.opted_out is not None:
        ident.opted_out = bool(update.opted_out)
        ident.opt_out_reason = (update.reason or None) if ident.opted_out else None
        ident.opted_out_at = now() if ident.opted_out else None


def _apply_watermark(s: Session, conn: Connector, msg: NormalizedMessage) -> None:
    """A delivery / read watermark (Messenger): every reply of the thread sent at or before
    it moves forward to that state (never back, never out of a failure)."""
    assert msg.status is not None
    status = msg.status.status.lower()
    if status not in REPLY_RANK:
        return
    rank = REPLY_RANK[ReplyState(status)]
    convs = select(Conversation.id).where(Conversation.connector_id == conn.id, Conversation.thread_key == msg.thread_key)
    rows = s.scalars(
        select(Reply).where(Reply.conversation_id.in_(convs), Reply.sent_at.is_not(None), Reply.sent_at <= msg.sent_at,
                            Reply.state.in_(tuple(st for st in REPLY_RANK if REPLY_RANK[ReplyState.SENT] <= REPLY_RANK[st] < rank)))
        .order_by(Reply.id.desc()).limit(500)
    ).all()
    for reply in rows:
        detail = dict(reply.status_detail or {})
        detail["history"] = [*detail.get("history", []), {"status": status, "at": msg.sent_at.isoformat(), "watermark": True}]
        reply.status_detail = detail
        reply.state = ReplyState(status)


def _apply_status(s: Session, conn: Connector, msg: NormalizedMessage) -> None:
    if msg.status is not None and msg.status.watermark:
        _apply_watermark(s, conn, msg)
        return
    ref = msg.in_reply_to
    if not ref:
        return
    reply = _reply_by_provider_id(s, conn, ref)
    if reply is None:
        return
    report = msg.status
    if report is None:
        return
    status = report.status.lower()
    detail = dict(reply.status_detail or {})
    history = list(detail.get("history", []))
    errors = {k: v for k, v in (("error_code", report.error_code), ("error_message", report.error_message)) if v}
    history.append({"status": status, "at": msg.sent_at.isoformat(), "part": ref, **errors})
    detail["history"] = history
    reply.status_detail = detail
    current = ReplyState(reply.state)
    if status in TERMINAL_FAILURES and current in (ReplyState.DELIVERED, ReplyState.READ):
        pass  # the customer has it: a failure reported after that is kept in the history only
    elif status in TERMINAL_FAILURES:
        reply.state = ReplyState(status)
        reply.last_error = report.error_message or f"provider reported {status}" + (
            f" (error {report.error_code})" if report.error_code else ""
        )
        if report.permanent:  # sending the same reply again cannot deliver it: no Retry, this instead
            reply.status_detail = {**detail, "permanent": report.permanent}
    elif status in REPLY_RANK and current not in TERMINAL_FAILURES and REPLY_RANK[ReplyState(status)] > REPLY_RANK.get(current, -1):
        reply.state = ReplyState(status)  # forward only; out of a failure only by a new send (Retry)


def _bounce_sees_pending(s: Session, conn: Connector, token: str | None) -> bool:
    """Whether a change the session has not written yet could change what ``_apply_bounce``'s
    queries find: a reply added, changed or deleted, or a conversation that has (or had, or is
    given) this connector's ``token``. Its queries read only the replies and conversations
    tables, so when nothing of that is pending, the autoflush before each of them (which
    writes the whole batch's rows so far, a flush per bounce: P2R profile, ~1 ms a message)
    changes no answer and is skipped; otherwise it runs as always."""
    for obj in (*s.new, *s.deleted):
        if isinstance(obj, Reply):
            return True
        if isinstance(obj, Conversation) and token and obj.connector_id == conn.id and obj.token == token:
            return True
    for obj in s.dirty:
        if isinstance(obj, Reply):
            return True
        if isinstance(obj, Conversation) and token:
            attrs = inspect(obj).attrs
            if attrs.token.history.has_changes() or attrs.connector_id.history.has_changes():
                return True
    return False


def _apply_bounce(s: Session, conn: Connector, bounce: Bounce) -> None:
    """A bounce names one of our replies: by Message-ID (any the bounce quotes; only ours
    match a reply), else by our conversation token (that conversation's last sent reply)."""
    if _bounce_sees_pending(s, conn, str(bounce.token) if bounce.token else None):
        _find_bounced(s, conn, bounce)
    else:
        with s.no_autoflush:
            _find_bounced(s, conn, bounce)


def _find_bounced(s: Session, conn: Connector, bounce: Bounce) -> None:
    ids = [x for x in [bounce.message_id, *bounce.candidates] if x]
    reply = None
    if ids:
        reply = s.scalar(
            select(Reply).where(Reply.connector_id == conn.id, Reply.external_id.in_(list(dict.fromkeys(ids))[:50]))
            .order_by(Reply.id.desc()).limit(1)
        )
    token = bounce.token
    if reply is None and token:
        conv = s.scalar(select(Conversation).where(Conversation.connector_id == conn.id, Conversation.token == str(token)))
        if conv is not None:
            reply = s.scalar(
                select(Reply).where(Reply.conversation_id == conv.id, Reply.state.in_((ReplyState.SENT, ReplyState.DELIVERED, ReplyState.SENDING)))
                .order_by(Reply.id.desc()).limit(1)
            )
    if reply is not None:
        reply.state = ReplyState.FAILED
        reply.last_error = f"bounced: {bounce.reason or 'delivery failed'}"[:2000]
        if _ADDRESS_FAILURE.search(bounce.reason or ""):
            # the address does not exist: sending the same reply again cannot help (no Retry,
            # and a replay leaves it out unless asked), unlike a full mailbox or a policy refusal
            reply.status_detail = {**(reply.status_detail or {}), "permanent": "the address does not exist (bounced)"}
        log.info("reply.bounced", reply_id=reply.id, conversation_id=reply.conversation_id)


#: a bounce that says the recipient address does not exist (RFC 3463 X.1.x, and the words MTAs use)
_ADDRESS_FAILURE = re.compile(
    r"\b5\.1\.\d{1,3}\b|user unknown|unknown user|no such (?:user|recipient|mailbox)|recipient ?not ?found|address not found|"
    r"does not exist|invalid recipient|mailbox not found|unrouteable address|recipient address rejected",
    re.IGNORECASE,
)


# ---------------------------------------------------------------------- agent replies
def store_agent_replies(s: Session, rt: Runtime, p: Prepared, out: Outcome) -> tuple[str, str | None]:
    intel.install()
    handled = 0
    reasons = []
    for ar in p.agent_replies:
        link = s.scalar(
            select(HelpdeskLink).where(HelpdeskLink.helpdesk_id == p.connector.id, HelpdeskLink.external_ref == str(ar.ticket_ref))
        )
        if link is None:
            reasons.append(f"no conversation linked to ticket {ar.ticket_ref!r}")
            continue
        conv = s.get_one(Conversation, link.conversation_id)
        echo = s.scalar(
            select(Delivery.id).where(Delivery.helpdesk_id == p.connector.id, Delivery.external_ref == str(ar.external_id))
        )
        if echo is not None:
            continue  # the helpdesk echoing a comment we pushed: never send it back out
        source = f"helpdesk:{p.connector.name}"
        exists = s.scalar(
            select(Reply.id).where(Reply.conversation_id == conv.id, Reply.source == source, Reply.source_ref == str(ar.external_id))
        )
        if exists is None and (ar.text or ar.html or ar.attachments):
            reply = Reply(
                conversation_id=conv.id,
                connector_id=conv.connector_id,
                author_name=ar.author_name or "",
                kind="note" if ar.internal else "reply",
                text=ar.text,
                html=ar.html,
                options={},
                state=ReplyState.NOTE if ar.internal else ReplyState.PENDING,
                source=source,
                source_ref=str(ar.external_id),
                status_detail={},
            )
            s.add(reply)
            s.flush()
            if not ar.internal:
                out.send.append(reply.id)
        if ar.status and ar.status != conv.status:
            conv.status = ar.status
            if conv.team_id is not None:  # capacity may have freed up
                out.teams.add(conv.team_id)
            if ar.status in CONVERSATION_DONE:
                conv.resolved_at = now()
            for hook in hooks.AFTER_UPDATE:  # same as a PATCH from the API (e.g. the CSAT survey)
                out.send += hook(s, rt, conv, {"status": ar.status}) or []
        handled += 1
    return (EventState.PROCESSED if handled or not reasons else EventState.IGNORED), "; ".join(reasons) or None


# ---------------------------------------------------------------------------- helpers
def _asdict(obj: Any) -> dict[str, Any]:
    import dataclasses

    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _jsonable(dataclasses.asdict(obj))
    return dict(obj)


def _jsonable(value: Any) -> Any:
    from normalizers.model import _to_jsonable

    return _to_jsonable(value)

