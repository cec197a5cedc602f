"""S1/S2: inbox listing and full-text search on PostgreSQL with 1,000,000 messages in
100,000 conversations, against an indexed primary-key lookup of one page in the same run.

The generator writes a synthetic desk straight into a fresh, migrated PostgreSQL database
with COPY (contacts, identities, conversations, messages; the GIN indexes are dropped for the
load and built afterwards, as one would for any bulk load; the trigger of migration
0420_search_doc fills each conversation's search document as it is copied), then ANALYZEs. Texts mix a few
hundred support words (refund, password, wallet, ...) with a Zipf-distributed vocabulary of
30,000 made-up words, order ids, names and email addresses; half the conversations are in
English, some in Spanish or German (their messages are stemmed in that language), the rest
unknown ('simple').

Measured, each through the code the inbox and the API run (hub.web.inbox.query_conversations,
hub.search.highlights, GET /api/v1/conversations?q= through the Flask app):

- listing: the saved views (open, all, unassigned, waiting longest, urgent & security first)
  and their second pages by keyset cursor, each with its count;
- search: names, full names, email prefixes, phone digits, order ids, rare words, common
  support words and two-word queries, with the capped count and the highlighted fragments;
- baseline: one page of 50 conversations by primary key (``id > k ORDER BY id LIMIT 50``).

Sizes: OMNIHUB_BENCH_SEARCH_MESSAGES (default 1,000,000; --quick 100,000), ten messages per
conversation. Database server: OMNIHUB_BENCH_DATABASE_URL (default the local PostgreSQL);
the database is created and dropped by the run (kept with OMNIHUB_BENCH_SEARCH_KEEP=1; a
later run with OMNIHUB_BENCH_SEARCH_DB=<its url> migrates it and measures only). ``python -m benchmarks.bench_search`` runs
it alone (n/a without PostgreSQL).
"""

from __future__ import annotations

import io
import os
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

SUPPORT_WORDS = (
    "refund password wallet withdrawal deposit transfer account login code verification card payment "
    "order delivery parcel invoice balance blocked locked frozen pending failed error app update phone email "
    "address limit fee charge twice missing arrived help urgent hacked stolen support please thanks hello "
    "network transaction confirm confirmation identity document passport selfie upload reset unlock "
    "subscription cancel plan upgrade downgrade bank iban swift crypto bitcoin ethereum token staking reward "
    "exchange rate price chart notification push android iphone browser cookie session logout device"
).split()
ES_WORDS = "hola tarjeta bloqueada retiro cuenta contraseña pedido reembolso ayuda gracias transferencia pago".split()
DE_WORDS = "hallo karte gesperrt auszahlung konto passwort bestellung rückerstattung hilfe danke überweisung".split()
FIRST = ("dora emil fay zoe liam noah olivia emma ava sophia mia lucas mateo elena hugo ines omar yara "
         "kenji aiko ravi priya chen wei sara jonas lena nina paul ana luis marta pedro tom eva").split()
LAST = ("explorer stone garcia martinez smith jones brown muller schmidt rossi silva santos kim lee "
        "nguyen patel khan cohen novak horvat kowalski dubois lambert moreau fischer weber meyer wagner "
        "becker hoffmann schulz bauer koch richter klein wolf schroder neumann schwarz zimmermann braun").split()
LANGS = (("en", 50), (None, 35), ("es", 10), ("de", 5))
STATUSES = (("open", 20), ("pending", 10), ("snoozed", 5), ("resolved", 45), ("closed", 20))


def _pseudo_vocab(rng: random.Random, n: int) -> list[str]:
    syll = ["ka", "lo", "mi", "ne", "ru", "ta", "ve", "zo", "pi", "da", "sha", "qui", "bro", "tek", "lum", "dor", "fen", "gri"]
    out: set[str] = set()
    while len(out) < n:
        out.add("".join(rng.choice(syll) for _ in range(rng.randint(2, 4))))
    return sorted(out)


