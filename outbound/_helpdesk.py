"""Helpers shared by the helpdesk backends: our markers, the requester, bodies, HMAC checks.

Markers make pushes idempotent and let a backend recognise the helpdesk's echo of what we
pushed: the ticket carries ``omnihub-conversation-<id>`` (external id or tag) and every
comment ``omnihub-message-<id>`` (metadata where the API has it, else a one-line footer).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import html
import json
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import SecretStr

from hub.errors import PayloadInvalid, SignatureInvalid
from hub.types import ConversationInfo, PushItem
from normalizers import htmltext
from normalizers.triage import SECURITY_CATEGORIES

CONVERSATION_PREFIX = "omnihub-conversation-"
CONTACT_PREFIX = "omnihub-contact-"
MESSAGE_PREFIX = "omnihub-message-"
_MESSAGE_RE = re.compile(r"omnihub-message-(\d+)(?!\d)")


def conversation_key(item: PushItem) -> str:
    return f"{CONVERSATION_PREFIX}{item.conversation.id}"


def contact_key(item: PushItem) -> str:
    return f"{CONTACT_PREFIX}{item.contact.id}"


def message_key(item: PushItem) -> str:
    return f"{MESSAGE_PREFIX}{item.message_id}"


def marked_ids(text: str | None) -> set[str]:
    """Message ids of every omnihub marker found in ``text``."""
    return set(_MESSAGE_RE.findall(text or ""))


def has_marker(text: str | None, message_id: int | str) -> bool:
    return str(message_id) in marked_ids(text)


def is_ours(text: str | None) -> bool:
    """True when a helpdesk comment is the echo of something omnihub pushed."""
    return bool(_MESSAGE_RE.search(text or ""))


LABEL_PREFIX = "omnihub-"
#: prefixes of the labels ``labels()`` manages (a later push replaces stale ones, e.g. at-risk -> breached)
MANAGED_LABELS = ("omnihub-category-", "omnihub-priority-", "omnihub-lang-", "omnihub-sla-", "omnihub-entity-")
SECURITY_LABEL = "omnihub-security"
SLA_LABELS = {"sla-at-risk": "omnihub-sla-at-risk", "sla-breached": "omnihub-sla-breached"}
PRIORITIES = ("low", "normal", "high", "urgent")


def _slug(value: str) -> str:
    """Lower-case a-z, 0-9, "_" and "-" only: what every helpdesk keeps as one tag."""
    return re.sub(r"[^a-z0-9_-]+", "_", value.strip().lower()).strip("_")[:40]


def labels(conv: ConversationInfo) -> list[str]:
    """Stable helpdesk tags for the conversation's triage, SLA state and entity kinds, sorted.

    Never entity values: tags get lower-cased and length-limited (an address would be
    mangled); the values travel as text (``detected_line``).
    """
    out: set[str] = set()
    if conv.category:
        out.add(f"omnihub-category-{_slug(conv.category)}")
    if conv.priority in PRIORITIES:
        out.add(f"omnihub-priority-{conv.priority}")
    if conv.language and _slug(conv.language):
        out.add(f"omnihub-lang-{_slug(conv.language)[:8]}")
    tags = set(conv.tags or ())
    out.update(SLA_LABELS[t] for t in tags & set(SLA_LABELS))
    if conv.category in SECURITY_CATEGORIES or "security-urgent" in tags:
        out.add(SECURITY_LABEL)
    for e in conv.entities or ():
        kind = _slug(str(e.get("kind") or ""))
        if kind:
            out.add(f"omnihub-entity-{kind}")
    return sorted(out)


def is_label(tag: str) -> bool:
    """True for a tag ``labels()`` manages (never the conversation key or configured tags)."""
    return tag == SECURITY_LABEL or tag.startswith(MANAGED_LABELS)


def priority_for(conv: ConversationInfo, mapping: dict[str, Any]) -> Any:
    """The vendor's priority value for omnihub's (low/normal/high/urgent); unknown -> normal."""
    return mapping.get(conv.priority if conv.priority in mapping else "normal")


def priority_rank(priority: str | None) -> int:
    return PRIORITIES.index(priority) if priority in PRIORITIES else -1


_ENTITY_NAMES = {
    "btc_address": "BTC address",
    "evm_address": "EVM address",
    "tron_address": "TRON address",
    "solana_address": "Solana address",
    "tx_hash": "tx",
    "amount": "amount",
}


def detected_line(conv: ConversationInfo, limit: int = 10) -> str:
    """``Detected: BTC address bc1…, tx 0x… (ethereum)`` for the first push ("" without entities).

    The values are safe to show (redaction already ran); they travel as text, not tags.
    """
    parts = []
    for e in list(conv.entities or ())[:limit]:
        value = str(e.get("value") or "").strip()
        if not value:
            continue
        name = _ENTITY_NAMES.get(str(e.get("kind")), str(e.get("kind") or "entity").replace("_", " "))
        chain = e.get("chain")
        parts.append(f"{name} {value}" + (f" ({chain})" if chain and e.get("kind") in ("tx_hash", "evm_address") else ""))
    more = len(conv.entities or ()) - limit
    if more > 0:
        parts.append(f"and {more} more")
    return f"Detected: {', '.join(parts)}" if parts else ""


def with_detected(item: PushItem, text: str) -> str:
    line = detected_line(item.conversation) if item.is_first else ""
    return f"{text}\n\n{line}" if line else text


def footer(item: PushItem) -> str:
    return f"via omnihub · {item.conversation.medium} · {message_key(item)}"


def body_text(item: PushItem, *, with_footer: bool = True) -> str:
    text = with_detected(item, item.text or ("(attachment)" if item.attachments else "(empty message)"))
    return f"{text}\n\n-- \n{footer(item)}" if with_footer else text


def body_html(item: PushItem, *, with_footer: bool = True) -> str:
    """HTML body built from the redacted text (never from item.html: it is not redacted text)."""
    text = with_detected(item, item.text or ("(attachment)" if item.attachments else "(empty message)"))
    paragraphs = "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in text.split("\n\n"))
    if with_footer:
        paragraphs += f'<p style="color:#888;font-size:small">{html.escape(footer(item))}</p>'
    return paragraphs


def subject(item: PushItem, limit: int = 120) -> str:
    s = (item.conversation.subject or item.subject or "").strip()
    if not s:
        first = (item.text or "").strip().splitlines()[0] if (item.text or "").strip() else ""
        who = item.contact.name or item.sender.name or item.sender.address
        s = first[:80] or f"{item.conversation.medium} conversation with {who}"
    return s[:limit]


@dataclass(frozen=True)
class Requester:
    """The customer as a helpdesk sees it."""

    name: str
    email: str | None
    phone: str | None
    medium: str
    address: str
    external_id: str

    @property
    def first_last(self) -> tuple[str, str]:
        first, _, last = self.name.partition(" ")
        return first or self.name, last


def requester(item: PushItem) -> Requester:
    """Requester from the contact: email when known, else medium + address (+ the E.164 phone
    the normalizer found)."""
    ident = item.sender if item.direction == "inbound" else (item.contact.identities[0] if item.contact.identities else item.sender)
    address = ident.address
    email = item.contact.email or ident.verified_email
    phone = ident.phone
    name = item.contact.name or ident.name or email or phone or address
    return Requester(
        name=name[:255],
        email=email.lower() if email else None,
        phone=phone,
        medium=item.conversation.medium,
        address=address,
        external_id=contact_key(item),
    )


def secret_value(secret: SecretStr | None, who: str) -> str:
    """The webhook secret, or SignatureInvalid when none is configured (fail closed)."""
    value = secret.get_secret_value() if secret is not None else ""
    if not value:
        raise SignatureInvalid(f"{who}: no webhook secret configured; refusing unauthenticated agent replies")
    return value


def hmac_digest(secret: str, message: bytes, algorithm: str) -> bytes:
    return hmac.new(secret.encode(), message, getattr(hashlib, algorithm)).digest()


def check_equal(expected: str, provided: str | None, who: str, what: str) -> None:
    """Constant-time compare; SignatureInvalid naming the connector and header."""
    if not provided:
        raise SignatureInvalid(f"{who}: missing {what}")
    if not hmac.compare_digest(expected.encode(), provided.strip().encode()):
        raise SignatureInvalid(f"{who}: {what} does not match")


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def json_body(body: bytes, who: str) -> dict:
    """A webhook's JSON object body, or PayloadInvalid naming the connector."""
    try:
        data = json.loads(body)
    except ValueError:
        raise PayloadInvalid(f"{who}: webhook body is not JSON") from None
    if not isinstance(data, dict):
        raise PayloadInvalid(f"{who}: webhook body is not a JSON object")
    return data


