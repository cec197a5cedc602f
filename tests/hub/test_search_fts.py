"""Full-text search (#21 item 6) on SQLite (FTS5) and PostgreSQL (tsvector + GIN): the same
answers from the inbox and the API, prefixes and phrases, language-aware stemming on
PostgreSQL, hostile input, escaped highlighting, redacted text only, index entries leaving
with their rows, keyset pages (no OFFSET) and the capped count."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import quote

import pytest
from sqlalchemy import event, select, text

from hub import search, signing
from hub.models import Connector, Contact, Conversation, Identity, InboundEvent, Message, now
from hub.web.inbox import FILTERS, query_conversations
from tests.support.hub import Hub, wait_until

SECRET = "search-api-secret"


@pytest.fixture
def desk(tmp_path, db_url, redis_url):
    h = Hub(tmp_path, redis_url, database_url=db_url)
    h.add_connector("web", "api", secret=SECRET)
    yield h
    h.close()


def _add(h, key, *, name="", email=None, address=None, subject="", texts=(), status="open", language=None,
         msg_language=None, at=None):
    with h.rt.db.session() as s:
        conn = s.scalars(select(Connector).where(Connector.name == "web")).one()
        c = Contact(name=name, email=email)
        s.add(c)
        s.flush()
        i = Identity(contact_id=c.id, medium="api", address=address or f"addr-{key}", display_name="")
        s.add(i)
        s.flush()
        conv = Conversation(connector_id=conn.id, contact_id=c.id, identity_id=i.id, thread_key=f"t-{key}",
                            token=f"tok-{key}", subject=subject, status=status, language=language,
                            last_message_at=at or now())
        s.add(conv)
        s.flush()
        for n, body in enumerate(texts):
            s.add(Message(conversation_id=conv.id, connector_id=conn.id, direction="inbound", text=body,
                          external_id=f"m-{key}-{n}", sent_at=now(), language=msg_language))
        return conv.id


def _seed(h):
    return {
        "dora": _add(h, "dora", name="Dora Explorer", email="dora@example.com", address="+15550100199",
                     subject="Refund please", texts=["my parcel never arrived"]),
        "emil": _add(h, "emil", name="Emil Stone", email="emil.stone@example.org", address="+4930123456",
                     subject="Login trouble", texts=["the 2FA code fails"], status="resolved"),
        "fay": _add(h, "fay", name="Fay 50% Off", address="fay-addr", subject="Question",
                    texts=["what about the_underscore?"], status="snoozed"),
        "zoe": _add(h, "zoe", name="Zoë Ångström", address="zoe-addr", subject="Café crème",
                    texts=["Je n'arrive pas à retirer mes fonds, café"]),
    }


def _api(h, q, status="all"):
    resp = h.api("GET", f"/api/v1/conversations?status={status}&q={quote(q)}")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()


def _api_ids(h, q, status="all"):
    return sorted(item["id"] for item in _api(h, q, status)["items"])


def _inbox_ids(h, q, status="all"):
    f = {k: "" for k in FILTERS}
    f.update(status=status, q=q)
    with h.rt.db.read() as s:
        return sorted(c.id for c in query_conversations(s, f, user_id=0)[0])


@pytest.mark.parametrize("q,expected", [
    ("Dora", ["dora"]),                      # contact name
    ("EMIL.STONE@example", ["emil"]),        # contact email, any case, a phrase of its parts
    ("stone@example.org", ["emil"]),
    ("+1 (555) 010-0199", ["dora"]),         # phone number as typed by a person
    ("0100199", ["dora"]),                   # part of a phone number
    ("refund", ["dora"]),                    # subject
    ("refu", ["dora"]),                      # a prefix
    ("2fa code", ["emil"]),                  # message text
    ("code 2fa", ["emil"]),                  # every word, in any order
    ("never parc", ["dora"]),
    ("refund 2fa", []),                      # every word must occur
    ("50%", ["fay"]),                        # a % is text, not a wildcard
    ("the_under", ["fay"]),
    ("e_o", []),                             # an _ is text, not a wildcard
    ("zoe angstrom", ["zoe"]),               # diacritics are folded... on SQLite; see below
    ("café", ["zoe"]),
    ("nobody-matches-this", []),
])
def test_inbox_and_api_find_the_same_conversations_on_both_databases(desk, db_url, q, expected):
    ids = _seed(desk)
    if q == "zoe angstrom" and db_url.startswith("postgresql"):
        expected = []  # PostgreSQL's 'simple' configuration keeps diacritics (no unaccent extension)
    want = sorted(ids[k] for k in expected)
    assert _api_ids(desk, q) == want
    assert _inbox_ids(desk, q) == want


@pytest.mark.parametrize("q,expected", [
    ("Dora", ["dora"]), ("EMIL.STONE@example", ["emil"]), ("+1 (555) 010-0199", ["dora"]), ("0100199", ["dora"]),
    ("refu", ["dora"]), ("2fa code", ["emil"]), ("refund 2fa", []), ("the_under", ["fay"]), ("café", ["zoe"]),
])
def test_the_walk_for_common_words_finds_the_same(desk, db_url, monkeypatch, q, expected):
    """PostgreSQL looks a query the planner expects in many messages up by walking the list
    order (hub.search.WALK_ABOVE): forced here, it must answer exactly as the other plan."""
    ids = _seed(desk)
    monkeypatch.setattr(search, "WALK_ABOVE", -1)
    want = sorted(ids[k] for k in expected)
    assert _api_ids(desk, q) == want
    assert _inbox_ids(desk, q) == want


def test_status_filters_still_apply(desk):
    ids = _seed(desk)
    assert _api_ids(desk, "parcel", status="open") == [ids["dora"]]
    assert _api_ids(desk, "parcel", status="resolved") == []
    assert _api_ids(desk, "Dora parcel", status="resolved") == []


@pytest.mark.parametrize("plan", ["chosen", "walk", "collect"])
def test_every_word_may_match_in_a_different_place_of_the_conversation(desk, db_url, monkeypatch, plan):
    """#21 fresh eyes: "maria withdrawal" found nothing when Maria's name and the word
    withdrawal were in different rows. A conversation matches when every word matches
    somewhere in it: a message, the subject, the contact or the identity."""
    ids = _seed(desk)
    maria = _add(desk, "maria", name="Maria Lopez", email="ml@example.net", subject="Account",
                 texts=["hello there", "my withdrawal is still pending"])
    other_maria = _add(desk, "maria2", name="Maria Perez", subject="Card", texts=["my card is blocked"])
    withdrawal = _add(desk, "w", name="Sam Rowe", subject="Money", texts=["the withdrawal failed"])
    if plan == "walk":  # PostgreSQL: every word probed while walking the list
        monkeypatch.setattr(search, "WALK_ABOVE", -1)
    elif plan == "collect":  # PostgreSQL: every word's conversations collected
        monkeypatch.setattr(search, "WALK_ABOVE", 10**9)
        monkeypatch.setattr(search, "DOC_COLLECT", 10**12)
    cases = {
        "maria withdrawal": [maria],              # contact name + a message
        "withdrawal maria": [maria],              # in any order
        "lopez pending hello": [maria],           # contact + two different messages
        "ml@example withdraw": [maria],           # email (a phrase of its parts) + a message, by prefix
        "account pending": [maria],               # conversation subject + a message
        "maria": sorted([maria, other_maria]),
        "withdrawal": sorted([maria, withdrawal]),
        "maria blocked": [other_maria],
        "Dora parcel": [ids["dora"]],             # a name and a message word
        "refund never": [ids["dora"]],            # the subject and a message
        "refund 2fa": [],                         # words of two different conversations
        "maria nothingatall": [],                 # one word matches nowhere
    }
    for q, want in cases.items():
        assert _api_ids(desk, q) == want, q
        assert _inbox_ids(desk, q) == want, q


def test_language_aware_stemming_on_postgresql(desk, db_url):
    en = _add(desk, "en", subject="Card", texts=["I was refunded twice for the same order"], language="en", msg_language="en")
    es = _add(desk, "es", subject="Tarjeta", texts=["Mis tarjetas están bloqueadas"], language="es", msg_language="es")
    unknown = _add(desk, "xx", subject="misc", texts=["refunds pending"])
    if db_url.startswith("postgresql"):
        # English stems: "refunds" and "refunded" are both 'refund'
        assert _api_ids(desk, "refunds") == sorted([en, unknown])
        assert _api_ids(desk, "tarjeta bloqueada") == [es]  # Spanish stems
    else:
        assert _api_ids(desk, "refund") == sorted([en, unknown])
        assert _api_ids(desk, "tarjeta bloqueada") == [es]  # prefixes
    assert _api_ids(desk, "refunds pending") == [unknown]


HOSTILE = [
    '"', "'", '"unbalanced', "AND", "OR NOT", "NEAR(a b)", "*", "a:*", "!", "((", ")", "\\", "-", "col:term",
    "^start", "'; DROP TABLE messages; --", "<->", "a & | b", "text:2fa", "{messages}", "x" * 5000,
    "\x00null", "%_%", "😀 emoji", "'\"*:&|!()<>", "rowid", "messages_fts", "-refund", "+refund",
]


@pytest.mark.parametrize("q", HOSTILE)
def test_hostile_input_is_data_never_syntax(desk, q):
    ids = _seed(desk)
    if len(q) <= 200:
        found = _api_ids(desk, q)
        assert set(found) <= set(ids.values())
    else:  # the API bounds q; the inbox cuts it
        assert desk.api("GET", f"/api/v1/conversations?q={quote(q)}").status_code == 400
    assert set(_inbox_ids(desk, q)) <= set(ids.values())
    with desk.rt.db.read() as s:
        assert set(search.highlights(s, ids.values(), q)) <= set(ids.values())
    # the tables are still there and searchable
    assert _api_ids(desk, "+refund") == [ids["dora"]] == _api_ids(desk, "-refund")


def test_highlight_escapes_the_text_before_marking(desk, db_url):
    cid = _add(desk, "x", subject="hello", texts=[
        'older note about refund',
        '<script>alert("refund")</script> & <mark>fake</mark> please refund me',
    ])
    other = _add(desk, "y", subject="Refund <b>now</b>", texts=["nothing here"])
    body = _api(desk, "refund")
    hl = {i["id"]: i["highlight"] for i in body["items"]}
    assert "<script" not in hl[cid] and "<mark>fake" not in hl[cid]
    if db_url.startswith("sqlite"):
        assert "&lt;script&gt;" in hl[cid]
        assert "&lt;mark&gt;fake&lt;/mark&gt;" in hl[cid]  # a customer's <mark> stays text
    # (PostgreSQL's ts_headline leaves HTML-like tags out of its fragments altogether)
    assert "<mark>refund</mark>" in hl[cid].lower() and "please" in hl[cid]  # the newest matching message
    assert "<b>" not in hl[other] and "<mark>refund</mark>" in hl[other].lower()  # the subject when no message matches
    assert hl[cid].replace("<mark>", "").replace("</mark>", "").count("<") == 0
    # the inbox shows the same fragment in place of the preview
    f = {k: "" for k in FILTERS}
    f.update(status="all", q="refund")
    with desk.rt.db.read() as s:
        marked = search.highlights(s, [cid], "refund")
    assert str(marked[cid]) == hl[cid]
    resp = desk.client.get("/inbox?status=all&q=refund")
    if resp.status_code == 200:  # a signed-in agent (the fixture's test client) sees it
        assert "<script>alert" not in resp.get_data(as_text=True)


def _post(h, mid, text_):
    body = json.dumps({"id": mid, "from": {"id": "ana", "name": "Ana"}, "text": text_}).encode()
    resp = h.client.post("/webhooks/web/messages", data=body, headers={"Content-Type": "application/json", **signing.sign(SECRET, body)})
    assert resp.status_code == 200, resp.get_data(as_text=True)


AMBIGUOUS = "e9873d79c6d87dc0fb6a5778633389f4453213303da61f20bd67fc233aa33262"
PHRASE = " ".join(["abandon"] * 11 + ["about"])


def test_only_the_redacted_text_is_indexed_never_a_secret(desk, db_url):
    desk.start_worker()
    _post(desk, "s1", f"help with my refund, my words are {PHRASE}")
    _post(desk, "s2", f"the app shows\n{AMBIGUOUS}\nwhat is it?")
    wait_until(lambda: desk.count(InboundEvent, InboundEvent.state == "processed") == 2, message="ingested")
    assert len(_api_ids(desk, "refund")) == 1
    assert _api_ids(desk, "abandon") == [] and _api_ids(desk, AMBIGUOUS[:16]) == [] and _api_ids(desk, AMBIGUOUS) == []
    with desk.rt.db.read() as s:
        if db_url.startswith("postgresql"):
            index = " ".join(s.scalars(text("SELECT search_tsv::text FROM messages")))
        else:
            index = _fts_terms(s)
    assert "refund" in index
    assert "abandon" not in index and AMBIGUOUS[:16] not in index


def _fts_terms(s) -> str:
    s.execute(text("CREATE VIRTUAL TABLE IF NOT EXISTS temp.messages_fts_vocab USING fts5vocab(main, messages_fts, row)"))
    return " ".join(s.scalars(text("SELECT term FROM temp.messages_fts_vocab")))


def test_edits_and_deletes_leave_the_index_with_their_rows(desk, db_url):
    cid = _add(desk, "gone", name="Quentin Zyxwvutsrq", email="qz@example.net", subject="Wallet xylophonic",
               texts=["my quixotically strange problem"])
    assert _api_ids(desk, "quixotically") == [cid] == _api_ids(desk, "zyxwvutsrq") == _api_ids(desk, "xylophonic")
    with desk.rt.db.session() as s:  # an edit: the old words leave the index
        m = s.scalars(select(Message).where(Message.conversation_id == cid)).one()
        m.text = "now a plain problem"
    assert _api_ids(desk, "quixotically") == [] and _api_ids(desk, "plain problem") == [cid]
    with desk.rt.db.session() as s:  # erasure: rows deleted
        conv = s.get(Conversation, cid)
        ident, contact = conv.identity_id, conv.contact_id
        s.execute(Message.__table__.delete().where(Message.conversation_id == cid))
        s.execute(Conversation.__table__.delete().where(Conversation.id == cid))
        s.execute(Identity.__table__.delete().where(Identity.id == ident))
        s.execute(Contact.__table__.delete().where(Contact.id == contact))
    with desk.rt.db.session() as s:
        search.purge(s)
    with desk.rt.db.read() as s:
        if db_url.startswith("postgresql"):
            return  # the rows (and so their generated search_tsv) are gone
        for table in search.SEARCH_TABLES:
            assert s.scalar(text(f"SELECT count(*) FROM {table}_fts WHERE {table}_fts MATCH 'zyxwvutsrq OR xylophonic OR plain'")) == 0
            # not even a delete marker: the words are gone from the segments
            blob = b"".join(bytes(b) for b in s.scalars(text(f"SELECT block FROM {table}_fts_data")))
            for word in (b"yxwvutsrq", b"ylophonic", b"uixotically"):
                assert word not in blob, (table, word)


def _capture_sql(engine):
    seen: list[str] = []

    def before(conn, cursor, statement, params, context, executemany):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    return seen, lambda: event.remove(engine, "before_cursor_execute", before)


@pytest.mark.parametrize("walk", [False, True])
def test_search_pages_by_keyset_never_offset(desk, db_url, monkeypatch, walk):
    base = now()
    ids = {_add(desk, f"k{n}", subject=f"Order {n}", texts=[f"payment problem number {n}"],
                at=base - timedelta(minutes=n // 3)) for n in range(130)}  # ties on last_message_at
    _add(desk, "other", subject="unrelated", texts=["hello"])
    if walk:
        monkeypatch.setattr(search, "WALK_ABOVE", -1)
    seen, stop = _capture_sql(desk.rt.db.engine)
    try:
        got, nxt, pages = [], "", 0
        while True:
            resp = desk.api("GET", f"/api/v1/conversations?q=payment&limit=50{'&before=' + quote(nxt) if nxt else ''}")
            body = resp.get_json()
            got += [i["id"] for i in body["items"]]
            assert all(i["highlight"] and "<mark>payment</mark>" in i["highlight"] for i in body["items"])
            pages += 1
            nxt = body["next"]
            if not nxt:
                break
        assert pages == 3 and len(got) == len(set(got)) == 130 and set(got) == ids
        # the inbox's pages: the same 130, in the same order
        f = {k: "" for k in FILTERS}
        f.update(status="all", q="payment")
        inbox, after = [], None
        with desk.rt.db.read() as s:
            while True:
                rows, after, total = query_conversations(s, f, user_id=0, after=after)
                assert total == min(130, search.COUNT_CAP + 1)
                inbox += [c.id for c in rows]
                if not after:
                    break
        assert inbox == got
    finally:
        stop()
    # (SQLAlchemy writes "LIMIT ? OFFSET 0" for any LIMIT on SQLite: checked on PostgreSQL)
    if db_url.startswith("postgresql"):
        assert seen and not any(" OFFSET " in sql.upper() for sql in seen)


def test_search_count_is_capped(desk, monkeypatch):
    for n in range(7):
        _add(desk, f"c{n}", subject="capped topic", texts=[])
    monkeypatch.setattr(search, "COUNT_CAP", 5)
    monkeypatch.setattr("hub.web.inbox.COUNT_CAP", 5)
    body = _api(desk, "capped")
    assert body["total"] == 6 and body["total_capped"] is True and len(body["items"]) == 7
    assert _api(desk, "capped topic nothing")["total_capped"] is False
    f = {k: "" for k in FILTERS}
    f.update(status="all", q="capped")
    with desk.rt.db.read() as s:
        rows, _nxt, total = query_conversations(s, f, user_id=0)
    assert len(rows) == 7 and total == 6


def test_no_offset_in_the_code():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    for pkg in ("hub", "workers", "outbound", "channels"):
        for path in (root / pkg).rglob("*.py"):
            assert ".offset(" not in path.read_text(), f"{path}: keyset pagination everywhere, no OFFSET"


def test_the_inbox_page_shows_the_escaped_highlight(desk, monkeypatch):
    from tests.web.conftest import AGENT, add_users
    from tests.web.test_web_unit import do_login

    add_users(desk)
    cid = _add(desk, "w", name="Wanda", subject="Help", texts=['<script>alert("x")</script> my refund <b>now</b>'])
    for n in range(3):
        _add(desk, f"w{n}", subject="refund again", texts=[])
    monkeypatch.setattr("hub.web.inbox.COUNT_CAP", 2)
    c = desk.app.test_client()
    assert do_login(c, AGENT).status_code == 302
    html = c.get("/inbox/?status=all&q=refund").get_data(as_text=True)
    item = html[html.index(f'id="conv-{cid}"'):]
    item = item[: item.index("</li>")]
    assert '<span class="preview hl">' in item and "<mark>refund</mark>" in item.lower()
    assert "<script>alert" not in html and "<b>now" not in html  # escaped (SQLite) or left out (ts_headline)
    assert '<span id="list-count">2+</span>' in html  # the capped count


def test_a_conversation_found_by_its_contact_shows_the_matching_field(desk, db_url):
    """#21 fresh eyes: a conversation matched only by its contact showed no highlight."""
    ids = _seed(desk)
    odd = _add(desk, "odd", name='Ann <b>"Bold"</b> Ray', address="ann-addr", subject="Hi", texts=["nothing"])
    by_name = _api(desk, "explorer")["items"]
    assert [i["id"] for i in by_name] == [ids["dora"]]
    assert by_name[0]["highlight_contact"] == {"field": "name", "html": "Dora <mark>Explorer</mark>"}
    assert by_name[0]["highlight"] == "Dora <mark>Explorer</mark>"  # no message matched: the contact is the highlight
    by_email = _api(desk, "emil.stone@ex")["items"][0]
    assert by_email["highlight_contact"] == {"field": "email", "html": "<mark>emil.stone@example</mark>.org"}
    by_phone = _api(desk, "+1 (555) 010-0199")["items"][0]
    assert by_phone["id"] == ids["dora"]
    assert by_phone["highlight_contact"] == {"field": "address", "html": "+<mark>15550100199</mark>"}
    by_digits = _api(desk, "0100199")["items"][0]  # part of the number: its digits are marked
    assert by_digits["highlight_contact"] == {"field": "address", "html": "+1555<mark>0100199</mark>"}
    escaped = _api(desk, "bold")["items"][0]
    assert escaped["id"] == odd
    assert escaped["highlight_contact"]["html"] == "Ann &lt;b&gt;&#34;<mark>Bold</mark>&#34;&lt;/b&gt; Ray"
    # a name and a message word: the message fragment marks the word, the contact the name
    mixed = _api(desk, "dora parcel")["items"][0]
    assert "<mark>parcel</mark>" in mixed["highlight"].lower()
    assert mixed["highlight_contact"] == {"field": "name", "html": "<mark>Dora</mark> Explorer"}
    # a match in a message only: no contact highlight
    assert _api(desk, "parcel")["items"][0]["highlight_contact"] is None
    with desk.rt.db.read() as s:
        assert search.contact_highlights(s, [ids["emil"]], "stone")[ids["emil"]]["field"] == "name"


