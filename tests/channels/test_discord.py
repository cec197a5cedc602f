"""Discord through the running hub, against a local Gateway (websocket: HELLO, IDENTIFY,
READY, heartbeats, RECONNECT + RESUME with replay) and a local REST API that check the
documented contract (tests/support/discord_api.py): a DM round trip, a support-thread
round trip across a forced reconnect, a 429 with retry_after, the Contact support command
over a signed interactions webhook, forged interactions refused with 401."""

from __future__ import annotations

import json
import signal
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import select

from hub.models import InboundEvent, Message
from normalizers import discord as dn
from tests.support.discord_api import (
    APP_ID,
    GUILD,
    SUPPORT_CHANNEL,
    TOKEN,
    DiscordRest,
    Gateway,
    message,
    snowflake,
    user,
)
from tests.support.hub import wait_until

KEY = Ed25519PrivateKey.generate()
PUBLIC = KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
DM_CHANNEL = snowflake(77)
PNG = bytes.fromhex("89504e470d0a1a0a") + b"\x00" * 64


def thread(tid: str, name: str = "Withdrawal stuck", parent: str = SUPPORT_CHANNEL) -> dict:
    return {"id": tid, "type": 11, "guild_id": GUILD, "parent_id": parent, "name": name, "owner_id": user()["id"],
            "thread_metadata": {"archived": False, "auto_archive_duration": 1440, "locked": False}}


# --- normalizer (pure) ------------------------------------------------------------------------

def test_normalizer_dms_support_threads_and_what_is_ignored():
    dm = {"t": "MESSAGE_CREATE", "d": message(1, DM_CHANNEL, "hi <@1187654321098765432> my swap failed <:sad:123456789012345678>",
                                              mentions=[{"id": "1187654321098765432", "username": "acme-support"}])}
    (m,) = dn.normalize(dm, connector="dc")
    assert m.thread_key == f"dm:{DM_CHANNEL}" and m.text == "hi @acme-support my swap failed :sad:"
    assert m.sender.name == "Sato" and m.sender.username == "satoshi_fan" and m.medium == "discord"
    tid = snowflake(88)
    in_thread = {"t": "MESSAGE_CREATE", "d": message(2, tid, "still waiting", guild_id=GUILD), "channel": thread(tid)}
    assert dn.normalize(in_thread, connector="dc") == []  # no support channels configured
    (t,) = dn.normalize(in_thread, connector="dc", support_channel_ids=(SUPPORT_CHANNEL,))
    assert t.thread_key == f"thread:{tid}" and t.extra["thread_name"] == "Withdrawal stuck"
    chatter = {"t": "MESSAGE_CREATE", "d": message(3, SUPPORT_CHANNEL, "gm", guild_id=GUILD),
               "channel": {"id": SUPPORT_CHANNEL, "type": 0, "guild_id": GUILD}}
    assert dn.ignore_reason(chatter, support_channel_ids=(SUPPORT_CHANNEL,)) == "a server message outside the support channels' threads"
    bot = {"t": "MESSAGE_CREATE", "d": message(4, DM_CHANNEL, "beep", author={**user(), "bot": True})}
    assert dn.ignore_reason(bot) == "message from a bot, a webhook or Discord itself"
    join = {"t": "MESSAGE_CREATE", "d": message(5, tid, "", guild_id=GUILD, type=7), "channel": thread(tid)}
    assert dn.ignore_reason(join, support_channel_ids=(SUPPORT_CHANNEL,)) == "system message type 7"
    edit = {"t": "MESSAGE_UPDATE", "d": message(1, DM_CHANNEL, "my swap failed (tx 0x12)", edited_timestamp="2026-12-05T10:00:00+00:00")}
    (e,) = dn.normalize(edit, connector="dc")
    assert e.kind == "edit" and e.in_reply_to == f"{DM_CHANNEL}:{snowflake(1)}"


# --- interactions webhook ----------------------------------------------------------------------

def signed(body: bytes, *, key=KEY, at: int | None = None) -> dict:
    ts = str(at if at is not None else int(time.time()))
    return {"X-Signature-Ed25519": key.sign(ts.encode() + body).hex(), "X-Signature-Timestamp": ts,
            "Content-Type": "application/json"}


