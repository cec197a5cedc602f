"""The admin console's event webhooks page: add (secret shown once), disable, rotate, remove;
the delivery log with replay; agents refused; every change audited."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from hub import audit
from hub.models import AuditLog, EventSubscription
from tests.hub.test_flow import SECRET, post_message
from tests.support.event_receiver import EventReceiver
from tests.support.hub import wait_until
from tests.web.conftest import ADMIN, AGENT, add_users
from tests.web.test_audit_web import login


@pytest.fixture
def web(hub):
    add_users(hub)
    hub.add_connector("web", "api", secret=SECRET)
    return hub


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_admin_manages_subscriptions_and_replays_from_the_delivery_log(web):
    agent = web.app.test_client()
    login(agent, AGENT)
    assert agent.get("/admin/event-webhooks").status_code == 403
    assert agent.get("/admin/event-webhooks/1").status_code == 403

    admin = web.app.test_client()
    login(admin, ADMIN)
    page = admin.get("/admin/event-webhooks").get_data(as_text=True)
    assert 'aria-current="page">Event webhooks' in page and "No subscriptions yet." in page
    token = csrf(page)
    # refused URLs say why and save nothing
    r = admin.post("/admin/event-webhooks", data={"csrf_token": token, "action": "create", "url": "http://169.254.169.254/",
                                                  "events": ["message.created"]})
    assert r.status_code == 400 and "metadata" in r.get_data(as_text=True)
    assert web.count(EventSubscription) == 0
    # without the CSRF token nothing happens
    assert admin.post("/admin/event-webhooks", data={"action": "create", "url": "https://example.com/x",
                                                     "events": ["message.created"]}).status_code in (400, 403)

    with EventReceiver(fail_always=True, fail_status=502) as rx:
        r = admin.post("/admin/event-webhooks", data={"csrf_token": token, "action": "create", "url": rx.url,
                                                      "events": ["message.created"], "description": "CRM sync"})
        html = r.get_data(as_text=True)
        assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
        secret = re.search(r'<code id="signing-secret">([0-9a-f]{64})</code>', html).group(1)
        assert "CRM sync" in html
        again = admin.get("/admin/event-webhooks").get_data(as_text=True)
        assert secret not in again and "signing-secret" not in again  # shown once
        with web.rt.db.read() as s:
            sub_id = s.scalar(select(EventSubscription.id))

        web.start_worker()
        web.start_poller()
        post_message(web, id="m-adm", text="hello admin")
        wait_until(lambda: "dead" in [d["state"] for d in web.api("GET", f"/api/v1/event-subscriptions/{sub_id}/deliveries")
                                      .get_json()["items"]], timeout=30, message="dead delivery")
        log_page = admin.get(f"/admin/event-webhooks/{sub_id}").get_data(as_text=True)
        assert "message.created" in log_page and "HTTP 502" in log_page and "3 attempts" in log_page
        assert "Replay 1 dead deliveries" in log_page

        rx.fail_always = False
        r = admin.post(f"/admin/event-webhooks/{sub_id}", data={"csrf_token": csrf(log_page), "action": "replay-dead"})
        assert r.status_code == 302
        wait_until(lambda: len(rx.ok()) == 1, timeout=30, message="replayed")
        web.wait_idle()
        assert "delivered" in admin.get(f"/admin/event-webhooks/{sub_id}?state=delivered").get_data(as_text=True)
        assert admin.get(f"/admin/event-webhooks/{sub_id}?state=bogus").status_code == 400
        assert admin.get("/admin/event-webhooks/999").status_code == 404

    for action in ("disable", "rotate", "enable", "delete"):
        r = admin.post("/admin/event-webhooks", data={"csrf_token": token, "action": action, "subscription_id": sub_id})
        assert r.status_code in (200, 302), (action, r.get_data(as_text=True))
        if action == "rotate":
            new = re.search(r'<code id="signing-secret">([0-9a-f]{64})</code>', r.get_data(as_text=True)).group(1)
            assert new != secret
    assert web.count(EventSubscription) == 0
    with web.rt.db.read() as s:
        actions = [a.action for a in s.scalars(select(AuditLog).where(AuditLog.action.startswith("event_")).order_by(AuditLog.id))]
        assert audit.verify(s).ok
    assert actions == ["event_subscription.create", "event_delivery.replay", "event_subscription.update",
                       "event_subscription.update", "event_subscription.update", "event_subscription.delete"]


def test_dead_event_deliveries_are_dead_letters_and_a_disabled_subscription_is_refused(web):
    """#21.8 fresh eyes: given-up event deliveries were missing from Admin → Dead letters, and a
    replay on a disabled subscription said it worked and did nothing."""
    admin = web.app.test_client()
    login(admin, ADMIN)
    with EventReceiver(fail_always=True, fail_status=502) as rx:
        sub = web.api("POST", "/api/v1/event-subscriptions", {"url": rx.url, "events": ["message.created"]}).get_json()
        web.start_worker()
        web.start_poller()
        post_message(web, id="m-dl", text="dead letter please")
        wait_until(lambda: [d["state"] for d in web.api("GET", f"/api/v1/event-subscriptions/{sub['id']}/deliveries")
                            .get_json()["items"]] == ["dead"], timeout=30, message="dead delivery")
        [d] = web.api("GET", f"/api/v1/event-subscriptions/{sub['id']}/deliveries").get_json()["items"]
        page = admin.get("/admin/dead-letters").get_data(as_text=True)
        section = page[page.index('id="dead-event_deliveries"'):]
        assert "Event webhook deliveries" in section and f'value="{d["id"]}"' in section and "HTTP 502" in section
        assert f"subscription {sub['id']}" in section and "message.created" in section
        assert web.api("GET", "/api/v1/dead-letters").get_json()["event_deliveries"][0]["id"] == d["id"]

        # disabled: the delivery log's replay and the dead-letters replay refuse it and say what to do
        assert web.api("PATCH", f"/api/v1/event-subscriptions/{sub['id']}", {"enabled": False}).status_code == 200
        log_page = admin.get(f"/admin/event-webhooks/{sub['id']}").get_data(as_text=True)
        admin.post(f"/admin/event-webhooks/{sub['id']}", data={"csrf_token": csrf(log_page), "action": "replay-dead"})
        shown = admin.get(f"/admin/event-webhooks/{sub['id']}").get_data(as_text=True)
        assert f"event subscription {sub['id']}" in shown and "is disabled" in shown and "Enable it first" in shown
        page = admin.get("/admin/dead-letters").get_data(as_text=True)
        assert "disabled: enable it to replay" in page
        admin.post("/admin/dead-letters", data={"csrf_token": csrf(page), "what": "event_deliveries", "id": [str(d["id"])]})
        flashed = admin.get("/admin/dead-letters").get_data(as_text=True)
        assert "left out 1 event-webhook deliveries of disabled subscriptions" in flashed
        [still] = web.api("GET", f"/api/v1/event-subscriptions/{sub['id']}/deliveries").get_json()["items"]
        assert still["state"] == "dead" and still["replays"] == 0

        # enabled again: replayed from the dead-letters page
        rx.fail_always = False
        assert web.api("PATCH", f"/api/v1/event-subscriptions/{sub['id']}", {"enabled": True}).status_code == 200
        admin.post("/admin/dead-letters", data={"csrf_token": csrf(page), "what": "event_deliveries", "id": [str(d["id"])]})
        wait_until(lambda: len(rx.ok()) == 1, timeout=30, message="replayed from the dead letters")
        assert "Event webhook deliveries <span class=\"muted\">(0)" in admin.get("/admin/dead-letters").get_data(as_text=True)
