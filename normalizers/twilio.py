"""twilio channel: Twilio webhook requests (SMS, MMS, WhatsApp, voice, status) -> NormalizedMessage.

Pure: no I/O. The adapter (``channels/twilio``) journals each webhook's raw body; this module
turns it into messages. Field names follow Twilio's webhook documentation:
https://www.twilio.com/docs/messaging/guides/webhook-request,
https://www.twilio.com/docs/messaging/api/message-resource#twilios-request-to-the-statuscallback-url,
https://www.twilio.com/docs/voice/twiml#request-parameters.

Addresses: phone numbers are E.164 (``phonenumbers``), participants of phone calls and SMS share
the medium ``sms`` so one phone number is one identity; WhatsApp senders are
``whatsapp:+E164`` on the medium ``whatsapp``. One open conversation per
(customer address, our address): ``thread_key = "<connector>:<customer>><ours>"``.
"""

from __future__ import annotations

import json
import mimetypes
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import phonenumbers

from hub.errors import PayloadInvalid
from normalizers.model import Attachment, DeliveryStatus, IdentityUpdate, Medium, NormalizedMessage, Participant

_E164_ADDR = re.compile(r"\+[1-9]\d{6,15}")
SMS = Medium.SMS
WHATSAPP = Medium.WHATSAPP
VOICE = Medium.VOICE

