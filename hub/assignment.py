"""Assignment (docs/teams.md): agents' availability, team queues, automatic round-robin.

A team assigns manually (agents pick from its queue) or automatically: each waiting
conversation, oldest first, goes to the next agent in round-robin order who is available
(status ``online``, seen within OMNIHUB_AGENT_IDLE_SECONDS) and under their capacity (most
open conversations of the team at once). Automatic assignment runs

* after an ingest batch committed (the teams it routed to),
* after a conversation was resolved, closed, reassigned or unassigned, and when an agent
  comes online (capacity freed: the oldest waiting conversation goes first),
* in the poller's ``assignment`` timer (under its lease, one poller at a time): agents idle
  too long are set offline, conversations of agents offline for longer than
  OMNIHUB_REASSIGN_OFFLINE_SECONDS return to their team's queue, and queues are assigned.

Several web and worker processes may assign at once. One team's assignments are serialized
by a row lock on the team (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite write transactions
are serialized by ``BEGIN IMMEDIATE``), so capacity counts read under it are current; and each
conversation is taken with a conditional UPDATE (``WHERE assignee_id IS NULL``), so an agent's
manual pick and an automatic assignment never both win.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from hub import events
from hub.models import AgentStatus, Conversation, ConversationEvent, Team, TeamMember, User, now
from hub.states import ConversationStatus

log = structlog.get_logger("omnihub.assignment")

STATUSES = ("online", "away", "offline")
#: conversations that count against an agent's capacity (not resolved or closed)
ACTIVE = (ConversationStatus.OPEN, ConversationStatus.PENDING, ConversationStatus.SNOOZED)
#: conversations waiting in a queue for an agent
WAITING = (ConversationStatus.OPEN, ConversationStatus.PENDING)
#: seconds between two runs of the poller's assignment timer
SWEEP_INTERVAL = 5.0
BATCH = 200


def record(s: Session, conv_id: int, kind: str, actor: str = "system", at: datetime | None = None, **details: Any) -> None:
    """A timeline entry of the conversation (routed, assigned, unassigned, returned, team)."""
    s.add(ConversationEvent(conversation_id=conv_id, at=at or now(), kind=kind, actor=(actor or "system")[:320], details=details))


# ------------------------------------------------------------------------------ presence
def status_of(s: Session, user_id: int, idle_seconds: float, at: datetime | None = None) -> str:
    """The agent's effective status: what they set, offline once idle too long."""
    row = s.get(AgentStatus, user_id)
    if row is None:
        return "offline"
    if row.status == "online" and row.seen_at < (at or now()) - timedelta(seconds=idle_seconds):
        return "offline"
    return row.status


def set_status(s: Session, user_id: int, status: str, at: datetime | None = None) -> AgentStatus:
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}")
    at = at or now()
    row = s.get(AgentStatus, user_id)
    if row is None:
        row = AgentStatus(user_id=user_id, status=status, changed_at=at, seen_at=at)
        s.add(row)
    else:
        if row.status != status:
            row.status, row.changed_at = status, at
        row.seen_at = at
    s.flush()
    return row


def touch(s: Session, user_id: int, at: datetime | None = None) -> None:
    """A sign of life from the agent's inbox (keeps an online agent online)."""
    s.execute(update(AgentStatus).where(AgentStatus.user_id == user_id).values(seen_at=at or now()))


def team_ids_of(s: Session, user_id: int) -> list[int]:
    return list(s.scalars(select(TeamMember.team_id).where(TeamMember.user_id == user_id)))


# ---------------------------------------------------------------------------- assigning
def _updated(s: Session, conv_id: int, old: int | None, new: int | None) -> None:
    """A ``conversation.updated`` event webhook for an assignment made with a conditional
    UPDATE (which the ORM's change tracking in hub.events does not see)."""
    conv = s.get(Conversation, conv_id)
    if conv is not None:
        events.emit(s, "conversation.updated", conv, changes={"assignee_id": (old, new)})


def _lock_team(s: Session, team_id: int, sqlite: bool) -> Team | None:
    return s.get(Team, team_id, with_for_update=not sqlite)


