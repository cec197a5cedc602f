"""Poller leadership (hub.leases): several `omnihub poll` processes against one hub share the
polls and periodic jobs, each held by exactly one of them; kill -9 the holder of a poll and
another takes it over within OMNIHUB_POLL_LEASE_SECONDS, catching up from the connector's
cursor: the messages sent meanwhile are stored exactly once.

The polled connector is X (DM events) against a local X API v2 that checks each request's
OAuth 1.0a signature and query, and answers from a growing list of DM events built on the
recorded page ``test_manage_and_lookup_direct_messages.04`` of tweepy's cassettes
(../shared/corpus/twitter/tweepy), its events' ids and texts changed per message.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time

from redis import Redis
from werkzeug import Request, Response

from hub import leases
from hub.models import Connector, InboundEvent, Message
from tests.support import x_corpus as xc
from tests.support.hub import Hub, wait_until
from tests.support.x_server import CREDS, verify_oauth1

SUPPORT = xc.DM_PEER  # the recorded DMs went from TweepyDev to this account
LEASE = 3.0  # OMNIHUB_POLL_LEASE_SECONDS in these tests (default 30)
STARTUP = 60  # seconds a poller may take to start (imports) on a loaded 2-core machine


class DmFeed:
    """GET /2/dm_events newest first (X has no since_id there), and an empty mentions timeline."""

    def __init__(self, httpserver) -> None:
        page = xc.with_requested_fields(
            xc.body("test_manage_and_lookup_direct_messages.04"), kind="dm_event", authors=[xc.ME_TWEEPYDEV])
        self.template = page["data"][0]
        self.includes = page["includes"]
        self.events: list[dict] = []
        self.errors: list[str] = []
        self.lock = threading.Lock()
        headers = {"x-rate-limit-remaining": "299", "x-rate-limit-reset": "9999999999"}

        def checked(answer) -> object:
            def handler(request: Request) -> Response:
                try:
                    verify_oauth1(request, CREDS["consumer_secret"], CREDS["access_token_secret"],
                                  CREDS["consumer_key"], CREDS["access_token"])
                except AssertionError as exc:
                    with self.lock:
                        self.errors.append(str(exc))
                    return Response(json.dumps({"title": "Unauthorized"}), status=401, content_type="application/json")
                return Response(json.dumps(answer(request)), headers=headers, content_type="application/json")

            return handler

        def dm_events(request: Request) -> dict:
            if "dm_conversation_id" not in request.args.get("dm_event.fields", "").split(","):
                self.errors.append(f"dm_events without dm_conversation_id: {request.query_string!r}")
            size = int(request.args.get("max_results", "100"))
            with self.lock:
                data = sorted(self.events, key=lambda e: int(e["id"]), reverse=True)[:size]
            return {"data": data, "includes": self.includes, "meta": {"result_count": len(data)}}

        httpserver.expect_request(f"/2/users/{SUPPORT}/mentions", method="GET").respond_with_handler(
            checked(lambda _r: {"meta": {"result_count": 0}}))
        httpserver.expect_request("/2/dm_events", method="GET").respond_with_handler(checked(dm_events))

    def send(self, text: str) -> None:
        """A customer's DM: a new event, its id above every earlier one (X ids grow with time)."""
        with self.lock:
            event = copy.deepcopy(self.template)
            event["id"] = str(int(self.template["id"]) + 1000 * (len(self.events) + 1))
            event["text"] = text
            self.events.append(event)


def status(hub: Hub) -> dict:
    resp = hub.api("GET", "/api/v1/stats/queues")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()


def holders(hub: Hub) -> dict[str, str]:
    return {row["name"]: row["owner"] for row in status(hub)["leases"]}


def who(owner: str, procs: dict[str, int]) -> str:
    pid = int(owner.split(":")[-2])
    return next(name for name, p in procs.items() if p == pid)


