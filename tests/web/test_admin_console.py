"""The admin console explains itself and fits a phone (#17 item 6): every connector kind's form
has human labels in sections, the pages fit 390 px without sideways scrolling, and users can be
listed, given a new password and deactivated in the console."""

from __future__ import annotations

import os
import re
import shutil

import pytest

import channels
import outbound
from tests.web.conftest import ADMIN, AGENT, SCREENSHOTS, add_users, login

KINDS = sorted({**channels.REGISTRY, **outbound.REGISTRY})
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def admin_page(live, browser):
    ctx = browser.new_context(viewport=PHONE, device_scale_factor=1)
    ctx.set_default_timeout(15_000)
    page = ctx.new_page()
    login(page, live, ADMIN)
    yield page
    ctx.close()


def _no_sideways_scroll(page) -> None:
    width = page.evaluate("() => document.scrollingElement.scrollWidth")
    wide = page.evaluate("""() => [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1 && getComputedStyle(e).position !== 'fixed'
                     && !e.closest('.table-wrap, pre'))
        .slice(0, 5).map(e => e.tagName + '#' + e.id + '.' + e.className)""")
    assert width <= PHONE["width"], (page.url, width, wide)


def test_every_connector_form_fits_a_phone_with_human_labels(live, admin_page, artifacts_dir):
    page = admin_page
    for kind in KINDS:
        if kind == "inbox":
            continue  # built in, not added from the console
        page.goto(f"{live.url}/admin/connectors/new?kind={kind}")
        _no_sideways_scroll(page)
        labels = page.locator("#connector-form label").all_inner_texts()
        for generated in ("Api base url", "Account sid", "Faq bot", "Callback url", "Imap host"):
            assert not any(lbl.strip().startswith(generated) for lbl in labels), (kind, labels)
        assert page.locator("fieldset.section legend").first.inner_text() in ("Credentials", "Addresses", "Behaviour")
        # every key has a help text under it
        for key in page.locator("#connector-form [name^=cfg_]").all():
            fid = key.get_attribute("id")
            assert page.locator(f"#{fid}-help").inner_text().strip(), (kind, fid)
        # the docs page of each kind shows its form (JPEG: a long form is ~10x smaller than PNG)
        shot = artifacts_dir / f"connector-{kind}.jpg"
        box = page.locator("#connector-form").bounding_box()
        page.screenshot(path=str(shot), type="jpeg", quality=60, full_page=True,
                        clip={"x": 0, "y": box["y"] - 60, "width": PHONE["width"], "height": min(box["height"] + 60, 1000)})
        if os.environ.get("OMNIHUB_UPDATE_SCREENSHOTS") == "1":
            shutil.copyfile(shot, SCREENSHOTS / shot.name)


def test_a_helpdesk_form_shows_no_channel_only_keys(live, admin_page):
    admin_page.goto(f"{live.url}/admin/connectors/new?kind=zendesk")
    labels = " ".join(admin_page.locator("#connector-form label, #connector-form .label").all_inner_texts())
    for channel_key in ("Helpdesk connector", "Answer FAQs automatically", "Acknowledge new conversations"):
        assert channel_key not in labels
    assert "needed for the API (or set Base URL)" in labels
    admin_page.goto(f"{live.url}/admin/connectors/new?kind=twilio")
    assert "Acknowledge new conversations" in admin_page.locator("#connector-form").inner_text()


def test_admin_pages_fit_a_phone(live, admin_page):
    from tests.web.conftest import seed_conversation

    live.hub.add_connector("web", "api", secret="phone-secret-123", widget=True)
    seed_conversation(live.hub, "web", "web:someone-with-a-rather-long-address@example.com", "Someone")
    for path in ("/admin/connectors", "/admin/connectors/web", "/admin/users", "/admin/tokens", "/admin/dead-letters",
                 "/admin/contacts?q=someone", "/admin/audit", "/inbox/", "/inbox/dashboard", "/widget/web/try"):
        admin_page.goto(live.url + path)
        _no_sideways_scroll(admin_page)
        if path == "/admin/connectors":  # one card per connector: its Check button in view
            box = admin_page.get_by_role("button", name="Check").first.bounding_box()
            assert box["x"] + box["width"] <= PHONE["width"]


