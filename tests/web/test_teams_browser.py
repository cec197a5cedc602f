"""Teams in Chromium: the agent goes online from the header with the keyboard, an automatic
team assigns a new conversation to them (a worker process ingests it), the timeline says so;
the admin's teams page is fully labelled. Screenshots: teams-inbox.png, admin-teams.png."""

from __future__ import annotations

from sqlalchemy import select

from hub.models import AgentStatus, Team, TeamMember, User
from tests.support.hub import wait_until
from tests.web.conftest import ADMIN, AGENT, assert_labelled, login, screenshot
from tests.web.test_inbox import SECRET, post_webhook


def test_agent_goes_online_and_gets_a_conversation_assigned(live, browser, artifacts_dir):
    hub = live.hub
    hub.add_connector("web", "api", secret=SECRET)
    with hub.rt.db.session() as s:
        agent_id = s.scalar(select(User.id).where(User.email == AGENT[0]))
        team = Team(name="Desk", assignment="auto", is_default=True)
        s.add(team)
        s.flush()
        s.add(TeamMember(team_id=team.id, user_id=agent_id, capacity=3))
    hub.start_worker()
    ctx = browser.new_context()
    ctx.set_default_timeout(15_000)
    try:
        page = ctx.new_page()
        login(page, live, AGENT)
        status = page.locator("#agent-status")
        assert status.input_value() == "offline"
        page.keyboard.press("Alt+Shift+O")
        wait_until(lambda: page.locator(".agent-status").get_attribute("data-status") == "online", message="online")
        with hub.rt.db.read() as s:
            assert s.get(AgentStatus, agent_id).status == "online"
        post_webhook(live, "My withdrawal is stuck since yesterday", id="t-1")
        conv = wait_until(lambda: (hub.api("GET", "/api/v1/conversations?assignee=" + AGENT[0]).get_json()["items"] or [None])[0],
                          timeout=30, message="assigned conversation")
        assert conv["team"] == "Desk"
        page.goto(f"{live.url}/inbox/?assignee=me")
        page.locator(f"#conv-{conv['id']} a").click()
        page.wait_for_selector(".timeline .entry.event.ev-assigned")
        texts = page.locator(".timeline .entry.event").all_inner_texts()
        assert any("Routed to team Desk (default team)" in t for t in texts)
        assert any(f"Assigned to {AGENT[0]} (round robin)" in t for t in texts)
        assert page.locator("#team").input_value() == "Desk"
        assert_labelled(page)
        screenshot(page, artifacts_dir, "teams-inbox")
        # away from the keyboard too: the select itself
        status.select_option("away")
        wait_until(lambda: page.locator(".agent-status").get_attribute("data-status") == "away", message="away")
    finally:
        ctx.close()


def test_admin_teams_page_is_labelled_and_adds_a_rule(live, browser, artifacts_dir):
    hub = live.hub
    ctx = browser.new_context()
    ctx.set_default_timeout(15_000)
    try:
        page = ctx.new_page()
        login(page, live, ADMIN)
        page.goto(f"{live.url}/admin/teams")
        page.get_by_label("Name", exact=True).fill("Security")
        page.get_by_label("Assignment", exact=True).select_option("auto")
        page.get_by_role("button", name="Create team").click()
        page.wait_for_selector("text=Team Security created.")
        page.get_by_label("Add member").select_option(AGENT[0])
        page.get_by_role("button", name="Add", exact=True).click()
        page.wait_for_selector(f"text={AGENT[0]} added.")
        page.get_by_label("Security flag").select_option("yes")
        page.get_by_label("and priority").select_option("urgent")
        page.get_by_label("Name", exact=True).last.fill("Hacked accounts")
        page.get_by_role("button", name="Add rule").click()
        page.wait_for_selector("text=Routing rule added")
        assert "security = yes" in page.locator("table.rules").inner_text()
        assert_labelled(page)
        screenshot(page, artifacts_dir, "admin-teams")
    finally:
        ctx.close()
    with hub.rt.db.read() as s:
        assert s.scalar(select(Team.assignment).where(Team.name == "Security")) == "auto"


def test_the_conversation_header_follows_changes_made_elsewhere(live, browser, artifacts_dir):
    """Someone else assigns the open conversation and changes its status: the header (assignee,
    status, the assignee and team menus) follows without a reload. A stale *Assign to me* (the
    page missed a change) is refused, the toast names who has it, and the header shows them."""
    from sqlalchemy import update

    from hub.models import Conversation
    from tests.web.conftest import seed_conversation

    hub = live.hub
    hub.add_connector("web", "api", secret=SECRET)
    with hub.rt.db.session() as s:
        s.add(Team(name="Desk", assignment="manual"))
    _c, conv_id = seed_conversation(hub, "web", "web:greta", "Greta")
    assert hub.api("PATCH", f"/api/v1/conversations/{conv_id}", {"team": "desk"}).status_code == 200
    ctx = browser.new_context()
    ctx.set_default_timeout(15_000)
    try:
        page = ctx.new_page()
        login(page, live, AGENT)
        page.goto(f"{live.url}/inbox/c/{conv_id}")
        meta = page.locator("#conv-meta")
        assert "waiting in the queue" in meta.inner_text() and page.locator("#assign").input_value() == ""
        assert hub.api("PATCH", f"/api/v1/conversations/{conv_id}", {"assignee": ADMIN[0], "status": "pending"}).status_code == 200
        wait_until(lambda: f"assigned to {ADMIN[0]}" in meta.inner_text(), timeout=20, message="header shows the new assignee")
        assert page.locator("#conv-status").inner_text() == "pending"
        assert page.locator("#assign").input_value() == ADMIN[0] and page.locator("#team").input_value() == "Desk"
        assert hub.api("PATCH", f"/api/v1/conversations/{conv_id}", {"assignee": "", "status": "resolved"}).status_code == 200
        wait_until(lambda: page.locator("#conv-status").inner_text() == "resolved", timeout=20, message="header shows resolved")
        assert page.get_by_role("button", name="Reopen").count() == 1 and page.locator("#assign").input_value() == ""
        # a change the page has not seen yet (no live update for it): the admin took it meanwhile
        with hub.rt.db.session() as s:
            admin_id = s.scalar(select(User.id).where(User.email == ADMIN[0]))
            s.execute(update(Conversation).where(Conversation.id == conv_id)
                      .values(assignee_id=admin_id, updated_at=Conversation.updated_at))
        page.get_by_role("button", name="Assign to me").click()
        toast = page.locator("#toast")
        wait_until(lambda: f"already assigned to {ADMIN[0]}" in toast.inner_text(), timeout=10, message="toast names who has it")
        wait_until(lambda: f"assigned to {ADMIN[0]}" in meta.inner_text(), timeout=10, message="header corrected")
        assert page.locator("#assign").input_value() == ADMIN[0]
        with hub.rt.db.read() as s:
            assert s.get(Conversation, conv_id).assignee_id == admin_id
        assert_labelled(page)
    finally:
        ctx.close()