def html_to_text(html_body: str) -> str:
    """Plain text of an agent's HTML body (normalizers.htmltext: no CSS or script text)."""
    return htmltext.html_to_text(html_body)


MB = 1024 * 1024


# ------------------------------------------------------------ per-delivery idempotency
#: Days a delivery's idempotency records (``attempt:<id>``, ``push:<id>``) stay in the
#: connector state. The core records a push's result seconds after it returns; the records
#: only have to outlive that delivery's retries (hours) and a prompt `omnihub replay`.
LEDGER_DAYS = 7
#: Seconds between two prunings of one connector's records by one process.
LEDGER_PRUNE_EVERY = 3600.0
_last_prune: dict[Any, float] = {}


class DeliveryLedger:
    """Idempotency for helpdesks without an idempotency key (Request Tracker,
    django-helpdesk), kept in the connector state, which every process shares:

    * ``result`` — the delivery was pushed: a retry returns this instead of pushing twice;
    * ``attempt`` — when a push that may have reached the helpdesk started: the retry first
      looks for what it may have created since then;
    * ``ticket`` — the ticket of the conversation, known before the core records its link.
    """

    def __init__(self, state: Any, item: PushItem) -> None:
        self.state = state
        self.item = item
        self._attempt_key = f"attempt:{item.delivery_id}"
        self._ticket_key = f"ticket:{item.conversation.id}"

    def result(self) -> dict[str, Any] | None:
        return self.state.get(f"push:{self.item.delivery_id}")

    def attempt(self) -> datetime | None:
        value = self.state.get(self._attempt_key)
        return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None

    def mark_attempt(self) -> None:
        self.state.set(self._attempt_key, _now().isoformat())

    def ticket(self) -> str | None:
        return self.item.ticket_ref or self.state.get(self._ticket_key)

    def set_ticket(self, ticket: str) -> None:
        self.state.set(self._ticket_key, ticket)

    def record(self, ticket: str, comment: str | None) -> None:
        """Remember the result, and now and then drop the records older than LEDGER_DAYS:
        without that, the connector state grew by two keys per message forever and every
        write rewrote all of them."""
        self.state.set(f"push:{self.item.delivery_id}", {"ticket": ticket, "comment": comment, "at": _now().isoformat()})
        key = getattr(self.state, "connector_id", id(self.state))
        t = time.monotonic()
        if t - _last_prune.get(key, -LEDGER_PRUNE_EVERY) >= LEDGER_PRUNE_EVERY:
            _last_prune[key] = t
            prune_ledger(self.state)


