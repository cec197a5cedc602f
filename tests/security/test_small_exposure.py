"""Issue 14 item 12: /metrics behind OMNIHUB_METRICS_TOKEN, active content types only ever
downloaded (never rendered inline), the OpenAPI `servers` entry from OMNIHUB_PUBLIC_URL
(not the Host header), and /media tokens kept out of every log."""

from __future__ import annotations

import base64
import json
import secrets

import httpx
import pytest
import structlog

from hub import signing
from hub.embedded import free_port
from hub.media import media_url
from hub.models import AttachmentRow
from tests.support.hub import Hub, wait_until

SECRET = "api-channel-secret-Mx07"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>'
PNG = b"\x89PNG\r\n\x1a\n" + b"\x07" * 64
ACTIVE = [
    "image/svg+xml", "image/svg+xml; charset=utf-8", "IMAGE/SVG+XML", "text/html", "text/html; charset=utf-8",
    "application/xhtml+xml", "text/xml", "application/xml", "application/javascript", "text/javascript",
    "application/pdf", "text/plain", "application/octet-stream", "not a type", "",
]


# ----------------------------------------------------------------------------- metrics
def test_metrics_token_guards_metrics_when_set(tmp_path, redis_url):
    token = secrets.token_urlsafe(24)
    h = Hub(tmp_path / "guarded", redis_url, metrics_token=token)
    try:
        assert h.client.get("/metrics").status_code == 401
        assert h.client.get("/metrics").headers["WWW-Authenticate"].startswith("Bearer")
        assert h.client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert h.client.get("/metrics", headers={"Authorization": f"Bearer {token}x"}).status_code == 401
        assert h.client.get("/metrics", headers={"Authorization": f"Basic {token}"}).status_code == 401
        assert h.client.get("/metrics", headers={"Authorization": f"Bearer {h.token}"}).status_code == 401  # an API token is not it
        ok = h.client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200 and b"omnihub_http_requests_total" in ok.data
        assert token.encode() not in ok.data
    finally:
        h.close()


def test_metrics_stay_open_when_no_token_is_set(hub):
    assert hub.settings.metrics_token == ""
    assert hub.client.get("/metrics").status_code == 200


# ----------------------------------------------------------------------------- openapi
def test_openapi_servers_come_from_the_public_url_not_the_host_header(hub):
    for host in ("evil.example", "evil.example:8443", "hub.test.evil.example"):
        doc = hub.client.get("/api/v1/openapi.json", headers={"Host": host, "X-Forwarded-Host": host}).get_json()
        assert doc["servers"] == [{"url": "http://hub.test"}]
        assert "evil" not in json.dumps(doc)


# ------------------------------------------------------------------- active content types
@pytest.fixture(scope="module")
def files_hub(tmp_path_factory, redis_url):
    """A conversation (through the real webhook and worker) with notes carrying files of
    every type in ACTIVE, plus a PNG."""
    h = Hub(tmp_path_factory.mktemp("files"), redis_url)
    h.add_connector("web", "api", secret=SECRET)
    h.start_worker()
    body = json.dumps({"id": "m1", "from": {"id": "eve", "name": "Eve"}, "text": "see attached"}).encode()
    resp = h.client.post("/webhooks/web/messages", data=body, headers={"Content-Type": "application/json", **signing.sign(SECRET, body)})
    assert resp.status_code == 200
    conv = wait_until(lambda: h.api("GET", "/api/v1/conversations").get_json()["items"], timeout=30, message="conversation")[0]
    h.stop_all()
    files = [{"filename": f"f{i}.svg", "content_type": ct, "data_base64": base64.b64encode(SVG).decode()} for i, ct in enumerate(ACTIVE)]
    files.append({"filename": "ok.png", "content_type": "image/png", "data_base64": base64.b64encode(PNG).decode()})
    r = h.api("POST", f"/api/v1/conversations/{conv['id']}/replies", json={"text": "files", "internal": True, "attachments": files})
    assert r.status_code == 202, r.get_json()
    from sqlalchemy import select

    with h.rt.db.read() as s:
        h.attachment_ids = {a.content_type: a.id for a in s.scalars(select(AttachmentRow).where(AttachmentRow.reply_id == r.get_json()["id"]))}
    assert len(h.attachment_ids) == len(files)
    yield h
    h.close()


def _media(h, attachment_id: int):
    token = media_url(h.settings.effective_public_url, h.settings.secret_key, attachment_id).rsplit("/", 1)[1]
    return h.client.get(f"/media/{token}")


@pytest.mark.parametrize("content_type", ACTIVE)
def test_active_types_are_downloads_on_media_and_attachment_routes(files_hub, content_type):
    h = files_hub
    attachment_id = h.attachment_ids[content_type]
    for resp in (_media(h, attachment_id), h.api("GET", f"/api/v1/attachments/{attachment_id}")):
        assert resp.status_code == 200
        assert resp.headers.get("Content-Disposition", "").startswith("attachment"), (resp.request.path, resp.headers)
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in resp.headers["Content-Security-Policy"]
        assert resp.data == SVG


def test_passive_images_may_show_inline(files_hub):
    h = files_hub
    attachment_id = h.attachment_ids["image/png"]
    for resp in (_media(h, attachment_id), h.api("GET", f"/api/v1/attachments/{attachment_id}")):
        assert resp.status_code == 200 and resp.mimetype == "image/png" and resp.data == PNG
        assert not resp.headers.get("Content-Disposition", "").startswith("attachment")
        assert resp.headers["X-Content-Type-Options"] == "nosniff"


# ------------------------------------------------------------------------- media tokens
def test_media_tokens_never_reach_the_gunicorn_logs(files_hub):
    """A real `omnihub web` (gunicorn, access log on at DEBUG) serving /media URLs."""
    h = files_hub
    port = free_port()
    h.start("web", "web", "--port", str(port), env={"OMNIHUB_LOG_LEVEL": "DEBUG"})
    base = f"http://127.0.0.1:{port}"

    def up():
        try:
            return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(up, timeout=60, interval=0.2, message="omnihub web")
        tokens = []
        for attachment_id in h.attachment_ids.values():
            token = media_url(h.settings.effective_public_url, h.settings.secret_key, attachment_id).rsplit("/", 1)[1]
            tokens.append(token)
            assert httpx.get(f"{base}/media/{token}", timeout=5, headers={"Referer": f"{base}/media/{token}"}).status_code == 200
        forged = tokens[0][:-4] + "AAAA"
        tokens.append(forged)
        assert httpx.get(f"{base}/media/{forged}?token={forged}", timeout=5).status_code == 404
        wait_until(lambda: h.output("web").count("/media/***") >= len(tokens), timeout=10, message="access log lines")
    finally:
        h.kill("web", 15)
    log = h.output("web")
    for token in tokens:
        assert token not in log and token[:24] not in log
    assert "GET /media/*** HTTP/1.1" in log


def test_media_tokens_never_reach_structured_logs(capfd):
    from hub.logging import configure

    configure("INFO", "json")
    token = media_url("https://hub.example", "k" * 32, 42).rsplit("/", 1)[1]
    log = structlog.get_logger("omnihub.web")
    log.error("request.failed", path=f"/media/{token}", url=f"https://hub.example/media/{token}?a=1")
    try:
        raise RuntimeError(f"cannot serve /media/{token}")
    except RuntimeError:
        log.exception("request.failed", path=f"/media/{token}")
    err = capfd.readouterr().err
    assert token not in err and "/media/***" in err
    assert "request.failed" in err
