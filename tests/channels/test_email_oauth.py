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

import json
import re
import time

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
    assert r.status_code == 303, r.get_data(as_text=True)[:300]
    provider = httpx.get(r.headers["Location"])  # the provider's consent page, approved
    assert provider.status_code == 302, provider.text
    callback = httpx.URL(provider.headers["Location"])
    assert callback.path == "/admin/oauth/callback"
    return r.headers["Location"], f"{callback.path}?{callback.query.decode()}"


def _conversations(hub) -> list[dict]:
    return hub.api("GET", "/api/v1/conversations").get_json()["items"]


def _metric(hub, connector: str) -> str | None:
    text = hub.client.get("/metrics").get_data(as_text=True)
    m = re.search(r'omnihub_connector_healthy\{connector="%s",kind="email"\} (\S+)' % connector, text)
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
    time.sleep(0.6)  # Dovecot delays IDLE notifications by 500 ms
    imap.append(make_mail(1, subject="Card blocked", text="Hello,\n\nmy card is blocked.\n"))
    conv = wait_until(lambda: [c for c in _conversations(hub) if c["subject"] == "Card blocked"], timeout=20, message="IMAP ingest")[0]
    assert conv["connector"] == "mail"

    # --- SMTP reply with XOAUTH2 ----------------------------------------------------------------
    def reply(text: str) -> None:
        resp = hub.api("POST", f"/api/v1/conversations/{conv['id']}/replies", json={"text": text})
        assert resp.status_code == 202, resp.get_data(as_text=True)

    reply("We unblocked it.")
    wait_until(lambda: len(smtp.received) == 1, timeout=20, message="SMTP XOAUTH2 delivery")
    assert smtp.logins == ["alice"] and smtp.received[0][0] == "support@hub.example"

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

    # --- revoked refresh token: red, loud, and nobody else affected ----------------------------
    assert _metric(hub, "mail") == "1.0" and _metric(hub, "other") == "1.0"
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
    wait_until(lambda: alerts, timeout=30, message="alert webhook")
    headers, body = alerts[0]
    signing.verify(ALERT_SECRET, body, headers)
    payload = json.loads(body)
    assert payload["event"] == "connector.unhealthy" and payload["connector"] == "mail" and payload["kind"] == "email"
    assert refresh_token not in body.decode()
    # the other mailbox still ingests
    time.sleep(0.6)
    imap.append(make_mail(2, subject="Other mailbox still works"), folder="Other")
    wait_until(lambda: [c for c in _conversations(hub) if c["subject"] == "Other mailbox still works"], timeout=20, message="other ingest")
    assert len(alerts) == 1
    assert (_row(hub, "other").health or {}).get("auth_failed") is None

    # --- signing in again clears it -----------------------------------------------------------
    _authorize, callback = _start(admin)
    assert admin.get(callback).status_code == 302
    assert _metric(hub, "mail") == "1.0"
    assert 'id="connector-health-banner"' not in admin.get("/inbox").get_data(as_text=True)
