"""The data model (docs/how-it-works.md, "States")."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.db import Base
from hub.states import ConversationStatus, DeliveryState, EventState, ReplyState, check_sql

ID = BigInteger().with_variant(Integer, "sqlite")


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every database (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime stored")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def now() -> datetime:
    return datetime.now(UTC)


def _pk() -> Mapped[int]:
    return mapped_column(ID, primary_key=True, autoincrement=True)


class Connector(Base):
    __tablename__ = "connectors"
    id: Mapped[int] = _pk()
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # non-secret keys
    secrets: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # Fernet(JSON)
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # poll cursors, caches
    health: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)


class Contact(Base):
    __tablename__ = "contacts"
    id: Mapped[int] = _pk()
    name: Mapped[str] = mapped_column(String(255), default="")
    email: Mapped[str | None] = mapped_column(String(320), nullable=True, index=True)
    language: Mapped[str | None] = mapped_column(String(8), nullable=True)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), nullable=True)
    attrs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)
    identities: Mapped[list[Identity]] = relationship(back_populates="contact", foreign_keys="Identity.contact_id")


class Identity(Base):
    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("medium", "address", name="uq_identity_medium_address"),)
    id: Mapped[int] = _pk()
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    #: how the customer reaches us: a normalizers.model.Medium value (sms, whatsapp, email, …),
    #: not the connector kind (twilio, api, …)
    medium: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(320))
    #: E.164, for identities reached by phone (SMS, WhatsApp, voice): set by the normalizer
    phone: Mapped[str | None] = mapped_column(String(32), nullable=True)
    display_name: Mapped[str] = mapped_column(String(255), default="")
    verified_email: Mapped[str | None] = mapped_column(String(320), nullable=True, index=True)
    opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    opt_out_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    attrs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    contact: Mapped[Contact] = relationship(back_populates="identities", foreign_keys=[contact_id])


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("oidc_subject", name="uq_users_oidc_subject"),)
    id: Mapped[int] = _pk()
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    role: Mapped[str] = mapped_column(String(16), default="agent")  # admin | agent
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: the OpenID provider's ``sub`` for this user (hub.oidc): SSO sign-ins find the user by it
    oidc_subject: Mapped[str | None] = mapped_column(String(255), nullable=True)
    #: TOTP secret (Fernet, hub.totp); set at enrolment, active once ``totp_enabled_at`` is set
    totp_secret: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: the last TOTP time step accepted: a code of that step or an earlier one is never taken again
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class RecoveryCode(Base):
    """A one-time two-factor recovery code: only its SHA-256 is stored; ``used_at`` once spent."""

    __tablename__ = "recovery_codes"
    __table_args__ = (UniqueConstraint("user_id", "code_hash", name="uq_recovery_user_hash"),)
    id: Mapped[int] = _pk()
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = _pk()
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    user: Mapped[User] = relationship()


class WebSession(Base):
    """A browser login session; the cookie carries the random id, the table only its SHA-256."""

    __tablename__ = "web_sessions"
    id: Mapped[int] = _pk()
    id_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        CheckConstraint(check_sql("status", ConversationStatus), name="ck_conversations_status"),
        Index("ix_conversations_thread", "connector_id", "thread_key"),
        Index("ix_conversations_status_last", "status", "last_message_at"),
        Index("ix_conversations_created", "created_at", "id"),  # date ranges, keyset (hub.exports)
        Index("ix_conversations_last_id", "last_message_at", "id"),  # the list over every status, keyset
        # the inbox's "waiting longest" order (hub.web.inbox._sort_keys), keyset
        Index("ix_conversations_waiting", func.coalesce(text("last_inbound_at"), text("last_message_at")), "id"),
    )
    id: Mapped[int] = _pk()
    connector_id: Mapped[int] = mapped_column(ForeignKey("connectors.id"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id"), index=True)  # search: a matching identity's conversations
    thread_key: Mapped[str] = mapped_column(String(512))
    token: Mapped[str] = mapped_column(String(32), unique=True)  # for email plus-addresses / subjects
    subject: Mapped[str] = mapped_column(String(998), default="")
    status: Mapped[str] = mapped_column(String(16), default=ConversationStatus.OPEN.value)  # open|pending|snoozed|resolved|closed
    priority: Mapped[str] = mapped_column(String(16), default="normal")  # low|normal|high|urgent
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True, index=True)
    #: the team whose queue the conversation is in (hub.routing, at ingest; or an agent)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", name="fk_conversations_team_id"), nullable=True, index=True)
    #: since when it waits for an agent in its team's queue (oldest first); None once assigned
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    category: Mapped[str | None] = mapped_column(String(64), nullable=True)
    language: Mapped[str | None] = mapped_column(String(8), nullable=True)
    security_flag: Mapped[bool] = mapped_column(Boolean, default=False)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    entities: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    sla: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    snoozed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_message_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    last_inbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)
    connector: Mapped[Connector] = relationship()
    contact: Mapped[Contact] = relationship()
    identity: Mapped[Identity] = relationship()
    assignee: Mapped[User | None] = relationship()


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (UniqueConstraint("connector_id", "external_id", name="uq_message_connector_external"),)
    id: Mapped[int] = _pk()
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    connector_id: Mapped[int] = mapped_column(ForeignKey("connectors.id"))
    external_id: Mapped[str] = mapped_column(String(512))
    direction: Mapped[str] = mapped_column(String(8), default="inbound")
    kind: Mapped[str] = mapped_column(String(16), default="message")
    identity_id: Mapped[int | None] = mapped_column(ForeignKey("identities.id"), nullable=True)
    sender_name: Mapped[str] = mapped_column(String(255), default="")
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    subject: Mapped[str] = mapped_column(String(998), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    full_text: Mapped[str] = mapped_column(Text, default="")
    html: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str | None] = mapped_column(String(8), nullable=True)
    auto_generated: Mapped[bool] = mapped_column(Boolean, default=False)
    in_reply_to: Mapped[str | None] = mapped_column(String(512), nullable=True)
    redactions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    entities: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    triage: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    #: emoji reactions to this message: [{"by", "name", "emoji", "at"}], one per reacting person
    reactions: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True, default=list)
    #: the ad, link or story that brought the customer (NormalizedMessage.referral), or None
    referral: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_events.id"), nullable=True)
    attachments: Mapped[list[AttachmentRow]] = relationship(
        back_populates="message", order_by="AttachmentRow.id", foreign_keys="AttachmentRow.message_id"
    )
    #: many-to-one links, so ingest can add a message of a conversation (and identity) that is
    #: not written yet: the batch's rows are then written by one flush (workers/ingest.py)
    conversation: Mapped[Conversation] = relationship(foreign_keys=[conversation_id])
    identity: Mapped[Identity | None] = relationship(foreign_keys=[identity_id])


class AttachmentRow(Base):
    __tablename__ = "attachments"
    id: Mapped[int] = _pk()
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), nullable=True, index=True)
    reply_id: Mapped[int | None] = mapped_column(ForeignKey("replies.id"), nullable=True, index=True)
    filename: Mapped[str] = mapped_column(String(512))
    content_type: Mapped[str] = mapped_column(String(255), default="application/octet-stream")
    size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    content_id: Mapped[str | None] = mapped_column(String(512), nullable=True)
    inline: Mapped[bool] = mapped_column(Boolean, default=False)
    storage_key: Mapped[str | None] = mapped_column(String(512), nullable=True)
    placeholder_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    source_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    message: Mapped[Message | None] = relationship(back_populates="attachments", foreign_keys=[message_id])


class InboundEvent(Base):
    """The journal: every inbound provider event, committed before it is queued or acked."""

    __tablename__ = "inbound_events"
    __table_args__ = (
        CheckConstraint(check_sql("state", EventState), name="ck_inbound_events_state"),
        UniqueConstraint("connector_id", "external_id", name="uq_event_connector_external"),
        Index("ix_events_state_due", "state", "next_attempt_at"),
    )
    id: Mapped[int] = _pk()
    connector_id: Mapped[int] = mapped_column(ForeignKey("connectors.id"))
    external_id: Mapped[str] = mapped_column(String(512))
    hook: Mapped[str] = mapped_column(String(64), default="")
    state: Mapped[str] = mapped_column(String(16), default=EventState.PENDING.value)  # pending|processed|ignored|quarantined
    payload: Mapped[bytes] = mapped_column(LargeBinary)  # Fernet(envelope); redacted once processed
    redacted: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class WebhookReplayKey(Base):
    """Digest of a webhook signature that covers no timestamp (Twilio, X, Help Scout, Zammad):
    a second request carrying the same signature is a duplicate and stores nothing (docs/security.md)."""

    __tablename__ = "webhook_replay_keys"
    __table_args__ = (UniqueConstraint("connector_id", "digest", name="uq_replay_connector_digest"),)
    id: Mapped[int] = _pk()
    connector_id: Mapped[int] = mapped_column(ForeignKey("connectors.id"))
    digest: Mapped[str] = mapped_column(String(64))  # sha256 hex of the signature
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class Delivery(Base):
    """Outbox of pushes to a helpdesk: one row per (message, helpdesk connector)."""

    __tablename__ = "deliveries"
    __table_args__ = (
        CheckConstraint(check_sql("state", DeliveryState), name="ck_deliveries_state"),
        UniqueConstraint("message_id", "helpdesk_id", name="uq_delivery_message_helpdesk"),
        Index("ix_deliveries_state_due", "state", "next_attempt_at"),
    )
    id: Mapped[int] = _pk()
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    helpdesk_id: Mapped[int] = mapped_column(ForeignKey("connectors.id"))
    state: Mapped[str] = mapped_column(String(16), default=DeliveryState.PENDING.value)  # pending|delivered|dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    external_ref: Mapped[str | None] = mapped_column(String(255), nullable=True)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: many-to-one links for ingest's one flush per batch (a delivery of a message not written yet)
    message: Mapped[Message] = relationship(foreign_keys=[message_id])
    conversation: Mapped[Conversation] = relationship(foreign_keys=[conversation_id])


class Reply(Base):
    """Outbox of replies to send on the customer's channel (also internal notes, never sent)."""

    __tablename__ = "replies"
    __table_args__ = (
        CheckConstraint(check_sql("state", ReplyState), name="ck_replies_state"),
        UniqueConstraint("conversation_id", "source", "source_ref", name="uq_reply_source"),
        Index("ix_replies_state_due", "state", "next_attempt_at"),
        Index("ix_replies_external", "connector_id", "external_id"),
    )
    id: Mapped[int] = _pk()
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    connector_id: Mapped[int] = mapped_column(ForeignKey("connectors.id"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    author_name: Mapped[str] = mapped_column(String(255), default="")
    kind: Mapped[str] = mapped_column(String(16), default="reply")  # reply | note | auto
    text: Mapped[str] = mapped_column(Text, default="")
    html: Mapped[str] = mapped_column(Text, default="")
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(16), default=ReplyState.PENDING.value)  # hub/states.py ReplyState
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    external_id: Mapped[str | None] = mapped_column(String(512), nullable=True)
    status_detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    source: Mapped[str] = mapped_column(String(64), default="api")
    source_ref: Mapped[str | None] = mapped_column(String(255), nullable=True)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: the customer's emoji reactions to this reply: [{"by", "name", "emoji", "at"}]
    reactions: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True, default=list)
    attachments: Mapped[list[AttachmentRow]] = relationship(foreign_keys="AttachmentRow.reply_id", order_by="AttachmentRow.id")