def texts(hub: Hub) -> list[str]:
    from sqlalchemy import select

    with hub.rt.db.read() as s:
        return sorted(s.scalars(select(Message.text)).all())


def test_two_pollers_share_the_work_and_a_killed_holder_is_taken_over_without_gap_or_duplicate(make_hub, httpserver):
    hub = make_hub(poll_lease_seconds=LEASE, sweep_interval=0.2)
    try:
        _two_pollers(hub, httpserver)
    except AssertionError:  # what each poller did, for the report
        for name in ("a", "b"):
            print(f"--- poller {name} ---", hub.output(name)[-4000:])
        raise


def _two_pollers(hub: Hub, httpserver) -> None:
    feed = DmFeed(httpserver)
    hub.add_connector("x-support", "x", **CREDS, user_id=SUPPORT, api_base_url=httpserver.url_for("/").rstrip("/"),
                      poll_interval=5)
    feed.send("before the pollers")
    hub.start_worker()
    procs = {"a": hub.start_poller("a").pid, "b": hub.start_poller("b").pid}
    expected = {"poll:x-support", "sweeper", "connector-health", "retention", "timer:sla", "timer:assignment"}
    # whichever starts first takes every lease, then gives back what is over its share (half, rounded up)
    half = len(expected) // 2
    spread = wait_until(
        lambda: (h := holders(hub)) and set(h) == expected and sorted(
            [who(o, procs) for o in h.values()].count(p) for p in "ab") == [half, len(expected) - half] and h,
        timeout=STARTUP, message=f"the {len(expected)} leases spread between the two pollers")
    assert {row["owner"] for row in status(hub)["pollers"]} == set(spread.values())
    cli = hub.cli("stats")  # the same, for a terminal
    assert cli.returncode == 0, cli.stderr
    assert f"name=poll:x-support owner={spread['poll:x-support']}" in cli.stdout, cli.stdout
    wait_until(lambda: texts(hub) == ["before the pollers"], timeout=STARTUP, message="the first DM stored")

    holder = who(spread["poll:x-support"], procs)
    other = "b" if holder == "a" else "a"
    # only the holder ever ran the X poll and the sweeper ran in only one process
    assert "poll.start" in hub.output(holder) and "poll.start" not in hub.output(other)
    # a poller that had the sweeper before the work was spread gave it back before the other took it
    for p in "ab":
        if p != who(spread["sweeper"], procs) and re.search(r"lease\.acquired.*lease=sweeper", hub.output(p)):
            assert re.search(r"lease\.released.*lease=sweeper", hub.output(p)), hub.output(p)[-3000:]

    feed.send("just before the kill")
    hub.kill(holder)  # SIGKILL: no release, its leases must expire
    killed_at = time.monotonic()
    for i in range(3):
        feed.send(f"while nobody polls {i}")
    took = wait_until(lambda: (h := holders(hub)).get("poll:x-support") and who(h["poll:x-support"], procs) == other and h,
                      timeout=LEASE * 3, message="the survivor holding the X poll")
    takeover = time.monotonic() - killed_at
    print(f"takeover after kill -9: {takeover:.2f} s (lease {LEASE} s)")
    assert takeover <= LEASE + 1.0, takeover  # within the lease time (+1 s: the checks' API calls on a loaded machine)
    wait_until(lambda: set(holders(hub)) == expected and {who(o, procs) for o in holders(hub).values()} == {other},
               timeout=LEASE * 3, message="the survivor holding every lease")
    want = sorted(["before the pollers", "just before the kill", *(f"while nobody polls {i}" for i in range(3))])
    wait_until(lambda: texts(hub) == want, timeout=30, message="every DM stored")
    hub.wait_idle()
    assert texts(hub) == want  # each exactly once
    assert hub.count(InboundEvent) == len(want)
    assert "poll.start" in hub.output(other)
    assert [row["owner"] for row in status(hub)["pollers"]] == [took["poll:x-support"]]  # the dead one left the list
    assert feed.errors == []


