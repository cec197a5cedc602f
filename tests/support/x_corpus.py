"""Recorded X API traffic (tweepy's cassettes, MIT) and documented Account Activity payloads.

The v2 recordings were made with tweepy's default fields: they hold ``id``/``text`` only.
omnihub asks for more (``author_id``, ``conversation_id``, ``created_at`` and the user
expansion). ``with_requested_fields`` adds exactly those documented fields to a recorded
item, with values taken from other recordings of the same session (the real users from
``GET /2/users/me`` and ``/2/users/by``; creation times decoded from the snowflake ids),
so the replayed bodies have the shape X returns for omnihub's request.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from normalizers.x import snowflake_time
from tests.support.corpus import CORPUS

X = CORPUS / "twitter"
DECODED = X / "tweepy" / "decoded"
CASSETTES = X / "tweepy" / "cassettes"

ME_TWEEPYDEV = "1072250532645998596"  # GET /2/users/me in the recordings
TWITTER = "783214"  # the account whose mentions were recorded
TWITTERDEV = "2244994945"
DM_PEER = "750362064426721281"  # the account TweepyDev sent the recorded DMs to
DM_CONVERSATION = f"{DM_PEER}-{ME_TWEEPYDEV}"


def recorded(name: str) -> dict[str, Any]:
    """One decoded interaction: method, uri, request_body, status, response_body."""
    return json.loads((DECODED / f"{name}.json").read_text())


def body(name: str) -> dict[str, Any]:
    return copy.deepcopy(recorded(name)["response_body"])


def cassette_json(name: str, index: int) -> Any:
    data = json.loads((CASSETTES / name).read_text())
    return json.loads(data["interactions"][index]["response"]["body"]["string"])


def users() -> dict[str, dict[str, Any]]:
    """Real user objects from the recordings, by id."""
    out = {u["id"]: u for u in body("test_client_get_users.00")["data"]}
    me = body("test_client_get_me.00")["data"]
    out[me["id"]] = me
    return out


def iso(item_id: str) -> str:
    return snowflake_time(item_id).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def with_requested_fields(response: dict[str, Any], *, kind: str, authors: list[str], conversation: dict[str, str] | None = None) -> dict[str, Any]:
    """Add the fields omnihub requests to a recorded v2 page (see module doc)."""
    response = copy.deepcopy(response)
    known = users()
    for i, item in enumerate(response.get("data") or []):
        author = authors[i % len(authors)]
        item["created_at"] = iso(item["id"])
        if kind == "tweet":
            item["author_id"] = author
            item["conversation_id"] = (conversation or {}).get(item["id"], item["id"])
        else:
            item["sender_id"] = author
            item["dm_conversation_id"] = DM_CONVERSATION
    wanted = sorted({a for a in authors if a in known})
    if wanted:
        response.setdefault("includes", {})["users"] = [known[u] for u in wanted]
    return response


def activity(kind: str) -> dict[str, Any]:
    return copy.deepcopy(json.loads((X / "twitter_account_activity_documented_examples.json").read_text())[kind])


def crc_vector() -> dict[str, str]:
    data = json.loads((X / "twitter_account_activity_documented_examples.json").read_text())
    return data["crc"]["self_computed_vector_NOT_FROM_SOURCE"]


def recorded_headers(cassette: str, index: int = 0) -> dict[str, str]:
    """Response headers of one recorded interaction (first value of each)."""
    import yaml

    data = yaml.safe_load((CASSETTES / cassette).read_text())
    headers = data["interactions"][index]["response"]["headers"]
    return {k.lower(): v[0] for k, v in headers.items()}
