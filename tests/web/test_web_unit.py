"""The web UI without a browser: sessions, login throttling, redirects, schema forms, SLA, limits."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from hub.models import Conversation
from hub.web import composer
from hub.web.inbox import highlight_redactions
from hub.web.schema_form import fields_for, parse
from tests.web.conftest import ADMIN, AGENT, add_users

PASSWORD = "correct horse battery"


@pytest.fixture
def web(hub):
    add_users(hub)
    return hub


def csrf(client, path="/login") -> str:
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def do_login(client, who, password=None, next_=None):
    token = csrf(client)
    url = "/login" + (f"?next={next_}" if next_ else "")
    return client.post(url, data={"email": who[0], "password": password or who[1], "csrf_token": token})


def test_pages_need_a_login_and_redirect_back_safely(web):
    c = web.app.test_client()
    r = c.get("/inbox/c/7", headers={"Accept": "text/html"})
    assert r.status_code == 302 and r.headers["Location"].startswith("/login?next=/inbox/c/7")
    assert c.get("/api/v1/conversations").status_code == 401
    r = do_login(c, AGENT, next_="//evil.example/x")
    assert r.status_code == 302 and r.headers["Location"] == "/inbox/"
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie  # PUBLIC_URL is http here
    assert c.get("/api/v1/conversations").status_code == 200  # the session works for the API's GETs


def test_session_cookie_is_secure_behind_https(make_hub):
    h = make_hub(public_url="https://hub.example.com")
    from hub.auth import create_user

    with h.rt.db.session() as s:
        create_user(s, AGENT[0], "agent", AGENT[1])
    r = do_login(h.app.test_client(), AGENT)
    assert "Secure" in r.headers["Set-Cookie"]


def test_login_is_rate_limited_per_ip_and_account(web):
    c = web.app.test_client()
    for _ in range(5):
        assert do_login(c, AGENT, password="wrong password").status_code == 401
    r = do_login(c, AGENT)  # even the right password waits now
    assert r.status_code == 429 and "Too many failed attempts" in r.get_data(as_text=True)
    assert 1 <= int(r.headers["Retry-After"]) <= 3600  # a client (or a script) knows how long to wait
    assert do_login(c, ADMIN).status_code == 302  # another account from the same IP is not locked out


def test_password_change_or_deactivation_ends_sessions(web):
    from sqlalchemy import select

    from hub.models import User

    c = web.app.test_client()
    do_login(c, AGENT)
    assert c.get("/inbox/").status_code == 200
    with web.rt.db.session() as s:
        s.scalar(select(User).where(User.email == AGENT[0])).active = False
    assert c.get("/inbox/").status_code == 302


def test_logout_needs_the_token_and_ends_the_session(web):
    c = web.app.test_client()
    do_login(c, AGENT)
    assert c.post("/logout").status_code == 403
    token = csrf(c, "/inbox/")
    assert c.post("/logout", data={"csrf_token": token}).status_code == 302
    assert c.get("/inbox/").status_code == 302


def test_check_without_javascript_never_echoes_a_secret(web):
    c = web.app.test_client()
    do_login(c, ADMIN)
    token = csrf(c, "/admin/connectors/new?kind=api")
    r = c.post("/admin/connectors/new?kind=api", data={
        "csrf_token": token, "kind": "api", "name": "x1", "cfg_secret": "super-secret-value", "cfg_callback_url": "http://127.0.0.1:9/cb", "action": "check",
    })
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "Check failed" in html
    assert "super-secret-value" not in html


def test_form_fields_follow_the_config_schema():
    from channels.api import ApiConfig

    fields = {f.name: f for f in fields_for(ApiConfig)}
    assert fields["secret"].kind == "secret" and fields["secret"].required
    assert fields["widget"].kind == "boolean" and fields["widget_origins"].kind == "list"
    assert fields["timeout"].kind == "number" and fields["timeout"].default == 10.0
    form = {"cfg_secret": "", "cfg_timeout": "3.5", "cfg_widget": "on", "cfg_widget_origins": "https://a.example\nhttps://b.example", "cfg_callback_url": ""}
    parsed = parse(list(fields.values()), form, editing=False)
    assert {k: v for k, v in parsed.items() if not (fields[k].kind == "boolean" and v is False)} == {
        "timeout": 3.5, "widget": True, "widget_origins": ["https://a.example", "https://b.example"],
    }  # unchecked boxes are False; empty optional keys stay unset
    edited = parse(list(fields.values()), form, editing=True)
    assert "secret" not in edited and edited["callback_url"] is None  # empty secret keeps; empty key unsets


def test_sla_state_and_redaction_markers():
    """The one SLA computation (config.sla.live_states, behind hub.sla) on the block the SLA
    timer stores: the live clock wins over a stale stored state."""
    from config.sla import live_states

    t = datetime.now(UTC)

    def overall(block, first_response_at=None, resolved_at=None):
        return live_states(block, first_response_at, resolved_at, t, 0.25)["overall"]

    assert overall({}) == "none"
    start = t - timedelta(minutes=30)
    block = {"started_at": start.isoformat(), "first_response_due": (start + timedelta(hours=1)).isoformat(),
             "resolution_due": (start + timedelta(hours=8)).isoformat(), "first_response": "ok", "resolution": "ok"}
    assert overall(block) == "ok"
    assert overall({**block, "first_response_due": (t + timedelta(minutes=5)).isoformat()}) == "at_risk"  # 5 of 35 min left
    assert overall({**block, "first_response_due": (t - timedelta(minutes=1)).isoformat()}) == "breached"  # before the timer ticks
    assert overall({**block, "first_response": "breached"}, first_response_at=t - timedelta(minutes=10)) == "ok"  # answered in time
    late = {**block, "first_response_due": (t - timedelta(minutes=5)).isoformat()}
    assert overall(late, first_response_at=t) == "breached"  # answered late
    assert live_states(block, t - timedelta(minutes=10), None, t)["first_response"] == "met"
    html = highlight_redactions("<b>seed</b> [redacted: seed phrase]", [{"kind": "seed_phrase", "marker": "[redacted: seed phrase]"}])
    assert html.startswith("&lt;b&gt;seed&lt;/b&gt; <mark class=\"redaction\"")


def test_composer_limits_come_from_adapter_capabilities():
    """Twilio: SMS segments / WhatsApp window; X: 280 for public replies; api: its class limit."""
    from channels import REGISTRY
    from hub.types import ConnectorContext

    def adapter(kind, **config):
        cls = REGISTRY[kind]
        return cls(ConnectorContext(name="c", kind=kind, config=cls.Config(**config)))

    t = datetime.now(UTC)
    tw = adapter("twilio", account_sid="AC" + "0" * 32, auth_token="t" * 32, phone_numbers="+15005550006")
    sms = composer.limits(tw, "sms", "x", t)
    assert sms["segments"] == "sms" and sms["splits"] and "window_hours" not in sms
    wa = composer.limits(tw, "whatsapp", "x", t - timedelta(hours=2))
    assert wa["window_open"] and wa["window_hours"] == 24 and wa["max_length"] == 4096
    assert composer.limits(tw, "whatsapp", "x", t - timedelta(hours=25))["window_open"] is False
    assert composer.limits(REGISTRY["api"], "api", "k", None) == {"max_length": 65536, "splits": False, "segments": None}
    x = adapter("x", bearer_token="b", user_id="42", public_mentions="reply_publicly")
    assert composer.limits(x, "x", "tweet:123", t)["max_length"] == 280
    assert composer.limits(x, "x", "tweet:123", t)["public"] is True
    assert composer.limits(x, "x", "dm:1-42", t)["max_length"] == 10000


def test_unread_counts_follow_what_the_agent_opened(web):
    import json

    from hub import signing

    web.add_connector("web", "api", secret="k")
    web.start_worker()
    for i in range(2):
        body = json.dumps({"id": f"u{i}", "from": {"id": "u"}, "text": f"hello {i}"}).encode()
        assert web.client.post("/webhooks/web/messages", data=body, headers=signing.sign("k", body)).status_code == 200
    from tests.support.hub import wait_until

    wait_until(lambda: web.count(Conversation) == 1 and len(web.api("GET", "/api/v1/conversations/1").get_json()["messages"]) == 2)
    c = web.app.test_client()
    do_login(c, AGENT)
    r = c.get("/inbox/fragment/list")
    assert r.headers["X-Unread"] == "2" and 'aria-label="2 unread"' in r.get_data(as_text=True)
    assert c.get("/inbox/c/1").status_code == 200
    assert c.get("/inbox/fragment/list").headers["X-Unread"] == "0"


def test_every_connector_kind_gets_a_generated_form(web):
    import channels
    from hub.connectors import all_kinds

    c = web.app.test_client()
    do_login(c, ADMIN)
    for kind, cls in all_kinds().items():
        r = c.get(f"/admin/connectors/new?kind={kind}")
        html = r.get_data(as_text=True)
        assert r.status_code == 200, kind
        for name, prop in cls.Config.model_json_schema()["properties"].items():
            if prop.get("channels_only") and kind not in channels.REGISTRY:
                assert f'name="cfg_{name}"' not in html, (kind, name)  # a channel key, not on a helpdesk's form
                continue
            assert f'name="cfg_{name}"' in html, (kind, name)
        for name in cls.Config.secret_fields():
            assert re.search(rf'<input type="password" id="cfg_{name}" name="cfg_{name}"', html), (kind, name)
    assert c.get("/admin/connectors/new?kind=nope").status_code == 400


def test_login_never_redirects_off_site(hub):
    from hub.web.auth_views import _safe_next

    with hub.app.test_request_context("/login"):
        for target in ("//evil.example/x", "/\\evil.example", "https://evil.example/", "javascript:alert(1)", "", None):
            assert _safe_next(target) == "/inbox/", target
        assert _safe_next("/inbox/c/3?status=all") == "/inbox/c/3?status=all"


def test_login_throttling_uses_the_proxied_address_only_from_loopback(web):
    c = web.app.test_client()
    for _ in range(5):
        do_login(c, AGENT, password="wrong password")  # from 127.0.0.1 (the test client's address)
    assert do_login(c, AGENT).status_code == 429
    c2 = web.app.test_client()
    c2.environ_base["HTTP_X_FORWARDED_FOR"] = "203.0.113.9"  # another client behind a local proxy
    assert do_login(c2, AGENT).status_code == 302


def test_migration_0002_matches_the_models_and_downgrades(db_url):
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from hub.db import Base, make_engine
    from hub.migrate import alembic_config, upgrade
    from hub.search import include_object
    from hub.web import models as _web_models  # noqa: F401

    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        with engine.connect() as c:
            # the full-text index of 0360_search (FTS5 tables, search_tsv columns) is not a model
            ctx = MigrationContext.configure(c, opts={"include_object": include_object})
            assert compare_metadata(ctx, Base.metadata) == []
        command.downgrade(alembic_config(db_url), "0001")
        with engine.connect() as c:
            assert not engine.dialect.has_table(c, "conversation_reads")
        command.upgrade(alembic_config(db_url), "head")
    finally:
        engine.dispose()


def test_inbox_event_stream_needs_a_login_and_reports_changed_conversations(web):
    import threading
    import time

    from tests.web.conftest import seed_conversation

    web.add_connector("web", "api", secret="k")
    web.app.config["OMNIHUB_SSE_SECONDS"] = 2.5
    c = web.app.test_client()
    assert c.get("/inbox/events").status_code == 302
    do_login(c, AGENT)
    made = []
    threading.Thread(target=lambda: (time.sleep(0.6), made.append(seed_conversation(web, "web", "web:zoe", "Zoe")))).start()
    r = c.get("/inbox/events")
    assert r.mimetype == "text/event-stream"
    body = r.get_data(as_text=True)
    assert body.startswith("retry: 1000")
    assert made and f'event: change\ndata: {{"conversations": [{made[0][1]}]}}' in body
