"""#14 item 9: request bodies are read by one depth-limited reader; CR/LF never reaches a header.

JSON nested 200,000 levels deep gave a 500 with a traceback on the API, the widget (before its
rate limit) and the webhooks. The URL map of the real app is walked: every route that takes a
body gets deeply nested JSON (as JSON, as text, without a type, inside a form field) and must
answer 400 with a clear error, with no traceback in the response or in the logs.
"""

from __future__ import annotations

import base64

import pytest
import structlog
from werkzeug.routing import IntegerConverter

from hub import bodies
from hub.models import AttachmentRow as Attachment
from tests.contract.examples import EXAMPLES

DEEP = [b"[" * 200_000, b'{"a":' * 100_000 + b"1" + b"}" * 100_000, b'{"text": "hi", "extra": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"]
CONTENT_TYPES = ["application/json", "text/plain", None, "application/vnd.api+json"]
BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def _url(rule) -> str:
    values = {}
    for arg, conv in rule._converters.items():
        if isinstance(conv, IntegerConverter):
            values[arg] = 1
        elif arg == "hook":
            values[arg] = "messages"
        else:
            values[arg] = "api-a"
    return rule.build(values, append_unknown=False)[1]


def _routes(app):
    out = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.endswith(".static"):
            continue
        for method in sorted((rule.methods or set()) & BODY_METHODS):
            out.append((method, _url(rule)))
    return out


def test_every_body_route_refuses_deep_json_with_a_400_and_no_traceback(all_hub, caplog):
    all_hub.add_connector("chat-deep", "api", secret="deep-secret", widget=True, widget_origins=["https://shop.example"])
    routes = _routes(all_hub.app) + [("POST", "/widget/chat-deep/messages"), ("POST", "/webhooks/api-a/messages")]
    assert len(routes) > 10, routes
    caplog.clear()
    failures = []
    with structlog.testing.capture_logs() as logs:
        _drive(all_hub, routes, failures)
    assert not failures, failures[:10]
    # a 500 is the only path that logs a traceback (hub.app's handler): none, in either logger
    assert not [e for e in logs if e.get("exc_info") or e.get("log_level") in ("error", "critical")], logs[-3:]
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records if r.exc_info][:3]
    assert any(e.get("event") == "request.body_refused" for e in logs)


def _drive(all_hub, routes, failures):
    for method, url in routes:
        for body in DEEP:
            for ctype in CONTENT_TYPES:
                headers = {"Authorization": f"Bearer {all_hub.token}", "Origin": "https://shop.example"}
                if ctype:
                    headers["Content-Type"] = ctype
                resp = all_hub.client.open(url, method=method, data=body, headers=headers)
                text = resp.get_data(as_text=True)
                if resp.status_code != 400 or "Traceback" in text or "nested deeper" not in text:
                    failures.append((method, url, ctype, resp.status_code, text[:120]))
        # a JSON value inside a form field (admin forms parse JSON settings)
        form = b"csrf_token=x&value=" + b"%5B" * 100_000
        resp = all_hub.client.open(url, method=method, data=form, headers={"Content-Type": "application/x-www-form-urlencoded"})
        if resp.status_code >= 500:
            failures.append((method, url, "form", resp.status_code, resp.get_data(as_text=True)[:120]))


def test_signed_api_webhook_with_deep_json_is_400_not_500(all_hub):
    from hub import signing

    body = b'{"id": "deep-1", "from": {"id": "c"}, "text": "x", "extra": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    headers = {"Content-Type": "application/json", **signing.sign(EXAMPLES["api"]["secret"], body)}
    resp = all_hub.client.post("/webhooks/api-a/messages", data=body, headers=headers)
    assert resp.status_code == 400 and "nested deeper" in resp.get_json()["error"]


def test_nesting_up_to_the_limit_is_still_read():
    ok = b"[" * bodies.MAX_JSON_DEPTH + b"]" * bodies.MAX_JSON_DEPTH
    assert bodies.loads(ok) is not None
    assert not bodies.json_depth_exceeds(b'{"s": "' + b"[" * 10_000 + b'"}')  # brackets in strings do not count
    with pytest.raises(bodies.TooDeep):
        bodies.loads(b"[" * (bodies.MAX_JSON_DEPTH + 1) + b"]" * (bodies.MAX_JSON_DEPTH + 1))


@pytest.mark.parametrize("nxt", ["/inbox\r\nSet-Cookie: owned=1", "/inbox%0d%0aX: y", "/inbox\nX: y", "/\x00"])
def test_crlf_in_login_next_is_400_never_500(all_hub, nxt):
    from hub.web import security

    _ = all_hub.token  # creates agent@example.com
    client = all_hub.app.test_client()
    with client.session_transaction() as sess:
        sess[security.SESSION_CSRF] = "csrf-test"
    from urllib.parse import quote

    resp = client.post(
        f"/login?next={quote(nxt, safe='/%')}",
        data={"email": "agent@example.com", "password": "correct horse battery", "csrf_token": "csrf-test"},
    )
    assert resp.status_code == 400, (resp.status_code, resp.headers.get("Location"))
    assert "Set-Cookie: owned" not in str(resp.headers)


@pytest.mark.parametrize(
    "field, value",
    [("filename", "a.txt\r\nContent-Type: text/html"), ("filename", "a\nb.pdf"), ("content_type", "text/plain\r\nX-Evil: 1"),
     ("content_type", "text/html\n"), ("content_type", "\x00")],
)
def test_crlf_in_attachment_name_or_type_is_400(all_hub, field, value):
    att = {"filename": "ok.txt", "content_type": "text/plain", "data_base64": base64.b64encode(b"hi").decode(), field: value}
    resp = all_hub.api("POST", "/api/v1/conversations/1/replies", json={"text": "hello", "attachments": [att]})
    assert resp.status_code == 400, (resp.status_code, resp.get_data(as_text=True)[:200])
    assert "attachments" in resp.get_json()["error"]


def test_a_stored_attachment_name_with_crlf_downloads_without_a_500(all_hub):
    key, digest = all_hub.rt.blobs.put(b"legacy")
    with all_hub.rt.db.session() as s:
        row = Attachment(filename="old\r\nSet-Cookie: x=1.txt", content_type="text/plain\r\nX-Evil: 1", size=6, sha256=digest, storage_key=key)
        s.add(row)
        s.flush()
        att_id = row.id
    resp = all_hub.api("GET", f"/api/v1/attachments/{att_id}")
    assert resp.status_code == 200, resp.status_code
    assert "Set-Cookie" not in resp.headers and "X-Evil" not in resp.headers
    assert resp.get_data() == b"legacy"


def test_widget_fields_of_the_wrong_json_type_are_a_400_not_a_500(hub):
    """Found by the fresh-eyes check: a non-string visitor crashed the widget endpoint (500)."""
    hub.add_connector("chatw", "api", secret="w-secret-0123456789", widget=True, widget_origins=["https://shop.example"])
    for body in ({"visitor": {"a": 1}, "text": "x"}, {"visitor": ["v" * 20], "text": "x"}, {"visitor": 12345678901234567890, "text": "x"}):
        r = hub.client.post("/widget/chatw/messages", json=body, headers={"Origin": "https://shop.example"})
        assert r.status_code == 400, (body, r.status_code)
    r = hub.client.get("/widget/chatw/messages?visitor=", headers={"Origin": "https://shop.example"})
    assert r.status_code == 400
