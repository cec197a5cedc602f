"""Meta channels, what the agent sees beyond plain messages (#19 follow-up): reactions shown on
the message they react to, edits and deletions applied to the stored message, referrals (ads,
links) shown with the message, Messenger read / delivery watermarks, failures a retry cannot
fix shown without "Retry" and with what to do instead, and a file that cannot be downloaded
kept as a placeholder. Payloads follow Meta's webhook references (tests/support/meta_samples.py
notes the page of each); the Graph API is the local contract server (tests/support/graph_api.py)."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import select

from channels.instagram import InstagramChannel, InstagramConfig
from channels.messenger import MessengerChannel, MessengerConfig
from channels.meta import graph
from channels.whatsapp import WhatsAppChannel, WhatsAppConfig
from hub.errors import AuthError, RecipientRefused, WindowClosed
from hub.models import Connector, InboundEvent, Message
from hub.types import CaseInsensitiveDict, ConnectorContext, WebhookRequest
from tests.support import meta_samples as ms
from tests.support.graph_api import GraphApi
from tests.support.hub import wait_until
from tests.web.conftest import AGENT, add_users

SECRET = "meta-app-secret"
VERIFY = "meta-verify-token"


@pytest.fixture
def api(httpserver):
    api = GraphApi(httpserver)
    yield api
    assert api.violations == []


def adapters(api: GraphApi):
    wa = WhatsAppChannel(ConnectorContext(name="acme-wa", kind="whatsapp", config=WhatsAppConfig(
        access_token=api.token, app_secret=SECRET, verify_token=VERIFY, phone_number_id=ms.PHONE_NUMBER_ID, api_base_url=api.base_url)))
    fb = MessengerChannel(ConnectorContext(name="acme-fb", kind="messenger", config=MessengerConfig(
        page_id=ms.PAGE_ID, page_access_token=api.token, app_secret=SECRET, verify_token=VERIFY, api_base_url=api.base_url)))
    ig = InstagramChannel(ConnectorContext(name="acme-ig", kind="instagram", config=InstagramConfig(
        ig_user_id=ms.IG_USER_ID, access_token=api.token, app_secret=SECRET, verify_token=VERIFY, api_base_url=api.base_url)))
    return wa, fb, ig


def normalized(adapter, payload: dict) -> list:
    body = json.dumps(payload).encode()
    req = WebhookRequest(method="POST", url="u", path="/", body=body,
                         headers=CaseInsensitiveDict({graph.SIGNATURE_HEADER: graph.sign(SECRET, body)}))
    adapter.verify("events", req)
    return [m for ev in adapter.parse("events", req) for m in adapter.normalize(ev)]


# ------------------------------------------------------------------ the normalizers
def test_whatsapp_reactions_edits_revokes_and_ad_referrals(api):
    wa, _, _ = adapters(api)
    (r,) = normalized(wa, ms.wa_reaction(ms.WAMID, "\U0001f44d", "wamid.R1"))
    assert (r.reaction.emoji, r.in_reply_to, r.kind) == ("\U0001f44d", ms.WAMID, "message")
    assert r.text == "[Reacted \U0001f44d to a message]"  # the placeholder, used only when the target is unknown
    (gone,) = normalized(wa, ms.wa_reaction(ms.WAMID, None, "wamid.R2"))  # removed: no emoji field
    assert gone.reaction.emoji == "" and gone.in_reply_to == ms.WAMID
    (edit,) = normalized(wa, ms.wa_edit(ms.WAMID, "Does it come in blue?", "wamid.E1"))
    assert (edit.kind, edit.in_reply_to, edit.text, edit.external_id) == ("edit", ms.WAMID, "Does it come in blue?", "wamid.E1")
    (revoke,) = normalized(wa, ms.wa_revoke(ms.WAMID, "wamid.D1"))
    assert (revoke.kind, revoke.in_reply_to) == ("delete", ms.WAMID)
    (ad,) = normalized(wa, ms.CTWA_TEXT)
    assert ad.text == "Is the sale still on?"  # the customer's words stay their words
    assert (ad.referral.source, ad.referral.headline, ad.referral.url) == ("ad", "Spring sale at Jasper's Market", "https://fb.me/3cr4Wqqkv")
    assert ad.referral.label.startswith("Came from an ad: \u201cSpring sale at Jasper's Market\u201d")


def test_messenger_unreacts_edits_watermarks_and_referrals(api):
    _, fb, ig = adapters(api)
    (love,) = normalized(fb, ms.m_reaction("m_ours0001", "\u2764\ufe0f"))
    assert love.reaction.emoji == "\u2764\ufe0f" and love.in_reply_to == "m_ours0001"
    (unreact,) = normalized(fb, ms.m_reaction("m_ours0001", "\u2764\ufe0f", "unreact"))
    assert unreact.reaction.emoji == "" and unreact.external_id != love.external_id
    (edit,) = normalized(fb, ms.m_edit("m_in0001", "Where is my refund? Order 1234", 2))
    assert (edit.kind, edit.in_reply_to, edit.text) == ("edit", "m_in0001", "Where is my refund? Order 1234")
    watermark = int(time.time() * 1000)
    (read,) = normalized(fb, ms.m_read(watermark))
    assert (read.kind, read.status.status, read.status.watermark, read.in_reply_to) == ("status", "read", True, None)
    assert int(read.sent_at.timestamp() * 1000) == watermark
    (delivered,) = normalized(fb, ms.m_delivered_up_to(watermark))
    assert delivered.status.status == "delivered" and delivered.status.watermark
    (back,) = normalized(fb, ms.M_AD_REFERRAL)  # back in the thread through an ad, nothing written yet
    assert back.referral.source == "ad" and back.referral.ad_id == "6045246247433" and back.referral.ref == "spring-sale"
    assert back.text == f"[{back.referral.label}]" and "Spring sale" in back.text
    (link,) = normalized(fb, ms.M_LINK_REFERRAL)
    assert link.referral.source == "link" and "ref order-1234" in link.referral.label
    (first,) = normalized(fb, ms.M_TEXT_FROM_AD)
    assert first.text == "Hi, is this still available?" and first.referral.headline == "Spring sale at Jasper's Market"
    (unsend,) = normalized(ig, ms.ig_unsend("aWdfZAG1faXRlbTpzdG9yeXJlcGx5"))
    assert unsend.kind == "delete"
    (story,) = normalized(ig, ms.IG_STORY_REPLY)
    assert story.text == "[Replied to your story: https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=2]\nLove this!"
    assert (story.referral.source, story.referral.url) == ("story_reply", "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=2")
    (mention,) = normalized(ig, ms.IG_STORY_MENTION)
    assert mention.text.startswith("[Mentioned you in their story: https://") and mention.referral.source == "story_mention"
    (ig_edit,) = normalized(ig, ms.m_edit("aWdfZAG1faXRlbTpzdG9yeXJlcGx5", "Love this so much!", obj="instagram", our_id=ms.IG_USER_ID,
                                          customer=ms.IGSID))
    assert (ig_edit.kind, ig_edit.in_reply_to, ig_edit.medium) == ("edit", "aWdfZAG1faXRlbTpzdG9yeXJlcGx5", "instagram")


def test_errors_a_retry_cannot_fix_carry_what_to_do_instead(api):
    wa, fb, _ = adapters(api)
    from datetime import UTC, datetime, timedelta

    from hub.types import OutboundReply
    from normalizers.model import Participant

    def out(kind: str, to: str, hours: float = 1) -> OutboundReply:
        return OutboundReply(id=9, conversation_id=1, connector="c", to=Participant(medium=kind, address=f"{kind}:{to}"), thread_key="k",
                             text="hello", last_inbound_at=datetime.now(UTC) - timedelta(hours=hours))

    # Messenger answers a message outside the window with code 10 (a permission code) and
    # subcode 2018278: a closed window, not a bad token
    api.fail_next("/messages", 400, ms.OUTSIDE_WINDOW)
    with pytest.raises(WindowClosed) as caught:
        fb.send(out("messenger", ms.PSID))
    assert not isinstance(caught.value, AuthError) and "wait for the customer to write again" in caught.value.advice
    with pytest.raises(WindowClosed, match="7 days"):
        fb.send(out("messenger", ms.PSID, hours=24 * 8))
    # WhatsApp: the hub's own window check and Meta's 131047 both say "send a template"
    with pytest.raises(WindowClosed) as caught:
        wa.send(out("whatsapp", "+" + ms.WA_ID, hours=30))
    assert "template" in caught.value.advice
    api.fail_next("/messages", 400, {"error": {"message": "(#131047) Re-engagement message", "type": "OAuthException", "code": 131047,
                                               "error_data": {"messaging_product": "whatsapp", "details": "Message failed to send because more than 24 hours have passed since the customer last replied to this number."},
                                               "fbtrace_id": "A1"}})
    with pytest.raises(WindowClosed, match="Re-engagement"):
        wa.send(out("whatsapp", "+" + ms.WA_ID))
    api.fail_next("/messages", 400, {"error": {"message": "(#131026) Message undeliverable", "type": "OAuthException", "code": 131026, "fbtrace_id": "A2"}})
    with pytest.raises(RecipientRefused) as refused:
        wa.send(out("whatsapp", "+" + ms.WA_ID))
    assert "another channel" in refused.value.advice
    (failed,) = normalized(wa, ms.status("wamid.SENT0001", "failed", errors=ms.RE_ENGAGEMENT))
    assert "template" in failed.status.permanent
    (undeliverable,) = normalized(wa, ms.status("wamid.SENT0002", "failed", errors=ms.UNDELIVERABLE))
    assert "another channel" in undeliverable.status.permanent
    (delivered,) = normalized(wa, ms.status("wamid.SENT0003", "delivered"))
    assert delivered.status.permanent == ""


# ------------------------------------------------------------------ through the running hub
def _post(hub, name: str, payload: dict) -> None:
    body = json.dumps(payload).encode()
    resp = hub.client.post(f"/webhooks/{name}/events", data=body,
                           headers={"Content-Type": "application/json", graph.SIGNATURE_HEADER: graph.sign(SECRET, body)})
    assert resp.status_code == 200, resp.get_data(as_text=True)


def _conv(hub, conv_id: int) -> dict:
    return hub.api("GET", f"/api/v1/conversations/{conv_id}").get_json()


def _reply(hub, conv_id: int, text: str) -> dict:
    rid = hub.api("POST", f"/api/v1/conversations/{conv_id}/replies", json={"text": text}).get_json()["id"]
    return wait_until(lambda: (r := hub.api("GET", f"/api/v1/replies/{rid}").get_json())["state"] not in ("pending", "sending") and r,
                      message=f"reply {text!r} settled")


def _inbox_html(hub, conv_id: int) -> str:
    import re

    c = hub.app.test_client()
    html = c.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    assert c.post("/login", data={"email": AGENT[0], "password": AGENT[1], "csrf_token": token}).status_code == 302
    resp = c.get(f"/inbox/c/{conv_id}")
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


def test_whatsapp_through_the_hub(hub, api):
    add_users(hub)
    hub.add_connector("acme-wa", "whatsapp", access_token=api.token, app_secret=SECRET, verify_token=VERIFY,
                      phone_number_id=ms.PHONE_NUMBER_ID, waba_id=ms.WABA_ID, api_base_url=api.base_url)
    hub.start_worker()
    _post(hub, "acme-wa", ms.inbound(ms.CTWA_TEXT))
    _post(hub, "acme-wa", ms.inbound(ms.TEXT, text="Does it come in another color?"))
    (conv,) = wait_until(lambda: hub.api("GET", "/api/v1/conversations").get_json()["items"], timeout=90,
                         message="conversation (the worker may take a while to start on a busy machine)")
    msgs = wait_until(lambda: len(m := _conv(hub, conv["id"])["messages"]) == 2 and m, message="two messages")
    assert msgs[0]["referral"]["source"] == "ad" and "Spring sale" in msgs[0]["referral"]["label"] and msgs[1]["referral"] is None

    # the customer edits, then deletes their message: the stored message changes, no new one
    from hub.web.streams import change_marks, changed_conversations

    with hub.rt.db.read() as s:
        marks = change_marks(s)
    _post(hub, "acme-wa", ms.wa_edit(ms.WAMID, "Does it come in blue?", "wamid.EDIT1"))
    wait_until(lambda: _conv(hub, conv["id"])["messages"][1]["text"] == "Does it come in blue?", message="edited")
    assert _conv(hub, conv["id"])["messages"][1]["edited"] is True
    with hub.rt.db.read() as s:  # the open inbox is told: its live stream sees the conversation changed
        assert change_marks(s) != marks and conv["id"] in changed_conversations(s, marks)

    sent = _reply(hub, conv["id"], "Yes, in blue and black.")
    assert sent["state"] == "sent"
    # the customer reacts to our reply, changes the reaction, then takes it back
    _post(hub, "acme-wa", ms.wa_reaction(sent["external_id"], "\U0001f44d", "wamid.REACT1"))
    wait_until(lambda: _conv(hub, conv["id"])["replies"][0]["reactions"], message="reaction shown")
    (shown,) = _conv(hub, conv["id"])["replies"][0]["reactions"]
    assert (shown["emoji"], shown["by"], shown["name"]) == ("\U0001f44d", "whatsapp:+16505551234", "Sheena Nelson")
    html = _inbox_html(hub, conv["id"])
    assert '<span class="reaction" title="Sheena Nelson">\U0001f44d</span>' in html
    assert "Came from an ad: \u201cSpring sale at Jasper&#39;s Market\u201d" in html
    _post(hub, "acme-wa", ms.wa_reaction(sent["external_id"], "\u2764\ufe0f", "wamid.REACT2"))
    wait_until(lambda: [r["emoji"] for r in _conv(hub, conv["id"])["replies"][0]["reactions"]] == ["\u2764\ufe0f"], message="changed")
    _post(hub, "acme-wa", ms.wa_reaction(sent["external_id"], None, "wamid.REACT3"))
    wait_until(lambda: _conv(hub, conv["id"])["replies"][0]["reactions"] == [], message="reaction removed")
    # a reaction to a message the hub never saw stays visible as a placeholder message
    _post(hub, "acme-wa", ms.wa_reaction("wamid.UNKNOWN0001", "\U0001f602", "wamid.REACT4"))
    wait_until(lambda: any(m["text"] == "[Reacted \U0001f602 to a message]" for m in _conv(hub, conv["id"])["messages"]), message="placeholder")

    # another customer names Sheena's message: their edit and deletion change nothing, their
    # reaction is a placeholder in THEIR conversation, not in Sheena's
    carol = lambda payload: json.loads(json.dumps(payload).replace(ms.WA_ID, "33612345678").replace("Sheena Nelson", "Carol"))  # noqa: E731
    _post(hub, "acme-wa", carol(ms.wa_edit(ms.WAMID, "carol was here", "wamid.FOREIGN1")))
    _post(hub, "acme-wa", carol(ms.wa_revoke(ms.WAMID, "wamid.FOREIGN2")))
    _post(hub, "acme-wa", carol(ms.wa_reaction(ms.WAMID, "\U0001f608", "wamid.FOREIGN3")))
    wait_until(lambda: hub.count(InboundEvent, InboundEvent.external_id.like("%FOREIGN%"), InboundEvent.state == "pending") == 0
               and hub.count(InboundEvent, InboundEvent.external_id.like("%FOREIGN%")) == 3, message="the foreign events settled")
    mine = _conv(hub, conv["id"])["messages"][1]
    assert (mine["text"], mine["deleted"], mine["reactions"]) == ("Does it come in blue?", False, [])
    assert not any("\U0001f608" in m["text"] for m in _conv(hub, conv["id"])["messages"])
    items = hub.api("GET", "/api/v1/conversations").get_json()["items"]
    (theirs,) = [c for c in items if c["id"] != conv["id"]]
    assert [m["text"] for m in _conv(hub, theirs["id"])["messages"]] == ["[Reacted \U0001f608 to a message]"]

    _post(hub, "acme-wa", ms.wa_revoke(ms.WAMID, "wamid.REVOKE1"))
    wait_until(lambda: _conv(hub, conv["id"])["messages"][1]["deleted"], message="deleted")
    # the agent still sees what it said before: the API's history and the timeline's earlier versions
    assert [(h["kind"], h["text"]) for h in _conv(hub, conv["id"])["messages"][1]["history"]] == [
        ("edit", "Does it come in another color?"), ("delete", "Does it come in blue?")]
    html = _inbox_html(hub, conv["id"])
    assert "Earlier versions (2)" in html and "before deletion" in html and "Does it come in blue?" in html
    assert hub.count(Message) == 4  # two messages and two placeholders; no message per reaction, edit or deletion

    # Meta fails a reply for a closed window, another for an undeliverable number: no Retry, what to do instead
    late = _reply(hub, conv["id"], "Anything else?")
    _post(hub, "acme-wa", ms.status(late["external_id"], "failed", errors=ms.RE_ENGAGEMENT))
    failed = wait_until(lambda: (r := hub.api("GET", f"/api/v1/replies/{late['id']}").get_json())["state"] == "failed" and r, message="failed")
    assert "send an approved WhatsApp message template" in failed["permanent"]
    refused = hub.api("POST", f"/api/v1/replies/{late['id']}/retry")  # a retry cannot fix it: refused, saying why
    assert refused.status_code == 409 and "template" in refused.get_json()["error"] and "force" in refused.get_json()["error"]
    other = _reply(hub, conv["id"], "Hello?")
    _post(hub, "acme-wa", ms.status(other["external_id"], "failed", errors=ms.UNDELIVERABLE))
    wait_until(lambda: "another channel" in (hub.api("GET", f"/api/v1/replies/{other['id']}").get_json()["permanent"] or ""), message="undeliverable")
    # states move forward only: a late "delivered" does not lift a failure, a late failure does not undo "read"
    _post(hub, "acme-wa", ms.status(late["external_id"], "delivered"))
    _post(hub, "acme-wa", ms.status(sent["external_id"], "read"))
    wait_until(lambda: hub.api("GET", f"/api/v1/replies/{sent['id']}").get_json()["state"] == "read", message="read")
    _post(hub, "acme-wa", ms.status(sent["external_id"], "failed", errors=ms.RE_ENGAGEMENT))
    hub.wait_idle(settle=0.3)
    assert hub.api("GET", f"/api/v1/replies/{late['id']}").get_json()["state"] == "failed"
    assert hub.api("GET", f"/api/v1/replies/{sent['id']}").get_json()["state"] == "read"
    html = _inbox_html(hub, conv["id"])
    assert 'data-retry="' not in html  # neither failure offers Retry
    assert "Not retried: the 24-hour window closed" in html and "reach the customer on another channel" in html
    hub.wait_idle(settle=0.3)
    hub.kill("worker")


def test_messenger_and_instagram_through_the_hub(make_hub, db_url, api):
    hub = make_hub(database_url=db_url)  # SQLite and PostgreSQL: the watermark query, the JSON columns
    hub.add_connector("acme-fb", "messenger", page_id=ms.PAGE_ID, page_access_token=api.token, app_secret=SECRET,
                      verify_token=VERIFY, api_base_url=api.base_url)
    hub.add_connector("acme-ig", "instagram", ig_user_id=ms.IG_USER_ID, access_token=api.token, app_secret=SECRET,
                      verify_token=VERIFY, api_base_url=api.base_url)
    hub.start_worker()
    hub.start_poller()  # its sweeper hands the worker the events due for another attempt
    _post(hub, "acme-fb", ms.M_TEXT_FROM_AD)
    (conv,) = wait_until(lambda: hub.api("GET", "/api/v1/conversations").get_json()["items"], timeout=90,
                         message="conversation (the worker may take a while to start on a busy machine)")
    (first,) = wait_until(lambda: _conv(hub, conv["id"])["messages"], message="message")
    assert first["referral"]["ad_id"] == "6045246247433" and "Spring sale" in first["referral"]["label"]

    # the customer edits their message (message_edits): the stored message changes
    _post(hub, "acme-fb", ms.m_edit("m_fromad000000000000000001", "Hi, is the blue one still available?"))
    wait_until(lambda: _conv(hub, conv["id"])["messages"][0]["text"] == "Hi, is the blue one still available?", message="edited")

    # two replies; Meta reports delivery and read by watermark only: both follow
    one, two = _reply(hub, conv["id"], "Yes it is."), _reply(hub, conv["id"], "Shall I reserve it?")
    assert one["state"] == two["state"] == "sent"
    watermark = int(time.time() * 1000) + 1000
    _post(hub, "acme-fb", ms.m_delivered_up_to(watermark))
    wait_until(lambda: [r["state"] for r in _conv(hub, conv["id"])["replies"]] == ["delivered", "delivered"], message="delivered")
    _post(hub, "acme-fb", ms.m_read(watermark))
    wait_until(lambda: [r["state"] for r in _conv(hub, conv["id"])["replies"]] == ["read", "read"], message="read")

    # a reaction to our reply (and to the second part of nothing else): on the reply; unreact removes it
    _post(hub, "acme-fb", ms.m_reaction(one["external_id"], "\u2764\ufe0f"))
    wait_until(lambda: [r["emoji"] for r in _conv(hub, conv["id"])["replies"][0]["reactions"]] == ["\u2764\ufe0f"], message="reaction")
    _post(hub, "acme-fb", ms.m_reaction(one["external_id"], "\u2764\ufe0f", "unreact"))
    wait_until(lambda: _conv(hub, conv["id"])["replies"][0]["reactions"] == [], message="unreact")

    # back through an ad later without writing: visible in the conversation
    _post(hub, "acme-fb", ms.M_AD_REFERRAL)
    wait_until(lambda: any((m["referral"] or {}).get("ref") == "spring-sale" and m["text"].startswith("[Came from an ad")
                           for m in _conv(hub, conv["id"])["messages"]), message="referral")

    # outside the window: dead with what to do, no Retry, and the connector is NOT marked as having a bad token
    api.fail_next("/messages", 400, ms.OUTSIDE_WINDOW)
    late = _reply(hub, conv["id"], "Are you still there?")
    assert late["state"] == "dead" and "wait for the customer to write again" in late["permanent"]
    with hub.rt.db.read() as s:
        assert not (s.scalar(select(Connector.health).where(Connector.name == "acme-fb")) or {}).get("auth_failed")

    # files that cannot be downloaded: a 404 at once, an unreachable CDN after its retries: placeholders, never stuck
    api.cdn_down.add("gone.jpg")
    _post(hub, "acme-fb", ms.m_image(api.server.url_for("/cdn/missing.jpg"), mid="m_attach404"))
    _post(hub, "acme-fb", ms.m_image(api.server.url_for("/cdn/gone.jpg"), mid="m_attach503"))
    placeholders = wait_until(lambda: [a for m in _conv(hub, conv["id"])["messages"] for a in m["attachments"] if a["placeholder_reason"]]
                              if len([m for m in _conv(hub, conv["id"])["messages"] if m["attachments"]]) == 2 else None,
                              timeout=60, message="both files kept as placeholders")
    reasons = sorted((a["placeholder_reason"] for a in placeholders), key=lambda r: "404" in r)
    assert len(reasons) == 2 and "HTTP 404" in reasons[1] and "after 3 attempts" in reasons[0] and "HTTP 503" in reasons[0], reasons
    with hub.rt.db.read() as s:
        assert s.scalar(select(InboundEvent.state).where(InboundEvent.external_id == "m_attach503")) == "processed"

    # Instagram: the customer unsends a message; a story reply keeps its context
    _post(hub, "acme-ig", ms.IG_STORY_REPLY)
    ig_conv = wait_until(lambda: [c for c in hub.api("GET", "/api/v1/conversations").get_json()["items"] if c["connector"] == "acme-ig"],
                         message="instagram conversation")[0]
    (story,) = wait_until(lambda: _conv(hub, ig_conv["id"])["messages"], message="story reply")
    assert story["text"].startswith("[Replied to your story: https://lookaside.fbsbx.com/")
    assert story["referral"]["source"] == "story_reply" and story["referral"]["label"].startswith("Came from a reply to your story")
    _post(hub, "acme-ig", ms.ig_unsend("aWdfZAG1faXRlbTpzdG9yeXJlcGx5"))
    wait_until(lambda: _conv(hub, ig_conv["id"])["messages"][0]["deleted"], message="unsent")
    assert len(_conv(hub, ig_conv["id"])["messages"]) == 1
    hub.wait_idle(settle=0.3)
    hub.kill("worker")
    hub.kill("poller")
