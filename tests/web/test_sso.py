"""OpenID Connect sign-in against a local OpenID provider (tests/support/oidc_idp.py): real
discovery, JWKS and RS256 ID tokens over HTTP; the hub's Flask app through its test client."""

from __future__ import annotations

import html
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select

from hub.models import AuditLog, User
from tests.support.oidc_idp import FORGERIES, OidcIdP
from tests.web.conftest import ADMIN, add_users

HUB = "http://hub.test"  # the test hub's PUBLIC_URL
ROLES = {"oidc_role_claim": "groups", "oidc_role_map": "omnihub-admins=admin, support=agent"}


@pytest.fixture
def idp():
    with OidcIdP(f"{HUB}/login/sso/callback") as server:
        yield server


def sso(client, next_: str | None = None):
    """Press 'Sign in with SSO': the hub sends the browser to the provider, which sends it back."""
    r = client.get("/login/sso" + (f"?next={next_}" if next_ else ""))
    assert r.status_code == 302, r.get_data(as_text=True)
    authorize = r.headers["Location"]
    q = parse_qs(urlsplit(authorize).query)
    assert q["code_challenge_method"] == ["S256"] and q["nonce"] and q["state"] and "openid" in q["scope"][0].split()
    back = httpx.get(authorize, follow_redirects=False, timeout=5)
    assert back.status_code == 302, back.text
    cb = urlsplit(back.headers["location"])
    assert f"{cb.scheme}://{cb.netloc}{cb.path}" == f"{HUB}/login/sso/callback"
    return client.get(f"{cb.path}?{cb.query}")


