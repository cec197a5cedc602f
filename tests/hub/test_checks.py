"""A failed connection check reads in plain words and names the key to fix (#17 item 6).

Real failures, no stand-ins: an unresolvable host (the reserved .invalid TLD), a closed local
port, a local HTTP server answering 401 and 404, and a real Dovecot refusing a password."""

from __future__ import annotations

import pytest
from werkzeug import Response

from hub import checks
from tests.support.dovecot import dovecot  # noqa: F401 - fixture
from tests.web.conftest import free_port


@pytest.fixture
def check(make_hub):
    from hub.web.admin import check_values

    h = make_hub(allow_private_urls=True)

    def run(kind: str, **values):
        with h.app.app_context():
            return check_values(kind, "t1", values)

    return run


def _plain(result) -> str:
    assert result["ok"] is False
    text = result["summary"]
    for leak in ("Error:", "Errno", "Traceback", "gaierror", "HTTPConnectionPool", "ConnectError"):
        assert leak not in text, text
    return text


def test_unresolvable_hosts_name_their_key(check):
    text = _plain(check("email", imap_host="imap.nonexistent.invalid", smtp_host="smtp.nonexistent.invalid",
                        username="u", password="p", from_address="s@example.com"))
    assert "cannot resolve imap.nonexistent.invalid — no such host name; check imap_host" in text
    assert "cannot resolve smtp.nonexistent.invalid — no such host name; check smtp_host" in text
    r = check("zendesk", subdomain="omnihub-no-such-desk-7f3a", email="a@example.com", api_token="t")
    # the DNS answer for *.zendesk.com is not ours to decide: either no such host, or Zendesk's own 404/401
    assert "check subdomain" in _plain(r) or "check email and api_token" in _plain(r)
    assert "check base_url" in _plain(check("chatwoot", base_url="https://chat.nonexistent.invalid", api_access_token="k",
                                             account_id=1, inbox_id=2))


def test_a_closed_port_says_nothing_listens_and_names_host_and_port(check):
    port = free_port()
    text = _plain(check("email", imap_host="127.0.0.1", imap_port=port, imap_security="none", username="u", password="p",
                        from_address="s@example.com"))
    assert text == "IMAP: 127.0.0.1 refused the connection — nothing is listening there; check imap_host and imap_port"
    text = _plain(check("zammad", base_url=f"http://127.0.0.1:{port}", token="k"))
    assert text == "127.0.0.1 refused the connection — nothing is listening there; check base_url"


def test_http_401_names_the_credentials_and_404_the_address_and_ids(check, httpserver):
    httpserver.expect_request("/api/v1/accounts/1/inboxes/2").respond_with_response(Response('{"error":"x"}', status=404))
    httpserver.expect_request("/api/v2/users/me.json").respond_with_response(Response('{"error":"Couldn\'t authenticate you"}', status=401))
    base = httpserver.url_for("").rstrip("/")
    host = httpserver.host
    text = _plain(check("zendesk", base_url=base, email="agent@example.com", api_token="t"))
    assert text == f"{host} refused the credentials (HTTP 401) — check email and api_token"
    text = _plain(check("chatwoot", base_url=base, api_access_token="k", account_id=1, inbox_id=2))
    assert text == f"{host} answered 404 Not Found — the address or an ID is wrong; check base_url and account_id, inbox_id"
    # the technical text is kept beside the plain words, for whoever debugs it
    assert "HTTP 404" in check("chatwoot", base_url=base, api_access_token="k", account_id=1, inbox_id=2)["details"]["technical"]


def test_a_refused_imap_password_names_username_and_password(check, dovecot):  # noqa: F811
    cfg = dovecot.config(password="wrong-pw-123")
    text = _plain(check("email", **cfg))
    assert "refused the credentials — check username and password" in text
    assert "wrong-pw-123" not in text


def test_text_nobody_recognises_is_left_as_it_is():
    from channels.api import ApiConfig

    assert checks.explain("callback_url answered HTTP 418", ApiConfig, {}) == "callback_url answered HTTP 418"
    assert checks.plain_result({"ok": True, "summary": "fine"}, ApiConfig, {}) == {"ok": True, "summary": "fine"}


def test_configuration_errors_read_as_the_admin_would_write_them(check):
    text = _plain(check("twilio", account_sid="ACbad", auth_token="t"))
    assert text == "invalid configuration: account_sid: must be a Twilio Account SID: AC followed by 32 hex digits"
    text = _plain(check("zendesk", email="a@example.com", api_token="t"))
    assert text == "invalid configuration: set subdomain (acme for acme.zendesk.com) or base_url"
    assert _plain(check("webhook", secret="s" * 32)) == "invalid configuration: url: required"


def test_a_refused_destination_is_said_without_an_error_class(make_hub):
    from hub import net
    from hub.web.admin import check_values

    h = make_hub(allow_private_urls=False)
    try:
        with h.app.app_context():
            r = check_values("zendesk", "t1", {"base_url": "http://127.0.0.1:1", "email": "a@example.com", "api_token": "t"})
    finally:
        net.set_allow_private_urls(None)
    assert _plain(r).startswith("base_url: 127.0.0.1 is a loopback/private address; set OMNIHUB_ALLOW_PRIVATE_URLS=true")


def test_oauth_failures_name_their_own_fix():
    """The client's own credentials refused: check them (signing in again cannot help); a token
    endpoint's HTTP error: its status, not the library's prose; and the plain-words step keeps
    a message that already names its fix (fresh-eyes findings)."""
    import httpx
    from authlib.integrations.base_client import OAuthError

    from channels.email import oauth
    from channels.email.__init__ import EmailConfig

    src = oauth.TokenSource.__new__(oauth.TokenSource)
    src.connector = "mail"
    bad_client = src._fail(OAuthError(error="invalid_client", description="client authentication failed"), "the authorization code exchange")
    assert "check oauth_client_id and oauth_client_secret" in str(bad_client) and "sign in again" not in str(bad_client)
    request = httpx.Request("POST", "https://auth.example.com/token")
    down = src._fail(httpx.HTTPStatusError("Server error '500 INTERNAL SERVER ERROR'", request=request,
                                            response=httpx.Response(500, request=request)), "the token refresh")
    assert str(down).endswith("the token endpoint answered HTTP 500; try again later") and "developer.mozilla" not in str(down)
    signed_out = "IMAP: email connector 'mail' is not signed in: open the admin console → Sign in"
    assert checks.explain(signed_out, EmailConfig, {"auth": "oauth2"}) == signed_out
