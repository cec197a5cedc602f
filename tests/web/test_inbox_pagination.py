"""No conversation out of reach: 120 conversations, the oldest one security-flagged, in
Chromium — exact counts, keyset pages, saved views, and the "needs attention" pin."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.web.conftest import login, seed_conversation

N = 120


def _seed(hub) -> int:
    from hub.models import Conversation

    hub.add_connector("site", "api", secret="site-secret-1")
    base = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    ids = []
    for i in range(N):
        _, conv_id = seed_conversation(hub, "site", f"site:c{i}", f"Customer {i:03d}", subject=f"question {i:03d}")
        ids.append(conv_id)
    with hub.rt.db.session() as s:
        for i, conv_id in enumerate(ids):
            c = s.get(Conversation, conv_id)
            c.last_message_at = base + timedelta(minutes=i)  # conversation 0 is the oldest
            c.last_inbound_at = c.last_message_at
            if i == 0:
                c.security_flag, c.priority, c.category = True, "urgent", "suspicious_access_or_hacked_account"
    return ids[0]


def test_pages_past_100_and_the_oldest_security_conversation_stays_in_reach(live, context):
    hub = live.hub
    oldest = _seed(hub)
    page = context.new_page()
    login(page, live)
    page.goto(f"{live.url}/inbox")
    # the default view: exact count, the first page, and the security conversation pinned on top
    assert page.locator("#list-count").inner_text() == str(N)
    assert page.locator("#list-range").inner_text() == "1–50"
    pinned = page.locator("section.attention li")
    assert pinned.count() == 1 and pinned.first.get_attribute("data-id") == str(oldest)
    assert "security" in pinned.first.inner_text()
    seen: list[str] = []
    while True:
        seen += [li.get_attribute("data-id") for li in page.locator("ul.convs:not(.pinned) > li.conv").all()]
        nxt = page.locator("#page-next")
        if not nxt.count():
            break
        nxt.click()
        page.wait_for_load_state()
        assert page.locator("#list-count").inner_text() == str(N)
    assert len(seen) == N and len(set(seen)) == N, "every conversation exactly once across the pages"
    assert seen[-1] == str(oldest)  # the oldest is on the last page, and reachable
    assert page.locator("#list-range").inner_text() == "101–120"
    # saved view "Urgent & security first": it leads
    page.get_by_role("link", name="Urgent & security first").click()
    page.wait_for_load_state()
    assert page.locator("ul.convs:not(.pinned) > li.conv").first.get_attribute("data-id") == str(oldest)
    # saved view "Waiting longest": the oldest customer message first
    page.get_by_role("link", name="Waiting longest").click()
    page.wait_for_load_state()
    assert page.locator("ul.convs:not(.pinned) > li.conv").first.get_attribute("data-id") == str(oldest)
    assert page.get_by_role("link", name="Waiting longest").get_attribute("aria-current") == "page"


def test_api_pages_every_conversation_with_an_exact_total(live):
    hub = live.hub
    _seed(hub)
    got, cursor, total = [], None, None
    while True:
        url = "/api/v1/conversations?limit=50" + (f"&before={cursor}" if cursor else "")
        body = hub.api("GET", url).get_json()
        total = body.get("total", total)
        got += [c["id"] for c in body["items"]]
        cursor = body["next"]
        if not cursor:
            break
    assert total == N and len(got) == N and len(set(got)) == N
