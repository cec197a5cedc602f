"""An agent's rich-text reply from Help Scout or Zammad reaches the customer as plain text
without its CSS or script (one HTML-to-text conversion: normalizers/htmltext.py).

End to end through the real hub: api channel -> ticket on the vendor's local
contract-checking server -> signed agent-reply webhook -> the worker -> the api channel's
signed callback (what the customer's channel receives)."""

from __future__ import annotations

import json

import pytest
from werkzeug import Response

from hub import signing
from hub.models import Delivery, HelpdeskLink
from tests.outbound import test_helpscout, test_zammad
from tests.outbound.saas_support import config_for, start_fake
from tests.support.hub import wait_until

API_SECRET = "api-secret"
STYLED = (
    "<html><head><style>p{color:red} .x{font-weight:bold}</style><title>Re: stuck</title></head>"
    "<body><script>alert('x')</script><p class=x>Hi Alice,</p><p>Your withdrawal was released&nbsp;&amp; "
    "is on its way.</p><!-- tracking pixel --><ul><li>Network: ERC-20</li></ul></body></html>"
)
EXPECTED = "Hi Alice,\n\nYour withdrawal was released & is on its way.\n\n- Network: ERC-20"


def helpscout_webhook(ticket_ref: str) -> tuple[bytes, dict[str, str]]:
    thread = {**test_helpscout.AGENT, "id": 901, "body": STYLED}
    body = json.loads(test_helpscout.convo(thread))
    body["id"] = int(ticket_ref)
    raw = json.dumps(body).encode()
    return raw, test_helpscout.signed(raw, "convo.agent.reply.created")


def zammad_webhook(ticket_ref: str) -> tuple[bytes, dict[str, str]]:
    body = json.loads(test_zammad.trigger(901, STYLED))
    body["ticket"]["id"] = body["article"]["ticket_id"] = int(ticket_ref)
    raw = json.dumps(body).encode()
    return raw, test_zammad.signed(raw)


@pytest.mark.parametrize("kind, webhook", [("helpscout", helpscout_webhook), ("zammad", zammad_webhook)])
def test_styled_agent_reply_reaches_the_customer_without_css(make_hub, saas_servers, httpserver, kind, webhook):
    fake = start_fake(saas_servers, kind)
    received: list[dict] = []

    def callback(request):
        signing.verify(API_SECRET, request.get_data(), request.headers)
        received.append(json.loads(request.get_data()))
        return Response('{"ok": true}', status=200, content_type="application/json")

    httpserver.expect_request("/callback", method="POST").respond_with_handler(callback)
    h = make_hub()
    h.add_connector("desk", kind, **config_for(kind, fake.base_url))
    h.add_connector("web", "api", secret=API_SECRET, callback_url=httpserver.url_for("/callback"), helpdesk="desk")
    h.start_worker()
    body = json.dumps({"id": "m1", "from": {"id": "alice", "name": "Alice"}, "text": "My withdrawal is stuck"}).encode()
    resp = h.client.post("/webhooks/web/messages", data=body, headers={"Content-Type": "application/json", **signing.sign(API_SECRET, body)})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    wait_until(lambda: h.count(Delivery, Delivery.state == "delivered") == 1, timeout=20, message=f"ticket pushed to {kind}")
    [ticket_ref] = list(fake.tickets)
    assert h.count(HelpdeskLink, HelpdeskLink.external_ref == str(ticket_ref)) == 1

    raw, headers = webhook(str(ticket_ref))
    resp = h.client.post("/webhooks/desk/agent-reply", data=raw, headers={"Content-Type": "application/json", **headers})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    wait_until(lambda: received, timeout=20, message=f"{kind} agent reply on the customer's channel")
    text = received[0]["text"]
    assert text == EXPECTED
    for leaked in ("color:red", "font-weight", "alert(", "Re: stuck", "tracking pixel", "<"):
        assert leaked not in text
    assert fake.violations == []
