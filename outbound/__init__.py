"""Helpdesk backends. Core code looks them up here, never by branching on a name."""

from __future__ import annotations

from outbound.base import HelpdeskBackend
from outbound.django_helpdesk import DjangoHelpdeskBackend
from outbound.inbox import InboxBackend
from outbound.rt import RTBackend

REGISTRY: dict[str, type[HelpdeskBackend]] = {
    InboxBackend.kind: InboxBackend,
    RTBackend.kind: RTBackend,
    DjangoHelpdeskBackend.kind: DjangoHelpdeskBackend,
}
