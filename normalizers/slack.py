"""slack channel: an Events API ``event_callback`` envelope -> NormalizedMessage(s). Pure.

The adapter (``channels/slack.py``) resolves users and Slack Connect files over the Web API
and hands them in as plain dicts; nothing here does I/O.

Ids and keys (stable, so edits and deletes can target a message):
  external_id  ``<channel>:<ts>`` for a message; ``…:edit:<edit ts>`` / ``…:delete`` for those
  thread_key   ``<channel>:<thread_ts or ts>`` in channels (a conversation is a thread; a
               top-level message starts one); ``<channel>`` in DMs and group DMs, where the
               hub starts a new conversation after an idle gap or a resolution (adapter
               capabilities ``idle_gap`` / ``reopen_resolved``).
Events that are not customer messages (bots, our own posts, joins/leaves, topic changes,
reactions, …) normalize to ``[]`` on purpose; ``ignore_reason`` says why.
"""

from __future__ import annotations

import html as htmllib
import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import nh3

from hub.errors import PayloadInvalid
from normalizers.model import Attachment, Medium, NormalizedMessage, Participant

MEDIUM = Medium.SLACK

#: message subtypes that carry a customer's words
MESSAGE_SUBTYPES = frozenset({None, "", "file_share", "thread_broadcast", "me_message"})
#: conversation types the hub treats as one conversation per channel (no threads)
DIRECT_TYPES = frozenset({"im", "mpim"})
#: Slack's own system user (reminders, "you have been removed from #x", email forwards)
SLACKBOT = "USLACKBOT"
SELECTORS = frozenset({"all", "shared", "dm"})

_TOKEN = re.compile(r"<([^<>\n]*)>")
_PLACEHOLDER = re.compile(r"\x00(\d+)\x00")
_FENCE = re.compile(r"```(.*?)```", re.DOTALL)
_INLINE_CODE = re.compile(r"`([^`\n]+)`")
_STYLES = (  # (marker, html tag); markers must hug the words and sit on word boundaries
    (re.compile(r"(?<![\w*])\*(?=\S)([^*\n]*?\S)\*(?![\w*])"), "b"),
    (re.compile(r"(?<![\w_])_(?=\S)([^_\n]*?\S)_(?![\w_])"), "i"),
    (re.compile(r"(?<![\w~])~(?=\S)([^~\n]*?\S)~(?![\w~])"), "s"),
)
_QUOTE = re.compile(r"^&gt;\s?(.*)$", re.MULTILINE)


# --- envelope -----------------------------------------------------------------------------


def _obj(m: Mapping[str, Any], key: str) -> dict[str, Any]:
    """A nested JSON object of a payload, or {} when it is missing or not an object."""
    v = m.get(key)
    return v if isinstance(v, dict) else {}



