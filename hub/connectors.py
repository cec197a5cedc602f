"""Connectors: configuration (secrets encrypted), adapter instances, state, health."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import structlog
from pydantic import SecretStr, ValidationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

import channels
import outbound
from channels.base import ChannelAdapter
from hub import audit, net
from hub.crypto import mask
from hub.errors import ConfigError, NotFound
from hub.models import Connector, now
from hub.runtime import Runtime
from hub.types import ConnectorContext, Limits
from outbound.base import HelpdeskBackend

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
BUILTIN_INBOX = "inbox"
#: inside the sealed secrets: the destination (origin keys) the secrets were entered for
ORIGIN_BINDING = "__origin__"
log = structlog.get_logger("omnihub.connectors")


class OriginChangeRequiresSecrets(ConfigError):
    """A key deciding where requests go changed while stored secrets were not re-entered (409)."""

    status_code = 409

    def __init__(self, message: str, keys: list[str]) -> None:
        super().__init__(message)
        self.keys = keys


def _origin_value(what: str, value: Any) -> str | None:
    """The part of a key's value that decides the destination (a URL's scheme://host:port)."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    if what == "url":
        try:
            url = httpx.URL(text)
            scheme = url.scheme.lower()
            if not url.host:
                return text.lower()
            port = url.port if url.port not in (None, {"https": 443, "http": 80}.get(scheme)) else None
            host = url.host.lower().rstrip(".")
            host = f"[{host}]" if ":" in host else host
            return f"{scheme}://{host}" + (f":{port}" if port else "")
        except Exception:
            return text.lower()
    return text.lower().rstrip(".")


def origin_of(kind: str, values: dict[str, Any]) -> dict[str, str | None]:
    """Where a connector's requests go: each origin key of its schema, normalized."""
    cls = adapter_class(kind).Config
    out = {}
    for k, what in sorted(cls.origin_fields().items()):
        field = cls.model_fields[k]
        default = None if field.is_required() else field.get_default(call_default_factory=True)
        out[k] = _origin_value(what, values.get(k, default))
    return out


def _shown(value: str | None) -> str:
    return value if value is not None else "(unset)"


def adapter_class(kind: str) -> type[ChannelAdapter] | type[HelpdeskBackend]:
    """The channel adapter or helpdesk backend class for a connector kind."""
    if kind in channels.REGISTRY:
        return channels.REGISTRY[kind]
    if kind in outbound.REGISTRY:
        return outbound.REGISTRY[kind]
    known = ", ".join(sorted([*channels.REGISTRY, *outbound.REGISTRY]))
    raise ConfigError(f"unknown connector kind {kind!r} (known: {known})")


def channel_class(kind: str) -> type[ChannelAdapter] | None:
    """The channel adapter class of a kind; None for a helpdesk backend or an unknown kind."""
    return channels.REGISTRY.get(kind)


def is_channel(kind: str) -> bool:
    return kind in channels.REGISTRY


def is_kind(kind: str) -> bool:
    """Whether a connector kind exists (imports no adapter)."""
    return kind in channels.REGISTRY or kind in outbound.REGISTRY


def all_kinds() -> dict[str, type[ChannelAdapter] | type[HelpdeskBackend]]:
    """Every kind with its class: imports every adapter (and SDK). For the kind catalogue only
    (`omnihub connectors kinds`, the admin console's list of kinds, ``GET /connector-kinds``);
    look one kind up with ``adapter_class``."""
    return {**channels.REGISTRY, **outbound.REGISTRY}


def _validate(kind: str, name: str, values: dict[str, Any]):
    cls = adapter_class(kind)
    try:
        return cls.Config(**values)
    except ValidationError as exc:
        from hub.checks import validation_problems

        raise ConfigError(f"connector {name!r} ({kind}): {validation_problems(exc)}") from None


def _refuse_forbidden_urls(kind: str, name: str, values: dict[str, Any]) -> None:
    """Save-time URL guard (SSRF): refuse a URL/host key pointing at a forbidden address."""
    problems = net.config_refusals(adapter_class(kind).Config, values)
    if problems:
        raise ConfigError(f"connector {name!r} ({kind}): " + "; ".join(problems))


