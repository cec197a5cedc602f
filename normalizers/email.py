"""email channel: raw RFC 822 bytes -> NormalizedMessage (pure: no I/O).

Real-world mail is hostile: wrong or missing charsets, raw 8-bit headers, RFC 2047 words
in odd places, broken boundaries, OLE2 ``.msg`` files passed off as mail. Every input
either normalizes or raises ``PayloadInvalid`` with a reason; nothing else escapes.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import email
import email.header
import email.message
import email.policy
import email.utils
import hashlib
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import nh3

from hub.errors import PayloadInvalid
from normalizers import bounces, quotes, robots
from normalizers.htmltext import html_to_text  # noqa: F401  (re-exported: the one conversion)
from normalizers.model import Attachment, Bounce, ConversationToken, Medium, NormalizedMessage, Participant

MEDIUM = Medium.EMAIL
#: The sender of null-sender mail (bounces without a usable From); ".invalid" never resolves (RFC 2606).
NULL_SENDER = "mailer-daemon@null-sender.invalid"

# Declared charsets -> the codec that really decodes what senders put under that label
# (WHATWG-style supersets: Outlook's "gb2312" is GBK, "iso-8859-1" is Windows-1252, ...).
_CHARSET_ALIASES = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "euc-cn": "gb18030",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "utf-8",
    "ascii": "utf-8",
    "ansi_x3.4-1968": "utf-8",
    "ansi-x3.4-1968": "utf-8",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "windows-31j": "cp932",
    "iso-2022-jp": "iso2022_jp_ext",
    "euc-kr": "cp949",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "big5": "big5hkscs",
    "tis-620": "cp874",
    "iso-8859-11": "cp874",
    "utf8": "utf-8",
    "unicode-1-1-utf-7": "utf-7",
}
_UNKNOWN_CHARSETS = {"", "x-unknown", "unknown", "unknown-8bit", "none", "default", "x-user-defined"}

_DAEMON_LOCALS = {"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon", "post_master"}
_TOKEN_ADDRESS = re.compile(r"^[^@+]+\+c([A-Za-z0-9_-]{1,64})@", re.IGNORECASE)
_TOKEN_SUBJECT = re.compile(r"\[#([A-Za-z0-9_-]{1,64})\]")
_MSGID = re.compile(r"<[^<>\s]+>")
_FORWARD_SUBJECT = re.compile(r"^\s*(?:\[[^\]]*\]\s*)?(?:fwd?|fw|wg|tr|rv|enc|doorst|vb|i)\s*:", re.IGNORECASE)
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_HEADER_LINE = re.compile(rb"^[!-9;-~]+:", re.MULTILINE)
_WS = re.compile(r"\s+")
#: raw 8-bit header bytes, surrogate-escaped by the parser
_ESCAPED_8BIT = re.compile("[\udc80-\udcff]")


def _has_8bit(text: str) -> bool:
    return not text.isascii() and _ESCAPED_8BIT.search(text) is not None


class _RawHeaders(email.policy.Compat32):
    """compat32, but header values come back as raw strings (8-bit bytes surrogate-escaped)
    instead of ``Header`` objects, so ``decode_header`` can guess their charset."""

    def header_fetch_parse(self, name: str, value: str) -> str:  # noqa: D102
        return value


_POLICY = _RawHeaders()


# --- public API -----------------------------------------------------------------------


_MESSAGE_ID_HEADER = re.compile(rb"^message-id[ \t]*:[ \t]*((?:.*)(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)


def external_id_for(raw: bytes) -> str:
    """The journal key of a raw message: its Message-ID, or sha256 of the bytes without one.

    Same answer as ``normalize(raw)[0].external_id``, without parsing the message (the
    poller calls this for every fetched message).
    """
    end = raw.find(b"\r\n\r\n")
    end_lf = raw.find(b"\n\n")
    ends = [e for e in (end, end_lf) if e >= 0]
    head = raw[: min(ends)] if ends else raw
    found = _MESSAGE_ID_HEADER.search(head)
    if found:
        value = found.group(1)
        if b"=?" not in value and all(b < 0x80 for b in value):
            text = value.decode("ascii")
            msgid = _MSGID.search(text)
            if msgid:
                return msgid.group(0)
        else:
            mid = _message_id(value.decode("ascii", "surrogateescape"))
            if mid:
                return mid
        # an odd value: let the full header parser decide, as normalize() does
        try:
            parsed = email.message_from_bytes(head + b"\n\n", policy=_POLICY)
            mid = _message_id(parsed.get("Message-ID"))
        except Exception:  # noqa: BLE001 - a header block we cannot parse has no usable id
            mid = None
        if mid:
            return mid
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def normalize(
    raw: bytes,
    *,
    connector: str,
    max_attachment_bytes: int = 25 * 1024 * 1024,
    received_at: datetime | None = None,
    extra: dict[str, Any] | None = None,
) -> list[NormalizedMessage]:
    """Parse one RFC 822 message. Raises PayloadInvalid (with the reason) when it is not mail."""
    try:
        return [_normalize(raw, connector, max_attachment_bytes, received_at, extra or {})]
    except PayloadInvalid:
        raise
    except (RecursionError, MemoryError) as exc:
        raise PayloadInvalid(f"email: message too deeply nested or too large to parse ({exc.__class__.__name__})") from None
    except Exception as exc:  # noqa: BLE001 - boundary: a parser bug on hostile input is a quarantine reason
        raise PayloadInvalid(f"email: unparseable message ({exc.__class__.__name__}: {str(exc)[:200]})") from None


# --- charset helpers --------------------------------------------------------------------


def codec_for(charset: str | None) -> str | None:
    """The Python codec for a declared charset, or None when unknown/absent."""
    if not charset:
        return None
    name = charset.strip().strip('"').strip("'").lower()
    if name in _UNKNOWN_CHARSETS:
        return None
    name = _CHARSET_ALIASES.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode_bytes(data: bytes, charset: str | None = None, fallback: str | None = None) -> str:
    """Decode text bytes: declared charset, then UTF-8, then the fallback, then Windows-1252."""
    codec = codec_for(charset)
    if codec and codec != "utf-8":
        try:
            return data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    for name in (codec, codec_for(fallback), "cp1252"):
        if name:
            try:
                return data.decode(name)
            except (UnicodeDecodeError, LookupError):
                continue
    return data.decode(codec or "cp1252", errors="replace")


def decode_header(value: Any, fallback: str | None = None) -> str:
    """A header value as text: raw 8-bit bytes and RFC 2047 encoded words decoded."""
    if value is None:
        return ""
    if isinstance(value, email.header.Header):
        parts = email.header.decode_header(value)
    else:
        text = str(value)
        if _has_8bit(text):
            # raw 8-bit header bytes (surrogate-escaped by the parser): guess their charset
            text = _decode_8bit_header(text.encode("ascii", "surrogateescape"), fallback)
        if "=?" not in text:
            return _unfold(text)
        try:
            parts = email.header.decode_header(text)
        except (ValueError, IndexError, AssertionError):
            return _unfold(text)
    out = []
    for chunk, charset in parts:
        if isinstance(chunk, bytes):
            out.append(decode_bytes(chunk, charset, fallback))
        else:
            out.append(chunk)
    # decode_header drops the whitespace between an encoded word and plain text
    return _unfold(_join_words(out, parts))


_CJK_CODECS = {"gb18030", "big5hkscs", "cp932", "shift_jis", "euc_jp", "cp949", "euc_kr", "iso2022_jp_ext", "big5"}


def _decode_8bit_header(data: bytes, fallback: str | None) -> str:
    """Raw 8-bit header bytes: UTF-8 (RFC 6532) first, then the message's body charset."""
    text = decode_bytes(data, None, fallback)
    codec = codec_for(fallback)
    if codec in _CJK_CODECS and all(ord(ch) < 256 for ch in text):
        # UTF-8 mojibake of CJK bytes read as Latin-1 somewhere upstream: undo it
        try:
            return text.encode("latin-1").decode(codec)
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    return text


