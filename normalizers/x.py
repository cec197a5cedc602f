"""x channel: X (Twitter) mentions and DMs -> NormalizedMessage. Pure: no I/O.

Two payload families arrive, each wrapped by the adapter in a small JSON envelope that
carries the item *and* the expansions it needs, so normalization is self-contained:

- ``{"source": "v2", "type": "tweet" | "dm_event", "for_user_id", "data", "includes"}``:
  one item of an API v2 response (polled mentions / DM events) with its users, media and
  referenced tweets (https://docs.x.com/x-api/fundamentals/expansions).
- ``{"source": "activity", "type": "direct_message" | "tweet_create" | "tweet_delete",
  "for_user_id", ...}``: one event of an Account Activity webhook delivery (v1.1 shapes).

Threading: DMs by ``dm_conversation_id``, mentions by ``conversation_id``. The support
account's own posts and DMs (author == ``for_user_id``) are ignored (``[]``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Set
from datetime import UTC, datetime
from typing import Any

from hub.errors import PayloadInvalid
from normalizers.model import Attachment, Kind, Medium, NormalizedMessage, Participant

MEDIUM = Medium.X

#: X snowflake ids carry their creation time (ms since this epoch) in the high bits:
#: https://docs.x.com/resources/fundamentals/x-ids
_SNOWFLAKE_EPOCH_MS = 1288834974657
#: "lang" values that are not languages (undetermined, media only, hashtags only, ...)
_NOT_LANGUAGES = {"und", "zxx", "qam", "qct", "qht", "qme", "qst", "art"}
_LEADING_MENTIONS = re.compile(r"^(?:[.\s]*@\w{1,15}\b[\s,]*)+")
_MEDIA_TYPES = {"photo": "image/jpeg", "animated_gif": "video/mp4", "video": "video/mp4"}


# --- helpers shared with the adapter (pure) ------------------------------------------------
def dm_conversation_key(a: str, b: str) -> str:
    """The id X gives a one-to-one DM conversation: both user ids, numerically ascending."""
    lo, hi = sorted((str(a), str(b)), key=lambda v: (len(v), v))
    return f"{lo}-{hi}"


def snowflake_time(item_id: str | int) -> datetime:
    """Creation time encoded in an X snowflake id."""
    ms = (int(item_id) >> 22) + _SNOWFLAKE_EPOCH_MS
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def v2_envelope(kind: str, item: Mapping[str, Any], includes: Mapping[str, Any], for_user_id: str) -> dict[str, Any]:
    """Wrap one v2 tweet / DM event with only the expansions it refers to."""
    user_ids = {item.get("author_id"), item.get("sender_id"), item.get("in_reply_to_user_id")}
    user_ids.update(item.get("participant_ids") or ())
    user_ids.update(m.get("id") for m in (item.get("entities") or {}).get("mentions") or ())
    user_ids.add(for_user_id)
    media_keys = set((item.get("attachments") or {}).get("media_keys") or ())
    tweet_ids = {r.get("id") for r in item.get("referenced_tweets") or ()}
    picked = {
        "users": [u for u in includes.get("users") or () if u.get("id") in user_ids],
        "media": [m for m in includes.get("media") or () if m.get("media_key") in media_keys],
        "tweets": [t for t in includes.get("tweets") or () if t.get("id") in tweet_ids],
    }
    return {
        "source": "v2",
        "type": kind,
        "for_user_id": str(for_user_id),
        "data": dict(item),
        "includes": {k: v for k, v in picked.items() if v},
    }


def split_activity(body: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Split an Account Activity delivery into ``(external_id, envelope)`` pairs.

    Typing, read receipts, likes, follows and revokes carry no message: they yield nothing.
    """
    for_user = str(body.get("for_user_id") or "")
    out: list[tuple[str, dict[str, Any]]] = []
    users = _activity_users(body)
    for ev in body.get("direct_message_events") or ():
        if ev.get("type") != "message_create":
            continue
        mc = ev.get("message_create") or {}
        wanted = {mc.get("sender_id"), (mc.get("target") or {}).get("recipient_id")}
        env = {
            "source": "activity",
            "type": "direct_message",
            "for_user_id": for_user,
            "event": ev,
            "users": {k: v for k, v in users.items() if k in wanted},
        }
        out.append((f"dm:{_require(ev, 'id', 'direct_message_event')}", env))
    for tweet in body.get("tweet_create_events") or ():
        env = {"source": "activity", "type": "tweet_create", "for_user_id": for_user, "tweet": tweet}
        if "user_has_blocked" in body:
            env["user_has_blocked"] = body["user_has_blocked"]
        out.append((f"tweet:{tweet.get('id_str') or _require(tweet, 'id', 'tweet_create_event')}", env))
    for ev in body.get("tweet_delete_events") or ():
        status = ev.get("status") or {}
        env = {"source": "activity", "type": "tweet_delete", "for_user_id": for_user, "event": ev}
        out.append((f"tweet-delete:{_require(status, 'id', 'tweet_delete_event status')}", env))
    return out


