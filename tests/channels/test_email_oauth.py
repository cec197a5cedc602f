"""OAuth 2.0 mailboxes end to end (issue #18 items 1 and 2), all real parts: a local OAuth
server (tests/support/oauth_server.py), Dovecot accepting XOAUTH2 through its oauth2 passdb
(introspection against that server), aiosmtpd accepting only AUTH XOAUTH2, the hub's web
app, worker and poller processes, Redis and SQLite.

Sign in through the admin console (start → provider → callback, driven with an HTTP client),
IMAP IDLE ingest with the access token, an SMTP reply with XOAUTH2, refresh after expiry and
after a refused token, then a revoked refresh token: the connector turns red (admin page,
banner, /readyz, the Prometheus gauge, a signed alert webhook) while another connector keeps
working.
"""

from __future__ import annotations

import html
import json
import re

import httpx
import pytest
from sqlalchemy import select

from hub import signing
from hub.models import Connector, Reply
from tests.support.hub import wait_until
from tests.support.mail import make_mail
from tests.support.oauth_server import OAuthServer, OAuthSmtpServer, running_oauth_dovecot

ADMIN = ("admin@example.com", "correct horse battery staple")
AGENT = ("agent2@example.com", "another long passphrase")
ALERT_SECRET = "alert-secret-for-tests"


def _csrf(client, path="/login") -> str:
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _login(hub, who):
    client = hub.app.test_client()
    r = client.post("/login", data={"email": who[0], "password": who[1], "csrf_token": _csrf(client)})
    assert r.status_code == 302, r.get_data(as_text=True)[:300]
    return client


def _row(hub, name: str) -> Connector:
    with hub.rt.db.read() as s:
        row = s.scalar(select(Connector).where(Connector.name == name))
        s.expunge(row)
        return row


def _start(client, name="mail"):
    """POST start (admin, CSRF) → the provider's authorize URL; the provider (auto-consent) → our callback."""
    r = client.post(f"/admin/connectors/{name}/oauth/start", data={"csrf_token": _csrf(client, f"/admin/connectors/{name}")})
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    authorize = html.unescape(re.search(r'id="oauth-continue" href="([^"]+)"', r.get_data(as_text=True)).group(1))
    provider = httpx.get(authorize)  # the provider's consent page, approved
    assert provider.status_code == 302, provider.text
    callback = httpx.URL(provider.headers["Location"])
    assert callback.path == "/admin/oauth/callback"
    return authorize, f"{callback.path}?{callback.query.decode()}"


def _conversations(hub) -> list[dict]:
    return hub.api("GET", "/api/v1/conversations").get_json()["items"]


def _metric(hub, connector: str) -> str | None:
    text = hub.client.get("/metrics").get_data(as_text=True)
    m = re.search(r'omnihub_connector_healthy\{connector="' + re.escape(connector) + r'",kind="email"\} (\S+)', text)
    return m.group(1) if m else None


@pytest.fixture
def oauth_hub(make_hub, httpserver):
    alerts: list[tuple[dict, bytes]] = []

    def record_alert(request):
        from werkzeug import Response

        alerts.append((dict(request.headers), request.get_data()))
        return Response("ok")

    httpserver.expect_request("/alerts", method="POST").respond_with_handler(record_alert)
    hub = make_hub(alert_webhook_url=httpserver.url_for("/alerts"), alert_webhook_secret=ALERT_SECRET, connector_failing_after=3600)
    callback = f"{hub.settings.effective_public_url}/admin/oauth/callback"
    with OAuthServer(callback, "alice", access_lifetime=5) as idp, running_oauth_dovecot(idp.url) as imap, OAuthSmtpServer(idp.url) as smtp:
        imap.append(make_mail("other-0", subject="seed"), folder="Other")
        hub.add_connector(
            "mail", "email",
            **imap.config(password=None, smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_security="none", **idp.connector_config()),
        )
        # a password mailbox on the same server (folder Other): must not notice mail's troubles
        hub.add_connector("other", "email", **imap.config(folders="Other", from_address="other@hub.example"))
        from hub.auth import create_user

        with hub.rt.db.session() as s:
            create_user(s, ADMIN[0], "admin", ADMIN[1], "Ada Admin")
            create_user(s, AGENT[0], "agent", AGENT[1], "Bob Agent")
        hub.start_worker()
        hub.start_poller()
        yield hub, idp, imap, smtp, alerts


