"""Multi-host proof: three simulated hosts (tests/scale/hosts.py: a process group each, with
web + worker + poller and its own var dir and port) against one PostgreSQL and one Redis.

Inbound load is spread across the three web servers (signed webhooks of the api channel, each
customer writing one message after the other and trying the next host when one does not
answer), IMAP mail appended to a real Dovecot (IDLE), and X DMs polled from a local X API;
agents reply through the hosts' REST API while the messages are pushed to a webhook helpdesk.
Mid-run the host holding the X poll is killed (kill -9 of its process group). Then:

- every acknowledged message is stored exactly once (none lost, none twice);
- every reply is received by the customer's system exactly once, or is visibly failed;
- each conversation's messages reach the helpdesk in the order the customer wrote them;
- the dead host's polls (and timers) are taken over by the living hosts.

The figures are printed (``-s`` shows them). `make test` runs it small (OMNIHUB_SCALE_SIZE
webhook messages, default 90); `make scale` runs 3,000.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from werkzeug import Request, Response
from werkzeug.serving import WSGIRequestHandler, make_server

from hub import leases, signing
from hub.models import Connector, Conversation, Message, Reply
from tests.faults.test_poller_leadership import SUPPORT, DmFeed
from tests.scale.hosts import Host
from tests.support.dovecot import running_dovecot
from tests.support.hub import Hub, wait_until
from tests.support.mail import make_mail
from tests.support.x_server import CREDS

SIZE = int(os.environ.get("OMNIHUB_SCALE_SIZE", "90"))
LOAD_SECONDS = max(5.0, SIZE / 100)  # how long the customers and agents write, about
SECRET = "scale-secret"
DESK_SECRET = "desk-secret"
STARTUP = 90  # seconds for nine processes to start on a loaded 2-core machine
PATTERN = {"api": "w", "email": "m", "x": "x"}


class _Quiet(WSGIRequestHandler):
    def log(self, *args) -> None:
        pass


class Desk:
    """The helpdesk (omnihub's signed webhook backend) and the api channel's callback, in one
    real HTTP server. It dedupes on Idempotency-Key, as the documented receiver should, and
    keeps the order in which each message first arrived."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.first: list[tuple[int, str]] = []  # (conversation id, message text) in first-arrival order
        self.pushes: Counter[str] = Counter()  # Idempotency-Key -> requests
        self.replies: Counter[str] = Counter()
        self.bad: list[str] = []
        self.server = make_server("127.0.0.1", 0, self._app, threaded=True, request_handler=_Quiet)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _app(self, environ, start_response):
        req = Request(environ)
        body = req.get_data()
        key = req.headers.get("Idempotency-Key", "")
        try:
            signing.verify(DESK_SECRET if req.path == "/desk" else SECRET, body, dict(req.headers))
        except Exception as exc:
            with self.lock:
                self.bad.append(f"{req.path}: {exc}")
            return Response("bad signature", status=403)(environ, start_response)
        data = json.loads(body)
        with self.lock:
            if req.path == "/desk":
                if data.get("event") == "message.created":
                    self.pushes[key] += 1
                    if self.pushes[key] == 1:
                        self.first.append((data["conversation"]["id"], data["message"]["text"]))
                answer = {"ticket_ref": f"T{data.get('conversation', {}).get('id', 0)}"}
            else:
                self.replies[key] += 1
                answer = {"ok": True}
        return Response(json.dumps(answer), content_type="application/json")(environ, start_response)

    def close(self) -> None:
        self.server.shutdown()


def _explain(hub: Hub, conv: int) -> None:
    """Journal, message and delivery rows of a conversation, for a failure's report."""
    from hub.models import Delivery, InboundEvent

    with hub.rt.db.read() as s:
        for m, d in s.execute(
            select(Message, Delivery).join(Delivery, Delivery.message_id == Message.id).where(Message.conversation_id == conv).order_by(Message.id)
        ).all():
            e = s.scalar(select(InboundEvent).where(InboundEvent.connector_id == m.connector_id, InboundEvent.external_id == m.external_id))
            print(
                f"  message {m.id} {m.text!r} event {e and e.id} attempts {e and e.attempts} received {e and e.received_at} "
                f"processed {e and e.processed_at} delivery {d.id} attempts {d.attempts} {d.last_error!r}"
            )


def out_of_order(first: list[tuple[int, str]]) -> list[int]:
    """Conversations in which a message of a customer's thread ("<thread> #<n>") reached the
    helpdesk after a later one of the same thread."""
    last: dict[tuple[int, str], int] = {}
    bad = set()
    for conv, text in first:
        if " #" not in text:
            continue
        thread, n = text.rsplit(" #", 1)
        number = int(n.split()[0])
        if last.get((conv, thread), -1) > number:
            bad.add(conv)
        last[(conv, thread)] = max(number, last.get((conv, thread), -1))
    return sorted(bad)


@pytest.mark.timeout(1800)
def test_three_hosts_one_killed_mid_run(tmp_path, redis_url, pg_url, httpserver, make_hub):
    desk = Desk()
    with running_dovecot() as dovecot:
        hub = make_hub(
            database_url=pg_url,
            default_helpdesk="desk",
            allow_private_urls=True,
            lease_seconds=10.0,
            sweep_after=2.0,
            sweep_interval=0.5,
            poll_lease_seconds=2.0,
            batch_size=25,
            retry_base_seconds=0.5,
            retry_max_seconds=3.0,
            retry_max_attempts=8,
        )
        hosts: list[Host] = []
        try:
            _run(hub, desk, dovecot, httpserver, tmp_path, hosts)
        except BaseException:
            for h in hosts:
                for role in ("web", "worker", "poller"):
                    print(f"--- {h.name} {role} ---\n{h.log(role)[-3000:]}")
            raise
        finally:
            for h in hosts:  # the end of the test: no need to be gentle
                if not h.dead:
                    h.kill()
            desk.close()


def _run(hub: Hub, desk: Desk, dovecot, httpserver, tmp_path: Path, hosts: list[Host]) -> None:
    n_web = SIZE
    n_mail = max(9, SIZE // 10)
    n_dm = max(4, SIZE // 30)
    n_replies = max(6, SIZE // 15)
    senders = max(6, min(24, SIZE // 15))

    feed = DmFeed(httpserver)
    # request timeouts below the 10 s row lease (the defaults are 10 s, the default lease 120 s):
    # a call still running when its lease ends is an unknown outcome
    hub.add_connector("desk", "webhook", url=f"{desk.url}/desk", secret=DESK_SECRET, timeout=5)
    hub.add_connector("web", "api", secret=SECRET, callback_url=f"{desk.url}/replies", timeout=5)
    hub.add_connector("mail", "email", **dovecot.config())
    hub.add_connector("x-support", "x", **CREDS, user_id=SUPPORT, api_base_url=httpserver.url_for("/").rstrip("/"), poll_interval=5)
    token = hub.token
    attachments = tmp_path / "shared-attachments"
    for name in ("a", "b", "c"):
        hosts.append(Host(name, hub, tmp_path / "hosts", attachments))
    started = time.monotonic()
    for h in hosts:
        h.start()
    wait_until(lambda: all(h.up() for h in hosts), timeout=STARTUP, interval=0.2, message="three web servers up")
    expected_leases = {"poll:mail", "poll:x-support", "sweeper", "connector-health", "retention", "timer:sla", "timer:assignment"}

    def holders() -> dict[str, str]:
        return {r["name"]: r["owner"] for r in leases.holders(hub.rt.redis, hub.settings.queue_prefix)}

    def host_of(owner: str) -> Host:
        pid = int(owner.split(":")[-2])
        return next(h for h in hosts if pid in h.pids())

    wait_until(
        lambda: expected_leases <= set(holders()) and len({host_of(o).name for o in holders().values()}) == 3,
        timeout=STARTUP,
        interval=0.2,
        message="the leases spread over the three pollers",
    )
    print(f"\nthree hosts up and sharing the leases after {time.monotonic() - started:.1f} s")

    # ---- inbound load ---------------------------------------------------------------
    acked: set[str] = set()  # external ids a host answered 2xx for
    refused = Counter[str]()
    lock = threading.Lock()
    progress = threading.Event()
    per_sender = [list(range(i, n_web, senders)) for i in range(senders)]
    pause = LOAD_SECONDS / len(per_sender[0])

    def post_webhooks(s: int) -> None:
        client = httpx.Client(timeout=30)
        rng = random.Random(s)
        for n, i in enumerate(per_sender[s]):
            time.sleep(rng.uniform(0, 2 * pause))
            body = json.dumps({"id": f"w{i}", "from": {"id": f"cust{s}", "name": f"Customer {s}"}, "text": f"w{s} #{n}"}).encode()
            for attempt in itertools.count():
                h = hosts[(s + n + attempt) % 3]
                try:
                    resp = client.post(
                        f"{h.url}/webhooks/web/messages", content=body, headers={"Content-Type": "application/json", **signing.sign(SECRET, body)}
                    )
                except httpx.HTTPError as exc:  # a dead host: the customer's system tries another
                    with lock:
                        refused[exc.__class__.__name__] += 1
                    continue
                if resp.status_code == 200:
                    with lock:
                        acked.add(f"w{i}")
                        if len(acked) >= n_web // 3:
                            progress.set()
                    break
                with lock:
                    refused[f"HTTP {resp.status_code}"] += 1
                assert attempt < 30, resp.text

    mails: list[str] = []

    def append_mail() -> None:
        for n in range(n_mail):
            thread = n % 3
            number = n // 3
            headers = {"In-Reply-To": f"<qt{thread}-{number - 1}@example.org>"} if number else {}
            raw = make_mail(
                f"t{thread}-{number}", sender=f"mailer{thread}@example.org", subject=f"Mail thread {thread}", headers=headers, text=f"m{thread} #{number}"
            )
            dovecot.append(raw)
            mails.append(f"m{thread} #{number}")
            time.sleep(random.uniform(0, 2 * LOAD_SECONDS / n_mail))  # mail trickles in

    dms: list[str] = []

    def send_dms() -> None:
        for n in range(n_dm):
            feed.send(f"x #{n}")
            dms.append(f"x #{n}")
            time.sleep(random.uniform(0, 2 * LOAD_SECONDS / n_dm))

    reply_ids: list[int] = []
    reply_errors: list[str] = []

    def agents() -> None:
        client = httpx.Client(timeout=30, headers={"Authorization": f"Bearer {token}"})
        rng = random.Random(3)
        for n in range(n_replies):
            convs: list[int] = []
            while not convs:
                with hub.rt.db.read() as s:
                    convs = list(s.scalars(select(Conversation.id).join(Connector, Connector.id == Conversation.connector_id).where(Connector.name == "web")))
                time.sleep(0.1)
            conv = rng.choice(convs)
            for attempt in itertools.count():
                live = [h for h in hosts if not h.dead]
                h = live[(n + attempt) % len(live)]
                text = f"agent answer {n}"
                try:
                    resp = client.post(f"{h.url}/api/v1/conversations/{conv}/replies", json={"text": text})
                except httpx.ConnectError:  # never reached the host: safe to try another
                    continue
                except httpx.HTTPError:  # the host died with the request: the agent looks at the conversation
                    with hub.rt.db.read() as s:
                        made = s.scalar(select(Reply.id).where(Reply.conversation_id == conv, Reply.text == text))
                    if made is None:
                        continue  # not taken: write it again on another host
                    reply_ids.append(made)
                    break
                if resp.status_code == 202:
                    reply_ids.append(resp.json()["id"])
                else:
                    reply_errors.append(resp.text)
                break
            time.sleep(rng.uniform(0, 2 * LOAD_SECONDS / n_replies))

    threads = [threading.Thread(target=post_webhooks, args=(s,)) for s in range(senders)]
    threads += [threading.Thread(target=append_mail), threading.Thread(target=send_dms), threading.Thread(target=agents)]
    t0 = time.monotonic()
    for t in threads:
        t.start()

    # ---- kill the host holding the X poll, mid-run -------------------------------------
    progress.wait(timeout=300)
    before = holders()
    victim = host_of(before["poll:x-support"])
    lost_leases = {name for name, owner in before.items() if host_of(owner) is victim}
    victim.kill()
    killed_at = time.monotonic()
    acked_at_kill = len(acked)
    survivors = {p for h in hosts if not h.dead for p in h.pids()}

    def taken_over() -> bool:
        now_held = holders()
        return all(name in now_held and int(now_held[name].split(":")[-2]) in survivors for name in lost_leases)

    wait_until(taken_over, timeout=60, interval=0.02, message="the dead host's polls and timers taken over")
    takeover = time.monotonic() - killed_at

    for t in threads:
        t.join(900)
    sent_all = time.monotonic() - t0

    # ---- everything stored, pushed and sent ----------------------------------------------
    def stored() -> dict[str, list[str]]:
        with hub.rt.db.read() as s:
            rows = s.execute(
                select(Connector.name, Message.external_id, Message.text)
                .join(Connector, Connector.id == Message.connector_id)
                .where(Message.direction == "inbound")
            ).all()
        out: dict[str, list[str]] = defaultdict(list)
        for name, ext, text in rows:
            out[name].append(ext if name == "web" else text)
        return out

    total = len(acked) + len(mails) + len(dms)
    wait_until(lambda: sum(map(len, stored().values())) >= total, timeout=600, interval=0.5, message=f"{total} messages stored")
    hub.wait_idle(timeout=600, settle=1.0)
    wait_until(lambda: len(desk.first) >= total, timeout=120, interval=0.5, message="every message at the helpdesk")
    drained = time.monotonic() - t0

    got = stored()
    dup_stored = sum(c - 1 for lst in got.values() for c in Counter(lst).values() if c > 1)
    lost = len(acked - set(got["web"])) + len(set(mails) - set(got["mail"])) + len(set(dms) - set(got["x-support"]))
    unacked_stored = len(set(got["web"]) - acked)  # posted, answered by nobody (host died), stored: not a duplicate
    at_desk = Counter(text for _c, text in desk.first)
    desk_dups = sum(c - 1 for c in at_desk.values() if c > 1)
    redelivered = sum(c - 1 for c in desk.pushes.values() if c > 1)
    with hub.rt.db.read() as s:
        states = dict(s.execute(select(Reply.id, Reply.state).where(Reply.id.in_(reply_ids))).all())
        why = Counter(
            f"{state}: {(error or '')[:80]}"
            for state, error in s.execute(select(Reply.state, Reply.last_error).where(Reply.id.in_(reply_ids), Reply.state.in_(("failed", "dead"))))
        )
    sent = [r for r in reply_ids if states.get(r) == "sent"]
    failed = [r for r in reply_ids if states.get(r) in ("failed", "dead")]
    twice = [k for k, c in desk.replies.items() if c > 1]
    unordered = out_of_order(desk.first)
    figures = {
        "hosts": 3,
        "killed": victim.name,
        "acked at kill": acked_at_kill,
        "webhooks acked": len(acked),
        "mails": len(mails),
        "x dms": len(dms),
        "messages acked": total,
        "stored": sum(map(len, got.values())),
        "duplicates": dup_stored + desk_dups,
        "lost": lost,
        "stored though unacknowledged": unacked_stored,
        "webhook retries on another host": sum(refused.values()),
        "helpdesk re-deliveries (same Idempotency-Key)": redelivered,
        "replies": len(reply_ids),
        "replies sent": len(sent),
        "replies failed (visible)": len(failed),
        "why replies failed": dict(why),
        "replies received twice": len(twice),
        "out-of-order conversations": len(unordered),
        "takeover s": round(takeover, 2),
        "leases taken over": sorted(lost_leases),
        **{
            what: sum(h.log("worker").count(event) for h in hosts)
            for what, event in (
                ("ingest batches taken over", "ingest.batch_taken_over"),
                ("ingest turns skipped", "ingest.turn_skipped"),
                ("batches stored again after a deadlock", "ingest.store_retried"),
                ("push records again after a deadlock", "push.record_retried"),
            )
        },
        "load s": round(sent_all, 1),
        "drained s": round(drained, 1),
    }
    print("multi-host figures:", json.dumps(figures, indent=1))
    for conv in unordered:
        print(f"out of order at the helpdesk, conversation {conv}:", [t for c, t in desk.first if c == conv])
        _explain(hub, conv)
    assert desk.bad == [] and feed.errors == [] and reply_errors == []
    assert lost == 0 and dup_stored == 0 and desk_dups == 0, figures
    assert set(got["web"]) >= acked
    assert len(sent) + len(failed) == len(reply_ids), (figures, states)
    for r in sent:
        assert desk.replies[f"reply-{r}"] >= 1, r
    assert twice == [], twice
    assert unordered == [], [[t for c, t in desk.first if c == conv] for conv in unordered]
    assert takeover <= hub.settings.poll_lease_seconds + 3.0, takeover
    assert len(acked) == n_web and acked_at_kill < n_web, "the host was killed mid-run"