def prune_ledger(state: Any, now: datetime | None = None) -> int:
    """Remove ``push:``/``attempt:`` records older than LEDGER_DAYS (records written before
    they carried a time count as old). Returns how many were removed."""
    cutoff = (now or _now()) - timedelta(days=LEDGER_DAYS)
    old = []
    for key, value in list(state.items()):
        if not key.startswith(("push:", "attempt:")):
            continue
        stamp = value.get("at") if isinstance(value, dict) else value
        try:
            at = datetime.fromisoformat(stamp) if isinstance(stamp, str) else None
        except ValueError:
            at = None
        if at is None or (at if at.tzinfo else at.replace(tzinfo=UTC)) < cutoff:
            old.append(key)
    state.delete_many(old)
    return len(old)


def _now() -> datetime:
    return datetime.now(UTC)


def fit_attachments(item: PushItem, *, per_file: int | None, total: int | None, vendor: str) -> PushItem:
    """Leave out files over the helpdesk's limits, saying so in the text (never silently dropped).

    An over-limit file would make the whole push fail permanently; the message text still
    reaches the helpdesk and the file stays in omnihub.
    """
    kept, notes, used = [], [], 0
    for blob in item.attachments:
        if per_file and blob.size > per_file:
            notes.append(f"[attachment {blob.filename} ({blob.size / MB:.1f} MB) kept in omnihub: over {vendor}'s {per_file // MB} MB file limit]")
        elif total and used + blob.size > total:
            notes.append(f"[attachment {blob.filename} ({blob.size / MB:.1f} MB) kept in omnihub: over {vendor}'s {total // MB} MB limit per message]")
        else:
            kept.append(blob)
            used += blob.size
    if not notes:
        return item
    text = "\n\n".join(p for p in (item.text, "\n".join(notes)) if p)
    return dataclasses.replace(item, attachments=tuple(kept), text=text)