def test_oauth_mailbox_end_to_end(oauth_hub):
    hub, idp, imap, smtp, alerts = oauth_hub
    admin = _login(hub, ADMIN)

    # not signed in yet: loud at once (credentials missing = cannot authenticate)
    wait_until(lambda: (_row(hub, "mail").health or {}).get("auth_failed"), timeout=20, message="unsigned connector red")
    assert "not signed in" in _row(hub, "mail").health["last_error"]

    # --- sign in: start → provider → callback ---------------------------------------------
    authorize, callback = _start(admin)
    q = httpx.URL(authorize).params
    assert q["code_challenge_method"] == "S256" and len(q["code_challenge"]) == 43 and q["redirect_uri"].endswith("/admin/oauth/callback")
    # an agent may not start one
    agent = _login(hub, AGENT)
    assert agent.post("/admin/connectors/mail/oauth/start", data={"csrf_token": _csrf(agent, "/inbox")}).status_code == 403
    # without the CSRF token: refused
    assert admin.post("/admin/connectors/mail/oauth/start").status_code == 403
    # the callback in another session of the same admin: refused, and the state is spent
    other_session = _login(hub, ADMIN)
    assert other_session.get(callback).status_code == 403
    assert admin.get(callback).status_code == 400
    # a fresh flow, completed in the session that started it
    _authorize, callback = _start(admin)
    r = admin.get(callback)
    assert r.status_code == 302 and r.headers["Location"].endswith("/admin/connectors/mail")
    assert "signed in" in admin.get("/admin/connectors/mail").get_data(as_text=True)
    assert admin.get(callback).status_code == 400  # single use
    assert idp.grants == ["authorization_code"]

    # the refresh token rests sealed: not in the connector row in clear
    [refresh_token] = list(idp.refresh)
    row = _row(hub, "mail")
    assert refresh_token not in json.dumps(row.state) and refresh_token.encode() not in bytes(row.secrets)
    assert "sealed:oauth" in row.state

    # --- IMAP IDLE ingest with the access token ---------------------------------------------
    wait_until(lambda: _row(hub, "mail").state.get("imap:INBOX:uidvalidity"), timeout=30, message="XOAUTH2 IMAP session")
    wait_until(lambda: not (_row(hub, "mail").health or {}).get("auth_failed"), timeout=10, message="health cleared")
    imap.append(make_mail(1, subject="Card blocked", text="Hello,\n\nmy card is blocked.\n"))
    conv = wait_until(lambda: [c for c in _conversations(hub) if c["subject"] == "Card blocked"], timeout=20, message="IMAP ingest")[0]
    assert conv["connector"] == "mail"

    # the edit form's "Check connection" uses the saved sign-in: IMAP and SMTP log in with XOAUTH2
    form = {"csrf_token": _csrf(admin, "/admin/connectors/mail"), "action": "check", "enabled": "on"}
    for key, value in (_row(hub, "mail").config or {}).items():
        if isinstance(value, bool):
            form[f"cfg_{key}"] = "on" if value else ""
        else:
            form[f"cfg_{key}"] = "\n".join(value) if isinstance(value, (list, tuple)) else str(value)
    checked = admin.post("/admin/connectors/mail", data=form, headers={"Accept": "application/json"}).get_json()
    assert checked["ok"] is True, checked
    assert any(c.startswith("AUTH") and "XOAUTH2" in c for c in checked["details"]["smtp_capabilities"])

    # --- SMTP reply with XOAUTH2 ----------------------------------------------------------------
    def reply(text: str) -> None:
        resp = hub.api("POST", f"/api/v1/conversations/{conv['id']}/replies", json={"text": text})
        assert resp.status_code == 202, resp.get_data(as_text=True)

    reply("We unblocked it.")
    wait_until(lambda: len(smtp.received) == 1, timeout=20, message="SMTP XOAUTH2 delivery")
    assert set(smtp.logins) == {"alice"} and smtp.received[0][0] == "support@hub.example"

    # --- the access token expires (5 s on the server): refreshed before use -----------------------
    first_access = set(idp.access)
    wait_until(lambda: not any(idp.active(t) for t in first_access), timeout=15, message="access token expiry")
    reply("Second answer after expiry.")
    wait_until(lambda: len(smtp.received) == 2, timeout=20, message="delivery after refresh")
    assert "refresh_token" in idp.grants
    assert smtp.refusals == 0  # refreshed ahead of time, never sent an expired token

    # --- a token refused before its expiry: refreshed once, then it works ------------------------
    refreshes = idp.grants.count("refresh_token")
    idp.revoke_access_tokens()
    reply("Third answer with a revoked access token.")
    wait_until(lambda: len(smtp.received) == 3, timeout=20, message="delivery after a refused token")
    assert smtp.refusals == 1 and idp.grants.count("refresh_token") == refreshes + 1

    # the same on IMAP: the server restarts, the poller logs in again with a token the
    # provider no longer accepts, refreshes once and ingests
    refused_before = idp.inactive_introspections
    idp.revoke_access_tokens()
    imap.restart()
    wait_until(lambda: idp.grants.count("refresh_token") == refreshes + 2, timeout=30, message="IMAP refresh after a refused token")
    # appended before or after the new session's catch-up, it is ingested either way
    imap.append(make_mail(3, subject="After the IMAP re-login"))
    wait_until(lambda: [c for c in _conversations(hub) if c["subject"] == "After the IMAP re-login"], timeout=30, message="ingest after refresh")
    assert idp.inactive_introspections == refused_before + 1  # the refused login, then the refreshed token

    # --- revoked refresh token: red, loud, and nobody else affected ----------------------------
    assert _metric(hub, "mail") == "1.0" and _metric(hub, "other") == "1.0"
    # the not-signed-in episode at the start was red too: alerted (once) when the poller's
    # connector-health sweep (every 10 s) ran before the sign-in, else not at all
    early = len(alerts)
    assert early <= 1 and all(b"not signed in" in body for _h, body in alerts), alerts
    idp.revoke_refresh_tokens()
    idp.revoke_access_tokens()
    reply("Fourth answer: the grant is gone.")
    wait_until(lambda: hub.count(Reply, Reply.state == "dead") == 1, timeout=20, message="reply failed on auth")
    health = wait_until(lambda: (_row(hub, "mail").health or {}).get("auth_failed") and _row(hub, "mail").health, timeout=10)
    assert "invalid_grant" in health["last_error"]
    assert _metric(hub, "mail") == "0.0" and _metric(hub, "other") == "1.0"
    ready = hub.client.get("/readyz")
    assert ready.status_code == 200  # a red connector does not make the hub unready
    detail = ready.get_json()["connectors"]
    assert detail["mail"]["healthy"] is False and "invalid_grant" in detail["mail"]["reason"]
    assert detail["other"]["healthy"] is True
    page = admin.get("/inbox").get_data(as_text=True)
    assert 'id="connector-health-banner"' in page and "mail" in page.split('id="connector-health-banner"')[1][:600]
    assert 'id="connector-health-banner"' not in agent.get("/inbox").get_data(as_text=True)  # admins only
    assert "✘ red" in admin.get("/admin/connectors").get_data(as_text=True)
    # one signed alert for the red episode
    wait_until(lambda: len(alerts) > early, timeout=30, message="alert webhook")
    headers, body = alerts[early]
    signing.verify(ALERT_SECRET, body, headers)
    payload = json.loads(body)
    assert payload["event"] == "connector.unhealthy" and payload["connector"] == "mail" and payload["kind"] == "email"
    assert refresh_token not in body.decode()
    # the other mailbox still ingests
    imap.append(make_mail(2, subject="Other mailbox still works"), folder="Other")
    wait_until(lambda: [c for c in _conversations(hub) if c["subject"] == "Other mailbox still works"], timeout=20, message="other ingest")
    assert len(alerts) == early + 1
    assert (_row(hub, "other").health or {}).get("auth_failed") is None

    # --- signing in again clears it -----------------------------------------------------------
    _authorize, callback = _start(admin)
    assert admin.get(callback).status_code == 302
    assert _metric(hub, "mail") == "1.0"
    assert 'id="connector-health-banner"' not in admin.get("/inbox").get_data(as_text=True)