def test_a_stopped_poller_hands_over_at_once_and_without_redis_a_poller_runs_nothing(make_hub, redis_url):
    from workers.poller import POLL, STOPPED_NOTE, Poller

    hub = make_hub(poll_lease_seconds=30.0)  # the default: a takeover must not wait for it
    # X at an address where nothing listens: its poll thread fails and backs off, which is enough here
    hub.add_connector("x-support", "x", **CREDS, user_id=SUPPORT, api_base_url="http://127.0.0.1:9", poll_interval=5)
    one, two = Poller(hub.rt, owner="host:1:one"), Poller(hub.rt, owner="host:2:two")
    n = len(one.job_names()) + 1
    try:
        one.reconcile()
        assert POLL + "x-support" in one.held and len(one.held) == n  # alone: everything
        assert "x-support" in one.threads
        two.reconcile()  # two sees a poller alive holding all: nothing is free yet
        assert two.held == frozenset()

        def spread() -> bool:  # one sees two alive and gives back what is over its share
            one.reconcile()
            two.reconcile()
            return len(one.held) + len(two.held) == n and abs(len(one.held) - len(two.held)) <= 1

        wait_until(spread, timeout=10, message="the leases spread")
        assert not one.held & two.held
        assert {r["name"]: r["owner"] for r in leases.holders(hub.rt.redis, hub.settings.queue_prefix)} == {
            **dict.fromkeys(one.held, "host:1:one"), **dict.fromkeys(two.held, "host:2:two")}
        # a graceful stop releases at once (compare-and-delete): the other takes over on its next tick
        one._shutdown()
        two.reconcile()
        assert len(two.held) == n
        assert [r["owner"] for r in leases.pollers(hub.rt.redis, hub.settings.queue_prefix)] == ["host:2:two"]
        # a lease taken by someone else is lost at the next renewal, and its poll stops
        wait_until(lambda: two.reconcile() or "x-support" in two.threads, timeout=10, message="two polling X")
        key = leases.lease_key(hub.settings.queue_prefix, POLL + "x-support")
        Redis.from_url(redis_url).set(key, "host:3:thief")
        two.reconcile()
        assert POLL + "x-support" not in two.held and "x-support" not in two.threads
        Redis.from_url(redis_url).delete(key)
        wait_until(lambda: two.reconcile() or "x-support" in two.threads, timeout=10, message="two polling X again")

        def last_error() -> str:
            with hub.rt.db.read() as s:
                return str((s.get(Connector, cid).health or {}).get("last_error") or "")

        cid = two.wanted["x-support"][0]
        wait_until(lambda: last_error().startswith("X "), timeout=10, message="the X poll running (and failing)")
        # Redis unreachable: nothing runs that this poller cannot prove it owns (fail closed),
        # said in the log and on the connector it stopped
        good = two.leases
        two.leases = leases.Leases(leases.client("redis://127.0.0.1:9/0", 2.0), hub.settings.queue_prefix, "host:2:two", 2.0)
        two.reconcile()
        assert two.held == frozenset() and two.threads == {} and two.lease_error
        assert last_error().startswith(STOPPED_NOTE)
        # the stopped X poll may have had a failing request in flight: once its thread ended,
        # the note is still the last word on the connector (the thread writes it again as it ends)
        stopped = list(two.stopping.values())
        wait_until(lambda: not any(t.is_alive() for t in stopped), timeout=15, message="the X poll thread ended")
        assert last_error().startswith(STOPPED_NOTE), last_error()
        assert two.stop_notes == {}
        # Redis back: the poll runs again and the note is cleared by it
        two.leases = good
        wait_until(lambda: two.reconcile() or "x-support" in two.threads, timeout=10, message="two polling X after Redis")
        assert two.lease_error is None
        wait_until(lambda: not last_error().startswith(STOPPED_NOTE), timeout=10, message="the stopped-poll note cleared")
    finally:
        for p in (one, two):
            p.stop.set()
            p._shutdown()