def assign_waiting(rt, team_id: int, *, at: datetime | None = None, limit: int = BATCH) -> list[tuple[int, int]]:
    """Assign the team's waiting conversations, oldest first, round-robin among its available
    members under capacity. Returns (conversation id, user id) of each assignment made."""
    at = at or now()
    idle = timedelta(seconds=rt.settings.agent_idle_seconds)
    made: list[tuple[int, int]] = []
    with rt.db.session() as s:
        team = _lock_team(s, team_id, rt.db.is_sqlite)
        if team is None or team.assignment != "auto":
            return []
        members = s.execute(
            select(TeamMember, User.email)
            .join(User, User.id == TeamMember.user_id)
            .join(AgentStatus, AgentStatus.user_id == TeamMember.user_id)
            .where(TeamMember.team_id == team.id, User.active.is_(True), AgentStatus.status == "online",
                   AgentStatus.seen_at >= at - idle, TeamMember.capacity > 0)
        ).all()
        if not members:
            return []
        loads = dict(s.execute(
            select(Conversation.assignee_id, func.count())
            .where(Conversation.team_id == team.id, Conversation.status.in_(ACTIVE),
                   Conversation.assignee_id.in_([m.user_id for m, _e in members]))
            .group_by(Conversation.assignee_id)
        ).all())
        room = sum(max(0, m.capacity - loads.get(m.user_id, 0)) for m, _e in members)
        if room <= 0:
            return []
        waiting = s.execute(
            select(Conversation.id).where(Conversation.team_id == team.id, Conversation.assignee_id.is_(None),
                                          Conversation.status.in_(WAITING))
            .order_by(func.coalesce(Conversation.queued_at, Conversation.created_at), Conversation.id)
            .limit(min(limit, room))
        ).scalars().all()
        emails = {m.user_id: e for m, e in members}
        for conv_id in waiting:
            free = sorted((m for m, _e in members if loads.get(m.user_id, 0) < m.capacity), key=lambda m: (m.last_seq, m.user_id))
            if not free:
                break
            member = free[0]
            taken = s.execute(
                update(Conversation)
                .where(Conversation.id == conv_id, Conversation.assignee_id.is_(None), Conversation.team_id == team.id)
                .values(assignee_id=member.user_id, updated_at=at)  # queued_at kept: an unassignment restores the wait
                .execution_options(synchronize_session=False)
            ).rowcount
            if not taken:
                continue  # an agent took it meanwhile
            team.rr_seq = (team.rr_seq or 0) + 1
            member.last_seq = team.rr_seq
            loads[member.user_id] = loads.get(member.user_id, 0) + 1
            record(s, conv_id, "assigned", "system", at, assignee=emails[member.user_id], team=team.name, how="round robin")
            _updated(s, conv_id, None, member.user_id)
            made.append((conv_id, member.user_id))
    for conv_id, user_id in made:
        log.info("assignment.assigned", conversation_id=conv_id, user_id=user_id, team_id=team_id)
    return made


def assign_teams(rt, team_ids: Iterable[int | None], *, at: datetime | None = None) -> list[tuple[int, int]]:
    """``assign_waiting`` for each of these teams (None ignored); failures are logged (the
    poller's timer tries again)."""
    made: list[tuple[int, int]] = []
    for team_id in sorted({t for t in team_ids if t is not None}):
        try:
            made += assign_waiting(rt, team_id, at=at)
        except Exception:
            log.exception("assignment.failed", team_id=team_id)
    return made


class Conflict(Exception):
    """The conversation's assignee is no longer the one the client saw (someone else took it
    first): nothing was changed. ``holder`` is the current assignee's email (None: nobody)."""

    def __init__(self, conv_id: int, holder: str | None) -> None:
        self.conv_id, self.holder = conv_id, holder
        super().__init__(f"conversation {conv_id} is already assigned to {holder}" if holder
                         else f"conversation {conv_id} was unassigned meanwhile")


#: ``changed(expected=...)`` default: the assignee as this transaction read it
SEEN: Any = object()


def holder_of(s: Session, conv_id: int) -> str | None:
    uid = s.scalar(select(Conversation.assignee_id).where(Conversation.id == conv_id))
    return s.scalar(select(User.email).where(User.id == uid)) if uid else None