# ------------------------------------------------------------------------ configuration and binding
from pydantic import ValidationError  # noqa: E402

from channels.email import EmailConfig, oauth  # noqa: E402
from hub.errors import AuthError  # noqa: E402
from hub.types import MemoryState  # noqa: E402

OAUTH_BASE = {"imap_host": "imap.example.com", "username": "support@example.com", "smtp_host": "smtp.example.com",
              "from_address": "support@example.com", "auth": "oauth2", "oauth_client_id": "cid"}


@pytest.mark.parametrize("extra, error", [
    ({}, "needs oauth_provider"),
    ({"oauth_provider": "google", "oauth_client_id": None}, "needs oauth_client_id"),
    ({"oauth_provider": "custom"}, "needs oauth_authorize_url and oauth_token_url"),
    ({"oauth_provider": "custom", "oauth_authorize_url": "http://idp.example.com/a", "oauth_token_url": "https://idp.example.com/t"}, "only allowed for loopback"),
    ({"oauth_provider": "custom", "oauth_authorize_url": "https://idp.example.com/a", "oauth_token_url": "ftp://idp.example.com/t"}, "must be an https"),
    ({"oauth_provider": "microsoft", "oauth_tenant": "evil.example/../x"}, "oauth_tenant must be"),
])
def test_oauth2_config_refusals(extra, error):
    with pytest.raises(ValidationError, match=re.escape(error)):
        EmailConfig(**{**OAUTH_BASE, **extra})


