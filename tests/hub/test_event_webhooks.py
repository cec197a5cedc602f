"""Event webhooks out: events written with the change, signed POSTs to a real local receiver
through real RQ workers, retries with backoff, dead letters and replay, the delivery log,
the SSRF guard, disabled subscriptions, admin-only API (docs/event-webhooks.md)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from hub import net, signing
from hub.models import AuditLog, Conversation, EventDelivery, InboundEvent, Reply, WebhookEvent
from hub.states import ReplyState
from tests.hub.test_flow import SECRET, post_message
from tests.support.event_receiver import EventReceiver
from tests.support.hub import wait_until

HOOK_SECRET = "receiver-shared-secret-0123456789"


@pytest.fixture
def api_hub(make_hub, db_url):
    h = make_hub(database_url=db_url)
    h.add_connector("web", "api", secret=SECRET)
    return h


@pytest.fixture
def sqlite_hub(hub):
    hub.add_connector("web", "api", secret=SECRET)
    return hub


def subscribe(hub, url, events, **extra):
    resp = hub.api("POST", "/api/v1/event-subscriptions", {"url": url, "events": events, **extra})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return resp.get_json()


def deliveries(hub, sub_id, **query):
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    resp = hub.api("GET", f"/api/v1/event-subscriptions/{sub_id}/deliveries?{qs}")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()["items"]


def test_event_webhook_retries_with_backoff_then_succeeds(api_hub):
    """The receiver fails each event's first two POSTs: both are retried with growing delays,
    the third succeeds; every request is signed over its timestamp and carries the same event id."""
    with EventReceiver(fail_first=2, fail_status=503) as rx:
        sub = subscribe(api_hub, rx.url, ["conversation.created", "message.created"], secret=HOOK_SECRET)
        assert sub["secret"] == HOOK_SECRET  # shown once
        api_hub.start_worker()
        api_hub.start_poller()  # the sweeper re-schedules the retries when they are due
        assert post_message(api_hub, id="m-1", text="My withdrawal is stuck").status_code == 200
        wait_until(lambda: len(rx.ok()) == 2, timeout=30, message="both events delivered after retries")
        api_hub.wait_idle()

        created, message = rx.ok("conversation.created")[0], rx.ok("message.created")[0]
        assert created.json["type"] == "conversation.created" and created.json["version"] == 1
        assert created.json["data"]["conversation"]["status"] == "open"
        assert created.json["data"]["conversation"]["connector"] == "web"
        assert message.json["data"]["message"]["text"] == "My withdrawal is stuck"
        assert message.json["data"]["conversation"]["id"] == created.json["data"]["conversation"]["id"]
        for ok in (created, message):
            tries = rx.for_event(ok.event_id)
            assert [r.status for r in tries] == [503, 503, 200]
            assert [r.headers["X-Omnihub-Attempt"] for r in tries] == ["1", "2", "3"]
            assert {r.headers["Idempotency-Key"] for r in tries} == {f"omnihub-event-{ok.event_id}"}
            assert {r.body for r in tries} == {ok.body}  # the same event each time
            for r in tries:  # a receiver verifies each one with the shared secret, within the replay window
                signing.verify(HOOK_SECRET, r.body, r.headers)
                with pytest.raises(signing.SignatureInvalid):
                    signing.verify("another-secret-0123456789", r.body, r.headers)
            # backoff: retry_base 0.2 s, doubled each time, jitter 0.8-1.2 (lower bounds only)
            assert tries[1].at - tries[0].at >= 0.2 * 0.8
            assert tries[2].at - tries[1].at >= 0.4 * 0.8

        items = deliveries(api_hub, sub["id"])
        assert {d["state"] for d in items} == {"delivered"} and len(items) == 2
        for d in items:
            assert d["attempts"] == 3 and d["last_status_code"] == 200 and d["last_error"] is None
            assert [(e["status_code"], e["ok"]) for e in d["log"]] == [(503, False), (503, False), (200, True)]
            assert all(e["latency_ms"] is not None and e["latency_ms"] >= 0 for e in d["log"])
            assert "maintenance" in d["log"][0]["error"] and d["log"][0]["error"].startswith("HTTP 503")


def test_dead_letter_after_max_attempts_then_replay(sqlite_hub):
    hub = sqlite_hub
    with EventReceiver(fail_always=True, fail_status=500) as rx:
        sub = subscribe(hub, rx.url, ["message.created"])
        secret = sub["secret"]
        assert len(secret) == 64  # generated, returned once
        hub.start_worker()
        hub.start_poller()
        post_message(hub, id="m-dead", text="Is anyone there?")
        wait_until(lambda: [d["state"] for d in deliveries(hub, sub["id"])] == ["dead"], timeout=30, message="dead letter")
        [d] = deliveries(hub, sub["id"], state="dead")
        assert d["attempts"] == 3 and d["last_status_code"] == 500 and d["last_error"].startswith("HTTP 500")
        assert len(d["log"]) == 3 and len(rx.requests) == 3
        # GET never shows the secret again
        got = hub.api("GET", f"/api/v1/event-subscriptions/{sub['id']}").get_json()
        assert got["secret"] != secret and secret not in json.dumps(got)
        assert got["deliveries"]["dead"] == 1

        rx.fail_always = False
        resp = hub.api("POST", f"/api/v1/event-subscriptions/{sub['id']}/replay", {})
        assert resp.status_code == 202 and resp.get_json()["replayed"] == [d["id"]]
        wait_until(lambda: len(rx.ok()) == 1, timeout=30, message="replayed delivery")
        hub.wait_idle()
        first, replayed = rx.requests[0], rx.ok()[0]
        assert replayed.event_id == first.event_id and replayed.body == first.body  # the receiver can dedupe
        assert int(replayed.headers["X-Omnihub-Timestamp"]) >= int(first.headers["X-Omnihub-Timestamp"])
        signing.verify(secret, replayed.body, replayed.headers)
        [after] = deliveries(hub, sub["id"])
        assert after["state"] == "delivered" and after["replays"] == 1 and after["log"][-1]["ok"]
        # a single delivery can be sent again too (e.g. the receiver lost it); a pending one cannot
        resp = hub.api("POST", f"/api/v1/event-deliveries/{d['id']}/replay")
        assert resp.status_code == 202
        wait_until(lambda: len(rx.ok()) == 2, timeout=30)
        hub.wait_idle()
        with hub.rt.db.read() as s:
            actions = [a.action for a in s.scalars(select(AuditLog).order_by(AuditLog.id))]
        assert actions.count("event_delivery.replay") == 2 and "event_subscription.create" in actions


def test_disabled_subscription_and_event_filter(sqlite_hub):
    hub = sqlite_hub
    with EventReceiver() as on, EventReceiver() as off, EventReceiver() as updates:
        s_on = subscribe(hub, on.url, ["message.created"])
        s_off = subscribe(hub, off.url, ["message.created", "conversation.created"], enabled=False)
        s_upd = subscribe(hub, updates.url, ["conversation.updated"])
        hub.start_worker()
        post_message(hub, id="m-f1", text="first")
        wait_until(lambda: len(on.ok()) == 1, message="enabled subscription")
        hub.wait_idle()
        assert off.requests == [] and deliveries(hub, s_off["id"]) == []
        assert updates.requests == []  # it asked for updates only

        conv_id = on.ok()[0].json["data"]["conversation"]["id"]
        resp = hub.api("PATCH", f"/api/v1/conversations/{conv_id}", {"status": "pending", "priority": "high"})
        assert resp.status_code == 200
        wait_until(lambda: len(updates.ok()) == 1, message="conversation.updated")
        body = updates.ok()[0].json
        assert body["data"]["changes"] == {"status": {"from": "open", "to": "pending"}, "priority": {"from": "normal", "to": "high"}}
        hub.wait_idle()
        assert len(on.ok()) == 1  # a status change is not a message

        # disabling stops new deliveries; enabling starts them again
        assert hub.api("PATCH", f"/api/v1/event-subscriptions/{s_on['id']}", {"enabled": False}).status_code == 200
        post_message(hub, id="m-f2", text="second")
        wait_until(lambda: hub.count(Conversation) >= 1 and hub.count(WebhookEvent, WebhookEvent.type == "message.created") >= 1)
        hub.wait_idle()
        assert len(on.ok()) == 1 and len(deliveries(hub, s_on["id"])) == 1
        assert hub.api("PATCH", f"/api/v1/event-subscriptions/{s_off['id']}", {"enabled": True}).status_code == 200
        post_message(hub, id="m-f3", text="third")
        wait_until(lambda: len(off.ok("message.created")) == 1, message="re-enabled subscription")
        assert hub.api("DELETE", f"/api/v1/event-subscriptions/{s_upd['id']}").status_code == 204
        assert hub.api("GET", f"/api/v1/event-subscriptions/{s_upd['id']}").status_code == 404


def test_events_are_written_with_the_change_and_not_with_a_rollback(api_hub):
    """reply.status_changed and conversation.updated from any code path (here: the storage
    layer directly), one event per transaction; a rolled-back savepoint leaves no event."""
    hub = api_hub
    hub.start_worker()
    with EventReceiver() as rx:
        sub = subscribe(hub, rx.url, ["reply.status_changed", "conversation.updated"])
        post_message(hub, id="m-r1", text="hello")
        wait_until(lambda: hub.count(Conversation) == 1)
        hub.wait_idle()
        with hub.rt.db.session() as s:
            conv = s.scalars(select(Conversation)).one()
            r = Reply(conversation_id=conv.id, connector_id=conv.connector_id, kind="reply", text="On it", state=ReplyState.PENDING,
                      source="test", status_detail={})
            s.add(r)
            s.flush()
            r.state = ReplyState.SENDING  # a lease: not an event
            s.flush()
            r.state = ReplyState.SENT
            conv.status = "pending"
            s.flush()
            conv.status = "resolved"  # the same transaction: one update, first old to last new
            with pytest.raises(RuntimeError):
                with s.begin_nested():
                    conv.priority = "urgent"
                    s.flush()
                    raise RuntimeError("rolled back")
        with hub.rt.db.read() as s:
            evs = s.scalars(select(WebhookEvent).order_by(WebhookEvent.id)).all()
            kinds = [e.type for e in evs]
            assert sorted(kinds) == ["conversation.updated", "reply.status_changed"]
            upd = next(e for e in evs if e.type == "conversation.updated")
            assert upd.payload["data"]["changes"] == {"status": {"from": "open", "to": "resolved"}}
            rep = next(e for e in evs if e.type == "reply.status_changed")
            assert (rep.payload["data"]["from"], rep.payload["data"]["to"]) == ("sending", "sent")
            assert s.scalar(select(EventDelivery.subscription_id)) == sub["id"]
        wait_until(lambda: len(rx.ok()) == 2, message="both delivered")


def test_csat_received_event(sqlite_hub):
    hub = sqlite_hub
    hub.start_worker()
    with EventReceiver() as rx:
        subscribe(hub, rx.url, ["csat.received"])
        post_message(hub, id="m-c1", text="help me please")
        wait_until(lambda: hub.count(Conversation) == 1)
        conv_id = wait_until(lambda: hub.api("GET", "/api/v1/conversations").get_json()["items"])[0]["id"]
        assert hub.api("PATCH", f"/api/v1/conversations/{conv_id}", {"status": "resolved"}).status_code == 200
        hub.wait_idle()
        post_message(hub, id="m-c2", text="5")
        wait_until(lambda: len(rx.ok("csat.received")) == 1, message="csat.received")
        body = rx.ok("csat.received")[0].json
        assert body["data"]["score"] == 5 and body["data"]["conversation"]["id"] == conv_id


def test_urls_are_ssrf_guarded(sqlite_hub):
    hub = sqlite_hub
    for url, _why in [
        ("http://169.254.169.254/latest/meta-data", "metadata"),
        ("ftp://example.com/x", "http"),
        ("https://user:pw@example.com/hook", "user name"),
        ("not a url", "URL"),
    ]:
        resp = hub.api("POST", "/api/v1/event-subscriptions", {"url": url, "events": ["message.created"]})
        assert resp.status_code == 400, (url, resp.get_data(as_text=True))
    resp = hub.api("POST", "/api/v1/event-subscriptions", {"url": "https://example.com/x", "events": ["message.deleted"]})
    assert resp.status_code == 400
    with EventReceiver() as rx:
        sub = subscribe(hub, rx.url, ["message.created"])  # loopback: allowed by the test setting only
        net.set_allow_private_urls(False)
        try:
            resp = hub.api("POST", "/api/v1/event-subscriptions", {"url": rx.url, "events": ["message.created"]})
            assert resp.status_code == 400 and "loopback" in resp.get_json()["error"]
            # a URL saved before (or a DNS name that now resolves inside) is refused at connect time: dead at once
            post_message(hub, id="m-s1", text="hi")
            from workers import ingest, webhooks_out

            with hub.rt.db.read() as s:
                ev_ids = list(s.scalars(select(InboundEvent.id)))
            ingest.process(hub.rt, ev_ids, push_local=True)
            with hub.rt.db.read() as s:
                ids = list(s.scalars(select(EventDelivery.id)))
            webhooks_out.deliver(hub.rt, ids)
        finally:
            net.set_allow_private_urls(None)
        [d] = deliveries(hub, sub["id"])
        assert d["state"] == "dead" and "loopback" in d["last_error"] and d["attempts"] == 1
        assert rx.requests == []


def test_event_subscription_api_is_admin_only(sqlite_hub):
    hub = sqlite_hub
    from hub.auth import create_token, create_user

    with hub.rt.db.session() as s:
        create_user(s, "agent2@example.com", "agent", "correct horse battery 2", "Bea")
        agent = create_token(s, "agent2@example.com")
    for method, path in [("GET", "/api/v1/event-subscriptions"), ("POST", "/api/v1/event-subscriptions"),
                         ("GET", "/api/v1/event-subscriptions/1/deliveries"), ("POST", "/api/v1/event-deliveries/1/replay"),
                         ("DELETE", "/api/v1/event-subscriptions/1")]:
        assert hub.api(method, path, {"url": "https://example.com", "events": ["message.created"]}, token=agent).status_code == 403
        assert hub.client.open(path, method=method).status_code == 401
    assert hub.api("GET", "/api/v1/event-subscriptions/99").status_code == 404
    assert hub.api("POST", "/api/v1/event-deliveries/99/replay").status_code == 404


def test_old_delivered_deliveries_are_pruned_dead_ones_kept(make_hub):
    """The delivery log is bounded: delivered deliveries older than 30 days go with their log
    and their event; dead ones stay (replayable) whatever their age."""
    from datetime import timedelta

    from sqlalchemy import update

    from hub.models import EventDeliveryAttempt, now
    from workers import ingest, webhooks_out

    hub = make_hub(retry_max_attempts=1)  # dead after one failure
    hub.add_connector("web", "api", secret=SECRET)
    with EventReceiver() as good, EventReceiver(fail_always=True) as bad:
        subscribe(hub, good.url, ["message.created"])
        subscribe(hub, bad.url, ["message.created"])
        post_message(hub, id="m-p1", text="old news")
        with hub.rt.db.read() as s:
            events = list(s.scalars(select(InboundEvent.id)))
        ingest.process(hub.rt, events, push_local=True)
        with hub.rt.db.read() as s:
            ids = list(s.scalars(select(EventDelivery.id)))
        webhooks_out.deliver(hub.rt, ids)
    with hub.rt.db.session() as s:
        assert sorted(s.scalars(select(EventDelivery.state))) == ["dead", "delivered"]
        long_ago = now() - timedelta(days=31)
        s.execute(update(EventDelivery).values(delivered_at=long_ago, created_at=long_ago))
        s.execute(update(EventDelivery).where(EventDelivery.state == "dead").values(delivered_at=None))
        s.execute(update(WebhookEvent).values(created_at=long_ago))
    assert webhooks_out.prune(hub.rt, force=True) == 1
    with hub.rt.db.read() as s:
        assert list(s.scalars(select(EventDelivery.state))) == ["dead"]
        assert s.scalar(select(EventDeliveryAttempt.delivery_id)) == s.scalar(select(EventDelivery.id))
        assert len(s.scalars(select(WebhookEvent)).all()) == 1  # still referred to by the dead delivery


def test_the_documented_receiver_verifies_a_real_request():
    """The receiver example in docs/event-webhooks.md accepts what omnihub sends, once per
    event id, and refuses a wrong signature, a changed body and a stale timestamp."""
    import re
    import time
    from pathlib import Path

    from workers.webhooks_out import _Work, headers_for

    doc = (Path(__file__).resolve().parents[2] / "docs" / "event-webhooks.md").read_text()
    code = re.search(r"```python\n(.*?)```", doc, re.S).group(1)
    ns: dict = {"__name__": "receiver_example"}
    exec(compile(code, "docs/event-webhooks.md", "exec"), ns)
    ns["SECRET"] = HOOK_SECRET.encode()
    client = ns["app"].test_client()
    body = json.dumps({"id": 7, "type": "csat.received", "version": 1, "occurred_at": "2026-12-05T20:00:00+00:00",
                       "data": {"score": 5}}).encode()
    work = _Work(delivery_id=3, attempt=1, url="http://unused", secret=HOOK_SECRET, event_id=7, event_type="csat.received", body=body)
    headers = headers_for(work)
    assert client.post("/omnihub-events", data=body, headers=headers).status_code == 204
    assert ns["seen"] == {"7"}
    assert client.post("/omnihub-events", data=body, headers=headers_for(work)).status_code == 204  # a retry: deduped
    assert client.post("/omnihub-events", data=body + b" ", headers=headers).status_code == 401
    wrong = headers_for(_Work(3, 1, "", "not-the-secret-0123456789", 7, "csat.received", body))
    assert client.post("/omnihub-events", data=body, headers=wrong).status_code == 401
    stale = headers_for(work, timestamp=int(time.time()) - 3600)
    assert client.post("/omnihub-events", data=body, headers=stale).status_code == 400


def test_a_reply_sent_by_a_worker_is_reported(hub):
    """The send path (a worker, the provider's answer) reports reply.status_changed, not only
    changes made through the API (a fresh-eyes review saw none for sent or dead replies)."""
    with EventReceiver() as rx:
        hub.add_connector("web", "api", secret=SECRET, callback_url=rx.url)  # the customer's side: answers 200
        hub.start_worker()
        subscribe(hub, rx.url, ["reply.status_changed"])
        post_message(hub, id="m-w1", text="where is my deposit?")
        conv = wait_until(lambda: hub.api("GET", "/api/v1/conversations").get_json()["items"])[0]
        rid = hub.api("POST", f"/api/v1/conversations/{conv['id']}/replies", json={"text": "Checking now"}).get_json()["id"]
        wait_until(lambda: hub.api("GET", f"/api/v1/replies/{rid}").get_json()["state"] == "sent", message="sent")
        got = wait_until(lambda: [r.json for r in rx.ok("reply.status_changed")], message="the event")
        assert [(e["data"]["reply"]["id"], e["data"]["to"]) for e in got] == [(rid, "sent")]


def test_a_slow_receiver_does_not_hold_up_the_other_subscriptions(sqlite_hub):
    """#21.8 fresh eyes: events queued for a receiver that does not answer took all eight
    delivery slots of a batch, and a fast receiver's events in the same batch waited behind
    them. Now one subscription has at most PER_SUBSCRIPTION POSTs in flight and the others'
    events go out meanwhile."""
    from workers import ingest
    from workers.webhooks_out import PER_SUBSCRIPTION

    def ingest_pending():
        with hub.rt.db.read() as s:
            ids = list(s.scalars(select(InboundEvent.id).where(InboundEvent.state == "pending")))
        ingest.process(hub.rt, ids)

    hub = sqlite_hub
    with EventReceiver(hold=True) as slow, EventReceiver() as fast:
        subscribe(hub, slow.url, ["message.created"])
        for n in range(10):  # ten events for the slow receiver first: ahead of the fast one's in the batch
            assert post_message(hub, id=f"m-slow-{n}", text=f"slow {n}", sender=f"s{n}").status_code == 200
        ingest_pending()
        subscribe(hub, fast.url, ["message.created"])
        for n in range(3):
            assert post_message(hub, id=f"m-fast-{n}", text=f"fast {n}", sender=f"f{n}").status_code == 200
        ingest_pending()
        assert hub.count(EventDelivery) == 16  # all scheduled on the event stage, none sent yet
        hub.start_worker()
        wait_until(lambda: slow.in_flight >= 1, timeout=60, message="the worker up, holding the slow receiver's first POSTs")
        wait_until(lambda: len(fast.ok()) == 3, timeout=8, message="the fast receiver's events while the slow one holds its own")
        assert slow.ok() == []  # still held: nothing answered yet
        assert 1 <= slow.max_in_flight <= PER_SUBSCRIPTION
        slow.release()
        wait_until(lambda: len(slow.ok()) == 13, timeout=60, message="the slow receiver gets every event in the end")
        assert slow.max_in_flight <= PER_SUBSCRIPTION
        wait_until(lambda: hub.count(EventDelivery, EventDelivery.state == "delivered") == 16, timeout=30)


def test_replaying_on_a_disabled_subscription_is_refused_with_what_to_do(sqlite_hub):
    """#21.8 fresh eyes: a replay on a disabled subscription answered 202 and did nothing.
    Now 409 naming the subscription and how to enable it; nothing changes until then."""
    hub = sqlite_hub
    with EventReceiver(fail_always=True, fail_status=500) as rx:
        sub = subscribe(hub, rx.url, ["message.created"])
        hub.start_worker()
        hub.start_poller()
        post_message(hub, id="m-off", text="anyone?")
        wait_until(lambda: [d["state"] for d in deliveries(hub, sub["id"])] == ["dead"], timeout=30, message="dead letter")
        [d] = deliveries(hub, sub["id"])
        assert hub.api("PATCH", f"/api/v1/event-subscriptions/{sub['id']}", {"enabled": False}).status_code == 200
        for path, body in ((f"/api/v1/event-deliveries/{d['id']}/replay", None),
                           (f"/api/v1/event-subscriptions/{sub['id']}/replay", {}),
                           (f"/api/v1/event-subscriptions/{sub['id']}/replay", {"ids": [d["id"]]})):
            resp = hub.api("POST", path, body) if body is not None else hub.api("POST", path)
            assert resp.status_code == 409, (path, resp.get_data(as_text=True))
            error = resp.get_json()["error"]
            assert f"subscription {sub['id']}" in error and "disabled" in error and '"enabled": true' in error, error
        [after] = deliveries(hub, sub["id"])
        assert after["state"] == "dead" and after["replays"] == 0
        rx.fail_always = False
        assert hub.api("PATCH", f"/api/v1/event-subscriptions/{sub['id']}", {"enabled": True}).status_code == 200
        assert hub.api("POST", f"/api/v1/event-deliveries/{d['id']}/replay").status_code == 202
        wait_until(lambda: len(rx.ok()) == 1, timeout=30, message="replayed once enabled")


def test_a_receiver_that_never_answers_does_not_delay_ingest_or_the_other_receivers(make_hub):
    """#21 fresh eyes (HIGH): on a one-worker `make run`, the worker waited for a batch's slow
    event POSTs, so a new customer message took 48 s to reach the inbox (3.8 s without the slow
    subscription), and a fast receiver's deliveries were recorded late. Event POSTs now run on
    dispatcher threads of their own with a strict timeout: a new message is stored and listed
    as soon as without any subscription, the fast receiver gets its events meanwhile, the slow
    receiver never has more than PER_SUBSCRIPTION POSTs in flight across two processes, and its
    timed-out deliveries are logged and retried with backoff until it answers."""
    import time

    from workers.webhooks_out import PER_SUBSCRIPTION

    # a strict 2 s POST timeout (every slow delivery's first attempt times out while the
    # receiver holds); 20 attempts: none is dead before the receiver answers, however slow the machine
    timeout = 2.0
    hub = make_hub(event_timeout_seconds=timeout, retry_max_attempts=20)
    hub.add_connector("web", "api", secret=SECRET)
    hub.start("worker", "worker", "--poll")  # what `omnihub run` starts: one worker that also polls
    hub.start_poller("poller2")  # a second process with its own event senders: the bound holds across both

    def listed() -> int:
        return len(hub.api("GET", "/api/v1/conversations").get_json()["items"])

    def seconds_until_listed(msg_id: str, sender: str, expect: int) -> float:
        started = time.monotonic()
        assert post_message(hub, id=msg_id, text=f"hello from {sender}", sender=sender).status_code == 200
        wait_until(lambda: listed() == expect, timeout=60, message=f"{msg_id} in the inbox")
        return time.monotonic() - started

    seconds_until_listed("m-warm", "warm", 1)  # the processes are up (their start is not what is measured)
    baseline = seconds_until_listed("m-base", "base", 2)  # no subscription at all
    with EventReceiver(hold=True) as slow, EventReceiver() as fast:  # `slow` holds every request until released
        kinds = ["conversation.created", "message.created"]
        s_slow = subscribe(hub, slow.url, kinds)
        subscribe(hub, fast.url, kinds)
        for n in range(3):
            assert post_message(hub, id=f"m-burst-{n}", text=f"burst {n}", sender=f"burst{n}").status_code == 200
        wait_until(lambda: listed() == 5, timeout=60, message="the burst in the inbox")
        wait_until(lambda: slow.in_flight >= 1, timeout=30, message="the slow receiver holding POSTs")

        took = seconds_until_listed("m-new", "newcomer", 6)  # while the slow receiver holds its POSTs
        print(f"listed after {took:.2f} s while the slow receiver held its POSTs; {baseline:.2f} s without subscriptions")
        assert took < baseline + 2.5, f"a new message took {took:.1f} s to be listed (baseline {baseline:.1f} s)"
        assert slow.ok() == []  # nothing answered yet: the new message did not wait for it
        wait_until(lambda: any(r.json["data"]["message"]["external_id"] == "m-new" for r in fast.ok("message.created")),
                   timeout=baseline + 2.5, message="the fast receiver's event for the new message, meanwhile")
        wait_until(lambda: len(fast.ok()) == 8, timeout=10, message="every event at the fast receiver")
        assert slow.ok() == []

        # the slow deliveries time out (strictly, after the setting), are logged and retried with backoff
        def retried():
            return [d for d in deliveries(hub, s_slow["id"]) if len(d["log"]) >= 2]

        [d, *_] = wait_until(retried, timeout=60, message="a slow delivery retried")
        first, second = d["log"][0], d["log"][1]
        assert not first["ok"] and "timed out" in first["error"] and first["status_code"] is None
        assert timeout * 1000 * 0.9 <= first["latency_ms"] <= timeout * 1000 + 3000
        from datetime import datetime

        gap = (datetime.fromisoformat(second["at"]) - datetime.fromisoformat(first["at"])).total_seconds()
        assert gap >= 0.2 * 0.8  # the next attempt came after the backoff, not at once
        assert 1 <= slow.max_in_flight <= PER_SUBSCRIPTION

        slow.release()
        wait_until(lambda: {x["state"] for x in deliveries(hub, s_slow["id"])} == {"delivered"}, timeout=90,
                   message="every slow delivery delivered once the receiver answers")
        assert len(deliveries(hub, s_slow["id"])) == 8
        assert slow.max_in_flight <= PER_SUBSCRIPTION


def test_subscription_replay_refuses_pending_and_foreign_deliveries(sqlite_hub):
    """#21 fresh eyes: replaying a pending delivery through the subscription's replay endpoint
    sent it twice, and another subscription's delivery id answered 202 doing nothing. Now a
    pending one is a 409 (it is on its way), a foreign or unknown id a 404 naming it; nothing
    changes, and the pending delivery still reaches the receiver exactly once."""
    from workers import ingest, webhooks_out

    hub = sqlite_hub
    with EventReceiver() as a_rx, EventReceiver() as b_rx:
        a = subscribe(hub, a_rx.url, ["message.created"])
        b = subscribe(hub, b_rx.url, ["message.created"])
        post_message(hub, id="m-rp1", text="first")
        with hub.rt.db.read() as s:
            ingest.process(hub.rt, list(s.scalars(select(InboundEvent.id))), push_local=True)
        [a_first] = deliveries(hub, a["id"])
        [b_first] = deliveries(hub, b["id"])
        webhooks_out.deliver(hub.rt, [a_first["id"], b_first["id"]])  # both delivered
        post_message(hub, id="m-rp2", text="second")
        with hub.rt.db.read() as s:
            ingest.process(hub.rt, list(s.scalars(select(InboundEvent.id).where(InboundEvent.state == "pending"))), push_local=True)
        pending = next(d for d in deliveries(hub, a["id"]) if d["state"] == "pending")

        r = hub.api("POST", f"/api/v1/event-subscriptions/{a['id']}/replay", {"ids": [pending["id"]]})
        assert r.status_code == 409 and f"event delivery {pending['id']} is pending" in r.get_json()["error"], r.get_json()
        r = hub.api("POST", f"/api/v1/event-subscriptions/{a['id']}/replay", {"ids": [a_first["id"], pending["id"]]})
        assert r.status_code == 409  # all or nothing: the delivered one is not replayed either
        r = hub.api("POST", f"/api/v1/event-subscriptions/{a['id']}/replay", {"ids": [b_first["id"]]})
        assert r.status_code == 404, r.get_json()
        error = r.get_json()["error"]
        assert f"event delivery {b_first['id']}" in error and f"subscription {a['id']}" in error and f"subscription {b['id']}" in error
        assert hub.api("POST", f"/api/v1/event-subscriptions/{a['id']}/replay", {"ids": [999999]}).status_code == 404
        assert {d["id"]: (d["state"], d["replays"]) for d in deliveries(hub, a["id"])} == {
            a_first["id"]: ("delivered", 0), pending["id"]: ("pending", 0)}
        assert [d["replays"] for d in deliveries(hub, b["id"])] == [0, 0]

        hub.start_worker()
        hub.start_poller()  # the sweeper sends what is due
        wait_until(lambda: len(a_rx.ok()) == 2 and len(b_rx.ok()) == 2, timeout=30, message="every delivery once")
        hub.wait_idle()
        assert len(a_rx.requests) == 2 and len(b_rx.requests) == 2  # never twice
        # a delivered one of its own subscription is replayed (202), once
        r = hub.api("POST", f"/api/v1/event-subscriptions/{a['id']}/replay", {"ids": [a_first["id"]]})
        assert r.status_code == 202 and r.get_json()["replayed"] == [a_first["id"]]
        wait_until(lambda: len(a_rx.ok()) == 3, timeout=30)
        hub.wait_idle()
        assert len(a_rx.requests) == 3
