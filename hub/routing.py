"""Routing rules (docs/teams.md): which team's queue a new conversation goes to.

Rules are evaluated at ingest, once the message has been triaged (category, priority,
security flag) and its language detected, in ``position`` order; the first enabled rule whose
conditions all hold decides the team, and may set the priority and add tags. A conversation
no rule matches goes to the default team (if there is one). Conditions are data
(``Conditions``): a list of accepted values per attribute, ``security`` true/false, and
contact attributes; an empty condition set matches every conversation (a catch-all).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.models import Connector, Contact, Conversation, ConversationEvent, Identity, RoutingRule, Team, now

PRIORITIES = ("low", "normal", "high", "urgent")
#: keys of ``contacts.attrs`` that are the hub's own flags, not contact attributes
INTERNAL_ATTRS = ("language_confirmed",)
#: a contact attribute the hub derives (the domain of the contact's email); cannot be set
DERIVED_ATTRS = ("email_domain",)
ATTR_NAME = r"[A-Za-z0-9_.-]{1,64}"
AttrName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=rf"^{ATTR_NAME}$")]
Value = Annotated[str, StringConstraints(min_length=1, max_length=120, pattern=r"^[^\x00-\x1f\x7f]+$")]
Values = Annotated[list[Value], Field(max_length=50)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f,]+$")]


class Conditions(BaseModel):
    """What a conversation must have for a rule to match (every given condition holds)."""

    model_config = ConfigDict(extra="forbid")

    connector: Values | None = Field(None, description="connector names")
    medium: Values | None = Field(None, description="sms, whatsapp, voice, email, slack, x, api, …")
    language: Values | None = Field(None, description="language codes (en, es, …)")
    category: Values | None = Field(None, description="triage categories (normalizers.triage.CATEGORIES: card_payment, fees, …)")
    priority: Annotated[list[Value], Field(max_length=4)] | None = Field(None, description="low, normal, high, urgent")
    security: StrictBool | None = Field(None, description="the security flag (a pasted secret, an account takeover): a JSON true or false")
    contact: dict[Annotated[str, StringConstraints(min_length=1, max_length=64)], Values] | None = Field(
        None, max_length=20, description="contact attributes: each named attribute has one of the values (email_domain: the contact's email domain)")


class RuleError(ValueError):
    """A condition that could never match: ``field`` (``conditions.medium``, …) and why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def allowed_values(s: Session) -> dict[str, tuple[str, ...]]:
    """What each list condition may hold: a conversation can only ever have these."""
    from hub.connectors import is_channel
    from normalizers.language import SUPPORTED
    from normalizers.model import Medium
    from normalizers.triage import CATEGORIES

    # channel connectors: a conversation arrives on one (a helpdesk connector never starts one)
    connectors = tuple(sorted(n for n, kind in s.execute(select(Connector.name, Connector.kind)).all() if is_channel(kind)))
    return {"connector": connectors, "medium": tuple(m.value for m in Medium), "language": SUPPORTED,
            "category": CATEGORIES, "priority": PRIORITIES}


def check(s: Session, cond: Conditions) -> Conditions:
    """Refuse conditions that can never match (``RuleError`` naming the field and the allowed
    values): an empty list, an unknown connector name, medium, language, category or
    priority, an empty ``contact`` or a contact attribute without values. Values compare
    case-insensitively, everywhere; returns the conditions in their canonical form (what is
    stored and shown): each listed value spelled as the hub spells it (``WhatsApp`` →
    ``whatsapp``, ``HIGH`` → ``high``, a connector's name as it was created), contact attribute
    names and values trimmed and lower-case, duplicates dropped."""
    allowed = allowed_values(s)
    canonical: dict[str, Any] = {}
    for key, ok in allowed.items():
        values = getattr(cond, key)
        if values is None:
            continue
        shown = ", ".join(ok) if ok else "(no connector exists yet)"
        if not values:
            raise RuleError(f"conditions.{key}", f"an empty list never matches: give at least one of {shown}, or leave "
                                                 f"the condition out")
        known = {v.lower(): v for v in ok}
        unknown = [v for v in values if v.strip().lower() not in known]
        if unknown:
            what = "connector" if key == "connector" else key
            raise RuleError(f"conditions.{key}", f"unknown {what} {unknown[0]!r}: allowed {shown}")
        canonical[key] = list(dict.fromkeys(known[v.strip().lower()] for v in values))
    if cond.contact is not None:
        if not cond.contact:
            raise RuleError("conditions.contact", "an empty set of contact attributes: name at least one attribute with its "
                                                  "values (e.g. {\"plan\": [\"vip\"]}), or leave the condition out")
        contact: dict[str, list[str]] = {}
        for attr, values in cond.contact.items():
            if not re.fullmatch(ATTR_NAME, attr.strip()):
                raise RuleError("conditions.contact", f"attribute {attr!r}: names are letters, digits, _ . - (as a contact's "
                                                      "attributes are set), or email_domain")
            if not values:
                raise RuleError(f"conditions.contact.{attr}", "an empty list never matches: give at least one value")
            name = attr.strip().lower()
            if name in contact:
                raise RuleError(f"conditions.contact.{attr}", f"attribute {name!r} is named twice (names compare "
                                                              "case-insensitively): give its values once")
            contact[name] = list(dict.fromkeys(v.strip().lower() for v in values))
            if any(not v for v in contact[name]):
                raise RuleError(f"conditions.contact.{attr}", "a blank value never matches")
        canonical["contact"] = contact
    if cond.security is not None:
        canonical["security"] = cond.security
    return Conditions.model_validate(canonical)


