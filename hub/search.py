"""One conversation search, shared by the inbox (`/inbox?q=`) and the REST API (`GET /api/v1/conversations?q=`).

A conversation matches when every word of the query occurs somewhere in it: in one of its
messages (text or subject), its subject, or its customer's name, email, address or display
name — each word possibly in a different place ("maria withdrawal": Maria's conversation that
mentions a withdrawal). Words match by prefix ("refu" finds "refund"); a word with punctuation inside ("emil.stone@ex",
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
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy import and_, bindparam, literal_column, or_, select, text, union_all
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
#: PostgreSQL: at most this many conversations are collected for a rare word's messages (or a
#: phone number's identities); past that the word is checked as a common one
MAX_CANDIDATES = 20000
#: PostgreSQL: the conversations whose search documents hold every rare word are read as a set
#: when the planner expects at most sqrt(DOC_COLLECT × conversations) of them (walking the list
#: would read about COUNT_CAP × conversations / matches of them before its count is full);
#: above that the list is walked
DOC_COLLECT = COUNT_CAP + 1

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
#: indexes of migration 0410_search_speed that are not models (expressions, PostgreSQL operator classes)
SPEED_INDEXES = ("ix_conversations_priority", "ix_conversations_status_assignee", "ix_identities_address_trgm", "ix_identities_phone_trgm")


@dataclass(frozen=True)
class SearchQuery:
    """A user's query reduced to words (each a tuple of its letter/digit parts) and, when it
    looks like a phone number, its digits. ``shortened`` says that what was typed went past
    MAX_QUERY_CHARS or MAX_WORDS and only the beginning is searched (the inbox says so)."""

    words: tuple[tuple[str, ...], ...]
    digits: str | None = None
    shortened: bool = False

    def __bool__(self) -> bool:
        return bool(self.words or self.digits)

    @staticmethod
    def _fts5_word(parts: tuple[str, ...]) -> str:
        return '"' + " ".join(parts) + '"*'

    @staticmethod
    def _ts_word(parts: tuple[str, ...], prefix: bool = True) -> str:
        star = ":*" if prefix else ""
        return "(" + " <-> ".join([*parts[:-1], parts[-1] + star]) + ")"

    def fts5(self, any_word: bool = False) -> str:
        """FTS5 MATCH text: each word a quoted phrase whose last part is a prefix; words ANDed
        (ORed with ``any_word``)."""
        return (" OR " if any_word else " ").join(self._fts5_word(parts) for parts in self.words)

    def fts5_word(self, i: int) -> str:
        return self._fts5_word(self.words[i])

    def tsquery(self, prefix: bool = True) -> str:
        """to_tsquery text: each word parts joined by <-> (phrase), the last a prefix; words ANDed."""
        return " & ".join(self._ts_word(parts, prefix) for parts in self.words)

    def word_tsquery(self, i: int, prefix: bool = True) -> str:
        return self._ts_word(self.words[i], prefix)


def parse(term: str) -> SearchQuery:
    """The query as words of letters and digits (lower-cased); nothing else survives. At most
    MAX_QUERY_CHARS characters and MAX_WORDS words are searched (``shortened`` when cut)."""
    full = (term or "").strip()
    term = full[:MAX_QUERY_CHARS]
    shortened = len(full) > MAX_QUERY_CHARS
    words: list[tuple[str, ...]] = []
    for raw in term.split():
        parts = tuple(p.lower() for p in _PART.findall(raw))
        if len(parts) > MAX_PARTS:
            parts, shortened = parts[:MAX_PARTS], True
        if not parts or parts in words:
            continue
        if len(words) == MAX_WORDS:
            shortened = True
            break
        words.append(parts)
    digits = None
    if _PHONE.match(term):
        d = re.sub(r"\D", "", term)
        if len(d) >= 4:
            digits = d
    return SearchQuery(tuple(words), digits, shortened)


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


def _pg_forms(row: Any, first: int, count: int) -> str:
    """One query's (or word's) distinct forms from ``count`` (text, numnode) pairs of ``row``
    starting at ``first``, the plain form first (the rule of pg_tsquery_sql)."""
    simple, simple_n = row[first], row[first + 1]
    plain = (simple or "").replace(":*", "")  # what the prefix form already covers
    forms: dict[str, None] = {}
    for i in range(first, first + 2 * count, 2):
        form, n = (row[i], row[i + 1]) if row[i + 1] == simple_n else (simple, simple_n)
        if form and n and (i == first or form != plain):
            forms[form] = None
    return " | ".join(f"( {f} )" for f in forms)


def _pg_configs(s) -> list[str]:
    # prefixes in the plain form only: every language-indexed text holds its plain words too,
    # so "refu" finds "refund" there, and a language form adds its stems without widening
    # them ("garcia" in Spanish is 'garci', whose prefix would also find "garcinia")
    return ["simple", *dict.fromkeys(PG_CONFIGS[code] for code in _languages_in_use(s) if code in PG_CONFIGS)]


def pg_resolve(s, q: SearchQuery) -> str:
    """The query's tsquery on PostgreSQL, as text: its distinct forms over the configurations
    (the rule of pg_tsquery_sql), worked out in one round trip, so the index condition is one
    small constant instead of nineteen alternatives evaluated on every candidate row."""
    if not q.words:
        return ""
    configs = _pg_configs(s)
    sql = ", ".join(f"to_tsquery('{cfg}', :{'q' if cfg == 'simple' else 'x'})::text, "
                    f"numnode(to_tsquery('{cfg}', :{'q' if cfg == 'simple' else 'x'}))" for cfg in configs)
    row = s.execute(text(f"SELECT {sql}"), {"q": q.tsquery(), "x": q.tsquery(prefix=False)}).one()
    return _pg_forms(row, 0, len(configs))


def pg_resolve_words(s, q: SearchQuery) -> list[str]:
    """Each word's tsquery on PostgreSQL (the forms of pg_resolve, word by word), in one round
    trip, remembered for the rest of the session (the page's highlights need them again)."""
    if not q.words:
        return []
    configs = _pg_configs(s)
    known = s.info.setdefault("search_forms", {}) if hasattr(s, "info") else {}
    key = (tuple(configs), q.words)
    if key in known:
        return list(known[key])
    cols, params = [], {}
    for i in range(len(q.words)):
        params[f"q{i}"], params[f"x{i}"] = q.word_tsquery(i), q.word_tsquery(i, prefix=False)
        for cfg in configs:
            arg = f"q{i}" if cfg == "simple" else f"x{i}"
            cols.append(f"to_tsquery('{cfg}', :{arg})::text, numnode(to_tsquery('{cfg}', :{arg}))")
    row = s.execute(text("SELECT " + ", ".join(cols)), params).one()
    forms = [_pg_forms(row, 2 * len(configs) * i, len(configs)) for i in range(len(q.words))]
    known[key] = tuple(forms)
    return forms


def _matches(table: str, dialect: str, q: SearchQuery, tsq: str | None = None, word: int | None = None) -> ColumnElement[bool]:
    """``<table>.id`` is one whose indexed text matches every word of ``q`` (or its word
    number ``word``; ``tsq``: the PostgreSQL query already resolved)."""
    tag = f"{table}_{word}" if word is not None else table
    if dialect == "postgresql":
        if tsq is not None:
            return text(f"{table}.search_tsv @@ CAST(:tsr_{tag} AS tsquery)").bindparams(  # type: ignore[return-value]
                bindparam(f"tsr_{tag}", tsq))
        return text(f"{table}.search_tsv @@ {pg_tsquery_sql('tsq_' + tag)}").bindparams(  # type: ignore[return-value]
            bindparam(f"tsq_{tag}", q.tsquery() if word is None else q.word_tsquery(word)))
    return text(f"{table}.id IN (SELECT rowid FROM {table}_fts WHERE {table}_fts MATCH :fts_{tag})").bindparams(
        bindparam(f"fts_{tag}", q.fts5() if word is None else q.fts5_word(word)))  # type: ignore[return-value]


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


def _no_match() -> ColumnElement[bool]:
    return literal_column("1") == literal_column("0")


def conversation_search(term: str, dialect: Any = None) -> ColumnElement[bool]:
    """SQL condition on Conversation for the free-text search `term`. ``dialect`` is the
    session (or its dialect name): 'sqlite' and 'postgresql' use the full-text index; None
    keeps the unindexed substring search (a database not migrated to 0360_search).

    A conversation matches when **every word** matches somewhere in it: in one of its
    messages (text or subject), its subject, its contact (name, email) or its identity
    (address, display name) — different words may match in different places ("maria
    withdrawal": Maria's conversation that mentions a withdrawal). A query that looks like a
    phone number also matches on its digits anywhere in an identity's address or phone."""
    if dialect is None:
        return _like_search(term)
    name = _dialect(dialect)
    q = parse(term)
    if not q:
        return _no_match()  # nothing searchable: no match
    if name == "postgresql" and not isinstance(dialect, str):
        return _pg_search(dialect, q)
    conds: list[ColumnElement[bool]] = []
    for i in range(len(q.words)):
        contacts = select(Contact.id).where(_matches("contacts", name, q, word=i))
        idents = select(Identity.id).where(_matches("identities", name, q, word=i))
        conds.append(Conversation.id.in_(union_all(
            select(Message.conversation_id).where(_matches("messages", name, q, word=i)),
            select(Conversation.id).where(_matches("conversations", name, q, word=i)),
            select(Conversation.id).where(Conversation.contact_id.in_(contacts)),
            select(Conversation.id).where(Conversation.identity_id.in_(idents)),
        )))
    every = and_(*conds) if conds else _no_match()
    if not q.digits:
        return every
    like = _like(q.digits)
    phone = Conversation.identity_id.in_(select(Identity.id).where(
        or_(Identity.address.like(like, escape="\\"), Identity.phone.like(like, escape="\\"))))
    return or_(every, phone)


def _ids_in(column: Any, ids: list[int], name: str) -> ColumnElement[bool]:
    return text(f"{column} = ANY(CAST(:{name} AS bigint[]))").bindparams(bindparam(name, ids))  # type: ignore[return-value]


def _pg_estimates(s, forms: list[str]) -> tuple[list[float], list[float], float]:
    """The planner's estimates (statistics only: no scan), in one round trip: the messages
    matching each of ``forms``, the conversations whose search document matches each, and
    the conversations in all. One EXPLAIN of their UNION ALL, one estimate per branch."""
    n = len(forms)
    branches = [f"SELECT 1 FROM messages WHERE search_tsv @@ CAST(:t{i} AS tsquery)" for i in range(n)]
    branches += [f"SELECT 1 FROM conversations WHERE search_doc @@ CAST(:t{i} AS tsquery)" for i in range(n)]
    branches.append("SELECT 1 FROM conversations")
    plan = s.execute(text("EXPLAIN (FORMAT JSON) " + " UNION ALL ".join(branches)), {f"t{i}": f for i, f in enumerate(forms)}).scalar()
    if isinstance(plan, str):
        import json

        plan = json.loads(plan)
    try:
        nodes = plan[0]["Plan"]["Plans"]
        if len(nodes) == 2 * n + 1:
            rows = [float(node["Plan Rows"]) for node in nodes]
            return rows[:n], rows[n:2 * n], rows[-1]
    except (KeyError, IndexError, TypeError, ValueError):
        pass
    return [0.0] * n, [0.0] * n, 0.0  # no estimates: collect (correct whatever the sizes)


def _pg_search(s, q: SearchQuery) -> ColumnElement[bool]:
    """PostgreSQL: the condition for ``q``, built from what each word costs.

    A word matches a conversation in its search document (``conversations.search_doc``,
    migration 0420_search_doc: its subject, contact and identity in one tsvector) or in one
    of its messages.

    1. Each word's forms (one round trip), then the planner's estimates (one EXPLAIN,
       statistics only) of the messages and of the documents it is in.
    2. For the *rare* words (up to WALK_ABOVE messages expected), the conversations of their
       messages, and the digits' identities (trigram index, migration 0410_search_speed):
       one round trip.
    3. When the documents holding every rare word are few (at most sqrt(DOC_COLLECT ×
       conversations) expected), the page and its count are read from them: one GIN lookup
       of the rare words together (a full name is the few conversations of that person,
       never the two thousand of each name), plus the conversations of their messages that
       hold each rare word in the document or a message, as a set of row addresses taken in
       the same statement (no second index lookup per row); the common words are checked on
       those only. Otherwise the list is walked in its order and each conversation is
       checked per word: its document, then its messages through their ``conversation_id``
       index (a word in a third of the conversations fills a page within a few hundred of
       them, instead of reading its 40,000 messages from the GIN index).
    """
    cap = MAX_CANDIDATES + 1
    forms = pg_resolve_words(s, q)
    n = len(forms)
    if not n or not all(forms):
        return _no_match()
    in_msgs, in_docs, n_conv = _pg_estimates(s, forms)
    rare = [i for i in range(n) if in_msgs[i] <= WALK_ABOVE]
    cols: list[str] = []
    params: dict[str, Any] = {"cap": cap}
    for i in rare:
        params[f"t{i}"] = forms[i]
        cols.append(f"ARRAY(SELECT DISTINCT conversation_id FROM messages WHERE search_tsv @@ CAST(:t{i} AS tsquery) LIMIT :cap)")
    if q.digits:  # digits only: no LIKE wildcard can be in them
        params["digits"] = f"%{q.digits}%"
        cols.append("ARRAY(SELECT id FROM identities WHERE address LIKE :digits OR phone LIKE :digits LIMIT :cap)")
    row = list(s.execute(text("SELECT " + ", ".join(cols)), params).one()) if cols else []
    in_messages = {i: [int(c) for c in row[k]] for k, i in enumerate(rare)}
    phone_idents = [int(i) for i in row[-1]] if q.digits else []
    for i in rare:  # more than the estimate said: checked as a common word
        if len(in_messages[i]) >= cap:
            del in_messages[i]

    def doc(i: int, tag: str) -> ColumnElement[bool]:
        return text(f"conversations.search_doc @@ CAST(:{tag} AS tsquery)").bindparams(  # type: ignore[return-value]
            bindparam(tag, forms[i]))

    def word(i: int) -> ColumnElement[bool]:
        tag = f"w{i}"
        if i in in_messages:
            found = in_messages[i]
            return or_(doc(i, f"{tag}_doc"), _ids_in("conversations.id", found, f"{tag}_msgs")) if found else doc(i, f"{tag}_doc")
        # a scalar subquery, not EXISTS: PostgreSQL would turn an EXISTS into one hashed set
        # of every matching message's conversation, which is the cost this plan avoids
        probe = text(f"(SELECT true FROM messages m WHERE m.conversation_id = conversations.id "
                     f"AND m.search_tsv @@ CAST(:{tag}_probe AS tsquery) LIMIT 1) IS NOT NULL").bindparams(
                         bindparam(f"{tag}_probe", forms[i]))
        return or_(doc(i, f"{tag}_doc"), probe)

    phone: ColumnElement[bool] | None = None
    if q.digits and phone_idents:
        phone = (_ids_in("conversations.identity_id", phone_idents, "phone_idents") if len(phone_idents) < cap else
                 text("conversations.identity_id IN (SELECT id FROM identities WHERE address LIKE :phone_like OR phone LIKE :phone_like)")
                 .bindparams(bindparam("phone_like", f"%{q.digits}%")))  # type: ignore[assignment]

    def condition(covered: tuple[int, ...] = ()) -> ColumnElement[bool]:
        rest = [word(i) for i in range(n) if i not in covered]
        cond = and_(*rest) if rest else literal_column("1") == literal_column("1")
        return or_(cond, phone) if phone is not None else cond

    expected = n_conv  # the documents holding every rare word (the words taken as independent)
    for i in rare:
        expected *= min(1.0, in_docs[i] / n_conv) if n_conv else 0.0
    elsewhere = sorted(set().union(*in_messages.values())) if in_messages else []
    if (rare and len(in_messages) == len(rare) and len(phone_idents) < cap
            and (expected + len(elsewhere)) ** 2 <= DOC_COLLECT * max(n_conv, 1.0)):
        # the conversations matching every rare word, as row addresses (ctid) in this same
        # statement (one snapshot): the outer query reads them straight from the heap
        params = {"cands_doc": " & ".join(f"( {forms[i]} )" for i in rare)}
        ways = ["search_doc @@ CAST(:cands_doc AS tsquery)"]
        if elsewhere:  # a rare word in a message: each rare word in the document or a message
            checks = " AND ".join(f"(search_doc @@ CAST(:cands_d{i} AS tsquery) OR id = ANY(CAST(:cands_m{i} AS bigint[])))"
                                  for i in rare if len(rare) > 1)
            ways.append("(id = ANY(CAST(:cands_ids AS bigint[]))" + (f" AND {checks})" if checks else ")"))
            params["cands_ids"] = elsewhere
            if len(rare) > 1:
                params.update({f"cands_d{i}": forms[i] for i in rare})
                params.update({f"cands_m{i}": in_messages[i] for i in rare})
        covered = tuple(rare)
        if phone_idents:  # a phone number's conversations need not hold the words: all checked
            ways.append("identity_id = ANY(CAST(:cands_phone AS bigint[]))")
            params["cands_phone"] = phone_idents
            covered = ()
        cands = text(f"conversations.ctid = ANY(ARRAY(SELECT ctid FROM conversations WHERE {' OR '.join(ways)}))").bindparams(
            *[bindparam(k, v) for k, v in params.items()])
        return and_(cands, condition(covered))
    return condition()


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


def _fold(word: str) -> str:
    """Lower-cased without diacritics (as FTS5's unicode61 folds them: "zoë" is "zoe")."""
    if word.isascii():  # nothing to fold (most names and addresses): no Unicode decomposition
        return word.lower()
    return "".join(ch for ch in unicodedata.normalize("NFKD", word.lower()) if not unicodedata.combining(ch))


def _marked(value: str, spans: list[tuple[int, int]]) -> Markup:
    """``value`` escaped, with the character ranges ``spans`` in <mark>."""
    merged: list[list[int]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    out, at = [], 0
    for a, b in merged:
        out += [str(escape(value[at:a])), "<mark>", str(escape(value[a:b])), "</mark>"]
        at = b
    out.append(str(escape(value[at:])))
    return Markup("".join(out))


def mark_words(value: str | None, q: SearchQuery, digits: bool = False) -> tuple[int, Markup] | None:
    """The words of ``q`` found in a short field (a name, an email, an address): how many of
    them, and the field escaped with each found in <mark>. A word matches as the search does:
    its parts as consecutive words, the last by prefix ("emil.stone@ex" in
    "emil.stone@example.org"). With ``digits``, the query's digits also match anywhere in the
    field's digits ("0100199" in "+1 555-010-0199"). None when nothing matches."""
    if not value:
        return None
    tokens = [(m.start(), m.end(), _fold(m.group())) for m in _PART.finditer(value)]
    spans: list[tuple[int, int]] = []
    found = 0
    for parts in q.words:
        k, hit = len(parts), False
        for j in range(len(tokens) - k + 1):
            if all(tokens[j + x][2] == parts[x] for x in range(k - 1)) and tokens[j + k - 1][2].startswith(parts[-1]):
                spans.append((tokens[j][0], tokens[j + k - 1][1]))
                hit = True
        found += hit
    if digits and q.digits:
        where = [i for i, ch in enumerate(value) if ch.isdigit()]
        at = "".join(value[i] for i in where).find(q.digits)
        if at >= 0:
            spans.append((where[at], where[at + len(q.digits) - 1] + 1))
            found = max(found, len(q.words) or 1)
    return (found, _marked(value, spans)) if spans else None


#: the contact fields a search looks in, in the order a tie is shown
CONTACT_FIELDS = ("name", "email", "display_name", "address", "phone")


def contact_highlights(s, conv_ids: Iterable[int], term: str) -> dict[int, dict[str, Any]]:
    """For each conversation whose contact or identity matches words of ``term``: the field
    that matches most of them (``name``, ``email``, ``display_name``, ``address`` or
    ``phone``) as ``{"field": ..., "html": <escaped, matches in <mark>>}``. Worked out in
    Python over the page's rows only (one query)."""
    ids = [int(i) for i in conv_ids]
    q = parse(term)
    if not ids or not q:
        return {}
    rows = s.execute(
        select(Conversation.id, Contact.name, Contact.email, Identity.display_name, Identity.address, Identity.phone)
        .select_from(Conversation)
        .outerjoin(Contact, Contact.id == Conversation.contact_id)
        .outerjoin(Identity, Identity.id == Conversation.identity_id)
        .where(Conversation.id.in_(ids))
    ).all()
    out: dict[int, dict[str, Any]] = {}
    for cid, *values in rows:
        best: tuple[int, str, Markup] | None = None
        for field, value in zip(CONTACT_FIELDS, values, strict=True):
            hit = mark_words(value, q, digits=field in ("address", "phone"))
            if hit and (best is None or hit[0] > best[0]):
                best = (hit[0], field, hit[1])
        if best:
            out[cid] = {"field": best[1], "html": best[2]}
    return out


def highlights(s, conv_ids: Iterable[int], term: str, words: int = 12,
               contacts: dict[int, dict[str, Any]] | None = None) -> dict[int, Markup]:
    """For each conversation, an HTML fragment of its newest message matching any word of the
    query (else of its subject) with the matching words in <mark>; the text is escaped first.
    A conversation found by its contact alone gets its contact's matching field instead
    (``contacts``: contact_highlights of the same page, worked out here when not given).
    The headline is computed for one message per conversation of the page, never for every
    matching message."""
    ids = [int(i) for i in conv_ids]
    q = parse(term)
    if not ids or not q:
        return {}
    name = _dialect(s)
    token = secrets.token_hex(8)
    start, stop = f"hls{token}", f"hle{token}"
    out: dict[int, Markup] = {}
    if name == "postgresql" and q.words:
        forms = [f for f in pg_resolve_words(s, q) if f]
        resolved = " | ".join(f"( {f} )" for f in forms)
        if resolved:
            tsq = "CAST(:tsq AS tsquery)"
            opts = f"StartSel={start}, StopSel={stop}, MaxWords={max(words, 4)}, MinWords={max(words // 2, 3)}, MaxFragments=2"
            # one round trip: the newest matching message's fragment, else the subject's
            rows = s.execute(text(
                f"SELECT 0, conversation_id, ts_headline({_pg_config_sql('language')}, coalesce(nullif(text, ''), subject), {tsq}, :opts) "
                f"FROM messages WHERE id IN (SELECT max(id) FROM messages WHERE conversation_id = ANY(:ids) "
                f"AND search_tsv @@ {tsq} GROUP BY conversation_id) "
                f"UNION ALL SELECT 1, id, ts_headline({_pg_config_sql('language')}, subject, {tsq}, :opts) FROM conversations "
                f"WHERE id = ANY(:ids) AND search_tsv @@ {tsq}"
            ), {"tsq": resolved, "opts": opts, "ids": ids}).all()
            for _subject, cid, frag in sorted(rows, key=lambda r: -r[0]):  # a message's fragment wins
                out[cid] = _mark(frag, start, stop)
    elif q.words:
        marks = {"a": start, "b": stop, "q": q.fts5(any_word=True), "n": max(4, min(words, 64))}
        id_list = ",".join(str(i) for i in ids)  # ints only
        rows = s.execute(text(
            "SELECT m.conversation_id, snippet(messages_fts, -1, :a, :b, '…', :n) FROM messages_fts "
            "JOIN messages m ON m.id = messages_fts.rowid WHERE messages_fts MATCH :q AND messages_fts.rowid IN "
            f"(SELECT max(m2.id) FROM messages m2 WHERE m2.conversation_id IN ({id_list}) AND m2.id IN "
            "(SELECT rowid FROM messages_fts WHERE messages_fts MATCH :q) GROUP BY m2.conversation_id)"
        ), marks).all()
        out.update({cid: _mark(frag, start, stop) for cid, frag in rows})
        rest = [i for i in ids if i not in out]
        if rest:
            rows = s.execute(text(
                "SELECT rowid, snippet(conversations_fts, 0, :a, :b, '…', :n) FROM conversations_fts "
                f"WHERE conversations_fts MATCH :q AND rowid IN ({','.join(str(i) for i in rest)})"
            ), marks).all()
            out.update({cid: _mark(frag, start, stop) for cid, frag in rows})
    rest = [i for i in ids if i not in out]
    if rest:
        found = contacts if contacts is not None else contact_highlights(s, rest, term)
        out.update({cid: found[cid]["html"] for cid in rest if cid in found})
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
    """Alembic autogenerate filter: the search index objects of 0360_search (and the
    search document of 0420_search_doc) are not models."""
    if type_ == "table" and name and any(name == t + "_fts" or name.startswith(t + "_fts_") for t in SEARCH_TABLES):
        return False
    if type_ == "column" and name in ("search_tsv", "search_doc"):
        return False
    if type_ == "index" and name and ((name.startswith("ix_") and name.endswith("_search")) or name in SPEED_INDEXES):
        return False
    return True
