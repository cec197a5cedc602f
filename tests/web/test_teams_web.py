"""Teams in the web UI without a browser: the admin console's teams and rules, the agent's
status in the header, the team filter and queue view, team and assignment in the timeline."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from hub import assignment
from hub.models import AgentStatus, AuditLog, Conversation, RoutingRule, Team, User
from tests.web.conftest import ADMIN, AGENT, add_users, seed_conversation
from tests.web.test_web_unit import do_login


@pytest.fixture
def web(hub):
    add_users(hub)
    hub.add_connector("web", "api", secret="k")
    return hub


def token_of(html: str) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


def admin_post(c, data: dict) -> tuple[int, str]:
    page = c.get("/admin/teams").get_data(as_text=True)
    form_token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = c.post("/admin/teams", data={**data, "csrf_token": form_token})
    return r.status_code, (c.get(r.headers["Location"]) if r.status_code == 302 else r).get_data(as_text=True)


def test_admin_manages_teams_members_and_rule_order(web):
    c = web.app.test_client()
    do_login(c, ADMIN)
    status, html = admin_post(c, {"action": "create_team", "name": "Security", "assignment": "auto", "default": "1"})
    assert status == 302 and "Team Security created." in html
    admin_post(c, {"action": "create_team", "name": "Billing", "assignment": "manual"})
    with web.rt.db.read() as s:
        sec = s.scalar(select(Team).where(Team.name == "Security"))
        billing = s.scalar(select(Team).where(Team.name == "Billing"))
        assert sec.assignment == "auto" and sec.is_default and not billing.is_default
    status, html = admin_post(c, {"action": "add_member", "team_id": sec.id, "email": AGENT[0], "capacity": "3"})
    assert status == 302 and f"{AGENT[0]} added." in html
    admin_post(c, {"action": "set_capacity", "team_id": sec.id, "email": AGENT[0], "capacity": "7"})
    admin_post(c, {"action": "create_rule", "name": "payments", "team": "Billing", "category": "card_payment, fees",
                   "priority": ["high", "urgent"], "add_tags": "money"})
    admin_post(c, {"action": "create_rule", "name": "hacked", "team": "Security", "security": "yes", "set_priority": "urgent",
                   "contact": "plan = vip, gold\n"})
    with web.rt.db.read() as s:
        rules = s.scalars(select(RoutingRule).order_by(RoutingRule.position)).all()
        assert [r.name for r in rules] == ["payments", "hacked"]
        assert rules[0].conditions == {"category": ["card_payment", "fees"], "priority": ["high", "urgent"]} and rules[0].add_tags == ["money"]
        assert rules[1].conditions == {"security": True, "contact": {"plan": ["vip", "gold"]}} and rules[1].set_priority == "urgent"
        hacked = rules[1].id
    status, html = admin_post(c, {"action": "rule_up", "rule_id": hacked})
    assert status == 302
    with web.rt.db.read() as s:
        assert [r.name for r in s.scalars(select(RoutingRule).order_by(RoutingRule.position))] == ["hacked", "payments"]
    admin_post(c, {"action": "toggle_rule", "rule_id": hacked})
    html = c.get("/admin/teams").get_data(as_text=True)
    assert "Teams and routing" in html and "disabled" in html and 'value="7"' in html
    # a bad value is a clear 400 naming the field, nothing half-saved
    status, html = admin_post(c, {"action": "create_team", "name": "!bad name"})
    assert status == 400 and "name" in html
    status, html = admin_post(c, {"action": "create_team", "name": "Billing"})
    assert status == 409 and "exists" in html
    status, html = admin_post(c, {"action": "delete_team", "team_id": billing.id})
    assert status == 409 and "routing rule" in html
    with web.rt.db.read() as s:
        actions = [a.action for a in s.scalars(select(AuditLog).where(AuditLog.action.like("team.%") | AuditLog.action.like("routing_rule.%")))]
        assert actions.count("team.create") == 2 and "routing_rule.reorder" in actions and "team.update" in actions


def test_agents_cannot_open_the_teams_console(web):
    c = web.app.test_client()
    do_login(c, AGENT)
    assert c.get("/admin/teams").status_code == 403


def test_header_status_control_and_team_queue_view(web):
    c = web.app.test_client()
    do_login(c, AGENT)
    html = c.get("/inbox/").get_data(as_text=True)
    assert 'id="agent-status"' in html and 'data-status="offline"' in html and "My teams&#39; queue" in html
    r = c.put("/api/v1/agents/me/status", json={"status": "online"}, headers={"X-CSRF-Token": token_of(html)})
    assert r.status_code == 200 and r.get_json()["status"] == "online"
    r = c.put("/api/v1/agents/me/status", json={"status": "away"})  # no CSRF token: refused
    assert r.status_code in (400, 403)
    html = c.get("/inbox/").get_data(as_text=True)
    assert 'data-status="online"' in html
    with web.rt.db.session() as s:
        uid = s.scalar(select(User.id).where(User.email == AGENT[0]))
        team = Team(name="Desk", assignment="manual")
        s.add(team)
        s.flush()
        s.add_all([assignment_member(team.id, uid)])
    _c1, waiting = seed_conversation(web, "web", "web:wendy", "Wendy")
    _c2, other = seed_conversation(web, "web", "web:otto", "Otto")
    with web.rt.db.session() as s:
        conv = s.get(Conversation, waiting)
        conv.team_id = s.scalar(select(Team.id).where(Team.name == "Desk"))
        conv.queued_at = conv.created_at
    html = c.get("/inbox/?team=mine&assignee=none&sort=waiting").get_data(as_text=True)
    assert f'id="conv-{waiting}"' in html and f'id="conv-{other}"' not in html and "queued" in html
    # the conversation view: team menu, assignment in the timeline
    r = c.patch(f"/api/v1/conversations/{waiting}", json={"assignee": "me"}, headers={"X-CSRF-Token": token_of(html)})
    assert r.status_code == 200 and r.get_json()["team"] == "Desk"
    html = c.get(f"/inbox/c/{waiting}").get_data(as_text=True)
    assert 'id="team"' in html and "team <strong>Desk</strong>" in html
    assert f"Assigned to {AGENT[0]} by {AGENT[0]}" in html
    # signing out makes the agent offline at once (no more automatic assignments)
    c.post("/logout", data={"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)})
    with web.rt.db.read() as s:
        assert s.get(AgentStatus, uid).status == "offline"
        assert assignment.status_of(s, uid, 300) == "offline"


def assignment_member(team_id: int, user_id: int):
    from hub.models import TeamMember

    return TeamMember(team_id=team_id, user_id=user_id, capacity=5)


def test_removing_a_team_in_the_console_asks_first_and_moves_its_conversations(web):
    c = web.app.test_client()
    do_login(c, ADMIN)
    admin_post(c, {"action": "create_team", "name": "General", "assignment": "manual", "default": "1"})
    admin_post(c, {"action": "create_team", "name": "Billing", "assignment": "manual"})
    with web.rt.db.read() as s:
        general = s.scalar(select(Team).where(Team.name == "General"))
        billing = s.scalar(select(Team).where(Team.name == "Billing"))
    ids = [seed_conversation(web, "web", f"web:bill-{i}", f"Bill {i}")[1] for i in range(2)]
    with web.rt.db.session() as s:
        for conv_id in ids:
            conv = s.get(Conversation, conv_id)
            conv.team_id, conv.queued_at = billing.id, conv.created_at
    # the first click only asks, saying how many open conversations move and where
    status, html = admin_post(c, {"action": "delete_team", "team_id": billing.id})
    assert status == 200 and 'id="confirm-delete"' in html
    assert "It holds <strong>2</strong> open conversations" in html and "default team <strong>General</strong>" in html
    with web.rt.db.read() as s:
        assert s.get(Team, billing.id) is not None
    status, html = admin_post(c, {"action": "delete_team", "team_id": billing.id, "confirm": "yes"})
    assert status == 302 and "Team Billing removed. 2 open conversation(s) moved to General." in html
    with web.rt.db.read() as s:
        assert s.get(Team, billing.id) is None
        assert {s.get(Conversation, i).team_id for i in ids} == {general.id}
    html = c.get(f"/inbox/c/{ids[0]}").get_data(as_text=True)
    assert "Moved to team General by admin@example.com (team Billing removed)" in html
    # the default team cannot be removed (no button; a forged post is refused)
    page = c.get("/admin/teams").get_data(as_text=True)
    assert 'aria-label="Remove team General"' not in page and "The default team cannot be removed" in page
    status, html = admin_post(c, {"action": "delete_team", "team_id": general.id, "confirm": "yes"})
    assert status == 409 and "default team" in html


def test_the_rule_form_refuses_values_no_conversation_can_have(web):
    c = web.app.test_client()
    do_login(c, ADMIN)
    admin_post(c, {"action": "create_team", "name": "Desk", "assignment": "manual"})
    page = c.get("/admin/teams").get_data(as_text=True)
    assert 'id="allowed-values"' in page and "card_payment" in page and "whatsapp" in page
    for form, words in (({"medium": "smss"}, ["conditions.medium", "&#39;smss&#39;", "whatsapp"]),
                        ({"connector": "nope"}, ["conditions.connector", "web"]),
                        ({"language": "english"}, ["conditions.language", "en, es"]),
                        ({"category": "payments"}, ["conditions.category", "card_payment"]),
                        ({"contact": "plan ="}, ["contact attributes: line 1"])):
        status, html = admin_post(c, {"action": "create_rule", "team": "Desk", **form})
        assert status == 400 and all(w in html for w in words), (form, re.findall(r'class="error"[^>]*>([^<]*)', html))
    with web.rt.db.read() as s:
        assert s.scalar(select(RoutingRule.id)) is None


def test_deactivating_an_agent_in_the_console_returns_their_conversations(web):
    c = web.app.test_client()
    do_login(c, ADMIN)
    with web.rt.db.session() as s:
        uid = s.scalar(select(User.id).where(User.email == AGENT[0]))
        team = Team(name="Desk", assignment="manual")
        s.add(team)
        s.flush()
        s.add(assignment_member(team.id, uid))
        team_id = team.id
    with web.rt.db.session() as s:
        assignment.set_status(s, uid, "online")
    _c, conv_id = seed_conversation(web, "web", "web:dora", "Dora")
    with web.rt.db.session() as s:
        conv = s.get(Conversation, conv_id)
        conv.team_id, conv.queued_at, conv.assignee_id = team_id, conv.created_at, uid
        queued = conv.queued_at
    page = c.get("/admin/users").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = c.post("/admin/users", data={"action": "deactivate", "user_id": uid, "csrf_token": token})
    assert r.status_code == 302
    with web.rt.db.read() as s:
        assert s.get(AgentStatus, uid).status == "offline"
        conv = s.get(Conversation, conv_id)
        assert conv.assignee_id is None and conv.queued_at == queued
    html = c.get(f"/inbox/c/{conv_id}").get_data(as_text=True)
    assert f"Returned to the team queue: {AGENT[0]}, agent deactivated (by {ADMIN[0]})" in html


def test_the_timeline_fragment_carries_the_header_as_it_is_now(web):
    c = web.app.test_client()
    do_login(c, AGENT)
    _c, conv_id = seed_conversation(web, "web", "web:hugo", "Hugo")
    html = c.get(f"/inbox/c/{conv_id}").get_data(as_text=True)
    assert 'id="conv-meta"' in html and 'data-assignee=""' in html
    with web.rt.db.session() as s:  # someone else takes it and resolves it
        conv = s.get(Conversation, conv_id)
        conv.assignee_id = s.scalar(select(User.id).where(User.email == ADMIN[0]))
        conv.status = "resolved"
    frag = c.get(f"/inbox/fragment/c/{conv_id}").get_data(as_text=True)
    head = re.search(r'<template id="conv-head-next">(.*?)</template>', frag, re.S).group(1)
    assert f'data-assignee="{ADMIN[0]}"' in head and 'data-status="resolved"' in head and f"assigned to {ADMIN[0]}" in head
    # a stale "Assign to me" from this page is refused, naming who has it
    r = c.patch(f"/api/v1/conversations/{conv_id}", json={"assignee": "me", "if_assignee": ""}, headers={"X-CSRF-Token": token_of(html)})
    assert r.status_code == 409 and r.get_json()["assignee"] == ADMIN[0] and ADMIN[0] in r.get_json()["error"]
