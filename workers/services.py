"""One ``ConnectorService`` (adapter instances and their caches) per runtime and process,
shared by the ingest, push and send stages."""

from __future__ import annotations

from hub.connectors import ConnectorService
from hub.runtime import Runtime

_services: dict[int, ConnectorService] = {}


def service(rt: Runtime) -> ConnectorService:
    return _services.setdefault(id(rt), ConnectorService(rt))
