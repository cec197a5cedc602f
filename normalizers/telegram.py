"""telegram channel: one Bot API ``Update`` -> NormalizedMessage(s). Pure.

https://core.telegram.org/bots/api#update — the same object arrives by webhook and by
getUpdates, so one path serves both modes.

Ids and keys:
  external_id  ``<chat id>:<message id>`` (message ids are per chat); an edit is
               ``…:edit:<edit_date>`` with ``in_reply_to`` naming the original, so the hub
               stores it as an edit of that message.
  thread_key   ``<chat id>`` in a private chat (the hub starts a new conversation after an
               idle gap or a resolution); in a group ``<chat id>:<user id>`` (one
               conversation per customer), ``…:t<topic id>`` inside a forum topic.
Updates that are not a customer's words (other update types, bots, service messages,
group chatter that neither mentions nor answers the bot) normalize to ``[]``; the
adapter's ``ignore_reason`` says why. A private chat's ``my_chat_member`` turning
``kicked`` is the customer blocking the bot: an identity update (opted out), not a message.
"""

from __future__ import annotations

import html as htmllib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from hub.errors import PayloadInvalid
from normalizers.model import Attachment, IdentityUpdate, Medium, NormalizedMessage, Participant

MEDIUM = Medium.TELEGRAM
PRIVATE = "private"
GROUP_TYPES = frozenset({"group", "supergroup"})
CHAT_SELECTIONS = ("private", "private_and_groups")
#: the update types the hub asks for (setWebhook / getUpdates allowed_updates)
ALLOWED_UPDATES = ("message", "edited_message", "my_chat_member")

#: media fields of a Message -> (label, default content type, default file name)
MEDIA = {
    "photo": ("photo", "image/jpeg", "photo.jpg"),
    "document": ("document", "application/octet-stream", "document"),
    "voice": ("voice message", "audio/ogg", "voice.ogg"),
    "audio": ("audio", "audio/mpeg", "audio.mp3"),
    "video": ("video", "video/mp4", "video.mp4"),
    "video_note": ("video message", "video/mp4", "video-note.mp4"),
    "animation": ("animation", "video/mp4", "animation.mp4"),
    "sticker": ("sticker", "image/webp", "sticker.webp"),
}
#: message fields that are service messages (joins, pins, titles…), never a customer's words
SERVICE = (
    "new_chat_members", "left_chat_member", "new_chat_title", "new_chat_photo", "delete_chat_photo",
    "group_chat_created", "supergroup_chat_created", "pinned_message", "message_auto_delete_timer_changed",
    "migrate_to_chat_id", "migrate_from_chat_id", "forum_topic_created", "forum_topic_edited",
    "forum_topic_closed", "forum_topic_reopened", "video_chat_started", "video_chat_ended",
)
#: content the hub cannot show natively: a visible placeholder with its name, never a drop
OTHER_CONTENT = ("poll", "dice", "game", "invoice", "successful_payment", "story", "paid_media", "giveaway", "checklist")
_TAGS = {"bold": "b", "italic": "i", "underline": "u", "strikethrough": "s", "code": "code", "spoiler": "span", "blockquote": "blockquote"}