def _esc(v: Any) -> str:
    if v is None:
        return "\\N"
    if isinstance(v, bool):
        return "t" if v else "f"
    if isinstance(v, datetime):
        return v.isoformat()
    return str(v)


def _line(values: list[Any]) -> str:
    return "\t".join(_esc(v) for v in values) + "\n"


def _copy(conn, table: str, columns: list[str], rows) -> None:
    """COPY rows (generated values without tabs, newlines or backslashes) in 8 MB chunks."""
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as cp:
        buf = io.StringIO()
        for row in rows:
            buf.write(_line(row))
            if buf.tell() > 8_000_000:
                cp.write(buf.getvalue())
                buf = io.StringIO()
        cp.write(buf.getvalue())


def generate(url: str, messages: int, per_conversation: int = 10, seed: int = 21) -> dict[str, Any]:
    """Fill the migrated database at ``url``; return what the queries are drawn from and timings."""
    from hub.db import make_engine

    rng = random.Random(seed)
    n_conv = max(1, messages // per_conversation)
    vocab = _pseudo_vocab(rng, 30_000)
    cum = []
    acc = 0.0
    for rank in range(1, len(vocab) + 1):
        acc += 1.0 / rank
        cum.append(acc)
    base = datetime(2026, 12, 1, tzinfo=UTC)
    t0 = time.perf_counter()
    engine = make_engine(url)
    raw = engine.raw_connection()
    conn = raw.driver_connection
    sample: dict[str, list[str]] = {"last": [], "full": [], "email": [], "phone": [], "order": [], "rare": []}
    try:
        with conn.cursor() as cur:
            for table in ("messages", "conversations", "contacts", "identities"):
                cur.execute(f"DROP INDEX IF EXISTS ix_{table}_search")
            cur.execute("DROP INDEX IF EXISTS ix_conversations_doc_search")  # 0420_search_doc (its trigger fills it)
            cur.execute("INSERT INTO connectors (name, kind, enabled, config, state, health, created_at, updated_at) "
                        "VALUES ('web', 'api', true, '{}', '{}', '{}', now(), now()) RETURNING id")
            connector_id = cur.fetchone()[0]
        conn.commit()
        langs = rng.choices([x for x, _ in LANGS], weights=[w for _, w in LANGS], k=n_conv)
        statuses = rng.choices([x for x, _ in STATUSES], weights=[w for _, w in STATUSES], k=n_conv)
        people = []
        for i in range(1, n_conv + 1):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            email = f"{first}.{last}{i}@example{i % 7}.com"
            phone = f"+1555{(i * 7919) % 10_000_000:07d}" if i % 2 else None  # unique (7919 is coprime with 10^7)
            people.append((first, last, email, phone))
            if i % max(1, n_conv // 50) == 0:
                sample["last"].append(last)
                sample["full"].append(f"{first} {last}")
                sample["email"].append(email[: len(first) + len(last) + 4])
                if phone:
                    sample["phone"].append(phone[-7:])
        now = datetime.now(UTC)
        _copy(conn, "contacts", ["id", "name", "email", "language", "attrs", "created_at", "updated_at"],
              ([i, f"{p[0].title()} {p[1].title()}", p[2], langs[i - 1], "{}", now, now] for i, p in enumerate(people, 1)))
        _copy(conn, "identities", ["id", "contact_id", "medium", "address", "phone", "display_name", "opted_out", "attrs", "created_at"],
              ([i, i, "sms" if p[3] else "email", p[3] or p[2], p[3], f"{p[0].title()} {p[1].title()}", False, "{}", now]
               for i, p in enumerate(people, 1)))
        last_at = [base - timedelta(seconds=rng.randint(0, 365 * 86400)) for _ in range(n_conv)]

        def conversations():
            for i in range(1, n_conv + 1):
                words = rng.choices(SUPPORT_WORDS, k=rng.randint(2, 5))
                pr = rng.choices(("low", "normal", "high", "urgent"), weights=(10, 75, 12, 3))[0]
                yield [i, connector_id, i, i, f"t{i}", uuid.UUID(int=rng.getrandbits(128)).hex, " ".join(words).capitalize(),
                       statuses[i - 1], pr, None, None, langs[i - 1], rng.random() < 0.01, "[]", "[]", "{}", "{}",
                       last_at[i - 1], last_at[i - 1], last_at[i - 1] - timedelta(days=2), last_at[i - 1]]

        _copy(conn, "conversations", ["id", "connector_id", "contact_id", "identity_id", "thread_key", "token", "subject",
                                      "status", "priority", "assignee_id", "category", "language", "security_flag", "tags",
                                      "entities", "sla", "extra", "last_message_at", "last_inbound_at", "created_at", "updated_at"],
              conversations())

        def message_rows():
            mid = 0
            for c in range(1, n_conv + 1):
                lang = langs[c - 1]
                own = ES_WORDS if lang == "es" else DE_WORDS if lang == "de" else SUPPORT_WORDS
                for k in range(per_conversation):
                    mid += 1
                    words = rng.choices(vocab, cum_weights=cum, k=rng.randint(4, 12)) + rng.choices(own, k=rng.randint(2, 6))
                    rng.shuffle(words)
                    if mid % 50 == 0:
                        order = f"ORD-{rng.randint(100000, 999999)}"
                        words.append(order)
                        if len(sample["order"]) < 60:
                            sample["order"].append(order)
                    if mid % 997 == 0 and len(sample["rare"]) < 60:
                        sample["rare"].append(rng.choice(vocab[20_000:]))
                    body = " ".join(words)
                    at = last_at[c - 1] - timedelta(minutes=(per_conversation - k) * 7)
                    yield [mid, c, connector_id, f"x{mid}", "inbound", "message", c, "", at, at, "", body, body, "",
                           lang, False, "[]", "[]", "{}", "[]", False]

        _copy(conn, "messages", ["id", "conversation_id", "connector_id", "external_id", "direction", "kind", "identity_id",
                                 "sender_name", "sent_at", "received_at", "subject", "text", "full_text", "html", "language",
                                 "auto_generated", "redactions", "entities", "extra", "history", "deleted"], message_rows())
        loaded = time.perf_counter() - t0
        with conn.cursor() as cur:
            for table in ("contacts", "identities", "conversations", "messages"):
                cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
            cur.execute("SET maintenance_work_mem = '256MB'")
            for table in ("messages", "conversations", "contacts", "identities"):
                cur.execute(f"CREATE INDEX ix_{table}_search ON {table} USING gin (search_tsv)")
            cur.execute("CREATE INDEX ix_conversations_doc_search ON conversations USING gin (search_doc)")
        conn.commit()
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("VACUUM ANALYZE")
        conn.autocommit = False
    finally:
        raw.close()
        engine.dispose()
    return {"sample": sample, "load_s": loaded, "total_s": time.perf_counter() - t0, "conversations": n_conv}


def sample_from(url: str, seed: int = 21) -> dict[str, Any]:
    """What ``generate`` returns, read back from a database it filled (OMNIHUB_BENCH_SEARCH_DB)."""
    from sqlalchemy import text

    from hub.db import make_engine

    vocab = _pseudo_vocab(random.Random(seed), 30_000)  # the generator's first draw
    engine = make_engine(url)
    try:
        with engine.connect() as c:
            n_conv = c.execute(text("SELECT count(*) FROM conversations")).scalar() or 0
            people = c.execute(text("SELECT name, email FROM contacts WHERE id % 2000 = 0 ORDER BY id")).all()
            phones = c.execute(text("SELECT phone FROM identities WHERE phone IS NOT NULL AND id % 2001 = 0")).scalars().all()
            orders = c.execute(text("SELECT substring(text from 'ORD-[0-9]+') FROM messages WHERE id % 50 = 0 AND id < 3001")).scalars().all()
    finally:
        engine.dispose()
    rng = random.Random(seed + 1)
    return {"conversations": n_conv, "load_s": 0.0, "total_s": 0.0, "sample": {
        "last": [n.split()[-1].lower() for n, _ in people], "full": [n.lower() for n, _ in people],
        "email": [e[: e.index("@") - 2] for _, e in people], "phone": [p[-7:] for p in phones],
        "order": [o for o in orders if o], "rare": [rng.choice(vocab[20_000:]) for _ in range(60)]}}


def _timed(fn, n: int) -> list[float]:
    out = []
    for i in range(n):
        t = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - t)
    return out


def measure(url: str, redis_url: str, data: dict[str, Any], rounds: int) -> dict[str, Any]:
    """p99s of listing, search (query + highlights) and the API search request, and the PK page."""
    from sqlalchemy import select

    from benchmarks.common import pct
    from config.settings import Settings
    from hub.app import create_app
    from hub.auth import create_token, create_user
    from hub.connectors import ensure_builtin
    from hub.models import Conversation
    from hub.runtime import Runtime
    from hub.search import highlights
    from hub.web.inbox import FILTERS, query_conversations

    settings = Settings(database_url=url, redis_url=redis_url, secret_key="bench-search-" + "5" * 32,  # fixed: a reused database keeps it
                        public_url="http://127.0.0.1", queue_prefix="bs" + uuid.uuid4().hex[:8], log_level="WARNING")
    rt = Runtime(settings)
    ensure_builtin(rt)
    app = create_app(settings, rt)
    who = f"bench-{uuid.uuid4().hex[:8]}@example.com"
    with rt.db.session() as s:
        create_user(s, who, "agent", "correct horse battery staple", "Bench")
        token = create_token(s, who)
    client = app.test_client()
    n_conv = data["conversations"]
    rng = random.Random(5)
    sample = data["sample"]
    queries: list[tuple[str, str]] = []
    for _ in range(rounds):
        queries += [("name", rng.choice(sample["last"])), ("full name", rng.choice(sample["full"])),
                    ("email prefix", rng.choice(sample["email"])), ("phone digits", rng.choice(sample["phone"] or ["5550100"])),
                    ("order id", rng.choice(sample["order"])), ("rare word", rng.choice(sample["rare"])),
                    ("common word", rng.choice(SUPPORT_WORDS[:12])), ("two words", " ".join(rng.sample(SUPPORT_WORDS, 2)))]
    views = [{}, {"status": "all"}, {"assignee": "none"}, {"sort": "waiting"}, {"sort": "priority"}, {"status": "pending"}]

    def filt(extra: dict[str, str]) -> dict[str, str]:
        f = {k: "" for k in FILTERS}
        f["status"] = "open"
        f.update(extra)
        return f

    def pk_page(i: int) -> None:
        with rt.db.read() as s:
            k = rng.randint(0, max(0, n_conv - 50))
            rows = s.scalars(select(Conversation).where(Conversation.id > k).order_by(Conversation.id).limit(50)).all()
            assert rows

    per_view: dict[str, list[float]] = {}

    def listing(i: int) -> None:
        view = views[i % len(views)]
        f = filt(view)
        t = time.perf_counter()
        with rt.db.read() as s:
            rows, nxt, _total = query_conversations(s, f, user_id=0)
            if nxt and i % 2:  # the next page, by keyset cursor
                query_conversations(s, f, user_id=0, after=nxt)
        label = ",".join(f"{k}={v}" for k, v in view.items()) or "open"
        per_view.setdefault(label + (" +p2" if i % 2 else ""), []).append(time.perf_counter() - t)

    per_kind: dict[str, list[float]] = {}
    per_api: dict[str, list[float]] = {}

    def searching(i: int) -> None:
        kind, q = queries[i]
        t = time.perf_counter()
        with rt.db.read() as s:
            rows, _nxt, _total = query_conversations(s, filt({"status": "all", "q": q}), user_id=0)
            highlights(s, [c.id for c in rows], q)
        per_kind.setdefault(kind, []).append(time.perf_counter() - t)

    def api_search(i: int) -> None:
        kind, q = queries[i]
        t = time.perf_counter()
        resp = client.get(f"/api/v1/conversations?q={q}&limit=50", headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 200, resp.get_data(as_text=True)
        per_api.setdefault(kind, []).append(time.perf_counter() - t)

    try:
        for fn in (pk_page, listing, searching, api_search):  # warm the caches once
            _timed(fn, min(len(queries), 16))
        per_kind.clear()
        per_view.clear()
        per_api.clear()
        load_before = os.getloadavg()
        n = len(queries)
        base, lists, searches, apis = [], [], [], []
        for r in range(3):  # interleaved rounds: noise from other sessions hits all sides
            base += _timed(pk_page, n // 3 + 1)
            lists += _timed(listing, n // 3 + 1)
            searches += _timed(lambda i, r=r: searching((i + r * (n // 3)) % n), n // 3 + 1)
            apis += _timed(lambda i, r=r: api_search((i + r * (n // 3)) % n), n // 3 + 1)
        load_after = os.getloadavg()
    finally:
        rt.db.dispose() if hasattr(rt.db, "dispose") else None
    ms = 1000.0

    def spread(v: list[float]) -> tuple[float, float, float]:
        return round(pct(v, 50) * ms, 1), round(pct(v, 95) * ms, 1), round(pct(v, 99) * ms, 1)

    return {
        "pk_p99": pct(base, 99) * ms, "pk_p50": pct(base, 50) * ms,
        "list_p99": pct(lists, 99) * ms, "list_p50": pct(lists, 50) * ms,
        "search_p99": pct(searches, 99) * ms, "search_p50": pct(searches, 50) * ms,
        "api_p99": pct(apis, 99) * ms, "api_p50": pct(apis, 50) * ms,
        "pk_p95": pct(base, 95) * ms, "list_p95": pct(lists, 95) * ms, "search_p95": pct(searches, 95) * ms,
        "api_p95": pct(apis, 95) * ms,
        "kinds": {k: round(pct(v, 99) * ms, 1) for k, v in per_kind.items()},
        "kinds_spread": {k: spread(v) for k, v in per_kind.items()},
        "views_spread": {k: spread(v) for k, v in per_view.items()},
        "api_spread": {k: spread(v) for k, v in per_api.items()},
        "load": (load_before, load_after),
        "n": len(searches),
    }


def _admin_url() -> str:
    return os.environ.get("OMNIHUB_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def rows(quick: bool, redis_url: str) -> list[dict]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from hub.migrate import upgrade

    size = int(os.environ.get("OMNIHUB_BENCH_SEARCH_MESSAGES", "100000" if quick else "1000000"))
    reuse = os.environ.get("OMNIHUB_BENCH_SEARCH_DB")  # a database an earlier run generated: measure only
    if reuse:
        from hub.migrate import upgrade as _upgrade

        _upgrade(reuse)
        data = sample_from(reuse)
        m = measure(reuse, redis_url, data, rounds=25 if quick else 50)
        return _rows(m, data, f"{data['conversations'] * 10:,} msgs / {data['conversations']:,} convs (reused)")
    admin = create_engine(_admin_url(), isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with admin.connect() as c:
            c.execute(text("select 1"))
    except Exception as exc:  # no PostgreSQL here
        admin.dispose()
        return [{"id": "S1", "what": f"inbox listing p99, PostgreSQL ({exc.__class__.__name__}: no server)", "value": "n/a",
                 "baseline": "n/a", "ratio": float("nan"), "goal": "p99 < 100 ms", "ok": None}]
    name = "omnihub_bench_search_" + uuid.uuid4().hex[:10]  # its own prefix (benchmarks.common uses omnihub_bench_)
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(_admin_url()).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        print(f"  S1/S2: generating {size:,} messages ...", file=sys.stderr, flush=True)
        data = generate(url, size)
        print(f"  S1/S2: generated in {data['total_s']:.0f} s (COPY {data['load_s']:.0f} s); measuring ...", file=sys.stderr, flush=True)
        m = measure(url, redis_url, data, rounds=25 if quick else 50)
    finally:
        if os.environ.get("OMNIHUB_BENCH_SEARCH_KEEP"):  # kept for OMNIHUB_BENCH_SEARCH_DB runs
            print(f"  S1/S2: database kept: OMNIHUB_BENCH_SEARCH_DB={url}", file=sys.stderr, flush=True)
        else:
            with admin.connect() as c:
                c.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()
    return _rows(m, data, f"{size:,} msgs / {data['conversations']:,} convs, generated in {data['total_s']:.0f} s")


def _rows(m: dict[str, Any], data: dict[str, Any], scale: str) -> list[dict]:
    base = f"PK page of 50 p99 {m['pk_p99']:.1f} ms (p50 {m['pk_p50']:.1f})"
    kinds = ", ".join(f"{k} {v}" for k, v in m["kinds"].items())
    print(f"  S2 search p99 by kind (ms): {kinds}", file=sys.stderr, flush=True)
    (l1, l5, l15), (e1, e5, e15) = m["load"]
    print(f"  load average (1/5/15 min) before {l1:.2f} {l5:.2f} {l15:.2f}, after {e1:.2f} {e5:.2f} {e15:.2f}", file=sys.stderr)
    print(f"  {'':34} {'p50':>7} {'p95':>7} {'p99':>7}  (ms)", file=sys.stderr)
    print(f"  {'PK page of 50 (baseline)':34} {m['pk_p50']:7.1f} {m['pk_p95']:7.1f} {m['pk_p99']:7.1f}", file=sys.stderr)
    for title, key in (("listing", "views_spread"), ("search", "kinds_spread"), ("API search", "api_spread")):
        for k, (p50, p95, p99) in sorted(m[key].items()):
            print(f"  {title + ': ' + k:34} {p50:7.1f} {p95:7.1f} {p99:7.1f}  x{p99 / m['pk_p99']:.1f}", file=sys.stderr)
    print(file=sys.stderr, flush=True)
    return [{
        "id": "S1", "what": f"inbox listing p99 (views + keyset page 2, with count), PostgreSQL, {scale}",
        "value": f"{m['list_p99']:.1f} ms (p50 {m['list_p50']:.1f})", "baseline": base, "ratio": m["list_p99"] / m["pk_p99"],
        "goal": "p99 < 100 ms", "ok": m["list_p99"] < 100,
    }, {
        "id": "S2", "what": f"search p99 (query + capped count + highlights, {m['n']} queries of 8 kinds), PostgreSQL",
        "value": f"{m['search_p99']:.1f} ms (p50 {m['search_p50']:.1f})", "baseline": base, "ratio": m["search_p99"] / m["pk_p99"],
        "goal": "p99 < 100 ms", "ok": m["search_p99"] < 100, "kinds": m["kinds"],
    }, {
        "id": "S2", "what": "GET /api/v1/conversations?q= p99 (whole request, 50 items as JSON)",
        "value": f"{m['api_p99']:.1f} ms (p50 {m['api_p50']:.1f})", "baseline": base, "ratio": m["api_p99"] / m["pk_p99"],
        "goal": "p99 < 100 ms", "ok": m["api_p99"] < 100,
    }]


if __name__ == "__main__":
    import tempfile
    from pathlib import Path

    from hub.embedded import EmbeddedRedis

    with tempfile.TemporaryDirectory(prefix="omnihub-bench-") as d:
        server = EmbeddedRedis(Path(d) / "redis", persist=False).start()
        try:
            for r in rows("--quick" in sys.argv, server.url):
                print(f"| {r['id']} | {r['what']} | {r['value']} | {r['baseline']} | {r['ratio']:.2f} | {r['goal']} | {r['ok']} |")
        finally:
            server.stop()
