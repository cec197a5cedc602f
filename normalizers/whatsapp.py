"""whatsapp channel (WhatsApp Cloud API): one journaled webhook event -> NormalizedMessage.

Pure: no I/O. The adapter (``channels/whatsapp``) splits each delivery into one event per
message and per status, each a one-item copy of Meta's envelope (``split``); this module
turns such an event into a message. Field names follow the messages webhook reference
(https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/).

Addresses: the customer is ``whatsapp:+<E.164>`` on the medium ``whatsapp`` with ``phone``
set to the E.164 number (the same identity a Twilio WhatsApp connector gives that number, and
the number an SMS identity has). One open conversation per (customer, our phone number id):
``thread_key = "<connector>:whatsapp:+1555…>phone_number_id"``.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import phonenumbers

from hub.errors import PayloadInvalid
from normalizers.model import Attachment, DeliveryStatus, Medium, NormalizedMessage, Participant, Reaction, Referral

WHATSAPP = Medium.WHATSAPP
#: attachment URLs of WhatsApp media: the adapter resolves the id through the Graph media endpoint
MEDIA_SCHEME = "whatsapp-media:"
MEDIA_TYPES = ("image", "audio", "video", "document", "sticker")

# Meta's message status -> the hub's reply states
# (https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/status/)
STATUS_MAP: dict[str, str] = {
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "played": "read",  # a voice message was played
    "failed": "failed",
}

_EXT = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "audio/ogg": ".ogg", "audio/mpeg": ".mp3",
        "audio/aac": ".aac", "audio/amr": ".amr", "audio/mp4": ".m4a", "video/mp4": ".mp4", "video/3gpp": ".3gp",
        "application/pdf": ".pdf", "text/plain": ".txt"}


def e164(wa_id: str) -> str:
    """A wa_id (digits of an international number) as E.164; kept as given when it is not a number."""
    raw = (wa_id or "").strip()
    digits = raw.lstrip("+")
    if not digits.isdigit():
        return raw
    try:
        num = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return "+" + digits
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


def customer(wa_id: str, name: str = "") -> Participant:
    number = e164(wa_id)
    phone = number if number.startswith("+") else None
    return Participant(medium=WHATSAPP, address=f"whatsapp:{number}", name=name, phone=phone, extra={"wa_id": wa_id})


def business(metadata: Mapping[str, Any]) -> Participant:
    display = str(metadata.get("display_phone_number") or "")
    number = e164(display) if display else ""
    return Participant(medium=WHATSAPP, address=f"whatsapp:{number or metadata.get('phone_number_id', '')}",
                       phone=number or None, extra={"phone_number_id": str(metadata.get("phone_number_id") or "")})


def thread_key(connector: str, customer_address: str, phone_number_id: str) -> str:
    return f"{connector}:{customer_address}>{phone_number_id}"


def _obj(value: Any) -> dict[str, Any]:
    """value when it is a JSON object, else an empty one (a field of the wrong type)."""
    return value if isinstance(value, dict) else {}


def load(payload: bytes | str) -> dict[str, Any]:
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadInvalid(f"whatsapp: event is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise PayloadInvalid("whatsapp: event must be a JSON object")
    return data


# ------------------------------------------------------------------ splitting a delivery
def split(data: Mapping[str, Any], *, phone_number_id: str | None = None) -> list[tuple[str, str, dict[str, Any]]]:
    """A delivery -> [(external_id, event type, one-item envelope)] for every message and status.

    Messages are keyed by their wamid, statuses by ``<wamid>:<status>``. Changes for another
    phone number of the same app (``metadata.phone_number_id``) and fields other than
    ``messages`` are left out."""
    out: list[tuple[str, str, dict[str, Any]]] = []
    for entry in data.get("entry") or ():
        if not isinstance(entry, dict):
            raise PayloadInvalid("whatsapp: an entry is not an object")
        for change in entry.get("changes") or ():
            if not isinstance(change, dict) or change.get("field") != "messages":
                continue
            value = change.get("value")
            if not isinstance(value, dict):
                raise PayloadInvalid("whatsapp: a change has no value object")
            metadata = _obj(value.get("metadata"))
            if phone_number_id and str(metadata.get("phone_number_id") or "") not in ("", phone_number_id):
                continue
            contacts = [c for c in value.get("contacts") or () if isinstance(c, dict)]

            for msg in value.get("messages") or ():
                if not isinstance(msg, dict) or not msg.get("id"):
                    # kept as its own event, quarantined with the reason at ingest: the
                    # delivery's other messages are stored (each message is its own event)
                    item = msg if isinstance(msg, dict) else {"not_an_object": msg}
                    digest = hashlib.sha256(json.dumps(item, sort_keys=True, default=str).encode()).hexdigest()[:32]
                    out.append((f"invalid:{digest}", "invalid", _envelope(data, entry, value, "messages", item)))
                    continue
                sender = str(msg.get("from") or "")
                # the profile of THIS sender; another sender's name is never borrowed (a delivery
                # with one contact and no wa_id match keeps the name only when the sender is unknown)
                mine = [c for c in contacts if str(c.get("wa_id") or "") == sender] or ([] if sender else contacts[:1])
                out.append((str(msg["id"]), str(msg.get("type") or "unknown"), _envelope(data, entry, value, "messages", msg, {"contacts": mine})))
            for st in value.get("statuses") or ():
                if not isinstance(st, dict) or not st.get("id") or not st.get("status"):
                    item = st if isinstance(st, dict) else {"not_an_object": st}
                    digest = hashlib.sha256(json.dumps(item, sort_keys=True, default=str).encode()).hexdigest()[:32]
                    out.append((f"invalid:{digest}", "invalid", _envelope(data, entry, value, "statuses", item)))
                    continue
                out.append((f"{st['id']}:{st['status']}", "status", _envelope(data, entry, value, "statuses", st)))
    return out


def _envelope(data: Mapping[str, Any], entry: Mapping[str, Any], value: Mapping[str, Any], key: str,
              item: dict[str, Any], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Meta's envelope around one message or status (what one journaled event holds)."""
    v: dict[str, Any] = {"messaging_product": value.get("messaging_product", "whatsapp"), "metadata": value.get("metadata") or {}, key: [item]}
    v.update(extra or {})
    return {"object": data.get("object"), "entry": [{"id": entry.get("id"), "changes": [{"field": "messages", "value": v}]}]}


