"""Presence between the chat widget and the inbox (#17 item 3), in Chromium: typing indicators
both ways that expire by themselves, the widget launcher's unread badge for an answer that
arrives while the chat is closed, and the typing endpoint held to the widget's rules."""

from __future__ import annotations

import httpx
import pytest

from tests.support.hub import wait_until
from tests.web.conftest import AGENT, login
from tests.web.test_widget import conversations, site  # noqa: F401 - fixture

TYPING_SECONDS = 2.5  # OMNIHUB_TYPING_SECONDS here (default 6): how long until an indicator expires


@pytest.fixture
def live_settings() -> dict:
    return {"typing_seconds": TYPING_SECONDS}


def _visitor_starts(page, site_url):  # noqa: F811
    page.goto(site_url + "/")
    page.get_by_role("button", name="Acme support").click()
    chat = page.locator("#omnihub-chat")
    chat.get_by_label("Your message").fill("My withdrawal of 0.2 ETH is pending since yesterday")
    chat.get_by_role("button", name="Send").click()
    return chat


def test_typing_shows_both_ways_and_expires(live, site, browser):  # noqa: F811
    hub = live.hub
    hub.start_worker()
    visitor_ctx, agent_ctx = browser.new_context(), browser.new_context()
    for c in (visitor_ctx, agent_ctx):
        c.set_default_timeout(15_000)
    try:
        vpage = visitor_ctx.new_page()
        chat = _visitor_starts(vpage, site)
        conv = wait_until(lambda: conversations(hub), message="widget conversation")[0]
        apage = agent_ctx.new_page()
        login(apage, live, AGENT)
        apage.goto(f"{live.url}/inbox/c/{conv['id']}")
        indicator = apage.locator("#typing-indicator")
        assert indicator.inner_text() == ""

        # the customer types (not sent): the agent sees it, then it goes away by itself
        chat.get_by_label("Your message").press_sequentially("also my deposit", delay=20)
        indicator.filter(has_text="is typing…").wait_for()
        assert "also my deposit" not in apage.content()  # the fact only, never the draft
        wait_until(lambda: indicator.inner_text() == "", timeout=12, message="customer indicator expires")

        # the agent types a reply (not sent): the widget shows it, and it expires
        apage.locator("#reply-text").press_sequentially("Checking your withdrawal", delay=20)
        typing = chat.locator(".typing")
        typing.filter(has_text="Support is typing…").wait_for()
        wait_until(lambda: typing.inner_text() == "", timeout=12, message="agent indicator expires")

        # an internal note is not announced to the customer
        apage.locator("#reply-text").fill("")
        apage.get_by_label("Internal note").check()
        apage.locator("#reply-text").press_sequentially("customer seems upset", delay=20)
        apage.wait_for_timeout(2500)  # longer than a stream poll; nothing may appear
        assert typing.inner_text() == ""
    finally:
        visitor_ctx.close()
        agent_ctx.close()


def test_unread_badge_while_the_widget_is_closed_survives_a_reload(live, site, context):  # noqa: F811
    hub = live.hub
    hub.start_worker()
    page = context.new_page()
    chat = _visitor_starts(page, site)
    conv = wait_until(lambda: conversations(hub), message="widget conversation")[0]
    chat.locator(".visitor:not(.pending)").wait_for()
    chat.get_by_role("button", name="Close chat").click()
    badge = chat.locator(".launch .badge")
    assert badge.is_hidden()

    hub.api("POST", f"/api/v1/conversations/{conv['id']}/replies", json={"text": "We are on it."})
    hub.api("POST", f"/api/v1/conversations/{conv['id']}/replies", json={"text": "It left our wallet: tx 0xabc…"})
    wait_until(lambda: badge.is_visible() and badge.inner_text() == "2", message="badge shows 2")
    assert chat.locator(".launch").get_attribute("aria-label") == "Acme support, 2 new messages"
    page.reload()
    wait_until(lambda: badge.is_visible() and badge.inner_text() == "2", message="badge after reload")
    chat.locator(".launch").click()
    chat.locator(".agent").filter(has_text="It left our wallet").wait_for()
    assert badge.is_hidden()
    chat.get_by_role("button", name="Close chat").click()
    page.reload()
    chat.locator(".launch").wait_for()
    page.wait_for_timeout(1500)  # the stream's first event has come and gone: still nothing unread
    assert badge.is_hidden()


def test_the_typing_endpoint_keeps_the_widget_rules(live, site):  # noqa: F811
    url = f"{live.url}/widget/site/typing"
    body = {"visitor": "t" * 20}
    assert httpx.post(url, json=body, headers={"Origin": "https://evil.example"}).status_code == 403
    assert httpx.post(url, json=body).status_code == 403  # no Origin: not a browser on an allowed site
    assert httpx.post(url, json={"visitor": "x"}, headers={"Origin": site}).status_code == 400
    assert httpx.post(url, content=b"x" * 2000, headers={"Origin": site, "Content-Type": "application/json"}).status_code == 413
    codes = [httpx.post(url, json=body, headers={"Origin": site}).status_code for _ in range(31)]
    assert codes[:30] == [204] * 30 and codes[30] == 429
    # the agent side needs a signed-in session and the CSRF token
    assert httpx.post(f"{live.url}/inbox/c/1/typing").status_code in (302, 401, 403)