def _activity_users(body: Mapping[str, Any]) -> dict[str, Any]:
    # Documented DM example nests the user objects inside "apps" (a doc quirk); real
    # deliveries have a top-level "users" map keyed by user id. Accept both.
    users: dict[str, Any] = {}
    for key, value in (body.get("apps") or {}).items():
        if isinstance(value, dict) and "screen_name" in value:
            users[str(key)] = value
    for key, value in (body.get("users") or {}).items():
        if isinstance(value, dict):
            users[str(key)] = value
    return users


# --- normalization -------------------------------------------------------------------------
def normalize(payload: bytes | str | Mapping[str, Any], *, connector: str) -> list[NormalizedMessage]:
    """One envelope (see module doc) -> zero or one normalized message."""
    try:
        return _normalize(payload, connector)
    except (AttributeError, TypeError, KeyError, IndexError, ValueError) as exc:
        # A field of the wrong JSON type deep in the event (found by fuzzing): the payload
        # is malformed, not our bug -> 400 / quarantine with the reason, never a crash.
        raise PayloadInvalid(f"x: malformed event: {exc.__class__.__name__}: {exc}") from None


def _normalize(payload: bytes | str | Mapping[str, Any], connector: str) -> list[NormalizedMessage]:
    env = _load(payload)
    source, kind = env.get("source"), env.get("type")
    if source == "v2" and kind == "tweet":
        return _v2_tweet(env, connector)
    if source == "v2" and kind == "dm_event":
        return _v2_dm(env, connector)
    if source == "activity" and kind == "direct_message":
        return _activity_dm(env, connector)
    if source == "activity" and kind == "tweet_create":
        return _activity_tweet(env, connector)
    if source == "activity" and kind == "tweet_delete":
        return _activity_delete(env, connector)
    raise PayloadInvalid(f"x: unknown payload source/type {source!r}/{kind!r}")