def test_the_inbox_marks_the_matching_contact_field(desk):
    from tests.web.conftest import AGENT, add_users
    from tests.web.test_web_unit import do_login

    add_users(desk)
    ids = _seed(desk)
    c = desk.app.test_client()
    assert do_login(c, AGENT).status_code == 302
    html = c.get("/inbox/?status=all&q=explorer").get_data(as_text=True)
    item = html[html.index(f'id="conv-{ids["dora"]}"'):]
    item = item[: item.index("</li>")]
    assert '<span class="contact-hl hl" data-field="name">Name: Dora <mark>Explorer</mark></span>' in item


def test_a_shortened_query_is_said_so(desk):
    """#21 fresh eyes: the inbox cut queries past 200 characters without a word."""
    from tests.web.conftest import AGENT, add_users
    from tests.web.test_web_unit import do_login

    add_users(desk)
    ids = _seed(desk)
    c = desk.app.test_client()
    assert do_login(c, AGENT).status_code == 302
    assert 'id="search-shortened"' not in c.get("/inbox/?status=all&q=refund").get_data(as_text=True)
    long_q = "refund " + "x" * 250
    html = c.get(f"/inbox/?status=all&q={quote(long_q)}").get_data(as_text=True)
    assert 'id="search-shortened"' in html and "first 200 characters" in html
    many = "refund please a b c d e f g h"  # ten words: the last two are not searched
    assert search.parse(many).shortened and not search.parse("refund please").shortened
    html = c.get(f"/inbox/?status=all&q={quote(many)}").get_data(as_text=True)
    assert 'id="search-shortened"' in html
    # the API refuses a q past 200 characters and says when words were left out
    resp = desk.api("GET", f"/api/v1/conversations?q={quote(long_q)}")
    assert resp.status_code == 400 and resp.get_json() == {"error": "q: at most 200 characters", "field": "q"}
    assert _api(desk, many)["q_shortened"] is True
    body = _api(desk, "refund")
    assert body["q_shortened"] is False and [i["id"] for i in body["items"]] == [ids["dora"]]


