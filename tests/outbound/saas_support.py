"""Builders shared by the SaaS helpdesk tests: connectors, push items, webhook requests."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from pytest_httpserver import HTTPServer

from hub.types import (
    BlobRef,
    CaseInsensitiveDict,
    ConnectorContext,
    ContactInfo,
    ConversationInfo,
    PushItem,
    WebhookRequest,
)
from normalizers.model import Participant
from normalizers.twilio import phone_of
from outbound import REGISTRY
from tests.support.corpus import CORPUS


def load_json(relative: str) -> Any:
    """A JSON file of the shared corpus."""
    return json.loads((CORPUS / relative).read_text())


SAAS = ("zendesk", "freshdesk", "zammad", "chatwoot", "helpscout", "webhook")
WEBHOOK_SECRET = "whsec-test"


@contextlib.contextmanager
def vendor_server(kind: str) -> Iterator[HTTPServer]:
    """A started local HTTP server for one vendor stand-in."""
    from tests.outbound.saas_fakes import VendorServer

    server = VendorServer(host="127.0.0.1", port=0)
    server.start()
    try:
        yield server
    finally:
        server.clear()
        if server.is_running():
            server.stop()


def start_fake(servers: dict[str, HTTPServer], kind: str):
    """A fresh vendor stand-in on that vendor's server."""
    from tests.outbound.saas_fakes import FAKES

    server = servers[kind]
    server.clear()
    return FAKES[kind](server)


def config_for(kind: str, base_url: str, **overrides: Any) -> dict[str, Any]:
    cfg: dict[str, dict[str, Any]] = {
        "zendesk": {"base_url": base_url, "email": "agent@example.com", "api_token": "zd-api-token", "webhook_secret": WEBHOOK_SECRET},
        "freshdesk": {"base_url": base_url, "api_key": "fd-api-key", "webhook_secret": WEBHOOK_SECRET},
        "zammad": {"base_url": base_url, "token": "zm-token", "webhook_secret": WEBHOOK_SECRET},
        "chatwoot": {"base_url": base_url, "account_id": 1, "inbox_id": 7, "api_access_token": "cw-token", "webhook_token": WEBHOOK_SECRET},
        "helpscout": {"base_url": base_url, "app_id": "hs-app", "app_secret": "hs-secret", "mailbox_id": 85, "webhook_secret": WEBHOOK_SECRET},
        "webhook": {"url": f"{base_url}/hooks/omnihub", "secret": "wh-secret"},
    }
    return {**cfg[kind], **overrides}


BAD_CREDENTIALS = {
    "zendesk": {"api_token": "wrong"},
    "freshdesk": {"api_key": "wrong"},
    "zammad": {"token": "wrong"},
    "chatwoot": {"api_access_token": "wrong"},
    "helpscout": {"app_secret": "wrong"},
    "webhook": {"secret": "wrong"},
}


def make_backend(kind: str, base_url: str, name: str | None = None, **overrides: Any):
    cls = REGISTRY[kind]
    config = cls.Config(**config_for(kind, base_url, **overrides))
    return cls(ConnectorContext(name=name or f"my-{kind}", kind=kind, config=config))


def make_item(
    message_id: int,
    *,
    conversation_id: int = 42,
    ticket_ref: str | None = None,
    direction: str = "inbound",
    text: str = "My withdrawal is stuck, card ending [REDACTED:card]",
    email: str | None = "ana@example.com",
    medium: str = "sms",
    address: str = "+15551234567",
    attachments: tuple[BlobRef, ...] = (),
    html: str = "",
    **conv: Any,
) -> PushItem:
    """One push; ``conv`` overrides ConversationInfo fields (priority, category, tags, entities...)."""
    sender = Participant(medium=medium, address=address, name="Ana Lima", phone=phone_of(medium, address))
    return PushItem(
        delivery_id=message_id * 10,
        conversation=ConversationInfo(
            id=conversation_id, subject="Withdrawal stuck", medium=medium, connector="twilio-main",
            **{"status": "open", "priority": "high", **conv},
        ),
        contact=ContactInfo(id=7, name="Ana Lima", email=email, identities=(sender,)),
        message_id=message_id,
        external_id=f"SM{message_id}",
        direction=direction,
        kind="message",
        sender=sender if direction == "inbound" else Participant(medium=medium, address="+15550000000", name="Support"),
        sent_at=datetime(2026, 11, 22, 18, 0, tzinfo=UTC),
        subject="",
        text=text,
        html=html,
        attachments=attachments,
        ticket_ref=ticket_ref,
        is_first=ticket_ref is None,
    )


def blob(name: str = "receipt.png", data: bytes = b"\x89PNG fake but real bytes", ctype: str = "image/png") -> BlobRef:
    import hashlib

    return BlobRef(filename=name, content_type=ctype, size=len(data), sha256=hashlib.sha256(data).hexdigest(), loader=lambda: data)


def webhook_request(body: bytes, headers: dict[str, str] | None = None, args: tuple[tuple[str, str], ...] = (), connector: str = "x") -> WebhookRequest:
    path = f"/webhooks/{connector}/agent-reply"
    return WebhookRequest(
        method="POST",
        url=f"https://hub.example.com{path}",
        path=path,
        headers=CaseInsensitiveDict({"Content-Type": "application/json", **(headers or {})}),
        body=body,
        args=args,
        received_at=datetime.now(UTC),
    )
