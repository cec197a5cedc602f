"""whatsapp channel adapter: WhatsApp Cloud API messages, media and delivery statuses.

In:  ``/webhooks/<connector>/events`` — GET: Meta's subscription handshake; POST: the
     ``messages`` field of the WhatsApp Business Account webhook, signed with
     X-Hub-Signature-256. Each message and each status of a delivery is its own journaled
     event, deduplicated by its Meta id (Meta retries a delivery for up to 7 days).
Out: ``POST /<version>/<phone_number_id>/messages`` — text split at 4,096 characters, the
     first part quoting the customer's message (``context.message_id``); files uploaded to
     ``/<phone_number_id>/media`` and sent by id. Statuses sent / delivered / read / failed
     update the reply, a failure with Meta's code and a human explanation.
     https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/send-messages
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import SecretStr, field_validator

from channels.meta import graph
from channels.meta.adapter import MetaChannel
from hub.errors import AuthError, PayloadInvalid, PermanentDeliveryError, RetriableDeliveryError, WindowClosed
from hub.net import TooLarge
from hub.types import AdapterConfig, CheckResult, OutboundReply, RawEvent, SendResult, WebhookRequest, setting
from normalizers import whatsapp as wa
from normalizers.model import Attachment, NormalizedMessage

TEXT_LIMIT = 4096  # text.body (https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/text-messages)
WINDOW = timedelta(hours=24)  # the customer service window
#: where the Graph media endpoint's download URLs point
MEDIA_HOSTS = ("lookaside.fbsbx.com", "*.fbsbx.com", "*.whatsapp.net")
#: media types a reply file is sent as (anything else goes as a document)
MEDIA_KIND = {"image/jpeg": "image", "image/png": "image", "video/mp4": "video", "video/3gpp": "video",
              "audio/aac": "audio", "audio/amr": "audio", "audio/mpeg": "audio", "audio/mp4": "audio", "audio/ogg": "audio"}


#: a message template's name and language code (https://developers.facebook.com/docs/whatsapp/business-management-api/message-templates)
TEMPLATE_NAME = re.compile(r"^[a-z0-9_]{1,512}$")
TEMPLATE_LANGUAGE = re.compile(r"^[a-z]{2,3}(_[A-Za-z]{2,4})?$")
TEMPLATES_TTL = 3600  # how long the synced template list is trusted (seconds)
_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def template_option(options: Any) -> dict[str, Any] | None:
    """The reply's ``options["template"]`` checked: {"name", "language", "parameters": [str]}; None when absent."""
    tpl = (options or {}).get("template") if isinstance(options, dict) else None
    if tpl is None:
        return None
    if not isinstance(tpl, dict):
        raise PayloadInvalid("template must be an object: {\"name\", \"language\", \"parameters\"}")
    name, language, params = tpl.get("name"), tpl.get("language"), tpl.get("parameters", [])
    if not isinstance(name, str) or not TEMPLATE_NAME.match(name):
        raise PayloadInvalid("template.name must be the template's name (lower-case letters, digits, underscores)")
    if not isinstance(language, str) or not TEMPLATE_LANGUAGE.match(language):
        raise PayloadInvalid("template.language must be the template's language code, like en_US")
    if not isinstance(params, list) or not all(isinstance(p, (str, int, float)) for p in params):
        raise PayloadInvalid("template.parameters must be a list of texts, in the order of the template's {{1}}, {{2}}, …")
    return {"name": name, "language": language, "parameters": [str(p) for p in params]}


class WhatsAppConfig(AdapterConfig):
    access_token: SecretStr = setting(
        title="Access token", example="EAAG…",
        help="A System User access token with whatsapp_business_messaging (and whatsapp_business_management for "
             "templates): Business Settings → System users → Generate token.")
    app_secret: SecretStr = setting(
        title="App secret", needed_for="webhooks",
        help="The Meta app's App Secret (App Dashboard → App settings → Basic). Every webhook is checked against it "
             "(X-Hub-Signature-256); without it none is accepted.")
    verify_token: SecretStr = setting(
        title="Verify token", example="a long random string",
        help="Any secret string you choose; enter the same one as the Verify token when you set the callback URL in "
             "the App Dashboard (WhatsApp → Configuration).")
    phone_number_id: str = setting(
        title="Phone number ID", example="106540352242922", section="addresses",
        help="The business phone number's ID (WhatsApp → API Setup), not the phone number itself.")
    waba_id: str | None = setting(
        None, title="WhatsApp Business Account ID", example="102290129340398", section="addresses",
        help="The WhatsApp Business Account (WABA) the number belongs to (WhatsApp → API Setup); used for message templates.")
    api_base_url: str = setting(
        graph.DEFAULT_API_BASE, title="API base URL", example="https://graph.facebook.com", section="advanced", origin_of="url",
        help="The Graph API host; change it only for a proxy or a local test server.")
    api_version: str = setting(
        graph.DEFAULT_API_VERSION, title="Graph API version", example="v24.0", section="advanced",
        help="The Graph API version every call names (the path's /v24.0/ part).")

    @field_validator("phone_number_id")
    @classmethod
    def _phone_number_id(cls, v: str) -> str:
        return graph.need_id(v, "phone_number_id")

    @field_validator("waba_id")
    @classmethod
    def _waba_id(cls, v: str | None) -> str | None:
        return graph.need_id(v, "waba_id") if v else None

    @field_validator("api_version")
    @classmethod
    def _version(cls, v: str) -> str:
        return graph.need_version(v)