def _load(payload: bytes | str | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(payload, Mapping):
        return dict(payload)
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadInvalid(f"x: payload is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise PayloadInvalid("x: payload must be a JSON object")
    return data


def _require(obj: Mapping[str, Any], key: str, what: str, hint: str = "") -> Any:
    value = obj.get(key)
    if value in (None, ""):
        raise PayloadInvalid(f"x: {what} has no {key}{hint}")
    return value


def _time(value: str | None, item_id: str) -> datetime:
    if value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise PayloadInvalid(f"x: created_at is not ISO-8601: {value!r}") from None
    return snowflake_time(item_id)


def _ms_time(value: str | int | None, item_id: str) -> datetime:
    if value:
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    return snowflake_time(item_id)


def _participant(user_id: str, user: Mapping[str, Any] | None) -> Participant:
    user = user or {}
    username = user.get("username") or user.get("screen_name")
    return Participant(
        medium=MEDIUM,
        address=str(user_id),
        name=(user.get("name") or "").strip(),
        extra={"username": username} if username else {},
    )


def _expand_urls(text: str, urls: Iterable[Mapping[str, Any]], media_urls: Set[str] = frozenset()) -> str:
    """Replace t.co links by their targets; drop the links that only point at attached media."""
    for u in urls:
        short = u.get("url")
        if not short:
            continue
        if u.get("media_key") or short in media_urls:
            text = text.replace(short, "")
        elif u.get("expanded_url"):
            text = text.replace(short, u["expanded_url"])
    for short in media_urls:
        text = text.replace(short, "")
    return text.strip()


def _strip_reply_mentions(text: str) -> str:
    """The new part of a reply: without the leading @handles X adds to every reply."""
    stripped = _LEADING_MENTIONS.sub("", text, count=1).strip()
    return stripped or text


def _language(lang: str | None) -> str | None:
    return lang if lang and lang not in _NOT_LANGUAGES else None


def _media(key: str, mtype: str, url: str | None, variants: list[Mapping[str, Any]], bitrate: str, still: str | None) -> Attachment:
    """A photo, or a video/GIF as its best mp4 variant (else its still image), in the v2 and
    v1.1 shapes alike (they differ only in field names)."""
    ctype = _MEDIA_TYPES.get(mtype, "application/octet-stream")
    mp4 = [v for v in variants if v.get("content_type") == "video/mp4"]
    if mtype != "photo" and mp4:
        url = max(mp4, key=lambda v: v.get(bitrate) or 0)["url"]
    elif mtype != "photo":
        url, ctype = still or url, "image/jpeg"
    name = f"{key}.{'mp4' if ctype == 'video/mp4' else 'jpg'}"
    if url:
        return Attachment(filename=name, content_type=ctype, url=url)
    return Attachment(filename=name, content_type=ctype, placeholder_reason=f"X gave no URL for this {mtype}")


def _v2_media(media: Mapping[str, Any]) -> Attachment:
    return _media(
        str(media.get("media_key", "media")), media.get("type") or "photo", media.get("url"),
        list(media.get("variants") or ()), "bit_rate", media.get("preview_image_url"),
    )


def _v2_tweet(env: Mapping[str, Any], connector: str) -> list[NormalizedMessage]:
    tweet = env.get("data") or {}
    tid = str(_require(tweet, "id", "tweet"))
    author = str(_require(tweet, "author_id", f"tweet {tid}", " (poll with expansions=author_id)"))
    me = str(env.get("for_user_id") or "")
    if author == me:
        return []
    includes = env.get("includes") or {}
    users = {u["id"]: u for u in includes.get("users") or ()}
    # long posts: the full text is in note_tweet, the text field is truncated
    note = tweet.get("note_tweet") or {}
    raw_text = note.get("text") or tweet.get("text") or ""
    entities = note.get("entities") or tweet.get("entities") or {}
    full = _expand_urls(raw_text, entities.get("urls") or ())
    media = [_v2_media(m) for m in includes.get("media") or ()]
    history = [str(i) for i in tweet.get("edit_history_tweet_ids") or ()]
    refs = tweet.get("referenced_tweets") or []
    replied_to = next((str(r["id"]) for r in refs if r.get("type") == "replied_to"), None)
    kind: Kind = "message"
    in_reply_to = f"tweet:{replied_to}" if replied_to else None
    if len(history) > 1 and history[0] != tid:
        kind, in_reply_to = "edit", f"tweet:{history[0]}"
    extra: dict[str, Any] = {
        "public": True,
        "tweet_id": tid,
        "conversation_id": str(tweet.get("conversation_id") or tid),
        "url": f"https://x.com/{(users.get(author) or {}).get('username') or 'i'}/status/{tid}",
        "mentions": [m.get("username") for m in entities.get("mentions") or () if m.get("username")],
    }
    if refs:
        extra["referenced_tweets"] = [{"type": r.get("type"), "id": str(r.get("id"))} for r in refs]
    if tweet.get("lang"):
        extra["lang"] = tweet["lang"]
    if len(history) > 1:
        extra["edit_history_tweet_ids"] = history
    return [
        NormalizedMessage(
            medium=MEDIUM,
            connector=connector,
            external_id=f"tweet:{tid}",
            thread_key=f"tweet:{extra['conversation_id']}",
            sender=_participant(author, users.get(author)),
            recipients=(_participant(me, users.get(me)),) if me else (),
            sent_at=_time(tweet.get("created_at"), tid),
            kind=kind,
            text=_strip_reply_mentions(full),
            full_text=full,
            attachments=tuple(media),
            in_reply_to=in_reply_to,
            language=_language(tweet.get("lang")),
            extra=extra,
        )
    ]


def _v2_dm(env: Mapping[str, Any], connector: str) -> list[NormalizedMessage]:
    ev = env.get("data") or {}
    eid = str(_require(ev, "id", "DM event"))
    if ev.get("event_type", "MessageCreate") != "MessageCreate":
        return []  # ParticipantsJoin / ParticipantsLeave: no message
    sender = str(_require(ev, "sender_id", f"DM event {eid}", " (poll with dm_event.fields=sender_id)"))
    me = str(env.get("for_user_id") or "")
    if sender == me:
        return []
    includes = env.get("includes") or {}
    users = {u["id"]: u for u in includes.get("users") or ()}
    conv = str(ev.get("dm_conversation_id") or dm_conversation_key(sender, me))
    # the DmEvent schema carries url entities at the top level ("urls"), tweets under "entities"
    urls = ev.get("urls") or (ev.get("entities") or {}).get("urls") or ()
    text = _expand_urls(ev.get("text") or "", urls)
    media = [_v2_media(m) for m in includes.get("media") or ()]
    extra: dict[str, Any] = {"public": False, "dm_event_id": eid, "dm_conversation_id": conv}
    if ev.get("referenced_tweets"):
        extra["referenced_tweets"] = [{"id": str(r.get("id"))} for r in ev["referenced_tweets"]]
    return [
        NormalizedMessage(
            medium=MEDIUM,
            connector=connector,
            external_id=f"dm:{eid}",
            thread_key=f"dm:{conv}",
            sender=_participant(sender, users.get(sender)),
            recipients=(_participant(me, users.get(me)),) if me else (),
            sent_at=_time(ev.get("created_at"), eid),
            text=text,
            full_text=text,
            attachments=tuple(media),
            extra=extra,
        )
    ]


def _v1_media(media: Mapping[str, Any]) -> Attachment:
    url = media.get("media_url_https") or media.get("media_url")  # v1.1: the still image itself
    return _media(
        str(media.get("id_str") or media.get("id") or "media"), media.get("type") or "photo", url,
        list((media.get("video_info") or {}).get("variants") or ()), "bitrate", url,
    )


def _activity_dm(env: Mapping[str, Any], connector: str) -> list[NormalizedMessage]:
    ev = env.get("event") or {}
    eid = str(_require(ev, "id", "direct_message_event"))
    mc = ev.get("message_create") or {}
    sender = str(_require(mc, "sender_id", f"direct_message_event {eid}"))
    recipient = str((mc.get("target") or {}).get("recipient_id") or "")
    me = str(env.get("for_user_id") or recipient)
    if sender == me:
        return []
    users = env.get("users") or {}
    data = mc.get("message_data") or {}
    att = (data.get("attachment") or {}).get("media") if (data.get("attachment") or {}).get("type") == "media" else None
    media_urls = {att["url"]} if att and att.get("url") else set()
    text = _expand_urls(data.get("text") or "", (data.get("entities") or {}).get("urls") or (), media_urls)
    conv = dm_conversation_key(sender, recipient or me)
    return [
        NormalizedMessage(
            medium=MEDIUM,
            connector=connector,
            external_id=f"dm:{eid}",
            thread_key=f"dm:{conv}",
            sender=_participant(sender, users.get(sender)),
            recipients=(_participant(me, users.get(me)),),
            sent_at=_ms_time(ev.get("created_timestamp"), eid),
            text=text,
            full_text=text,
            attachments=(_v1_media(att),) if att else (),
            extra={"public": False, "dm_event_id": eid, "dm_conversation_id": conv, "source_app_id": mc.get("source_app_id")},
        )
    ]


def _activity_tweet(env: Mapping[str, Any], connector: str) -> list[NormalizedMessage]:
    tweet = env.get("tweet") or {}
    tid = str(tweet.get("id_str") or _require(tweet, "id", "tweet_create_event"))
    user = tweet.get("user") or {}
    author = str(user.get("id_str") or _require(user, "id", f"tweet {tid} user"))
    me = str(env.get("for_user_id") or "")
    if author == me:
        return []
    ext = tweet.get("extended_tweet") or {}
    raw_text = ext.get("full_text") or tweet.get("full_text") or tweet.get("text") or ""
    entities = ext.get("entities") or tweet.get("entities") or {}
    media_list = (ext.get("extended_entities") or tweet.get("extended_entities") or {}).get("media") or entities.get("media") or []
    full = _expand_urls(raw_text, entities.get("urls") or (), {m["url"] for m in media_list if m.get("url")})
    replied_to = tweet.get("in_reply_to_status_id_str")
    # v1.1 tweets carry no conversation_id: thread a reply under the tweet it answers
    # (the core also resolves in_reply_to against stored messages).
    conversation = str(replied_to or tid)
    created = tweet.get("timestamp_ms") or None
    sent_at = _ms_time(created, tid) if created else _v1_time(tweet.get("created_at"), tid)
    extra: dict[str, Any] = {
        "public": True,
        "tweet_id": tid,
        "conversation_id": conversation,
        "url": f"https://x.com/{user.get('screen_name') or 'i'}/status/{tid}",
        "mentions": [m.get("screen_name") for m in entities.get("user_mentions") or () if m.get("screen_name")],
    }
    if tweet.get("lang"):
        extra["lang"] = tweet["lang"]
    if "user_has_blocked" in env:
        extra["user_has_blocked"] = str(env["user_has_blocked"]).lower() == "true"
    return [
        NormalizedMessage(
            medium=MEDIUM,
            connector=connector,
            external_id=f"tweet:{tid}",
            thread_key=f"tweet:{conversation}",
            sender=_participant(author, user),
            recipients=(_participant(me, None),) if me else (),
            sent_at=sent_at,
            text=_strip_reply_mentions(full),
            full_text=full,
            attachments=tuple(_v1_media(m) for m in media_list),
            in_reply_to=f"tweet:{replied_to}" if replied_to else None,
            language=_language(tweet.get("lang")),
            extra=extra,
        )
    ]


def _v1_time(value: str | None, tid: str) -> datetime:
    if value:
        try:
            return datetime.strptime(value, "%a %b %d %H:%M:%S %z %Y")
        except ValueError:
            pass
    return snowflake_time(tid)


def _activity_delete(env: Mapping[str, Any], connector: str) -> list[NormalizedMessage]:
    ev = env.get("event") or {}
    status = ev.get("status") or {}
    tid = str(_require(status, "id", "tweet_delete_event"))
    author = str(_require(status, "user_id", f"tweet_delete_event {tid}"))
    if author == str(env.get("for_user_id") or ""):
        return []
    return [
        NormalizedMessage(
            medium=MEDIUM,
            connector=connector,
            external_id=f"tweet-delete:{tid}",
            thread_key=f"tweet:{tid}",
            sender=_participant(author, None),
            sent_at=_ms_time(ev.get("timestamp_ms"), tid),
            kind="delete",
            in_reply_to=f"tweet:{tid}",
            extra={"public": True, "tweet_id": tid},
        )
    ]