# Twilio's default opt-out / opt-in / help keywords (Advanced Opt-Out adds custom ones and
# then sends OptOutType=STOP|START|HELP): https://help.twilio.com/articles/223134027
OPT_OUT_KEYWORDS = frozenset(
    {"STOP", "STOPALL", "STOP ALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "OPT OUT", "OPT-OUT", "REVOKE"}
)
OPT_IN_KEYWORDS = frozenset({"START", "YES", "UNSTOP", "OPTIN", "OPT IN", "OPT-IN", "SUBSCRIBE"})
HELP_KEYWORDS = frozenset({"HELP", "INFO"})

# Message status (https://www.twilio.com/docs/messaging/api/message-resource#message-status-values)
# -> the hub's delivery states. Inbound-only states map to None (ignored on the status hook).
STATUS_MAP: dict[str, str | None] = {
    "accepted": "queued",
    "scheduled": "queued",
    "queued": "queued",
    "sending": "sent",
    "sent": "sent",
    "delivered": "delivered",
    "partially_delivered": "delivered",
    "read": "read",
    "undelivered": "undelivered",
    "failed": "failed",
    "canceled": "failed",
    "receiving": None,
    "received": None,
}

# Human explanations of the error codes agents meet most (https://www.twilio.com/docs/api/errors).
ERROR_EXPLANATIONS: dict[int, str] = {
    20003: "Twilio rejected the account credentials (check account_sid and auth_token).",
    20404: "The Twilio resource was not found (check the account and numbers in the connector).",
    20429: "Too many requests to Twilio: rate limited, will retry.",
    21211: "The recipient's phone number is not a valid phone number.",
    21408: "Sending SMS to this country is not enabled in the Twilio account's geo permissions.",
    21606: "The 'From' number is not an SMS-capable number of this Twilio account.",
    21610: "The recipient has opted out (replied STOP); they must text START before we can message them again.",
    21612: "Twilio cannot route a message from this sender to the recipient's number.",
    21614: "The recipient's number is not a mobile number that can receive SMS (landline?).",
    21617: "The message body exceeds Twilio's 1,600 character limit.",
    21660: "The 'From' number does not belong to this Twilio account.",
    30001: "Twilio's outbound queue overflowed; the message was not sent.",
    30002: "The Twilio account is suspended.",
    30003: "The recipient's phone is unreachable (switched off or out of coverage).",
    30004: "The message was blocked by the recipient or their carrier.",
    30005: "The recipient's number is unknown to the carrier (it may not exist any more).",
    30006: "The recipient's number is a landline or its carrier cannot receive SMS.",
    30007: "The carrier filtered the message as spam or unregistered traffic.",
    30008: "Delivery failed for an unknown reason reported by the carrier.",
    30009: "A segment of a multi-part message was lost.",
    30010: "The message price exceeded the configured maximum price.",
    30034: "The sending number is not registered for US A2P 10DLC messaging.",
    63003: "The WhatsApp recipient address is not a WhatsApp user.",
    63016: "WhatsApp: more than 24 hours since the customer's last message; only an approved template can be sent.",
    63018: "WhatsApp rate limit for this sender exceeded.",
    63024: "The WhatsApp recipient is not a valid WhatsApp user.",
}

# Twilio error codes that can never succeed as sent (the rest follow the HTTP status).
#: errors about the recipient itself (invalid, unsubscribed, not mobile, unreachable): no retry can help
RECIPIENT_CODES = frozenset({21211, 21610, 21614, 21612, 30003, 30004, 30005, 30006, 63024})
PERMANENT_CODES = frozenset(
    {21211, 21408, 21606, 21610, 21612, 21614, 21617, 21660, 30002, 30004, 30005, 30006, 63003, 63016, 63024}
)

FINAL_CALL_STATUSES = frozenset({"completed", "busy", "no-answer", "canceled", "failed"})

_KEYWORD_TRIM = re.compile(r"^[\s\"'.,!?]+|[\s\"'.,!?]+$")


def explain_error(code: int | str | None) -> str:
    """A sentence an agent understands for a Twilio error code ('' for none)."""
    if code is None or code in ("", "0", 0):
        return ""
    try:
        num = int(code)
    except (TypeError, ValueError):
        return f"Twilio error {code}."
    return ERROR_EXPLANATIONS.get(num, f"Twilio error {num}: see https://www.twilio.com/docs/api/errors/{num}")


def parse_payload(payload: bytes, content_type: str = "application/x-www-form-urlencoded") -> dict[str, str]:
    """Webhook parameters (form or JSON body) as a flat dict; first value of a name wins."""
    if "json" in (content_type or "").lower():
        try:
            data = json.loads(payload or b"{}")
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PayloadInvalid(f"twilio: body is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise PayloadInvalid("twilio: JSON body must be an object")
        return {str(k): "" if v is None else str(v) for k, v in data.items()}
    try:
        pairs = parse_qsl(payload.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise PayloadInvalid("twilio: form body is not UTF-8") from None
    out: dict[str, str] = {}
    for k, v in pairs:
        out.setdefault(k, v)
    return out


def normalize_phone(raw: str) -> str:
    """E.164 for phone numbers; short codes, alphanumeric ids and 'Anonymous' are kept as sent."""
    value = (raw or "").strip()
    if not value:
        return ""
    if value.startswith("+") or value.startswith("00"):
        try:
            num = phonenumbers.parse("+" + value[2:] if value.startswith("00") else value, None)
        except phonenumbers.NumberParseException:
            return value
        return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
    return value


def address(raw: str) -> tuple[str, str]:
    """(medium, normalized address) of a Twilio address: '+1…', 'whatsapp:+1…', 'messenger:…'."""
    value = (raw or "").strip()
    prefix, sep, rest = value.partition(":")
    if sep and prefix and not prefix.startswith("+") and not prefix.isdigit():
        medium = prefix.lower()
        return medium, f"{medium}:{normalize_phone(rest)}"
    return SMS, normalize_phone(value)


def phone_of(medium: str, addr: str) -> str | None:
    """The E.164 number behind a phone medium's address ('whatsapp:+1…' → '+1…'), else None."""
    bare = addr.split(":", 1)[1] if medium != SMS and ":" in addr else addr
    return bare if medium in (SMS, WHATSAPP, VOICE) and _E164_ADDR.fullmatch(bare) else None


def thread_key(connector: str, customer: str, ours: str) -> str:
    """One open conversation per (customer address, our address)."""
    return f"{connector}:{customer}>{ours}"


def split_thread_key(key: str) -> tuple[str, str]:
    """(customer, ours) from a thread_key built by ``thread_key`` ('' when not ours)."""
    _connector, _, rest = key.partition(":")
    customer, sep, ours = rest.rpartition(">")
    return (customer, ours) if sep else ("", "")


def keyword(text: str, opt_out_type: str = "") -> str | None:
    """'stop' | 'start' | 'help' when the whole message is an opt-out/in/help keyword."""
    if opt_out_type:  # Advanced Opt-Out decided it (custom keywords included)
        kind = opt_out_type.strip().upper()
        return {"STOP": "stop", "START": "start", "HELP": "help"}.get(kind)
    word = _KEYWORD_TRIM.sub("", text or "").upper()
    word = re.sub(r"\s+", " ", word)
    if word in OPT_OUT_KEYWORDS:
        return "stop"
    if word in OPT_IN_KEYWORDS:
        return "start"
    if word in HELP_KEYWORDS:
        return "help"
    return None


def _participant(raw: str, params: Mapping[str, str] | None = None, *, name: str = "") -> Participant:
    medium, addr = address(raw)
    extra: dict[str, Any] = {}
    if params:
        for src, dst in (("FromCountry", "country"), ("FromState", "state"), ("FromCity", "city"), ("WaId", "wa_id")):
            if params.get(src):
                extra[dst] = params[src]
    return Participant(medium=medium, address=addr, name=name, phone=phone_of(medium, addr), extra=extra)


def _phone_participant(raw: str, params: Mapping[str, str] | None = None, *, name: str = "") -> Participant:
    """A caller: phone identities are shared between SMS and voice (medium 'sms')."""
    p = _participant(raw, params, name=name)
    if p.medium == SMS:
        return p
    bare = p.address.split(":", 1)[-1]
    return Participant(medium=SMS, address=bare, name=name, phone=phone_of(SMS, bare), extra=p.extra)


# Stable extensions for the media types Twilio accepts (mimetypes varies by platform).
_EXTENSIONS = {
    "image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp",
    "audio/mpeg": ".mp3", "audio/ogg": ".ogg", "audio/amr": ".amr", "audio/mp4": ".m4a",
    "video/mp4": ".mp4", "video/3gpp": ".3gp", "application/pdf": ".pdf",
    "text/vcard": ".vcf", "text/x-vcard": ".vcf", "text/plain": ".txt",
}


def _media_filename(url: str, content_type: str, index: int) -> str:
    stem = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1] or f"media{index}"
    if "." in stem:
        return stem
    ctype = content_type.split(";")[0].strip().lower()
    ext = _EXTENSIONS.get(ctype) or mimetypes.guess_extension(ctype) or ""
    return f"{stem}{ext}"


def _kept(params: Mapping[str, str], drop: set[str]) -> dict[str, str]:
    return {k: v for k, v in params.items() if v != "" and k not in drop}


def _require(params: Mapping[str, str], *names: str) -> str:
    for name in names:
        if params.get(name):
            return params[name]
    raise PayloadInvalid(f"twilio: missing parameter {names[0]}")


def normalize_message(params: Mapping[str, str], *, connector: str, received_at: datetime) -> NormalizedMessage:
    """An inbound SMS / MMS / WhatsApp message (the ``sms`` hook)."""
    sid = _require(params, "MessageSid", "SmsMessageSid", "SmsSid")
    sender = _participant(_require(params, "From"), params, name=params.get("ProfileName", ""))
    ours = _participant(_require(params, "To"))
    body = params.get("Body", "")
    attachments = []
    try:
        num_media = int(params.get("NumMedia") or 0)
    except ValueError:
        raise PayloadInvalid("twilio: NumMedia is not a number") from None
    for i in range(min(num_media, 20)):
        url = params.get(f"MediaUrl{i}")
        if not url:
            raise PayloadInvalid(f"twilio: NumMedia={num_media} but MediaUrl{i} is missing")
        ctype = params.get(f"MediaContentType{i}") or "application/octet-stream"
        attachments.append(Attachment(filename=_media_filename(url, ctype, i), content_type=ctype, url=url))
    text = body
    if not text and params.get("Latitude") and params.get("Longitude"):  # WhatsApp location
        label = " ".join(x for x in (params.get("Label", ""), params.get("Address", "")) if x)
        text = f"Location: {params['Latitude']},{params['Longitude']}" + (f" ({label})" if label else "")
    extra: dict[str, Any] = {
        "twilio": _kept(params, {"Body"} | {k for k in params if k.startswith(("MediaUrl", "MediaContentType"))}),
    }
    if params.get("NumSegments"):
        extra["num_segments"] = int(params["NumSegments"]) if params["NumSegments"].isdigit() else params["NumSegments"]
    kw = keyword(body, params.get("OptOutType", ""))
    if kw:
        extra["keyword"] = kw
    update = None
    if kw == "stop":
        update = IdentityUpdate(
            opted_out=True,
            reason=f"The customer replied {body.strip()[:40] or 'STOP'!r} on {received_at.date().isoformat()}: "
            "they opted out of messages from this number; they must text START to opt back in.",
        )
    elif kw == "start":
        update = IdentityUpdate(opted_out=False, reason=f"The customer replied {body.strip()[:40]!r}: opted back in.")
    return NormalizedMessage(
        medium=sender.medium,
        connector=connector,
        external_id=sid,
        thread_key=thread_key(connector, sender.address, ours.address),
        sender=sender,
        recipients=(ours,),
        sent_at=received_at,
        text=text,
        full_text=text,
        attachments=tuple(attachments),
        identity_update=update,
        extra=extra,
    )


def normalize_status(params: Mapping[str, str], *, connector: str, received_at: datetime) -> list[NormalizedMessage]:
    """A message status callback (the ``status`` hook) -> kind status, or [] for inbound states."""
    sid = _require(params, "MessageSid", "SmsSid")
    provider_status = _require(params, "MessageStatus", "SmsStatus").lower()
    status = STATUS_MAP.get(provider_status, "failed" if provider_status.endswith("failed") else None)
    if status is None:
        return []
    ours = _participant(params.get("From", ""))
    customer = _participant(params.get("To", ""))
    code = params.get("ErrorCode") or ""
    delivery = DeliveryStatus(
        status=status,
        error_code=int(code) if code.isdigit() else (code or None),
        error_message=explain_error(code) if code else "",
    )
    extra: dict[str, Any] = {
        "provider_status": provider_status,
        "twilio": _kept(params, set()),
    }
    if params.get("ErrorMessage"):
        extra["provider_error_message"] = params["ErrorMessage"]
    return [
        NormalizedMessage(
            medium=ours.medium,
            connector=connector,
            external_id=f"{sid}:{provider_status}",
            thread_key=thread_key(connector, customer.address, ours.address),
            sender=ours,
            recipients=(customer,),
            sent_at=received_at,
            direction="outbound",
            kind="status",
            in_reply_to=sid,
            status=delivery,
            extra=extra,
        )
    ]


def voicemail_id(call_sid: str) -> str:
    return f"{call_sid}:voicemail"


def missed_call_id(call_sid: str) -> str:
    return f"{call_sid}:missed"


def _call_base(params: Mapping[str, str], connector: str) -> tuple[str, Participant, Participant, str]:
    call_sid = _require(params, "CallSid")
    caller = _phone_participant(_require(params, "From", "Caller"), params, name=params.get("CallerName", ""))
    ours = _phone_participant(_require(params, "To", "Called"))
    return call_sid, caller, ours, thread_key(connector, caller.address, ours.address)


def _missed(params: Mapping[str, str], *, connector: str, received_at: datetime, why: str) -> NormalizedMessage:
    call_sid, caller, ours, key = _call_base(params, connector)
    return NormalizedMessage(
        medium=VOICE,
        connector=connector,
        external_id=missed_call_id(call_sid),
        thread_key=key,
        sender=caller,
        recipients=(ours,),
        sent_at=received_at,
        kind="missed_call",
        subject="Missed call",
        text=why,
        full_text=why,
        extra={"call_sid": call_sid, "twilio": _kept(params, set())},
    )


def normalize_recording(params: Mapping[str, str], *, connector: str, received_at: datetime) -> list[NormalizedMessage]:
    """The <Record> action callback (the ``recording`` hook) -> voicemail, or missed_call if empty."""
    call_sid, caller, ours, key = _call_base(params, connector)
    url = params.get("RecordingUrl", "")
    duration = params.get("RecordingDuration", "")
    if not url or duration in ("0", "-1"):
        return [_missed(params, connector=connector, received_at=received_at, why="Missed call: the caller left no message.")]
    recording_sid = params.get("RecordingSid") or urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1] or call_sid
    # Appending .mp3 to a RecordingUrl returns MP3 audio:
    # https://www.twilio.com/docs/voice/api/recording#fetch-a-recording-media-file
    media_url = url if url.endswith((".mp3", ".wav")) else f"{url}.mp3"
    ctype = "audio/wav" if media_url.endswith(".wav") else "audio/mpeg"
    return [
        NormalizedMessage(
            medium=VOICE,
            connector=connector,
            external_id=voicemail_id(call_sid),
            thread_key=key,
            sender=caller,
            recipients=(ours,),
            sent_at=received_at,
            kind="voicemail",
            subject=f"Voicemail ({int(duration) // 60}:{int(duration) % 60:02d})" if duration.isdigit() else "Voicemail",
            attachments=(Attachment(filename=f"voicemail-{recording_sid}{media_url[-4:]}", content_type=ctype, url=media_url),),
            extra={
                "call_sid": call_sid,
                "recording_sid": recording_sid,
                "duration": int(duration) if duration.isdigit() else None,
                "twilio": _kept(params, set()),
            },
        )
    ]


def normalize_transcription(params: Mapping[str, str], *, connector: str, received_at: datetime) -> list[NormalizedMessage]:
    """transcribeCallback (the ``transcription`` hook) -> an edit of the voicemail's text."""
    call_sid, caller, ours, key = _call_base(params, connector)
    status = params.get("TranscriptionStatus", "completed").lower()
    text = params.get("TranscriptionText", "")
    if status != "completed" or not text:
        return []
    return [
        NormalizedMessage(
            medium=VOICE,
            connector=connector,
            external_id=params.get("TranscriptionSid") or f"{call_sid}:transcription",
            thread_key=key,
            sender=caller,
            recipients=(ours,),
            sent_at=received_at,
            kind="edit",
            in_reply_to=voicemail_id(call_sid),
            text=text,
            full_text=text,
            extra={"call_sid": call_sid, "transcription": True},
        )
    ]


def normalize_call_status(
    params: Mapping[str, str], *, connector: str, received_at: datetime, outcome: str | None = None
) -> list[NormalizedMessage]:
    """A final call status (number's status callback): a call that was neither recorded nor
    answered is a missed call. ``outcome`` is what the adapter saw earlier on this call
    ('voicemail' | 'answered')."""
    status = params.get("CallStatus", "").lower()
    if status not in FINAL_CALL_STATUSES or outcome in ("voicemail", "answered"):
        return []
    why = {
        "busy": "Missed call: the line was busy.",
        "no-answer": "Missed call: nobody answered.",
        "canceled": "Missed call: the caller hung up before it was answered.",
        "failed": "Missed call: the call failed.",
    }.get(status, "Missed call: the caller hung up without leaving a message.")
    return [_missed(params, connector=connector, received_at=received_at, why=why)]


def normalize(
    hook: str,
    payload: bytes,
    *,
    connector: str,
    content_type: str = "application/x-www-form-urlencoded",
    received_at: datetime | None = None,
    outcome: str | None = None,
) -> list[NormalizedMessage]:
    """Normalize one journaled Twilio webhook body received on ``hook``."""
    params = parse_payload(payload, content_type)
    when = received_at or datetime.now(UTC)
    if hook == "sms":
        return [normalize_message(params, connector=connector, received_at=when)]
    if hook == "status":
        if params.get("MessageSid") or params.get("SmsSid") or params.get("MessageStatus"):
            return normalize_status(params, connector=connector, received_at=when)
        return normalize_call_status(params, connector=connector, received_at=when, outcome=outcome)
    if hook == "recording":
        return normalize_recording(params, connector=connector, received_at=when)
    if hook == "transcription":
        return normalize_transcription(params, connector=connector, received_at=when)
    if hook == "voice":  # journaled for the record; the outcome arrives on later hooks
        return []
    raise PayloadInvalid(f"twilio: unknown hook {hook!r}")