def split_values(kind: str, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    secret_names = adapter_class(kind).Config.secret_fields()
    config = {k: v for k, v in values.items() if k not in secret_names and v is not None}
    secrets = {k: (v.get_secret_value() if isinstance(v, SecretStr) else v) for k, v in values.items() if k in secret_names and v is not None}
    return config, secrets


class StateStore:
    """connectors.state as a key/value store (poll cursors, caches), shared by every process.

    ``get`` reads the current row (another process may have written since); ``set(key, None)``
    removes the key.
    """

    _locks: dict[int, threading.Lock] = {}

    def __init__(self, rt: Runtime, connector_id: int, initial: dict[str, Any] | None = None) -> None:
        self.rt = rt
        self.connector_id = connector_id
        self._lock = self._locks.setdefault(connector_id, threading.Lock())

    def _row_state(self) -> dict[str, Any]:
        with self.rt.db.read() as s:
            return dict(s.scalar(select(Connector.state).where(Connector.id == self.connector_id)) or {})

    def get(self, key: str, default: Any = None) -> Any:
        return self._row_state().get(key, default)

    def items(self) -> list[tuple[str, Any]]:
        return list(self._row_state().items())

    def delete(self, key: str) -> None:
        self.set(key, None)

    def delete_many(self, keys: list[str]) -> None:
        """Remove several keys in one write."""
        if not keys:
            return
        with self._lock, self.rt.db.session() as s:
            row = s.get(Connector, self.connector_id, with_for_update=not self.rt.db.is_sqlite)
            if row is None:
                raise NotFound(f"connector {self.connector_id} no longer exists")
            state = {k: v for k, v in (row.state or {}).items() if k not in set(keys)}
            s.execute(update(Connector).where(Connector.id == self.connector_id).values(state=state, updated_at=Connector.updated_at))

    def set(self, key: str, value: Any) -> None:
        with self._lock, self.rt.db.session() as s:
            row = s.get(Connector, self.connector_id, with_for_update=not self.rt.db.is_sqlite)
            if row is None:
                raise NotFound(f"connector {self.connector_id} no longer exists")
            state = dict(row.state or {})
            if value is None:
                state.pop(key, None)
            else:
                state[key] = value
            # updated_at marks configuration changes (adapters and poll threads restart on
            # it); a cursor moving is not one, so keep the stamp as it is.
            s.execute(
                update(Connector)
                .where(Connector.id == self.connector_id)
                .values(state=state, updated_at=Connector.updated_at)
            )


class SealedState:
    """A StateStore whose values are sealed with the hub's key (``connectors.state`` keys
    ``sealed:<key>``): tokens an adapter obtains at run time, e.g. OAuth refresh tokens."""

    PREFIX = "sealed:"

    def __init__(self, rt: Runtime, connector_id: int) -> None:
        self.rt = rt
        self.store = StateStore(rt, connector_id)

    def get(self, key: str, default: Any = None) -> Any:
        token = self.store.get(self.PREFIX + key)
        return self.rt.box.open_json(token.encode()) if token else default

    def set(self, key: str, value: Any) -> None:
        self.store.set(self.PREFIX + key, None if value is None else self.rt.box.seal_json(value).decode())


class ConnectorService:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._adapters: dict[str, tuple[float, Any]] = {}

    # ---- rows --------------------------------------------------------------------
    def get(self, s: Session, name: str) -> Connector:
        row = s.scalar(select(Connector).where(Connector.name == name))
        if row is None:
            raise NotFound(f"no connector named {name!r} (see `omnihub connectors list`)")
        return row

    def values(self, row: Connector) -> dict[str, Any]:
        secrets = dict(self.rt.box.open_json(row.secrets))
        secrets.pop(ORIGIN_BINDING, None)
        return {**(row.config or {}), **secrets}

    def bound_values(self, row: Connector) -> dict[str, Any]:
        """values() for handing to an adapter: refused when the configuration now points
        somewhere other than the origin the secrets were sealed for (a database edit)."""
        secrets = dict(self.rt.box.open_json(row.secrets))
        bound = secrets.pop(ORIGIN_BINDING, None)
        values = {**(row.config or {}), **secrets}
        if bound is not None and secrets:
            current = origin_of(row.kind, values)
            moved = sorted(k for k in set(bound) | set(current) if bound.get(k) != current.get(k))
            if moved:
                log.error("connector.origin_binding_mismatch", connector=row.name, keys=moved)
                raise ConfigError(
                    f"connector {row.name!r}: {', '.join(moved)} changed outside omnihub since its secrets were saved; "
                    f"re-enter {', '.join(sorted(secrets))} (omnihub connectors set {row.name} --set-secret KEY)"
                )
        return values

    def create(self, s: Session, name: str, kind: str, values: dict[str, Any], actor: str = "system") -> Connector:
        import re

        if not re.match(NAME_PATTERN, name):
            raise ConfigError(f"connector name {name!r}: use lower-case letters, digits, '-' and '_' (max 64)")
        if s.scalar(select(Connector).where(Connector.name == name)) is not None:
            raise ConfigError(f"a connector named {name!r} already exists")
        _validate(kind, name, values)
        _refuse_forbidden_urls(kind, name, values)
        config, secrets = split_values(kind, values)
        row = Connector(name=name, kind=kind, config=config, secrets=self._seal(kind, secrets, values), state={}, health={})
        s.add(row)
        s.flush()
        audit.record(s, actor=actor, action="connector.create", target_type="connector", target_id=name, details={"kind": kind, "keys": sorted(values)})
        return row

    def _seal(self, kind: str, secrets: dict[str, Any], values: dict[str, Any]) -> bytes:
        """Seal the secrets together with the origin they are entered for (authenticated
        encryption: the binding cannot be edited in the database without the key)."""
        return self.rt.box.seal_json({**secrets, ORIGIN_BINDING: origin_of(kind, values)})

    def merged(self, row: Connector, values: dict[str, Any], actor: str = "system") -> dict[str, Any]:
        """The stored values with ``values`` applied (None removes a key), refused with
        OriginChangeRequiresSecrets when a key deciding where requests go changes and a
        stored secret is not entered again: a stored secret only ever goes to the origin it
        was saved with. Used by update and by the check of unsaved values."""
        stored = self.values(row)
        merged = dict(stored)
        for k, v in values.items():
            if v is None:
                merged.pop(k, None)
            else:
                merged[k] = v
        before, after = origin_of(row.kind, stored), origin_of(row.kind, merged)
        changed = {k: (before[k], after[k]) for k in after if before.get(k) != after[k]}
        if changed:
            secret_names = adapter_class(row.kind).Config.secret_fields()
            missing = sorted(k for k in secret_names if k in stored and k in merged and k not in values)
            what = ", ".join(f"{k} from {_shown(a)} to {_shown(b)}" for k, (a, b) in changed.items())
            if missing:
                log.warning("connector.origin_change_refused", connector=row.name, actor=actor, changed=sorted(changed), reenter=missing)
                raise OriginChangeRequiresSecrets(
                    f"connector {row.name!r}: changing {what} requires re-entering {', '.join(missing)} "
                    f"(stored secrets are only sent to the destination they were saved for)",
                    missing,
                )
        return merged

    def update(self, s: Session, name: str, values: dict[str, Any], actor: str = "system", enabled: bool | None = None) -> Connector:
        row = self.get(s, name)
        before = origin_of(row.kind, self.values(row))
        merged = self.merged(row, values, actor=actor)
        _validate(row.kind, name, merged)
        _refuse_forbidden_urls(row.kind, name, {k: v for k, v in merged.items() if k in values})
        after = origin_of(row.kind, merged)
        config, secrets = split_values(row.kind, merged)
        row.config = config
        row.secrets = self._seal(row.kind, secrets, merged)
        was_enabled = row.enabled
        if enabled is not None:
            row.enabled = enabled
        row.updated_at = now()
        details: dict[str, Any] = {"keys": sorted(values)}
        if enabled is not None and enabled != was_enabled:  # switching a channel off or on is a change an auditor looks for
            details["enabled"] = [was_enabled, enabled]
        reentered = sorted(k for k in values if k in secrets and values[k] is not None)
        if reentered:  # names only, never values
            details["secrets_reentered"] = reentered
        changed = {k: [before.get(k), after[k]] for k in after if before.get(k) != after[k]}
        if changed:
            details["origin_changed"] = changed
            log.warning("connector.origin_changed", connector=name, actor=actor, changed=changed, secrets_reentered=sorted(set(values) & set(secrets)))
        audit.record(s, actor=actor, action="connector.update", target_type="connector", target_id=name, details=details)
        return row

    def delete(self, s: Session, name: str, actor: str = "system") -> None:
        row = self.get(s, name)
        if row.name == BUILTIN_INBOX:
            raise ConfigError("the built-in inbox cannot be removed")
        from sqlalchemy import func

        from hub.models import Conversation, Delivery, InboundEvent

        used = sum(s.scalar(q) or 0 for q in (
            select(func.count()).select_from(Conversation).where(Conversation.connector_id == row.id),
            select(func.count()).select_from(Delivery).where(Delivery.helpdesk_id == row.id),
            select(func.count()).select_from(InboundEvent).where(InboundEvent.connector_id == row.id),
        ))
        if used:
            row.enabled = False
            row.name = f"{row.name}~deleted~{row.id}"
        else:
            from sqlalchemy import delete

            from hub.models import RetentionPolicy, TicketRemoval, WebhookReplayKey

            s.execute(delete(WebhookReplayKey).where(WebhookReplayKey.connector_id == row.id))
            s.execute(delete(RetentionPolicy).where(RetentionPolicy.connector_id == row.id))
            s.execute(delete(TicketRemoval).where(TicketRemoval.helpdesk_id == row.id))
            s.delete(row)
        audit.record(s, actor=actor, action="connector.delete", target_type="connector", target_id=name)

    def describe(self, row: Connector, *, with_urls: bool = True) -> dict[str, Any]:
        """Public description: secrets masked, never returned in clear."""
        cls = adapter_class(row.kind)
        secret_names = cls.Config.secret_fields()
        stored_secrets = dict(self.rt.box.open_json(row.secrets))
        stored_secrets.pop(ORIGIN_BINDING, None)
        config = dict(row.config or {})
        for k in secret_names:
            if k in stored_secrets:
                config[k] = mask(stored_secrets[k])
        out = {
            "name": row.name,
            "kind": row.kind,
            "role": "channel" if is_channel(row.kind) else "helpdesk",
            "enabled": row.enabled,
            "config": config,
            "health": row.health or {},
            "created_at": row.created_at.isoformat() if row.created_at else None,
            "updated_at": row.updated_at.isoformat() if row.updated_at else None,
        }
        if with_urls:
            base = self.rt.settings.effective_public_url.rstrip("/")
            out["webhooks"] = {h: f"{base}/webhooks/{row.name}/{h}" for h in cls.hooks}
        return out

    # ---- adapters ----------------------------------------------------------------
    def context(self, row: Connector) -> ConnectorContext:
        st = self.rt.settings
        return ConnectorContext(
            name=row.name,
            kind=row.kind,
            config=_validate(row.kind, row.name, self.bound_values(row)),
            public_url=st.effective_public_url,
            limits=Limits(max_attachment_bytes=st.max_attachment_bytes, max_body_bytes=st.max_body_bytes),
            state=StateStore(self.rt, row.id, row.state),
            vault=SealedState(self.rt, row.id),
            log=structlog.get_logger("omnihub.adapter").bind(connector=row.name, kind=row.kind),
        )

    def adapter(self, row: Connector):
        """A cached adapter instance for the connector's current configuration."""
        stamp = row.updated_at.timestamp() if row.updated_at else 0.0
        cached = self._adapters.get(row.name)
        if cached and cached[0] == stamp:
            return cached[1]
        instance = adapter_class(row.kind)(self.context(row))
        self._adapters[row.name] = (stamp, instance)
        return instance

    def record_health(self, connector_id: int, **fields: Any) -> None:
        with self.rt.db.session() as s:
            row = s.get(Connector, connector_id)
            if row is not None:
                health = dict(row.health or {})
                health.update({k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in fields.items()})
                # like a state write, a health note is not a configuration change: keep
                # updated_at, or every ingested message restarts the connector's poll loop
                s.execute(
                    update(Connector).where(Connector.id == connector_id).values(health=health, updated_at=Connector.updated_at)
                )


def ensure_builtin(rt: Runtime) -> None:
    """The built-in inbox helpdesk connector always exists; secrets saved before origin
    binding existed are bound to the destination their connector has now."""
    with rt.db.session() as s:
        if s.scalar(select(Connector).where(Connector.name == BUILTIN_INBOX)) is None:
            s.add(Connector(name=BUILTIN_INBOX, kind="inbox", config={}, secrets=rt.box.seal_json({}), state={}, health={}))
        for row in s.scalars(select(Connector)).all():
            opened = dict(rt.box.open_json(row.secrets) or {})
            if not opened or ORIGIN_BINDING in opened or row.kind not in all_kinds():
                continue
            binding = origin_of(row.kind, {**(row.config or {}), **opened})
            s.execute(
                update(Connector)
                .where(Connector.id == row.id)
                .values(secrets=rt.box.seal_json({**opened, ORIGIN_BINDING: binding}), updated_at=Connector.updated_at)
            )
            log.info("connector.secrets_bound", connector=row.name, keys=sorted(binding))