@dataclass
class Facts:
    """What rules look at, taken from a conversation."""

    connector: str
    medium: str
    language: str
    category: str
    priority: str
    security: bool
    contact: dict[str, str] = field(default_factory=dict)


@dataclass
class Cache:
    """What routing reads that does not change within one ingest batch (its transaction
    writes no rule, team or connector): the enabled rules, the default team, the teams and
    connectors met. Two queries per batch instead of four per new conversation (P2R
    profile). Only for one transaction that does not edit rules or teams."""

    rules: list[tuple[Conditions, Decision]] | None = None
    default_team: int | None = None
    default_loaded: bool = False
    #: held so ``s.get`` finds them in the session's (weak-referencing) identity map
    rows: dict[tuple[type, int], Any] = field(default_factory=dict)

    def get(self, s: Session, model: type, pk: int | None) -> Any:
        if pk is None:
            return None
        key = (model, pk)
        if key not in self.rows:
            self.rows[key] = s.get(model, pk)
        return self.rows[key]


def facts_for(s: Session, conv: Conversation, cache: Cache | None = None) -> Facts:
    connector = cache.get(s, Connector, conv.connector_id) if cache is not None else s.get(Connector, conv.connector_id)
    ident = s.get(Identity, conv.identity_id)
    contact = s.get(Contact, conv.contact_id)
    attrs: dict[str, str] = {}
    if contact is not None:
        attrs = {str(k): str(v) for k, v in (contact.attrs or {}).items()
                 if isinstance(v, str | int | float | bool) and k not in INTERNAL_ATTRS}
        if contact.email and "@" in contact.email:
            attrs.setdefault("email_domain", contact.email.rsplit("@", 1)[1])
    return Facts(connector=connector.name if connector else "", medium=ident.medium if ident else "",
                 language=conv.language or "", category=conv.category or "", priority=conv.priority or "normal",
                 security=bool(conv.security_flag), contact=attrs)


def _one_of(value: str, accepted: list[str] | None) -> bool:
    return accepted is None or value.strip().lower() in {a.strip().lower() for a in accepted}


def matches(cond: Conditions, f: Facts) -> bool:
    """Whether every condition of ``cond`` holds for ``f`` (case-insensitive values)."""
    if not (_one_of(f.connector, cond.connector) and _one_of(f.medium, cond.medium) and _one_of(f.language, cond.language)
            and _one_of(f.category, cond.category) and _one_of(f.priority, cond.priority)):
        return False
    if cond.security is not None and cond.security != f.security:
        return False
    if not cond.contact:
        return True
    attrs = {k.lower(): v for k, v in f.contact.items()}  # attribute names compare case-insensitively too
    return all(_one_of(attrs.get(k.lower(), ""), v) for k, v in cond.contact.items())


@dataclass
class Decision:
    team_id: int
    rule_id: int | None = None
    rule_name: str = ""
    priority: str | None = None
    tags: list[str] = field(default_factory=list)


def _rules(s: Session) -> list[tuple[Conditions, Decision]]:
    out = []
    for rule in s.scalars(select(RoutingRule).where(RoutingRule.enabled.is_(True)).order_by(RoutingRule.position, RoutingRule.id)):
        try:
            cond = Conditions.model_validate(rule.conditions or {})
        except ValueError:  # stored before a stricter schema: never matches, never crashes ingest
            continue
        out.append((cond, Decision(rule.team_id, rule.id, rule.name, rule.set_priority, list(rule.add_tags or []))))
    return out


def _default_team(s: Session) -> int | None:
    return s.scalar(select(Team.id).where(Team.is_default.is_(True)).order_by(Team.id).limit(1))


def decide(s: Session, f: Facts, cache: Cache | None = None) -> Decision | None:
    """The first matching enabled rule's decision, else the default team's, else None."""
    if cache is None:
        rules = _rules(s)
    else:
        if cache.rules is None:
            cache.rules = _rules(s)
        rules = cache.rules
    for cond, d in rules:
        if matches(cond, f):
            return Decision(d.team_id, d.rule_id, d.rule_name, d.priority, list(d.tags))
    if cache is None:
        default = _default_team(s)
    else:
        if not cache.default_loaded:
            cache.default_team, cache.default_loaded = _default_team(s), True
        default = cache.default_team
    return Decision(default) if default is not None else None


def route(s: Session, conv: Conversation, *, at=None, cache: Cache | None = None) -> int | None:
    """Route a new conversation: set its team (and the rule's priority and tags), put it in
    the team's queue and note it in the timeline. Returns the team id (None: no team).
    ``cache``: shared by the conversations of one ingest batch (see :class:`Cache`)."""
    d = decide(s, facts_for(s, conv, cache), cache)
    if d is None:
        return None
    team = cache.get(s, Team, d.team_id) if cache is not None else s.get(Team, d.team_id)
    if team is None:
        return None
    at = at or now()
    conv.team_id = team.id
    if conv.assignee_id is None:
        conv.queued_at = conv.queued_at or at
    if d.priority in PRIORITIES:
        conv.priority = d.priority
    if d.tags:
        conv.tags = sorted(set(conv.tags or []) | set(d.tags))
    details: dict[str, Any] = {"team": team.name}
    if d.rule_id is not None:
        details.update(rule=d.rule_name or f"rule {d.rule_id}", rule_id=d.rule_id)
    else:
        details["rule"] = "default team"
    if d.priority:
        details["priority"] = d.priority
    if d.tags:
        details["tags"] = d.tags
    s.add(ConversationEvent(conversation_id=conv.id, at=at, kind="routed", actor="system", details=details))
    return team.id


def next_position(s: Session) -> int:
    return (s.scalar(select(func.max(RoutingRule.position))) or 0) + 10