def split_text(text: str, limit: int) -> list[str]:
    """Parts of at most limit characters, cut at a newline or space when one is near."""
    parts: list[str] = []
    while len(text) > limit:
        cut = max(text.rfind("\n", 0, limit), text.rfind(" ", 0, limit))
        if cut < limit // 2:
            cut = limit
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        parts.append(text)
    return [p for p in parts if p]


class WhatsAppChannel(MetaChannel):
    kind = "whatsapp"
    title = "WhatsApp (Cloud API)"
    Config = WhatsAppConfig
    config: WhatsAppConfig  # the instance's validated config (ctx.config)
    webhook_object = "whatsapp_business_account"
    max_text_length = TEXT_LIMIT
    splits_long_text = True
    supports_attachments = True
    reopen_resolved = False  # like SMS: a resolved conversation stays resolved; the next message starts a new one

    def client(self) -> graph.GraphClient:
        return self.graph_client(self.config.access_token.get_secret_value())

    def composer_limits(self, medium: str, thread_key: str) -> dict[str, Any]:
        """WhatsApp: 4,096 characters per message (longer text is split) and the 24-hour window."""
        return {"max_length": TEXT_LIMIT, "splits": True, "window": WINDOW}

    # --- inbound -------------------------------------------------------------------------
    def parse(self, hook: str, request: WebhookRequest) -> list[RawEvent]:
        if hook != "events":
            raise PayloadInvalid(f"{self.who}: unknown hook {hook!r} (use /events)")
        data = self.load(request.body)
        return [
            RawEvent(external_id=eid, hook=hook, payload=json.dumps(env, separators=(",", ":")).encode(),
                     content_type="application/json", meta={"event_type": etype})
            for eid, etype, env in wa.split(data, phone_number_id=self.config.phone_number_id)
        ]

    def normalize(self, event: RawEvent) -> list[NormalizedMessage]:
        received = event.meta.get("received_at")
        try:
            return wa.normalize(
                event.payload,
                connector=self.ctx.name,
                received_at=datetime.fromisoformat(received) if received else datetime.now(UTC),
                explain=graph.explain,
                advise=graph.advice,
            )
        except (AttributeError, TypeError, KeyError, IndexError) as exc:
            raise PayloadInvalid(f"{self.who}: malformed event: {exc.__class__.__name__}: {exc}") from None

    def fetch_attachment(self, attachment: Attachment, max_bytes: int) -> bytes:
        """Media id -> ``GET /<version>/<media-id>`` (a short-lived URL) -> download with the token.

        Only Meta's media hosts (and the configured API host) are fetched, at most max_bytes."""
        url = attachment.url or ""
        if not url.startswith(wa.MEDIA_SCHEME):
            raise PayloadInvalid(f"{self.who}: attachment {attachment.filename!r} is not WhatsApp media")
        media_id = url[len(wa.MEDIA_SCHEME):]
        if not graph.GRAPH_ID.match(media_id):
            raise PayloadInvalid(f"{self.who}: media id {media_id!r} is not a Graph id")
        client = self.client()
        try:
            info = client.get(media_id, phone_number_id=self.config.phone_number_id)
        except PermanentDeliveryError as exc:
            raise PayloadInvalid(f"{self.who}: media {media_id} not available: {exc}") from None
        size = info.get("file_size")
        if size is not None and str(size).isdigit() and int(size) > max_bytes:
            raise TooLarge(f"file is {int(size)} bytes, over the {max_bytes}-byte limit")
        if not isinstance(info.get("url"), str):
            raise PayloadInvalid(f"{self.who}: media {media_id}: the Graph API gave no download URL")
        data, _ctype = client.download(info["url"], max_bytes=max_bytes, provider_hosts=MEDIA_HOSTS)
        return data

    # --- outbound ------------------------------------------------------------------------
    def validate_reply(self, text: str, options: dict[str, Any], thread_key: str | None = None) -> None:
        """A template reply needs a well-formed ``options["template"]``; free text the usual checks."""
        if template_option(options) is None:
            super().validate_reply(text, options, thread_key)

    def _to(self, reply: OutboundReply) -> str:
        addr = reply.to.address.split(":", 1)[1] if reply.to.address.startswith("whatsapp:") else reply.to.address
        digits = addr.lstrip("+")
        if not digits.isdigit():
            raise PermanentDeliveryError(f"{self.who}: {reply.to.address!r} is not a WhatsApp number")
        return digits

    def _upload(self, blob: Any) -> str:
        files = {"file": (blob.filename, blob.read(), blob.content_type)}
        data = {"messaging_product": "whatsapp", "type": blob.content_type}
        resp = self.client().request("POST", f"{self.config.phone_number_id}/media", data=data, files=files)
        if not resp.get("id"):
            raise PermanentDeliveryError(f"{self.who}: media upload answered without an id")
        return str(resp["id"])

    def send(self, reply: OutboundReply) -> SendResult:
        """Text parts, then files; parts already accepted are remembered so a retry does not repeat them.

        A reply with ``options["template"]`` sends that approved template instead (allowed
        outside the 24-hour window)."""
        try:
            template = template_option(reply.options)
        except PayloadInvalid as exc:
            raise PermanentDeliveryError(f"{self.who}: {exc}") from None
        if template is not None:
            return self._send_template(reply, template)
        if reply.last_inbound_at is not None and datetime.now(UTC) - reply.last_inbound_at > WINDOW:
            raise WindowClosed(f"{self.who}: {graph.explain(131047)}", graph.ADVICE[131047])
        to = self._to(reply)
        text = reply.text or ""
        chunks = split_text(text, TEXT_LIMIT) if text.strip() else []
        if not chunks and not reply.attachments:
            raise PermanentDeliveryError(f"{self.who}: the reply has neither text nor files")
        key = f"whatsapp:reply:{reply.id}"
        progress = dict(self.ctx.state.get(key) or {})
        sent: list[str] = list(progress.get("ids") or [])
        steps: list[dict[str, Any]] = [{"type": "text", "text": {"preview_url": False, "body": c}} for c in chunks]
        for blob in reply.attachments:
            steps.append({"blob": blob})
        client = self.client()
        try:
            for i, step in enumerate(steps):
                if i < len(sent):
                    continue
                body: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to}
                if "blob" in step:
                    blob = step["blob"]
                    media_type = MEDIA_KIND.get(blob.content_type.split(";")[0].strip().lower(), "document")
                    media: dict[str, Any] = {"id": self._upload(blob)}
                    if media_type == "document":
                        media["filename"] = blob.filename
                    body.update({"type": media_type, media_type: media})
                else:
                    body.update(step)
                if i == 0 and reply.in_reply_to:
                    body["context"] = {"message_id": reply.in_reply_to}
                resp = client.post(f"{self.config.phone_number_id}/messages", body)
                ids = [m.get("id") for m in resp.get("messages") or () if isinstance(m, dict) and m.get("id")]
                if not ids:
                    raise PermanentDeliveryError(f"{self.who}: /messages answered without a message id")
                sent.append(str(ids[0]))
        except (RetriableDeliveryError, PermanentDeliveryError) as exc:
            if sent:
                self.ctx.state.set(key, {"ids": sent})
                exc.args = (f"{exc.args[0]} (already sent: {len(sent)} of {len(steps)} parts)",)
            raise
        if progress:
            self.ctx.state.set(key, None)
        return SendResult(external_id=sent[0], state="sent", detail={"to": to}, parts=tuple(sent[1:]))

    def _send_template(self, reply: OutboundReply, template: dict[str, Any]) -> SendResult:
        body: dict[str, Any] = {"name": template["name"], "language": {"code": template["language"]}}
        if template["parameters"]:
            body["components"] = [{"type": "body", "parameters": [{"type": "text", "text": p} for p in template["parameters"]]}]
        resp = self.client().post(f"{self.config.phone_number_id}/messages", {
            "messaging_product": "whatsapp", "recipient_type": "individual", "to": self._to(reply), "type": "template", "template": body})
        ids = [m.get("id") for m in resp.get("messages") or () if isinstance(m, dict) and m.get("id")]
        if not ids:
            raise PermanentDeliveryError(f"{self.who}: /messages answered without a message id")
        return SendResult(external_id=str(ids[0]), state="sent", detail={"template": template["name"], "language": template["language"]})

    def templates(self, *, refresh: bool = False) -> list[dict[str, Any]]:
        """The WhatsApp Business Account's message templates (``GET /<waba_id>/message_templates``),
        kept in the connector state for an hour: name, language, status, category, body text and
        how many parameters the body takes. Empty without a waba_id."""
        if not self.config.waba_id:
            return []
        cached = self.ctx.state.get("whatsapp:templates")
        if not refresh and isinstance(cached, dict) and time.time() - float(cached.get("fetched", 0)) < TEMPLATES_TTL:
            return list(cached.get("items") or [])
        items: list[dict[str, Any]] = []
        after = None
        client = self.client()
        for _page in range(10):
            params: dict[str, Any] = {"fields": "name,language,status,category,components", "limit": 100}
            if after:
                params["after"] = after
            resp = client.get(f"{self.config.waba_id}/message_templates", **params)
            for t in resp.get("data") or ():
                if not isinstance(t, dict):
                    continue
                body = next((c.get("text") or "" for c in t.get("components") or () if isinstance(c, dict) and c.get("type") == "BODY"), "")
                items.append({"name": t.get("name"), "language": t.get("language"), "status": t.get("status"),
                              "category": t.get("category"), "body": body, "parameters": len(set(_PLACEHOLDER.findall(body)))})
            after = ((resp.get("paging") or {}).get("cursors") or {}).get("after") if (resp.get("paging") or {}).get("next") else None
            if not after:
                break
        self.ctx.state.set("whatsapp:templates", {"fetched": time.time(), "items": items})
        return items

    # --- admin ---------------------------------------------------------------------------
    def check(self) -> CheckResult:
        """``GET /<version>/<phone_number_id>``: the number's verified name, display number and quality."""
        fields = "verified_name,display_phone_number,quality_rating,code_verification_status,name_status"
        client = self.client()
        try:
            info = client.get(self.config.phone_number_id, fields=fields)
        except AuthError as exc:
            return CheckResult(False, str(exc), {"auth": False})
        except (PermanentDeliveryError, RetriableDeliveryError) as exc:
            return CheckResult(False, str(exc))
        name = info.get("verified_name") or "(no verified name)"
        summary = f"connected to {name} ({info.get('display_phone_number') or self.config.phone_number_id})"
        if info.get("quality_rating"):
            summary += f", quality {info['quality_rating']}"
        expiry, token = self.token_expiry(client)
        details = {k: v for k, v in info.items() if k != "id"}
        if expiry:
            summary += f"; {expiry}"
            details["token"] = token
        if self.config.waba_id:
            try:
                found = self.templates(refresh=True)
            except (PermanentDeliveryError, RetriableDeliveryError) as exc:
                summary += f"; templates not readable ({exc})"
            else:
                approved = [t for t in found if t.get("status") == "APPROVED"]
                summary += f"; {len(approved)} approved message template{'s' if len(approved) != 1 else ''}"
                details["templates"] = [f"{t['name']} ({t['language']})" for t in approved]
        return CheckResult(token.get("is_valid") is not False, summary, details)

    # --- tools ---------------------------------------------------------------------------
    def simulate(self, text: str, sender_id: str, **options: Any) -> tuple[str, dict[str, str], bytes]:
        """A correctly signed delivery carrying one text message from sender_id (a wa_id)."""
        wa_id = "".join(ch for ch in sender_id if ch.isdigit()) or "15550001234"
        body = json.dumps({
            "object": "whatsapp_business_account",
            "entry": [{
                "id": self.config.waba_id or "0",
                "changes": [{
                    "field": "messages",
                    "value": {
                        "messaging_product": "whatsapp",
                        "metadata": {"display_phone_number": options.get("display_phone_number") or "15550783881",
                                     "phone_number_id": self.config.phone_number_id},
                        "contacts": [{"profile": {"name": options.get("name") or wa_id}, "wa_id": wa_id}],
                        "messages": [{"from": wa_id, "id": options.get("id") or f"wamid.SIM{time.time_ns()}",
                                      "timestamp": str(int(time.time())), "type": "text", "text": {"body": text}}],
                    },
                }],
            }],
        }).encode()
        headers = {"Content-Type": "application/json", graph.SIGNATURE_HEADER: graph.sign(self.config.app_secret.get_secret_value(), body)}
        return "events", headers, body
