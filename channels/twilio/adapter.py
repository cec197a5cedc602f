"""twilio channel adapter: SMS, MMS, WhatsApp, voice calls / voicemail, delivery status.

Hooks (``/webhooks/<connector>/<hook>``): ``sms`` (incoming SMS/MMS/WhatsApp), ``status``
(message status callbacks, and the numbers' call status callback), ``voice`` (incoming
call: TwiML), ``recording`` (the <Record> action), ``transcription`` (transcribeCallback).
Every request is verified with twilio's RequestValidator against ``request.url`` (rebuilt
from OMNIHUB_PUBLIC_URL by the hub), failing closed.
"""

from __future__ import annotations

import json
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from twilio.base.exceptions import TwilioException
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from channels.base import ChannelAdapter
from channels.twilio import api, signature
from channels.twilio.config import TwilioConfig
from hub.errors import ConfigError, PayloadInvalid, PermanentDeliveryError
from hub.net import fetch_limited
from hub.types import CheckResult, OutboundReply, RawEvent, SendResult, WebhookRequest, WebhookResponse
from normalizers import twilio as tw
from normalizers.model import Attachment, NormalizedMessage

TWIML = "text/xml"
SMS_LIMIT = 1600  # Messages API body limit for SMS/MMS
WHATSAPP_LIMIT = 4096
WHATSAPP_WINDOW = timedelta(hours=24)
DIAL_TIMEOUT = 20
# Media URLs in webhooks are on api.twilio.com (regional: api.<edge>.<region>.twilio.com);
# they redirect to Twilio's CDN, which gets no credentials.
MEDIA_HOSTS = ("api.twilio.com", "*.twilio.com")
MEDIA_REDIRECT_HOSTS = ("*.twiliocdn.com", "s3-external-1.amazonaws.com")
SIMULATED_CUSTOMER = "+15005550006"  # Twilio's "valid number" test value


#: Twilio resource SIDs: a two-letter type prefix and 32 hex digits
#: (https://www.twilio.com/docs/glossary/what-is-a-sid). A value of another shape is never
#: Twilio's: it is refused before anything is stored, so a signed parameter string cannot be
#: re-split at another boundary (MessageSid=<sid>NumMedia0) into a different request.
SID_PREFIXES = {
    "MessageSid": ("SM", "MM"),
    "SmsSid": ("SM", "MM"),
    "SmsMessageSid": ("SM", "MM"),
    "AccountSid": ("AC",),
    "CallSid": ("CA",),
    "ParentCallSid": ("CA",),
    "DialCallSid": ("CA",),
    "RecordingSid": ("RE",),
    "TranscriptionSid": ("TR",),
    "MessagingServiceSid": ("MG",),
}
_SID = re.compile(r"[A-Z]{2}[0-9a-fA-F]{32}")


def check_sids(params: dict[str, str], hook: str) -> None:
    """Raise PayloadInvalid when a SID parameter is not ``<prefix><32 hex>``."""
    for name, prefixes in SID_PREFIXES.items():
        value = params.get(name)
        if value is None or value == "":
            continue
        if not (_SID.fullmatch(value) and value[:2] in prefixes):
            raise PayloadInvalid(f"twilio {hook}: {name} is not a Twilio SID ({'/'.join(prefixes)} + 32 hex digits)")


def _call_key(call_sid: str) -> str:
    return f"call:{call_sid}"


