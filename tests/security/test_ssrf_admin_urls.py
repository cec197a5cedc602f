"""SSRF through admin- or database-supplied URLs (issue #14 item 11).

One URL guard (hub.net) for every outbound URL and host a connector is configured with:
link-local and cloud-metadata addresses are always refused, after DNS resolution and on
every connection (so every redirect); loopback and private ranges are refused unless
OMNIHUB_ALLOW_PRIVATE_URLS=true. Refused at save time (API, CLI) with the key and the
reason, and at request time always, by every adapter, before any connection is made."""

from __future__ import annotations

import socket

import pytest
from werkzeug import Response

import channels
import outbound
from config.settings import Settings
from hub import net
from hub.types import ConnectorContext
from tests.contract.examples import EXAMPLES
from tests.support.components import quick_httpserver
from tests.support.hub import Hub

ALL_KINDS = {**channels.REGISTRY, **outbound.REGISTRY}
METADATA_URLS = [
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://2852039166/latest/meta-data/",  # 169.254.169.254 as one integer: only DNS resolution shows it
    "http://0xa9fea9fe/",
    "http://[::ffff:169.254.169.254]/",
    "http://[fe80::1]/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://100.100.100.200/latest/meta-data/",
    "http://metadata.google.internal/computeMetadata/v1/",
]


@pytest.fixture
def private_refused():
    """The production default: OMNIHUB_ALLOW_PRIVATE_URLS unset (the suite sets it)."""
    net.set_allow_private_urls(False)
    yield
    net.set_allow_private_urls(None)


@pytest.fixture
def canary():
    """An 'internal' service on loopback: any request reaching it is an SSRF."""
    server = quick_httpserver(host="127.0.0.1", port=0)
    server.expect_request("/").respond_with_data("internal secret")
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture(scope="module")
def hub(tmp_path_factory, redis_url):
    h = Hub(tmp_path_factory.mktemp("ssrf"), redis_url)
    yield h
    h.close()


def test_the_setting_exists_and_defaults_to_refusing_private_addresses(monkeypatch):
    monkeypatch.delenv("OMNIHUB_ALLOW_PRIVATE_URLS", raising=False)
    assert Settings().allow_private_urls is False
    monkeypatch.setenv("OMNIHUB_ALLOW_PRIVATE_URLS", "true")
    assert Settings().allow_private_urls is True


@pytest.mark.parametrize("url", METADATA_URLS)
def test_metadata_addresses_are_refused_at_save_time_even_when_private_urls_are_allowed(hub, url):
    assert net.allow_private_urls()  # the suite's setting: on-premises style
    resp = hub.api("POST", "/api/v1/connectors", json={"name": "meta", "kind": "api", "config": {"secret": "s", "callback_url": url}})
    assert resp.status_code == 400, resp.get_json()
    err = resp.get_json()["error"]
    assert "callback_url: " in err and "never allowed" in err, err
    name = f"meta-ok-{METADATA_URLS.index(url)}"
    hub.add_connector(name, "api", secret="s")
    resp = hub.api("PATCH", f"/api/v1/connectors/{name}", json={"config": {"callback_url": url, "secret": "s"}})
    assert resp.status_code == 400 and "callback_url: " in resp.get_json()["error"], resp.get_json()


def test_the_error_names_the_key_and_the_reason(hub):
    resp = hub.api("POST", "/api/v1/connectors", json={"name": "meta2", "kind": "api", "config": {"secret": "s", "callback_url": "http://169.254.169.254/x"}})
    assert "callback_url: 169.254.169.254 is a link-local/cloud-metadata address and is never allowed" in resp.get_json()["error"]


def test_cli_add_and_set_refuse_metadata_and_private_urls(hub):
    res = hub.cli("connectors", "add", "zammad", "--name", "zm", "--set", "base_url=http://169.254.169.254/", "--set", "token=t")
    assert res.returncode != 0
    assert "base_url: 169.254.169.254 is a link-local/cloud-metadata address and is never allowed" in res.stdout + res.stderr
    env = {"OMNIHUB_ALLOW_PRIVATE_URLS": "false"}
    res = hub.cli("connectors", "add", "webhook", "--name", "wh", "--set", "url=http://10.1.2.3/hook", "--set", "secret=x", env=env)
    assert res.returncode != 0
    out = res.stdout + res.stderr
    assert "url: 10.1.2.3 is a loopback/private address; set OMNIHUB_ALLOW_PRIVATE_URLS=true" in out, out
    res = hub.cli("connectors", "add", "email", "--name", "em", "--set", "imap_host=169.254.169.254", "--set", "username=u",
                  "--set", "password=p", "--set", "from_address=s@example.com")
    assert res.returncode != 0 and "imap_host: 169.254.169.254" in res.stdout + res.stderr


def test_private_addresses_are_refused_at_save_time_by_default(hub, private_refused, canary):
    for url in (canary.url_for("/"), f"http://localhost:{canary.port}/", "http://192.168.1.1/", "http://[::1]/"):
        resp = hub.api("POST", "/api/v1/connectors", json={"name": "priv", "kind": "webhook", "config": {"url": url, "secret": "x"}})
        assert resp.status_code == 400, (url, resp.get_json())
        assert "url: " in resp.get_json()["error"] and "OMNIHUB_ALLOW_PRIVATE_URLS" in resp.get_json()["error"]
    assert canary.log == []


