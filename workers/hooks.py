"""Extension points run inside the ingest transaction (auto-acknowledgements, security
warnings, FAQ bot, SLA start). Each hook gets an ``IngestEvent`` and may add replies to send."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from hub.models import Conversation, Message
from hub.runtime import Runtime
from normalizers.model import NormalizedMessage


@dataclass
class IngestEvent:
    session: Session
    runtime: Runtime
    adapter: Any
    conversation: Conversation
    message: Message
    normalized: NormalizedMessage
    created: bool  # the message opened a new conversation
    reopened: bool
    send_reply_ids: list[int] = field(default_factory=list)


AfterIngest = Callable[[IngestEvent], None]

#: Called in order for every stored inbound message of kind message/voicemail/missed_call.
AFTER_INGEST: list[AfterIngest] = []

#: Called after an agent or the API changes a conversation: fn(session, runtime, conversation,
#: changes: dict) -> list of reply ids to send (e.g. a satisfaction survey on resolve).
AfterUpdate = Callable[[Session, Runtime, Conversation, dict], "list[int] | None"]
AFTER_UPDATE: list[AfterUpdate] = []

#: Periodic functions run by the poller: (name, interval seconds, fn(runtime)).
PERIODIC: list[tuple[str, float, Callable[[Runtime], object]]] = []
