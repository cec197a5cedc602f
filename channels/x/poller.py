"""Polling mentions and DM events with persisted cursors, within X's rate limits.

Cursors live in the connector's state store so a restarted poller neither misses nor
repeats: ``mentions.since_id`` / ``dm.newest_id`` are the high-water marks of completed
passes; ``*.pending`` (written by older versions) holds a pass interrupted between pages, resumed
first on the next run.

X answers newest first, page after page; a pass reads all its pages, then records their
events oldest first (ascending id: X ids grow with time), so a conversation's messages are
journaled, stored and pushed in the order the customer wrote them. A pass interrupted between
pages records nothing and keeps its mark: the next pass reads the same events again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import requests
import tweepy

from channels.x.api import RateLimits, delivery_error
from hub.errors import RetriableDeliveryError
from hub.types import PollSink, RawEvent, StateStore
from normalizers.x import v2_envelope

TWEET_FIELDS = [
    "attachments", "author_id", "conversation_id", "created_at", "edit_history_tweet_ids",
    "entities", "in_reply_to_user_id", "lang", "note_tweet", "referenced_tweets",
]
TWEET_EXPANSIONS = [
    "author_id", "attachments.media_keys", "entities.mentions.username",
    "in_reply_to_user_id", "referenced_tweets.id",
]
USER_FIELDS = ["name", "username"]
MEDIA_FIELDS = ["alt_text", "media_key", "preview_image_url", "type", "url", "variants"]
DM_EVENT_FIELDS = [
    "attachments", "created_at", "dm_conversation_id", "event_type", "id",
    "participant_ids", "referenced_tweets", "sender_id", "text",
]
DM_EXPANSIONS = ["attachments.media_keys", "participant_ids", "referenced_tweets.id", "sender_id"]

class RateLimited(RetriableDeliveryError):
    """An endpoint's window is used up: call it again at ``until`` (epoch seconds)."""

    def __init__(self, endpoint: str, until: float, now: float) -> None:
        super().__init__(f"X rate limit for {endpoint}: next call in {until - now:.0f} s", retry_after=until - now)
        self.endpoint = endpoint
        self.until = until


class Poller:
    """Passes over mentions and DM events; an endpoint whose window is used up raises
    RateLimited (its pass resumes from the saved page later) instead of being called."""

    def __init__(
        self,
        client: tweepy.Client,
        *,
        user_id: str,
        user_auth: bool,
        state: StateStore,
        clock: Callable[[], float],
        who: str,
        log: Any = None,
    ) -> None:
        self.client = client
        self.user_id = str(user_id)
        self.user_auth = user_auth
        self.state = state
        self.clock = clock
        self.who = who
        self.log = log
        self.limits = RateLimits()

    # --- transport -------------------------------------------------------------------------
    def call(self, endpoint: str, fn: Callable[..., requests.Response], **params: Any) -> dict[str, Any]:
        """Call fn within endpoint's rate limit (raise RateLimited when it is used up)."""
        now = self.clock()
        until = self.limits.not_before(endpoint, now)
        if until > now:
            raise RateLimited(endpoint, until, now)
        try:
            resp = fn(**params)
        except tweepy.TooManyRequests as exc:
            now = self.clock()
            raise RateLimited(endpoint, self.limits.refused(endpoint, exc.response.headers, now), now) from None
        except (tweepy.TweepyException, requests.RequestException) as exc:
            raise delivery_error(exc, who=f"{self.who} {endpoint}", clock=self.clock) from None
        self.limits.update(endpoint, resp.headers)
        return resp.json()

    # --- mentions --------------------------------------------------------------------------
    def mentions(self, sink: PollSink) -> int:
        pending = self.state.get("mentions.pending") or None
        since = pending["since_id"] if pending else self.state.get("mentions.since_id")
        token = pending["next_token"] if pending else None
        newest = pending["newest_id"] if pending else None
        found: list[RawEvent] = []
        while True:
            params: dict[str, Any] = {
                "id": self.user_id,
                "user_auth": self.user_auth,
                "expansions": TWEET_EXPANSIONS,
                "tweet_fields": TWEET_FIELDS,
                "user_fields": USER_FIELDS,
                "media_fields": MEDIA_FIELDS,
                "max_results": 100,
            }
            if since:
                params["since_id"] = since
            if token:
                params["pagination_token"] = token
            body = self.call("mentions", self.client.get_users_mentions, **params)
            meta = body.get("meta") or {}
            newest = newest or meta.get("newest_id")
            includes = body.get("includes") or {}
            found += [self._event("tweet", t, includes) for t in body.get("data") or ()]
            token = meta.get("next_token")
            if not token:
                break
        recorded = self._record_oldest_first(sink, found)
        if newest:
            self.state.set("mentions.since_id", newest)
        if pending or self.state.get("mentions.pending"):
            self.state.set("mentions.pending", None)
        return recorded

    # --- DM events ---------------------------------------------------------------------------
    def dm_events(self, sink: PollSink) -> int:
        # GET /2/dm_events has no since_id: pages run newest first, so stop at the first
        # event at or below the high-water mark of the last completed pass.
        pending = self.state.get("dm.pending") or None
        floor = pending["floor"] if pending else self.state.get("dm.newest_id")
        token = pending["next_token"] if pending else None
        newest = pending["newest_id"] if pending else None
        found: list[RawEvent] = []
        while True:
            params: dict[str, Any] = {
                "user_auth": self.user_auth,
                "event_types": "MessageCreate",
                "dm_event_fields": DM_EVENT_FIELDS,
                "expansions": DM_EXPANSIONS,
                "user_fields": USER_FIELDS,
                "media_fields": MEDIA_FIELDS,
                "max_results": 100,
            }
            if token:
                params["pagination_token"] = token
            body = self.call("dm_events", self.client.get_direct_message_events, **params)
            data = body.get("data") or []
            if data and not newest:
                newest = max((str(e["id"]) for e in data), key=int)
            fresh = [e for e in data if not floor or int(e["id"]) > int(floor)]
            includes = body.get("includes") or {}
            found += [self._event("dm_event", e, includes) for e in fresh]
            token = (body.get("meta") or {}).get("next_token")
            if not token or len(fresh) < len(data):
                break
        recorded = self._record_oldest_first(sink, found)
        if newest and (not floor or int(newest) > int(floor)):
            self.state.set("dm.newest_id", newest)
        if pending or self.state.get("dm.pending"):
            self.state.set("dm.pending", None)
        return recorded

    @staticmethod
    def _record_oldest_first(sink: PollSink, events: list[RawEvent]) -> int:
        """Journal a pass's events in the order they were written (ascending X id; each id
        once, should X repeat one across pages)."""
        unique = {e.external_id: e for e in events}
        ordered = sorted(unique.values(), key=lambda e: int(e.external_id.split(":", 1)[1]))
        if ordered:
            sink.record(ordered)
        return len(ordered)

    def _event(self, kind: str, item: dict[str, Any], includes: dict[str, Any]) -> RawEvent:
        prefix = "tweet" if kind == "tweet" else "dm"
        envelope = v2_envelope(kind, item, includes, self.user_id)
        return RawEvent(
            external_id=f"{prefix}:{item['id']}",
            hook="poll",
            payload=json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode(),
            meta={"source": "poll"},
        )