class TwilioChannel(ChannelAdapter):
    kind = "twilio"
    title = "Twilio (SMS, MMS, WhatsApp, voice)"
    Config = TwilioConfig
    config: TwilioConfig  # the instance's validated config (ctx.config)
    hooks = ("sms", "status", "voice", "recording", "transcription")
    max_text_length = SMS_LIMIT  # per message; longer replies are split in send() (WhatsApp: 4,096)
    splits_long_text = True
    fetches_media_by_url = True
    supports_attachments = True
    reopen_resolved = False

    # --- helpers ---------------------------------------------------------------------
    def _token(self) -> str:
        token = self.config.auth_token.get_secret_value() if self.config.auth_token else ""
        if not token:
            raise ConfigError(f"twilio connector {self.ctx.name!r}: auth_token is not set")
        return token

    def client(self):
        return api.make_client(self.config.account_sid, self._token(), self.config.api_base_url)

    @property
    def _who(self) -> str:
        return f"twilio connector {self.ctx.name!r}"

    def composer_limits(self, medium: str, thread_key: str) -> dict[str, Any]:
        """What the inbox composer shows: SMS segments, or WhatsApp's length and 24-hour window."""
        if medium == tw.WHATSAPP:
            return {"max_length": WHATSAPP_LIMIT, "splits": True, "window": WHATSAPP_WINDOW}
        return {"max_length": SMS_LIMIT, "splits": True, "segments": "sms"}

    def _call_outcome(self, call_sid: str) -> str | None:
        """What happened earlier on this call ('voicemail' | 'answered' | None), then forget it.

        The recording / dial callbacks may have reached another web process: a write makes
        the hub's StateStore re-read the connector's state, so the read below is fresh."""
        state = self.ctx.state
        state.set("last_call_ended", call_sid)
        outcome = state.get(_call_key(call_sid))
        if outcome is not None:
            state.set(_call_key(call_sid), None)
        return outcome

    # --- inbound ---------------------------------------------------------------------
    def verify(self, hook: str, request: WebhookRequest) -> None:
        token = self.config.auth_token.get_secret_value() if self.config.auth_token else None
        signature.verify(
            token,
            url=request.url,
            method=request.method,
            content_type=request.headers.get("Content-Type", ""),
            body=request.body,
            signature=request.headers.get(signature.SIGNATURE_HEADER),
            settings_header=request.headers.get(signature.SETTINGS_HEADER, "") or "",
        )

    def replay_key(self, hook: str, request: WebhookRequest) -> bytes | None:
        # X-Twilio-Signature covers URL + sorted parameters and no timestamp
        return (request.headers.get(signature.SIGNATURE_HEADER) or "").strip().encode() or None

    def parse(self, hook: str, request: WebhookRequest) -> list[RawEvent]:
        if hook not in self.hooks:
            raise PayloadInvalid(f"twilio: unknown hook {hook!r} (use one of {', '.join(self.hooks)})")
        ctype = request.headers.get("Content-Type", "") or signature.FORM
        params = tw.parse_payload(request.body, ctype)
        check_sids(params, hook)
        args = dict(request.args)

        def event(external_id: str, **meta: Any) -> list[RawEvent]:
            return [RawEvent(external_id=external_id, hook=hook, payload=request.body, content_type=ctype, meta=meta)]

        def need(*names: str) -> str:
            for name in names:
                if params.get(name):
                    return params[name]
            raise PayloadInvalid(f"twilio {hook}: missing parameter {names[0]}")

        if hook == "sms":
            return event(need("MessageSid", "SmsMessageSid", "SmsSid"))
        if hook == "status":
            if params.get("MessageSid") or params.get("SmsSid"):
                sid = need("MessageSid", "SmsSid")
                status = need("MessageStatus", "SmsStatus").lower()
                if tw.STATUS_MAP.get(status, "failed") is None:
                    return []  # inbound message states: nothing to track
                return event(f"{sid}:{status}")
            call_sid = need("CallSid")
            status = params.get("CallStatus", "").lower()
            if status not in tw.FINAL_CALL_STATUSES:
                return []
            return event(f"{call_sid}:call-{status}", call_outcome=self._call_outcome(call_sid))
        if hook == "voice":
            call_sid = need("CallSid")
            if args.get("step") == "dial":
                dial_status = params.get("DialCallStatus", "").lower()
                if dial_status in ("completed", "answered"):
                    self.ctx.state.set(_call_key(call_sid), "answered")
                return event(f"{call_sid}:dial-{dial_status or 'unknown'}")
            return event(f"{call_sid}:call")
        if hook == "recording":
            call_sid = need("CallSid")
            if params.get("RecordingUrl") and params.get("RecordingDuration", "") not in ("0", "-1"):
                self.ctx.state.set(_call_key(call_sid), "voicemail")
            return event(f"{call_sid}:recording")
        # transcription
        return event(params.get("TranscriptionSid") or f"{need('CallSid')}:transcription")

    def ack(self, hook: str, request: WebhookRequest, events: list[RawEvent]) -> WebhookResponse:
        if hook == "voice":
            params = tw.parse_payload(request.body, request.headers.get("Content-Type", "") or signature.FORM)
            twiml = self._voice_twiml(dict(request.args).get("step"), params)
        elif hook == "recording":
            resp = VoiceResponse()
            resp.hangup()
            twiml = str(resp)
        else:
            twiml = str(MessagingResponse())  # empty <Response/>: no auto-reply
        return WebhookResponse(200, twiml, content_type=TWIML)

    def _voicemail(self, resp: VoiceResponse) -> VoiceResponse:
        cfg = self.config
        resp.say(cfg.greeting, language=cfg.voice_language)
        if cfg.voicemail == "on":
            # Transcription is only produced for recordings up to 120 s:
            # https://www.twilio.com/docs/voice/twiml/record#transcribe
            resp.record(
                action=self.ctx.webhook_url("recording"),
                method="POST",
                max_length=120,
                timeout=5,
                play_beep=True,
                trim="trim-silence",
                transcribe=True,
                transcribe_callback=self.ctx.webhook_url("transcription"),
            )
        resp.hangup()
        return resp

    def _voice_twiml(self, step: str | None, params: dict[str, str]) -> str:
        resp = VoiceResponse()
        if step == "dial":
            if params.get("DialCallStatus", "").lower() in ("completed", "answered"):
                resp.hangup()
                return str(resp)
            return str(self._voicemail(resp))
        if self.config.forward_to:
            resp.dial(
                self.config.forward_to,
                action=self.ctx.webhook_url("voice") + "?step=dial",
                method="POST",
                timeout=DIAL_TIMEOUT,
                answer_on_bridge=True,
            )
            return str(resp)
        return str(self._voicemail(resp))

    def normalize(self, event: RawEvent) -> list[NormalizedMessage]:
        received = event.meta.get("received_at") if event.meta else None
        when = datetime.fromisoformat(received) if isinstance(received, str) else received
        outcome = event.meta.get("call_outcome") if event.meta else None  # decided in parse()
        return tw.normalize(
            event.hook,
            event.payload,
            connector=self.ctx.name,
            content_type=event.content_type,
            received_at=when,
            outcome=outcome,
        )

    def media_hosts(self) -> list[str]:
        hosts = list(MEDIA_HOSTS)
        if self.config.api_base_url:
            base = urlsplit(self.config.api_base_url)
            hosts.append(f"{base.hostname}:{base.port}" if base.port else str(base.hostname))
        return hosts

    def fetch_attachment(self, attachment: Attachment, max_bytes: int) -> bytes:
        if not attachment.url:
            raise PayloadInvalid(f"{self._who}: attachment {attachment.filename!r} has no URL")
        data, _ctype = fetch_limited(
            attachment.url,
            allowed_hosts=self.media_hosts(),
            follow_redirects_to=MEDIA_REDIRECT_HOSTS,
            max_bytes=max_bytes,
            auth=(self.config.account_sid, self._token()),
            who=f"{self._who}: ",
        )
        return data

    # --- outbound --------------------------------------------------------------------
    def _sender(self, whatsapp: bool, ours: str) -> dict[str, str]:
        cfg = self.config
        if whatsapp:
            sender = cfg.whatsapp_from or (ours if ours.startswith("whatsapp:") else None)
            if not sender:
                raise ConfigError(f"{self._who}: set whatsapp_from to reply on WhatsApp")
            return {"from_": sender}
        number = ours if ours.startswith("+") and (not cfg.numbers or ours in cfg.numbers) else None
        number = number or (cfg.numbers[0] if cfg.numbers else None)
        out: dict[str, str] = {}
        if cfg.messaging_service_sid:
            out["messaging_service_sid"] = cfg.messaging_service_sid
        if number:  # with a Messaging Service too: the customer keeps hearing from the same number
            out["from_"] = number
        if not out:
            raise ConfigError(f"{self._who}: set phone_numbers or messaging_service_sid to send SMS")
        return out

    def send(self, reply: OutboundReply) -> SendResult:
        medium, to = tw.address(reply.to.address)
        if reply.to.medium == tw.WHATSAPP and medium != tw.WHATSAPP:
            medium, to = tw.WHATSAPP, f"whatsapp:{to}"
        whatsapp = medium == tw.WHATSAPP
        _customer, ours = tw.split_thread_key(reply.thread_key)
        template = reply.options.get("content_sid") if reply.options else None
        if whatsapp and not template:
            last = reply.last_inbound_at
            now = datetime.now(UTC)
            if last is None or now - last > WHATSAPP_WINDOW:
                since = f"the customer's last message was at {last.isoformat(timespec='minutes')}" if last else "the customer has not written yet"
                raise PermanentDeliveryError(
                    f"{self._who}: WhatsApp allows free-form replies only within 24 hours of the customer's "
                    f"last message ({since}). Send an approved template (reply option content_sid) or wait "
                    "until the customer writes again."
                )
        base: dict[str, Any] = {"to": to, "status_callback": self.ctx.webhook_url("status"), **self._sender(whatsapp, ours)}
        media_urls = list(reply.options.get("media_urls") or []) if reply.options else []
        not_sent = [a.filename for a in reply.attachments] if reply.attachments and not media_urls else []
        if template:
            requests_ = [{**base, "content_sid": template}]
            if reply.options.get("content_variables"):
                variables = reply.options["content_variables"]
                requests_[0]["content_variables"] = variables if isinstance(variables, str) else json.dumps(variables)
        else:
            if not reply.text.strip() and not media_urls:
                raise PermanentDeliveryError(f"{self._who}: nothing to send (empty text and no media URL)")
            chunks = api.split_text(reply.text, WHATSAPP_LIMIT if whatsapp else SMS_LIMIT) if reply.text else [""]
            requests_ = [{**base, "body": chunk} for chunk in chunks]
            if media_urls:
                requests_[0]["media_url"] = media_urls[:10]
        client = self.client()
        # A split reply records each part's sid as it goes, so a retry after a partial
        # failure sends only the missing parts (the write first refreshes the state snapshot).
        multi = len(requests_) > 1
        parts_key = f"reply:{reply.id}:parts"
        done: list[str] = []
        if multi:
            self.ctx.state.set("last_split_reply", reply.id)
            done = list(self.ctx.state.get(parts_key) or [])
        sids: list[str] = []
        status = "queued"
        for i, params in enumerate(requests_):
            if i < len(done):
                sids.append(done[i])
                continue
            try:
                message = client.messages.create(**params)
            except (TwilioException, requests.RequestException) as exc:
                raise api.translate(exc, self._who) from None
            sids.append(message.sid)
            if multi:
                self.ctx.state.set(parts_key, list(sids))
            if i == 0:
                status = message.status or "queued"
        if multi:
            self.ctx.state.set(parts_key, None)
        detail: dict[str, Any] = {"medium": medium, "parts": len(sids)}
        if not_sent:
            detail["attachments_not_sent"] = not_sent
            detail["note"] = "Twilio needs public media URLs; attachments were not sent"
        return SendResult(
            external_id=sids[0],
            state="queued" if status in ("queued", "accepted", "scheduled") else "sent",
            detail=detail,
            parts=tuple(sids[1:]),
        )

    def check(self) -> CheckResult:
        hooks = {
            "A MESSAGE COMES IN (sms_url)": self.ctx.webhook_url("sms"),
            "A CALL COMES IN (voice_url)": self.ctx.webhook_url("voice"),
            "CALL STATUS CHANGES (status_callback)": self.ctx.webhook_url("status"),
        }
        try:
            client = self.client()
            account = client.api.v2010.accounts(self.config.account_sid).fetch()
            numbers: dict[str, Any] = {}
            for number in self.config.numbers:
                found = client.incoming_phone_numbers.list(phone_number=number, limit=1)
                if not found:
                    numbers[number] = {"found": False}
                    continue
                n = found[0]
                current = {"sms_url": n.sms_url, "voice_url": n.voice_url, "status_callback": n.status_callback}
                expected = {
                    "sms_url": self.ctx.webhook_url("sms"),
                    "voice_url": self.ctx.webhook_url("voice"),
                    "status_callback": self.ctx.webhook_url("status"),
                }
                numbers[number] = {"found": True, "current": current, "expected": expected, "ok": current == expected}
        except ConfigError as exc:
            return CheckResult(False, str(exc))
        except (TwilioException, requests.RequestException) as exc:
            err = api.translate(exc, self._who)
            return CheckResult(False, str(err))
        problems = [n for n, v in numbers.items() if not v.get("found")]
        stale = [n for n, v in numbers.items() if v.get("found") and not v.get("ok")]
        ok = account.status == "active" and not problems
        summary = f"account {account.friendly_name!r} is {account.status}"
        if problems:
            summary += f"; not numbers of this account: {', '.join(problems)}"
        if stale:
            summary += f"; set the webhook URLs on {', '.join(stale)}"
        summary += "; on each number set (HTTP POST): " + "; ".join(f"{k} = {v}" for k, v in hooks.items())
        return CheckResult(ok, summary, {"account_status": account.status, "webhooks": hooks, "numbers": numbers})

    # --- tools -----------------------------------------------------------------------
    def simulate(self, text: str, sender_id: str, **options: Any) -> tuple[str, dict[str, str], bytes]:
        cfg = self.config
        whatsapp = (options.get("medium") or options.get("channel")) == tw.WHATSAPP or sender_id.startswith("whatsapp:")
        sender = tw.normalize_phone(sender_id.removeprefix("whatsapp:"))
        if not sender.startswith("+"):  # e.g. the CLI's default "demo-customer": Twilio's test number
            sender = SIMULATED_CUSTOMER
        to = options.get("to") or (cfg.whatsapp_from if whatsapp and cfg.whatsapp_from else (cfg.numbers[0] if cfg.numbers else ""))
        if not to:
            raise ConfigError(f"{self._who}: set phone_numbers (or pass to=) to simulate a message")
        to = to.removeprefix("whatsapp:")
        sid = options.get("id") or f"SM{secrets.token_hex(16)}"
        pairs = [
            ("ToCountry", ""),
            ("SmsMessageSid", sid),
            ("NumMedia", "0"),
            ("SmsSid", sid),
            ("SmsStatus", "received"),
            ("Body", text),
            ("To", f"whatsapp:{to}" if whatsapp else to),
            ("NumSegments", "1"),
            ("MessageSid", sid),
            ("AccountSid", cfg.account_sid),
            ("From", f"whatsapp:{sender}" if whatsapp else sender),
            ("ApiVersion", "2010-04-01"),
        ]
        if whatsapp:
            pairs += [("ProfileName", options.get("name") or ""), ("WaId", sender.lstrip("+"))]
        if cfg.messaging_service_sid:
            pairs.append(("MessagingServiceSid", cfg.messaging_service_sid))
        url = self.ctx.webhook_url("sms")
        headers = {
            "Content-Type": signature.FORM,
            signature.SIGNATURE_HEADER: signature.sign(self._token(), url, pairs),
        }
        return "sms", headers, urlencode(pairs).encode()