def load(body: bytes | str) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadInvalid(f"telegram: update is not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        raise PayloadInvalid("telegram: not a Bot API Update (no integer update_id)")
    return data


def _obj(m: Mapping[str, Any], key: str) -> dict[str, Any]:
    v = m.get(key)
    return v if isinstance(v, dict) else {}


def message_of(update: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """(update type, the Message) for message / edited_message updates; ("", {}) otherwise."""
    for key in ("message", "edited_message"):
        if isinstance(update.get(key), dict):
            return key, update[key]
    return "", {}


def display_name(user: Mapping[str, Any]) -> str:
    name = " ".join(str(user.get(k) or "").strip() for k in ("first_name", "last_name")).strip()
    return name or (f"@{user['username']}" if user.get("username") else str(user.get("id") or ""))


def _text_and_entities(msg: Mapping[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    if isinstance(msg.get("text"), str):
        return msg["text"], [e for e in msg.get("entities") or () if isinstance(e, dict)]
    if isinstance(msg.get("caption"), str):
        return msg["caption"], [e for e in msg.get("caption_entities") or () if isinstance(e, dict)]
    return "", []


def _utf16_slices(text: str) -> list[int]:
    """Index of each UTF-16 code unit's character: entity offsets count UTF-16 units."""
    out: list[int] = []
    for i, ch in enumerate(text):
        out.extend([i] * (2 if ord(ch) > 0xFFFF else 1))
    out.append(len(text))
    return out


def _entity_spans(text: str, entities: list[dict[str, Any]]) -> list[tuple[int, int, dict[str, Any]]]:
    units = _utf16_slices(text)
    spans = []
    for e in entities:
        try:
            start, length = int(e["offset"]), int(e["length"])
        except (KeyError, TypeError, ValueError):
            continue
        if start < 0 or length <= 0 or start + length > len(units) - 1:
            continue
        spans.append((units[start], units[start + length], e))
    return spans


def mentions_bot(msg: Mapping[str, Any], bot: Mapping[str, Any]) -> bool:
    """An @mention of the bot (by username or text_mention) or a reply to one of its messages."""
    bot_id, username = bot.get("id"), str(bot.get("username") or "").lower()
    if _obj(_obj(msg, "reply_to_message"), "from").get("id") == bot_id and bot_id is not None:
        return True
    text, entities = _text_and_entities(msg)
    for start, end, e in _entity_spans(text, entities):
        if e.get("type") == "mention" and username and text[start:end].lstrip("@").lower() == username:
            return True
        if e.get("type") == "text_mention" and _obj(e, "user").get("id") == bot_id:
            return True
        if e.get("type") == "bot_command" and username and text[start:end].lower().endswith("@" + username):
            return True
    return False


def ignore_reason(update: Mapping[str, Any], *, bot: Mapping[str, Any], chats: str = PRIVATE) -> str | None:
    """Why this update is not a customer message (None: it is one)."""
    if isinstance(update.get("my_chat_member"), dict):
        member = update["my_chat_member"]
        if _obj(member, "chat").get("type") != PRIVATE:
            return "bot membership change in a group"
        return None  # blocked / unblocked by the customer: an identity update
    kind, msg = message_of(update)
    if not kind:
        known = [k for k in update if k != "update_id"]
        return f"update type {known[0] if known else 'unknown'!r} is not a customer message"
    chat, sender = _obj(msg, "chat"), _obj(msg, "from")
    ctype = chat.get("type")
    if ctype == "channel" or not sender:
        return "channel post"
    if sender.get("is_bot"):
        return "message from a bot"
    if any(k in msg for k in SERVICE):
        return "service message"
    if ctype in GROUP_TYPES:
        if chats != "private_and_groups":
            return "group message (the connector's chats setting is private)"
        if not mentions_bot(msg, bot):
            return "group message that neither mentions nor replies to the bot"
    elif ctype != PRIVATE:
        return f"chat type {ctype!r}"
    return None


def thread_key(msg: Mapping[str, Any]) -> str:
    chat, sender = _obj(msg, "chat"), _obj(msg, "from")
    if chat.get("type") == PRIVATE:
        return str(chat.get("id"))
    key = f"{chat.get('id')}:{sender.get('id')}"
    if msg.get("is_topic_message") and msg.get("message_thread_id"):
        key += f":t{msg['message_thread_id']}"
    return key


def _html(text: str, entities: list[dict[str, Any]]) -> str:
    """Entities -> safe HTML (links kept, formatting kept); ``""`` when there is nothing to format."""
    spans = [s for s in _entity_spans(text, entities) if s[2].get("type") in (*_TAGS, "text_link", "url", "pre")]
    if not spans:
        return ""
    opens: dict[int, list[str]] = {}
    closes: dict[int, list[str]] = {}
    for start, end, e in sorted(spans, key=lambda s: (s[0], -s[1])):
        etype = e.get("type")
        if etype == "text_link":
            url = str(e.get("url") or "")
            if not url.lower().startswith(("http://", "https://", "tg://")):
                continue
            tag, attrs = "a", f' href="{htmllib.escape(url, quote=True)}"'
        elif etype == "url":
            url = text[start:end]
            target = url if "://" in url else "https://" + url
            tag, attrs = "a", f' href="{htmllib.escape(target, quote=True)}"'
        elif etype == "pre":
            tag, attrs = "pre", ""
        else:
            tag, attrs = _TAGS[str(etype)], ""
        opens.setdefault(start, []).append(f"<{tag}{attrs}>")
        closes.setdefault(end, []).insert(0, f"</{tag}>")
    out: list[str] = []
    for i, ch in enumerate(text + "\x00"):
        out.extend(closes.get(i, ()))
        if i < len(text):
            out.extend(opens.get(i, ()))
            out.append("<br>" if ch == "\n" else htmllib.escape(ch))
    return "".join(out)


def _plain(text: str, entities: list[dict[str, Any]]) -> str:
    """The text with each text_link's address after its label, so no link is lost."""
    links = sorted((s for s in _entity_spans(text, entities) if s[2].get("type") == "text_link"), key=lambda s: s[0], reverse=True)
    for _start, end, e in links:
        url = str(e.get("url") or "")
        if url and url not in text:
            text = f"{text[:end]} ({url}){text[end:]}"
    return text


def _attachments(msg: Mapping[str, Any]) -> list[Attachment]:
    out: list[Attachment] = []
    for field, (_label, ctype, fname) in MEDIA.items():
        value = msg.get(field)
        if field == "photo" and isinstance(value, list):
            sizes = [p for p in value if isinstance(p, dict) and p.get("file_id")]
            value = max(sizes, key=lambda p: (p.get("file_size") or 0, (p.get("width") or 0) * (p.get("height") or 0))) if sizes else None
        if not isinstance(value, dict) or not value.get("file_id"):
            continue
        name = str(value.get("file_name") or fname)
        if field == "sticker" and (value.get("is_animated") or value.get("is_video")):
            ctype, name = ("video/webm", "sticker.webm") if value.get("is_video") else ("application/x-tgsticker", "sticker.tgs")
        out.append(Attachment(
            filename=name,
            content_type=str(value.get("mime_type") or ctype),
            size=value.get("file_size") if isinstance(value.get("file_size"), int) else None,
            url=f"tg-file:{value['file_id']}",
        ))
    return out


def _described(msg: Mapping[str, Any]) -> list[str]:
    """Text for content that carries no words of its own (location, contact, sticker, poll…)."""
    lines = []
    sticker = _obj(msg, "sticker")
    if sticker:
        lines.append(f"[sticker {sticker.get('emoji') or ''}]".replace(" ]", "]"))
    venue, location = _obj(msg, "venue"), _obj(msg, "location")
    if venue:
        spot = _obj(venue, "location")
        link = f" https://www.openstreetmap.org/?mlat={spot.get('latitude')}&mlon={spot.get('longitude')}" if spot else ""
        lines.append(f"[venue: {venue.get('title') or ''}, {venue.get('address') or ''}{link}]")
    if location and not venue:
        lat, lon = location.get("latitude"), location.get("longitude")
        lines.append(f"[location: {lat}, {lon} https://www.openstreetmap.org/?mlat={lat}&mlon={lon}]")
    contact = _obj(msg, "contact")
    if contact:
        name = " ".join(str(contact.get(k) or "") for k in ("first_name", "last_name")).strip()
        lines.append(f"[contact: {name} {contact.get('phone_number') or ''}]".replace("  ", " "))
    for key in OTHER_CONTENT:
        if key in msg:
            title = ""
            if key == "poll":
                title = ": " + str(_obj(msg, "poll").get("question") or "")
            lines.append(f"[Telegram {key.replace('_', ' ')}{title} — not shown here]")
    return lines


def _sender(user: Mapping[str, Any]) -> Participant:
    username = str(user.get("username") or "") or None
    return Participant(medium=MEDIUM, address=str(user.get("id")), name=display_name(user), username=username)


def _when(value: Any) -> datetime:
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return datetime.now(UTC)


def normalize(update: Mapping[str, Any], *, connector: str, bot: Mapping[str, Any], chats: str = PRIVATE) -> list[NormalizedMessage]:
    if ignore_reason(update, bot=bot, chats=chats):
        return []
    if isinstance(update.get("my_chat_member"), dict):
        return _membership(update, connector)
    kind, msg = message_of(update)
    chat, sender = _obj(msg, "chat"), _obj(msg, "from")
    if chat.get("id") is None or msg.get("message_id") is None or sender.get("id") is None:
        raise PayloadInvalid("telegram: message without chat.id, message_id or from.id")
    base_id = f"{chat['id']}:{msg['message_id']}"
    text, entities = _text_and_entities(msg)
    body = _plain(text, entities)
    html = _html(text, entities)
    described = _described(msg)
    attachments = _attachments(msg)
    extra: dict[str, Any] = {"chat_id": chat["id"], "chat_type": chat.get("type"), "message_id": msg["message_id"]}
    if chat.get("type") in GROUP_TYPES:
        extra["chat_title"] = str(chat.get("title") or "")
        if msg.get("message_thread_id"):
            extra["message_thread_id"] = msg["message_thread_id"]
    if sender.get("language_code"):
        extra["locale"] = str(sender["language_code"])  # the Telegram app's language: a prior, not the answer
    reply_to = _obj(msg, "reply_to_message")
    if reply_to.get("message_id") is not None:
        extra["reply_to"] = f"{chat['id']}:{reply_to['message_id']}"
    if text.startswith("/start") and (len(text) == 6 or text[6] in " @"):
        payload = text[6:].split("@", 1)[0] if text[6:7] == "@" else text[7:]
        payload = payload.split(" ", 1)[-1].strip() if text[6:7] == "@" else payload.strip()
        extra["start"] = True
        if payload:
            extra["start_payload"] = payload  # a deep link's customer reference (t.me/<bot>?start=<ref>)
    if msg.get("forward_origin") or msg.get("forward_from") or msg.get("forward_date"):
        origin = _obj(msg, "forward_origin")
        who = _obj(origin, "sender_user") or _obj(msg, "forward_from")
        label = display_name(who) if who else str(origin.get("sender_user_name") or _obj(origin, "chat").get("title") or "someone")
        described.insert(0, f"[forwarded from {label}]")
    full = "\n".join(x for x in (*described, body) if x)
    if not full and not attachments:
        full = "[Telegram message with no content the hub can show]"
    common: dict[str, Any] = dict(
        medium=MEDIUM,
        connector=connector,
        thread_key=thread_key(msg),
        sender=_sender(sender),
        text=full,
        full_text=full,
        html=html,
        attachments=tuple(attachments),
        extra=extra,
    )
    if kind == "edited_message":
        when = _when(msg.get("edit_date") or msg.get("date"))
        return [NormalizedMessage(external_id=f"{base_id}:edit:{msg.get('edit_date') or ''}", sent_at=when, kind="edit",
                                  in_reply_to=base_id, **common)]
    return [NormalizedMessage(external_id=base_id, sent_at=_when(msg.get("date")), in_reply_to=extra.get("reply_to"), **common)]


def _membership(update: Mapping[str, Any], connector: str) -> list[NormalizedMessage]:
    """The customer blocked (``kicked``) or restarted (``member``) the bot in a private chat."""
    member = update["my_chat_member"]
    user, chat = _obj(member, "from"), _obj(member, "chat")
    status = _obj(member, "new_chat_member").get("status")
    if status not in ("kicked", "member") or user.get("id") is None:
        return []
    when = _when(member.get("date"))
    blocked = status == "kicked"
    reason = f"The customer blocked the Telegram bot on {when.date().isoformat()}" if blocked else ""
    return [NormalizedMessage(
        medium=MEDIUM,
        connector=connector,
        external_id=f"{chat.get('id')}:member:{update['update_id']}",
        thread_key=str(chat.get("id")),
        sender=_sender(user),
        sent_at=when,
        kind="status",
        identity_update=IdentityUpdate(opted_out=blocked, reason=reason),
        extra={"chat_id": chat.get("id"), "membership": status},
    )]
