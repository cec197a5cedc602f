"""normalizers.x: v2 envelopes (polled) and Account Activity events (pushed) -> messages."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta

import pytest

from hub.errors import PayloadInvalid
from normalizers import x
from normalizers.model import NormalizedMessage, Participant
from tests.support import x_corpus as xc

SUPPORT = "4337869213"  # for_user_id of the documented Account Activity examples


def tweet_env(tweet: dict, includes: dict | None = None, me: str = xc.TWITTER) -> dict:
    return x.v2_envelope("tweet", tweet, includes or {"users": list(xc.users().values())}, me)


def recorded_tweet() -> dict:
    """The recorded GET /2/tweets/:id item, with the fields omnihub requests (shapes per X docs)."""
    t = xc.body("test_client_get_tweet.00")["data"]
    t.update(
        author_id=xc.TWITTERDEV,
        conversation_id=t["id"],
        created_at=xc.iso(t["id"]),
        lang="en",
        attachments={"media_keys": ["13_1293593516040269825"]},
        entities={
            "urls": [
                {"start": 196, "end": 219, "url": "https://t.co/32VrwpGaJw", "expanded_url": "https://developer.twitter.com/en/docs/twitter-api", "display_url": "developer.twitter.com/en/docs/twitte…"},
                {"start": 220, "end": 243, "url": "https://t.co/KaFSbjWUA8", "expanded_url": "https://twitter.com/TwitterDev/status/1293593516040269825/video/1", "display_url": "pic.twitter.com/KaFSbjWUA8", "media_key": "13_1293593516040269825"},
            ]
        },
    )
    return t


VIDEO = {
    "media_key": "13_1293593516040269825",
    "type": "video",
    "preview_image_url": "https://pbs.twimg.com/ext_tw_video_thumb/1293593470255706112/pu/img/preview.jpg",
    "variants": [
        {"content_type": "application/x-mpegURL", "url": "https://video.twimg.com/ext_tw_video/1293593470255706112/pu/pl/playlist.m3u8"},
        {"bit_rate": 256000, "content_type": "video/mp4", "url": "https://video.twimg.com/ext_tw_video/1293593470255706112/pu/vid/480x270/low.mp4"},
        {"bit_rate": 2176000, "content_type": "video/mp4", "url": "https://video.twimg.com/ext_tw_video/1293593470255706112/pu/vid/1280x720/high.mp4"},
    ],
}


# --- helpers -------------------------------------------------------------------------------
def test_dm_conversation_key_matches_recorded_id():
    assert x.dm_conversation_key(xc.ME_TWEEPYDEV, xc.DM_PEER) == xc.DM_CONVERSATION
    assert x.dm_conversation_key(xc.DM_PEER, xc.ME_TWEEPYDEV) == xc.DM_CONVERSATION


def test_snowflake_time_matches_recorded_timestamps():
    # the recorded v1.1 DM event: id and created_timestamp of the same event
    ev = xc.cassette_json("testsendanddeletedirectmessage.json", 2)["event"]
    got = x.snowflake_time(ev["id"])
    assert abs(got - datetime.fromtimestamp(int(ev["created_timestamp"]) / 1000, UTC)) < timedelta(seconds=1)


def test_envelope_keeps_only_the_expansions_the_item_needs():
    t = recorded_tweet()
    env = tweet_env(t, {"users": list(xc.users().values()), "media": [VIDEO, {"media_key": "3_other", "type": "photo"}]})
    assert {u["id"] for u in env["includes"]["users"]} == {xc.TWITTER, xc.TWITTERDEV}  # author + us, not TweepyDev
    assert [m["media_key"] for m in env["includes"]["media"]] == ["13_1293593516040269825"]


# --- v2 tweets ---------------------------------------------------------------------------------
def test_mention_with_media_and_links():
    env = tweet_env(recorded_tweet(), {"users": list(xc.users().values()), "media": [VIDEO]})
    [msg] = x.normalize(json.dumps(env).encode(), connector="x-support")
    assert msg.medium == "x" and msg.external_id == "tweet:1293593516040269825"
    assert msg.thread_key == "tweet:1293593516040269825"
    assert msg.sender == Participant("x", xc.TWITTERDEV, "Twitter Dev", extra={"username": "TwitterDev"})
    assert msg.recipients == (Participant("x", xc.TWITTER, "Twitter", extra={"username": "Twitter"}),)
    assert "https://developer.twitter.com/en/docs/twitter-api" in msg.text
    assert "t.co" not in msg.text  # link expanded, media link dropped (it is the attachment)
    [att] = msg.attachments
    assert att.url.endswith("/1280x720/high.mp4") and att.content_type == "video/mp4"
    assert msg.language == "en"
    assert msg.extra["public"] is True and msg.extra["url"] == "https://x.com/TwitterDev/status/1293593516040269825"
    assert NormalizedMessage.from_dict(json.loads(json.dumps(msg.to_dict()))) == msg


def test_photo_and_missing_media_url():
    t = recorded_tweet()
    env = tweet_env(t, {"media": [{"media_key": "13_1293593516040269825", "type": "photo", "url": "https://pbs.twimg.com/media/Ef-ZGo0WAAAzDPp.jpg"}]})
    assert x.normalize(env, connector="c")[0].attachments[0].url == "https://pbs.twimg.com/media/Ef-ZGo0WAAAzDPp.jpg"
    env = tweet_env(t, {"media": [{"media_key": "13_1293593516040269825", "type": "photo"}]})
    att = x.normalize(env, connector="c")[0].attachments[0]
    assert att.url is None and "no URL" in att.placeholder_reason


def test_reply_threads_by_conversation_and_strips_leading_mentions():
    t = xc.body("test_client_get_users_mentions.00")["data"][5]  # "@Twitter make 🤨 an available reaction emoji in dms"
    t.update(author_id=xc.TWITTERDEV, conversation_id="1578500000000000000", created_at=xc.iso(t["id"]),
             referenced_tweets=[{"type": "replied_to", "id": "1578500000000000000"}], lang="und")
    [msg] = x.normalize(tweet_env(t), connector="c")
    assert msg.thread_key == "tweet:1578500000000000000"
    assert msg.in_reply_to == "tweet:1578500000000000000"
    assert msg.text == "make 🤨 an available reaction emoji in dms"
    assert msg.full_text.startswith("@Twitter make")
    assert msg.language is None  # "und" is not a language


def test_only_mentions_keeps_the_text():
    t = {"id": "1578516242867945475", "text": "@Twitter", "author_id": xc.TWITTERDEV}
    assert x.normalize(tweet_env(t), connector="c")[0].text == "@Twitter"


def test_own_posts_are_ignored():
    t = xc.body("test_client_get_tweet.00")["data"] | {"author_id": xc.TWITTER}
    assert x.normalize(tweet_env(t, me=xc.TWITTER), connector="c") == []


def test_edited_tweet_is_an_edit_of_the_original():
    t = {"id": "1578516295611748999", "text": "fixed typo", "author_id": xc.TWITTERDEV,
         "edit_history_tweet_ids": ["1578516295611748353", "1578516295611748999"], "conversation_id": "1578516295611748353"}
    [msg] = x.normalize(tweet_env(t), connector="c")
    assert msg.kind == "edit" and msg.in_reply_to == "tweet:1578516295611748353"


def test_long_post_text_comes_from_note_tweet():
    t = {"id": "1578516295611748353", "text": "truncated…", "author_id": xc.TWITTERDEV,
         "note_tweet": {"text": "the whole long story " * 20}}
    assert x.normalize(tweet_env(t), connector="c")[0].full_text.startswith("the whole long story the whole")


def test_missing_author_names_the_expansion():
    raw = xc.body("test_client_get_users_mentions.00")["data"][0]
    with pytest.raises(PayloadInvalid, match="expansions=author_id"):
        x.normalize(tweet_env(raw), connector="c")


@pytest.mark.parametrize("payload", [b"not json", b"[1]", json.dumps({"source": "v3", "type": "tweet"}).encode()])
def test_bad_payloads(payload):
    with pytest.raises(PayloadInvalid):
        x.normalize(payload, connector="c")


# --- v2 DM events --------------------------------------------------------------------------------
def dm_env(ev: dict, me: str = xc.DM_PEER) -> dict:
    return x.v2_envelope("dm_event", ev, {"users": list(xc.users().values())}, me)


def test_dm_event_threads_by_dm_conversation_id():
    ev = xc.body("test_manage_and_lookup_direct_messages.04")["data"][1]
    ev.update(sender_id=xc.ME_TWEEPYDEV, dm_conversation_id=xc.DM_CONVERSATION, created_at=xc.iso(ev["id"]))
    [msg] = x.normalize(dm_env(ev), connector="c")
    assert (msg.external_id, msg.thread_key, msg.text) == ("dm:1585800613253812228", f"dm:{xc.DM_CONVERSATION}", "Testing 1")
    assert msg.sender.name == "Tweepy Testing" and msg.sender.extra == {"username": "TweepyDev"}
    assert msg.extra == {"public": False, "dm_event_id": "1585800613253812228", "dm_conversation_id": xc.DM_CONVERSATION}


def test_dm_without_conversation_field_gets_the_same_key():
    ev = xc.body("test_manage_and_lookup_direct_messages.04")["data"][1] | {"sender_id": xc.ME_TWEEPYDEV}
    assert x.normalize(dm_env(ev), connector="c")[0].thread_key == f"dm:{xc.DM_CONVERSATION}"


def test_dm_media_urls_and_own_and_join_events():
    ev = {"id": "1585800613253812228", "event_type": "MessageCreate", "text": "see https://t.co/x1 screenshot https://t.co/abc",
          "sender_id": xc.ME_TWEEPYDEV, "attachments": {"media_keys": ["3_1585800600000000000"]},
          "urls": [{"url": "https://t.co/x1", "expanded_url": "https://etherscan.io/tx/0xabc"},
                   {"url": "https://t.co/abc", "expanded_url": "https://x.com/messages/media/1", "media_key": "3_1585800600000000000"}]}
    includes = {"media": [{"media_key": "3_1585800600000000000", "type": "photo", "url": "https://ton.twitter.com/1.1/ton/data/dm/1/2/abc.jpg"}]}
    [msg] = x.normalize(x.v2_envelope("dm_event", ev, includes, xc.DM_PEER), connector="c")
    assert msg.attachments[0].url == "https://ton.twitter.com/1.1/ton/data/dm/1/2/abc.jpg"
    assert msg.text == "see https://etherscan.io/tx/0xabc screenshot"
    assert x.normalize(dm_env(ev, me=xc.ME_TWEEPYDEV), connector="c") == []
    join = {"id": "1585800614365339652", "event_type": "ParticipantsJoin", "sender_id": xc.ME_TWEEPYDEV, "participant_ids": ["145336962"]}
    assert x.normalize(dm_env(join), connector="c") == []


# --- Account Activity -----------------------------------------------------------------------------
def activity_messages(body: dict) -> list[NormalizedMessage]:
    out = []
    for _eid, env in x.split_activity(body):
        out.extend(x.normalize(json.dumps(env).encode(), connector="x-support"))
    return out


def test_documented_dm_event_with_doc_quirk_users_in_apps():
    body = xc.activity("direct_message_events")
    [(eid, env)] = x.split_activity(body)
    assert eid == "dm:954491830116155396"
    [msg] = x.normalize(env, connector="x-support")
    assert msg.sender == Participant("x", "3001969357", "Jordan Brinks", extra={"username": "furiouscamper"})
    assert msg.recipients[0].name == "Harrison Test"
    assert msg.sent_at == datetime.fromtimestamp(1516403560.557, UTC)
    assert msg.thread_key == "dm:3001969357-4337869213"
    assert msg.extra["source_app_id"] == "13090192"


def test_dm_event_with_top_level_users_map():
    body = xc.activity("direct_message_events")
    apps = body.pop("apps")
    body["users"] = {k: v for k, v in apps.items() if k.isdigit() and "screen_name" in v}
    body["apps"] = {"13090192": apps["13090192"]}
    assert activity_messages(body)[0].sender.name == "Jordan Brinks"


def test_recorded_own_dm_event_is_ignored():
    ev = xc.cassette_json("testsendanddeletedirectmessage.json", 2)["event"]  # TweepyDev to itself
    assert activity_messages({"for_user_id": xc.ME_TWEEPYDEV, "direct_message_events": [ev]}) == []


def test_recorded_v1_tweets_as_tweet_create_events():
    rt = xc.cassette_json("testgetstatus.json", 0)  # by @Twitter, with an url entity
    media_status = xc.cassette_json("testsendanddeletedirectmessage.json", 0)["status"]  # TweepyDev, a photo
    media_status["user"] = {k: v for k, v in xc.cassette_json("testsendanddeletedirectmessage.json", 0).items() if k != "status"}
    body = {"for_user_id": SUPPORT, "user_has_blocked": "false", "tweet_create_events": [rt, media_status]}
    first, second = activity_messages(body)
    assert first.external_id == "tweet:266367358078169089"
    assert "https://engineering.twitter.com/2012/11/bolstering-our-infrastructure.html" in first.text
    assert first.sender == Participant("x", xc.TWITTER, "Twitter", extra={"username": "Twitter"})
    assert first.sent_at == datetime(2012, 11, 8, 2, 31, 41, tzinfo=UTC)
    assert first.extra["user_has_blocked"] is False
    assert second.text == "testing 1000"  # the pic.twitter.com link became the attachment
    assert second.attachments[0].url == "https://pbs.twimg.com/media/D_VRSrrXkAAYzkx.png"
    assert second.thread_key == "tweet:1149914662164684800"


def test_own_tweet_create_event_is_ignored():
    rt = xc.cassette_json("testgetstatus.json", 0)
    assert activity_messages({"for_user_id": xc.TWITTER, "tweet_create_events": [rt]}) == []


def test_tweet_delete_event():
    body = xc.activity("tweet_delete_events")
    assert activity_messages(body) == []  # the documented example deletes the account's own tweet
    body["for_user_id"] = SUPPORT
    [msg] = activity_messages(body)
    assert msg.kind == "delete" and msg.in_reply_to == "tweet:1045405559317569537"
    assert msg.sender.address == "930524282358325248"


@pytest.mark.parametrize("kind", ["direct_message_indicate_typing_events", "direct_message_mark_read_events", "user_event_revoke"])
def test_other_activity_yields_nothing(kind):
    assert x.split_activity(copy.deepcopy(xc.activity(kind))) == []


@pytest.mark.parametrize(
    "body",
    [
        {"direct_message_events": [{"type": "message_create", "message_create": {}}]},
        {"tweet_create_events": [{"text": "no id"}]},
        {"tweet_delete_events": [{"status": {}}]},
    ],
)
def test_malformed_activity_is_payload_invalid(body):
    with pytest.raises(PayloadInvalid, match="has no id"):
        x.split_activity(body)
