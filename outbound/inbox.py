"""The built-in inbox: conversations already live in omnihub's own tables."""

from __future__ import annotations

from hub.types import CheckResult, PushItem, PushResult
from outbound.base import HelpdeskBackend


class InboxBackend(HelpdeskBackend):
    kind = "inbox"
    title = "Built-in inbox"
    builtin = True

    def push(self, item: PushItem) -> PushResult:
        # Nothing to call: the message is stored in our tables and shown in /inbox and the API.
        return PushResult(ticket_ref=str(item.conversation.id), comment_ref=str(item.message_id))

    def check(self) -> CheckResult:
        return CheckResult(True, "built-in inbox: always available")
