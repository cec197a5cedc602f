"""No lost work, in Chromium: a typed draft survives assign, resolve, navigation and a reload
(actions update in place), is cleared once sent, and the agent's own actions do not raise the
"This conversation was updated" notice."""

from __future__ import annotations

from tests.support.hub import wait_until
from tests.web.conftest import AGENT, login, seed_conversation

DRAFT = "Hi Ana, I checked the withdrawal: it left our wallet at 10:02 and"


def test_draft_survives_assign_resolve_navigation_and_reload(live, context):
    hub = live.hub
    hub.add_connector("site", "api", secret="site-secret-1")
    hub.start_worker()
    _, conv_a = seed_conversation(hub, "site", "site:ana", "Ana", subject="withdrawal")
    _, conv_b = seed_conversation(hub, "site", "site:bob", "Bob", subject="card")
    page = context.new_page()
    login(page, live, AGENT)
    page.goto(f"{live.url}/inbox/c/{conv_a}")
    box = page.get_by_label("Reply text") if page.get_by_label("Reply text").count() else page.locator("#reply-text")
    box.fill(DRAFT)
    notices: list[str] = []
    page.expose_function("noteToast", lambda text: notices.append(text))
    page.evaluate("""() => new MutationObserver(() => {
        const t = document.getElementById('toast'); if (t && t.textContent) window.noteToast(t.textContent);
    }).observe(document.getElementById('toast'), {childList: true, characterData: true, subtree: true})""")

    page.get_by_role("button", name="Assign to me").click()
    wait_until(lambda: hub.api("GET", f"/api/v1/conversations/{conv_a}").get_json()["assignee"] == AGENT[0], message="assigned")
    assert page.locator("#reply-text").input_value() == DRAFT  # no page reload happened
    page.locator("#resolve-btn").click()
    wait_until(lambda: hub.api("GET", f"/api/v1/conversations/{conv_a}").get_json()["status"] == "resolved", message="resolved")
    page.get_by_role("button", name="Reopen").wait_for()
    assert page.locator("#conv-status").inner_text() == "resolved"
    assert page.locator("#reply-text").input_value() == DRAFT
    page.wait_for_timeout(1500)  # the live stream reports the change back
    assert "Assigned to you" in notices and "Marked resolved" in notices  # the toast is observed...
    assert not [n for n in notices if "was updated" in n], notices  # ...and says nothing of the agent's own actions

    # another conversation, then back; and a full reload
    page.goto(f"{live.url}/inbox/c/{conv_b}")
    assert page.locator("#reply-text").input_value() == ""  # drafts are per conversation
    page.goto(f"{live.url}/inbox/c/{conv_a}")
    assert page.locator("#reply-text").input_value() == DRAFT
    page.reload()
    assert page.locator("#reply-text").input_value() == DRAFT

    # sent: the draft is gone
    page.locator("#reply-text").fill(DRAFT + " will arrive within the hour.")
    page.locator("#send-btn").click()
    wait_until(lambda: any(r["text"].endswith("within the hour.") for r in hub.api("GET", f"/api/v1/conversations/{conv_a}").get_json()["replies"]),
               message="reply stored")
    page.reload()
    assert page.locator("#reply-text").input_value() == ""
