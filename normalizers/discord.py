"""discord channel: one journaled Gateway dispatch (or interaction) -> NormalizedMessage(s). Pure.

The poller journals an envelope ``{"t": <dispatch name>, "d": <payload>, "channel":
<the channel object when known>}`` for MESSAGE_CREATE / MESSAGE_UPDATE / MESSAGE_DELETE
in direct messages and in threads of the support channels
(https://discord.com/developers/docs/events/gateway-events#message-create).

Ids and keys:
  external_id  ``<channel id>:<message id>``; an edit ``…:edit:<edited_timestamp>`` and a
               delete ``…:delete``, both with ``in_reply_to`` naming the message.
  thread_key   ``dm:<channel id>`` for a direct message (a new conversation after an idle
               gap or a resolution), ``thread:<channel id>`` for a support thread (one
               thread = one conversation, reopened when the customer writes again).
Bot, webhook and system messages normalize to ``[]``; ``ignore_reason`` says why.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from hub.errors import PayloadInvalid
from normalizers.model import Attachment, Medium, NormalizedMessage, Participant

MEDIUM = Medium.DISCORD
#: message types that carry a person's words (DEFAULT, REPLY); THREAD_STARTER_MESSAGE is a
#: system copy and CHAT_INPUT_COMMAND an interaction's echo
USER_TYPES = frozenset({0, 19})
DM = 1
GROUP_DM = 3
THREAD_TYPES = frozenset({10, 11, 12})  # announcement, public and private threads
_MENTION = re.compile(r"<@!?(\d+)>")
_CHANNEL_MENTION = re.compile(r"<#(\d+)>")
_EMOJI = re.compile(r"<a?(:\w+:)\d+>")


def load(body: bytes | str) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadInvalid(f"discord: event is not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("d"), dict) or not isinstance(data.get("t"), str):
        raise PayloadInvalid("discord: not a journaled Gateway dispatch (no t / d)")
    return data


def _obj(m: Mapping[str, Any], key: str) -> dict[str, Any]:
    v = m.get(key)
    return v if isinstance(v, dict) else {}


def is_dm(d: Mapping[str, Any], channel: Mapping[str, Any] | None = None) -> bool:
    if channel and channel.get("type") in (DM, GROUP_DM):
        return True
    return not d.get("guild_id")


def thread_key(d: Mapping[str, Any], channel: Mapping[str, Any] | None = None) -> str:
    return f"{'dm' if is_dm(d, channel) else 'thread'}:{d.get('channel_id')}"


def ignore_reason(envelope: Mapping[str, Any], *, support_channel_ids: tuple[str, ...] = (), dms: bool = True,
                  guild_ids: tuple[str, ...] = ()) -> str | None:
    """Why this dispatch is not a customer's message (None: it is one)."""
    t, d = envelope.get("t"), _obj(envelope, "d")
    if t not in ("MESSAGE_CREATE", "MESSAGE_UPDATE", "MESSAGE_DELETE"):
        return f"dispatch {t!r} is not a message"
    channel = _obj(envelope, "channel")
    if is_dm(d, channel):
        if not dms:
            return "direct message (the connector's dms setting is off)"
    else:
        if guild_ids and str(d.get("guild_id")) not in guild_ids:
            return "a server the connector does not serve"
        parent = str(channel.get("parent_id") or "")
        if channel.get("type") not in THREAD_TYPES or parent not in support_channel_ids:
            return "a server message outside the support channels' threads"
    if t == "MESSAGE_DELETE":
        return None
    author = _obj(d, "author")
    if t == "MESSAGE_UPDATE" and not author:
        return "an update without content (an embed resolved)"
    if author.get("bot") or author.get("system") or d.get("webhook_id"):
        return "message from a bot, a webhook or Discord itself"
    if t == "MESSAGE_CREATE" and d.get("type") not in USER_TYPES:
        return f"system message type {d.get('type')}"
    return None


def display_name(user: Mapping[str, Any], member: Mapping[str, Any] | None = None) -> str:
    return str((member or {}).get("nick") or user.get("global_name") or user.get("username") or user.get("id") or "")


def _text(d: Mapping[str, Any]) -> str:
    names = {str(u.get("id")): display_name(u, _obj(u, "member")) for u in d.get("mentions") or () if isinstance(u, dict)}
    text = str(d.get("content") or "")
    text = _MENTION.sub(lambda m: "@" + names.get(m.group(1), m.group(1)), text)
    text = _CHANNEL_MENTION.sub(lambda m: f"#{m.group(1)}", text)
    return _EMOJI.sub(lambda m: m.group(1), text)


