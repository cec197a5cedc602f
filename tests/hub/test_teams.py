"""Teams, routing rules and assignment (issue #21 items 1-2, docs/teams.md).

Routing is exercised through the real flow (signed webhook -> journal -> RQ worker -> triage ->
routing); assignment through hub.assignment on SQLite and PostgreSQL, with time passed in
(``at=``) rather than slept; the concurrency test runs two real `omnihub worker` processes
ingesting at once against one Redis and one database.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from hub import assignment, signing
from hub.auth import create_token, create_user
from hub.models import AgentStatus, AuditLog, Conversation, ConversationEvent, RoutingRule, Team, TeamMember, User, now
from hub.routing import Conditions, Facts, matches
from tests.support.hub import wait_until

SECRET = "teams-secret"


def post(h, id: str, text: str, sender: str, name: str = "", email: str | None = None):
    body = json.dumps({"id": id, "from": {"id": sender, "name": name or sender.title(), "email": email or f"{sender}@example.com"},
                       "text": text}).encode()
    resp = h.client.post("/webhooks/web/messages", data=body, headers={"Content-Type": "application/json", **signing.sign(SECRET, body)})
    assert resp.status_code == 200, resp.get_data(as_text=True)


def make_agents(h, n: int, prefix: str = "agent") -> dict[str, str]:
    """n agents: email -> API token."""
    out = {}
    with h.rt.db.session() as s:
        for i in range(1, n + 1):
            email = f"{prefix}{i}@example.com"
            create_user(s, email, "agent", "correct horse battery", f"Agent {i}")
            out[email] = create_token(s, email)
    return out


def uid(h, email: str) -> int:
    with h.rt.db.read() as s:
        return s.scalar(select(User.id).where(User.email == email))


def set_status(h, email: str, status: str, at=None) -> None:
    with h.rt.db.session() as s:
        assignment.set_status(s, uid(h, email), status, at=at)


def seed(h, n: int, team: str, *, start=None) -> list[int]:
    """n waiting conversations in a team's queue, queued one minute apart (oldest first)."""
    from tests.web.conftest import seed_conversation

    start = start or now() - timedelta(hours=1)
    ids = []
    for i in range(n):
        _contact, conv_id = seed_conversation(h, "web", f"web:{team}-{i}-{len(ids)}-{start.timestamp()}", f"Customer {i}")
        ids.append(conv_id)
    with h.rt.db.session() as s:
        team_id = s.scalar(select(Team.id).where(Team.name == team))
        for i, conv_id in enumerate(ids):
            c = s.get(Conversation, conv_id)
            c.team_id, c.queued_at = team_id, start + timedelta(minutes=i)
    return ids


def assignee_of(h, conv_id: int) -> str | None:
    with h.rt.db.read() as s:
        c = s.get(Conversation, conv_id)
        return s.get(User, c.assignee_id).email if c.assignee_id else None


def events(h, conv_id: int) -> list[tuple[str, dict]]:
    with h.rt.db.read() as s:
        return [(e.kind, e.details) for e in s.scalars(select(ConversationEvent).where(ConversationEvent.conversation_id == conv_id)
                                                       .order_by(ConversationEvent.id))]


@pytest.fixture
def team_hub(make_hub, db_url):
    h = make_hub(database_url=db_url)
    h.add_connector("web", "api", secret=SECRET)
    assert h.token  # the admin (agent@example.com, role admin)
    return h


def create_team(h, name: str, members: dict[str, int], assignment_mode: str = "auto", default: bool = False) -> dict:
    resp = h.api("POST", "/api/v1/teams", {"name": name, "assignment": assignment_mode, "default": default,
                                           "members": [{"email": e, "capacity": c} for e, c in members.items()]})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return resp.get_json()


# ------------------------------------------------------------------------------ rules
@pytest.mark.parametrize("cond, facts, expected", [
    ({}, {}, True),
    ({"medium": ["sms", "WhatsApp"]}, {"medium": "whatsapp"}, True),
    ({"medium": ["sms"]}, {"medium": "email"}, False),
    ({"security": True}, {"security": True}, True),
    ({"security": True}, {"security": False}, False),
    ({"security": False, "language": ["es"]}, {"security": False, "language": "es"}, True),
    ({"category": ["payments"], "priority": ["high", "urgent"]}, {"category": "payments", "priority": "normal"}, False),
    ({"connector": ["web"], "priority": ["urgent"]}, {"connector": "web", "priority": "urgent"}, True),
    ({"contact": {"plan": ["vip"]}}, {"contact": {"plan": "VIP"}}, True),
    ({"contact": {"plan": ["vip"]}}, {"contact": {}}, False),
    ({"contact": {"email_domain": ["bank.example"]}}, {"contact": {"email_domain": "bank.example"}}, True),
])
def test_conditions_all_must_hold(cond, facts, expected):
    base = {"connector": "web", "medium": "api", "language": "en", "category": "general_question", "priority": "normal",
            "security": False, "contact": {}}
    assert matches(Conditions.model_validate(cond), Facts(**{**base, **facts})) is expected


def test_conditions_are_bounded_and_strict():
    with pytest.raises(ValueError):
        Conditions.model_validate({"medium": ["sms"] * 51})
    with pytest.raises(ValueError):
        Conditions.model_validate({"nope": ["x"]})
    with pytest.raises(ValueError):  # a JSON boolean only: "yes" is not coerced (#21 fresh eyes)
        Conditions.model_validate({"security": "yes"})


