"""Helpdesk backends. Core code looks them up here, never by branching on a name.

``REGISTRY`` maps each connector kind to the dotted path of its backend class, imported the
first time the kind is looked up (see ``channels.REGISTRY``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hub.types import Registry

if TYPE_CHECKING:
    from outbound.base import HelpdeskBackend

REGISTRY: Registry[HelpdeskBackend] = Registry("helpdesk", {
    "inbox": "outbound.inbox:InboxBackend",
    "zendesk": "outbound.zendesk:ZendeskBackend",
    "freshdesk": "outbound.freshdesk:FreshdeskBackend",
    "zammad": "outbound.zammad:ZammadBackend",
    "chatwoot": "outbound.chatwoot:ChatwootBackend",
    "helpscout": "outbound.helpscout:HelpScoutBackend",
    "webhook": "outbound.webhook:WebhookBackend",
    "rt": "outbound.rt:RTBackend",
    "django_helpdesk": "outbound.django_helpdesk:DjangoHelpdeskBackend",
})
