"""Outgoing MIME: an agent reply -> an ``EmailMessage`` with threading headers.

Built with ``email.message.EmailMessage`` and ``policy.SMTP``: header values go through the
header registry (addresses as ``Address`` objects, no string concatenation), and CR/LF in
names and subjects are removed before they reach it, so a crafted name or subject cannot
add a header (``Bcc:``) or end the header block.
"""

from __future__ import annotations

import hashlib
import html as htmllib
import re
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from hub.errors import PermanentDeliveryError
from hub.types import OutboundReply

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_ADDR = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")
_TOKEN_SUBJECT = re.compile(r"\[#[A-Za-z0-9_-]+\]")
_REPLY_PREFIX = re.compile(r"^\s*(?:re|aw|sv|antw|r|rif|res|odp|vs)\s*:", re.IGNORECASE)
MAX_REFERENCES = 20


def one_line(value: str) -> str:
    """A header-safe single line: control characters (CR, LF, NUL, ...) become spaces."""
    return _CONTROL.sub(" ", value or "").strip()


def check_address(address: str, what: str) -> Address:
    """An ``Address`` for a bare addr-spec, or PermanentDeliveryError naming the problem."""
    addr = (address or "").strip()
    if not _ADDR.match(addr):
        raise PermanentDeliveryError(f"email: invalid {what} address {addr[:80]!r}")
    local, domain = addr.rsplit("@", 1)
    return Address(addr_spec=f"{local}@{domain}")


def domain_of(address: str) -> str:
    return address.rsplit("@", 1)[-1].lower()


def message_id_for(reply: OutboundReply, from_address: str, connector: str) -> str:
    """Message-ID at our domain, the same for every attempt of one reply (receivers dedupe a
    retried send). The conversation's random token makes it unique across databases, and no
    internal id or count is visible to the customer."""
    seed = f"{connector}\0{from_address}\0{conversation_token(reply)}\0{reply.id}"
    return f"<omnihub.{hashlib.sha256(seed.encode()).hexdigest()[:32]}@{domain_of(from_address)}>"


def conversation_token(reply: OutboundReply) -> str:
    """The conversation's token (the core's unguessable ``token``; its id as a fallback)."""
    token = str((reply.conversation_extra or {}).get("token") or reply.conversation_id)
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", token):
        raise PermanentDeliveryError(f"email: conversation token {token[:20]!r} is not usable in an address")
    return token.lower()


def token_address(from_address: str, token: str) -> str:
    """The Reply-To plus-address carrying the conversation token: support+c<token>@example.com."""
    local, domain = from_address.rsplit("@", 1)
    local = local.split("+", 1)[0]
    return f"{local}+c{token}@{domain}"


def reply_subject(subject: str, token: str, is_reply: bool) -> str:
    subject = one_line(subject) or "Your request"
    if is_reply and not _REPLY_PREFIX.match(subject):
        subject = f"Re: {subject}"
    if f"[#{token}]" not in subject:
        subject = f"{_TOKEN_SUBJECT.sub('', subject).strip()} [#{token}]"
    return subject


def text_to_html(text: str) -> str:
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    return "".join(f"<p>{htmllib.escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs) or "<p></p>"


def build_reply(
    reply: OutboundReply,
    *,
    connector: str,
    from_address: str,
    from_name: str = "",
    sanitize_html=None,
    now: datetime | None = None,
) -> EmailMessage:
    """The MIME message for an agent reply: text + HTML alternative + attachments."""
    sender = check_address(from_address, "from")
    to = check_address(reply.to.address, "recipient")
    msg = EmailMessage(policy=SMTP)
    msg["From"] = Address(display_name=one_line(from_name), addr_spec=sender.addr_spec)
    msg["To"] = Address(display_name=one_line(reply.to.name), addr_spec=to.addr_spec)
    token = conversation_token(reply)
    msg["Reply-To"] = Address(display_name=one_line(from_name), addr_spec=token_address(sender.addr_spec, token))
    msg["Subject"] = reply_subject(reply.subject, token, bool(reply.in_reply_to))
    msg["Date"] = format_datetime(now or datetime.now(UTC))
    msg["Message-ID"] = message_id_for(reply, sender.addr_spec, connector)
    parent = one_line(reply.in_reply_to) if reply.in_reply_to else ""
    parent = parent if re.fullmatch(r"<[^<>\s]+>", parent) else ""
    refs = [one_line(r) for r in dict.fromkeys(reply.references) if r]
    refs = [r for r in refs if re.fullmatch(r"<[^<>\s]+>", r) and r != parent]
    if parent:
        # we answer the customer's latest message: it is the parent, and last in References
        msg["In-Reply-To"] = parent
        refs.append(parent)
    if refs:
        # keep the root and the most recent ids (RFC 5322 3.6.4)
        kept = refs if len(refs) <= MAX_REFERENCES else [refs[0], *refs[-(MAX_REFERENCES - 1):]]
        msg["References"] = " ".join(kept)
    # loop safety (RFC 3834): automatic replies say so; ask Exchange not to answer any of ours
    # with an out-of-office or auto-reply
    if getattr(reply, "automatic", False) or (reply.options or {}).get("auto"):
        msg["Auto-Submitted"] = "auto-replied"
    msg["X-Auto-Response-Suppress"] = "OOF, AutoReply"
    msg.set_content(reply.text or "")
    html = reply.html
    if html and sanitize_html is not None:
        html = sanitize_html(html)
    msg.add_alternative(html or text_to_html(reply.text or ""), subtype="html")
    for blob in reply.attachments:
        maintype, _, subtype = (blob.content_type or "application/octet-stream").partition("/")
        msg.add_attachment(
            blob.read(),
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=one_line(blob.filename) or "attachment",
        )
    return msg
