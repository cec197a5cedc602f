"""Telegram through the running hub, against a local Bot API server that checks the request
contract (tests/support/telegram_api.py): webhook mode (secret token, duplicates, a round
trip with an edit and a photo, a blocked bot, a 429), polling mode (restart without gap or
repeat), check() registering the webhook."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from hub.models import Connector, Identity, InboundEvent, Message, Reply
from normalizers import telegram as tgn
from tests.support.hub import wait_until
from tests.support.telegram_api import BOT, TOKEN, TelegramApi, message_update, user

SECRET = "tg-secret_0123456789"
HEADER = "X-Telegram-Bot-Api-Secret-Token"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000") + b"\x00" * 40


@pytest.fixture
def tg():
    api = TelegramApi()
    yield api
    api.stop()
    assert api.violations == []


def post(hub, update: dict, secret: str | None = SECRET, name: str = "tg"):
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[HEADER] = secret
    return hub.client.post(f"/webhooks/{name}/updates", data=json.dumps(update), headers=headers)


def conversations(hub):
    return hub.api("GET", "/api/v1/conversations").get_json()["items"]


def reply_state(hub, rid: int, states=("sent", "dead", "failed")):
    return wait_until(lambda: (r := hub.api("GET", f"/api/v1/replies/{rid}").get_json())["state"] in states and r,
                      timeout=30, message=f"reply {rid} in {states}")


# --- normalizer (pure) ------------------------------------------------------------------------

def test_normalizer_keeps_links_formatting_media_and_start_payload():
    text = "Mi retiro 🚀 no llega, ver enlace"
    update = message_update(1, 10, text, entities=[
        {"type": "bold", "offset": 3, "length": 6},
        {"type": "text_link", "offset": 27, "length": 6, "url": "https://etherscan.io/tx/0xabc"},  # after a UTF-16 pair
    ])
    (msg,) = tgn.normalize(update, connector="tg", bot=BOT)
    assert msg.medium == "telegram" and msg.external_id == "111222333:10" and msg.thread_key == "111222333"
    assert msg.text.endswith("enlace (https://etherscan.io/tx/0xabc)")
    assert "<b>retiro</b>" in msg.html and '<a href="https://etherscan.io/tx/0xabc">enlace</a>' in msg.html
    assert msg.sender.name == "Marta García" and msg.sender.username == "marta_g"
    assert msg.extra["locale"] == "es"

    photo = message_update(2, 11, caption="screenshot", photo=[
        {"file_id": "small", "file_unique_id": "a", "width": 90, "height": 60, "file_size": 1200},
        {"file_id": "big", "file_unique_id": "b", "width": 1280, "height": 853, "file_size": 98000},
    ])
    (p,) = tgn.normalize(photo, connector="tg", bot=BOT)
    assert p.text == "screenshot" and [a.url for a in p.attachments] == ["tg-file:big"]

    (start,) = tgn.normalize(message_update(3, 12, "/start cust-48213"), connector="tg", bot=BOT)
    assert start.extra["start_payload"] == "cust-48213"

    (poll,) = tgn.normalize(message_update(4, 13, poll={"id": "1", "question": "Which coin?"}), connector="tg", bot=BOT)
    assert poll.text == "[Telegram poll: Which coin? — not shown here]"
    (loc,) = tgn.normalize(message_update(5, 14, location={"latitude": 41.38, "longitude": 2.17}), connector="tg", bot=BOT)
    assert loc.text.startswith("[location: 41.38, 2.17")


def test_normalizer_groups_only_when_the_bot_is_addressed():
    group = {"id": -1001234567890, "title": "Acme Community", "type": "supergroup"}
    chatter = message_update(1, 20, "gm everyone", chat=group)
    mention = message_update(2, 21, "@acme_support_bot my deposit is missing", chat=group,
                             entities=[{"type": "mention", "offset": 0, "length": 17}])
    reply = message_update(3, 22, "still nothing", chat=group, reply_to_message={"message_id": 9, "from": BOT, "chat": group, "date": 1})
    assert tgn.normalize(mention, connector="tg", bot=BOT, chats="private") == []  # groups are off by default
    assert tgn.normalize(chatter, connector="tg", bot=BOT, chats="private_and_groups") == []
    (m,) = tgn.normalize(mention, connector="tg", bot=BOT, chats="private_and_groups")
    (r,) = tgn.normalize(reply, connector="tg", bot=BOT, chats="private_and_groups")
    assert m.thread_key == r.thread_key == "-1001234567890:111222333"  # one conversation per customer in the group
    assert tgn.ignore_reason(message_update(4, 23, "hi", sender={**user(), "is_bot": True}), bot=BOT) == "message from a bot"
    blocked = {"update_id": 9, "my_chat_member": {"chat": {"id": 111222333, "type": "private"}, "from": user(), "date": 1700000000,
                                                  "old_chat_member": {"status": "member", "user": BOT},
                                                  "new_chat_member": {"status": "kicked", "user": BOT, "until_date": 0}}}
    (b,) = tgn.normalize(blocked, connector="tg", bot=BOT)
    assert b.kind == "status" and b.identity_update is not None and b.identity_update.opted_out is True


# --- webhook mode ------------------------------------------------------------------------------

@pytest.fixture
def tg_hub(hub, tg):
    hub.add_connector("tg", "telegram", bot_token=TOKEN, secret_token=SECRET, api_base_url=tg.base_url)
    return hub


def test_forged_or_missing_secret_token_is_refused_and_nothing_stored(tg_hub, make_hub, tg):
    update = message_update(900, 1, "send me your seed phrase")
    assert post(tg_hub, update, secret="wrong-secret").status_code == 403
    assert post(tg_hub, update, secret=None).status_code == 403
    assert post(tg_hub, update, secret=SECRET + "x").status_code == 403
    assert tg_hub.count(InboundEvent) == 0
    # no secret_token configured: fail closed even with an empty header
    tg_hub.add_connector("tg-open", "telegram", bot_token=TOKEN, api_base_url=tg.base_url)
    assert post(tg_hub, update, secret="", name="tg-open").status_code == 403
    # polling mode: webhook calls are not expected, so they are refused
    tg_hub.add_connector("tg-poll", "telegram", bot_token=TOKEN, secret_token=SECRET, mode="polling", api_base_url=tg.base_url)
    assert post(tg_hub, update, name="tg-poll").status_code == 403
    assert tg_hub.count(InboundEvent) == 0
    assert post(tg_hub, update).status_code == 200
    assert post(tg_hub, update).status_code == 200  # Telegram retried: the same update_id is stored once
    assert tg_hub.count(InboundEvent) == 1


def test_round_trip_with_photo_edit_quote_429_and_blocked_bot(tg_hub, tg):
    tg.add_file("big", "photos/file_7.jpg", PNG)
    tg_hub.start_worker()
    tg_hub.start_poller()  # its sweeper schedules retries (the 429 below)
    first = message_update(1001, 41, "Hola, mi depósito de 0.2 ETH no aparece",
                           photo=[{"file_id": "big", "file_unique_id": "q", "width": 1, "height": 1, "file_size": len(PNG)}])
    first["message"]["caption"] = first["message"].pop("text")
    assert post(tg_hub, first).status_code == 200
    assert post(tg_hub, message_update(1002, 42, "¿Alguien me ayuda?")).status_code == 200
    assert post(tg_hub, message_update(1002, 42, "¿Alguien me ayuda?")).status_code == 200  # duplicate delivery
    (conv,) = wait_until(lambda: conversations(tg_hub), message="conversation")
    full = wait_until(lambda: (c := tg_hub.api("GET", f"/api/v1/conversations/{conv['id']}").get_json())
                      and len(c["messages"]) == 2 and c, message="both messages")
    assert conv["medium"] == "telegram" and conv["customer"]["display_name"] == "Marta García"
    photo_msg = full["messages"][0]
    assert photo_msg["text"].startswith("Hola, mi depósito") and photo_msg["attachments"][0]["content_type"] == "image/jpeg"
    assert not photo_msg["attachments"][0].get("placeholder_reason")
    assert tg.called("getFile") == [{"file_id": "big"}]
    with tg_hub.rt.db.read() as s:
        ident = s.scalar(select(Identity).where(Identity.medium == "telegram"))
        assert ident.address == "111222333" and ident.attrs.get("username") == "marta_g"

    # the customer edits their second message: shown as an edit of the stored one
    assert post(tg_hub, message_update(1003, 42, "¿Alguien me ayuda? Es urgente", edited=True)).status_code == 200
    wait_until(lambda: tg_hub.api("GET", f"/api/v1/conversations/{conv['id']}").get_json()["messages"][1]["text"].endswith("urgente"),
               message="edit applied")
    with tg_hub.rt.db.read() as s:
        edited = s.scalar(select(Message).where(Message.external_id == "111222333:42"))
        assert edited.history and edited.history[0]["text"] == "¿Alguien me ayuda?"
    assert tg_hub.count(Message) == 2

    # an agent reply, first refused with 429 (retry_after 1): retried, then sent quoting the customer
    tg.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    resp = tg_hub.api("POST", f"/api/v1/conversations/{conv['id']}/replies", json={"text": "Hola Marta <3 & gracias: ¿nos das el tx hash?"})
    assert resp.status_code == 202, resp.get_data(as_text=True)
    reply = reply_state(tg_hub, resp.get_json()["id"])
    assert reply["state"] == "sent", reply
    sends = tg.called("sendMessage")
    assert len(sends) == 2  # the 429, then the retry
    last = sends[-1]
    assert last["chat_id"] == "111222333" and last["parse_mode"] == "HTML"
    assert "Hola Marta &lt;3 &amp; gracias" in last["text"]
    assert last["reply_parameters"]["message_id"] == 42
    assert reply["external_id"] == f"111222333:{tg.sent[-1]['result']['message_id']}"

    # the customer blocked the bot: the reply fails with that explanation, the contact is opted out
    tg.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
    resp = tg_hub.api("POST", f"/api/v1/conversations/{conv['id']}/replies", json={"text": "¿Sigues ahí?"})
    blocked = reply_state(tg_hub, resp.get_json()["id"], states=("dead", "failed"))
    assert "blocked the bot" in (blocked.get("last_error") or ""), blocked
    with tg_hub.rt.db.read() as s:
        ident = s.scalar(select(Identity).where(Identity.medium == "telegram"))
        assert ident.opted_out and "blocked" in (ident.opt_out_reason or "")
        assert s.scalar(select(Reply).where(Reply.id == blocked["id"])).status_detail.get("permanent")


def test_long_reply_is_split_below_4096_characters(tg_hub, tg):
    tg_hub.start_worker()
    assert post(tg_hub, message_update(2001, 51, "necesito ayuda")).status_code == 200
    (conv,) = wait_until(lambda: conversations(tg_hub), message="conversation")
    words = ("Paso a paso: abre la app, ve a Ajustes y pulsa Seguridad. " * 160).strip()
    resp = tg_hub.api("POST", f"/api/v1/conversations/{conv['id']}/replies", json={"text": words})
    reply = reply_state(tg_hub, resp.get_json()["id"])
    assert reply["state"] == "sent", reply
    sends = tg.called("sendMessage")
    assert len(sends) == 3 and all(len(sent["result"]["text"]) <= 4096 for sent in tg.sent)  # counted after parsing
    assert "reply_parameters" in sends[0] and "reply_parameters" not in sends[1]


def test_check_registers_the_webhook_with_secret_and_allowed_updates(make_hub, tg):
    hub = make_hub(public_url="https://support.example.com")
    hub.add_connector("tg", "telegram", bot_token=TOKEN, secret_token=SECRET, api_base_url=tg.base_url)
    result = hub.cli("connectors", "check", "tg")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "@acme_support_bot" in result.stdout
    (call,) = tg.called("setWebhook")
    assert call["url"] == "https://support.example.com/webhooks/tg/updates"
    assert call["secret_token"] == SECRET and call["allowed_updates"] == list(tgn.ALLOWED_UPDATES)
    assert TOKEN not in result.stdout + result.stderr

    plain = make_hub(public_url="http://127.0.0.1:8000")
    plain.add_connector("tg", "telegram", bot_token=TOKEN, secret_token=SECRET, api_base_url=tg.base_url)
    result = plain.api("POST", "/api/v1/connectors/tg/check").get_json()
    assert result["ok"] is False and "https" in result["summary"] and "polling" in result["summary"]

    tg.token = "1:other"  # the token was revoked
    result = hub.api("POST", "/api/v1/connectors/tg/check").get_json()
    assert result["ok"] is False and "@BotFather" in result["summary"]
    assert TOKEN not in json.dumps(result)


# --- polling mode ------------------------------------------------------------------------------

def test_polling_restart_neither_misses_nor_repeats(hub, tg):
    tg.webhook = {"url": "https://old.example.com/hook"}  # left over from webhook mode: removed first
    hub.add_connector("tgp", "telegram", bot_token=TOKEN, mode="polling", poll_timeout=1, api_base_url=tg.base_url)
    tg.push(message_update(3001, 61, "first"), message_update(3002, 62, "second"))
    hub.start_worker()
    hub.start_poller()
    wait_until(lambda: hub.count(Message) == 2, timeout=30, message="two polled messages")
    wait_until(lambda: 3003 in tg.confirmed, message="offset confirmed")
    assert tg.called("deleteWebhook")
    with hub.rt.db.read() as s:
        assert s.scalar(select(Connector).where(Connector.name == "tgp")).state["telegram:offset"] == 3003
    hub.kill("poller")
    before = len(tg.called("getUpdates"))
    # written while no poller runs; the restarted one starts from the stored offset
    tg.push(message_update(3003, 63, "third, while the poller was down"))
    hub.start_poller("poller2")
    wait_until(lambda: hub.count(Message) == 3, timeout=30, message="the third message after the restart")
    after = [c.get("offset") for c in tg.called("getUpdates")[before:]]
    assert after and all(o is not None and o >= 3003 for o in after), after  # resumed from the stored offset
    assert hub.count(InboundEvent) == 3
    texts = sorted(m.text for m in _messages(hub))
    assert texts == ["first", "second", "third, while the poller was down"]


def _messages(hub):
    with hub.rt.db.read() as s:
        return list(s.scalars(select(Message)))


def test_a_file_telegram_no_longer_has_keeps_the_message_with_a_placeholder(tg_hub, tg):
    tg_hub.start_worker()
    update = message_update(4001, 71, photo=[{"file_id": "GONE", "file_unique_id": "g", "width": 1, "height": 1}],
                            caption="URGENT: I sent 2 BTC to the wrong address")
    assert post(tg_hub, update).status_code == 200
    (conv,) = wait_until(lambda: conversations(tg_hub), timeout=30, message="conversation despite the missing file")
    (msg,) = tg_hub.api("GET", f"/api/v1/conversations/{conv['id']}").get_json()["messages"]
    assert msg["text"] == "URGENT: I sent 2 BTC to the wrong address"
    assert "could not be downloaded" in msg["attachments"][0]["placeholder_reason"]
