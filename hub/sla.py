"""The one SLA state of a conversation, for every reader: the inbox badge and filter, the
API (``sla`` and ``sla_state``), the dashboard and the SLA timer all call ``states``, with
the same policy thresholds (``at_risk_fraction``) and the same clock rule."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from config import sla as sla_config
from hub.models import Conversation, now
from hub.states import CONVERSATION_DONE


@lru_cache(maxsize=1)
def policy() -> sla_config.Policy:
    """The SLA policy of this process (OMNIHUB_SLA_FILE or the built-in defaults)."""
    return sla_config.load_policy()


def states(conv: Conversation, at: datetime | None = None) -> dict[str, sla_config.SlaState]:
    """``first_response``, ``resolution`` and ``overall``: none | met | ok | at_risk | breached."""
    done = conv.resolved_at if conv.status in CONVERSATION_DONE else None
    return sla_config.live_states(conv.sla, conv.first_response_at, done, at or now(), policy().at_risk_fraction,
                                  started=conv.created_at)


def badge(conv: Conversation, at: datetime | None = None) -> str | None:
    """The inbox's word for it: 'breached', 'at_risk', 'ok' (met counts as ok), or None."""
    overall = states(conv, at)["overall"]
    return {"none": None, "met": "ok"}.get(overall, overall)
