"""Alerts in Chromium: the unread count in the tab title, and an opt-in desktop notification
when a new message arrives in the agent's inbox (the Notification API is observed through
an init script; the browser context grants the permission)."""

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
        assert note["title"] == "omnihub: 1 new message" and "1 unread" in note["body"]
        wait_until(lambda: page.evaluate("() => document.title.startsWith('(1) ')"), message="document.title.startsWith('(1) ')")
        post_webhook(live, "Hello?? still nothing", id="n-2", sender="dina", name="Dina")
        wait_until(lambda: page.evaluate("() => document.title.startsWith('(2) ')"), message="document.title.startsWith('(2) ')")
        assert page.evaluate("window.__notes.length") == 2
        # switched off: the count stays in the title, no more notifications
        toggle.click()
        wait_until(lambda: page.evaluate("() => document.getElementById('notify-toggle').getAttribute('aria-pressed') === 'false'"), message="document.getElementById('notify-toggle').getAttribute('aria-pressed') === 'false'")
        post_webhook(live, "third one", id="n-3", sender="ed", name="Ed")
        wait_until(lambda: page.evaluate("() => document.title.startsWith('(3) ')"), message="document.title.startsWith('(3) ')")
        assert page.evaluate("window.__notes.length") == 2
    finally:
        ctx.close()
