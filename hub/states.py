"""Lifecycle states of the hub's rows, with the transitions allowed between them.

One module, so a state cannot drift: the code compares and assigns these members (a
``StrEnum`` member *is* its string, so stored values are plain text), and the database
refuses any other value (CHECK constraints, migration ``0200_states_checks``). Adapters may
import this module (it depends on nothing of the project).

Transitions are documented and checked where a row changes state (``allowed``); a change
that is not listed is a bug, not a new state.
"""

from __future__ import annotations

from enum import StrEnum


class EventState(StrEnum):
    """``inbound_events.state``: a journaled webhook or polled item."""

    PENDING = "pending"          # journaled, waiting for (or in) an ingest batch
    PROCESSED = "processed"      # normalized and stored (or a duplicate of something stored)
    IGNORED = "ignored"          # nothing to store (housekeeping, our own echo), with the reason
    QUARANTINED = "quarantined"  # malformed: kept with the reason, `omnihub replay` retries it


class DeliveryState(StrEnum):
    """``deliveries.state``: one message pushed to one helpdesk."""

    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"  # permanent error or retries exhausted; replayable


class TicketRemovalState(StrEnum):
    """``ticket_removals.state``: a helpdesk ticket an erasure asked the helpdesk to remove."""

    PENDING = "pending"          # waiting for (or between) attempts
    DONE = "done"                # removed (or already gone)
    DEAD = "dead"                # attempts exhausted or refused: remove it by hand
    UNSUPPORTED = "unsupported"  # the backend cannot delete tickets: remove it by hand


class ReplyState(StrEnum):
    """``replies.state``: an agent's (or the hub's) message to a customer, or a note."""

    PENDING = "pending"          # waiting to be sent (or for its retry)
    SENDING = "sending"          # claimed by a worker under a lease; the provider call is running
    QUEUED = "queued"            # accepted by the provider, not yet sent on (Twilio "queued")
    SENT = "sent"
    DELIVERED = "delivered"      # the provider's delivery receipt
    READ = "read"                # the provider's read receipt
    FAILED = "failed"            # not sent, with the reason (opted out, robot, outcome unknown, bounce)
    UNDELIVERED = "undelivered"  # the provider reported it could not deliver
    DEAD = "dead"                # retries exhausted or a permanent provider error; replayable
    NOTE = "note"                # an internal note: never sent


class ConversationStatus(StrEnum):
    """``conversations.status``."""

    OPEN = "open"
    PENDING = "pending"    # waiting on the customer
    SNOOZED = "snoozed"
    RESOLVED = "resolved"
    CLOSED = "closed"


EVENT_TRANSITIONS: dict[EventState, frozenset[EventState]] = {
    EventState.PENDING: frozenset({EventState.PROCESSED, EventState.IGNORED, EventState.QUARANTINED}),
    EventState.QUARANTINED: frozenset({EventState.PENDING}),  # replay
    EventState.PROCESSED: frozenset(),
    EventState.IGNORED: frozenset(),
}

DELIVERY_TRANSITIONS: dict[DeliveryState, frozenset[DeliveryState]] = {
    DeliveryState.PENDING: frozenset({DeliveryState.DELIVERED, DeliveryState.DEAD}),
    DeliveryState.DEAD: frozenset({DeliveryState.PENDING}),  # replay
    DeliveryState.DELIVERED: frozenset(),
}

_SENT_ON = frozenset({ReplyState.QUEUED, ReplyState.SENT, ReplyState.DELIVERED, ReplyState.READ,
                      ReplyState.FAILED, ReplyState.UNDELIVERED})
REPLY_TRANSITIONS: dict[ReplyState, frozenset[ReplyState]] = {
    # opted out / robot at claim time: failed without a send
    ReplyState.PENDING: frozenset({ReplyState.SENDING, ReplyState.FAILED}),
    # the provider's answer; an error goes back to pending (retry) or dead; an expired lease
    # fails ("outcome unknown") or, for an idempotent send, goes back to pending
    ReplyState.SENDING: frozenset({ReplyState.PENDING, ReplyState.DEAD, ReplyState.FAILED, ReplyState.QUEUED,
                                   ReplyState.SENT, ReplyState.DELIVERED, ReplyState.READ}),
    # receipts move forward; a bounce or failure receipt fails it
    ReplyState.QUEUED: _SENT_ON - {ReplyState.QUEUED},
    ReplyState.SENT: _SENT_ON - {ReplyState.QUEUED, ReplyState.SENT},
    ReplyState.DELIVERED: frozenset({ReplyState.READ, ReplyState.FAILED, ReplyState.UNDELIVERED}),
    ReplyState.READ: frozenset(),
    # an agent's retry or a replay
    ReplyState.FAILED: frozenset({ReplyState.PENDING}),
    ReplyState.UNDELIVERED: frozenset({ReplyState.PENDING}),
    ReplyState.DEAD: frozenset({ReplyState.PENDING}),
    ReplyState.NOTE: frozenset(),
}

#: provider receipts in order: a late "sent" never overwrites "delivered"
REPLY_PROGRESS: dict[ReplyState, int] = {
    ReplyState.PENDING: 0, ReplyState.SENDING: 1, ReplyState.QUEUED: 2, ReplyState.SENT: 3,
    ReplyState.DELIVERED: 4, ReplyState.READ: 5,
}
#: failures a provider reports after the send (status callbacks)
REPLY_FAILURES = frozenset({ReplyState.FAILED, ReplyState.UNDELIVERED})
#: failures an agent or a replay may send again
REPLY_RETRYABLE = frozenset({ReplyState.DEAD, ReplyState.FAILED, ReplyState.UNDELIVERED})
#: the reply reached the provider
REPLY_SENT = frozenset({ReplyState.QUEUED, ReplyState.SENT, ReplyState.DELIVERED, ReplyState.READ})
#: a conversation in these states is done
CONVERSATION_DONE = frozenset({ConversationStatus.RESOLVED, ConversationStatus.CLOSED})

#: ``last_error`` of a reply whose worker died during the provider call (lease expired)
OUTCOME_UNKNOWN = "outcome unknown: the worker stopped while sending"

#: table, column, enum: what the CHECK constraints enforce
CHECKED: tuple[tuple[str, str, type[StrEnum]], ...] = (
    ("inbound_events", "state", EventState),
    ("deliveries", "state", DeliveryState),
    ("replies", "state", ReplyState),
    ("conversations", "status", ConversationStatus),
)


def allowed(table: dict, old: StrEnum | str, new: StrEnum | str) -> bool:
    """True when ``old -> new`` is a listed transition of ``table`` (or no change)."""
    if old == new:
        return True
    return any(o == old and new in targets for o, targets in table.items())


def check_sql(column: str, enum: type[StrEnum]) -> str:
    """The CHECK expression for a state column."""
    values = ", ".join(f"'{m.value}'" for m in enum)
    return f"{column} IN ({values})"