def test_rules_route_at_ingest_in_order_on_triage_language_and_contact(team_hub):
    h = team_hub
    agents = make_agents(h, 2)
    create_team(h, "general", {}, "manual", default=True)
    create_team(h, "security", dict.fromkeys(agents, 5), "manual")
    create_team(h, "spanish", {}, "manual")
    create_team(h, "vip", {}, "manual")
    for rule in (
        {"name": "security first", "team": "security", "conditions": {"security": True}, "set_priority": "urgent", "add_tags": ["sec-team"]},
        {"name": "spanish", "team": "spanish", "conditions": {"language": ["es"]}},
        {"name": "vip domain", "team": "vip", "conditions": {"contact": {"email_domain": ["vip.example"]}}, "add_tags": ["vip"]},
    ):
        assert h.api("POST", "/api/v1/routing-rules", rule).status_code == 201
    rules = h.api("GET", "/api/v1/routing-rules").get_json()["items"]
    assert [r["name"] for r in rules] == ["security first", "spanish", "vip domain"]
    h.start_worker()
    post(h, "m1", "My account was hacked, someone logged in and stole my funds, help!", "alice")
    post(h, "m2", "Hola, no puedo retirar mi dinero de la cuenta desde ayer, ¿me pueden ayudar por favor?", "bruno")
    post(h, "m3", "Hi, can you send me the invoice for last month please?", "carol", email="carol@vip.example")
    post(h, "m4", "Hello, where can I find your fees page?", "dave")
    # a Spanish speaker whose account was taken over: the first matching rule (security) wins
    post(h, "m5", "Hola, me hackearon la cuenta y alguien entró y robó mis fondos, ayuda urgente por favor", "eva")

    def by_sender():
        items = h.api("GET", "/api/v1/conversations?limit=10").get_json()["items"]
        return {c["customer"]["display_name"]: c for c in items} if len(items) == 5 else None

    convs = wait_until(by_sender, timeout=30, message="five conversations")
    assert convs["Alice"]["team"] == "security" and convs["Alice"]["priority"] == "urgent" and "sec-team" in convs["Alice"]["tags"]
    assert convs["Alice"]["security_flag"] is True
    assert convs["Bruno"]["team"] == "spanish" and convs["Bruno"]["language"] == "es"
    assert convs["Carol"]["team"] == "vip" and "vip" in convs["Carol"]["tags"]
    assert convs["Dave"]["team"] == "general"  # no rule matched: the default team
    assert convs["Eva"]["team"] == "security"
    assert events(h, convs["Alice"]["id"])[0] == ("routed", {"team": "security", "rule": "security first", "rule_id": rules[0]["id"],
                                                            "priority": "urgent", "tags": ["sec-team"]})
    assert events(h, convs["Dave"]["id"])[0] == ("routed", {"team": "general", "rule": "default team"})
    # manual teams: nobody is assigned, the conversations wait in their queues
    assert all(c["assignee"] is None and c["queued_at"] for c in convs.values())
    teams = {t["name"]: t for t in h.api("GET", "/api/v1/teams").get_json()["items"]}
    assert teams["security"]["waiting"] == 2 and teams["general"]["waiting"] == 1
    mine = h.api("GET", "/api/v1/conversations?team=security", token=next(iter(agents.values()))).get_json()
    assert {c["id"] for c in mine["items"]} == {convs["Alice"]["id"], convs["Eva"]["id"]}


def test_reordering_rules_changes_which_team_wins(team_hub):
    h = team_hub
    create_team(h, "a", {}, "manual")
    create_team(h, "b", {}, "manual")
    r1 = h.api("POST", "/api/v1/routing-rules", {"name": "all to a", "team": "a"}).get_json()
    r2 = h.api("POST", "/api/v1/routing-rules", {"name": "api to b", "team": "b", "conditions": {"medium": ["api"]}}).get_json()
    resp = h.api("PUT", "/api/v1/routing-rules/order", {"ids": [r2["id"], r1["id"]]})
    assert resp.status_code == 200 and [r["name"] for r in resp.get_json()["items"]] == ["api to b", "all to a"]
    h.start_worker()
    post(h, "o1", "Hello there, a question about my order", "olga")
    conv = wait_until(lambda: (h.api("GET", "/api/v1/conversations").get_json()["items"] or [None])[0], message="conversation")
    assert conv["team"] == "b"
    with h.rt.db.read() as s:
        actions = [a.action for a in s.scalars(select(AuditLog).where(AuditLog.action.like("routing_rule.%")).order_by(AuditLog.id))]
    assert actions == ["routing_rule.create", "routing_rule.create", "routing_rule.reorder"]


# -------------------------------------------------------------------------- assignment
def test_round_robin_order_and_capacity(team_hub):
    h = team_hub
    agents = make_agents(h, 3)
    a1, a2, a3 = agents
    create_team(h, "desk", {a1: 2, a2: 2, a3: 1})
    for email in agents:
        set_status(h, email, "online")
    ids = seed(h, 7, "desk")
    made = assignment.assign_waiting(h.rt, _team_id(h, "desk"))
    # oldest first, round robin a1, a2, a3, a1, a2; a3 is full at 1, then everyone is full
    assert [c for c, _u in made] == ids[:5]
    assert [assignee_of(h, c) for c in ids] == [a1, a2, a3, a1, a2, None, None]
    assert events(h, ids[0])[-1] == ("assigned", {"assignee": a1, "team": "desk", "how": "round robin"})
    # resolving frees a2's capacity: the oldest waiting conversation (ids[5]) goes to a2, not ids[6]
    resp = h.api("PATCH", f"/api/v1/conversations/{ids[1]}", {"status": "resolved"})
    assert resp.status_code == 200
    assert assignee_of(h, ids[5]) == a2 and assignee_of(h, ids[6]) is None
    teams = h.api("GET", "/api/v1/teams").get_json()["items"]
    assert teams[0]["waiting"] == 1
    assert {m["email"]: m["open"] for m in teams[0]["members"]} == {a1: 2, a2: 2, a3: 1}


def _team_id(h, name: str) -> int:
    with h.rt.db.read() as s:
        return s.scalar(select(Team.id).where(Team.name == name))


def test_away_and_offline_agents_get_nothing_new_and_coming_online_takes_the_oldest(team_hub):
    h = team_hub
    agents = make_agents(h, 3)
    a1, a2, a3 = agents
    create_team(h, "desk", dict.fromkeys(agents, 5))
    set_status(h, a1, "online")
    set_status(h, a2, "away")  # a3 never set a status: offline
    ids = seed(h, 3, "desk")
    assignment.assign_waiting(h.rt, _team_id(h, "desk"))
    assert [assignee_of(h, c) for c in ids] == [a1, a1, a1]
    # an online agent whose inbox went quiet longer than OMNIHUB_AGENT_IDLE_SECONDS counts as offline
    more = seed(h, 2, "desk", start=now() - timedelta(minutes=30))
    later = now() + timedelta(seconds=h.settings.agent_idle_seconds + 5)
    assert assignment.assign_waiting(h.rt, _team_id(h, "desk"), at=later) == []
    # agent 1 steps away (keeps their conversations, gets no new ones); agent 3 comes online through
    # the API (as the inbox header does) and takes the waiting ones, oldest first
    set_status(h, a1, "away")
    resp = h.api("PUT", "/api/v1/agents/me/status", {"status": "online"}, token=agents[a3])
    assert resp.status_code == 200 and resp.get_json()["status"] == "online"
    assert [assignee_of(h, c) for c in more] == [a3, a3]
    statuses = {a["email"]: a["status"] for a in h.api("GET", "/api/v1/agents").get_json()["items"]}
    assert statuses[a1] == "away" and statuses[a2] == "away" and statuses[a3] == "online"
    assert [assignee_of(h, c) for c in ids] == [a1, a1, a1]