def _attachments(d: Mapping[str, Any]) -> list[Attachment]:
    out = []
    for a in d.get("attachments") or ():
        if not isinstance(a, dict) or not a.get("url"):
            continue
        out.append(Attachment(
            filename=str(a.get("filename") or "file"),
            content_type=str(a.get("content_type") or "application/octet-stream").split(";")[0],
            size=a.get("size") if isinstance(a.get("size"), int) else None,
            url=str(a["url"]),
        ))
    return out


def _described(d: Mapping[str, Any]) -> list[str]:
    lines = [f"[sticker {s.get('name') or ''}]" for s in d.get("sticker_items") or () if isinstance(s, dict)]
    if isinstance(d.get("poll"), dict):
        question = _obj(_obj(d, "poll"), "question").get("text") or ""
        lines.append(f"[Discord poll: {question} — not shown here]")
    return lines


def _when(value: Any) -> datetime:
    try:
        when = datetime.fromisoformat(str(value))
        return when if when.tzinfo else when.replace(tzinfo=UTC)
    except ValueError:
        return datetime.now(UTC)


def normalize(envelope: Mapping[str, Any], *, connector: str, support_channel_ids: tuple[str, ...] = (), dms: bool = True,
              guild_ids: tuple[str, ...] = ()) -> list[NormalizedMessage]:
    if ignore_reason(envelope, support_channel_ids=support_channel_ids, dms=dms, guild_ids=guild_ids):
        return []
    t, d = envelope["t"], _obj(envelope, "d")
    channel = _obj(envelope, "channel")
    if d.get("id") is None or d.get("channel_id") is None:
        raise PayloadInvalid("discord: message without id or channel_id")
    base = f"{d['channel_id']}:{d['id']}"
    key = thread_key(d, channel)
    extra: dict[str, Any] = {"channel_id": str(d["channel_id"])}
    if d.get("guild_id"):
        extra["guild_id"] = str(d["guild_id"])
    if channel.get("name"):
        extra["thread_name"] = str(channel["name"])
    if t == "MESSAGE_DELETE":
        return [NormalizedMessage(medium=MEDIUM, connector=connector, external_id=f"{base}:delete", thread_key=key,
                                  sender=Participant(medium=MEDIUM, address=""), sent_at=datetime.now(UTC), kind="delete",
                                  in_reply_to=base, extra=extra)]
    author = _obj(d, "author")
    sender = Participant(medium=MEDIUM, address=str(author.get("id")), name=display_name(author, _obj(d, "member")),
                         username=str(author.get("username") or "") or None)
    text = "\n".join(x for x in (*_described(d), _text(d)) if x)
    attachments = _attachments(d)
    if not text and not attachments:
        text = "[Discord message with no content the hub can show]"
    ref = _obj(d, "message_reference")
    if t == "MESSAGE_UPDATE":
        edited = str(d.get("edited_timestamp") or "")
        return [NormalizedMessage(medium=MEDIUM, connector=connector, external_id=f"{base}:edit:{edited}", thread_key=key,
                                  sender=sender, sent_at=_when(edited or d.get("timestamp")), kind="edit", text=text,
                                  full_text=text, attachments=tuple(attachments), in_reply_to=base, extra=extra)]
    in_reply_to = f"{ref.get('channel_id') or d['channel_id']}:{ref['message_id']}" if ref.get("message_id") else None
    return [NormalizedMessage(medium=MEDIUM, connector=connector, external_id=base, thread_key=key, sender=sender,
                              sent_at=_when(d.get("timestamp")), text=text, full_text=text, attachments=tuple(attachments),
                              in_reply_to=in_reply_to, extra=extra)]


def interaction_message(interaction: Mapping[str, Any], *, connector: str, thread_id: str) -> NormalizedMessage:
    """The "Contact support" command or button: the customer asked for help; their private
    thread (made by the adapter) is the conversation."""
    member = _obj(interaction, "member")
    user = _obj(member, "user") or _obj(interaction, "user")
    sender = Participant(medium=MEDIUM, address=str(user.get("id")), name=display_name(user, member),
                         username=str(user.get("username") or "") or None)
    text = "[asked for help with the Contact support command; a private thread was opened]"
    return NormalizedMessage(medium=MEDIUM, connector=connector, external_id=f"interaction:{interaction.get('id')}",
                             thread_key=f"thread:{thread_id}", sender=sender, sent_at=datetime.now(UTC), text=text,
                             full_text=text, extra={"channel_id": thread_id, "guild_id": str(interaction.get("guild_id") or "")})