def _join_words(out: list[str], parts: list) -> str:
    if len(out) <= 1:
        return "".join(out)
    pieces: list[str] = []
    for i, (text, (_, charset)) in enumerate(zip(out, parts, strict=False)):
        prev_charset = parts[i - 1][1] if i else None
        if i and (charset is None) != (prev_charset is None) and not text.startswith(" ") and not pieces[-1].endswith(" "):
            pieces.append(" ")
        pieces.append(text)
    return "".join(pieces)


def _unfold(text: str) -> str:
    return _WS.sub(" ", text.replace("\r", "").replace("\n", " ")).strip()


# --- HTML ---------------------------------------------------------------------------------
# html_to_text (imported above) is the project's one HTML-to-text conversion.

def sanitize_html(markup: str) -> str:
    """HTML safe to show an agent: nh3 (ammonia) allow-list, no scripts, no event handlers."""
    # cid: stays so inline images can be mapped to their attachments (content_id)
    return nh3.clean(markup, link_rel="noopener noreferrer nofollow", url_schemes=set(nh3.ALLOWED_URL_SCHEMES) | {"cid"})


# --- the parse ------------------------------------------------------------------------------


def _message_id(value: Any) -> str | None:
    if value is None:
        return None
    text = decode_header(value)
    found = _MSGID.search(text)
    if found:
        return found.group(0)
    text = text.strip()
    if text and " " not in text and "@" in text:
        return f"<{text.strip('<>')}>"
    return None