def test_agents_set_only_their_own_status(team_hub):
    h = team_hub
    agents = make_agents(h, 2)
    a1, a2 = agents
    other = uid(h, a2)
    assert h.api("PUT", f"/api/v1/agents/{other}/status", {"status": "offline"}, token=agents[a1]).status_code == 403
    assert h.api("PUT", "/api/v1/agents/me/status", {"status": "busy"}, token=agents[a1]).status_code == 400
    assert h.api("PUT", f"/api/v1/agents/{other}/status", {"status": "away"}).status_code == 200  # an admin may
    assert h.api("POST", "/api/v1/teams", {"name": "x"}, token=agents[a1]).status_code == 403
    assert h.api("GET", "/api/v1/routing-rules", token=agents[a1]).status_code == 403
    assert h.api("GET", "/api/v1/teams", token=agents[a1]).status_code == 200


def test_offline_agent_conversations_return_to_the_queue_and_are_reassigned(team_hub):
    h = team_hub
    agents = make_agents(h, 2)
    a1, a2 = agents
    create_team(h, "desk", dict.fromkeys(agents, 5))
    t0 = now()
    set_status(h, a1, "online", at=t0)
    ids = seed(h, 2, "desk")
    assignment.assign_waiting(h.rt, _team_id(h, "desk"), at=t0)
    assert [assignee_of(h, c) for c in ids] == [a1, a1]
    set_status(h, a1, "offline", at=t0)
    set_status(h, a2, "online", at=t0)
    # offline, but not for long enough: the conversations stay with agent 1
    short = t0 + timedelta(seconds=h.settings.reassign_offline_seconds / 2)
    with h.rt.db.session() as s:
        assignment.touch(s, uid(h, a2), at=short)
    assert assignment.sweep(h.rt, at=short)["returned"] == 0
    assert [assignee_of(h, c) for c in ids] == [a1, a1]
    past = t0 + timedelta(seconds=h.settings.reassign_offline_seconds + 1)
    with h.rt.db.session() as s:
        assignment.touch(s, uid(h, a2), at=past)
    counts = assignment.sweep(h.rt, at=past)
    assert counts["returned"] == 2 and counts["assigned"] == 2
    assert [assignee_of(h, c) for c in ids] == [a2, a2]
    kinds = [k for k, _d in events(h, ids[0])]
    assert kinds == ["assigned", "returned", "assigned"]
    assert events(h, ids[0])[1][1]["previous"] == a1


def test_idle_online_agent_is_set_offline_by_the_sweep(team_hub):
    h = team_hub
    agents = make_agents(h, 1)
    (a1,) = agents
    t0 = now()
    set_status(h, a1, "online", at=t0)
    later = t0 + timedelta(seconds=h.settings.agent_idle_seconds + 1)
    assert assignment.sweep(h.rt, at=later)["offline"] == 1
    with h.rt.db.read() as s:
        row = s.get(AgentStatus, uid(h, a1))
        assert row.status == "offline" and row.changed_at == t0 + timedelta(seconds=h.settings.agent_idle_seconds)


def test_an_away_agent_stays_away_however_long_idle(team_hub):
    """docs/teams.md: away keeps their conversations; only online agents go offline when idle
    (someone who set Away and closed the laptop for lunch must not lose their work)."""
    h = team_hub
    (a1,) = make_agents(h, 1)
    t0 = now()
    set_status(h, a1, "away", at=t0)
    later = t0 + timedelta(seconds=h.settings.agent_idle_seconds + h.settings.reassign_offline_seconds + 60)
    assert assignment.sweep(h.rt, at=later)["offline"] == 0
    with h.rt.db.read() as s:
        assert s.get(AgentStatus, uid(h, a1)).status == "away"
        assert assignment.status_of(s, uid(h, a1), h.settings.agent_idle_seconds, at=later) == "away"


def test_manual_assignment_and_team_change_show_in_the_timeline_and_audit(team_hub):
    h = team_hub
    agents = make_agents(h, 1)
    (a1,) = agents
    create_team(h, "desk", {a1: 1}, "manual")
    create_team(h, "billing", {}, "manual")
    (conv_id,) = seed(h, 1, "desk")
    assert h.api("PATCH", f"/api/v1/conversations/{conv_id}", {"assignee": "me"}, token=agents[a1]).status_code == 200
    assert h.api("PATCH", f"/api/v1/conversations/{conv_id}", {"assignee": "", "team": "billing"}).status_code == 200
    body = h.api("GET", f"/api/v1/conversations/{conv_id}").get_json()
    assert body["team"] == "billing" and body["assignee"] is None and body["queued_at"]
    assert [k for k, _d in events(h, conv_id)] == ["assigned", "team", "unassigned"]
    assert h.api("PATCH", f"/api/v1/conversations/{conv_id}", {"team": "nope"}).status_code == 400
    # a team still named by a rule cannot be removed; a removed team's conversations leave its queue
    assert h.api("POST", "/api/v1/routing-rules", {"team": "billing", "conditions": {"category": ["card_payment"]}}).status_code == 201
    assert h.api("DELETE", f"/api/v1/teams/{_team_id(h, 'billing')}").status_code == 409
    with h.rt.db.read() as s:
        assert {"team.create"} <= set(s.scalars(select(AuditLog.action)))


