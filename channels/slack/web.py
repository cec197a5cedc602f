"""Slack Web API helpers: error translation, scopes, mrkdwn escaping, thread keys, signing."""

from __future__ import annotations

import re
import time
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier

from hub.errors import AuthError, PermanentDeliveryError, error_for_status

CHANNEL_ID = re.compile(r"^[CDG][A-Z0-9]{2,}$")

# Web API error codes (https://docs.slack.dev/reference/methods/chat.postMessage#errors)
# -> what the agent or admin should do about them.
PERMANENT_ERRORS = {
    "channel_not_found": "the channel no longer exists or the bot cannot see it",
    "not_in_channel": "the bot is not a member of this channel: invite it with /invite @<bot>",
    "is_archived": "the channel is archived: unarchive it or answer the customer elsewhere",
    "msg_too_long": "the message is too long for Slack",
    "no_text": "the reply has no text",
    "restricted_action": "a workspace setting prevents the bot from posting in this channel",
    "restricted_action_read_only_channel": "the channel is read-only for the bot",
    "restricted_action_thread_only_channel": "the channel only allows thread replies",
    "restricted_action_non_threadable_channel": "the channel does not allow threads",
    "cannot_reply_to_message": "this message cannot be replied to in a thread",
    "thread_not_found": "the Slack thread no longer exists",
    "ekm_access_denied": "the workspace's Enterprise Key Management revoked access",
    "team_access_not_granted": "the bot is not installed in the workspace that owns this Slack Connect channel",
    "channel_is_archived": "the channel is archived",
    "duplicate_channel_not_found": "the channel no longer exists",
    "user_is_restricted": "the recipient is a restricted user the bot cannot message",
    "too_many_attachments": "too many files on one message",
    "invalid_blocks": "Slack refused the message format",
    "as_user_not_supported": "the bot token cannot post as a user",
}
AUTH_ERRORS = {
    "not_authed": "no bot token was sent",
    "invalid_auth": "the bot token is invalid",
    "account_inactive": "the bot token belongs to a deleted user or workspace",
    "token_revoked": "the bot token was revoked: reinstall the app",
    "token_expired": "the bot token expired: rotate it",
    "no_permission": "the bot token lacks permission for this",
    "missing_scope": "the bot token lacks a scope",
    "not_allowed_token_type": "wrong token type (use the xoxb- bot token)",
}
RETRIABLE_ERRORS = {"ratelimited", "rate_limited", "fatal_error", "internal_error", "service_unavailable", "request_timeout"}

def sign(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Slack v0 request-signing headers for body (what Slack itself sends)."""
    ts = str(int(timestamp if timestamp is not None else time.time()))
    verifier = SignatureVerifier(secret)
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": verifier.generate_signature(timestamp=ts, body=body) or ""}


def split_thread_key(thread_key: str) -> tuple[str, str | None]:
    """``C123:1700000000.000100`` -> (channel, thread_ts); ``D123`` (a DM) -> (channel, None)."""
    channel, _, thread_ts = (thread_key or "").partition(":")
    if not CHANNEL_ID.match(channel) or (thread_ts and not _looks_like_ts(thread_ts)):
        raise PermanentDeliveryError(f"slack: thread key {thread_key!r} is not <channel>[:<thread_ts>]")
    return channel, thread_ts or None


def split_text(text: str, limit: int) -> list[str]:
    """Split escaped mrkdwn into parts of at most limit characters, at a newline or space
    when possible and never inside an ``&amp;``-style entity."""
    parts: list[str] = []
    while len(text) > limit:
        cut = max(text.rfind("\n", 0, limit), text.rfind(" ", 0, limit))
        if cut < limit // 2:
            cut = limit
            amp = text.rfind("&", cut - 5, cut)
            if amp != -1 and ";" not in text[amp:cut]:
                cut = amp
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    parts.append(text)
    return [p for p in parts if p]


def _looks_like_ts(value: str) -> bool:
    head, _, tail = value.partition(".")
    return head.isdigit() and (not tail or tail.isdigit())


def escape_mrkdwn(text: str) -> str:
    """Escape &, <, > so agent text cannot form links or @channel mentions by accident.

    https://docs.slack.dev/messaging/formatting-message-text#escaping
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def scopes_from_headers(headers: Any) -> set[str]:
    value = ""
    for k, v in dict(headers or {}).items():
        if k.lower() == "x-oauth-scopes":
            value = v if isinstance(v, str) else ",".join(v)
    return {s.strip() for s in value.split(",") if s.strip()}


def _header(headers: Any, name: str) -> str | None:
    for k, v in dict(headers or {}).items():
        if k.lower() == name.lower():
            return v if isinstance(v, str) else (v[0] if v else None)
    return None


def delivery_error(exc: SlackApiError, *, who: str = "slack") -> Exception:
    """Translate a slack_sdk SlackApiError into the hub's delivery errors."""
    resp = exc.response
    status = getattr(resp, "status_code", 200) or 200
    data = resp.data if isinstance(getattr(resp, "data", None), dict) else {}
    code = data.get("error") or ""
    retry_after = _header(resp.headers, "Retry-After")
    if status == 429 or status >= 500 or code in RETRIABLE_ERRORS:
        err = error_for_status(status if status >= 400 else 503, code or "server error", who=who, retry_after=retry_after)
        if status == 429 or code in ("ratelimited", "rate_limited"):
            err = error_for_status(429, code or "ratelimited", who=who, retry_after=retry_after)
        assert err is not None  # the status passed is always >= 400
        return err
    if code in AUTH_ERRORS:
        message = f"{who}: {code}: {AUTH_ERRORS[code]}"
        if code == "missing_scope" and data.get("needed"):
            message += f" (needed: {data['needed']}; add it under OAuth & Permissions and reinstall the app)"
        err = AuthError(message)
        err.needed = data.get("needed")
        return err
    if code in PERMANENT_ERRORS:
        return PermanentDeliveryError(f"{who}: {code}: {PERMANENT_ERRORS[code]}")
    err = error_for_status(status if status >= 400 else 400, code or str(exc), who=who, retry_after=retry_after)
    return err or PermanentDeliveryError(f"{who}: {code or exc}")
