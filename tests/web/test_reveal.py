"""#16.3 in the inbox: a sealed value is shown as a placeholder the agent reveals with one
click (real Chromium, real HTTP); the reveal is audited with the agent's email."""

from __future__ import annotations

import json
import re

from sqlalchemy import select

from hub import signing
from hub.models import AuditLog, InboundEvent
from tests.web.conftest import AGENT, login

SECRET = "api-secret-reveal"
HEX = "e9873d79c6d87dc0fb6a5778633389f4453213303da61f20bd67fc233aa33262"


def test_agent_reveals_a_sealed_value_with_one_click(live, context):
    from workers import ingest

    hub = live.hub
    hub.add_connector("web", "api", secret=SECRET)
    body = json.dumps({"id": "s-1", "from": {"id": "carla", "name": "Carla"}, "text": f"the app shows {HEX} what is it?"}).encode()
    resp = hub.client.post("/webhooks/web/messages", data=body, headers={"Content-Type": "application/json", **signing.sign(SECRET, body)})
    assert resp.status_code == 200
    with hub.rt.db.read() as s:
        ingest.process(hub.rt, list(s.scalars(select(InboundEvent.id))))
    conv_id = hub.api("GET", "/api/v1/conversations").get_json()["items"][0]["id"]
    page = context.new_page()
    login(page, live, AGENT)
    page.goto(f"{live.url}/inbox/c/{conv_id}")
    timeline = page.locator("#timeline")
    assert HEX not in page.content()
    button = timeline.get_by_role("button", name=re.compile("Reveal"))
    assert "[sealed: hex string #1]" in button.inner_text()
    button.click()
    timeline.locator("code.revealed").wait_for()
    assert timeline.locator("code.revealed").inner_text() == HEX
    with hub.rt.db.read() as s:
        audit = s.scalars(select(AuditLog).where(AuditLog.action == "sealed.reveal")).all()
    assert [(a.actor, a.details["ref"]) for a in audit] == [(AGENT[0], 1)]