# ----------------------------------------------------------------------- concurrency
def test_concurrent_ingest_in_two_workers_never_double_assigns(make_hub, db_url):
    """Two real RQ worker processes ingest at once (small batches, two drain slots); every
    conversation is routed to the auto team and assigned at most once, no agent goes over
    capacity, the rest wait in their queue in order."""
    h = make_hub(database_url=db_url, batch_size=1, drain_slots=2, log_level="DEBUG")
    h.add_connector("web", "api", secret=SECRET)
    assert h.token
    if db_url.startswith("postgresql"):
        # a slow database: each assignment's UPDATE takes 200 ms, so the two workers' assignment
        # transactions overlap (without the team row lock they would both count an agent's load
        # before either commits, and assign past capacity)
        from sqlalchemy import text

        with h.rt.db.engine.begin() as c:
            c.execute(text("CREATE FUNCTION slow_assign() RETURNS trigger AS $$ BEGIN PERFORM pg_sleep(0.2); RETURN NEW; END $$ "
                           "LANGUAGE plpgsql"))
            c.execute(text("CREATE TRIGGER slow_assign BEFORE UPDATE OF assignee_id ON conversations FOR EACH ROW "
                           "EXECUTE FUNCTION slow_assign()"))
    agents = make_agents(h, 3)
    capacity = 8
    create_team(h, "desk", dict.fromkeys(agents, capacity), "auto", default=True)
    for email in agents:
        set_status(h, email, "online")
    n = 40
    h.start_worker("w1")
    h.start_worker("w2")
    for i in range(n):
        post(h, f"c{i}", f"Hello, question number {i} about my order", f"cust{i}")
    wait_until(lambda: h.count(Conversation) == n, timeout=60, message=f"{n} conversations")
    h.wait_idle(timeout=60)
    with h.rt.db.read() as s:
        loads = dict(s.execute(select(Conversation.assignee_id, func.count()).where(Conversation.assignee_id.is_not(None))
                               .group_by(Conversation.assignee_id)).all())
        per_conv = dict(s.execute(select(ConversationEvent.conversation_id, func.count()).where(ConversationEvent.kind == "assigned")
                                  .group_by(ConversationEvent.conversation_id)).all())
        waiting = s.scalars(select(Conversation).where(Conversation.assignee_id.is_(None))).all()
        assigned = s.scalars(select(Conversation).where(Conversation.assignee_id.is_not(None))).all()
        seqs = sorted(m.last_seq for m in s.scalars(select(TeamMember)))
        rr_seq = s.scalar(select(Team.rr_seq))
    full = 3 * capacity
    assert sorted(loads.values()) == [capacity] * 3  # everyone at capacity, nobody over it
    assert len(assigned) == full and len(waiting) == n - full
    assert set(per_conv.values()) == {1} and set(per_conv) == {c.id for c in assigned}  # each assigned exactly once
    # one round-robin counter, never lost to a concurrent update: one number per assignment
    assert rr_seq == full and seqs == [full - 2, full - 1, full]
    assert all(c.team_id is not None and c.queued_at is not None for c in waiting)
    # both workers took part in the ingest (each logs the batches it drained)
    logs = {name: h.output(name) for name in ("w1", "w2")}
    assert all("stage=ingest" in text for text in logs.values()), {k: v[-500:] for k, v in logs.items()}
    # capacity frees up: the oldest waiting conversation is assigned first
    oldest = min(waiting, key=lambda c: (c.queued_at, c.id))
    victim = assigned[0]
    assert h.api("PATCH", f"/api/v1/conversations/{victim.id}", {"status": "resolved"}).status_code == 200
    assert assignee_of(h, oldest.id) == assignee_of(h, victim.id)


def test_the_poller_runs_the_assignment_sweep_under_its_lease(team_hub):
    """A real `omnihub poll` process: an agent whose inbox went quiet is set offline and their
    conversations go back to the queue, then to an online colleague (no test calls the sweep)."""
    h = team_hub
    agents = make_agents(h, 2)
    a1, a2 = agents
    create_team(h, "desk", dict.fromkeys(agents, 5))
    long_ago = now() - timedelta(seconds=h.settings.agent_idle_seconds + h.settings.reassign_offline_seconds + 60)
    set_status(h, a1, "online", at=long_ago)  # went quiet long ago (a closed laptop)
    (conv_id,) = seed(h, 1, "desk")
    with h.rt.db.session() as s:
        assignment.changed(s, s.get(Conversation, conv_id), uid(h, a1), "test")
    set_status(h, a2, "online")
    h.start_poller()
    wait_until(lambda: assignee_of(h, conv_id) == a2, timeout=30, message="reassigned by the poller")
    with h.rt.db.read() as s:
        assert s.get(AgentStatus, uid(h, a1)).status == "offline"
    assert [k for k, _d in events(h, conv_id)] == ["assigned", "returned", "assigned"]
    stats = h.api("GET", "/api/v1/stats/queues").get_json()
    assert any("assignment" in str(lease) for lease in stats.get("leases", [])), stats.get("leases")


def test_rules_and_teams_change_and_go_away(team_hub):
    h = team_hub
    agents = make_agents(h, 1)
    create_team(h, "a", dict.fromkeys(agents, 2), "manual")
    b = create_team(h, "b", {}, "manual", default=True)
    rule = h.api("POST", "/api/v1/routing-rules", {"team": "a", "conditions": {"medium": ["sms"]}}).get_json()
    resp = h.api("PATCH", f"/api/v1/routing-rules/{rule['id']}", {"team": "b", "conditions": {"language": ["pt"]}, "set_priority": "high",
                                                                   "enabled": False})
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["team"] == "b" and body["conditions"] == {"language": ["pt"]} and body["set_priority"] == "high" and not body["enabled"]
    assert h.api("PATCH", f"/api/v1/routing-rules/{rule['id']}", {"conditions": {"nope": 1}}).status_code == 400
    assert h.api("POST", "/api/v1/routing-rules", {"team": "zz"}).status_code == 400
    # one default team at most
    h.api("PATCH", f"/api/v1/teams/{_team_id(h, 'a')}", {"default": True})
    teams = {t["name"]: t for t in h.api("GET", "/api/v1/teams").get_json()["items"]}
    assert teams["a"]["default"] and not teams["b"]["default"]
    (conv_id,) = seed(h, 1, "b")
    assert h.api("DELETE", f"/api/v1/routing-rules/{rule['id']}").status_code == 204
    assert h.api("DELETE", f"/api/v1/teams/{b['id']}").status_code == 204
    # its open conversation moved to the default team (a), keeping its place in the queue
    body = h.api("GET", f"/api/v1/conversations/{conv_id}").get_json()
    assert body["team"] == "a" and body["queued_at"]
    assert h.api("GET", f"/api/v1/teams/{b['id']}").status_code == 404
    # the timeline's entries are in the full conversation too
    assert h.api("PATCH", f"/api/v1/conversations/{conv_id}", {"assignee": agents and next(iter(agents))}).status_code == 200
    full = h.api("GET", f"/api/v1/conversations/{conv_id}").get_json()
    assert [e["kind"] for e in full["events"]] == ["team", "assigned"] and full["events"][1]["actor"] == "agent@example.com"
    assert full["events"][0]["details"] == {"team": "a", "reason": "team b removed"}
    with h.rt.db.read() as s:
        assert s.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "team.delete")) == 1
    assert h.api("PUT", "/api/v1/agents/99999999999999999999/status", {"status": "online"}).status_code == 404
    assert h.api("PUT", "/api/v1/agents/9223372036854775807/status", {"status": "online"}).status_code == 404


