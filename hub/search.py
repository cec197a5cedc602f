"""One conversation search, shared by the inbox (`/inbox?q=`) and the REST API (`GET /api/v1/conversations?q=`).

A conversation matches when every word of the query occurs in one of its messages (text or
subject), in its subject, or in its customer's name, email, address or display name. Words
match by prefix ("refu" finds "refund"); a word with punctuation inside ("emil.stone@ex",
"the_under") is a phrase of its parts. The search runs on a full-text index the migration
``0360_search`` keeps in step with the rows through triggers (docs/inbox.md#search):

- SQLite: FTS5 tables ``<table>_fts`` (unicode61 tokenizer, diacritics folded).
- PostgreSQL: generated ``search_tsv`` columns with GIN indexes; a message or subject is
  indexed with the text search configuration of its language when known (``PG_CONFIGS``),
  'simple' otherwise, and a query is looked up in every configuration, so "refunds" finds
  an English "refunded" and an unknown-language "refunds" alike.

What a user types is data, never syntax: it is cut into words of letters and digits before
it reaches FTS5 or ``to_tsquery``, so no input can cause a syntax error or an injection. A
query that looks like a phone number ("+1 (555) 010-0199") also matches, on its digits alone,
anywhere inside an identity's address or phone (a LIKE over the identities table only), so
the way an agent types a number does not matter against the E.164 addresses stored for
SMS/WhatsApp.

Only what is stored is indexed: message text after redaction (a secret a customer pasted is
replaced by its marker before the row is written; sealed values are kept encrypted in
``extra`` and never indexed). Deleting or updating a row updates the index in the same
transaction (triggers on SQLite, generated columns on PostgreSQL); ``purge`` also compacts
SQLite's FTS5 segments so an erased word leaves no trace in the index files.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy import bindparam, literal_column, or_, select, text, union, union_all
from sqlalchemy.sql.elements import ColumnElement

from hub.models import Contact, Conversation, Identity, Message

_PHONE = re.compile(r"^\+?[\d\s().\-/]{4,}$")
_PART = re.compile(r"[^\W_]+")  # letters and digits: what both tokenizers keep as words
#: bounds on what one query may cost
MAX_QUERY_CHARS = 200
MAX_WORDS = 8
MAX_PARTS = 6
#: a search counts its matches up to this many (the list shows "200+")
COUNT_CAP = 200
#: PostgreSQL: a query the planner expects in more messages than this is looked up by walking
#: the list order and probing each conversation's messages (a common word fills a page within a
#: few hundred conversations), a rarer one by collecting its conversations first
WALK_ABOVE = 8000
#: PostgreSQL: at most this many candidate conversations are collected for a rarer query
MAX_CANDIDATES = 20000

#: language code -> PostgreSQL text search configuration (migration 0360_search has a copy)
PG_CONFIGS: dict[str, str] = {
    "en": "english", "es": "spanish", "ca": "catalan", "pt": "portuguese", "fr": "french",
    "de": "german", "it": "italian", "nl": "dutch", "sv": "swedish", "da": "danish",
    "no": "norwegian", "fi": "finnish", "ru": "russian", "tr": "turkish", "ro": "romanian",
    "hu": "hungarian", "id": "indonesian", "el": "greek",
}
_ALL_CONFIGS = ("simple", *dict.fromkeys(PG_CONFIGS.values()))
#: the FTS5 tables (migration 0360_search) and the search_tsv columns, for include_object
SEARCH_TABLES = ("messages", "conversations", "contacts", "identities")


@dataclass(frozen=True)
class SearchQuery:
    """A user's query reduced to words (each a tuple of its letter/digit parts) and, when it
    looks like a phone number, its digits."""

    words: tuple[tuple[str, ...], ...]
    digits: str | None = None

    def __bool__(self) -> bool:
        return bool(self.words or self.digits)

    def fts5(self) -> str:
        """FTS5 MATCH text: each word a quoted phrase whose last part is a prefix; words ANDed."""
        return " ".join('"' + " ".join(parts) + '"*' for parts in self.words)

    def tsquery(self, prefix: bool = True) -> str:
        """to_tsquery text: each word parts joined by <-> (phrase), the last a prefix; words ANDed."""
        star = ":*" if prefix else ""
        return " & ".join("(" + " <-> ".join([*parts[:-1], parts[-1] + star]) + ")" for parts in self.words)


def parse(term: str) -> SearchQuery:
    """The query as words of letters and digits (lower-cased); nothing else survives."""
    term = (term or "").strip()[:MAX_QUERY_CHARS]
    words = []
    for raw in term.split()[:MAX_WORDS]:
        parts = tuple(p.lower() for p in _PART.findall(raw))[:MAX_PARTS]
        if parts and parts not in words:
            words.append(parts)
    digits = None
    if _PHONE.match(term):
        d = re.sub(r"\D", "", term)
        if len(d) >= 4:
            digits = d
    return SearchQuery(tuple(words), digits)


def _dialect(s_or_name: Any) -> str:
    if isinstance(s_or_name, str):
        return s_or_name
    return s_or_name.get_bind().dialect.name


def _like(term: str) -> str:
    # the term is data, not a pattern: escape LIKE wildcards
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def pg_tsquery_sql(param: str) -> str:
    """SQL for the query (bound as ``:param``, the text of SearchQuery.tsquery) as one tsquery:
    its plain words ('simple') ORed with its form in each language's configuration, where
    that form keeps every word. A word that is a stop word in a language would drop out of
    that language's form and widen it ("the under" in Norwegian is just "the"), so such a
    language contributes its plain form instead (every language-indexed text also holds
    its plain words, migration 0360_search). One constant tsquery: one GIN lookup."""
    simple = f"to_tsquery('simple', :{param})"
    parts = [simple]
    for cfg in _ALL_CONFIGS[1:]:
        lang = f"to_tsquery('{cfg}', :{param})"
        parts.append(f"(CASE WHEN numnode({lang}) = numnode({simple}) THEN {lang} ELSE {simple} END)")
    return "(" + " || ".join(parts) + ")"


_LANGS: dict[str, tuple[float, frozenset[str]]] = {}
#: how long the set of conversation languages is remembered (a new language's stems are
#: searched at most this late; its plain words at once)
LANGUAGES_TTL = 300.0


def _languages_in_use(s) -> frozenset[str]:
    """The conversation languages present (per database, remembered LANGUAGES_TTL seconds):
    a query takes the forms of these configurations only, each one more index lookup."""
    import time

    key = str(s.get_bind().url)
    hit = _LANGS.get(key)
    if hit and time.monotonic() - hit[0] < LANGUAGES_TTL:
        return hit[1]
    rows = s.execute(text("SELECT DISTINCT lower(split_part(language, '-', 1)) FROM conversations WHERE language IS NOT NULL")).scalars()
    langs = frozenset(r for r in rows if r)
    _LANGS[key] = (time.monotonic(), langs)
    return langs


def pg_resolve(s, q: SearchQuery) -> str:
    """The query's tsquery on PostgreSQL, as text: its distinct forms over the configurations
    (the rule of pg_tsquery_sql), worked out in one round trip, so the index condition is one
    small constant instead of nineteen alternatives evaluated on every candidate row."""
    if not q.words:
        return ""
    # prefixes in the plain form only: every language-indexed text holds its plain words too,
    # so "refu" finds "refund" there, and a language form adds its stems without widening
    # them ("garcia" in Spanish is 'garci', whose prefix would also find "garcinia")
    configs = ["simple", *dict.fromkeys(PG_CONFIGS[code] for code in _languages_in_use(s) if code in PG_CONFIGS)]
    sql = ", ".join(f"to_tsquery('{cfg}', :{'q' if cfg == 'simple' else 'x'})::text, "
                    f"numnode(to_tsquery('{cfg}', :{'q' if cfg == 'simple' else 'x'}))" for cfg in configs)
    row = s.execute(text(f"SELECT {sql}"), {"q": q.tsquery(), "x": q.tsquery(prefix=False)}).one()
    simple, simple_n = row[0], row[1]
    plain = (simple or "").replace(":*", "")  # what the prefix form already covers
    forms: dict[str, None] = {}
    for i in range(0, len(row), 2):
        form, n = (row[i], row[i + 1]) if row[i + 1] == simple_n else (simple, simple_n)
        if form and n and (i == 0 or form != plain):
            forms[form] = None
    return " | ".join(f"( {f} )" for f in forms)


def _matches(table: str, dialect: str, q: SearchQuery, tsq: str | None = None) -> ColumnElement[bool]:
    """``<table>.id`` is one whose indexed text matches every word of ``q`` (``tsq``: the
    PostgreSQL query already resolved by pg_resolve)."""
    if dialect == "postgresql":
        if tsq is not None:
            return text(f"{table}.search_tsv @@ CAST(:tsr_{table} AS tsquery)").bindparams(  # type: ignore[return-value]
                bindparam(f"tsr_{table}", tsq))
        return text(f"{table}.search_tsv @@ {pg_tsquery_sql('tsq_' + table)}").bindparams(  # type: ignore[return-value]
            bindparam(f"tsq_{table}", q.tsquery()))
    return text(f"{table}.id IN (SELECT rowid FROM {table}_fts WHERE {table}_fts MATCH :fts_{table})").bindparams(
        bindparam(f"fts_{table}", q.fts5()))  # type: ignore[return-value]


def _like_search(term: str) -> ColumnElement[bool]:
    """The substring search of the databases without the full-text index (before 0360_search)."""
    term = term.strip()
    likes = [_like(term)]
    if _PHONE.match(term):
        digits = re.sub(r"\D", "", term)
        if len(digits) >= 4:
            likes.append(_like(digits))
    conds = []
    for like in likes:
        idents = select(Identity.id).where(
            or_(Identity.address.ilike(like, escape="\\"), Identity.display_name.ilike(like, escape="\\"))
        )
        contacts = select(Contact.id).where(or_(Contact.name.ilike(like, escape="\\"), Contact.email.ilike(like, escape="\\")))
        contact_idents = select(Identity.id).where(Identity.contact_id.in_(contacts))
        msgs = select(Message.conversation_id).where(Message.text.ilike(like, escape="\\"))
        conds += [
            Conversation.subject.ilike(like, escape="\\"),
            Conversation.id.in_(msgs),
            Conversation.identity_id.in_(idents),
            Conversation.identity_id.in_(contact_idents),
        ]
    return or_(*conds)


def conversation_search(term: str, dialect: Any = None) -> ColumnElement[bool]:
    """SQL condition on Conversation for the free-text search `term`. ``dialect`` is the
    session (or its dialect name): 'sqlite' and 'postgresql' use the full-text index; None
    keeps the unindexed substring search (a database not migrated to 0360_search).

    One semi-join over the union of the candidates (matching messages, subjects, contacts,
    identities), so the planner can either collect a rare word's few conversations and sort
    them, or walk the list order and stop after a page for a common one."""
    if dialect is None:
        return _like_search(term)
    name = _dialect(dialect)
    q = parse(term)
    if not q:
        return literal_column("1") == literal_column("0")  # nothing searchable: no match
    tsq = pg_resolve(dialect, q) if name == "postgresql" and not isinstance(dialect, str) else None
    if tsq == "" and not q.digits:
        return literal_column("1") == literal_column("0")  # only stop words and nothing else
    if tsq and _pg_estimate(dialect, tsq) > WALK_ABOVE:
        return _walk(q, tsq)
    if name == "postgresql" and not isinstance(dialect, str):
        return _collect(dialect, q, tsq or "")
    parts: list[Any] = []
    ident_conds: list[ColumnElement[bool]] = []
    if q.words and tsq != "":
        contacts = select(Contact.id).where(_matches("contacts", name, q, tsq))
        parts += [
            select(Message.conversation_id).where(_matches("messages", name, q, tsq)),
            select(Conversation.id).where(_matches("conversations", name, q, tsq)),
            select(Conversation.id).where(Conversation.contact_id.in_(contacts)),
        ]
        ident_conds.append(_matches("identities", name, q, tsq))
    if q.digits:
        like = _like(q.digits)
        ident_conds += [Identity.address.like(like, escape="\\"), Identity.phone.like(like, escape="\\")]
    parts.append(select(Conversation.id).where(Conversation.identity_id.in_(select(Identity.id).where(or_(*ident_conds)))))
    return Conversation.id.in_(union_all(*parts))


def _ids_in(column: Any, ids: list[int], name: str) -> ColumnElement[bool]:
    return text(f"{column} = ANY(CAST(:{name} AS bigint[]))").bindparams(bindparam(name, ids))  # type: ignore[return-value]


def _collect(s, q: SearchQuery, tsq: str) -> ColumnElement[bool]:
    """PostgreSQL, a rarer query: collect the matching contacts, identities, then
    conversations once (the page and its count would each repeat the index lookups, and
    the planner misjudges how many conversations a few hundred contacts have); a set
    larger than expected goes the walking way after all."""
    cap = MAX_CANDIDATES + 1
    contacts = [int(i) for i in s.scalars(select(Contact.id).where(_matches("contacts", "postgresql", q, tsq)).limit(cap))]
    ident_conds: list[ColumnElement[bool]] = [_matches("identities", "postgresql", q, tsq)]
    if q.digits:
        like = _like(q.digits)
        ident_conds += [Identity.address.like(like, escape="\\"), Identity.phone.like(like, escape="\\")]
    idents = [int(i) for i in s.scalars(select(Identity.id).where(or_(*ident_conds)).limit(cap))]
    if len(contacts) >= cap or len(idents) >= cap:
        return _walk(q, tsq)
    parts: list[Any] = [
        select(Message.conversation_id).where(_matches("messages", "postgresql", q, tsq)),
        select(Conversation.id).where(_matches("conversations", "postgresql", q, tsq)),
    ]
    if contacts:
        parts.append(select(Conversation.id).where(_ids_in("conversations.contact_id", contacts, "cand_contacts")))
    if idents:
        parts.append(select(Conversation.id).where(_ids_in("conversations.identity_id", idents, "cand_idents")))
    found = [int(i) for i in s.scalars(union(*parts).limit(cap))]
    if len(found) >= cap:
        return _walk(q, tsq)
    return _ids_in("conversations.id", found, "cands")


def _pg_estimate(s, tsq: str) -> float:
    """The planner's estimate of the messages matching ``tsq`` (statistics only: no scan)."""
    plan = s.execute(text("EXPLAIN (FORMAT JSON) SELECT 1 FROM messages WHERE search_tsv @@ CAST(:t AS tsquery)"), {"t": tsq}).scalar()
    if isinstance(plan, str):
        import json

        plan = json.loads(plan)
    try:
        return float(plan[0]["Plan"]["Plan Rows"])
    except (KeyError, IndexError, TypeError, ValueError):
        return 0.0