def test_password_auth_still_needs_a_password():
    with pytest.raises(ValidationError, match="password is required"):
        EmailConfig(**{**OAUTH_BASE, "auth": "password"})


def test_provider_endpoints_and_scopes():
    g = oauth.provider_for(EmailConfig(**OAUTH_BASE, oauth_provider="google"))
    assert (g.authorize_url, g.token_url, g.scope) == ("https://accounts.google.com/o/oauth2/v2/auth", "https://oauth2.googleapis.com/token", "https://mail.google.com/")
    assert dict(g.authorize_params) == {"access_type": "offline", "prompt": "consent"}
    m = oauth.provider_for(EmailConfig(**OAUTH_BASE, oauth_provider="microsoft", oauth_tenant="contoso.onmicrosoft.com"))
    assert m.authorize_url == "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize"
    assert m.token_url == "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
    assert m.scope.split() == ["https://outlook.office.com/IMAP.AccessAsUser.All", "https://outlook.office.com/SMTP.Send", "offline_access"]
    assert oauth.provider_for(EmailConfig(**OAUTH_BASE, oauth_provider="microsoft")).token_url.startswith("https://login.microsoftonline.com/common/")


def _signed_in(idp, vault, **destinations) -> oauth.TokenSource:
    cfg = EmailConfig(**{**OAUTH_BASE, "imap_host": "127.0.0.1", "imap_security": "none", "smtp_host": None, **idp.connector_config()})
    source = oauth.TokenSource("mail", cfg, vault, destinations=destinations or {"imap": "127.0.0.1:143"})
    url, _state, verifier = source.authorization_url(idp.redirect_uri)
    code = httpx.URL(httpx.get(url).headers["Location"]).params["code"]
    source.exchange(idp.redirect_uri, code, verifier)
    return source


def test_pkce_verifier_is_required_by_the_exchange():
    with OAuthServer("http://hub.test/admin/oauth/callback", "alice") as idp:
        cfg = EmailConfig(**{**OAUTH_BASE, **idp.connector_config()})
        source = oauth.TokenSource("mail", cfg, MemoryState())
        url, _state, verifier = source.authorization_url(idp.redirect_uri)
        code = httpx.URL(httpx.get(url).headers["Location"]).params["code"]
        with pytest.raises(AuthError, match="invalid_grant"):
            source.exchange(idp.redirect_uri, code, verifier[:-1] + ("A" if verifier[-1] != "A" else "B"))
        assert not source.authorized()


def test_stored_tokens_never_go_to_a_new_destination():
    with OAuthServer("http://hub.test/admin/oauth/callback", "alice", access_lifetime=1) as idp:
        vault = MemoryState()
        first = _signed_in(idp, vault)
        assert first.access_token()
        grants = list(idp.grants)
        moved = oauth.TokenSource("mail", first.config, vault, destinations={"imap": "imap.elsewhere.example:143"})
        with pytest.raises(AuthError, match="imap changed since the sign-in"):
            moved.access_token(force=True)
        assert idp.grants == grants  # the refresh token was not sent anywhere
        assert first.access_token(force=True) and idp.grants == grants + ["refresh_token"]


def test_callback_state_expires(hub):
    from hub.auth import create_user

    with OAuthServer(f"{hub.settings.effective_public_url}/admin/oauth/callback", "alice") as idp:
        hub.add_connector("mail", "email", **{**OAUTH_BASE, "imap_host": "127.0.0.1", "imap_security": "none", "smtp_host": None,
                                              **idp.connector_config()})
        with hub.rt.db.session() as s:
            create_user(s, ADMIN[0], "admin", ADMIN[1], "Ada Admin")
        admin = _login(hub, ADMIN)
        _authorize, callback = _start(admin)
        [key] = hub.rt.redis.keys(f"{hub.settings.queue_prefix}:oauth-state:*")
        assert 0 < hub.rt.redis.ttl(key) <= 600
        hub.rt.redis.pexpire(key, 1)
        wait_until(lambda: not hub.rt.redis.exists(key), timeout=5)
        assert admin.get(callback).status_code == 400
        assert idp.grants == []  # nothing exchanged
        # only connectors that sign in with OAuth; only POST
        hub.add_connector("pw", "email", imap_host="127.0.0.1", imap_security="none", username="u", password="p",
                          from_address="s@example.com")
        token = _csrf(admin, "/admin/connectors/mail")
        assert admin.post("/admin/connectors/pw/oauth/start", data={"csrf_token": token}).status_code == 400
        assert admin.post("/admin/connectors/nope/oauth/start", data={"csrf_token": token}).status_code == 404
        assert admin.get("/admin/connectors/mail/oauth/start").status_code == 405