def test_automatic_assignment_and_return_are_event_webhooks(team_hub):
    """Assignments made by conditional UPDATEs still emit conversation.updated (hub.events)."""
    from hub.models import EventSubscription, WebhookEvent

    h = team_hub
    agents = make_agents(h, 1)
    (a1,) = agents
    create_team(h, "desk", {a1: 2})
    with h.rt.db.session() as s:
        s.add(EventSubscription(url="https://hooks.example/omnihub", events=["conversation.updated"], secret=b"x", enabled=True))
    t0 = now()
    set_status(h, a1, "online", at=t0)
    (conv_id,) = seed(h, 1, "desk")
    assignment.assign_waiting(h.rt, _team_id(h, "desk"), at=t0)
    set_status(h, a1, "offline", at=t0)
    assignment.sweep(h.rt, at=t0 + timedelta(seconds=h.settings.reassign_offline_seconds + 1))
    with h.rt.db.read() as s:
        rows = s.scalars(select(WebhookEvent).where(WebhookEvent.type == "conversation.updated").order_by(WebhookEvent.id)).all()
        changes = [r.payload["data"]["changes"]["assignee"] for r in rows]
    assert changes == [{"from": None, "to": a1}, {"from": a1, "to": None}]
    assert all(r.conversation_id == conv_id for r in rows)


# ------------------------------------------------------------- fresh-eyes fixes (#21)
def _patch_at_once(h, conv_id: int, bodies: list[tuple[str, dict]], hold_row: bool) -> list:
    """PATCH the conversation from several threads at the same moment (each its own client and
    bearer token). On PostgreSQL the test first holds the conversation's row lock and releases it
    only once every request waits on a lock, so the requests have all read the conversation before
    any of them writes (the race a real double click hits); SQLite serializes write transactions
    (BEGIN IMMEDIATE), so there the second request reads the first one's commit."""
    import threading

    from sqlalchemy import text

    results: list = [None] * len(bodies)
    go = threading.Barrier(len(bodies))

    def run(i: int, token: str, body: dict) -> None:
        client = h.app.test_client()
        go.wait()
        r = client.open(f"/api/v1/conversations/{conv_id}", method="PATCH", json=body, headers={"Authorization": f"Bearer {token}"})
        results[i] = (r.status_code, r.get_json())

    threads = [threading.Thread(target=run, args=(i, tok, body)) for i, (tok, body) in enumerate(bodies)]
    if not hold_row:
        for t in threads:
            t.start()
    else:
        with h.rt.db.engine.connect() as holder, h.rt.db.engine.connect() as watcher:
            tx = holder.begin()
            holder.execute(text("SELECT id FROM conversations WHERE id = :i FOR UPDATE"), {"i": conv_id})
            for t in threads:
                t.start()

            def waiting() -> bool:
                n = watcher.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                         "AND wait_event_type = 'Lock'")).scalar()
                watcher.rollback()
                return n >= len(bodies)

            wait_until(waiting, timeout=20, message="every request waiting on the row lock")
            tx.rollback()
    for t in threads:
        t.join(30)
    return results


def test_two_agents_claiming_at_once_one_wins_the_other_gets_409_naming_them(team_hub, db_url):
    h = team_hub
    agents = make_agents(h, 3)
    a1, a2, a3 = agents
    create_team(h, "desk", dict.fromkeys(agents, 5), "manual")
    (conv_id,) = seed(h, 1, "desk")
    results = _patch_at_once(h, conv_id, [(agents[a1], {"assignee": "me"}), (agents[a2], {"assignee": "me"})],
                             hold_row=db_url.startswith("postgresql"))
    codes = sorted(code for code, _b in results)
    assert codes == [200, 409], results
    winner = assignee_of(h, conv_id)
    assert winner in (a1, a2)
    loser = next(body for code, body in results if code == 409)
    assert loser["assignee"] == winner and winner in loser["error"] and loser["field"] == "assignee"
    assert [k for k, _d in events(h, conv_id)] == ["assigned"]  # one assignment, never overwritten

    # the inbox sends the assignee it saw: two other agents saw it as the winner's and take it over at once
    lost = a2 if winner == a1 else a1
    results = _patch_at_once(h, conv_id, [(agents[lost], {"assignee": "me", "if_assignee": winner}),
                                          (agents[a3], {"assignee": "me", "if_assignee": winner})],
                             hold_row=db_url.startswith("postgresql"))
    assert sorted(code for code, _b in results) == [200, 409], results
    holder = assignee_of(h, conv_id)
    assert holder in (lost, a3)
    assert next(body for code, body in results if code == 409)["assignee"] == holder
    # a stale view is refused, a current one may take over; 'me' never silently takes someone else's
    other = winner
    r = h.api("PATCH", f"/api/v1/conversations/{conv_id}", {"assignee": "me", "if_assignee": ""}, token=agents[other])
    assert r.status_code == 409 and r.get_json()["assignee"] == holder
    r = h.api("PATCH", f"/api/v1/conversations/{conv_id}", {"assignee": "me"}, token=agents[other])
    assert r.status_code == 409 and holder in r.get_json()["error"]
    r = h.api("PATCH", f"/api/v1/conversations/{conv_id}", {"assignee": "me", "if_assignee": holder}, token=agents[other])
    assert r.status_code == 200 and r.get_json()["assignee"] == other
    assert h.api("PATCH", f"/api/v1/conversations/{conv_id}", {"status": "pending", "if_assignee": "nobody@example.com"}
                 ).status_code == 400
    assert h.api("PATCH", f"/api/v1/conversations/{conv_id}", {"status": "pending", "if_assignee": ""}).status_code == 409
    assert h.api("GET", f"/api/v1/conversations/{conv_id}").get_json()["status"] == "open"