def _walk(q: SearchQuery, tsq: str) -> ColumnElement[bool]:
    """The condition for a common query on PostgreSQL: per conversation, in the list order."""
    # a scalar subquery, not EXISTS: PostgreSQL would turn an EXISTS into one hashed set of
    # every matching message's conversation, which is the cost this plan avoids
    msg = text("(SELECT true FROM messages m WHERE m.conversation_id = conversations.id "
               "AND m.search_tsv @@ CAST(:tsw AS tsquery) LIMIT 1) IS NOT NULL").bindparams(bindparam("tsw", tsq))
    contacts = select(Contact.id).where(_matches("contacts", "postgresql", q, tsq))
    ident_conds: list[ColumnElement[bool]] = [_matches("identities", "postgresql", q, tsq)]
    if q.digits:
        like = _like(q.digits)
        ident_conds += [Identity.address.like(like, escape="\\"), Identity.phone.like(like, escape="\\")]
    return or_(
        msg,
        _matches("conversations", "postgresql", q, tsq),
        Conversation.contact_id.in_(contacts),
        Conversation.identity_id.in_(select(Identity.id).where(or_(*ident_conds))),
    )


# ------------------------------------------------------------------ highlighting
def _mark(fragment: str, start: str, stop: str) -> Markup:
    """Escape the fragment, then turn the (random, unguessable) markers into <mark>."""
    out = str(escape(fragment))
    # a fragment cut between the markers must not leave an open <mark>
    if out.count(start) != out.count(stop):
        out = out.replace(start, "").replace(stop, "")
    return Markup(out.replace(start, "<mark>").replace(stop, "</mark>"))


