"""Request Tracker backend against a real RT 5 (tests/support/rt.py)."""

from __future__ import annotations

import base64
import json
import subprocess

import pytest

from hub.errors import AuthError, PermanentDeliveryError, RetriableDeliveryError
from hub.types import BlobRef, RawEvent
from outbound import REGISTRY
from outbound.rt import RTBackend, RTConfig
from tests.support.pushitems import Conversation, ListSink, blob, context, lossy_proxy
from tests.support.rt import rt_server  # noqa: F401  (session fixture)


def backend(rt, **overrides) -> RTBackend:
    cfg = {"base_url": rt.base_url, "username": rt.username, "token": rt.token, "queue": rt.queue, **overrides}
    return RTBackend(context("rt", RTConfig(**cfg)))


def tickets_with_subject(rt, subject: str) -> list[dict]:
    with rt.agent() as c:
        r = c.get("tickets", params={"query": f"Subject = '{subject}'", "fields": "Subject,Status,Requestor,Queue"})
        r.raise_for_status()
        return r.json()["items"]


def correspondence(rt, ticket: str, creator: str = "root") -> list[tuple[str, str]]:
    """(transaction id, text) of each Correspond by ``creator`` on ``ticket``."""
    out = []
    with rt.agent() as c:
        q = f"ObjectType = 'RT::Ticket' AND ObjectId = {ticket} AND Type = 'Correspond' AND Creator = '{creator}'"
        for txn in c.get("transactions", params={"query": q, "orderby": "id"}).json()["items"]:
            atts = c.get(f"transaction/{txn['id']}/attachments", params={"fields": "Content,ContentType,Filename"}).json()["items"]
            text = next(a["Content"] for a in atts if a["ContentType"] == "text/plain" and not a["Filename"])
            out.append((str(txn["id"]), text))
    return out


def test_registered():
    assert REGISTRY["rt"] is RTBackend


def test_first_message_creates_ticket_later_ones_correspond(rt_server):
    b, conv = backend(rt_server), Conversation()
    first = b.push(conv.item("I cannot withdraw my funds"))
    [ticket] = tickets_with_subject(rt_server, conv.subject)
    assert ticket["id"] == first.ticket_ref
    assert ticket["Queue"]["id"] == "1" and ticket["Status"] == "new"
    assert [u["id"] for u in ticket["Requestor"]] == ["jane@example.com"]

    second = b.push(
        conv.item(
            "Any news? tx attached", ticket_ref=first.ticket_ref, attachments=[blob("tx.txt", b"0xabc123")],
            html="<p>Any news? my seed is abandon ability able about</p>",  # never sent: redacted text only
        )
    )
    assert second.ticket_ref == first.ticket_ref
    [(txn, text)] = correspondence(rt_server, first.ticket_ref)
    assert second.comment_ref == txn and text == "Any news? tx attached"
    with rt_server.agent() as c:
        atts = c.get(f"transaction/{txn}/attachments", params={"fields": "Filename,Content"}).json()["items"]
        assert not any("abandon ability" in (a.get("Content") or "") for a in atts)
        [att] = [a for a in atts if a["Filename"] == "tx.txt"]
        assert base64.b64decode(c.get(att["_url"]).json()["Content"]) == b"0xabc123"


def test_contact_without_email_gets_channel_and_address_in_ticket(rt_server):
    b, conv = backend(rt_server, requestor_fallback="sms-customers@omnihub.test"), Conversation(email=None, medium="sms")
    ref = b.push(conv.item("help", attachments=[blob("photo.png", b"\x89PNG\r\n", "image/png")])).ticket_ref
    [ticket] = tickets_with_subject(rt_server, conv.subject)
    assert [u["id"] for u in ticket["Requestor"]] == ["sms-customers@omnihub.test"]
    with rt_server.agent() as c:
        q = f"ObjectType = 'RT::Ticket' AND ObjectId = {ref} AND Type = 'Create'"
        [create] = c.get("transactions", params={"query": q}).json()["items"]
        atts = c.get(f"transaction/{create['id']}/attachments", params={"fields": "Content,ContentType,Filename"}).json()["items"]
        [png] = [a for a in atts if a["Filename"] == "photo.png"]
        assert base64.b64decode(c.get(png["_url"]).json()["Content"]) == b"\x89PNG\r\n"
    [body] = [a["Content"] for a in atts if a["ContentType"] == "text/plain" and not a["Filename"]]
    assert "Channel: sms (+15551234567, Jane Doe)" in body and body.rstrip().endswith("help")


