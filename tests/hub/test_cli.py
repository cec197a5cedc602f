"""The omnihub CLI, run as a real process."""

from __future__ import annotations

import json
import re

import pytest

from hub.cli import main

COMMANDS = [
    [], ["run"], ["web"], ["worker"], ["poll"], ["db"], ["db", "upgrade"], ["users", "create"], ["users", "list"],
    ["users", "set-password"], ["users", "deactivate"], ["users", "activate"], ["users", "reset-2fa"], ["tokens", "create"],
    ["connectors"], ["connectors", "add"], ["connectors", "list"], ["connectors", "show"], ["connectors", "check"],
    ["connectors", "remove"], ["connectors", "apply"], ["connectors", "kinds"], ["connectors", "backfill"],
    ["replay"], ["simulate"], ["stats"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a) or "omnihub")
def test_every_command_has_help(args):
    from click.testing import CliRunner

    result = CliRunner().invoke(main, [*args, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: omnihub" in result.output


def test_users_tokens_and_connectors(hub):
    out = hub.cli("users", "create", "--email", "Root@Example.com", "--role", "admin")
    assert out.returncode == 0, out.stderr
    assert "created admin root@example.com" in out.stdout and "password: " in out.stdout
    tok = hub.cli("tokens", "create", "--email", "root@example.com")
    assert tok.returncode == 0
    token = tok.stdout.strip()
    assert re.fullmatch(r"omh_[A-Za-z0-9_-]{40,}", token), tok.stdout  # only the token on stdout
    assert hub.api("GET", "/api/v1/connectors", token=token).status_code == 200

    add = hub.cli("connectors", "add", "api", "--name", "site", "--set", "secret=super-secret-1", "--set", "callback_url=http://127.0.0.1:9/cb")
    assert add.returncode == 0, add.stderr
    assert "http://hub.test/webhooks/site/messages" in add.stdout
    lst = hub.cli("connectors", "list")
    assert "site" in lst.stdout and "inbox" in lst.stdout
    show = hub.cli("connectors", "show", "site")
    assert "super-secret-1" not in show.stdout and '"secret": "su••••••-1"' in show.stdout
    chk = hub.cli("connectors", "check", "site")
    assert chk.returncode == 1 and "FAILED" in chk.stdout and "callback_url unreachable" in chk.stdout
    bad = hub.cli("connectors", "add", "api", "--name", "bad")
    assert bad.returncode == 1 and "error: connector 'bad' (api): secret: required" in bad.stderr
    unknown = hub.cli("connectors", "add", "carrier-pigeon", "--name", "p")
    assert unknown.returncode == 1 and "unknown connector kind 'carrier-pigeon'" in unknown.stderr
    rm = hub.cli("connectors", "remove", "site", "--yes")
    assert rm.returncode == 0 and hub.cli("connectors", "show", "site").returncode == 1


def _login(hub, email: str, password: str) -> int:
    client = hub.app.test_client()
    page = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    form = {"email": email, "password": password, **({"csrf_token": csrf.group(1)} if csrf else {})}
    return client.post("/login", data=form).status_code


def test_users_list_set_password_deactivate_activate(hub):
    made = hub.cli("users", "create", "--email", "ana@example.com", "--password-stdin", input="first-password-1\n")
    assert made.returncode == 0 and "password:" not in made.stdout, made.stdout + made.stderr
    assert _login(hub, "ana@example.com", "first-password-1") == 302
    token = hub.cli("tokens", "create", "--email", "ana@example.com").stdout.strip()
    assert hub.api("GET", "/api/v1/conversations", token=token).status_code == 200

    listed = hub.cli("users", "list", "--json")
    assert listed.returncode == 0
    [ana] = [u for u in json.loads(listed.stdout)["items"] if u["email"] == "ana@example.com"]
    assert ana["role"] == "agent" and ana["active"] is True and ana["last_login_at"]
    assert re.search(r"ana@example.com\s+agent\s+active", hub.cli("users", "list").stdout)

    short = hub.cli("users", "set-password", "--email", "ana@example.com", "--password-stdin", input="short\n")
    assert short.returncode == 1 and "at least 8 characters" in short.stderr
    changed = hub.cli("users", "set-password", "--email", "ana@example.com", "--password-stdin", input="second-password-2\n")
    assert changed.returncode == 0, changed.stderr
    assert _login(hub, "ana@example.com", "first-password-1") == 401
    assert _login(hub, "ana@example.com", "second-password-2") == 302
    # typed at a hidden prompt, twice (never on the command line)
    typed = hub.cli("users", "set-password", "--email", "ana@example.com", input="third-password-3\nthird-password-3\n")
    assert typed.returncode == 0 and "third-password-3" not in typed.stdout, typed.stdout + typed.stderr
    assert _login(hub, "ana@example.com", "third-password-3") == 302

    off = hub.cli("users", "deactivate", "--email", "ANA@example.com")
    assert off.returncode == 0 and "deactivated ana@example.com" in off.stdout
    assert _login(hub, "ana@example.com", "third-password-3") == 401
    assert hub.api("GET", "/api/v1/conversations", token=token).status_code == 401  # at once
    assert re.search(r"ana@example.com\s+agent\s+DEACTIVATED", hub.cli("users", "list").stdout)
    assert hub.cli("users", "activate", "--email", "ana@example.com").returncode == 0
    assert hub.api("GET", "/api/v1/conversations", token=token).status_code == 200
    missing = hub.cli("users", "deactivate", "--email", "nobody@example.com")
    assert missing.returncode == 1 and "no user with email 'nobody@example.com'" in missing.stderr


def test_connectors_apply_yaml_with_env_secrets(hub, tmp_path):
    f = tmp_path / "connectors.yaml"
    f.write_text("connectors:\n  - name: site\n    kind: api\n    config:\n      secret: ${SITE_SECRET}\n")
    out = hub.cli("connectors", "apply", str(f), env={"SITE_SECRET": "from-env-123"})
    assert out.returncode == 0 and "created site" in out.stdout, out.stderr
    again = hub.cli("connectors", "apply", str(f), env={"SITE_SECRET": "from-env-456"})
    assert "updated site" in again.stdout
    from hub.connectors import ConnectorService

    svc = ConnectorService(hub.rt)
    with hub.rt.db.read() as s:
        assert svc.values(svc.get(s, "site"))["secret"] == "from-env-456"
    # an unset variable is an error, never the literal "${SITE_SECRET}" stored as the secret
    # (anyone who read the docs could then sign requests with it); nothing is applied
    f.write_text(f.read_text() + "  - name: other\n    kind: api\n    config:\n      secret: ok-secret\n")
    unset = hub.cli("connectors", "apply", str(f), env={"SITE_SECRET": ""})
    assert unset.returncode == 1 and "site.secret: the environment variable SITE_SECRET is not set" in unset.stderr
    with hub.rt.db.read() as s:
        assert svc.values(svc.get(s, "site"))["secret"] == "from-env-456"
    from hub.models import Connector

    assert hub.count(Connector, Connector.name == "other") == 0


def test_invalid_setting_stops_startup_naming_the_variable(hub):
    out = hub.cli("db", "upgrade", env={"OMNIHUB_PORT": "eighty"})
    assert out.returncode == 2
    assert "OMNIHUB_PORT" in out.stderr and "integer" in out.stderr
    out = hub.cli("db", "upgrade", env={"OMNIHUB_PUBLIC_URL": "hub.example.com"})
    assert out.returncode == 2 and "OMNIHUB_PUBLIC_URL" in out.stderr


def test_simulate_posts_a_signed_request_to_a_running_hub(hub, tmp_path):
    """`omnihub simulate` against a real gunicorn web process."""
    from hub.embedded import free_port
    from tests.support.hub import wait_until

    port = free_port()
    hub.add_connector("site", "api", secret="sim-secret")
    env = {"OMNIHUB_PUBLIC_URL": f"http://127.0.0.1:{port}", "OMNIHUB_PORT": str(port)}
    hub.start("web", "web", "--workers", "1", env=env)
    hub.start_worker()

    wait_until(lambda: _up(f"http://127.0.0.1:{port}/healthz"), timeout=20)
    out = hub.cli("simulate", "site", "--text", "Where is my withdrawal?", "--from", "carol", env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "-> 200" in out.stdout
    items = wait_until(lambda: hub.api("GET", "/api/v1/conversations").get_json()["items"])
    assert items[0]["subject"] == "Where is my withdrawal?" and items[0]["customer"]["address"] == "site:carol"


def _up(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False


def test_simulate_names_the_address_it_could_not_reach(hub):
    hub.add_connector("site", "api", secret="s3cret-site")
    out = hub.cli("simulate", "site", "--text", "hi", "--url", "http://127.0.0.1:9")
    assert out.returncode == 1
    assert "could not reach http://127.0.0.1:9/webhooks/site/messages (--url)" in out.stderr and "--url http://HOST:PORT" in out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1



def test_stats_exits_1_naming_redis_when_it_cannot_be_read(hub):
    from hub.embedded import free_port

    ok = hub.cli("stats")
    assert ok.returncode == 0, ok.stderr
    down = hub.cli("stats", env={"OMNIHUB_REDIS_URL": f"redis://:pw@127.0.0.1:{free_port()}/0"})
    assert down.returncode == 1, down.stdout
    assert re.search(r"^events +none$", down.stdout, re.M), down.stdout  # what could be read is printed
    assert "error: Redis at 127.0.0.1" in down.stderr and "OMNIHUB_REDIS_URL" in down.stderr
    assert "Traceback" not in down.stderr and "pw" not in down.stderr
    as_json = hub.cli("stats", "--json", env={"OMNIHUB_REDIS_URL": f"redis://:pw@127.0.0.1:{free_port()}/0"})
    assert as_json.returncode == 1 and json.loads(as_json.stdout)["redis"]["error"].startswith("ConnectionError")


def test_simulate_signs_the_url_it_posts_to(hub):
    """Found by a newcomer (2026-12-07): with the hub on another port than this terminal's
    OMNIHUB_PORT, a simulated Twilio SMS was signed for :8000 and refused with a 403."""
    from hub.embedded import free_port
    from tests.contract.examples import EXAMPLES
    from tests.support.hub import wait_until

    port = free_port()
    hub.add_connector("phone", "twilio", **EXAMPLES["twilio"])
    hub.start("web", "web", "--workers", "1", env={"OMNIHUB_PUBLIC_URL": f"http://127.0.0.1:{port}", "OMNIHUB_PORT": str(port)})
    wait_until(lambda: _up(f"http://127.0.0.1:{port}/healthz"), timeout=20)
    out = hub.cli("simulate", "phone", "--text", "hola, no me llega el retiro", "--from", "+34600111222", "--url", f"http://127.0.0.1:{port}")
    assert out.returncode == 0 and "-> 200" in out.stdout, out.stdout + out.stderr