def load(payload: bytes | str | Mapping[str, Any]) -> dict[str, Any]:
    """Decode a journaled Events API body (or a Socket Mode payload) into a dict."""
    if isinstance(payload, Mapping):
        return dict(payload)
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadInvalid(f"slack: body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise PayloadInvalid("slack: body must be a JSON object")
    if data.get("event") is not None and not isinstance(data["event"], dict):
        raise PayloadInvalid("slack: field event must be an object")
    return data


def own_bot_user_ids(envelope: Mapping[str, Any]) -> set[str]:
    """The bot user(s) this event was delivered to (our own app), from ``authorizations``."""
    out = set()
    for auth in envelope.get("authorizations") or ():
        if isinstance(auth, dict) and auth.get("is_bot") and auth.get("user_id"):
            out.add(auth["user_id"])
    return out


def channel_selected(selection: Iterable[str], channel: str, channel_type: str | None, shared: bool) -> bool:
    """True when the connector's ``channels`` setting covers this conversation.

    ``all`` = every channel the bot is in (public, private); ``shared`` = Slack Connect
    channels; ``dm`` = direct messages and group DMs; anything else is a channel id.
    """
    chosen = set(selection)
    if channel in chosen:
        return True
    if channel_type in DIRECT_TYPES or (not channel_type and channel.startswith("D")):
        return "dm" in chosen
    if "all" in chosen:
        return True
    return "shared" in chosen and shared


def ignore_reason(envelope: Mapping[str, Any], selection: Iterable[str] = ("all", "dm")) -> str | None:
    """Why this envelope yields no message (housekeeping, bots, other channels), or None."""
    event = envelope.get("event")
    if not isinstance(event, dict):
        return f"not an event callback ({envelope.get('type') or 'no type'})"
    etype = event.get("type")
    if etype not in ("message", "app_mention"):
        return f"{etype or 'untyped'} event"
    channel = event.get("channel")
    if not isinstance(channel, str) or not channel:
        return "no channel"
    shared = bool(envelope.get("is_ext_shared_channel"))
    if not channel_selected(selection, channel, event.get("channel_type"), shared):
        return f"channel {channel} is not selected for this connector"
    subtype = event.get("subtype")
    own = own_bot_user_ids(envelope)
    if subtype == "message_changed":
        inner = _obj(event, "message")
        why = _bot_reason(inner, own)
        if why:
            return f"edit of a {why}"
        if inner.get("subtype") == "tombstone":
            return None
        before = _obj(event, "previous_message")
        if before and inner.get("text") == before.get("text") and _file_ids(inner) == _file_ids(before):
            return "message_changed without a text change (unfurl or thread metadata)"
        return None if inner.get("ts") else "message_changed without the message"
    if subtype == "message_deleted":
        before = _obj(event, "previous_message")
        why = _bot_reason(before, own)
        if why:
            return f"deletion of a {why}"
        return None if (event.get("deleted_ts") or before.get("ts")) else "message_deleted without deleted_ts"
    if subtype not in MESSAGE_SUBTYPES and subtype != "bot_message":
        return f"housekeeping message ({subtype})"
    why = _bot_reason(event, own)
    if why:
        return why
    if not event.get("ts"):
        return "message without ts"
    if not event.get("user"):
        return "message without a user"
    return None


def _bot_reason(msg: Mapping[str, Any], own: set[str]) -> str | None:
    if msg.get("user") and msg.get("user") in own:
        return "message from our own bot"
    profile = _obj(msg, "bot_profile")
    if msg.get("bot_id") or msg.get("subtype") == "bot_message" or profile.get("id"):
        return "bot message"
    if msg.get("user") == SLACKBOT:
        return "Slackbot message"
    return None


def _file_ids(msg: Mapping[str, Any]) -> list[str]:
    return [f.get("id", "") for f in msg.get("files") or () if isinstance(f, dict)]


def user_ids(envelope: Mapping[str, Any]) -> set[str]:
    """Users worth resolving (sender and mentioned users), for the adapter's users.info cache."""
    event = envelope.get("event") or {}
    out: set[str] = set()
    for msg in (event, event.get("message") or {}, event.get("previous_message") or {}):
        if not isinstance(msg, dict):
            continue
        if isinstance(msg.get("user"), str) and msg["user"]:
            out.add(msg["user"])
        for m in _TOKEN.finditer(msg.get("text") or ""):
            inner = m.group(1)
            if inner.startswith("@"):
                out.add(inner[1:].split("|", 1)[0])
    out.discard("")
    return out


def files_needing_info(envelope: Mapping[str, Any]) -> list[str]:
    """Slack Connect files delivered as stubs (``file_access: check_file_info``): call files.info."""
    event = envelope.get("event") or {}
    msg = event.get("message") if event.get("subtype") == "message_changed" else event
    return [
        f["id"]
        for f in (msg or {}).get("files") or ()
        if isinstance(f, dict) and f.get("id") and f.get("file_access") == "check_file_info"
    ]


# --- mrkdwn -------------------------------------------------------------------------------


def _user_label(uid: str, label: str, users: Mapping[str, Mapping[str, Any]]) -> str:
    info = users.get(uid) or {}
    return "@" + (info.get("name") or label or uid)


def _token(inner: str, users: Mapping[str, Mapping[str, Any]], channels: Mapping[str, Mapping[str, Any]]) -> tuple[str, str | None]:
    """One ``<…>`` token -> (display text, link target or None). Text is NOT html-escaped."""
    target, _, label = inner.partition("|")
    label = htmllib.unescape(label)
    if target.startswith("@"):
        return _user_label(target[1:], label, users), None
    if target.startswith("#"):
        cid = target[1:]
        name = label or (channels.get(cid) or {}).get("name") or cid
        return "#" + name, None
    if target.startswith("!"):
        special = target[1:]
        if special in ("here", "channel", "everyone"):
            return "@" + special, None
        if special.startswith("subteam^"):
            return label or "@group", None
        return label or "", None  # <!date^…|fallback>, unknown specials
    url = htmllib.unescape(target)
    if url.startswith("mailto:"):
        return label or url[len("mailto:"):], url
    return label or url, url


def mrkdwn_to_text(
    text: str,
    users: Mapping[str, Mapping[str, Any]] | None = None,
    channels: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """Slack mrkdwn -> plain text: links as ``label (url)``, mentions as names, markers dropped."""
    users, channels = users or {}, channels or {}
    tokens: list[str] = []

    def keep(value: str) -> str:
        tokens.append(value)
        return f"\x00{len(tokens) - 1}\x00"

    def link(m: re.Match) -> str:
        shown, url = _token(m.group(1), users, channels)
        if url and shown != url and not url.startswith("mailto:"):
            shown = f"{shown} ({url})"
        return keep(shown)

    out = _TOKEN.sub(link, text or "")
    out = _FENCE.sub(lambda m: keep(htmllib.unescape(m.group(1).strip("\n"))), out)
    out = _INLINE_CODE.sub(lambda m: keep(htmllib.unescape(m.group(1))), out)
    for pattern, _tag in _STYLES:
        out = pattern.sub(r"\1", out)
    return _restore(htmllib.unescape(out), tokens)


def mrkdwn_to_html(
    text: str,
    users: Mapping[str, Mapping[str, Any]] | None = None,
    channels: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """Slack mrkdwn -> sanitized HTML (links, mentions, bold/italic/strike, code, quotes)."""
    users, channels = users or {}, channels or {}
    tokens: list[str] = []

    def keep(value: str) -> str:
        tokens.append(value)
        return f"\x00{len(tokens) - 1}\x00"

    def link(m: re.Match) -> str:
        shown, url = _token(m.group(1), users, channels)
        if url:
            return keep(f'<a href="{htmllib.escape(url)}">{htmllib.escape(shown)}</a>')
        return keep(f"<span class=\"mention\">{htmllib.escape(shown)}</span>" if shown else "")

    # Slack sends text with &, <, > escaped (https://docs.slack.dev/messaging/formatting-message-text);
    # unescape + escape normalizes it to exactly one level of escaping.
    out = _TOKEN.sub(link, text or "")
    out = _FENCE.sub(lambda m: keep("<pre>" + _reescape(m.group(1).strip("\n")) + "</pre>"), out)
    out = _INLINE_CODE.sub(lambda m: keep("<code>" + _reescape(m.group(1)) + "</code>"), out)
    out = _reescape(out)
    for pattern, tag in _STYLES:
        out = pattern.sub(rf"<{tag}>\1</{tag}>", out)
    out = _QUOTE.sub(r"<blockquote>\1</blockquote>", out)
    out = out.replace("</blockquote>\n<blockquote>", "<br>").replace("\n", "<br>")
    out = _restore(out, tokens)
    return nh3.clean(out, tags={"a", "b", "i", "s", "code", "pre", "blockquote", "br", "span"},
                     attributes={"a": {"href"}, "span": {"class"}}, url_schemes={"http", "https", "mailto"})


def _restore(text: str, tokens: list[str]) -> str:
    """Put kept tokens back (a code span may hold a link token: restore until none is left)."""
    for _ in range(3):
        if "\x00" not in text:
            break
        text = _PLACEHOLDER.sub(lambda m: tokens[int(m.group(1))], text)
    return text


def _reescape(text: str) -> str:
    return htmllib.escape(htmllib.unescape(text), quote=False)


# --- messages -----------------------------------------------------------------------------


def _ts_to_datetime(ts: Any, fallback: datetime | None = None) -> datetime:
    try:
        return datetime.fromtimestamp(float(ts), tz=UTC)
    except (TypeError, ValueError, OverflowError):
        return fallback or datetime.now(UTC)


def thread_key_for(channel: str, channel_type: str | None, ts: str, thread_ts: str | None) -> str:
    """``<channel>:<thread_ts or ts>`` in channels; ``<channel>`` in DMs and group DMs."""
    if channel_type in DIRECT_TYPES or (not channel_type and channel.startswith("D")):
        return channel
    return f"{channel}:{thread_ts or ts}"


def _sender(msg: Mapping[str, Any], envelope: Mapping[str, Any], users: Mapping[str, Mapping[str, Any]]) -> Participant:
    uid = str(msg.get("user") or "unknown")  # a malformed event may carry a number
    info = dict(users.get(uid) or {})
    profile = _obj(msg, "user_profile")
    name = str(
        info.get("name")
        or profile.get("display_name")
        or profile.get("real_name")
        or profile.get("name")
        or uid
    )
    team = msg.get("user_team") or info.get("team") or profile.get("team") or msg.get("team") or envelope.get("team_id") or ""
    home = envelope.get("team_id") or ""
    extra: dict[str, Any] = {"team": team}
    if team and home and team != home:
        extra["external_team"] = True  # Slack Connect: a member of another workspace
    email = (info.get("email") or "").strip().lower() or None
    # Slack user ids are unique across workspaces (Slack Connect shows the remote user's own
    # id), so the bare id is the address; the team is kept in extra.
    return Participant(medium=MEDIUM, address=uid, name=name, verified_email=email, extra=extra)


def _attachments(msg: Mapping[str, Any], files: Mapping[str, Mapping[str, Any]]) -> tuple[Attachment, ...]:
    out = []
    for stub in msg.get("files") or ():
        if not isinstance(stub, dict):
            continue
        f = {**stub, **(files.get(stub.get("id", "")) or {})}
        name = f.get("name") or f.get("title") or f.get("id") or "file"
        ctype = f.get("mimetype") or "application/octet-stream"
        size = f.get("size") if isinstance(f.get("size"), int) else None
        url = f.get("url_private_download") or f.get("url_private")
        reason = None
        if f.get("mode") == "tombstone":
            reason = "the file was deleted in Slack"
        elif f.get("mode") == "hidden_by_limit":
            reason = "hidden by the Slack workspace's plan limit"
        elif f.get("mode") == "external" or f.get("is_external"):
            reason = f"external file ({f.get('external_type') or 'link'}): {f.get('permalink') or ''}".strip()
        elif f.get("file_access") == "check_file_info" and not url:
            reason = "Slack Connect file: details could not be fetched (files.info)"
        elif not url:
            reason = "Slack gave no download URL for this file"
        out.append(
            Attachment(
                filename=name,
                content_type=ctype,
                size=size,
                url=None if reason else url,
                placeholder_reason=reason,
            )
        )
    return tuple(out)


def _shared_text(msg: Mapping[str, Any]) -> str:
    """Forwarded / shared messages arrive as attachments with ``is_share`` or ``is_msg_unfurl``."""
    parts = []
    for att in msg.get("attachments") or ():
        if isinstance(att, dict) and (att.get("is_share") or att.get("is_msg_unfurl")) and att.get("text"):
            who = att.get("author_name") or att.get("author_subname") or "someone"
            quoted = "\n".join("&gt; " + line for line in str(att["text"]).splitlines())
            parts.append(f"Shared message from {who}:\n{quoted}")
    return "\n\n".join(parts)


def _bodies(msg: Mapping[str, Any], users, channels) -> tuple[str, str, str]:
    """(text, full_text, html) of a message, forwarded content appended to full text and html."""
    raw = msg.get("text") or ""
    shared = _shared_text(msg)
    text = mrkdwn_to_text(raw, users, channels)
    full_raw = "\n\n".join(p for p in (raw, shared) if p)
    full = mrkdwn_to_text(full_raw, users, channels)
    return (text or full), full, mrkdwn_to_html(full_raw, users, channels)


def _extra(envelope: Mapping[str, Any], event: Mapping[str, Any], msg: Mapping[str, Any]) -> dict[str, Any]:
    extra: dict[str, Any] = {
        "event_id": envelope.get("event_id"),
        "event_type": event.get("type"),
        "team_id": envelope.get("team_id"),
        "channel": event.get("channel"),
        "channel_type": event.get("channel_type"),
        "ts": msg.get("ts"),
    }
    for key in ("thread_ts", "parent_user_id", "client_msg_id", "subtype", "user_team", "source_team"):
        if msg.get(key):
            extra[key] = msg[key]
    if envelope.get("is_ext_shared_channel"):
        extra["slack_connect"] = True
    if event.get("type") == "app_mention":
        extra["mention"] = True
    return {k: v for k, v in extra.items() if v not in (None, "")}


def normalize(
    payload: bytes | str | Mapping[str, Any],
    *,
    connector: str,
    selection: Iterable[str] = ("all", "dm"),
    users: Mapping[str, Mapping[str, Any]] | None = None,
    files: Mapping[str, Mapping[str, Any]] | None = None,
    channels: Mapping[str, Mapping[str, Any]] | None = None,
    received_at: datetime | None = None,
) -> list[NormalizedMessage]:
    """One Events API envelope -> 0 or 1 normalized message.

    ``users``: ``{user_id: {"name", "email", "team"}}`` resolved by the adapter;
    ``files``: ``{file_id: files.info file}`` for Slack Connect stubs;
    ``channels``: ``{channel_id: {"name"}}`` for ``<#C…>`` mentions without a label.
    """
    envelope = load(payload)
    selection = tuple(selection)
    if ignore_reason(envelope, selection):
        return []
    users, files, channels = users or {}, files or {}, channels or {}
    event = envelope["event"]
    channel = event["channel"]
    ctype = event.get("channel_type")
    fallback_time = received_at or (
        _ts_to_datetime(envelope.get("event_time")) if envelope.get("event_time") else None
    )
    subtype = event.get("subtype")

    if subtype == "message_changed":
        inner = event["message"]
        target = f"{channel}:{inner['ts']}"
        key = thread_key_for(channel, ctype, inner["ts"], inner.get("thread_ts"))
        edited_ts = (inner.get("edited") or {}).get("ts") or event.get("ts") or event.get("event_ts") or ""
        extra = _extra(envelope, event, inner)
        if inner.get("subtype") == "tombstone":  # a parent message with replies was deleted
            return [
                NormalizedMessage(
                    medium=MEDIUM, connector=connector, external_id=f"{target}:delete",
                    thread_key=key, sender=_sender(inner, envelope, users),
                    sent_at=_ts_to_datetime(event.get("ts"), fallback_time), kind="delete",
                    in_reply_to=target, extra=extra,
                )
            ]
        text, full, html = _bodies(inner, users, channels)
        return [
            NormalizedMessage(
                medium=MEDIUM, connector=connector, external_id=f"{target}:edit:{edited_ts}",
                thread_key=key, sender=_sender(inner, envelope, users),
                sent_at=_ts_to_datetime(edited_ts, fallback_time), kind="edit", text=text,
                full_text=full, html=html, attachments=_attachments(inner, files),
                in_reply_to=target, extra=extra,
            )
        ]

    if subtype == "message_deleted":
        before = event.get("previous_message") or {}
        deleted_ts = str(event.get("deleted_ts") or before.get("ts") or "")
        target = f"{channel}:{deleted_ts}"
        return [
            NormalizedMessage(
                medium=MEDIUM, connector=connector, external_id=f"{target}:delete",
                thread_key=thread_key_for(channel, ctype, deleted_ts, before.get("thread_ts")),
                sender=_sender(before, envelope, users),
                sent_at=_ts_to_datetime(event.get("ts"), fallback_time), kind="delete",
                in_reply_to=target, extra=_extra(envelope, event, before),
            )
        ]

    ts = event["ts"]
    text, full, html = _bodies(event, users, channels)
    return [
        NormalizedMessage(
            medium=MEDIUM,
            connector=connector,
            external_id=f"{channel}:{ts}",
            thread_key=thread_key_for(channel, ctype, ts, event.get("thread_ts")),
            sender=_sender(event, envelope, users),
            sent_at=_ts_to_datetime(ts, fallback_time),
            text=text,
            full_text=full,
            html=html,
            attachments=_attachments(event, files),
            extra=_extra(envelope, event, event),
        )
    ]