def _pg_config_sql(column: str) -> str:
    whens = " ".join(f"WHEN '{code}' THEN '{cfg}'::regconfig" for code, cfg in PG_CONFIGS.items())
    return f"(CASE lower(split_part(coalesce({column}, ''), '-', 1)) {whens} ELSE 'simple'::regconfig END)"


def highlights(s, conv_ids: Iterable[int], term: str, words: int = 12) -> dict[int, Markup]:
    """For each conversation, an HTML fragment of its newest matching message (else of its
    subject) with the matching words in <mark>; the text is escaped first."""
    ids = [int(i) for i in conv_ids]
    q = parse(term)
    if not ids or not q.words:
        return {}
    name = _dialect(s)
    token = secrets.token_hex(8)
    start, stop = f"hls{token}", f"hle{token}"
    out: dict[int, Markup] = {}
    if name == "postgresql":
        resolved = pg_resolve(s, q)
        if not resolved:
            return {}
        tsq = "CAST(:tsq AS tsquery)"
        opts = f"StartSel={start}, StopSel={stop}, MaxWords={max(words, 4)}, MinWords={max(words // 2, 3)}, MaxFragments=2"
        rows = s.execute(text(
            f"SELECT DISTINCT ON (conversation_id) conversation_id, "
            f"ts_headline({_pg_config_sql('language')}, coalesce(nullif(text, ''), subject), {tsq}, :opts) "
            f"FROM messages WHERE conversation_id = ANY(:ids) AND search_tsv @@ {tsq} "
            f"ORDER BY conversation_id, id DESC"
        ), {"tsq": resolved, "opts": opts, "ids": ids}).all()
        out.update({cid: _mark(frag, start, stop) for cid, frag in rows})
        rest = [i for i in ids if i not in out]
        if rest:
            rows = s.execute(text(
                f"SELECT id, ts_headline({_pg_config_sql('language')}, subject, {tsq}, :opts) FROM conversations "
                f"WHERE id = ANY(:ids) AND search_tsv @@ {tsq}"
            ), {"tsq": resolved, "opts": opts, "ids": rest}).all()
            out.update({cid: _mark(frag, start, stop) for cid, frag in rows})
        return out
    marks = {"a": start, "b": stop, "q": q.fts5(), "n": max(4, min(words, 64))}
    id_list = ",".join(str(i) for i in ids)  # ints only
    rows = s.execute(text(
        "SELECT m.conversation_id, m.id, snippet(messages_fts, -1, :a, :b, '…', :n) FROM messages_fts "
        f"JOIN messages m ON m.id = messages_fts.rowid WHERE messages_fts MATCH :q AND m.conversation_id IN ({id_list}) "
        "ORDER BY m.id DESC"
    ), marks).all()
    for cid, _mid, frag in rows:
        out.setdefault(cid, _mark(frag, start, stop))
    rest = [i for i in ids if i not in out]
    if rest:
        rows = s.execute(text(
            "SELECT rowid, snippet(conversations_fts, 0, :a, :b, '…', :n) FROM conversations_fts "
            f"WHERE conversations_fts MATCH :q AND rowid IN ({','.join(str(i) for i in rest)})"
        ), marks).all()
        out.update({cid: _mark(frag, start, stop) for cid, frag in rows})
    return out


def purge(s) -> None:
    """After erasing rows: merge SQLite's FTS5 segments so no deleted word stays in the
    index files (FTS5 keeps delete markers until a merge). PostgreSQL needs nothing here
    (VACUUM reclaims dead index entries as for any row)."""
    if _dialect(s) != "sqlite":
        return
    for table in SEARCH_TABLES:
        s.execute(text(f"INSERT INTO {table}_fts({table}_fts) VALUES ('optimize')"))


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Alembic autogenerate filter: the search index objects of 0360_search are not models."""
    if type_ == "table" and name and any(name == t + "_fts" or name.startswith(t + "_fts_") for t in SEARCH_TABLES):
        return False
    if type_ == "column" and name == "search_tsv":
        return False
    if type_ == "index" and name and name.startswith("ix_") and name.endswith("_search"):
        return False
    return True