def command(iid: int = 1) -> dict:
    return {"id": snowflake(iid), "application_id": APP_ID, "type": 2, "token": "aW50ZXJhY3Rpb24.token", "version": 1,
            "guild_id": GUILD, "channel_id": SUPPORT_CHANNEL, "data": {"id": snowflake(2), "name": "support", "type": 1},
            "member": {"user": user(), "nick": None, "roles": []}}


def test_forged_interactions_get_401_and_nothing_is_stored(hub):
    hub.add_connector("dc", "discord", bot_token=TOKEN, application_id=APP_ID, public_key=PUBLIC,
                      support_channel_ids=SUPPORT_CHANNEL, api_base_url="http://127.0.0.1:9/api/v10")
    body = json.dumps(command()).encode()
    url = "/webhooks/dc/interactions"
    assert hub.client.post(url, data=body, headers=signed(body, key=Ed25519PrivateKey.generate())).status_code == 401
    assert hub.client.post(url, data=body + b" ", headers=signed(body)).status_code == 401  # body changed after signing
    assert hub.client.post(url, data=body, headers=signed(body, at=int(time.time()) - 3600)).status_code == 401  # replayed
    assert hub.client.post(url, data=body, headers={"Content-Type": "application/json"}).status_code == 401
    assert hub.count(InboundEvent) == 0
    ping = json.dumps({"id": snowflake(3), "application_id": APP_ID, "type": 1, "token": "t", "version": 1}).encode()
    resp = hub.client.post(url, data=ping, headers=signed(ping))
    assert resp.status_code == 200 and resp.get_json() == {"type": 1}
    assert hub.count(InboundEvent) == 0


# --- through the gateway -----------------------------------------------------------------------

@pytest.fixture
def discord():
    gw = Gateway()
    rest = DiscordRest(gw.url)
    yield gw, rest
    rest.stop()
    gw.stop()
    assert gw.violations == [] and rest.violations == []


@pytest.fixture
def dc_hub(hub, discord):
    gw, rest = discord
    hub.add_connector("dc", "discord", bot_token=TOKEN, application_id=APP_ID, public_key=PUBLIC, guild_ids=GUILD,
                      support_channel_ids=SUPPORT_CHANNEL, api_base_url=rest.base_url, gateway_url=gw.url)
    hub.start_worker()
    hub.start_poller()
    wait_until(lambda: gw.connected, timeout=30, message="the poller's Gateway session")
    return hub


def conversations(hub):
    return hub.api("GET", "/api/v1/conversations").get_json()["items"]


def reply_to(hub, conv_id: int, text: str) -> dict:
    resp = hub.api("POST", f"/api/v1/conversations/{conv_id}/replies", json={"text": text})
    assert resp.status_code == 202, resp.get_data(as_text=True)
    rid = resp.get_json()["id"]
    return wait_until(lambda: (r := hub.api("GET", f"/api/v1/replies/{rid}").get_json())["state"] in ("sent", "dead", "failed") and r,
                      timeout=30, message="reply settled")