def test_retried_push_never_duplicates(rt_server):
    b, conv = backend(rt_server), Conversation()
    item = conv.item("first")
    r1 = b.push(item)
    assert b.push(item) == r1
    assert len(tickets_with_subject(rt_server, conv.subject)) == 1

    reply = conv.item("second", ticket_ref=r1.ticket_ref)
    c1 = b.push(reply)
    assert b.push(reply) == c1
    # the same text in a NEW delivery is a new message, not a retry
    again = b.push(conv.item("second", ticket_ref=r1.ticket_ref))
    assert again.comment_ref != c1.comment_ref
    assert [t for _, t in correspondence(rt_server, r1.ticket_ref)] == ["second", "second"]


def test_poll_turns_agent_work_into_agent_replies(rt_server):
    b, worker, conv = backend(rt_server), backend(rt_server), Conversation()  # poller, push worker
    sink = ListSink()
    b.poll_once(sink)  # first run only sets the cursor
    ref = worker.push(conv.item("where is my money")).ticket_ref
    worker.push(conv.item("hello?", ticket_ref=ref))  # ours: never an agent reply
    # the customer answers RT's own mail: a Correspond by the (unprivileged) requestor, not an agent
    mail = f"From: Jane Doe <jane@example.com>\nTo: rt@omnihub.test\nSubject: [omnihub-test #{ref}] Re: {conv.subject}\n\nthanks, waiting\n"
    gate = subprocess.run(
        [rt_server.mailgate, "--url", rt_server.base_url, "--queue", rt_server.queue, "--action", "correspond"],
        input=mail, text=True, capture_output=True, timeout=60,
    )
    assert gate.returncode == 0 and "not ok" not in gate.stdout + gate.stderr, gate.stdout + gate.stderr
    assert [t.strip() for _, t in correspondence(rt_server, ref, creator="jane@example.com")] == ["thanks, waiting"]
    with rt_server.agent() as c:
        assert c.post(f"ticket/{ref}/correspond", json={"Content": "We are on it, Jane.", "ContentType": "text/plain"}).status_code == 201
        assert c.post(f"ticket/{ref}/comment", json={"Content": "check the hot wallet", "ContentType": "text/plain"}).status_code == 201
        assert c.put(f"ticket/{ref}", json={"Status": "resolved"}).status_code == 200

    assert b.poll_once(sink) == 3
    replies = [r for e in sink.events for r in b.parse_agent_reply(e)]
    mine = [r for r in replies if r.ticket_ref == ref]
    assert [(r.text, r.internal, r.status, r.author_name) for r in mine] == [
        ("We are on it, Jane.", False, None, "Alice Agent"),
        ("check the hot wallet", True, None, "Alice Agent"),
        ("", False, "resolved", "Alice Agent"),
    ]
    assert all(r.external_id == e.external_id for r, e in zip(mine, sink.events, strict=False))
    assert b.poll_once(sink) == 0  # cursor kept in the connector state


def test_wrong_token_is_an_auth_error(rt_server):
    b = backend(rt_server, token="1-14-00000000000000000000000000000000")
    with pytest.raises(AuthError):
        b.push(Conversation().item("hi"))
    result = b.check()
    assert not result.ok and "401" in result.summary


def test_check_with_basic_auth(rt_server):
    b = backend(rt_server, token=None, password=rt_server.password)
    result = b.check()
    assert result.ok, result.summary
    assert not backend(rt_server, token=None, password="wrong").check().ok


def test_config_needs_credentials():
    with pytest.raises(ValueError):
        RTConfig(base_url="http://rt", username="root")


@pytest.mark.parametrize(
    "status,headers,error,needle",
    [
        (500, {}, RetriableDeliveryError, "HTTP 500"),
        (429, {"Retry-After": "7"}, RetriableDeliveryError, "HTTP 429"),
        (403, {}, AuthError, "HTTP 403"),
        (400, {}, PermanentDeliveryError, "Queue 'Nope' not found"),
        (302, {"Location": "/NoAuth/Login.html"}, PermanentDeliveryError, "WebPath"),
    ],
)
def test_http_failures_map_to_the_hub_errors(httpserver, status, headers, error, needle):
    httpserver.expect_request("/REST/2.0/transactions").respond_with_json({"items": [{"id": "5"}]})
    httpserver.expect_request("/REST/2.0/ticket", method="POST").respond_with_json(
        {"message": "Queue 'Nope' not found"}, status=status, headers=headers
    )
    b = RTBackend(context("rt", RTConfig(base_url=httpserver.url_for("/"), username="root", token="1-2-3", queue="Nope")))
    with pytest.raises(error, match=needle) as exc:
        b.push(Conversation().item("hi"))
    if status == 429:
        assert exc.value.retry_after == 7
    # the transport never sees the token anywhere but the Authorization header
    assert all(r.headers["Authorization"] == "token 1-2-3" for r, _ in httpserver.log)


