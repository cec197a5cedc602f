"""One search for the inbox and the API: names, emails, phone numbers, subjects, message text; status=all."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from hub.models import Connector, Contact, Conversation, Identity, Message, now
from hub.web.inbox import FILTERS, query_conversations
from tests.hub.test_flow import SECRET


def _seed(hub):
    hub.add_connector("web", "api", secret=SECRET)
    ids = {}
    with hub.rt.db.session() as s:
        conn = s.query(Connector).filter_by(name="web").one()
        rows = [
            ("dora", "Dora Explorer", "dora@example.com", "+15550100199", "Refund please", "my parcel never arrived", "open"),
            ("emil", "Emil Stone", "emil.stone@example.org", "+4930123456", "Login trouble", "the 2FA code fails", "resolved"),
            ("fay", "Fay 50% Off", None, "fay-addr", "Question", "what about the_underscore?", "snoozed"),
        ]
        for key, name, email, address, subject, text, status in rows:
            c = Contact(name=name, email=email)
            s.add(c)
            s.flush()
            i = Identity(contact_id=c.id, medium="api", address=address, display_name="")
            s.add(i)
            s.flush()
            conv = Conversation(connector_id=conn.id, contact_id=c.id, identity_id=i.id, thread_key=address,
                                token=f"t-{key}", subject=subject, status=status)
            s.add(conv)
            s.flush()
            s.add(Message(conversation_id=conv.id, connector_id=conn.id, direction="inbound", text=text,
                          external_id=f"m-{key}", sent_at=now()))
            ids[key] = conv.id
    return ids


def _api(hub, q, status="all"):
    resp = hub.api("GET", f"/api/v1/conversations?status={status}&q={quote(q)}")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return sorted(item["id"] for item in resp.get_json()["items"])


def _inbox(hub, q, status="all"):
    f = {k: "" for k in FILTERS}
    f.update(status=status, q=q)
    with hub.rt.db.read() as s:
        return sorted(c.id for c in query_conversations(s, f, user_id=0)[0])


@pytest.mark.parametrize("q,expected", [
    ("Dora", ["dora"]),                      # contact name
    ("EMIL.STONE@example", ["emil"]),        # contact email, any case
    ("+1 (555) 010-0199", ["dora"]),         # phone number as typed by a person
    ("0100199", ["dora"]),                   # part of a phone number
    ("refund", ["dora"]),                    # subject
    ("2fa code", ["emil"]),                  # message text
    ("50%", ["fay"]),                        # a % is text, not a wildcard
    ("the_under", ["fay"]),
    ("e_o", []),                             # an _ is text, not a wildcard
    ("nobody-matches-this", []),
])
def test_inbox_and_api_search_find_the_same_conversations(hub, q, expected):
    ids = _seed(hub)
    want = sorted(ids[k] for k in expected)
    assert _api(hub, q) == want
    assert _inbox(hub, q) == want


def test_status_all_in_the_api(hub):
    ids = _seed(hub)
    assert _api(hub, "", status="all") == sorted(ids.values())
    assert _api(hub, "", status="resolved") == [ids["emil"]]
    # without a status the API lists every status, as before
    resp = hub.api("GET", "/api/v1/conversations")
    assert sorted(i["id"] for i in resp.get_json()["items"]) == sorted(ids.values())
    spec = hub.api("GET", "/api/v1/openapi.json").get_json()
    params = {p["name"]: p for p in spec["paths"]["/api/v1/conversations"]["get"]["parameters"]}
    assert "all" in params["status"]["schema"]["enum"]
