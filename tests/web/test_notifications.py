"""Alerts in Chromium: the unread count in the tab title, and opt-in desktop notifications for
a new conversation in the agent's view, a new message in a conversation assigned to them and an
assignment to them by someone else — not for their own actions (the Notification API is
observed through an init script; the browser context grants the permission)."""

from __future__ import annotations

from tests.support.hub import wait_until
from tests.web.conftest import AGENT, login
from tests.web.test_inbox import SECRET, post_webhook

RECORD_NOTIFICATIONS = """
window.__notes = [];
(function () {
  function Fake(title, opts) { window.__notes.push({ title: title, body: (opts || {}).body }); }
  Fake.permission = "granted";
  Fake.requestPermission = function () { return Promise.resolve("granted"); };
  window.Notification = Fake;
})();
"""


def test_title_count_and_desktop_notification_on_a_new_message(live, browser):
    hub = live.hub
    hub.add_connector("web", "api", secret=SECRET)
    hub.start_worker()
    ctx = browser.new_context(permissions=["notifications"])
    ctx.set_default_timeout(15_000)
    ctx.add_init_script(RECORD_NOTIFICATIONS)
    try:
        page = ctx.new_page()
        login(page, live, AGENT)
        assert not page.title().startswith("(")
        toggle = page.locator("#notify-toggle")
        assert toggle.inner_text() == "Desktop notifications: off"
        toggle.click()
        wait_until(lambda: page.evaluate("() => document.getElementById('notify-toggle').getAttribute('aria-pressed') === 'true'"), message="document.getElementById('notify-toggle').getAttribute('aria-pressed') === 'true'")
        post_webhook(live, "My deposit has not arrived", id="n-1")
        wait_until(lambda: page.evaluate("() => window.__notes.length === 1"), message='window.__notes.length === 1')
        note = page.evaluate("window.__notes[0]")
        # names the contact and the channel, never the message text
        assert note == {"title": "New conversation", "body": "Carla Customer (api)"}
        wait_until(lambda: page.evaluate("() => document.title.startsWith('(1) ')"), message="document.title.startsWith('(1) ')")
        post_webhook(live, "Hello?? still nothing", id="n-2", sender="dina", name="Dina")
        wait_until(lambda: page.evaluate("() => document.title.startsWith('(2) ')"), message="document.title.startsWith('(2) ')")
        # the notification may follow the title's update by a tick under load
        wait_until(lambda: page.evaluate("() => window.__notes.length === 2"), message="window.__notes.length === 2")
        # switched off: the count stays in the title, no more notifications
        toggle.click()
        wait_until(lambda: page.evaluate("() => document.getElementById('notify-toggle').getAttribute('aria-pressed') === 'false'"), message="document.getElementById('notify-toggle').getAttribute('aria-pressed') === 'false'")
        post_webhook(live, "third one", id="n-3", sender="ed", name="Ed")
        wait_until(lambda: page.evaluate("() => document.title.startsWith('(3) ')"), message="document.title.startsWith('(3) ')")
        assert page.evaluate("window.__notes.length") == 2
    finally:
        ctx.close()


ASSIGN = """([id, who]) => fetch('/api/v1/conversations/' + id, {method: 'PATCH', credentials: 'same-origin',
    headers: {'Content-Type': 'application/json', 'X-CSRF-Token': document.querySelector('meta[name=csrf-token]').content},
    body: JSON.stringify({assignee: who})}).then(r => r.status)"""


def _agent_context(browser):
    ctx = browser.new_context(permissions=["notifications"])
    ctx.set_default_timeout(15_000)
    ctx.add_init_script(RECORD_NOTIFICATIONS)
    ctx.add_init_script("localStorage.setItem('omnihub:notify', 'on')")
    return ctx


def test_assignment_by_someone_else_notifies_and_own_actions_do_not(live, browser):
    from tests.web.conftest import ADMIN

    hub = live.hub
    hub.add_connector("web", "api", secret=SECRET)
    hub.start_worker()
    post_webhook(live, "My card payment was declined", id="a-1", sender="fay", name="Fay Customer")
    conv_id = wait_until(lambda: hub.api("GET", "/api/v1/conversations").get_json()["items"], message="conversation")[0]["id"]
    ctx = _agent_context(browser)
    try:
        page = ctx.new_page()
        login(page, live, AGENT)
        page.goto(f"{live.url}/inbox/c/{conv_id}?assignee=me")
        wait_until(lambda: page.evaluate("() => document.getElementById('notify-toggle').getAttribute('aria-pressed') === 'true'"),
                   message="notifications on")
        # the agent's own action — assigning it to their own address — tells them nothing
        assert page.evaluate(ASSIGN, [conv_id, AGENT[0]]) == 200
        # the admin assigns it to the agent (another session, through the API as the inbox does)
        admin = browser.new_context()
        apage = admin.new_page()
        login(apage, live, ADMIN)
        assert apage.evaluate(ASSIGN, [conv_id, ""]) == 200
        assert apage.evaluate(ASSIGN, [conv_id, AGENT[0]]) == 200
        admin.close()
        wait_until(lambda: page.evaluate("() => window.__notes.some(n => n.title === 'Assigned to you')"), message="assigned notice")
        # a new customer message in a conversation assigned to them
        post_webhook(live, "still declined, card ending 4242", id="a-2", sender="fay", name="Fay Customer")
        wait_until(lambda: page.evaluate("() => window.__notes.some(n => n.title === 'New message')"), message="message notice")
        notes = page.evaluate("window.__notes")
        assert all("4242" not in (n["body"] or "") for n in notes)
        # by now every earlier notice has arrived: one assignment (the admin's), not the agent's own
        assert [n for n in notes if n["title"] == "Assigned to you"] == [{"title": "Assigned to you", "body": "Fay Customer (api)"}]
    finally:
        ctx.close()
