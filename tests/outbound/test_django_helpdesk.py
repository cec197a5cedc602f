"""django-helpdesk backend against a real django-helpdesk (tests/support/django_helpdesk.py)."""

from __future__ import annotations

import pytest

from hub.errors import AuthError, RetriableDeliveryError
from outbound import REGISTRY
from outbound.django_helpdesk import DjangoHelpdeskBackend, DjangoHelpdeskConfig
from tests.support.django_helpdesk import django_helpdesk_server  # noqa: F401  (session fixture)
from tests.support.pushitems import Conversation, ListSink, blob, context, lossy_proxy


def backend(srv, **overrides) -> DjangoHelpdeskBackend:
    cfg = {"base_url": srv.base_url, "token": srv.token, "queue": srv.queue, "submitter_email": "omnihub-customers@omnihub.test", **overrides}
    return DjangoHelpdeskBackend(context("django_helpdesk", DjangoHelpdeskConfig(**cfg)))


def tickets_titled(srv, title: str) -> list[dict]:
    with srv.agent() as c:
        out, page = [], 1
        while True:
            data = c.get("tickets/", params={"page_size": 100, "page": page}).json()
            out += [t for t in data["results"] if t["title"] == title]
            if not data["next"]:
                return out
            page += 1


def followups(srv, ticket: str) -> list[dict]:
    with srv.agent() as c:
        return c.get(f"tickets/{ticket}/").json()["followup_set"]


def test_registered():
    assert REGISTRY["django_helpdesk"] is DjangoHelpdeskBackend


def test_first_message_creates_ticket_later_ones_follow_up(django_helpdesk_server):
    srv = django_helpdesk_server
    b, conv = backend(srv), Conversation()
    first = b.push(conv.item("I cannot withdraw my funds"))
    [ticket] = tickets_titled(srv, conv.subject)
    assert str(ticket["id"]) == first.ticket_ref
    assert ticket["queue"] == srv.queue and ticket["submitter_email"] == "jane@example.com"
    assert ticket["description"].endswith("I cannot withdraw my funds")
    assert "Channel: api (jane@example.com, Jane Doe)" in ticket["description"]

    second = b.push(
        conv.item(
            "Any news? proof attached", ticket_ref=first.ticket_ref, attachments=[blob("tx.txt", b"0xabc123")],
            html="<p>Any news? my seed is abandon ability able about</p>",
        )
    )
    assert second.ticket_ref == first.ticket_ref
    last = followups(srv, first.ticket_ref)[-1]
    assert str(last["id"]) == second.comment_ref
    assert (last["comment"], last["public"]) == ("Any news? proof attached", True)
    assert [a["filename"] for a in last["followupattachment_set"]] == ["tx.txt"]
    assert not any("abandon ability" in f["comment"] for f in followups(srv, first.ticket_ref))  # redacted text only


def test_contact_without_email_uses_the_fallback_submitter(django_helpdesk_server):
    srv = django_helpdesk_server
    b, conv = backend(srv), Conversation(email=None, medium="sms")
    result = b.push(conv.item("help", attachments=[blob("photo.png", b"\x89PNG\r\n", "image/png")]))
    [ticket] = tickets_titled(srv, conv.subject)
    assert ticket["submitter_email"] == "omnihub-customers@omnihub.test"
    assert "Channel: sms (+15551234567, Jane Doe)" in ticket["description"]
    # the first message's files follow the ticket in one follow-up
    [opened, files] = followups(srv, result.ticket_ref)
    assert files["comment"] == "Attachments: photo.png" and str(files["id"]) == result.comment_ref
    [att] = files["followupattachment_set"]
    assert att["filename"] == "photo.png" and att["size"] == 6


def test_retried_push_never_duplicates(django_helpdesk_server):
    srv = django_helpdesk_server
    b, conv = backend(srv), Conversation()
    item = conv.item("first")
    r1 = b.push(item)
    assert b.push(item) == r1
    assert len(tickets_titled(srv, conv.subject)) == 1

    reply = conv.item("second", ticket_ref=r1.ticket_ref)
    c1 = b.push(reply)
    assert b.push(reply) == c1
    # the same text in a NEW delivery is a new message, not a retry
    assert b.push(conv.item("second", ticket_ref=r1.ticket_ref)).comment_ref != c1.comment_ref
    assert [f["comment"] for f in followups(srv, r1.ticket_ref)][1:] == ["second", "second"]


def test_poll_turns_staff_follow_ups_into_agent_replies(django_helpdesk_server):
    srv = django_helpdesk_server
    # as in production, the poller and the push worker are separate instances (processes)
    # that do not share what they learned
    b, worker, conv = backend(srv), backend(srv), Conversation()
    sink = ListSink()
    b.poll_once(sink)  # first run only sets the cursor
    ref = worker.push(conv.item("where is my money")).ticket_ref
    worker.push(conv.item("hello?", ticket_ref=ref))  # ours: never an agent reply
    with srv.agent() as c:
        for body in (
            {"comment": "We are on it, Jane.", "public": True},
            {"comment": "check the hot wallet", "public": False},
            {"comment": "Refund sent.", "public": True, "new_status": 3},
        ):
            assert c.post("followups/", json={"ticket": int(ref), **body}).status_code == 201

    assert b.poll_once(sink) == 3
    replies = [r for e in sink.events for r in b.parse_agent_reply(e)]
    assert [(r.ticket_ref, r.text, r.internal, r.status) for r in replies] == [
        (ref, "We are on it, Jane.", False, None),
        (ref, "check the hot wallet", True, None),
        (ref, "Refund sent.", False, "resolved"),
    ]
    assert [r.external_id for r in replies] == [e.external_id for e in sink.events]
    assert b.poll_once(sink) == 0  # cursor kept in the connector state