def test_dm_round_trip_with_attachment_and_edit(dc_hub, discord):
    gw, rest = discord
    assert gw.identifies and gw.identifies[0]["token"] == TOKEN
    url = rest.add_file("screenshot.png", PNG)
    gw.dispatch("MESSAGE_CREATE", message(10, DM_CHANNEL, "My withdrawal of 0.3 BTC is stuck", attachments=[
        {"id": snowflake(11), "filename": "screenshot.png", "size": len(PNG), "url": url, "content_type": "image/png"}]))
    gw.dispatch("MESSAGE_CREATE", message(12, DM_CHANNEL, "beep", author={**user(9), "bot": True}))  # a bot: not journaled
    (conv,) = wait_until(lambda: conversations(dc_hub), timeout=30, message="DM conversation")
    assert conv["medium"] == "discord" and conv["customer"]["display_name"] == "Sato"
    full = wait_until(lambda: (c := dc_hub.api("GET", f"/api/v1/conversations/{conv['id']}").get_json())["messages"]
                      and c["messages"][0]["attachments"] and c, message="attachment stored")
    assert full["messages"][0]["attachments"][0]["size"] == len(PNG)
    gw.dispatch("MESSAGE_UPDATE", message(10, DM_CHANNEL, "My withdrawal of 0.3 BTC is stuck since Monday",
                                          edited_timestamp="2026-12-05T10:00:00.000000+00:00"))
    wait_until(lambda: dc_hub.api("GET", f"/api/v1/conversations/{conv['id']}").get_json()["messages"][0]["text"].endswith("Monday"),
               message="edit applied")
    reply = reply_to(dc_hub, conv["id"], "Sorry about that! Could you send the transaction id?")
    assert reply["state"] == "sent", reply
    (sent,) = [m for m in rest.messages if m["channel"] == DM_CHANNEL]
    assert sent["body"]["content"] == "**Ada Agent**\nSorry about that! Could you send the transaction id?"
    assert sent["body"]["message_reference"]["message_id"] == snowflake(10)
    assert sent["body"]["allowed_mentions"] == {"parse": []}
    assert dc_hub.count(Message) == 1 and dc_hub.count(InboundEvent) == 2  # the message and its edit; the bot's never


def test_support_thread_round_trip_across_a_forced_reconnect_and_a_429(dc_hub, discord):
    gw, rest = discord
    tid = snowflake(40)
    rest.channels[tid] = thread(tid)  # what GET /channels/{id} answers for it (a restarted poller asks)
    gw.dispatch("THREAD_CREATE", thread(tid))
    gw.dispatch("MESSAGE_CREATE", message(41, tid, "Deposit not credited after 12 confirmations", guild_id=GUILD))
    gw.dispatch("MESSAGE_CREATE", message(42, SUPPORT_CHANNEL, "gm all", guild_id=GUILD))  # chatter: not a conversation
    (conv,) = wait_until(lambda: conversations(dc_hub), timeout=30, message="thread conversation")
    # an event lost on the old connection, then Discord asks the client to reconnect: the
    # RESUME replays everything after the client's last sequence number
    gw.dispatch("MESSAGE_CREATE", message(43, tid, "hello?? anyone", guild_id=GUILD), deliver=False)
    gw.reconnect()
    wait_until(lambda: gw.resumes, timeout=30, message="RESUME")
    assert gw.resumes[0]["session_id"] == gw.session_id and len(gw.identifies) == 1
    wait_until(lambda: dc_hub.count(Message) == 2, timeout=30, message="the message sent during the reconnect")
    assert dc_hub.count(InboundEvent) == 2 and len(conversations(dc_hub)) == 1
    assert gw.heartbeats >= 1

    # the first create-message call is rate limited: waited out (retry_after), then sent once
    rest.fail_next("POST /channels/:id/messages", 429, {"message": "You are being rate limited.", "retry_after": 0.4, "global": False},
                   {"Retry-After": "1", "X-RateLimit-Remaining": "0", "X-RateLimit-Scope": "user"})
    long = "Thanks for waiting. " + "We are checking the deposit with the chain explorer. " * 45
    reply = reply_to(dc_hub, conv["id"], long)
    assert reply["state"] == "sent", reply
    posts = [m for m in rest.messages if m["channel"] == tid]
    assert len(posts) == 2 and all(len(p["body"]["content"]) <= 2000 for p in posts)
    assert len(rest.called("POST", rf"/channels/{tid}/messages")) == 3  # the 429, then both parts

    # the hub restarts: what Discord sends while no poller is connected arrives through a RESUME
    # of the saved session (journaled sequence), not lost to a fresh IDENTIFY
    dc_hub.kill("poller", signal.SIGTERM)
    wait_until(lambda: not gw.connected, message="the poller disconnected")
    gw.dispatch("MESSAGE_CREATE", message(44, tid, "written while the hub was restarting", guild_id=GUILD))
    dc_hub.start_poller("poller2")
    wait_until(lambda: len(gw.resumes) >= 2, timeout=40, message="the restarted poller resumed the session")
    wait_until(lambda: dc_hub.count(Message) == 3, timeout=30, message="the message sent during the restart")
    assert len(gw.identifies) == 1 and dc_hub.count(InboundEvent) == 3


