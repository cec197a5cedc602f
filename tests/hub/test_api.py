"""REST API: bearer auth and roles, conversation updates, connectors CRUD, OpenAPI."""

from __future__ import annotations

import json

from hub import signing
from hub.auth import create_token, create_user
from tests.hub.test_flow import SECRET, post_message
from tests.support.hub import wait_until


def _agent_token(hub):
    with hub.rt.db.session() as s:
        create_user(s, "bob@example.com", "agent", "another long password", "Bob")
        return create_token(s, "bob@example.com")


def test_auth_is_required_and_roles_are_enforced(hub):
    admin = hub.token
    agent = _agent_token(hub)
    assert hub.client.get("/api/v1/conversations").status_code == 401
    assert hub.api("GET", "/api/v1/conversations", token="omh_wrong").status_code == 401
    assert hub.api("GET", "/api/v1/conversations", token=agent).status_code == 200
    assert hub.api("GET", "/api/v1/connectors", token=agent).status_code == 403
    assert hub.api("GET", "/api/v1/connectors", token=admin).status_code == 200


def test_patch_conversation_status_assignee_priority(hub):
    hub.add_connector("web", "api", secret=SECRET)
    hub.start_worker()
    post_message(hub)
    conv = wait_until(lambda: hub.api("GET", "/api/v1/conversations").get_json()["items"])[0]
    resp = hub.api("PATCH", f"/api/v1/conversations/{conv['id']}", json={"status": "resolved", "assignee": "me", "priority": "urgent"})
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert (body["status"], body["assignee"], body["priority"]) == ("resolved", "agent@example.com", "urgent")
    assert body["resolved_at"]
    bad = hub.api("PATCH", f"/api/v1/conversations/{conv['id']}", json={"priority": "whenever"})
    assert bad.status_code == 400 and bad.get_json()["field"] == "priority"
    unknown = hub.api("PATCH", f"/api/v1/conversations/{conv['id']}", json={"assignee": "nobody@example.com"})
    assert unknown.status_code == 400 and "assignee" in unknown.get_json()["error"]
    assert hub.api("PATCH", "/api/v1/conversations/999", json={"status": "open"}).status_code == 404
    # filters
    assert hub.api("GET", "/api/v1/conversations?status=open").get_json()["items"] == []
    assert len(hub.api("GET", "/api/v1/conversations?status=resolved&priority=urgent&assignee=me").get_json()["items"]) == 1
    assert len(hub.api("GET", "/api/v1/conversations?q=need%20help").get_json()["items"]) == 1
    # the customer writes again: the resolved conversation reopens
    post_message(hub, id="m2", text="still broken")
    wait_until(lambda: hub.api("GET", f"/api/v1/conversations/{conv['id']}").get_json()["status"] == "open")


def test_reply_validation_and_internal_note(hub):
    hub.add_connector("web", "api", secret=SECRET)
    hub.start_worker()
    post_message(hub)
    conv = wait_until(lambda: hub.api("GET", "/api/v1/conversations").get_json()["items"])[0]
    assert hub.api("POST", f"/api/v1/conversations/{conv['id']}/replies", json={}).get_json()["field"] == "text"
    assert hub.api("POST", f"/api/v1/conversations/{conv['id']}/replies", json={"text": "x", "bogus": 1}).status_code == 400
    too_long = hub.api("POST", f"/api/v1/conversations/{conv['id']}/replies", json={"text": "x" * 70000})
    assert too_long.status_code == 400 and "65536 characters" in too_long.get_json()["error"]
    note = hub.api("POST", f"/api/v1/conversations/{conv['id']}/replies", json={"text": "internal only", "internal": True})
    assert note.status_code == 202 and note.get_json()["state"] == "note"


def test_connectors_crud_with_write_only_secrets(hub):
    r = hub.api("POST", "/api/v1/connectors", json={"name": "site", "kind": "api", "config": {"secret": "topsecret-value"}})
    assert r.status_code == 201, r.get_json()
    assert "topsecret-value" not in json.dumps(r.get_json())
    assert r.get_json()["webhooks"]["messages"] == "http://hub.test/webhooks/site/messages"
    assert hub.api("POST", "/api/v1/connectors", json={"name": "site", "kind": "api", "config": {"secret": "x"}}).status_code == 400
    bad = hub.api("POST", "/api/v1/connectors", json={"name": "x2", "kind": "api", "config": {}})
    assert bad.status_code == 400 and "secret" in bad.get_json()["error"]
    assert hub.api("POST", "/api/v1/connectors", json={"name": "x3", "kind": "nope", "config": {}}).status_code == 400
    # a new destination for the stored secret: the secret must be entered again (#14 item 3)
    p = hub.api("PATCH", "/api/v1/connectors/site", json={"config": {"callback_url": "http://cb.test/x"}})
    assert p.status_code == 409 and p.get_json()["reenter"] == ["secret"]
    p = hub.api("PATCH", "/api/v1/connectors/site", json={"config": {"callback_url": "http://cb.test/x", "secret": "topsecret-value"}})
    assert p.status_code == 200 and p.get_json()["config"]["callback_url"] == "http://cb.test/x"
    # the secret survived the update: a signed message still verifies
    body = b'{"id":"1","from":{"id":"a"},"text":"t"}'
    assert hub.client.post("/webhooks/site/messages", data=body, headers=signing.sign("topsecret-value", body)).status_code == 200
    chk = hub.api("POST", "/api/v1/connectors/site/check")
    assert chk.status_code == 200 and chk.get_json()["ok"] is False  # callback host does not exist
    assert hub.api("DELETE", "/api/v1/connectors/site").status_code == 204
    assert hub.api("GET", "/api/v1/connectors/site").status_code == 404
    assert hub.api("DELETE", "/api/v1/connectors/inbox").status_code == 400


def test_openapi_document_lists_the_public_interface(hub):
    doc = hub.client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    paths = doc["paths"]
    for path, method in [
        ("/api/v1/conversations", "get"),
        ("/api/v1/conversations/{conv_id}", "patch"),
        ("/api/v1/conversations/{conv_id}/replies", "post"),
        ("/api/v1/replies/{reply_id}", "get"),
        ("/api/v1/contacts/{contact_id}/merge", "post"),
        ("/api/v1/connectors", "post"),
        ("/api/v1/connectors/{name}/check", "post"),
    ]:
        assert method in paths[path], (path, method)
    assert "ReplyIn" in doc["components"]["schemas"]


def test_health_ready_and_metrics(hub):
    assert hub.client.get("/healthz").get_json() == {"status": "ok"}
    ready = hub.client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["checks"] == {"database": "ok", "redis": "ok"}
    m = hub.client.get("/metrics").get_data(as_text=True)
    assert 'omnihub_http_requests_total{route="/healthz",status="200"}' in m
    assert "omnihub_http_request_seconds_bucket" in m


def test_contact_merge(hub):
    hub.add_connector("web", "api", secret=SECRET)
    hub.start_worker()
    post_message(hub, id="a", sender="ann")
    post_message(hub, id="b", sender="bea")
    convs = wait_until(lambda: len(items := hub.api("GET", "/api/v1/conversations").get_json()["items"]) == 2 and items)
    keep, other = convs[0]["contact_id"], convs[1]["contact_id"]
    r = hub.api("POST", f"/api/v1/contacts/{keep}/merge", json={"other_id": other})
    assert r.status_code == 200
    merged = r.get_json()
    assert len(merged["identities"]) == 2 and len(merged["conversations"]) == 2
    assert hub.api("POST", f"/api/v1/contacts/{keep}/merge", json={"other_id": keep}).status_code == 400