def test_users_listed_given_a_password_and_deactivated_in_the_console(live, admin_page, browser):
    page = admin_page
    page.goto(live.url + "/admin/users")
    rows = page.locator("tbody tr")
    assert {r.locator("th").inner_text() for r in rows.all()} == {ADMIN[0], AGENT[0]}

    # the agent is signed in elsewhere
    other = browser.new_context()
    agent = other.new_page()
    login(agent, live, AGENT)

    row = page.locator("tbody tr", has_text=AGENT[0])
    row.locator("summary").click()
    row.get_by_label(f"New password for {AGENT[0]}").fill("a brand new passphrase")
    row.get_by_role("button", name="Set password").click()
    page.locator(".flash.ok", has_text=f"New password set for {AGENT[0]}; their sessions were ended.").wait_for()
    # their open session ended; the old password no longer works, the new one does
    agent.goto(live.url + "/inbox/")
    assert "/login" in agent.url
    login(agent, live, (AGENT[0], "a brand new passphrase"))

    page.locator("tbody tr", has_text=AGENT[0]).get_by_role("button", name="Deactivate").click()
    page.locator(".flash.ok", has_text=f"{AGENT[0]}: deactivated.").wait_for()
    assert "inactive" in page.locator("tbody tr", has_text=AGENT[0]).inner_text()
    agent.goto(live.url + "/inbox/")
    assert "/login" in agent.url
    # an admin cannot lock themselves out
    page.locator("tbody tr", has_text=ADMIN[0]).get_by_role("button", name="Deactivate").click()
    assert "cannot change your own role or deactivate yourself" in page.locator("[role=alert]").inner_text()
    other.close()
    # an empty password field generates one, shown once
    page.goto(live.url + "/admin/users")
    row = page.locator("tbody tr", has_text=AGENT[0])
    row.locator("summary").click()
    row.get_by_role("button", name="Set password").click()
    flash = page.locator(".flash.ok", has_text="shown once").inner_text()
    generated = re.search(r"Password: (\S+) \(shown once\)", flash).group(1)
    assert len(generated) >= 12
    _ = add_users  # (the fixture's users are the admin and the agent above)



def test_a_form_sent_back_with_an_error_asks_for_the_typed_secrets_again(live, admin_page):
    """Secrets are never sent back to the browser: after a server-side error the form says so
    next to each secret that had been typed, instead of silently dropping it (fresh-eyes finding)."""
    page = admin_page
    page.goto(f"{live.url}/admin/connectors/new?kind=twilio")
    page.locator("#name").evaluate("el => el.removeAttribute('pattern')")  # as an older browser would send it
    page.locator("#name").fill("My SMS")
    page.locator("#cfg_account_sid").fill("AC" + "0" * 32)
    page.locator("#cfg_auth_token").fill("twilio-token-123")
    page.get_by_role("button", name="Create").click()
    assert "Name: use lower-case letters" in page.locator("#form-error").inner_text()
    assert page.locator("#cfg_auth_token-retype").is_visible()
    assert page.locator("#cfg_auth_token").get_attribute("aria-invalid") == "true"
    assert page.locator("#cfg_auth_token").get_attribute("required") is not None
    assert "twilio-token-123" not in page.content()


def test_a_check_result_is_brought_into_view(live, admin_page):
    page = admin_page
    page.goto(f"{live.url}/admin/connectors/new?kind=zendesk")
    page.locator("#name").fill("zd")
    page.locator("#cfg_subdomain").fill("x")
    page.locator("#cfg_email").fill("a@example.com")
    page.locator("#cfg_api_token").fill("t")
    page.locator("#cfg_base_url").fill("http://127.0.0.1:1")
    page.get_by_role("button", name="Check connection").click()
    result = page.locator("#check-result.flash")
    result.wait_for()
    box = result.bounding_box()
    assert 0 <= box["y"] <= PHONE["height"] - box["height"], box  # on screen, not 2,000 px above
