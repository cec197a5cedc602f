"""Presence: typing indicators between the chat widget and the inbox.

A typing signal is ephemeral: one member ``"<conversation id>:<who>"`` (who = customer |
agent) of a Redis sorted set whose score is when it expires (TTL seconds after the last
keystroke signal; TTL is OMNIHUB_TYPING_SECONDS, default 6). Nothing touches the database, and nothing about what is being typed is
stored or sent — only that someone is typing.

The live streams read the set once per poll tick for all their clients (``active``) and send a
``typing`` event when what a client should see changed: the inbox gets the conversations whose
customer is typing, a widget whether an agent is typing in one of its visitor's conversations.
Clients throttle their signals (one per THROTTLE seconds while typing) and hide an indicator by
themselves TTL seconds after the last event that showed it (the event carries TTL).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable

WHO = ("customer", "agent")
TTL = 6.0  # the default of OMNIHUB_TYPING_SECONDS
THROTTLE = 3.0


def _key(runtime) -> str:
    return f"{runtime.settings.queue_prefix}:typing"


def note(runtime, conversation_id: int, who: str) -> None:
    """Someone is typing in this conversation (until TTL seconds from now)."""
    if who not in WHO:
        raise ValueError(f"who must be one of {WHO}")
    runtime.redis.zadd(_key(runtime), {f"{int(conversation_id)}:{who}": time.time() + runtime.settings.typing_seconds})


def active(runtime) -> set[tuple[int, str]]:
    """(conversation id, who) of everyone typing now; expired signals are dropped."""
    key, t = _key(runtime), time.time()
    pipe = runtime.redis.pipeline()
    pipe.zremrangebyscore(key, "-inf", t)
    pipe.zrange(key, 0, -1)
    _, members = pipe.execute()
    out = set()
    for m in members:
        conv, _, who = (m.decode() if isinstance(m, bytes) else str(m)).partition(":")
        if conv.isdigit() and who in WHO:
            out.add((int(conv), who))
    return out


def inbox_watcher(ttl: float = TTL) -> Callable[[set[tuple[int, str]]], str]:
    """For one inbox stream: the SSE text when the set of conversations whose customer is
    typing changed since the last call, else "" (``ttl``: how long the client shows it)."""
    last: list[list[int]] = [[]]

    def on_typing(now: set[tuple[int, str]]) -> str:
        ids = sorted(c for c, who in now if who == "customer")
        if ids == last[0]:
            return ""
        last[0] = ids
        return f"event: typing\ndata: {json.dumps({'conversations': ids, 'ttl': ttl})}\n\n"

    return on_typing


def widget_watcher(conversations: Callable[[], Iterable[int]], ttl: float = TTL) -> Callable[[set[tuple[int, str]]], str]:
    """For one widget stream: the SSE text when "an agent is typing" in one of the visitor's
    conversations (``conversations()``, looked up only while some agent types) changed."""
    last = [False]

    def on_typing(now: set[tuple[int, str]]) -> str:
        agents = {c for c, who in now if who == "agent"}
        typing = bool(agents) and bool(agents & set(conversations()))
        if typing == last[0]:
            return ""
        last[0] = typing
        return f"event: typing\ndata: {json.dumps({'agent': typing, 'ttl': ttl})}\n\n"

    return on_typing