class HelpdeskLink(Base):
    __tablename__ = "helpdesk_links"
    __table_args__ = (
        UniqueConstraint("conversation_id", "helpdesk_id", name="uq_link_conversation_helpdesk"),
        Index("ix_links_ref", "helpdesk_id", "external_ref"),
    )
    id: Mapped[int] = _pk()
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    helpdesk_id: Mapped[int] = mapped_column(ForeignKey("connectors.id"))
    external_ref: Mapped[str] = mapped_column(String(255))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class AuditLog(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = _pk()
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, index=True)
    actor: Mapped[str] = mapped_column(String(320), default="system")
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32), default="")
    target_id: Mapped[str] = mapped_column(String(64), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: the client address of the request that caused the entry ("" outside a request)
    ip: Mapped[str] = mapped_column(String(64), default="")
    #: tamper evidence (hub.audit): SHA-256 of the previous entry and of this one
    prev_hash: Mapped[str] = mapped_column(String(64), default="")
    hash: Mapped[str] = mapped_column(String(64), default="")


class AuditHead(Base):
    """One row (id 1): the last entry of the audit chain. Appends lock it (SELECT ... FOR
    UPDATE on PostgreSQL) so two writers cannot both extend the same entry, and `omnihub
    audit verify` compares it with the last row, so a deleted tail is noticed too."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_id: Mapped[int] = mapped_column(ID, default=0)
    hash: Mapped[str] = mapped_column(String(64), default="")
    count: Mapped[int] = mapped_column(ID, default=0)


class RetentionPolicy(Base):
    """How long a connector's conversations, messages, attachments and journal rows are kept
    (hub.retention): older than ``days`` they are deleted or anonymized by the poller."""

    __tablename__ = "retention_policies"
    __table_args__ = (
        CheckConstraint("action IN ('delete', 'anonymize')", name="ck_retention_action"),
        CheckConstraint("days >= 1", name="ck_retention_days"),
    )
    id: Mapped[int] = _pk()
    connector_id: Mapped[int] = mapped_column(ForeignKey("connectors.id"), unique=True)
    days: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16), default="delete")  # delete | anonymize
    updated_by: Mapped[str] = mapped_column(String(320), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: the counts of the last run (hub.retention.Counts)
    last_result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class TicketRemoval(Base):
    """Outbox of helpdesk ticket removals asked for by a contact's erasure (hub.erasure): the
    poller calls the backend's ``erase_ticket`` and retries with backoff. Holds the ticket's
    reference only, never who it was about."""

    __tablename__ = "ticket_removals"
    __table_args__ = (
        CheckConstraint("state IN ('pending', 'done', 'dead', 'unsupported')", name="ck_ticket_removals_state"),
        UniqueConstraint("helpdesk_id", "external_ref", name="uq_ticket_removal_ref"),
        Index("ix_ticket_removals_state_due", "state", "next_attempt_at"),
    )
    id: Mapped[int] = _pk()
    helpdesk_id: Mapped[int] = mapped_column(ForeignKey("connectors.id"))
    external_ref: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending | done | dead | unsupported
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class EventSubscription(Base):
    """An admin's subscription of a URL to hub events (hub.events, docs/event-webhooks.md)."""

    __tablename__ = "event_subscriptions"
    id: Mapped[int] = _pk()
    url: Mapped[str] = mapped_column(String(2048))
    #: event types (hub.events.EVENT_TYPES) this URL receives
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: the signing secret, Fernet-sealed (hub.crypto.Box); shown once, when created or rotated
    secret: Mapped[bytes] = mapped_column(LargeBinary)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    description: Mapped[str] = mapped_column(String(255), default="")
    created_by: Mapped[str] = mapped_column(String(320), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)


class WebhookEvent(Base):
    """One hub event (conversation.created, message.created, ...): its JSON body, written in
    the transaction that made the change, sent to every subscription that wanted it."""

    __tablename__ = "webhook_events"
    id: Mapped[int] = _pk()
    type: Mapped[str] = mapped_column(String(64))
    conversation_id: Mapped[int | None] = mapped_column(ID, nullable=True, index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class EventDelivery(Base):
    """Outbox of event webhooks: one row per (event, subscription); retried with backoff, dead
    after the last attempt, replayable (the sweeper re-schedules pending rows like deliveries)."""

    __tablename__ = "event_deliveries"
    __table_args__ = (
        CheckConstraint(check_sql("state", DeliveryState), name="ck_event_deliveries_state"),
        UniqueConstraint("event_id", "subscription_id", name="uq_event_delivery_event_subscription"),
        Index("ix_event_deliveries_state_due", "state", "next_attempt_at"),
        Index("ix_event_deliveries_subscription", "subscription_id", "id"),
    )
    id: Mapped[int] = _pk()
    event_id: Mapped[int] = mapped_column(ForeignKey("webhook_events.id", ondelete="CASCADE"), index=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("event_subscriptions.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16), default=DeliveryState.PENDING.value)  # pending|delivered|dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_latency_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    replays: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class EventDeliveryAttempt(Base):
    """The delivery log: one row per POST of an event delivery (status code, latency, error)."""

    __tablename__ = "event_delivery_attempts"
    id: Mapped[int] = _pk()
    delivery_id: Mapped[int] = mapped_column(ForeignKey("event_deliveries.id", ondelete="CASCADE"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    latency_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    ok: Mapped[bool] = mapped_column(Boolean, default=False)


# ------------------------------------------------------------- teams, routing, assignment
class Team(Base):
    """A team of agents (docs/teams.md): routing rules send conversations to its queue; with
    ``assignment="auto"`` they are assigned round-robin among its available members."""

    __tablename__ = "teams"
    __table_args__ = (
        CheckConstraint("assignment IN ('manual', 'auto')", name="ck_teams_assignment"),
        # names are unique regardless of case (0400_team_names; hub.api checks first for a clear error)
        Index("uq_teams_name_lower", func.lower(text("name")), unique=True),
    )
    id: Mapped[int] = _pk()
    name: Mapped[str] = mapped_column(String(64), unique=True)
    assignment: Mapped[str] = mapped_column(String(16), default="manual")  # manual | auto
    #: the team of conversations that no routing rule matched (at most one team)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    #: round-robin counter: each automatic assignment takes the next number (hub.assignment)
    rr_seq: Mapped[int] = mapped_column(ID, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)
    members: Mapped[list[TeamMember]] = relationship(back_populates="team", order_by="TeamMember.id", cascade="all, delete-orphan")


class TeamMember(Base):
    __tablename__ = "team_members"
    __table_args__ = (
        UniqueConstraint("team_id", "user_id", name="uq_team_member"),
        CheckConstraint("capacity >= 0", name="ck_team_members_capacity"),
    )
    id: Mapped[int] = _pk()
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    #: most open conversations of this team assigned to the agent at once (automatic assignment)
    capacity: Mapped[int] = mapped_column(Integer, default=5)
    #: the team's ``rr_seq`` at this agent's last automatic assignment (lowest goes next)
    last_seq: Mapped[int] = mapped_column(ID, default=0)
    team: Mapped[Team] = relationship(back_populates="members")
    user: Mapped[User] = relationship()


class RoutingRule(Base):
    """Evaluated at ingest in ``position`` order; the first whose conditions all hold decides
    the team (and may set the priority and add tags). Conditions: hub.routing.Conditions."""

    __tablename__ = "routing_rules"
    __table_args__ = (Index("ix_routing_rules_position", "position", "id"),)
    id: Mapped[int] = _pk()
    position: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(120), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    conditions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    set_priority: Mapped[str | None] = mapped_column(String(16), nullable=True)
    add_tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)


class AgentStatus(Base):
    """An agent's availability, set in the inbox header (online | away | offline); an agent
    whose inbox made no request for OMNIHUB_AGENT_IDLE_SECONDS is set offline by the sweep."""

    __tablename__ = "agent_statuses"
    __table_args__ = (CheckConstraint("status IN ('online', 'away', 'offline')", name="ck_agent_statuses_status"),)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True, autoincrement=False)
    status: Mapped[str] = mapped_column(String(16), default="offline")
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    #: the agent's last sign of life (an inbox request, a status change)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class ConversationEvent(Base):
    """What happened to a conversation besides messages (routed to a team, assigned,
    unassigned, returned to the queue): shown in its timeline."""

    __tablename__ = "conversation_events"
    id: Mapped[int] = _pk()
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(320), default="system")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
