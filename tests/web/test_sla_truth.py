"""One SLA truth: the inbox badge, the API and the stats agree on every conversation, because
they all call the same computation (hub.sla) with the same thresholds — also right after a
deadline passes and before the SLA timer has run again."""

from __future__ import annotations

import re
from datetime import timedelta

from hub.models import Conversation, now
from tests.security.test_secret_origin import _admin_client
from tests.web.conftest import seed_conversation


def test_inbox_api_and_stats_agree(hub):
    hub.add_connector("site", "api", secret="site-secret-1")
    t = now()
    cases = {  # first-response window, time since the clock started, answered after (minutes)
        "ok": (60, 10, None),
        "at_risk": (60, 50, None),           # 10 of 60 minutes left: under the 25 % threshold
        "breached": (15, 40, None),          # past due, the timer has not run since
        "met": (60, 30, 20),                 # answered in time
        "late": (15, 60, 30),                # answered, but after the deadline
    }
    ids = {}
    for name, (window, started_ago, answered) in cases.items():
        _, conv_id = seed_conversation(hub, "site", f"site:{name}", name.title(), subject=name)
        ids[name] = conv_id
        with hub.rt.db.session() as s:
            c = s.get(Conversation, conv_id)
            start = t - timedelta(minutes=started_ago)
            c.created_at = c.last_message_at = start
            c.sla = {"started_at": start.isoformat(), "first_response_due": (start + timedelta(minutes=window)).isoformat(),
                     "first_response": "ok"}  # what a timer that ran long ago left behind
            if answered is not None:
                c.first_response_at = start + timedelta(minutes=answered)
    client = _admin_client(hub)
    page = client.get("/inbox?status=all").get_data(as_text=True)
    stats = hub.api("GET", "/api/v1/stats").get_json()["sla"]["first_response"]
    expected_badge = {"ok": None, "at_risk": "at_risk", "breached": "breached", "met": None, "late": "breached"}
    expected_api = {"ok": "ok", "at_risk": "at_risk", "breached": "breached", "met": "met", "late": "breached"}
    for name, conv_id in ids.items():
        api = hub.api("GET", f"/api/v1/conversations/{conv_id}").get_json()
        assert api["sla"]["first_response"] == api["sla_state"] == expected_api[name], name
        li = re.search(rf'<li id="conv-{conv_id}".*?</li>', page, re.S).group(0)
        badge = re.search(r'class="tag sla-(\w+)"', li)
        assert (badge.group(1) if badge else None) == expected_badge[name], name
    assert (stats["met"], stats["ok"], stats["at_risk"], stats["breached"]) == (1, 1, 1, 2)
    assert stats["open"] == 2 and stats["decided"] == 3 and stats["compliance"] == round(1 / 3, 3)