def test_the_priority_order_pages_by_keyset_on_both_databases(desk):
    """"Urgent & security first" is read from ix_conversations_priority (0410_search_speed):
    the order and its keyset pages stay what they were."""
    base = now()
    made = []
    for n, (prio, flag) in enumerate([("low", False), ("urgent", False), ("normal", True), ("high", False),
                                      ("normal", False), ("urgent", True), ("high", False), ("low", True)]):
        cid = _add(desk, f"p{n}", subject=f"p{n}", texts=["x"], at=base - timedelta(minutes=n % 3))
        with desk.rt.db.session() as s:
            conv = s.get(Conversation, cid)
            conv.priority, conv.security_flag = prio, flag
        made.append((1 if flag else 0, {"urgent": 3, "high": 2, "normal": 1}.get(prio, 0), base - timedelta(minutes=n % 3), cid))
    want = [cid for *_k, cid in sorted(made, key=lambda t: (t[0], t[1], t[2], t[3]), reverse=True)]
    f = {k: "" for k in FILTERS}
    f.update(status="open", sort="priority")
    got, after = [], None
    with desk.rt.db.read() as s:
        while True:
            rows, after, total = query_conversations(s, f, user_id=0, limit=3, after=after)
            assert total == len(made)
            got += [c.id for c in rows]
            if not after:
                break
    assert got == want
