"""Write-only secrets stay write-only (issue #14 item 3).

An admin who cannot read a connector's stored token must not be able to make omnihub send
it somewhere else: changing a key that decides where requests go (base_url, callback_url,
api_base_url, helpdesk url, IMAP/SMTP host) requires re-entering the stored secrets, through
the API, the admin form (save and "check") and the CLI alike; the change is audited; and
secrets sealed for one destination are refused by the adapter layer if the configuration
is moved behind omnihub's back (a database edit)."""

from __future__ import annotations

import json
import re

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import select, update

import channels
import outbound
from hub.models import AuditLog, Connector
from tests.contract.examples import EXAMPLES
from tests.support.components import quick_httpserver
from tests.support.hub import Hub

ALL_KINDS = {**channels.REGISTRY, **outbound.REGISTRY}
#: kinds whose schema has a URL key deciding where requests (with secrets) go
URL_KINDS = sorted(
    (kind, key)
    for kind, cls in ALL_KINDS.items()
    for key, what in cls.Config.origin_fields().items()
    if what == "url" and cls.Config.secret_fields()
)


@pytest.fixture(scope="module")
def hub(tmp_path_factory, redis_url):
    h = Hub(tmp_path_factory.mktemp("origin"), redis_url)
    yield h
    h.close()


@pytest.fixture
def evil():
    """The admin-attacker's server: any request reaching it may carry a stored secret."""
    server = quick_httpserver(host="127.0.0.1", port=0)
    server.expect_request(re.compile(".*")).respond_with_json({"ok": True})
    server.start()
    yield server
    server.clear()
    server.stop()


def _stored_secrets(kind: str) -> dict[str, str]:
    cfg = EXAMPLES[kind]
    return {k: str(cfg[k]) for k in ALL_KINDS[kind].Config.secret_fields() if cfg.get(k) is not None}


def _carries(server: HTTPServer, secret: str) -> list[str]:
    """URLs of the requests the server got that carry ``secret`` (headers, Basic auth, body)."""
    import base64

    out = []
    for req, _resp in server.log:
        blob = json.dumps(dict(req.headers)) + req.get_data(as_text=True) + req.url
        for part in re.findall(r"Basic ([A-Za-z0-9+/=]+)", blob):
            blob += base64.b64decode(part).decode("latin-1")
        if secret in blob:
            out.append(req.url)
    return out


@pytest.mark.parametrize("kind,key", URL_KINDS)
def test_api_patch_of_a_destination_key_requires_the_secrets_again(hub, evil, kind, key):
    name = f"o-{kind}-{key}".replace("_", "-")
    secrets = _stored_secrets(kind)
    hub.add_connector(name, kind, **EXAMPLES[kind])
    target = evil.url_for("/api/") if key != "url" else evil.url_for("/hook")
    resp = hub.api("PATCH", f"/api/v1/connectors/{name}", json={"config": {key: target}})
    assert resp.status_code == 409, resp.get_json()
    err = resp.get_json()["error"]
    assert f"changing {key} from" in err and "requires re-entering" in err, err
    for secret_key in secrets:
        assert secret_key in err and secret_key in resp.get_json()["reenter"], err
    # nothing was saved, and pressing check now goes nowhere near the attacker
    assert hub.api("GET", f"/api/v1/connectors/{name}").get_json()["config"].get(key) != target
    hub.api("POST", f"/api/v1/connectors/{name}/check")
    assert evil.log == [], [r.url for r, _ in evil.log]


def test_reentering_the_secrets_moves_the_connector_and_is_audited(hub, evil):
    from structlog.testing import capture_logs

    hub.add_connector("moving", "zendesk", **EXAMPLES["zendesk"])
    with capture_logs() as logs:
        resp = hub.api("PATCH", "/api/v1/connectors/moving", json={"config": {"base_url": evil.url_for("/"), "api_token": "new-token", "webhook_secret": "new-whsec"}})
    assert resp.status_code == 200, resp.get_json()
    moved = [e for e in logs if e["event"] == "connector.origin_changed"]
    assert moved and moved[0]["connector"] == "moving" and "base_url" in moved[0]["changed"]
    assert "new-token" not in json.dumps(logs, default=str)
    with hub.rt.db.read() as s:
        audit = s.scalars(select(AuditLog).where(AuditLog.target_id == "moving", AuditLog.action == "connector.update")).all()
    assert audit and "base_url" in audit[-1].details["origin_changed"]
    assert audit[-1].details["origin_changed"]["base_url"][1].startswith("http://127.0.0.1:")
    # the re-entered (known) token goes to the new host; the old one never did
    hub.api("POST", "/api/v1/connectors/moving/check")
    assert evil.log and _carries(evil, "new-token") and not _carries(evil, EXAMPLES["zendesk"]["api_token"])
    # a path change on the same origin needs nothing re-entered
    resp = hub.api("PATCH", "/api/v1/connectors/moving", json={"config": {"base_url": evil.url_for("/other/")}})
    assert resp.status_code == 200, resp.get_json()


def test_first_callback_url_of_an_api_connector_needs_its_secret(hub, evil):
    """The api secret signs callbacks with the same scheme as inbound messages: a callback to
    a host of the admin's choosing would hand out signatures, so it is bound too."""
    hub.add_connector("widget-site", "api", secret="site-secret-value", widget=True)
    resp = hub.api("PATCH", "/api/v1/connectors/widget-site", json={"config": {"callback_url": evil.url_for("/cb")}})
    assert resp.status_code == 409 and "re-entering secret" in resp.get_json()["error"], resp.get_json()
    ok = hub.api("PATCH", "/api/v1/connectors/widget-site", json={"config": {"callback_url": evil.url_for("/cb"), "secret": "site-secret-value"}})
    assert ok.status_code == 200