def test_poll_ignores_other_queues(django_helpdesk_server):
    srv = django_helpdesk_server
    b = backend(srv, queue=srv.queue + 1000)  # a queue omnihub does not feed
    sink = ListSink()
    b.poll_once(sink)
    ref = backend(srv).push(Conversation().item("elsewhere")).ticket_ref
    with srv.agent() as c:
        assert c.post("followups/", json={"ticket": int(ref), "comment": "hi", "public": True}).status_code == 201
    assert b.poll_once(sink) == 0


def test_wrong_token_is_an_auth_error(django_helpdesk_server):
    b = backend(django_helpdesk_server, token="0" * 40)
    with pytest.raises(AuthError):
        b.push(Conversation().item("hi"))
    result = b.check()
    assert not result.ok and "401" in result.summary
    assert backend(django_helpdesk_server).check().ok


def test_mail_goes_to_the_smtp_sink(django_helpdesk_server):
    # django-helpdesk mails the submitter synchronously: the sink (not the internet) gets it
    before = len(django_helpdesk_server.mail)
    backend(django_helpdesk_server).push(Conversation(email="mailcheck@example.com").item("hello"))
    assert any("mailcheck@example.com" in e.rcpt_tos for e in django_helpdesk_server.mail[before:])


def test_answers_lost_after_the_helpdesk_acted_never_duplicate(django_helpdesk_server, httpserver):
    srv = django_helpdesk_server
    proxy = lossy_proxy(httpserver, srv.base_url, {"POST /api/tickets/": 1, "POST /api/followups/": 1})
    b, conv = backend(srv, base_url=proxy), Conversation()
    item = conv.item("first")
    with pytest.raises(RetriableDeliveryError, match="HTTP 502"):
        b.push(item)
    ref = b.push(item).ticket_ref
    assert [str(t["id"]) for t in tickets_titled(srv, conv.subject)] == [ref]
    reply = conv.item("second", ticket_ref=ref)
    with pytest.raises(RetriableDeliveryError, match="HTTP 502"):
        b.push(reply)
    again = b.push(reply)
    assert [(str(f["id"]), f["comment"]) for f in followups(srv, ref)[1:]] == [(again.comment_ref, "second")]


def test_priority_labels_and_entities_reach_the_ticket(django_helpdesk_server):
    srv = django_helpdesk_server
    b, conv = backend(srv), Conversation()
    btc = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"
    triaged = dict(priority="urgent", category="suspicious_access_or_hacked_account", tags=("sla-breached",),
                   entities=({"kind": "btc_address", "value": btc, "chain": "bitcoin"},))
    ref = b.push(conv.item("Someone logged into my account", **triaged)).ticket_ref
    with srv.agent() as c:
        ticket = c.get(f"tickets/{ref}/").json()
    assert ticket["priority"] == 1
    assert "omnihub labels: omnihub-category-suspicious_access_or_hacked_account omnihub-entity-btc_address " \
           "omnihub-priority-urgent omnihub-security omnihub-sla-breached" in ticket["description"]
    assert f"Detected: BTC address {btc}" in ticket["description"]
    normal = b.push(Conversation().item("hello")).ticket_ref
    with srv.agent() as c:
        assert c.get(f"tickets/{normal}/").json()["priority"] == 3


def test_lost_answer_retried_with_a_newer_sla_state_finds_its_ticket(django_helpdesk_server, httpserver):
    srv = django_helpdesk_server
    proxy = lossy_proxy(httpserver, srv.base_url, {"POST /api/tickets/": 1})
    b, conv = backend(srv, base_url=proxy), Conversation()
    with pytest.raises(RetriableDeliveryError, match="HTTP 502"):
        b.push(conv.item("first", delivery_id=990002, tags=("sla-at-risk",)))
    ref = b.push(conv.item("first", delivery_id=990002, tags=("sla-breached",))).ticket_ref
    assert [str(t["id"]) for t in tickets_titled(srv, conv.subject)] == [ref]


def test_erase_ticket_deletes_it_with_its_follow_ups(django_helpdesk_server):
    """#21.5: an erased contact's ticket is deleted through the API of the real django-helpdesk;
    a second call (a retry after a lost answer) finds it gone and succeeds."""
    srv = django_helpdesk_server
    b, conv = backend(srv), Conversation()
    first = b.push(conv.item("please forget me"))
    b.push(conv.item("and this too", ticket_ref=first.ticket_ref))
    assert tickets_titled(srv, conv.subject)
    b.erase_ticket(first.ticket_ref)
    assert tickets_titled(srv, conv.subject) == []
    with srv.agent() as c:
        assert c.get(f"tickets/{first.ticket_ref}/").status_code == 404
    b.erase_ticket(first.ticket_ref)  # already gone: done
