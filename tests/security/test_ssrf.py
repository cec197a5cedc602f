"""SSRF through media and attachment URLs: hub.net.fetch_limited and every channel adapter's
fetch_attachment refuse private addresses, localhost, other hosts and redirects to internal
addresses, and never even connect to them (a canary server on loopback counts requests)."""

from __future__ import annotations

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

import channels
from hub.errors import PayloadInvalid
from hub.net import fetch_limited
from hub.types import ConnectorContext
from normalizers.model import Attachment
from tests.contract.examples import EXAMPLES
from tests.support.components import quick_httpserver


@pytest.fixture
def canary():
    """An 'internal' service on loopback: any request reaching it is an SSRF."""
    server = quick_httpserver(host="127.0.0.1", port=0)
    server.expect_request("/").respond_with_data("internal secret")
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


def internal_urls(canary: HTTPServer) -> list[str]:
    port = canary.port
    return [
        canary.url_for("/"),
        f"http://localhost:{port}/",
        f"http://127.0.0.1:{port}/latest/meta-data/",
        f"http://[::1]:{port}/",
        f"http://0.0.0.0:{port}/",
        f"http://2130706433:{port}/",  # 127.0.0.1 as a decimal integer
        f"http://0x7f000001:{port}/",
        f"http://127.1:{port}/",
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://10.0.0.1/",
        "http://192.168.1.1/admin",
        f"http://api.twilio.com@127.0.0.1:{port}/",  # userinfo trick
        f"http://127.0.0.1:{port}#@api.twilio.com/",
        "http://api.twilio.com.attacker.test/",
        "http://pbs.twimg.com.attacker.test/x.jpg",
        "http://twimg.com.evil/",
        "file:///etc/passwd",
        "gopher://127.0.0.1:6379/_FLUSHALL",
        "ftp://127.0.0.1/",
        "dict://127.0.0.1:6379/info",
        "",
        "javascript:alert(1)",
    ]


def test_url_parsers_agree_on_the_host():
    """The guard (urlsplit) and the client (httpx) must see the same host, or a crafted URL
    passes the check for one host and connects to another."""
    from urllib.parse import urlsplit

    import httpx

    for url in ["http://127.0.0.1:1\\@api.twilio.com/", "http://a@127.0.0.1:1@api.twilio.com/", "http://api.twilio.com\t@127.0.0.1/",
                "http://api.twilio.com%00@127.0.0.1/", "HTTP://API.TWILIO.COM./x"]:
        try:
            client_host = httpx.URL(url).host
        except httpx.InvalidURL:
            continue
        assert (urlsplit(url).hostname or "").rstrip(".") == client_host.rstrip("."), url


def test_fetch_limited_refuses_every_internal_or_foreign_url(canary):
    for url in internal_urls(canary):
        with pytest.raises(PayloadInvalid):
            fetch_limited(url, allowed_hosts=["media.example.com", "api.twilio.com", "*.twimg.com"], max_bytes=1000, timeout=2)
    assert canary.log == [], [r.url for r, _ in canary.log]


def test_redirects_to_internal_addresses_are_refused(canary):
    provider = quick_httpserver(host="127.0.0.1", port=0)
    provider.start()
    try:
        targets = [
            canary.url_for("/"),
            f"http://localhost:{canary.port}/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]/",
            "file:///etc/passwd",
        ]
        for i, target in enumerate(targets):
            provider.expect_request(f"/media/{i}").respond_with_response(Response(status=302, headers={"Location": target}))
        allowed = [f"127.0.0.1:{provider.port}"]
        for i, _ in enumerate(targets):
            with pytest.raises(PayloadInvalid, match="redirect"):
                fetch_limited(provider.url_for(f"/media/{i}"), allowed_hosts=allowed, follow_redirects_to=["*.twimg.com"], max_bytes=1000, timeout=2)
        assert canary.log == []
        # a redirect chain through the allowed host itself to an internal address is refused too
        provider.expect_request("/hop").respond_with_response(Response(status=302, headers={"Location": provider.url_for("/media/0")}))
        with pytest.raises(PayloadInvalid):
            fetch_limited(provider.url_for("/hop"), allowed_hosts=allowed, max_bytes=1000, timeout=2)
        assert canary.log == []
    finally:
        provider.stop()


def test_credentials_never_follow_a_redirect_to_another_host(canary):
    provider = quick_httpserver(host="127.0.0.1", port=0)
    provider.start()
    cdn = quick_httpserver(host="127.0.0.1", port=0)
    cdn.expect_request("/file").respond_with_data(b"PNGDATA", content_type="image/png")
    cdn.start()
    try:
        provider.expect_request("/media").respond_with_response(Response(status=307, headers={"Location": cdn.url_for("/file")}))
        data, ctype = fetch_limited(
            provider.url_for("/media"), allowed_hosts=[f"127.0.0.1:{provider.port}"], follow_redirects_to=[f"127.0.0.1:{cdn.port}"],
            max_bytes=1000, auth=("AC123", "auth-token-secret"), headers={"Authorization": "Bearer t0ken"}, timeout=2,
        )
        assert data == b"PNGDATA"
        (req, _resp), = cdn.log
        assert "Authorization" not in req.headers
        (preq, _), = provider.log
        assert "Authorization" in preq.headers  # the provider itself did get them
    finally:
        provider.stop()
        cdn.stop()


@pytest.mark.parametrize("kind", sorted(channels.REGISTRY))
def test_every_adapter_fetch_attachment_refuses_internal_urls(kind, canary):
    cls = channels.REGISTRY[kind]
    ctx = ConnectorContext(name=f"ssrf-{kind}", kind=kind, config=cls.Config(**EXAMPLES[kind]), public_url="https://hub.example.com")
    adapter = cls(ctx)
    for url in internal_urls(canary):
        att = Attachment(filename="evil.png", content_type="image/png", url=url or None)
        with pytest.raises(PayloadInvalid):
            adapter.fetch_attachment(att, 1_000_000)
    assert canary.log == [], (kind, [r.url for r, _ in canary.log])