def test_contact_support_command_opens_a_private_thread(dc_hub, discord):
    gw, rest = discord
    body = json.dumps(command(60)).encode()
    resp = dc_hub.client.post("/webhooks/dc/interactions", data=body, headers=signed(body))
    assert resp.status_code == 200
    answer = resp.get_json()
    assert answer["type"] == 4 and answer["data"]["flags"] == 64  # ephemeral: only the customer sees it
    assert dc_hub.client.post("/webhooks/dc/interactions", data=body, headers=signed(body)).status_code == 200  # retried
    (conv,) = wait_until(lambda: conversations(dc_hub), timeout=30, message="conversation for the command")
    (created,) = rest.called("POST", rf"/channels/{SUPPORT_CHANNEL}/threads")
    assert created["type"] == 12 and created["invitable"] is False
    tid = next(c for c in rest.channels if rest.channels[c].get("type") == 12)
    assert rest.called("PUT", rf"/channels/{tid}/thread-members/{user()['id']}")
    (patched,) = rest.called("PATCH", rf"/webhooks/{APP_ID}/[\w.-]+/messages/@original")
    assert f"<#{tid}>" in patched["content"]
    # the customer writes in the new thread: the same conversation
    gw.dispatch("THREAD_CREATE", rest.channels[tid])
    gw.dispatch("MESSAGE_CREATE", message(61, tid, "Someone DMed me claiming to be your support", guild_id=GUILD))
    wait_until(lambda: dc_hub.count(Message) == 2, timeout=30, message="the customer's first words in the thread")
    assert len(conversations(dc_hub)) == 1
    with dc_hub.rt.db.read() as s:
        assert {m.conversation_id for m in s.scalars(select(Message))} == {conv["id"]}
    # /support again: the customer is pointed at their thread, no second thread or conversation
    again = json.dumps(command(62)).encode()
    assert dc_hub.client.post("/webhooks/dc/interactions", data=again, headers=signed(again)).status_code == 200
    wait_until(lambda: len(rest.called("PATCH", rf"/webhooks/{APP_ID}/[\w.-]+/messages/@original")) == 2, timeout=30,
               message="the second command answered with the same thread")
    assert len(rest.called("POST", rf"/channels/{SUPPORT_CHANNEL}/threads")) == 1 and len(conversations(dc_hub)) == 1


def test_check_registers_the_command_and_names_a_missing_intent(make_hub, discord):
    gw, rest = discord
    plain = make_hub()  # http://hub.test: Discord only calls https interaction URLs
    plain.add_connector("dc", "discord", bot_token=TOKEN, application_id=APP_ID, public_key=PUBLIC,
                        support_channel_ids=SUPPORT_CHANNEL, api_base_url=rest.base_url, gateway_url=gw.url)
    result = plain.api("POST", "/api/v1/connectors/dc/check").get_json()
    assert result["ok"] is False and "https" in result["summary"] and "OMNIHUB_PUBLIC_URL" in result["summary"]
    hub = make_hub(public_url="https://support.example.com")
    hub.add_connector("dc", "discord", bot_token=TOKEN, application_id=APP_ID, public_key=PUBLIC, guild_ids=GUILD,
                      support_channel_ids=SUPPORT_CHANNEL, api_base_url=rest.base_url, gateway_url=gw.url)
    result = hub.api("POST", "/api/v1/connectors/dc/check").get_json()
    assert result["ok"] is True, result
    assert "#support" in result["summary"] and "/webhooks/dc/interactions" in result["summary"]
    (cmd,) = rest.called("POST", rf"/applications/{APP_ID}/guilds/{GUILD}/commands")
    assert cmd["name"] == "support" and cmd["type"] == 1
    rest.app_flags = 0
    result = hub.api("POST", "/api/v1/connectors/dc/check").get_json()
    assert result["ok"] is False and "Message Content Intent" in result["summary"]
    rest.token = "other"
    result = hub.api("POST", "/api/v1/connectors/dc/check").get_json()
    assert result["ok"] is False and "Developer Portal" in result["summary"] and TOKEN not in json.dumps(result)