def _admin_client(hub):
    _ = hub.token  # creates agent@example.com (admin)
    client = hub.app.test_client()
    page = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token"\s+value="([^"]+)"', page)
    form = {"email": "agent@example.com", "password": "correct horse battery"}
    if csrf:
        form["csrf_token"] = csrf.group(1)
    assert client.post("/login", data=form).status_code in (302, 303)
    return client


def _form(client, name: str) -> dict[str, str]:
    page = client.get(f"/admin/connectors/{name}").get_data(as_text=True)
    form = {}
    for m in re.finditer(r'<input[^>]*name="([^"]+)"[^>]*>', page):
        tag = m.group(0)
        if 'type="checkbox"' in tag:
            if "checked" in tag:
                form[m.group(1)] = "on"
            continue
        value = re.search(r'value="([^"]*)"', tag)
        form[m.group(1)] = value.group(1) if value else ""
    return form


def test_admin_form_check_and_save_refuse_a_new_destination_without_the_secrets(hub, evil):
    hub.add_connector("zd-form", "zendesk", **EXAMPLES["zendesk"])
    client = _admin_client(hub)
    form = _form(client, "zd-form")
    assert "cfg_base_url" in form and "csrf_token" in form
    form.update({"cfg_base_url": evil.url_for("/"), "action": "check"})
    resp = client.post("/admin/connectors/zd-form", data=form)
    assert resp.status_code == 409
    assert "requires re-entering api_token" in resp.get_data(as_text=True).replace("&#39;", "'")
    form["action"] = "save"
    resp = client.post("/admin/connectors/zd-form", data=form)
    assert resp.status_code == 409
    assert evil.log == [], [r.url for r, _ in evil.log]
    with hub.rt.db.read() as s:
        assert s.scalar(select(Connector).where(Connector.name == "zd-form")).config.get("base_url") != evil.url_for("/")


def test_cli_set_refuses_a_new_smtp_host_without_the_passwords(hub):
    hub.add_connector("mail-cli", "email", **EXAMPLES["email"])
    res = hub.cli("connectors", "set", "mail-cli", "--set", "smtp_host=mail.attacker.example")
    assert res.returncode != 0
    out = res.stdout + res.stderr
    assert "changing smtp_host from smtp.example.com to mail.attacker.example requires re-entering" in out, out
    assert "smtp_password" in out and "password" in out
    res = hub.cli("connectors", "set", "mail-cli", "--set", "imap_port=1143")
    assert res.returncode != 0 and "imap_port" in res.stdout + res.stderr


def test_secrets_sealed_for_one_destination_are_refused_after_a_database_edit(hub, evil):
    """Defence in depth: the sealed secrets carry the origin they were saved for; moving
    the (unencrypted) config in the database does not move the secrets with it."""
    hub.add_connector("zd-db", "zendesk", **EXAMPLES["zendesk"])
    with hub.rt.db.session() as s:
        row = s.scalar(select(Connector).where(Connector.name == "zd-db"))
        s.execute(update(Connector).where(Connector.id == row.id).values(config={**row.config, "base_url": evil.url_for("/")}))
    result = hub.api("POST", "/api/v1/connectors/zd-db/check").get_json()
    assert result["ok"] is False and "re-enter" in result["summary"] and "base_url" in result["summary"], result
    assert evil.log == [], [r.url for r, _ in evil.log]


def test_every_destination_key_is_declared_in_its_schema(hub):
    """A config key that looks like a destination (…url, …host, …domain) must be declared
    with ``origin(...)``, or it would escape both the secret binding and the URL guard."""
    kinds = {k["kind"]: k for k in hub.api("GET", "/api/v1/connector-kinds").get_json()["items"]}
    for kind, cls in ALL_KINDS.items():
        for key in cls.Config.model_fields:
            if re.search(r"(url|host|domain)$", key):
                assert key in kinds[kind]["origin_keys"], f"{kind}.{key}: declare it with Field(json_schema_extra=origin(...))"
    assert {"base_url", "subdomain"} <= set(kinds["zendesk"]["origin_keys"])
    assert {"imap_host", "imap_port", "smtp_host", "smtp_port"} <= set(kinds["email"]["origin_keys"])


def test_secrets_saved_before_the_binding_are_bound_at_upgrade(hub, evil):
    """Rows written by an older omnihub carry no binding: `omnihub db upgrade` / `run`
    (ensure_builtin) binds them to their current destination, so a later edit is refused."""
    from hub.connectors import ensure_builtin

    cfg = dict(EXAMPLES["zendesk"])
    secrets = {k: cfg.pop(k) for k in ("api_token", "webhook_secret")}
    with hub.rt.db.session() as s:
        s.add(Connector(name="zd-legacy", kind="zendesk", config=cfg, secrets=hub.rt.box.seal_json(secrets), state={}, health={}))
    ensure_builtin(hub.rt)
    with hub.rt.db.session() as s:
        s.execute(update(Connector).where(Connector.name == "zd-legacy").values(config={**cfg, "base_url": evil.url_for("/")}))
    result = hub.api("POST", "/api/v1/connectors/zd-legacy/check").get_json()
    assert result["ok"] is False and "re-enter" in result["summary"], result
    assert evil.log == []