def test_claiming_with_ones_own_email_is_the_same_atomic_claim_as_me(team_hub, db_url):
    """#21 fresh eyes: naming oneself by email instead of "me" skipped the claim check and
    silently took a conversation another agent had. Every way of naming oneself (me, the
    email, in any case, with spaces) is one claim: 409 naming the holder, and of two agents
    claiming at once (one with "me", one with their email) exactly one wins."""
    h = team_hub
    agents = make_agents(h, 3)
    a1, a2, a3 = agents
    create_team(h, "desk", dict.fromkeys(agents, 5), "manual")
    (conv_id,) = seed(h, 1, "desk")
    assert h.api("PATCH", f"/api/v1/conversations/{conv_id}", {"assignee": "me"}, token=agents[a1]).status_code == 200
    for own in (a2, a2.upper(), f"  {a2.title()} "):
        r = h.api("PATCH", f"/api/v1/conversations/{conv_id}", {"assignee": own}, token=agents[a2])
        assert r.status_code == 409, (own, r.get_data(as_text=True))
        assert r.get_json()["assignee"] == a1 and a1 in r.get_json()["error"] and r.get_json()["field"] == "assignee"
    assert assignee_of(h, conv_id) == a1 and [k for k, _d in events(h, conv_id)] == ["assigned"]
    # with the assignee the client saw, a take-over by email is allowed, as with "me"
    r = h.api("PATCH", f"/api/v1/conversations/{conv_id}", {"assignee": a2.upper(), "if_assignee": a1}, token=agents[a2])
    assert r.status_code == 200 and r.get_json()["assignee"] == a2
    # claiming an unassigned one by email works; two at once ("me" and an email): one wins
    (other_id,) = seed(h, 1, "desk")
    results = _patch_at_once(h, other_id, [(agents[a1], {"assignee": "me"}), (agents[a3], {"assignee": a3.upper()})],
                             hold_row=db_url.startswith("postgresql"))
    assert sorted(code for code, _b in results) == [200, 409], results
    winner = assignee_of(h, other_id)
    assert winner in (a1, a3)
    assert next(body for code, body in results if code == 409)["assignee"] == winner


def test_unassigning_keeps_the_conversations_place_in_the_queue(team_hub):
    h = team_hub
    agents = make_agents(h, 2)
    a1, a2 = agents
    create_team(h, "desk", {a1: 5, a2: 1}, "manual")
    ids = seed(h, 3, "desk")
    with h.rt.db.read() as s:
        queued = {c: s.get(Conversation, c).queued_at for c in ids}
    assert h.api("PATCH", f"/api/v1/conversations/{ids[0]}", {"assignee": "me"}, token=agents[a1]).status_code == 200
    body = h.api("PATCH", f"/api/v1/conversations/{ids[0]}", {"assignee": ""}, token=agents[a1]).get_json()
    assert body["assignee"] is None and body["queued_at"] == queued[ids[0]].isoformat()
    # oldest waiting first: the unassigned conversation is still the oldest, not the newest
    h.api("PATCH", f"/api/v1/teams/{_team_id(h, 'desk')}", {"assignment": "auto"})
    set_status(h, a2, "online")
    made = assignment.assign_waiting(h.rt, _team_id(h, "desk"))
    assert made == [(ids[0], uid(h, a2))]
    waiting = h.api("GET", "/api/v1/conversations?team=desk&assignee=none").get_json()["items"]
    assert {c["id"]: c["queued_at"] for c in waiting} == {c: queued[c].isoformat() for c in ids[1:]}


def test_removing_a_team_moves_its_open_conversations_to_the_default_team(team_hub):
    h = team_hub
    agents = make_agents(h, 1)
    (a1,) = agents
    default = create_team(h, "general", {}, "manual", default=True)
    gone = create_team(h, "bill", {a1: 5}, "manual")
    waiting, mine, done, snoozed = seed(h, 4, "bill")
    with h.rt.db.read() as s:
        queued = s.get(Conversation, waiting).queued_at
    assert h.api("PATCH", f"/api/v1/conversations/{mine}", {"assignee": "me"}, token=agents[a1]).status_code == 200
    assert h.api("PATCH", f"/api/v1/conversations/{done}", {"status": "resolved"}).status_code == 200
    assert h.api("PATCH", f"/api/v1/conversations/{snoozed}", {"snoozed_until": (now() + timedelta(hours=2)).isoformat()}).status_code == 200
    # the default team itself cannot be removed
    r = h.api("DELETE", f"/api/v1/teams/{default['id']}")
    assert r.status_code == 409 and "default team" in r.get_json()["error"]
    assert h.api("DELETE", f"/api/v1/teams/{gone['id']}").status_code == 204
    convs = {c: h.api("GET", f"/api/v1/conversations/{c}").get_json() for c in (waiting, mine, done, snoozed)}
    assert convs[waiting]["team"] == "general" and convs[waiting]["assignee"] is None
    assert convs[waiting]["queued_at"] == queued.isoformat()  # its place in the queue
    assert convs[mine]["team"] == "general" and convs[mine]["assignee"] == a1
    assert convs[snoozed]["team"] == "general"
    assert convs[done]["team"] is None  # resolved: history, not moved
    assert events(h, waiting)[-1] == ("team", {"team": "general", "reason": "team bill removed"})
    teams = {t["name"]: t for t in h.api("GET", "/api/v1/teams").get_json()["items"]}
    assert set(teams) == {"general"} and teams["general"]["waiting"] == 1
    with h.rt.db.read() as s:
        entry = s.scalars(select(AuditLog).where(AuditLog.action == "team.delete")).one()
        assert entry.details["moved"] == 3 and entry.details["to"] == "general"


@pytest.mark.parametrize("conditions, field, names", [
    ({"connector": ["nope"]}, "conditions.connector", ["'nope'", "web"]),
    ({"medium": ["smss"]}, "conditions.medium", ["'smss'", "sms", "whatsapp", "api"]),
    ({"language": ["english"]}, "conditions.language", ["'english'", "en", "es"]),
    ({"category": ["payments"]}, "conditions.category", ["'payments'", "card_payment", "fees"]),
    ({"priority": []}, "conditions.priority", ["empty", "low", "urgent"]),
    ({"medium": []}, "conditions.medium", ["empty", "sms"]),
    ({"contact": {"plan": []}}, "conditions.contact.plan", ["empty"]),
    ({"contact": {"my plan": ["vip"]}}, "conditions.contact", ["'my plan'"]),
    # #21 fresh eyes: an empty contact condition was accepted, "yes" was taken for true
    ({"contact": {}}, "conditions.contact", ["empty", "attribute"]),
    ({"priority": ["critical"]}, "conditions.priority", ["'critical'", "low", "urgent"]),
    ({"security": "yes"}, "conditions.security", ["boolean"]),
    ({"security": 1}, "conditions.security", ["boolean"]),
    ({"contact": {"Plan": ["vip"], "plan": ["gold"]}}, "conditions.contact.plan", ["twice"]),
])
def test_routing_conditions_that_can_never_match_are_refused(team_hub, conditions, field, names):
    h = team_hub
    create_team(h, "a", {}, "manual")
    r = h.api("POST", "/api/v1/routing-rules", {"team": "a", "conditions": conditions})
    assert r.status_code == 400, r.get_json()
    assert r.get_json()["field"] == field and all(n in r.get_json()["error"] for n in names), r.get_json()
    rule = h.api("POST", "/api/v1/routing-rules", {"team": "a", "conditions": {"medium": ["SMS"], "connector": ["WEB"]}})
    assert rule.status_code == 201  # values compare case-insensitively
    r = h.api("PATCH", f"/api/v1/routing-rules/{rule.get_json()['id']}", {"conditions": conditions})
    assert r.status_code == 400 and r.get_json()["field"] == field
    assert h.count(RoutingRule) == 1


