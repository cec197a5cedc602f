"""The audit log in the web UI (#21 item 4): the admin page filters and exports JSON, agents
cannot open it, and agents opening a security-flagged conversation are audited."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from hub import audit
from hub.models import AuditLog, Conversation
from tests.web.conftest import ADMIN, AGENT, add_users, seed_conversation


@pytest.fixture
def web(hub):
    add_users(hub)
    return hub


def login(client, who) -> None:
    html = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    r = client.post("/login", data={"email": who[0], "password": who[1], "csrf_token": token})
    assert r.status_code == 302, r.get_data(as_text=True)


def entries(hub, action: str) -> list[AuditLog]:
    with hub.rt.db.read() as s:
        return list(s.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


def test_admin_page_filters_and_exports_and_agents_are_refused(web):
    agent = web.app.test_client()
    login(agent, AGENT)
    assert agent.get("/admin/audit").status_code == 403
    assert agent.get("/admin/audit/export.json").status_code == 403
    bad = web.app.test_client()
    html = bad.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    bad.post("/login", data={"email": ADMIN[0], "password": "wrong password", "csrf_token": token})

    admin = web.app.test_client()
    login(admin, ADMIN)
    page = admin.get("/admin/audit").get_data(as_text=True)
    assert "user.login_failed" in page and AGENT[0] in page and 'aria-current="page">Audit log' in page
    only = admin.get("/admin/audit?action=user.login_failed").get_data(as_text=True)
    assert "<code>user.login_failed</code>" in only and "<code>user.login</code>" not in only
    assert AGENT[0] not in admin.get(f"/admin/audit?actor={ADMIN[0]}").get_data(as_text=True).split("<tbody>")[1]
    assert "No entries." in admin.get("/admin/audit?since=2999-01-01T00:00").get_data(as_text=True)
    assert admin.get("/admin/audit?since=soon").status_code == 400
    assert 'href="/admin/audit/export.json?action=user.login_failed"' in only

    r = admin.get("/admin/audit/export.json?action=user.")
    assert r.status_code == 200 and r.mimetype == "application/x-ndjson" and "attachment" in r.headers["Content-Disposition"]
    lines = [json.loads(x) for x in r.get_data(as_text=True).splitlines()]
    assert [x["action"] for x in lines] == ["user.login", "user.login_failed", "user.login"]
    assert lines[0]["ip"] and all(len(x["hash"]) == 64 for x in lines)
    assert entries(web, "audit.export")[0].actor == ADMIN[0]
    with web.rt.db.read() as s:
        assert audit.verify(s).ok


def test_agent_views_of_security_flagged_conversations_are_audited(web):
    web.add_connector("web", "api", secret="view-secret-123")
    _, flagged = seed_conversation(web, "web", "web:victim@example.com", "Victim")
    _, plain = seed_conversation(web, "web", "web:other@example.com", "Other")
    with web.rt.db.session() as s:
        s.get(Conversation, flagged).security_flag = True
    agent = web.app.test_client()
    login(agent, AGENT)
    assert agent.get(f"/inbox/c/{plain}").status_code == 200
    assert entries(web, "conversation.view") == []
    assert agent.get(f"/inbox/c/{flagged}").status_code == 200
    assert agent.get(f"/inbox/fragment/c/{flagged}").status_code == 200  # the same view refreshing: one entry
    views = entries(web, "conversation.view")
    assert [(v.actor, v.target_id, v.details["via"]) for v in views] == [(AGENT[0], str(flagged), "inbox")]
    assert views[0].ip  # the client address is kept
    assert web.api("GET", f"/api/v1/conversations/{flagged}").status_code == 200
    assert [v.details["via"] for v in entries(web, "conversation.view")] == ["inbox", "api"]
    assert web.api("GET", f"/api/v1/conversations/{plain}").status_code == 200
    assert len(entries(web, "conversation.view")) == 2


def test_every_api_route_that_reads_a_flagged_conversations_content_is_audited(web):
    """#21 fresh eyes: GET /conversations/<id> was audited, but the same messages read through
    /conversations/<id>/messages, /messages/<id>, /replies/<id> or an attachment were not."""
    from hub import auth
    from hub.models import AttachmentRow, Message, Reply

    web.add_connector("web", "api", secret="view-secret-456")
    _, flagged = seed_conversation(web, "web", "web:victim2@example.com", "Victim Two")
    with web.rt.db.session() as s:
        conv = s.get(Conversation, flagged)
        conv.security_flag = True
        from hub.models import now

        m = Message(conversation_id=flagged, connector_id=conv.connector_id, external_id="flag-1", identity_id=conv.identity_id,
                    sent_at=now(), text="someone took my funds")
        s.add(m)
        s.flush()
        msg_id = m.id
        reply = Reply(conversation_id=flagged, connector_id=conv.connector_id, text="we are on it", state="sent", kind="reply")
        s.add(reply)
        s.flush()
        key, digest = web.rt.blobs.put(b"%PDF-1.4 statement")
        att = AttachmentRow(message_id=msg_id, filename="statement.pdf", content_type="application/pdf", size=18, storage_key=key,
                            sha256=digest)
        s.add(att)
        s.flush()
        routes = {"messages": f"/api/v1/conversations/{flagged}/messages", "message": f"/api/v1/messages/{msg_id}",
                  "reply": f"/api/v1/replies/{reply.id}", "attachment": f"/api/v1/attachments/{att.id}"}
        tokens = {}
        for name in routes:
            auth.create_user(s, f"reader-{name}@example.com", "agent", password="long enough password 1")
            tokens[name] = auth.create_token(s, f"reader-{name}@example.com")
    for name, path in routes.items():
        assert web.api("GET", path, token=tokens[name]).status_code == 200, path
    views = {v.actor: v for v in entries(web, "conversation.view")}
    assert set(views) == {f"reader-{name}@example.com" for name in routes}, sorted(views)
    assert all(v.target_id == str(flagged) and v.details["via"] == "api" for v in views.values())