def test_rich_text_correspondence_becomes_plain_text():
    b = RTBackend(context("rt", RTConfig(base_url="http://rt.invalid", username="root", token="t")))
    payload = {"type": "Correspond", "ticket": "9", "content": "<p>Hello&nbsp;Jane,</p><p>done &amp; dusted<br>Bob</p>", "content_type": "text/html"}
    [reply] = b.parse_agent_reply(RawEvent(external_id="77", hook="poll", payload=json.dumps(payload).encode()))
    assert reply.text == "Hello Jane,\n\ndone & dusted\nBob" and reply.html.startswith("<p>") and not reply.internal


def test_answers_lost_after_rt_acted_never_duplicate(rt_server, httpserver):
    # RT creates the ticket / adds the correspondence, but omnihub sees a 502: the retry finds them
    proxy = lossy_proxy(httpserver, rt_server.base_url, {"POST /REST/2.0/ticket": 1, "POST /correspond": 1})
    b, conv = backend(rt_server, base_url=proxy), Conversation()
    item = conv.item("first")
    with pytest.raises(RetriableDeliveryError, match="HTTP 502"):
        b.push(item)
    ref = b.push(item).ticket_ref
    assert [t["id"] for t in tickets_with_subject(rt_server, conv.subject)] == [ref]
    reply = conv.item("second", ticket_ref=ref)
    with pytest.raises(RetriableDeliveryError, match="HTTP 502"):
        b.push(reply)
    again = b.push(reply)
    assert [(txn, text) for txn, text in correspondence(rt_server, ref)] == [(again.comment_ref, "second")]


def test_over_limit_file_stays_in_omnihub_and_is_said(rt_server):
    b, conv = backend(rt_server, max_attachment_mb=1), Conversation()
    huge = BlobRef("dump.zip", "application/zip", 2 * 1024 * 1024, "0" * 64, loader=lambda: b"PK stand-in")
    ref = b.push(conv.item("see files", attachments=[huge, blob("receipt.png", b"PNG")])).ticket_ref
    with rt_server.agent() as c:
        q = f"ObjectType = 'RT::Ticket' AND ObjectId = {ref} AND Type = 'Create'"
        [create] = c.get("transactions", params={"query": q}).json()["items"]
        atts = c.get(f"transaction/{create['id']}/attachments", params={"fields": "Content,ContentType,Filename"}).json()["items"]
    assert sorted(a["Filename"] for a in atts if a["Filename"]) == ["receipt.png"]
    [body] = [a["Content"] for a in atts if a["ContentType"] == "text/plain" and not a["Filename"]]
    assert "[attachment dump.zip (2.0 MB) kept in omnihub: over Request Tracker's 1 MB file limit]" in body


def test_priority_labels_and_entities_reach_the_ticket(rt_server):
    b, conv = backend(rt_server), Conversation()
    tx = "0x" + "cd" * 32
    triaged = dict(priority="high", category="transaction_not_processed", tags=("sla-at-risk",),
                   entities=({"kind": "tx_hash", "value": tx, "chain": "ethereum"},))
    first = b.push(conv.item("My deposit never arrived", **triaged))
    with rt_server.agent() as c:
        ticket = c.get(f"ticket/{first.ticket_ref}").json()
    assert int(ticket["Priority"]) == 100
    with rt_server.agent() as c:
        q = f"ObjectType = 'RT::Ticket' AND ObjectId = {first.ticket_ref} AND Type = 'Create'"
        [txn] = c.get("transactions", params={"query": q}).json()["items"]
        atts = c.get(f"transaction/{txn['id']}/attachments", params={"fields": "Content,ContentType,Filename"}).json()["items"]
    text = next(a["Content"] for a in atts if a["ContentType"] == "text/plain")
    assert "omnihub labels: omnihub-category-transaction_not_processed omnihub-entity-tx_hash omnihub-priority-high omnihub-sla-at-risk" in text
    assert f"Detected: tx {tx} (ethereum)" in text


def test_lost_answer_retried_with_a_newer_sla_state_finds_its_ticket(rt_server, httpserver):
    proxy = lossy_proxy(httpserver, rt_server.base_url, {"POST /REST/2.0/ticket": 1})
    b, conv = backend(rt_server, base_url=proxy), Conversation()
    with pytest.raises(RetriableDeliveryError, match="HTTP 502"):
        b.push(conv.item("first", delivery_id=990001, tags=("sla-at-risk",)))
    # meanwhile the SLA timer moved on: the retried delivery carries other labels
    ref = b.push(conv.item("first", delivery_id=990001, tags=("sla-breached",))).ticket_ref
    assert [t["id"] for t in tickets_with_subject(rt_server, conv.subject)] == [ref]
