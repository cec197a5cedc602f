"""#21.5 an erased contact's helpdesk ticket is removed through the ticket-removal outbox:
the Zendesk backend deletes it and then deletes it permanently (the local contract server
checks each call), a helpdesk outage is retried later, and a ticket already gone counts
as removed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from hub import erasure
from hub.models import Connector, Contact, Conversation, HelpdeskLink, Identity, TicketRemoval, now
from tests.outbound.saas_support import config_for, make_backend, make_item, start_fake


def _seed(hub, helpdesk: str, ref: str) -> int:
    with hub.rt.db.session() as s:
        inbox = s.scalar(select(Connector).where(Connector.name == "inbox"))
        hd = s.scalar(select(Connector).where(Connector.name == helpdesk))
        c = Contact(name="Tess Ticket")
        s.add(c)
        s.flush()
        i = Identity(contact_id=c.id, medium="api", address="web:tess-1", display_name="Tess Ticket")
        s.add(i)
        s.flush()
        conv = Conversation(connector_id=inbox.id, contact_id=c.id, identity_id=i.id, thread_key="web:tess", token="tok-tess")
        s.add(conv)
        s.flush()
        s.add(HelpdeskLink(conversation_id=conv.id, helpdesk_id=hd.id, external_ref=ref, data={}))
        return c.id


def _due_now(hub) -> None:
    with hub.rt.db.session() as s:
        s.execute(update(TicketRemoval).values(next_attempt_at=now() - timedelta(seconds=1)))


def test_zendesk_ticket_of_an_erased_contact_is_deleted_for_good(hub, saas_servers):
    fake = start_fake(saas_servers, "zendesk")
    hub.add_connector("zd", "zendesk", **config_for("zendesk", fake.base_url))
    ticket = make_backend("zendesk", fake.base_url).push(make_item(1)).ticket_ref
    contact = _seed(hub, "zd", ticket)
    counts = erasure.erase(hub.rt, contact, actor="cli")
    assert counts["tickets_queued"] == 1
    fake.fail(503)  # the helpdesk is down: retried later, nothing lost
    assert erasure.process_removals(hub.rt) == {"done": 0, "retry": 1, "dead": 0}
    with hub.rt.db.read() as s:
        row = s.scalars(select(TicketRemoval)).one()
        assert (row.state, row.attempts) == ("pending", 1) and "503" in row.last_error and row.next_attempt_at > now()
    assert erasure.process_removals(hub.rt) == {"done": 0, "retry": 0, "dead": 0}  # not due yet
    _due_now(hub)
    assert erasure.process_removals(hub.rt) == {"done": 1, "retry": 0, "dead": 0}
    assert ticket not in fake.tickets and ticket not in fake.deleted and fake.purged == [ticket]
    assert fake.comments.get(ticket) is None
    with hub.rt.db.read() as s:
        row = s.scalars(select(TicketRemoval)).one()
        assert row.state == "done" and row.done_at is not None
    assert ("DELETE", f"/api/v2/deleted_tickets/{ticket}.json") in fake.log
    assert fake.violations == []


def test_a_ticket_already_gone_counts_as_removed_and_a_backend_without_delete_is_marked(hub, saas_servers):
    fake = start_fake(saas_servers, "zendesk")
    hub.add_connector("zd", "zendesk", **config_for("zendesk", fake.base_url))
    hub.add_connector("cw", "chatwoot", **config_for("chatwoot", fake.base_url))
    contact = _seed(hub, "zd", "4040")
    with hub.rt.db.session() as s:
        conv = s.scalar(select(Conversation.id).where(Conversation.contact_id == contact))
        s.add(HelpdeskLink(conversation_id=conv, helpdesk_id=s.scalar(select(Connector.id).where(Connector.name == "cw")),
                           external_ref="77", data={}))
    counts = erasure.erase(hub.rt, contact, actor="cli")
    assert (counts["tickets_queued"], counts["tickets_unsupported"]) == (1, 1)
    assert erasure.process_removals(hub.rt) == {"done": 1, "retry": 0, "dead": 0}
    with hub.rt.db.read() as s:
        states = dict(s.execute(select(TicketRemoval.external_ref, TicketRemoval.state)).all())
    assert states == {"4040": "done", "77": "unsupported"}
    assert fake.violations == []


def test_signed_webhook_receiver_is_asked_to_erase_the_ticket(hub, saas_servers):
    fake = start_fake(saas_servers, "webhook")
    hub.add_connector("hook", "webhook", **config_for("webhook", fake.base_url))
    ticket = make_backend("webhook", fake.base_url).push(make_item(1)).ticket_ref
    assert ticket == "T-42" and fake.tickets
    contact = _seed(hub, "hook", ticket)
    assert erasure.erase(hub.rt, contact, actor="cli")["tickets_queued"] == 1
    assert erasure.process_removals(hub.rt) == {"done": 1, "retry": 0, "dead": 0}
    assert fake.erased == ["T-42"] and fake.tickets == {} and fake.violations == []


@pytest.mark.parametrize("kind", ["zendesk", "freshdesk", "zammad", "helpscout", "webhook"])
def test_each_backend_that_erases_deletes_its_ticket_and_a_retry_is_harmless(saas_servers, kind):
    """The backend's own call, against each vendor's contract server: the ticket is gone
    (and purged where the vendor has a trash), and calling again (a retry after a lost answer)
    succeeds."""
    fake = start_fake(saas_servers, kind)
    backend = make_backend(kind, fake.base_url)
    assert backend.erases
    ref = backend.push(make_item(1)).ticket_ref
    key = ref.removeprefix("T-")
    assert key in fake.tickets
    backend.erase_ticket(ref)
    assert key not in fake.tickets and fake.comments.get(key) is None
    if kind in ("zendesk", "freshdesk"):
        assert fake.purged == [key] and key not in fake.deleted
    backend.erase_ticket(ref)
    assert fake.violations == []


def test_a_ticket_opened_while_the_contact_is_being_erased_is_removed_too(make_hub, db_url, saas_servers):
    """#21.5 fresh eyes: a push in flight when the erasure ran opened a ticket that nothing
    pointed to any more (the delivery and conversation were gone when the answer came back),
    so it was never removed. Now the push records a ticket it opened for a conversation that
    is gone as a ticket removal, and the erasure takes the deliveries' locks first (PostgreSQL:
    a push being recorded finishes before the erasure looks for links, or after it commits)."""
    from datetime import UTC, datetime

    from hub.models import Delivery, Message
    from workers import outbox

    hub = make_hub(database_url=db_url)  # SQLite and PostgreSQL
    fake = start_fake(saas_servers, "zendesk")
    hub.add_connector("zd", "zendesk", **config_for("zendesk", fake.base_url))
    contact = _seed(hub, "zd", "unused")
    with hub.rt.db.session() as s:
        s.execute(HelpdeskLink.__table__.delete())  # no ticket yet: the push below opens it
        conv = s.scalar(select(Conversation).where(Conversation.contact_id == contact))
        ident = s.scalar(select(Identity.id).where(Identity.contact_id == contact))
        zd = s.scalar(select(Connector.id).where(Connector.name == "zd"))
        msg = Message(conversation_id=conv.id, connector_id=conv.connector_id, external_id="tess-m1", identity_id=ident,
                      direction="inbound", kind="message", sender_name="Tess Ticket", sent_at=datetime.now(UTC),
                      text="my card was charged twice", full_text="my card was charged twice", html="", redactions=[],
                      entities=[], extra={}, history=[])
        s.add(msg)
        s.flush()
        d = Delivery(message_id=msg.id, conversation_id=conv.id, helpdesk_id=zd, state="pending")
        s.add(d)
        s.flush()
        delivery = d.id
    erased: list[dict] = []

    def erase_now(request):  # the ticket exists at Zendesk; omnihub has not recorded it yet
        if request.method == "POST" and request.path == "/api/v2/tickets.json" and not erased:
            erased.append(erasure.erase(hub.rt, contact, actor="cli"))

    fake.after_write = erase_now
    outbox.push(hub.rt, [delivery])
    assert erased and erased[0]["tickets_queued"] == 0  # no link yet when the erasure looked
    [ticket] = list(fake.tickets)
    with hub.rt.db.read() as s:
        row = s.scalars(select(TicketRemoval)).one()
        assert (row.helpdesk_id, row.external_ref, row.state) == (zd, ticket, "pending")
        assert s.scalar(select(HelpdeskLink.id)) is None and s.scalar(select(Contact.id).where(Contact.id == contact)) is None
    assert erasure.process_removals(hub.rt) == {"done": 1, "retry": 0, "dead": 0}
    assert fake.tickets == {} and fake.purged == [ticket] and fake.violations == []