def test_rule_values_are_case_insensitive_everywhere_and_stored_canonical(team_hub):
    """#21 fresh eyes: priority was case-sensitive ("HIGH" refused) while the other values were
    accepted in any case and stored as typed. Every value now compares case-insensitively
    (set_priority too) and is stored, shown and matched in the hub's own spelling."""
    from hub import routing
    from tests.web.conftest import seed_conversation

    h = team_hub
    create_team(h, "general", {}, "manual", default=True)
    create_team(h, "vip", {}, "manual")
    r = h.api("POST", "/api/v1/routing-rules", {
        "name": "loud", "team": "vip", "set_priority": "URGENT",
        "conditions": {"medium": ["API", "WhatsApp"], "connector": ["WEB"], "priority": ["HIGH", "Normal", "high"],
                       "language": ["EN"], "contact": {"Plan": [" VIP ", "Gold"]}}})
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    expected = {"medium": ["api", "whatsapp"], "connector": ["web"], "priority": ["high", "normal"], "language": ["en"],
                "contact": {"plan": ["vip", "gold"]}}
    assert body["conditions"] == expected and body["set_priority"] == "urgent"
    with h.rt.db.read() as s:
        stored = s.get(RoutingRule, body["id"])
        assert stored.conditions == expected and stored.set_priority == "urgent"
    r = h.api("PATCH", f"/api/v1/routing-rules/{body['id']}", {"conditions": {"priority": ["URGENT"], "security": False},
                                                               "set_priority": "High"})
    assert r.status_code == 200 and r.get_json()["conditions"] == {"priority": ["urgent"], "security": False}
    assert r.get_json()["set_priority"] == "high"
    r = h.api("PATCH", f"/api/v1/routing-rules/{body['id']}", {"conditions": {"contact": {"PLAN": ["Gold"]}}, "set_priority": None})
    assert r.status_code == 200
    contact_id, conv_id = seed_conversation(h, "web", "web:vera", "Vera")
    assert h.api("PATCH", f"/api/v1/contacts/{contact_id}", {"attributes": {"plan": "GOLD"}}).status_code == 200
    with h.rt.db.session() as s:  # the attribute's name and value match whatever their case
        conv = s.get(Conversation, conv_id)
        conv.team_id = None
        assert routing.route(s, conv) == _team_id(h, "vip")


def test_contact_attributes_route_conversations(team_hub):
    from hub import routing
    from tests.web.conftest import seed_conversation

    h = team_hub
    create_team(h, "general", {}, "manual", default=True)
    create_team(h, "vip", {}, "manual")
    assert h.api("POST", "/api/v1/routing-rules", {"name": "vip plan", "team": "vip",
                                                   "conditions": {"contact": {"plan": ["vip", "gold"]}}}).status_code == 201
    contact_id, conv_id = seed_conversation(h, "web", "web:victor", "Victor")
    r = h.api("PATCH", f"/api/v1/contacts/{contact_id}", {"attributes": {"plan": "Gold", "region": "eu"}})
    assert r.status_code == 200 and r.get_json()["attributes"] == {"plan": "Gold", "region": "eu"}
    assert h.api("PATCH", f"/api/v1/contacts/{contact_id}", {"attributes": {"email_domain": "x.example"}}).status_code == 400
    assert h.api("PATCH", f"/api/v1/contacts/{contact_id}", {"attributes": {"region": None}}).get_json()["attributes"] == {"plan": "Gold"}
    with h.rt.db.session() as s:
        conv = s.get(Conversation, conv_id)
        conv.team_id = None
        assert routing.route(s, conv) == _team_id(h, "vip")
    _c2, other = seed_conversation(h, "web", "web:wanda", "Wanda")
    with h.rt.db.session() as s:
        conv = s.get(Conversation, other)
        assert routing.route(s, conv) == _team_id(h, "general")


def test_a_deactivated_agent_goes_offline_and_their_conversations_return_to_the_queue(team_hub):
    h = team_hub
    agents = make_agents(h, 2)
    a1, a2 = agents
    create_team(h, "desk", {a1: 5, a2: 5}, "auto")
    set_status(h, a1, "online")
    ids = seed(h, 2, "desk")
    with h.rt.db.read() as s:
        queued = {c: s.get(Conversation, c).queued_at for c in ids}
    assert len(assignment.assign_waiting(h.rt, _team_id(h, "desk"))) == 2
    assert h.api("PATCH", f"/api/v1/conversations/{ids[1]}", {"snoozed_until": (now() + timedelta(hours=1)).isoformat()}).status_code == 200
    with h.rt.db.session() as s:
        s.get(User, uid(h, a1)).active = False
        teams = assignment.deactivated(s, uid(h, a1), "admin@example.com")
    assert teams == {_team_id(h, "desk")}
    with h.rt.db.read() as s:
        assert s.get(AgentStatus, uid(h, a1)).status == "offline"
        assert all(s.get(Conversation, c).queued_at == queued[c] for c in ids)  # their place in the queue
    assert [assignee_of(h, c) for c in ids] == [None, None]
    assert events(h, ids[0])[-1] == ("returned", {"previous": a1, "reason": "agent deactivated", "by": "admin@example.com"})
    # nothing more for them, even if their status row said online: the colleague gets the waiting one
    set_status(h, a2, "online")
    assignment.assign_teams(h.rt, teams)
    assert assignee_of(h, ids[0]) == a2


