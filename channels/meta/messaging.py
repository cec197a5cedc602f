"""``MessagingChannel``: Messenger Platform conversations, shared by messenger and instagram.

In:  ``entry[].messaging[]`` items, one journaled event per message / delivery / read /
     reaction / postback, keyed by the message id (``mid``); echoes of the page's own
     messages (``is_echo``, sent by omnihub or from the page's inbox) are never customer
     messages. The customer's name comes from the profile API, cached for a day.
Out: the Send API, ``POST /<version>/<page_or_account_id>/messages`` with
     ``{"recipient": {"id"}, "messaging_type", "message": {"text"}}``; text split at the
     platform's limit, files as attachments by signed public URL. Within 24 hours of the
     customer's last message ``RESPONSE``; up to 7 days with the ``HUMAN_AGENT`` tag; later
     refused with the reason (https://developers.facebook.com/docs/messenger-platform/send-messages/message-tags).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from channels.meta import graph
from channels.meta.adapter import MetaChannel
from hub.errors import AuthError, PayloadInvalid, PermanentDeliveryError, RetriableDeliveryError, WindowClosed
from hub.types import CheckResult, OutboundReply, RawEvent, SendResult, WebhookRequest
from normalizers import messenger as mn
from normalizers.model import Attachment, NormalizedMessage

WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)
PROFILE_TTL = 24 * 3600
#: where Messenger / Instagram attachment URLs point (signed CDN URLs, fetched without a token)
MEDIA_HOSTS = ("*.fbcdn.net", "*.fbsbx.com", "*.cdninstagram.com", "lookaside.fbsbx.com")
SEND_TYPES = {"image": "image", "video": "video", "audio": "audio"}


def split_text(text: str, limit: int) -> list[str]:
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


class MessagingChannel(MetaChannel):
    """Base of messenger and instagram (not a connector kind itself)."""

    splits_long_text = True
    supports_attachments = True
    fetches_media_by_url = True
    reopen_resolved = False
    #: the config key naming our page / account, and the one holding its token
    id_key: ClassVar[str] = ""
    token_key: ClassVar[str] = ""
    #: profile fields the platform's user profile API answers
    profile_fields: ClassVar[str] = "name"

    @property
    def our_id(self) -> str:
        return str(getattr(self.config, self.id_key))

    def client(self) -> graph.GraphClient:
        return self.graph_client(self._secret(self.token_key) or "")

    def composer_limits(self, medium: str, thread_key: str) -> dict[str, Any]:
        return {"max_length": self.max_text_length, "splits": True, "window": HUMAN_AGENT_WINDOW}

    # --- inbound -------------------------------------------------------------------------
    def parse(self, hook: str, request: WebhookRequest) -> list[RawEvent]:
        if hook != "events":
            raise PayloadInvalid(f"{self.who}: unknown hook {hook!r} (use /events)")
        data = self.load(request.body)
        return [
            RawEvent(external_id=eid, hook=hook, payload=json.dumps(env, separators=(",", ":")).encode(),
                     content_type="application/json", meta={"event_type": etype})
            for eid, etype, env in mn.split(data, our_id=self.our_id)
        ]

    def profile(self, scoped_id: str) -> dict[str, Any] | None:
        """The customer's name (and username) from the profile API, cached a day; None on failure."""
        key = f"{self.kind}:profile:{scoped_id}"
        cached = self.ctx.state.get(key)
        if isinstance(cached, dict) and time.time() - float(cached.get("fetched", 0)) < PROFILE_TTL:
            return cached
        try:
            info = self.client().get(scoped_id, fields=self.profile_fields)
        except (PermanentDeliveryError, RetriableDeliveryError) as exc:
            if self.ctx.log:
                self.ctx.log.warning(f"{self.kind}.profile_failed", error=str(exc))
            return cached if isinstance(cached, dict) else None
        name = info.get("name") or " ".join(x for x in (info.get("first_name"), info.get("last_name")) if x) or info.get("username") or ""
        out = {"name": name, "username": info.get("username") or "", "fetched": time.time()}
        try:
            self.ctx.state.set(key, out)
        except Exception:  # noqa: BLE001 - a cache write never fails ingestion
            pass
        return out

    def normalize(self, event: RawEvent) -> list[NormalizedMessage]:
        received = event.meta.get("received_at")
        try:
            data = mn.load(event.payload)
            item = data["entry"][0]["messaging"][0]
            msg = item.get("message") or {}
            sender = str((item.get("sender") or {}).get("id") or "")
            profiles = {}
            if any(k in item for k in ("message", "referral", "postback")) and not msg.get("is_echo") and sender and sender != self.our_id:
                found = self.profile(sender)
                if found:
                    profiles[sender] = found
            return mn.normalize(event.payload, connector=self.ctx.name, medium=self.kind, our_id=self.our_id,
                                received_at=datetime.fromisoformat(received) if received else datetime.now(UTC), profiles=profiles)
        except (AttributeError, TypeError, KeyError, IndexError) as exc:
            raise PayloadInvalid(f"{self.who}: malformed event: {exc.__class__.__name__}: {exc}") from None

    def fetch_attachment(self, attachment: Attachment, max_bytes: int) -> bytes:
        """A signed CDN URL from the webhook: only Meta's CDN hosts (and the API host), at most max_bytes."""
        if not attachment.url:
            raise PayloadInvalid(f"{self.who}: attachment {attachment.filename!r} has no URL")
        data, _ctype = self.client().download(attachment.url, max_bytes=max_bytes, provider_hosts=MEDIA_HOSTS, with_token=False)
        return data

    # --- outbound ------------------------------------------------------------------------
    def _recipient(self, reply: OutboundReply) -> str:
        rid = reply.to.address.split(":", 1)[1] if ":" in reply.to.address else reply.to.address
        if not rid.isdigit():
            raise PermanentDeliveryError(f"{self.who}: {reply.to.address!r} is not a {self.title} user id")
        return rid

    def _messaging_type(self, reply: OutboundReply) -> dict[str, str]:
        if reply.last_inbound_at is None:
            return {"messaging_type": "RESPONSE"}
        age = datetime.now(UTC) - reply.last_inbound_at
        if age <= WINDOW:
            return {"messaging_type": "RESPONSE"}
        if age <= HUMAN_AGENT_WINDOW:
            return {"messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}
        raise WindowClosed(f"{self.who}: the customer last wrote more than 7 days ago; {self.title} allows no reply now",
                           f"the customer last wrote more than 7 days ago: {self.title} accepts no reply until they write again")

    def send(self, reply: OutboundReply) -> SendResult:
        rid = self._recipient(reply)
        kind = self._messaging_type(reply)
        chunks = split_text(reply.text or "", self.max_text_length or 2000) if (reply.text or "").strip() else []
        urls = list(reply.options.get("media_urls") or []) if reply.options else []
        files = list(zip(reply.attachments, urls, strict=False))
        if not chunks and not files:
            raise PermanentDeliveryError(f"{self.who}: the reply has neither text nor files")
        bodies: list[dict[str, Any]] = [{"text": c} for c in chunks]
        for blob, url in files:
            ctype = blob.content_type.split("/", 1)[0]
            bodies.append({"attachment": {"type": SEND_TYPES.get(ctype, "file"), "payload": {"url": url, "is_reusable": False}}})
        key = f"{self.kind}:reply:{reply.id}"
        progress = dict(self.ctx.state.get(key) or {})
        sent: list[str] = list(progress.get("ids") or [])
        client = self.client()
        try:
            for i, message in enumerate(bodies):
                if i < len(sent):
                    continue
                resp = client.post(f"{self.our_id}/messages", {"recipient": {"id": rid}, **kind, "message": message})
                if not resp.get("message_id"):
                    raise PermanentDeliveryError(f"{self.who}: the Send API answered without a message_id")
                sent.append(str(resp["message_id"]))
        except (RetriableDeliveryError, PermanentDeliveryError) as exc:
            if sent:
                self.ctx.state.set(key, {"ids": sent})
                exc.args = (f"{exc.args[0]} (already sent: {len(sent)} of {len(bodies)} parts)",)
            raise
        if progress:
            self.ctx.state.set(key, None)
        return SendResult(external_id=sent[0], state="sent", detail={"recipient": rid, **kind}, parts=tuple(sent[1:]))

    # --- admin ---------------------------------------------------------------------------
    def check_fields(self) -> str:
        return "name"

    def check(self) -> CheckResult:
        client = self.client()
        try:
            info = client.get(self.our_id, fields=self.check_fields())
        except AuthError as exc:
            return CheckResult(False, str(exc), {"auth": False})
        except (PermanentDeliveryError, RetriableDeliveryError) as exc:
            return CheckResult(False, str(exc))
        name = info.get("name") or info.get("username") or self.our_id
        handle = f" (@{info['username']})" if info.get("username") else ""
        summary = f"connected to {name}{handle}"
        details = {k: v for k, v in info.items() if k != "id"}
        expiry, token = self.token_expiry(client)
        if expiry:
            summary += f"; {expiry}"
            details["token"] = token
        return CheckResult(token.get("is_valid") is not False, summary, details)

    # --- tools ---------------------------------------------------------------------------
    def simulate(self, text: str, sender_id: str, **options: Any) -> tuple[str, dict[str, str], bytes]:
        psid = "".join(ch for ch in sender_id if ch.isdigit()) or "6789012345"
        now_ms = int(time.time() * 1000)
        body = json.dumps({
            "object": self.webhook_object,
            "entry": [{"id": self.our_id, "time": now_ms, "messaging": [{
                "sender": {"id": psid}, "recipient": {"id": self.our_id}, "timestamp": now_ms,
                "message": {"mid": options.get("id") or f"m_SIM{time.time_ns()}", "text": text},
            }]}],
        }).encode()
        headers = {"Content-Type": "application/json", graph.SIGNATURE_HEADER: graph.sign(self._secret("app_secret") or "", body)}
        return "events", headers, body
