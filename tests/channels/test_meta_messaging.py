"""messenger and instagram channels: the adapters against the local Graph API
(tests/support/graph_api.py, Messenger Platform samples in tests/support/meta_samples.py),
and a round trip of both through the running hub (one worker)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from channels.instagram import InstagramChannel, InstagramConfig
from channels.messenger import MessengerChannel, MessengerConfig
from channels.meta import graph
from hub.errors import AuthError, PermanentDeliveryError, RecipientRefused, SignatureInvalid
from hub.models import InboundEvent, Message
from hub.types import BlobRef, CaseInsensitiveDict, ConnectorContext, OutboundReply, WebhookRequest
from normalizers.model import Participant
from tests.support import meta_samples as ms
from tests.support.graph_api import GraphApi
from tests.support.hub import wait_until

SECRET = "meta-app-secret"
VERIFY = "meta-verify-token"


@pytest.fixture
def api(httpserver):
    api = GraphApi(httpserver)
    yield api
    assert api.violations == []


def messenger(api: GraphApi) -> MessengerChannel:
    cfg = MessengerConfig(page_id=ms.PAGE_ID, page_access_token=api.token, app_secret=SECRET, verify_token=VERIFY, api_base_url=api.base_url)
    return MessengerChannel(ConnectorContext(name="acme-fb", kind="messenger", config=cfg))


def instagram(api: GraphApi) -> InstagramChannel:
    cfg = InstagramConfig(ig_user_id=ms.IG_USER_ID, access_token=api.token, app_secret=SECRET, verify_token=VERIFY, api_base_url=api.base_url)
    return InstagramChannel(ConnectorContext(name="acme-ig", kind="instagram", config=cfg))


def normalized(adapter, payload: dict) -> list:
    body = json.dumps(payload).encode()
    req = WebhookRequest(method="POST", url=adapter.ctx.webhook_url("events"), path="/", body=body,
                         headers=CaseInsensitiveDict({graph.SIGNATURE_HEADER: graph.sign(SECRET, body)}))
    adapter.verify("events", req)
    return [m for ev in adapter.parse("events", req) for m in adapter.normalize(ev)]


def test_messenger_inbound_kinds_echoes_and_deliveries(api):
    fb = messenger(api)
    (msg,) = normalized(fb, ms.m_text())
    assert (msg.text, msg.medium, msg.sender.address, msg.sender.name) == ("This is a text message", "messenger", f"messenger:{ms.PSID}", "Peter Chang")
    assert msg.thread_key == f"acme-fb:messenger:{ms.PSID}>{ms.PAGE_ID}"
    assert normalized(fb, ms.M_ECHO) == []  # the page's own message: not a customer message
    (d1, d2) = normalized(fb, ms.m_delivery("m_ours0001", "m_ours0002"))
    assert (d1.kind, d1.in_reply_to, d1.status.status, d2.in_reply_to) == ("status", "m_ours0001", "delivered", "m_ours0002")
    (reaction,) = normalized(fb, ms.M_REACTION)
    assert reaction.text == "[Reacted \u2764\ufe0f to a message]" and reaction.in_reply_to == "m_ours0001"
    (postback,) = normalized(fb, ms.M_POSTBACK)
    assert postback.text == "Talk to an agent"
    (image,) = normalized(fb, ms.m_image(api.cdn_url("photo.jpg", b"\xff\xd8 photo", "image/jpeg")))
    assert image.attachments[0].content_type == "image/jpeg"
    assert fb.fetch_attachment(image.attachments[0], 1024) == b"\xff\xd8 photo"  # no token sent to the CDN
    assert len(api.called("GET", f"/v24.0/{ms.PSID}")) == 1  # the profile is fetched once, then cached


def test_instagram_story_mentions_replies_unsends_and_seen(api):
    ig = instagram(api)
    (mention,) = normalized(ig, ms.IG_STORY_MENTION)
    assert mention.text.startswith("[Mentioned you in their story") and mention.sender.name == "Peter Chang"
    assert mention.extra["username"] == "peter_chang_live"
    (reply,) = normalized(ig, ms.IG_STORY_REPLY)
    assert reply.text.startswith("[Replied to your story:") and reply.text.endswith("Love this!")
    (unsend,) = normalized(ig, ms.IG_UNSEND)
    assert unsend.kind == "delete" and unsend.in_reply_to == "aWdfZAG1faXRlbTpzdG9yeXJlcGx5"
    (seen,) = normalized(ig, ms.ig_seen("m_ours0003"))
    assert (seen.kind, seen.status.status, seen.in_reply_to) == ("status", "read", "m_ours0003")


def test_signature_and_handshake_are_shared(api):
    for adapter in (messenger(api), instagram(api)):
        body = json.dumps(ms.m_text()).encode()
        with pytest.raises(SignatureInvalid):
            adapter.verify("events", WebhookRequest(method="POST", url="u", path="/", body=body,
                                                    headers=CaseInsensitiveDict({graph.SIGNATURE_HEADER: graph.sign("other", body)})))
        get = WebhookRequest(method="GET", url="u", path="/", body=b"", headers=CaseInsensitiveDict({}),
                             args=(("hub.mode", "subscribe"), ("hub.verify_token", VERIFY), ("hub.challenge", "42")))
        adapter.verify("events", get)
        assert adapter.ack("events", get, []).body == b"42"


def out(kind: str, to: str, text: str, hours: float = 1, **kw) -> OutboundReply:
    return OutboundReply(id=3, conversation_id=1, connector="c", to=Participant(medium=kind, address=f"{kind}:{to}"), thread_key="k",
                         text=text, last_inbound_at=datetime.now(UTC) - timedelta(hours=hours), **kw)


def test_send_api_text_split_tags_files_and_errors(api):
    fb, ig = messenger(api), instagram(api)
    fb.send(out("messenger", ms.PSID, "a" * 2500))
    calls = api.called("POST", f"/v24.0/{ms.PAGE_ID}/messages")
    assert [len(c["message"]["text"]) for c in calls] == [2000, 500] and calls[0]["messaging_type"] == "RESPONSE"
    fb.send(out("messenger", ms.PSID, "still there?", hours=30))  # past 24 hours: the HUMAN_AGENT tag
    assert api.called("POST", f"/v24.0/{ms.PAGE_ID}/messages")[-1] | {} == {
        "recipient": {"id": ms.PSID}, "messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT", "message": {"text": "still there?"}}
    with pytest.raises(PermanentDeliveryError, match="7 days"):
        fb.send(out("messenger", ms.PSID, "too late", hours=24 * 8))
    pdf = BlobRef("invoice.pdf", "application/pdf", 3, "0" * 64)
    result = ig.send(out("instagram", ms.IGSID, "b" * 1200, attachments=(pdf,), options={"media_urls": ["https://hub.example.com/media/1?sig=x"]}))
    calls = api.called("POST", f"/v24.0/{ms.IG_USER_ID}/messages")
    assert [len(c["message"].get("text", "")) for c in calls[:2]] == [1000, 200]
    assert calls[2]["message"]["attachment"] == {"type": "file", "payload": {"url": "https://hub.example.com/media/1?sig=x", "is_reusable": False}}
    assert result.external_id.startswith("m_SENT") and len(result.parts) == 2
    # https://developers.facebook.com/docs/messenger-platform/error-codes (551: this person isn't available right now)
    api.fail_next("/messages", 400, {"error": {"message": "(#551) This person isn't available right now.", "type": "OAuthException",
                                               "code": 551, "error_subcode": 1545041, "fbtrace_id": "A1b2C3"}})
    with pytest.raises(RecipientRefused, match="isn't available"):
        fb.send(out("messenger", ms.PSID, "hello"))
    api.fail_next("/messages", 400, ms.TOKEN_EXPIRED)
    with pytest.raises(AuthError, match="expired or was revoked"):
        fb.send(out("messenger", ms.PSID, "hello"))


def test_check_names_page_and_account(api):
    assert messenger(api).check().summary == "connected to Jasper's Market; the token does not expire"
    assert instagram(api).check().summary == "connected to Jasper's Market (@jaspersmarket); the token does not expire"
    expired = {"data": {**ms.DEBUG_TOKEN["data"], "expires_at": 1700000000, "is_valid": False}}
    api.fail_next("/debug_token", 200, expired)
    bad = messenger(api).check()
    assert not bad.ok and bad.summary.endswith("the token is no longer valid")


def test_round_trip_of_each_through_the_hub(hub, api):
    hub.add_connector("acme-fb", "messenger", page_id=ms.PAGE_ID, page_access_token=api.token, app_secret=SECRET,
                      verify_token=VERIFY, api_base_url=api.base_url)
    hub.add_connector("acme-ig", "instagram", ig_user_id=ms.IG_USER_ID, access_token=api.token, app_secret=SECRET,
                      verify_token=VERIFY, api_base_url=api.base_url)
    flows = [("acme-fb", ms.PAGE_ID, ms.PSID, "page"), ("acme-ig", ms.IG_USER_ID, ms.IGSID, "instagram")]

    def post(name: str, payload: dict, secret: str = SECRET):
        body = json.dumps(payload).encode()
        return hub.client.post(f"/webhooks/{name}/events", data=body,
                               headers={"Content-Type": "application/json", graph.SIGNATURE_HEADER: graph.sign(secret, body)})

    for n, (name, our_id, customer, obj) in enumerate(flows):
        delivery = ms.m_text(f"m_in000{n}", "Where is my refund?", obj=obj, our_id=our_id, customer=customer)
        assert post(name, delivery, "forged").status_code == 403
        assert post(name, delivery).status_code == 200 and post(name, delivery).status_code == 200  # retried by Meta: one event
    assert hub.count(InboundEvent) == 2
    hub.start_worker()
    convs = wait_until(lambda: len(items := hub.api("GET", "/api/v1/conversations").get_json()["items"]) == 2 and items, message="conversations")
    by_connector = {c["connector"]: c for c in convs}
    for name, our_id, customer, obj in flows:
        conv = by_connector[name]
        assert conv["customer"]["display_name"] == "Peter Chang"  # from the profile API
        rid = hub.api("POST", f"/api/v1/conversations/{conv['id']}/replies", json={"text": "Checking your refund now."}).get_json()["id"]
        sent = wait_until(lambda rid=rid: (r := hub.api("GET", f"/api/v1/replies/{rid}").get_json())["state"] == "sent" and r, message="sent")
        (call,) = api.called("POST", f"/v24.0/{our_id}/messages")
        assert call["recipient"] == {"id": customer} and call["messaging_type"] == "RESPONSE"
        assert "Checking your refund now." in call["message"]["text"]
        # Meta echoes our message back (ignored) and reports it delivered
        echo = ms.messaging(obj, our_id, {"sender": {"id": our_id}, "recipient": {"id": customer},
                                          "message": {"mid": sent["external_id"], "text": call["message"]["text"], "is_echo": True}})
        assert post(name, echo).status_code == 200
        assert post(name, ms.m_delivery(sent["external_id"], obj=obj, our_id=our_id, customer=customer)).status_code == 200
        wait_until(lambda rid=rid: hub.api("GET", f"/api/v1/replies/{rid}").get_json()["state"] == "delivered", message="delivered")
    hub.wait_idle(settle=0.3)
    assert hub.count(Message) == 2  # the echoes are not customer messages
    hub.kill("worker")  # all work is done and committed; a SIGTERM sometimes waits out its 10 s grace