def audit(hub, action: str) -> list[AuditLog]:
    with hub.rt.db.read() as s:
        return list(s.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


def test_sso_sign_in_creates_the_user_maps_roles_and_is_audited(make_hub, idp):
    # two-factor required for everyone: it is for password sign-ins; the provider does its own
    hub = make_hub(totp_required="everyone", **idp.settings(oidc_jit=True, **ROLES))
    c = hub.app.test_client()
    page = c.get("/login").get_data(as_text=True)
    assert 'id="sso-button"' in page and "Sign in with SSO" in page

    idp.claims = {**idp.claims, "groups": ["staff", "support"]}
    r = sso(c, next_="/inbox/dashboard")
    assert r.status_code == 302 and r.headers["Location"] == "/inbox/dashboard"
    assert c.get("/inbox/").status_code == 200
    with hub.rt.db.read() as s:
        user = s.scalar(select(User).where(User.email == "sam@example.com"))
    assert user.role == "agent" and user.password_hash is None and user.name == "Sam SSO" and user.oidc_subject
    assert [a.details["via"] for a in audit(hub, "user.create")] == ["oidc"]
    login = audit(hub, "user.login")[-1]
    assert login.actor == "sam@example.com" and login.details["method"] == "oidc"

    # the provider moves Sam to the admins: the next sign-in maps the role (the old session ends)
    idp.claims["groups"] = ["omnihub-admins", "support"]
    c2 = hub.app.test_client()
    assert sso(c2).status_code == 302
    assert c2.get("/admin/connectors").status_code == 200
    assert c.get("/inbox/").status_code == 302  # the agent session from before the role change
    change = audit(hub, "user.role_change")[-1]
    assert (change.details["from"], change.details["to"]) == ("agent", "admin")

    # no mapped group: refused, audited, no session
    idp.claims["groups"] = ["marketing"]
    c3 = hub.app.test_client()
    r = sso(c3)
    assert r.status_code == 401 and "no omnihub role" in r.get_data(as_text=True)
    assert c3.get("/inbox/").status_code == 302
    assert "no omnihub role" in audit(hub, "user.login_failed")[-1].details["reason"]


def test_forged_expired_and_foreign_id_tokens_are_refused(make_hub, idp):
    hub = make_hub(**idp.settings(oidc_jit=True))
    expected = {
        "other_key": "signature does not verify",
        "expired": "has expired",
        "wrong_audience": "'aud' claim is wrong",
        "wrong_issuer": "'iss' claim is wrong",
        "alg_none": "signed with 'none'",
        "hs256_client_secret": "signed with 'HS256'",
        "wrong_nonce": "nonce does not match",
    }
    assert set(expected) == set(FORGERIES)
    for forgery, words in expected.items():
        c = hub.app.test_client()
        idp.forge = forgery
        r = sso(c)
        body = html.unescape(r.get_data(as_text=True))
        assert r.status_code == 401 and words in body, (forgery, body)
        assert c.get("/inbox/").status_code == 302, forgery
    with hub.rt.db.read() as s:
        assert s.scalar(select(User).where(User.email == "sam@example.com")) is None  # no account was made
    assert len(audit(hub, "user.login_failed")) == len(expected)
    # and the same provider's genuine token still works
    c = hub.app.test_client()
    assert sso(c).status_code == 302 and c.get("/inbox/").status_code == 200
    # also after the provider rotates its key (a key id the cached JWKS does not know: fetched again)
    idp.rotate_key()
    c = hub.app.test_client()
    assert sso(c).status_code == 302 and c.get("/inbox/").status_code == 200


def test_existing_users_link_by_verified_email_and_strangers_are_refused_without_jit(make_hub, idp):
    hub = make_hub(**idp.settings())
    add_users(hub)
    c = hub.app.test_client()
    idp.claims = {"sub": "admin-at-idp", "email": ADMIN[0].upper(), "email_verified": False}
    r = sso(c)
    assert r.status_code == 401 and "no omnihub account" in r.get_data(as_text=True)  # an unverified email links nothing

    idp.claims["email_verified"] = True
    assert sso(c).status_code == 302 and c.get("/admin/connectors").status_code == 200  # role kept: no role claim configured
    assert [a.actor for a in audit(hub, "user.oidc_link")] == ["oidc"]

    # the link is by subject from now on: the email at the provider may change
    idp.claims["email"] = "ada.renamed@example.com"
    c2 = hub.app.test_client()
    assert sso(c2).status_code == 302 and c2.get("/admin/connectors").status_code == 200

    idp.claims = {"sub": "stranger", "email": "who@example.com", "email_verified": True}
    r = sso(hub.app.test_client())
    assert r.status_code == 401 and "no omnihub account for who@example.com" in r.get_data(as_text=True)


def test_the_callback_needs_this_browsers_state_and_reports_provider_errors(make_hub, idp):
    hub = make_hub(**idp.settings(oidc_jit=True))
    c = hub.app.test_client()
    r = c.get("/login/sso")
    authorize = r.headers["Location"]
    back = urlsplit(httpx.get(authorize, follow_redirects=False, timeout=5).headers["location"])
    other = hub.app.test_client()  # another browser presenting the code (login CSRF)
    r = other.get(f"{back.path}?{back.query}")
    assert r.status_code == 400 and "did not start in this browser" in r.get_data(as_text=True)
    assert other.get("/inbox/").status_code == 302
    r = c.get("/login/sso/callback?error=access_denied&error_description=The+user+said+no")
    assert r.status_code == 401 and "refused the sign-in: access_denied (The user said no)" in r.get_data(as_text=True)
    assert idp.tokens_issued == 0


def test_no_sso_button_or_route_when_not_configured(hub):
    assert "sso-button" not in hub.app.test_client().get("/login").get_data(as_text=True)
    assert hub.app.test_client().get("/login/sso").status_code == 404


def test_role_map_setting_is_checked():
    from pydantic import ValidationError

    from config.settings import Settings

    with pytest.raises(ValidationError, match="VALUE=admin"):
        Settings(oidc_role_map="admins=root")
    assert Settings(oidc_role_map="a=admin, b = agent").oidc_roles == {"a": "admin", "b": "agent"}


def test_a_provider_that_is_down_or_names_another_issuer_is_reported_on_the_login_page(make_hub, idp):
    from tests.web.conftest import free_port

    down = make_hub(oidc_issuer=f"http://127.0.0.1:{free_port()}", oidc_client_id="x")
    r = down.app.test_client().get("/login/sso")
    assert r.status_code == 502 and "Single sign-on is unavailable: the identity provider could not be reached" in r.get_data(as_text=True)

    # OpenID Connect Discovery 4.3: the document's issuer must be the configured one exactly
    other = make_hub(**idp.settings(oidc_issuer=idp.url + "/"))
    r = other.app.test_client().get("/login/sso")
    assert r.status_code == 502 and "not OMNIHUB_OIDC_ISSUER" in html.unescape(r.get_data(as_text=True))
