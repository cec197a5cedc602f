"""Connectors: configuration (secrets encrypted), adapter instances, state, health."""

from __future__ import annotations

import threading
from typing import Any

import structlog
from pydantic import SecretStr, ValidationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

import channels
import outbound
from hub.crypto import mask
from hub.errors import ConfigError, NotFound
from hub.models import AuditLog, Connector, now
from hub.runtime import Runtime
from hub.types import ConnectorContext, Limits

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
BUILTIN_INBOX = "inbox"


def adapter_class(kind: str):
    """The channel adapter or helpdesk backend class for a connector kind."""
    if kind in channels.REGISTRY:
        return channels.REGISTRY[kind]
    if kind in outbound.REGISTRY:
        return outbound.REGISTRY[kind]
    known = ", ".join(sorted([*channels.REGISTRY, *outbound.REGISTRY]))
    raise ConfigError(f"unknown connector kind {kind!r} (known: {known})")


def is_channel(kind: str) -> bool:
    return kind in channels.REGISTRY


def all_kinds() -> dict[str, type]:
    return {**channels.REGISTRY, **outbound.REGISTRY}


def _validate(kind: str, name: str, values: dict[str, Any]):
    cls = adapter_class(kind)
    try:
        return cls.Config(**values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"connector {name!r} ({kind}): {problems}") from None


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
        return {**(row.config or {}), **self.rt.box.open_json(row.secrets)}

    def create(self, s: Session, name: str, kind: str, values: dict[str, Any], actor: str = "system") -> Connector:
        import re

        if not re.match(NAME_PATTERN, name):
            raise ConfigError(f"connector name {name!r}: use lower-case letters, digits, '-' and '_' (max 64)")
        if s.scalar(select(Connector).where(Connector.name == name)) is not None:
            raise ConfigError(f"a connector named {name!r} already exists")
        _validate(kind, name, values)
        config, secrets = split_values(kind, values)
        row = Connector(name=name, kind=kind, config=config, secrets=self.rt.box.seal_json(secrets), state={}, health={})
        s.add(row)
        s.flush()
        s.add(AuditLog(actor=actor, action="connector.create", target_type="connector", target_id=name, details={"kind": kind, "keys": sorted(values)}))
        return row

    def update(self, s: Session, name: str, values: dict[str, Any], actor: str = "system", enabled: bool | None = None) -> Connector:
        row = self.get(s, name)
        merged = self.values(row)
        for k, v in values.items():
            if v is None:
                merged.pop(k, None)
            else:
                merged[k] = v
        _validate(row.kind, name, merged)
        config, secrets = split_values(row.kind, merged)
        row.config = config
        row.secrets = self.rt.box.seal_json(secrets)
        if enabled is not None:
            row.enabled = enabled
        row.updated_at = now()
        s.add(AuditLog(actor=actor, action="connector.update", target_type="connector", target_id=name, details={"keys": sorted(values)}))
        return row

    def delete(self, s: Session, name: str, actor: str = "system") -> None:
        row = self.get(s, name)
        if row.name == BUILTIN_INBOX:
            raise ConfigError("the built-in inbox cannot be removed")
        from sqlalchemy import func

        from hub.models import Conversation, Delivery, InboundEvent

        used = s.scalar(select(func.count()).select_from(Conversation).where(Conversation.connector_id == row.id))
        used += s.scalar(select(func.count()).select_from(Delivery).where(Delivery.helpdesk_id == row.id))
        used += s.scalar(select(func.count()).select_from(InboundEvent).where(InboundEvent.connector_id == row.id))
        if used:
            row.enabled = False
            row.name = f"{row.name}~deleted~{row.id}"
        else:
            from sqlalchemy import delete

            from hub.models import WebhookReplayKey

            s.execute(delete(WebhookReplayKey).where(WebhookReplayKey.connector_id == row.id))
            s.delete(row)
        s.add(AuditLog(actor=actor, action="connector.delete", target_type="connector", target_id=name))

    def describe(self, row: Connector, *, with_urls: bool = True) -> dict[str, Any]:
        """Public description: secrets masked, never returned in clear."""
        cls = adapter_class(row.kind)
        secret_names = cls.Config.secret_fields()
        stored_secrets = self.rt.box.open_json(row.secrets)
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
            config=_validate(row.kind, row.name, self.values(row)),
            public_url=st.effective_public_url,
            limits=Limits(max_attachment_bytes=st.max_attachment_bytes, max_body_bytes=st.max_body_bytes),
            state=StateStore(self.rt, row.id, row.state),
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
    """The built-in inbox helpdesk connector always exists."""
    with rt.db.session() as s:
        if s.scalar(select(Connector).where(Connector.name == BUILTIN_INBOX)) is None:
            s.add(Connector(name=BUILTIN_INBOX, kind="inbox", config={}, secrets=rt.box.seal_json({}), state={}, health={}))
