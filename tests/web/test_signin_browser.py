"""Sign-in in a real browser (headless Chromium): two-factor enrolment with the QR code and
the second step; the SSO button through the local OpenID provider and back."""

from __future__ import annotations

import re
import time

import pyotp
import pytest

from tests.support.oidc_idp import OidcIdP
from tests.web.conftest import AGENT, LiveHub, assert_labelled, free_port, login, screenshot


@pytest.fixture
def sso_live(make_hub):
    port = free_port()
    with OidcIdP(f"http://127.0.0.1:{port}/login/sso/callback") as idp:
        hub = make_hub(public_url=f"http://127.0.0.1:{port}", **idp.settings(oidc_jit=True))
        lh = LiveHub(hub, port)
        lh.idp = idp  # type: ignore[attr-defined]
        yield lh
        lh.stop()


def test_enrol_with_the_qr_code_then_sign_in_with_a_code(sso_live, context, artifacts_dir):
    live = sso_live
    page = context.new_page()
    login(page, live, AGENT)
    page.get_by_role("link", name="Two-factor").click()
    qr = page.locator("#totp-qr")
    qr.wait_for()
    assert page.evaluate("() => document.getElementById('totp-qr').naturalWidth") > 100  # the SVG renders under the CSP
    assert_labelled(page)
    screenshot(page, artifacts_dir, "two-factor-enrol")
    totp = pyotp.TOTP(page.locator("#totp-secret").inner_text().replace(" ", ""))  # shown in groups of four
    page.get_by_label("Code from your app").fill(totp.now())
    page.get_by_role("button", name="Turn on two-factor").click()
    codes = page.locator("#recovery-codes li")
    codes.first.wait_for()
    assert codes.count() == 10

    page.get_by_role("button", name="Log out").click()
    page.get_by_label("Email").fill(AGENT[0])
    page.get_by_label("Password").fill(AGENT[1])
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(re.compile(r".*/login/2fa$"))
    assert_labelled(page)
    page.get_by_label("Code from your authenticator app").fill(totp.at(time.time() + 30))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(re.compile(r".*/inbox/?$"))


def test_the_sso_button_signs_in_through_the_provider(sso_live, context):
    live = sso_live
    page = context.new_page()
    page.goto(live.url + "/login?next=/inbox/dashboard")
    page.get_by_role("link", name="Sign in with SSO").click()
    page.wait_for_url(re.compile(r"^http://127\.0\.0\.1:\d+/inbox/dashboard$"))
    assert "Sam SSO" in page.locator(".who").inner_text()
