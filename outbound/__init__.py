"""Helpdesk backends. Core code looks them up here, never by branching on a name."""

from __future__ import annotations

from outbound.base import HelpdeskBackend
from outbound.chatwoot import ChatwootBackend
from outbound.django_helpdesk import DjangoHelpdeskBackend
from outbound.freshdesk import FreshdeskBackend
from outbound.helpscout import HelpScoutBackend
from outbound.inbox import InboxBackend
from outbound.rt import RTBackend
from outbound.webhook import WebhookBackend
from outbound.zammad import ZammadBackend
from outbound.zendesk import ZendeskBackend

REGISTRY: dict[str, type[HelpdeskBackend]] = {
    InboxBackend.kind: InboxBackend,
    ZendeskBackend.kind: ZendeskBackend,
    FreshdeskBackend.kind: FreshdeskBackend,
    ZammadBackend.kind: ZammadBackend,
    ChatwootBackend.kind: ChatwootBackend,
    HelpScoutBackend.kind: HelpScoutBackend,
    WebhookBackend.kind: WebhookBackend,
    RTBackend.kind: RTBackend,
    DjangoHelpdeskBackend.kind: DjangoHelpdeskBackend,
}