def _message_ids(value: Any) -> list[str]:
    if value is None:
        return []
    return _MSGID.findall(decode_header(value))


def _addresses(msg: email.message.Message, name: str, fallback: str | None) -> list[Participant]:
    values = msg.get_all(name) or []
    out = []
    for raw in values:
        text = str(raw)
        if _has_8bit(text):
            text = _decode_8bit_header(text.encode("ascii", "surrogateescape"), fallback)
        text = text.replace("\r", " ").replace("\n", " ")
        for display, addr in email.utils.getaddresses([text]):
            addr = addr.strip().strip("<>").strip()
            if "@" not in addr:
                continue
            out.append(Participant(medium=MEDIUM, address=addr.lower(), name=decode_header(display, fallback).strip('"\' '),
                                   verified_email=addr.lower()))  # the address is the identity itself
    return out


def _parse_date(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(decode_header(value))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    try:
        when.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
    return when


def _first_charset(msg: email.message.Message) -> str | None:
    for part in msg.walk():
        charset = part.get_param("charset")
        if isinstance(charset, tuple):
            charset = email.utils.collapse_rfc2231_value(charset)
        if charset and codec_for(str(charset)) not in (None, "utf-8"):
            return str(charset)
    return None


def _part_charset(part: email.message.Message) -> str | None:
    charset = part.get_param("charset")
    if isinstance(charset, tuple):
        charset = email.utils.collapse_rfc2231_value(charset)
    return str(charset) if charset else None


def _payload_bytes(part: email.message.Message) -> bytes:
    data = part.get_payload(decode=True)
    if data is None:
        payload = part.get_payload()
        if isinstance(payload, str):
            return payload.encode("ascii", "surrogateescape")
        return b""
    return data if isinstance(data, bytes) else b""


def _filename(part: email.message.Message, fallback: str | None) -> str | None:
    name = None
    try:
        name = part.get_filename()
    except (ValueError, LookupError, TypeError):
        name = None
    if name is None:
        raw = part.get_param("name")
        if isinstance(raw, tuple):
            raw = email.utils.collapse_rfc2231_value(raw)
        name = raw
    if not name:
        return None
    return decode_header(str(name), fallback).replace("/", "_").replace("\\", "_") or None


class _Body:
    def __init__(self) -> None:
        self.plain: list[str] = []
        self.html: list[str] = []
        self.attachments: list[Attachment] = []
        self.parts: list[str] = []
        self.delivery_status: list[email.message.Message] = []
        self.original_headers: list[email.message.Message] = []
        self.reports: list[tuple[str, str]] = []  # (content type, report-type) of every part


def _walk(msg: email.message.Message, body: _Body, fallback: str | None, limit: int, depth: int = 0) -> None:
    ctype = msg.get_content_type()
    body.parts.append(ctype)
    body.reports.append((ctype, str(msg.get_param("report-type") or "").strip().lower()))
    if depth > 50:
        raise PayloadInvalid("email: MIME structure nested more than 50 levels")
    if msg.is_multipart():
        children = msg.get_payload()
        if not isinstance(children, list):
            return
        if ctype == "message/rfc822" or ctype == "message/global":
            inner = children[0] if children else None
            if isinstance(inner, email.message.Message):
                if msg.get_param("report-type") is None and _inside_report(body):
                    body.original_headers.append(inner)
                _attach(body, msg, inner.as_bytes(policy=email.policy.compat32),
                        "message/rfc822", fallback, limit, default_name=(decode_header(inner.get("Subject"), fallback) or "message") + ".eml")
            return
        if ctype == "message/delivery-status":
            body.delivery_status.extend(c for c in children if isinstance(c, email.message.Message))
            return
        if ctype == "multipart/alternative":
            _walk_alternative(children, body, fallback, limit, depth)
            return
        for child in children:
            if isinstance(child, email.message.Message):
                _walk(child, body, fallback, limit, depth + 1)
        return
    disposition = (msg.get("Content-Disposition") or "").split(";")[0].strip().lower()
    filename = _filename(msg, fallback)
    if ctype.startswith("multipart/") and not filename:
        # a multipart without a usable boundary: its payload is the best text we have
        body.plain.append(decode_bytes(_payload_bytes(msg), _part_charset(msg), fallback))
        return
    if ctype in ("text/plain", "text/html") and disposition != "attachment" and not (filename and disposition == "inline" and ctype != "text/plain"):
        text = decode_bytes(_payload_bytes(msg), _part_charset(msg), fallback)
        (body.plain if ctype == "text/plain" else body.html).append(text)
        return
    if ctype in ("text/rfc822-headers", "message/rfc822-headers"):
        body.original_headers.append(email.message_from_bytes(_payload_bytes(msg), policy=_POLICY))
        return
    if ctype == "message/delivery-status":
        # some generators emit it as a single part: blocks separated by blank lines
        text = decode_bytes(_payload_bytes(msg), _part_charset(msg), fallback)
        for block in re.split(r"\r?\n\r?\n", text):
            if block.strip():
                body.delivery_status.append(email.message_from_string(block.strip() + "\n\n", policy=_POLICY))
        return
    _attach(body, msg, _payload_bytes(msg), ctype, fallback, limit, default_name=None)


def _inside_report(body: _Body) -> bool:
    return "multipart/report" in body.parts


def _walk_alternative(children: list, body: _Body, fallback: str | None, limit: int, depth: int) -> None:
    # keep the best text/plain and the best text/html; other alternatives are attachments
    plain_before, html_before = len(body.plain), len(body.html)
    for child in children:
        if not isinstance(child, email.message.Message):
            continue
        sub = _Body()
        _walk(child, sub, fallback, limit, depth + 1)
        body.parts.extend(sub.parts)
        if sub.plain and len(body.plain) == plain_before:
            body.plain.extend(sub.plain)
        elif sub.plain:
            body.plain[plain_before:] = sub.plain  # a later alternative is preferred
        if sub.html:
            body.html[html_before:] = sub.html
        body.attachments.extend(sub.attachments)
        body.delivery_status.extend(sub.delivery_status)
        body.original_headers.extend(sub.original_headers)
        body.reports.extend(sub.reports)


def _attach(body: _Body, part: email.message.Message, data: bytes, ctype: str, fallback: str | None, limit: int, default_name: str | None) -> None:
    filename = _filename(part, fallback) or default_name
    content_id = part.get("Content-ID")
    cid = decode_header(content_id).strip().strip("<>") if content_id else None
    disposition = (part.get("Content-Disposition") or "").split(";")[0].strip().lower()
    inline = bool(cid) and disposition != "attachment"
    if not filename:
        ext = {"image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif", "application/pdf": ".pdf"}.get(ctype, ".bin")
        filename = f"{'inline' if inline else 'attachment'}-{len(body.attachments) + 1}{ext}"
    size = len(data)
    digest = hashlib.sha256(data).hexdigest()
    if size > limit:
        body.attachments.append(
            Attachment(
                filename=filename, content_type=ctype, size=size, sha256=digest, content_id=cid, inline=inline,
                placeholder_reason=f"attachment is {size} bytes, over the {limit}-byte limit",
            )
        )
        return
    body.attachments.append(
        Attachment(filename=filename, content_type=ctype, size=size, sha256=digest, content=data, content_id=cid, inline=inline)
    )


def _looks_like_mail(raw: bytes) -> None:
    if not raw or not raw.strip():
        raise PayloadInvalid("email: empty message")
    if raw.startswith(_OLE2):
        raise PayloadInvalid("email: an Outlook .msg (OLE2 binary) file, not an RFC 822 message")
    head = raw.lstrip()[:4096]
    if head.startswith(b"From ") or _HEADER_LINE.match(head):
        return
    raise PayloadInvalid("email: does not start with a header block (not an RFC 822 message)")


def _dsn(body: _Body, report_type: str, human_text: str) -> dict[str, Any]:
    """Per-recipient fields of a delivery status notification (RFC 3464) and the bounced id."""
    out: dict[str, Any] = {}
    reasons, statuses, recipients, actions = [], [], [], []
    for block in body.delivery_status:
        action = (block.get("Action") or "").strip().lower()
        status = (block.get("Status") or "").strip()
        diag = decode_header(block.get("Diagnostic-Code") or "")
        rcpt = decode_header(block.get("Final-Recipient") or block.get("Original-Recipient") or "")
        if not (action or status or rcpt):
            continue  # the per-message block (Reporting-MTA, Arrival-Date)
        actions.append(action)
        statuses.append(status)
        recipients.append(rcpt.split(";", 1)[-1].strip())
        if diag:
            reasons.append(diag.split(";", 1)[-1].strip() if ";" in diag[:12] else diag)
        elif status:
            reasons.append(f"status {status}")
    if actions:
        out["bounce_action"] = "failed" if "failed" in actions else actions[0]
        out["bounce_status"] = next((s for s in statuses if s), "")
        out["bounce_recipients"] = [r for r in recipients if r]
    # a DSN whose recipients were all only delayed/delivered/relayed is not a failure
    transient = {"delayed", "delivered", "relayed", "expanded"}
    is_dsn = report_type == "delivery-status" or bool(actions)
    failed = is_dsn and (
        "failed" in actions
        or any(s.startswith("5") for s in statuses)
        or (not any(a for a in actions) and not any(s.startswith("4") for s in statuses))
    ) and not (actions and all(a in transient for a in actions if a) and any(actions))
    out["_actions"] = [a for a in actions if a]
    out["_failed"] = bool(failed)
    out["_reason"] = "; ".join(dict.fromkeys(r for r in reasons if r))
    if failed:
        reason = "; ".join(dict.fromkeys(r for r in reasons if r))
        if not reason:
            reason = _WS.sub(" ", human_text).strip()[:300] or "delivery failed"
        out["bounce_reason"] = reason
        for headers in body.original_headers:
            mid = _message_id(headers.get("Message-ID"))
            if mid:
                out["bounce_for"] = mid
                break
    return out


def _auto_reason(msg: email.message.Message, subject: str, sender: Participant, ctype: str, dsn: dict[str, Any], body: _Body, null_sender: bool) -> str | None:
    report_type = str(msg.get_param("report-type") or "").lower()
    if robots.is_feedback_report(body.reports):
        return "feedback report (ARF)"
    if ctype == "multipart/report":
        return f"report ({report_type or 'unknown'})"
    if dsn.get("bounce_status") or dsn.get("bounce_recipients"):
        return "delivery status notification"
    if null_sender:
        return "null sender (bounce)"
    reason = robots.header_reason(msg.get)
    if reason:
        return reason
    return_paths = msg.get_all("Return-Path") or []
    if return_paths and all(str(v).strip() in ("<>", "") for v in return_paths):
        return "empty Return-Path"
    reason = robots.address_reason(sender.address)
    if reason:
        return reason
    if robots.subject_reason(subject):
        return "auto-reply subject"
    return None


def _null_return_path(msg: email.message.Message) -> bool:
    values = msg.get_all("Return-Path") or []
    return bool(values) and all(str(v).strip() in ("<>", "") for v in values)


def _haystack(raw: bytes, msg: email.message.Message, body: _Body) -> str:
    """Every decoded part of a message as one text (for the ids a bounce quotes), bounded."""
    # the body only: the top-level headers are the bounce's own (a customer's reply to our
    # token address is not a bounce because its To: carries the token)
    ends = [e + len(sep) for sep in (b"\r\n\r\n", b"\n\n") if (e := raw.find(sep)) >= 0]
    pieces = [raw[min(ends) if ends else len(raw):][:400_000].decode("utf-8", "replace")]
    for part in msg.walk():
        cte = str(part.get("Content-Transfer-Encoding") or "").strip().lower()
        if part.is_multipart():
            inner = part.get_payload()
            if cte == "base64" and part.get_content_maintype() == "message" and isinstance(inner, list) and inner \
                    and isinstance(inner[0], email.message.Message):
                # message/rfc822 sent base64-encoded (not allowed, but real MTAs do it)
                b64 = "".join(ln.strip() for ln in inner[0].as_string().splitlines() if re.fullmatch(r"[A-Za-z0-9+/=]+", ln.strip()))
                try:
                    pieces.append(base64.b64decode(b64 + "=" * (-len(b64) % 4))[:400_000].decode("utf-8", "replace"))
                except (ValueError, binascii.Error):
                    pass
            continue
        if cte in ("base64", "quoted-printable") and part.get_content_maintype() in ("text", "message"):
            data = part.get_payload(decode=True)
            if isinstance(data, bytes):
                pieces.append(data[:400_000].decode("utf-8", "replace"))
    for att in body.attachments:
        if att.content is not None and (att.content_type.startswith("message/") or att.content_type.startswith("text/")):
            pieces.append(att.content[:400_000].decode("utf-8", "replace"))
    return "\n".join(pieces)


def _conversation_token(msg: email.message.Message, subject: str, fallback: str | None,
                        addresses: Callable[[str], list[Participant]] | None = None) -> tuple[str | None, str | None]:
    for header in ("To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To", "Reply-To"):
        for p in (addresses(header) if addresses is not None else _addresses(msg, header, fallback)):
            m = _TOKEN_ADDRESS.match(p.address)
            if m:
                return m.group(1), "address"
    m = _TOKEN_SUBJECT.search(subject)
    if m and not _FORWARD_SUBJECT.match(subject):
        # a forwarded copy of our reply keeps "[#token]" in its subject but starts a new
        # conversation (a new sender); only replies carry the subject token across
        return m.group(1), "subject"
    return None, None


def _normalize(raw: bytes, connector: str, limit: int, received_at: datetime | None, extra_in: dict[str, Any]) -> NormalizedMessage:
    _looks_like_mail(raw)
    msg = email.message_from_bytes(raw, policy=_POLICY)
    if not msg.keys():
        raise PayloadInvalid("email: no headers")
    fallback = _first_charset(msg)
    parsed: dict[str, list[Participant]] = {}

    def addresses(name: str) -> list[Participant]:
        """``_addresses`` of one header, parsed once (To, Cc and Reply-To are read twice)."""
        found = parsed.get(name)
        if found is None:
            found = parsed[name] = _addresses(msg, name, fallback)
        return found

    senders = addresses("From") or addresses("Sender") or addresses("Reply-To")
    null_sender = False
    if not senders:
        senders = addresses("Return-Path")
    if not senders:
        # null-sender mail (Return-Path <>, "From: MAILER-DAEMON", no From at all) is a bounce:
        # processed, never rejected, so the message it names is still found
        null_sender = True
        shown = decode_header(msg.get("From"), fallback).strip() or "MAILER-DAEMON"
        senders = [Participant(medium=MEDIUM, address=NULL_SENDER, name=shown[:100])]
    sender = senders[0]
    subject = decode_header(msg.get("Subject"), fallback)
    message_id = _message_id(msg.get("Message-ID"))
    # the journal's key for these bytes (the poller computes it without parsing): one id per message
    external_id = external_id_for(raw)
    in_reply_to_all = _message_ids(msg.get("In-Reply-To"))
    references = tuple(dict.fromkeys(_message_ids(" ".join(str(v) for v in (msg.get_all("References") or [])))))
    in_reply_to = in_reply_to_all[-1] if in_reply_to_all else (references[-1] if references else None)
    root = references[0] if references else (in_reply_to or external_id)
    sent_at = _parse_date(msg.get("Date")) or received_at or datetime.now(UTC)

    body = _Body()
    _walk(msg, body, fallback, limit)
    ctype = msg.get_content_type()
    html_raw = "\n".join(body.html)
    html_clean = sanitize_html(html_raw) if html_raw else ""
    if body.plain:
        full_text = "\n\n".join(t.replace("\r\n", "\n").replace("\r", "\n") for t in body.plain)
    else:
        full_text = html_to_text(html_raw) if html_raw else ""
    full_text = full_text.strip("\n")
    parts = quotes.split(full_text)

    dsn = _dsn(body, str(msg.get_param("report-type") or "").lower() if ctype == "multipart/report" else "", full_text)
    auto_reason = _auto_reason(msg, subject, sender, ctype, dsn, body, null_sender)
    bounce = bounces.analyse(
        own_id=message_id, subject=subject, haystack=lambda: _haystack(raw, msg, body), human_text=full_text,
        null_sender=null_sender or _null_return_path(msg),
        daemon_sender=sender.address.split("@", 1)[0] in _DAEMON_LOCALS,
        failed_recipients=bool(str(msg.get("X-Failed-Recipients") or "").strip()),
        dsn_actions=dsn.get("_actions", []), dsn_failed=dsn.get("_failed", False), dsn_reason=dsn.get("_reason", ""),
        top_refs=in_reply_to_all + list(references),
    )
    if bounce.is_bounce and not auto_reason:
        auto_reason = "bounce"
    token, token_source = _conversation_token(msg, subject, fallback, addresses)

    extra: dict[str, Any] = dict(extra_in)
    extra["message_id"] = message_id
    in_reply_to_all = list(dict.fromkeys(in_reply_to_all))
    if len(in_reply_to_all) > 1:
        extra["in_reply_to_all"] = in_reply_to_all
    reply_to = addresses("Reply-To")
    if reply_to:
        extra["reply_to"] = [p.address for p in reply_to]
    cc = addresses("Cc")
    if cc:
        extra["cc"] = [p.address for p in cc]
    for name, key in (("List-Id", "list_id"), ("X-Mailer", "mailer"), ("User-Agent", "mailer"), ("Auto-Submitted", "auto_submitted"),
                      ("Content-Language", "content_language"), ("Accept-Language", "locale")):  # language priors
        value = msg.get(name)
        if value is not None and key not in extra:
            extra[key] = decode_header(value, fallback)[:500]
    if parts.quoted:
        extra["quoted_text"] = parts.quoted
    if parts.signature:
        extra["signature"] = parts.signature
    bounce_info = None
    if bounce.is_bounce and bounce.delayed:
        bounce_info = Bounce(delayed=True)
    elif bounce.is_bounce:
        first = dsn.get("bounce_for") or (bounce.candidates[0] if bounce.candidates else None)
        candidates = list(dict.fromkeys(([dsn["bounce_for"]] if dsn.get("bounce_for") else []) + bounce.candidates))
        bounce_info = Bounce(message_id=first, candidates=tuple(candidates), token=bounce.token or None,
                             reason=dsn.get("bounce_reason") or bounce.reason or "")
    for key in ("bounce_status", "bounce_recipients", "bounce_action"):
        if dsn.get(key):
            extra[key] = dsn[key]
    if message_id is None:
        extra["message_id_missing"] = True

    recipients = tuple(addresses("To") + cc)
    return NormalizedMessage(
        medium=MEDIUM,
        connector=connector,
        external_id=external_id,
        thread_key=f"{connector}:{root}",
        sender=sender,
        sent_at=sent_at,
        recipients=recipients,
        subject=subject,
        text=parts.body,
        full_text=full_text,
        html=html_clean,
        attachments=tuple(body.attachments),
        in_reply_to=in_reply_to,
        references=references,
        auto_generated=auto_reason is not None,
        auto_reason=auto_reason,
        bounce=bounce_info,
        conversation_token=ConversationToken(token, token_source or "address") if token else None,
        extra=extra,
    )