#: keys whose URL is a websocket (Discord's Gateway): the same addresses, with ws:// schemes
WEBSOCKET_KEYS = {("discord", "gateway_url")}


def _adapter(kind: str, key: str, url: str):
    cls = ALL_KINDS[kind]
    if (kind, key) in WEBSOCKET_KEYS:
        url = url.replace("http://", "ws://", 1)
    cfg = {**EXAMPLES[kind], key: url}
    return cls(ConnectorContext(name=f"ssrf-{kind}", kind=kind, config=cls.Config(**cfg), public_url="https://hub.example.com"))


def _check(adapter) -> tuple[bool, str]:
    """check() as the hub runs it (hub.api.run_check): an exception is a failed check."""
    try:
        res = adapter.check()
        return bool(res.ok), res.summary + " " + str(res.details or "")
    except Exception as exc:  # noqa: BLE001 - reported like the hub reports it
        return False, f"{exc.__class__.__name__}: {exc}"


URL_KEYS = sorted((kind, key) for kind, cls in ALL_KINDS.items() for key, what in cls.Config.origin_fields().items() if what == "url")


@pytest.mark.parametrize("kind,key", URL_KEYS)
def test_every_adapter_refuses_at_request_time_before_connecting(kind, key, canary, private_refused):
    """A URL already in the database (saved before the guard, or while private URLs were
    allowed) is refused when used: check() and the delivery path never reach the canary."""
    base = canary.url_for("/")
    if kind == "x":
        base = base.rstrip("/")
    adapter = _adapter(kind, key, base)
    ok, summary = _check(adapter)
    assert ok is False and f"{key}: " in summary and "OMNIHUB_ALLOW_PRIVATE_URLS" in summary, summary
    assert canary.log == [], [r.url for r, _ in canary.log]


@pytest.mark.parametrize("kind,key", URL_KEYS)
def test_every_adapter_refuses_metadata_at_request_time_even_when_private_is_allowed(kind, key):
    assert net.allow_private_urls()
    url = "http://2852039166" if kind == "x" else "http://2852039166/latest/"
    ok, summary = _check(_adapter(kind, key, url))
    assert ok is False and f"{key}: " in summary and "never allowed" in summary, summary


def test_email_hosts_are_checked_before_connecting(private_refused):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    try:
        cfg = {**EXAMPLES["email"], "imap_host": "127.0.0.1", "imap_port": port, "imap_security": "none",
               "smtp_host": "localhost", "smtp_port": port, "smtp_security": "none"}
        cls = ALL_KINDS["email"]
        ok, summary = _check(cls(ConnectorContext(name="em", kind="email", config=cls.Config(**cfg))))
        assert ok is False
        assert "imap_host: 127.0.0.1 is a loopback/private address" in summary, summary
        assert "smtp_host: localhost (127.0.0.1) is a loopback/private address" in summary, summary
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected
    finally:
        listener.close()


def test_redirects_to_metadata_are_refused_on_every_hop():
    """The guarded client checks every connection it opens, so a followed redirect is checked too."""
    assert net.allow_private_urls()
    server = quick_httpserver(host="127.0.0.1", port=0)
    server.start()
    try:
        for i, target in enumerate(["http://169.254.169.254/latest/meta-data/", "http://2852039166/", "http://[fd00:ec2::254]/"]):
            server.expect_request(f"/r{i}").respond_with_response(Response(status=302, headers={"Location": target}))
            with net.guarded_client("callback_url", follow_redirects=True, timeout=3) as client:
                with pytest.raises(net.UrlRefused, match="callback_url: .* never allowed"):
                    client.get(server.url_for(f"/r{i}"))
    finally:
        server.stop()


def test_the_guarded_transport_connects_to_the_address_it_checked(private_refused, canary):
    """No DNS-rebinding window: the name is resolved once, each address checked, and the
    socket opened to that address (a name resolving to loopback is refused, not connected)."""
    for host in ("localhost", "127.1", "2130706433", "0x7f000001"):
        with net.guarded_client("base_url", timeout=3) as client:
            with pytest.raises(net.UrlRefused, match="base_url: .*loopback/private"):
                client.get(f"http://{host}:{canary.port}/")
    assert canary.log == []
    net.set_allow_private_urls(True)
    with net.guarded_client("base_url", timeout=3) as client:
        assert client.get(canary.url_for("/")).text == "internal secret"  # allowed on-premises


@pytest.mark.parametrize("kind,key", [("zendesk", "subdomain"), ("freshdesk", "domain")])
@pytest.mark.parametrize("value", ["169.254.169.254#", "a@127.0.0.1:18431/", "vm:18431/api/v1/x?", "acme.evil.test"])
def test_host_parts_cannot_inject_a_host(kind, key, value):
    """Found by the fresh-eyes check: a subdomain/domain with '#', '/', '@' or ':' was saved
    and only refused at request time; now it is a single DNS label or nothing."""
    from pydantic import ValidationError

    import outbound

    cls = outbound.REGISTRY[kind].Config
    with pytest.raises(ValidationError) as exc:
        cls(**{key: value})
    assert key in str(exc.value)