def test_team_names_are_unique_regardless_of_case_and_lookups_ignore_case(team_hub):
    from sqlalchemy.exc import IntegrityError

    h = team_hub
    billing = create_team(h, "Billing", {}, "manual")
    for name in ("billing", " BILLING ", "Billing"):
        r = h.api("POST", "/api/v1/teams", {"name": name})
        assert r.status_code == 409 and "Billing" in r.get_json()["error"], (name, r.get_json())
    for word in ("mine", "None"):
        r = h.api("POST", "/api/v1/teams", {"name": word})
        assert r.status_code == 400 and "reserved" in r.get_json()["error"]
    other = create_team(h, "  Sales  ", {}, "manual")
    assert other["name"] == "Sales"
    assert h.api("PATCH", f"/api/v1/teams/{other['id']}", {"name": "BILLING"}).status_code == 409
    r = h.api("PATCH", f"/api/v1/teams/{billing['id']}", {"name": "BILLING"})  # a change of case of its own name
    assert r.status_code == 200 and r.get_json()["name"] == "BILLING"
    # the database backs it up (uq_teams_name_lower), whoever writes
    with pytest.raises(IntegrityError):
        with h.rt.db.session() as s:
            s.add(Team(name="sales", assignment="manual"))
    # every lookup by name ignores case: rules, a conversation's team, the list filter
    assert h.api("POST", "/api/v1/routing-rules", {"team": "billing", "conditions": {"medium": ["sms"]}}).status_code == 201
    (conv_id,) = seed(h, 1, "Sales")
    r = h.api("PATCH", f"/api/v1/conversations/{conv_id}", {"team": "billing"})
    assert r.status_code == 200 and r.get_json()["team"] == "BILLING"


def test_the_conversation_list_team_filter_is_what_docs_api_md_says(team_hub):
    """docs/api.md: `team` is a team's name (any case), `mine` (the teams you belong to) or `none`;
    an unknown name is a 400 naming the parameter."""
    h = team_hub
    agents = make_agents(h, 1)
    (a1,) = agents
    create_team(h, "Desk", {a1: 5}, "manual")
    create_team(h, "Other", {}, "manual")
    (in_desk,) = seed(h, 1, "Desk")
    (in_other,) = seed(h, 1, "Other")
    from tests.web.conftest import seed_conversation

    _c, no_team = seed_conversation(h, "web", "web:nobody", "Nobody")

    def ids(query: str, token: str | None = None) -> set[int]:
        r = h.api("GET", f"/api/v1/conversations?{query}", token=token)
        assert r.status_code == 200, r.get_json()
        return {c["id"] for c in r.get_json()["items"]}

    assert ids("team=Desk") == ids("team=desk") == ids("team=DESK") == {in_desk}
    assert ids("team=mine", token=agents[a1]) == {in_desk}
    assert ids("team=mine") == set()  # the admin is in no team
    assert ids("team=none") == {no_team}
    assert ids("team=Other&status=open,pending") == {in_other}
    r = h.api("GET", "/api/v1/conversations?team=nope")
    assert r.status_code == 400 and r.get_json()["field"] == "team"


def test_omnihub_users_deactivate_returns_the_agents_conversations(team_hub):
    h = team_hub
    agents = make_agents(h, 2)
    a1, a2 = agents
    create_team(h, "desk", {a1: 5, a2: 5}, "auto")
    set_status(h, a1, "online")
    (conv_id,) = seed(h, 1, "desk")
    assert assignment.assign_waiting(h.rt, _team_id(h, "desk")) == [(conv_id, uid(h, a1))]
    set_status(h, a2, "online")
    out = h.cli("users", "deactivate", "--email", a1)
    assert out.returncode == 0, out.stderr
    with h.rt.db.read() as s:
        assert s.get(AgentStatus, uid(h, a1)).status == "offline"
    # back in the queue, then (the CLI runs the team's assignment after its commit) to the colleague
    assert assignee_of(h, conv_id) == a2
    assert [k for k, _d in events(h, conv_id)] == ["assigned", "returned", "assigned"]
    assert events(h, conv_id)[1][1] == {"previous": a1, "reason": "agent deactivated", "by": "cli"}


def test_a_member_listed_twice_in_another_case_is_refused_naming_it(team_hub):
    """#21 fresh eyes: members differing only by the case of the email were silently merged
    (one capacity won). Now 400 naming the duplicate; nothing changes."""
    h = team_hub
    agents = make_agents(h, 2)
    a1, a2 = agents
    body = {"name": "desk", "members": [{"email": a1, "capacity": 3}, {"email": a2, "capacity": 1},
                                        {"email": a1.upper(), "capacity": 9}]}
    r = h.api("POST", "/api/v1/teams", body)
    assert r.status_code == 400 and r.get_json()["field"] == "members", r.get_json()
    assert a1.upper() in r.get_json()["error"] and a1 in r.get_json()["error"] and "twice" in r.get_json()["error"]
    assert h.count(Team) == 0
    team = create_team(h, "desk", {a1: 3}, "manual")
    r = h.api("PATCH", f"/api/v1/teams/{team['id']}", {"members": [{"email": f" {a2} "}, {"email": a2.title()}]})
    assert r.status_code == 400 and "twice" in r.get_json()["error"]
    assert [(m["email"], m["capacity"]) for m in h.api("GET", f"/api/v1/teams/{team['id']}").get_json()["members"]] == [(a1, 3)]


@pytest.mark.parametrize("name", ["Soporte España", "サポート", "Поддержка 2", "Équipe-B.v2", "Support_EU"])
def test_team_names_may_be_in_any_language(team_hub, name):
    """#21 fresh eyes: team names were ASCII only and a refusal showed a raw regex."""
    h = team_hub
    team = create_team(h, name, {}, "manual")
    assert team["name"] == name
    # unique regardless of case in any script, and found by name in any case (SQLite's lower() is ASCII only)
    r = h.api("POST", "/api/v1/teams", {"name": name.upper()})
    assert r.status_code in (409, 201)
    if name.upper() != name:
        assert r.status_code == 409 and name in r.get_json()["error"], r.get_json()
    assert h.api("POST", "/api/v1/routing-rules", {"team": name.upper(), "conditions": {"medium": ["sms"]}}).status_code == 201
    r = h.api("GET", "/api/v1/conversations", None)
    assert r.status_code == 200
    from urllib.parse import quote

    assert h.api("GET", f"/api/v1/conversations?team={quote(name.lower())}").status_code == 200


@pytest.mark.parametrize("name, words", [
    ("", ["1 to 64"]),
    ("x" * 65, ["1 to 64"]),
    ("Billing/EU", ["'/'", "letters (any language)"]),
    ("-desk", ["starts with a letter or a digit"]),
    ("tab\there", ["letters (any language)"]),
])
def test_a_refused_team_name_says_what_is_allowed_not_a_regex(team_hub, name, words):
    h = team_hub
    r = h.api("POST", "/api/v1/teams", {"name": name})
    assert r.status_code == 400 and r.get_json()["field"] == "name", r.get_json()
    error = r.get_json()["error"]
    assert all(w in error for w in words) and "^[" not in error and "pattern" not in error, error