def lock_assignee(s: Session, conv: Conversation, expected: int | None, at: datetime | None = None) -> None:
    """Hold the conversation's row only if its assignee is still ``expected`` (None: nobody):
    a conditional UPDATE, so of two agents claiming the same conversation at the same moment
    exactly one wins (on PostgreSQL the second waits for the first's row lock, then finds the
    condition false); the loser gets ``Conflict`` naming who has it."""
    cond = Conversation.assignee_id.is_(None) if expected is None else Conversation.assignee_id == expected
    held = s.execute(
        update(Conversation).where(Conversation.id == conv.id, cond).values(updated_at=at or now())
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if not held:
        raise Conflict(conv.id, holder_of(s, conv.id))


def changed(s: Session, conv: Conversation, new_assignee_id: int | None, actor: str, at: datetime | None = None,
            *, expected: Any = SEEN) -> None:
    """An agent or the API assigned (or unassigned) a conversation, provided its assignee is
    still ``expected`` (the one the client saw; by default the one this transaction read),
    else ``Conflict``. The timeline says so; an unassigned conversation of a team goes back
    to its queue **at its place**: ``queued_at`` (when it entered the queue) is kept, so the
    oldest-waiting-first order stays fair."""
    at = at or now()
    if expected is SEEN:
        expected = conv.assignee_id
    if expected != conv.assignee_id:  # what the client saw is already stale in this transaction
        raise Conflict(conv.id, holder_of(s, conv.id))
    lock_assignee(s, conv, expected, at)
    if new_assignee_id == conv.assignee_id:
        return
    old = s.get(User, conv.assignee_id) if conv.assignee_id else None
    conv.assignee_id = new_assignee_id
    if new_assignee_id is None:
        if conv.team_id is not None and conv.queued_at is None:
            conv.queued_at = conv.last_inbound_at or conv.created_at or at
        record(s, conv.id, "unassigned", actor, at, **({"previous": old.email} if old else {}))
    else:
        user = s.get(User, new_assignee_id)
        record(s, conv.id, "assigned", actor, at, assignee=user.email if user else str(new_assignee_id),
               **({"previous": old.email} if old else {}))


def move_to_team(s: Session, conv: Conversation, team: Team | None, actor: str, at: datetime | None = None,
                 **details: Any) -> None:
    """Put the conversation in another team's queue (None: no team); it keeps its place
    (``queued_at``) if it was already waiting."""
    if (team.id if team else None) == conv.team_id:
        return
    at = at or now()
    conv.team_id = team.id if team else None
    conv.queued_at = (conv.queued_at or at) if team is not None else None
    record(s, conv.id, "team", actor, at, team=team.name if team else None, **details)


def deactivated(s: Session, user_id: int, actor: str, at: datetime | None = None) -> set[int]:
    """A user was deactivated: their agent status goes offline and their open, pending and
    snoozed conversations are unassigned — a team's go back to its queue at their place
    (timeline: "returned", reason "agent deactivated"). Returns the team ids whose queues
    grew (assign them after the commit)."""
    at = at or now()
    set_status(s, user_id, "offline", at=at)
    user = s.get(User, user_id)
    email = user.email if user else str(user_id)
    teams: set[int] = set()
    rows = s.execute(
        select(Conversation.id, Conversation.team_id, Conversation.queued_at, Conversation.last_inbound_at, Conversation.created_at)
        .where(Conversation.assignee_id == user_id, Conversation.status.in_(ACTIVE)).order_by(Conversation.id)
    ).all()
    for conv_id, team_id, queued, last_in, created in rows:
        values: dict[str, Any] = {"assignee_id": None, "updated_at": at}
        if team_id is not None:
            values["queued_at"] = queued or last_in or created
        back = s.execute(
            update(Conversation).where(Conversation.id == conv_id, Conversation.assignee_id == user_id).values(**values)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        if not back:
            continue
        if team_id is not None:
            record(s, conv_id, "returned", "system", at, previous=email, reason="agent deactivated", by=actor)
            teams.add(team_id)
        else:
            record(s, conv_id, "unassigned", actor, at, previous=email, reason="agent deactivated")
        _updated(s, conv_id, user_id, None)
    if rows:
        log.info("assignment.deactivated", user_id=user_id, returned=len(rows))
    return teams


# -------------------------------------------------------------------------------- sweep
def sweep(rt, at: datetime | None = None) -> dict[str, int]:
    """The poller's timer: idle agents offline, long-offline agents' conversations back to
    their queues, then every automatic team's queue assigned."""
    at = at or now()
    st = rt.settings
    idle = timedelta(seconds=st.agent_idle_seconds)
    counts = {"offline": 0, "returned": 0, "assigned": 0}
    with rt.db.session() as s:
        for row in s.scalars(select(AgentStatus).where(AgentStatus.status == "online", AgentStatus.seen_at < at - idle)):
            row.status, row.changed_at = "offline", row.seen_at + idle
            counts["offline"] += 1
            log.info("agent.offline", user_id=row.user_id, reason="idle")
        s.flush()
        cut = at - timedelta(seconds=st.reassign_offline_seconds)
        gone = dict(s.execute(
            select(AgentStatus.user_id, User.email).join(User, User.id == AgentStatus.user_id)
            .where(AgentStatus.status == "offline", AgentStatus.changed_at < cut)
        ).all())
        if gone:
            convs = s.execute(
                select(Conversation.id, Conversation.assignee_id, Conversation.queued_at, Conversation.last_inbound_at,
                       Conversation.created_at)
                .where(Conversation.assignee_id.in_(list(gone)), Conversation.team_id.is_not(None),
                       Conversation.status.in_(WAITING))
                .order_by(Conversation.id).limit(1000)
            ).all()
            minutes = round(st.reassign_offline_seconds / 60, 1)
            for conv_id, user_id, queued, last_in, created in convs:
                back = s.execute(
                    update(Conversation).where(Conversation.id == conv_id, Conversation.assignee_id == user_id)
                    .values(assignee_id=None, queued_at=queued or last_in or created, updated_at=at)
                    .execution_options(synchronize_session=False)
                ).rowcount
                if back:
                    record(s, conv_id, "returned", "system", at, previous=gone[user_id],
                           reason=f"agent offline for more than {minutes:g} minutes")
                    _updated(s, conv_id, user_id, None)
                    counts["returned"] += 1
        teams = list(s.scalars(
            select(Team.id).where(Team.assignment == "auto", Team.id.in_(
                select(Conversation.team_id).where(Conversation.assignee_id.is_(None), Conversation.status.in_(WAITING))))
        ))
    counts["assigned"] = len(assign_teams(rt, teams, at=at))
    if any(counts.values()):
        log.info("assignment.sweep", **counts)
    return counts


#: words of the team filter, never a team's name
FILTER_WORDS = ("mine", "none")


#: most characters of a team's name
TEAM_NAME_MAX = 64


def check_team_name(name: str) -> str:
    """A team's name as stored (trimmed, Unicode NFC), or ValueError saying what is allowed:
    1 to TEAM_NAME_MAX letters of any script ("Soporte España", "サポート"), digits, spaces,
    ``_ . -``, starting with a letter or a digit."""
    value = unicodedata.normalize("NFC", (name or "").strip())
    if not 1 <= len(value) <= TEAM_NAME_MAX:
        raise ValueError(f"a team's name has 1 to {TEAM_NAME_MAX} characters (got {len(value)})")
    bad = next((c for c in value if not (c.isalnum() or c in " _.-" or unicodedata.category(c).startswith("M"))), None)
    if bad is not None:
        raise ValueError(f"{bad!r} is not allowed in a team's name: use letters (any language), digits, spaces and _ . -")
    if not value[0].isalnum():
        raise ValueError("a team's name starts with a letter or a digit")
    return value


def name_key(name: str) -> str:
    """How team names compare: trimmed, Unicode-normalized, case-insensitive ("Billing" and
    " billing" are one, so are "ESPAÑA" and "España")."""
    return unicodedata.normalize("NFC", name.strip()).casefold()


def team_named(s: Session, name: str) -> Team | None:
    """The team of that name, compared trimmed and case-insensitively (in Python: SQLite's
    lower() folds ASCII letters only, and there are few teams)."""
    key = name_key(name)
    found = s.scalar(select(Team).where(func.lower(Team.name) == key).order_by(Team.id).limit(1))
    if found is not None:
        return found
    return next((t for t in s.scalars(select(Team).order_by(Team.id)) if name_key(t.name) == key), None)


def team_filter(s: Session, team: str, user_id: int | None, *, strict: bool = False):
    """The condition of a team filter: a team's name (any case), 'mine' (the user's teams) or
    'none' (no team). An unknown name matches nothing, or with ``strict`` raises LookupError."""
    word = team.strip().lower()
    if word == "none":
        return Conversation.team_id.is_(None)
    if word == "mine":
        return Conversation.team_id.in_(select(TeamMember.team_id).where(TeamMember.user_id == (user_id or -1)))
    found = team_named(s, team)
    if found is None and strict:
        raise LookupError(team)
    return Conversation.team_id == (found.id if found else -1)


def queue_sizes(s: Session) -> dict[int, int]:
    """Waiting (unassigned) conversations per team id."""
    rows = s.execute(
        select(Conversation.team_id, func.count()).where(Conversation.team_id.is_not(None), Conversation.assignee_id.is_(None),
                                                         Conversation.status.in_(WAITING)).group_by(Conversation.team_id)
    ).all()
    return {int(team_id): int(n) for team_id, n in rows if team_id is not None}


def loads(s: Session, team_id: int) -> dict[int, int]:
    """Active conversations of the team per assigned user id."""
    rows = s.execute(
        select(Conversation.assignee_id, func.count()).where(Conversation.team_id == team_id, Conversation.status.in_(ACTIVE),
                                                             Conversation.assignee_id.is_not(None)).group_by(Conversation.assignee_id)
    ).all()
    return {int(user_id): int(n) for user_id, n in rows if user_id is not None}