def _value(data: Mapping[str, Any]) -> dict[str, Any]:
    try:
        value = data["entry"][0]["changes"][0]["value"]
    except (KeyError, IndexError, TypeError):
        raise PayloadInvalid("whatsapp: event has no entry[0].changes[0].value") from None
    if not isinstance(value, dict):
        raise PayloadInvalid("whatsapp: value is not an object")
    return value


def _when(ts: Any, fallback: datetime) -> datetime:
    try:
        return datetime.fromtimestamp(int(str(ts)), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return fallback


def _filename(kind: str, media: Mapping[str, Any]) -> str:
    if media.get("filename"):
        return str(media["filename"])
    ctype = str(media.get("mime_type") or "application/octet-stream").split(";")[0].strip().lower()
    ext = _EXT.get(ctype) or mimetypes.guess_extension(ctype) or ""
    stem = "voice-note" if kind == "audio" and media.get("voice") else kind
    return f"{stem}-{media.get('id', 'media')}{ext}"


def _contacts_text(cards: Any) -> str:
    lines = []
    for card in cards or ():
        if not isinstance(card, dict):
            continue
        name = (card.get("name") or {}).get("formatted_name") or ""
        phones = [str(p.get("phone") or p.get("wa_id") or "") for p in card.get("phones") or () if isinstance(p, dict)]
        emails = [str(e.get("email") or "") for e in card.get("emails") or () if isinstance(e, dict)]
        bits = [b for b in [name, *phones, *emails] if b]
        lines.append("Shared contact: " + ", ".join(bits) if bits else "Shared contact")
    return "\n".join(lines) or "Shared contact"


def _location_text(loc: Mapping[str, Any]) -> str:
    label = ", ".join(str(x) for x in (loc.get("name"), loc.get("address")) if x)
    text = f"Location: {loc.get('latitude')},{loc.get('longitude')}" + (f" ({label})" if label else "")
    return "[" + text + (f" {loc['url']}" if loc.get("url") else "") + "]"


def _interactive_text(inter: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    kind = str(inter.get("type") or "")
    reply = _obj(inter.get(kind))
    if kind in ("button_reply", "list_reply"):
        text = str(reply.get("title") or reply.get("id") or "")
        if reply.get("description"):
            text += f" — {reply['description']}"
        return text, {"reply_id": reply.get("id"), "interactive_type": kind}
    if kind == "nfm_reply":  # a WhatsApp Flow's response
        return str(reply.get("body") or "Form submitted"), {"interactive_type": kind, "response_json": reply.get("response_json")}
    return f"[WhatsApp interactive reply: {kind or 'unknown'}]", {"interactive_type": kind}


def normalize_message(data: Mapping[str, Any], *, connector: str, received_at: datetime) -> NormalizedMessage:
    value = _value(data)
    msg = (value.get("messages") or [None])[0]
    if not isinstance(msg, dict):
        raise PayloadInvalid("whatsapp: event has no message")
    if not msg.get("id"):
        raise PayloadInvalid("whatsapp: a message without an id (the delivery's other messages were stored)")
    metadata = _obj(value.get("metadata"))
    contact = _obj((value.get("contacts") or [{}])[0])
    wa_id = str(msg.get("from") or contact.get("wa_id") or "")
    if not wa_id:
        raise PayloadInvalid("whatsapp: message without a sender (from)")
    sender = customer(wa_id, str((contact.get("profile") or {}).get("name") or ""))
    ours = business(metadata)
    kind = str(msg.get("type") or "unknown")
    body = _obj(msg.get(kind))
    text = ""
    attachments: list[Attachment] = []
    extra: dict[str, Any] = {"type": kind, "wamid": msg["id"]}
    in_reply_to = None
    reaction: Reaction | None = None
    edit_kind = "message"
    context = _obj(msg.get("context"))
    if context.get("id"):
        in_reply_to = str(context["id"])  # the customer quoted (or tapped a button on) this message
        extra["context"] = context
    if kind == "text":
        text = str(body.get("body") or "")
    elif kind in MEDIA_TYPES:
        if not body.get("id"):
            raise PayloadInvalid(f"whatsapp: {kind} message without a media id")
        attachments.append(Attachment(
            filename=_filename(kind, body),
            content_type=str(body.get("mime_type") or "application/octet-stream"),
            sha256=None,
            url=f"{MEDIA_SCHEME}{body['id']}",
        ))
        text = str(body.get("caption") or "")
        # not Meta's sha256: 64 hex digits the secret scan cannot tell from a private key, so every
        # media message would carry a false "[redacted: …]" (the stored file has its own digest)
        extra["media"] = {k: body.get(k) for k in ("id", "mime_type", "voice", "animated") if k in body}
    elif kind == "location":
        text = _location_text(body)
    elif kind == "contacts":
        text = _contacts_text(msg.get("contacts"))
    elif kind == "interactive":
        text, more = _interactive_text(body)
        extra.update(more)
    elif kind == "button":  # a template's quick-reply button
        text = str(body.get("text") or body.get("payload") or "")
        extra["button_payload"] = body.get("payload")
    elif kind == "reaction":
        # shown on the message it reacts to; this text is the placeholder for a message the
        # hub does not know. A removed reaction comes without the emoji field.
        emoji = str(body.get("emoji") or "")
        in_reply_to = str(body.get("message_id") or "") or in_reply_to
        text = f"[Reacted {emoji} to a message]" if emoji else "[Removed a reaction]"
        extra["reaction"] = {"emoji": emoji, "message_id": body.get("message_id")}
        reaction = Reaction(emoji=emoji)
    elif kind in ("edit", "revoke"):  # the customer edited / deleted an earlier message (Business app coexistence)
        original = str(body.get("original_message_id") or "")
        if not original:
            raise PayloadInvalid(f"whatsapp: {kind} without original_message_id")
        edit_kind = "edit" if kind == "edit" else "delete"
        in_reply_to = original
        if kind == "edit":
            new = _obj(body.get("message"))
            new_kind = str(new.get("type") or "text")
            inner = _obj(new.get(new_kind))
            text = str(inner.get("body") or inner.get("caption") or "")
    else:  # unsupported, unknown, order, system, ...: visible, never dropped
        errors = [e for e in msg.get("errors") or () if isinstance(e, dict)]
        why = f" ({errors[0].get('title') or errors[0].get('message')})" if errors and (errors[0].get("title") or errors[0].get("message")) else ""
        text = f"[Unsupported WhatsApp message type: {kind}{why}]"
        extra["unsupported"] = True
    referral = None
    if isinstance(msg.get("referral"), dict):  # came through a click-to-WhatsApp ad (or post)
        ref = msg["referral"]
        extra["referral"] = ref
        referral = Referral(source=str(ref.get("source_type") or "ad"), url=str(ref.get("source_url") or ""),
                            headline=str(ref.get("headline") or ""), body=str(ref.get("body") or ""),
                            ad_id=str(ref.get("source_id") or ""))
    return NormalizedMessage(
        medium=WHATSAPP,
        connector=connector,
        external_id=str(msg["id"]),
        thread_key=thread_key(connector, sender.address, str(metadata.get("phone_number_id") or ours.address)),
        sender=sender,
        recipients=(ours,),
        sent_at=_when(msg.get("timestamp"), received_at),
        text=text,
        full_text=text,
        attachments=tuple(attachments),
        in_reply_to=in_reply_to,
        kind=edit_kind,  # type: ignore[arg-type]
        reaction=reaction,
        referral=referral,
        extra=extra,
    )


def normalize_status(data: Mapping[str, Any], *, connector: str, received_at: datetime,
                     explain: Callable[[Any, str], str] | None = None,
                     advise: Callable[[Any], str] | None = None) -> list[NormalizedMessage]:
    """A status of one of our messages -> kind "status" naming it (``in_reply_to``)."""
    value = _value(data)
    st = (value.get("statuses") or [None])[0]
    if not isinstance(st, dict):
        raise PayloadInvalid("whatsapp: event has no status")
    if not st.get("id") or not st.get("status"):
        raise PayloadInvalid("whatsapp: a status without id or status (the delivery's other items were stored)")
    provider_status = str(st.get("status") or "").lower()
    status = STATUS_MAP.get(provider_status)
    if status is None:  # "deleted", "warning", ...: nothing the reply state tracks
        return []
    metadata = _obj(value.get("metadata"))
    ours = business(metadata)
    recipient = customer(str(st.get("recipient_id") or ""))
    errors = [e for e in st.get("errors") or () if isinstance(e, dict)]
    code = errors[0].get("code") if errors else None
    detail = ""
    if errors:
        detail = str((errors[0].get("error_data") or {}).get("details") or errors[0].get("message") or errors[0].get("title") or "")
    message = (explain(code, detail) if explain else detail) if errors else ""
    extra: dict[str, Any] = {"provider_status": provider_status}
    for key in ("conversation", "pricing", "biz_opaque_callback_data"):
        if st.get(key):
            extra[key] = st[key]
    if errors:
        extra["errors"] = errors
    return [
        NormalizedMessage(
            medium=WHATSAPP,
            connector=connector,
            external_id=f"{st['id']}:{provider_status}",
            thread_key=thread_key(connector, recipient.address, str(metadata.get("phone_number_id") or "")),
            sender=ours,
            recipients=(recipient,),
            sent_at=_when(st.get("timestamp"), received_at),
            direction="outbound",
            kind="status",
            in_reply_to=str(st["id"]),
            status=DeliveryStatus(status=status, error_code=code, error_message=message,
                                  permanent=(advise(code) if advise and status == "failed" else "")),
            extra=extra,
        )
    ]


def normalize(payload: bytes | str, *, connector: str, received_at: datetime,
              explain: Callable[[Any, str], str] | None = None,
              advise: Callable[[Any], str] | None = None) -> list[NormalizedMessage]:
    data = load(payload)
    value = _value(data)
    if value.get("statuses"):
        return normalize_status(data, connector=connector, received_at=received_at, explain=explain, advise=advise)
    if value.get("messages"):
        return [normalize_message(data, connector=connector, received_at=received_at)]
    return []
