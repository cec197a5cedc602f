"""CSV export of conversations with their metrics (``GET /api/v1/exports/conversations.csv``).

The rows are streamed: a generator reads the conversations a page at a time (keyset
pagination on ``(created_at, id)``, ``PAGE`` rows per query, each page in its own short read
session so no object outlives its page), loads what the page needs in one query per kind
(the message counts), writes the page's CSV text and yields it. Memory stays at about one
page whatever the number of rows.

The metrics are those of the dashboard and ``GET /api/v1/stats`` (``hub.stats``): first
response and resolution in seconds from the conversation's start, the CSAT score of the
survey, and the SLA state of ``hub.sla.states`` as of the end of the range (never later than
now), the moment the dashboard uses.

Every text cell is neutralised against CSV (formula) injection as OWASP recommends: a cell
starting with ``= + - @``, a tab or a carriage return gets a leading single quote, and every
text cell is quoted (so a ``;`` or ``,`` inside it never starts a new cell).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import load_only

from hub import sla, stats
from hub.db import Database
from hub.models import Connector, Contact, Conversation, Identity, Message, User

PAGE = 500
MAX_DAYS = 366  # the longest range one export covers (from and to included)

COLUMNS = (
    "id", "created_at", "connector", "medium", "customer_name", "subject", "status", "priority", "category",
    "language", "assignee", "first_response_at", "first_response_seconds", "resolved_at", "resolution_seconds",
    "sla_state", "csat_score", "messages_count",
)

#: OWASP "CSV Injection": cells starting with these are read as formulas by spreadsheets
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """A cell that no spreadsheet evaluates: numbers as they are, None as empty, text with a
    leading quote when it starts like a formula."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return value
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


@dataclass(frozen=True)
class Filters:
    """Conversations created on the days ``start`` to ``end`` (UTC, both included), narrowed by
    the same filters as ``GET /api/v1/conversations``."""

    start: date
    end: date
    connector: str | None = None
    medium: str | None = None
    statuses: tuple[str, ...] = ()
    priorities: tuple[str, ...] = ()
    category: str | None = None
    language: str | None = None
    security: bool | None = None
    team: str | None = None
    #: the team filter's condition (hub.assignment.team_filter), built by the caller
    team_condition: Any = None

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, time(), UTC)

    @property
    def until(self) -> datetime:
        return datetime.combine(self.end + timedelta(days=1), time(), UTC)

    @property
    def filename(self) -> str:
        return f"conversations_{self.start.isoformat()}_{self.end.isoformat()}.csv"

    def described(self) -> dict[str, Any]:
        """The filters as recorded in the audit log."""
        out: dict[str, Any] = {"from": self.start.isoformat(), "to": self.end.isoformat()}
        for key in ("connector", "medium", "category", "language", "team"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        if self.statuses:
            out["status"] = list(self.statuses)
        if self.priorities:
            out["priority"] = list(self.priorities)
        if self.security is not None:
            out["security"] = self.security
        return out


def _query(f: Filters, after: tuple[datetime, int] | None):
    q = (
        select(Conversation, Identity.medium, Identity.display_name, Contact.name, Connector.name, User.email)
        .options(load_only(Conversation.id, Conversation.created_at, Conversation.subject, Conversation.status,
                           Conversation.priority, Conversation.category, Conversation.language, Conversation.sla,
                           Conversation.extra, Conversation.first_response_at, Conversation.resolved_at))
        .join(Identity, Identity.id == Conversation.identity_id)
        .join(Contact, Contact.id == Conversation.contact_id)
        .join(Connector, Connector.id == Conversation.connector_id)
        .outerjoin(User, User.id == Conversation.assignee_id)
        .where(Conversation.created_at >= f.since, Conversation.created_at < f.until)
    )
    if f.connector:
        q = q.where(Connector.name == f.connector)
    if f.medium:
        q = q.where(Identity.medium == f.medium)
    if f.statuses:
        q = q.where(Conversation.status.in_(f.statuses))
    if f.priorities:
        q = q.where(Conversation.priority.in_(f.priorities))
    if f.category:
        q = q.where(Conversation.category == f.category)
    if f.language:
        q = q.where(Conversation.language == f.language)
    if f.security is not None:
        q = q.where(Conversation.security_flag.is_(f.security))
    if f.team_condition is not None:
        q = q.where(f.team_condition)
    if after is not None:
        at, last_id = after
        q = q.where(or_(Conversation.created_at > at, and_(Conversation.created_at == at, Conversation.id > last_id)))
    return q.order_by(Conversation.created_at, Conversation.id).limit(PAGE)


def _seconds(value: float | None) -> int | None:
    return None if value is None else round(value)


def _page(db: Database, f: Filters, at: datetime, after: tuple[datetime, int] | None
          ) -> tuple[list[list[Any]], tuple[datetime, int] | None]:
    """One page of rows after the cursor, and the next cursor (None after the last page). Its
    session and ORM objects end when it returns: only the plain cell values leave."""
    with db.read() as s:
        page = cast("list[tuple[Conversation, str, str, str, str, str | None]]", s.execute(_query(f, after)).all())
        if not page:
            return [], None
        ids = [row[0].id for row in page]
        counts: dict[int, int] = dict(s.execute(
            select(Message.conversation_id, func.count()).where(Message.conversation_id.in_(ids))
            .group_by(Message.conversation_id)).all())
        out = []
        for conv, medium, display_name, contact_name, connector, assignee in page:
            resolution = stats.resolution_seconds(conv)
            out.append([
                conv.id, conv.created_at, connector, medium, contact_name or display_name, conv.subject,
                conv.status, conv.priority, conv.category, conv.language, assignee,
                conv.first_response_at, _seconds(stats.first_response_seconds(conv)),
                conv.resolved_at if resolution is not None else None, _seconds(resolution),
                sla.states(conv, at)["overall"], stats.csat_score(conv), counts.get(conv.id, 0),
            ])
        last = page[-1][0]
        return out, ((last.created_at, last.id) if len(page) == PAGE else None)


def pages(db: Database, f: Filters, at: datetime) -> Iterator[list[list[Any]]]:
    """The export's rows, one list per page of at most ``PAGE`` conversations."""
    after: tuple[datetime, int] | None = None
    while True:
        rows, after = _page(db, f, at, after)
        if rows:
            yield rows
        if after is None:
            return


def csv_chunks(db: Database, f: Filters, at: datetime) -> Iterator[str]:
    """The CSV text: the header row, then one chunk per page."""
    buf = io.StringIO()
    writer = csv.writer(buf, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\r\n")

    def take() -> str:
        text = buf.getvalue()
        buf.seek(0)
        buf.truncate()
        return text

    writer.writerow(COLUMNS)
    yield take()
    for rows in pages(db, f, at):
        writer.writerows([safe_cell(v) for v in row] for row in rows)
        yield take()
