"""A small registry that documents API routes as they are declared (OpenAPI 3.1)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

MAX_ID = 2**63 - 1  # row ids are 64-bit integers in SQLite and PostgreSQL
_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")


def _content(code: int, media_type: str) -> dict[str, Any]:
    if 200 <= code < 300 and media_type != "application/json":
        return {media_type: {"schema": {"type": "string"}}}
    return {"application/json": {"schema": {"type": "object"}}}


class Spec:
    def __init__(self, title: str, version: str) -> None:
        self.title = title
        self.version = version
        self.paths: dict[str, dict[str, Any]] = {}
        self.schemas: dict[str, Any] = {}

    def _schema_ref(self, model: type[BaseModel]) -> dict[str, Any]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in schema.pop("$defs", {}).items():
            self.schemas[name] = sub
        self.schemas[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    def add(
        self,
        rule: str,
        method: str,
        *,
        summary: str,
        role: str | None,
        body: type[BaseModel] | None = None,
        query: dict[str, dict[str, Any]] | None = None,
        responses: dict[int, str] | None = None,
        tag: str = "api",
        required: tuple[str, ...] = (),
        media_type: str = "application/json",
    ) -> None:
        """``required``: the query parameters that must be given; ``media_type``: what a 2xx
        answer carries (errors are always JSON)."""
        path = _PARAM.sub(lambda m: "{" + m.group(2) + "}", rule)
        params = []
        for conv, name in _PARAM.findall(rule):
            params.append({"name": name, "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ID} if conv == "int" else {"type": "string"}})
        for name, schema in (query or {}).items():
            params.append({"name": name, "in": "query", "required": name in required, "schema": schema})
        op: dict[str, Any] = {
            "summary": summary,
            "operationId": f"{method.lower()}_{re.sub(r'[^a-z0-9]+', '_', path.lower()).strip('_')}",
            "tags": [tag],
            "parameters": params,
            "responses": {
                str(code): {"description": text} if code in (204, 304) else {"description": text, "content": _content(code, media_type)}
                for code, text in (responses or {200: "OK"}).items()
            },
        }
        if role:
            op["security"] = [{"bearer": []}]
            op["responses"].setdefault("401", {"description": "Missing or invalid bearer token"})
            if role == "admin":
                op["responses"].setdefault("403", {"description": "Admin role required"})
        if params and any(p["in"] == "path" for p in params):
            op["responses"].setdefault("404", {"description": "Not found"})
        if query:
            op["responses"].setdefault("400", {"description": "Invalid query parameter (the error names it)"})
        if body is not None:
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": self._schema_ref(body)}}}
            op["responses"].setdefault("400", {"description": "Invalid request body (the error names the field)"})
        self.paths.setdefault(path, {})[method.lower()] = op

    def document(self, server_url: str = "/") -> dict[str, Any]:
        return {
            "openapi": "3.1.0",
            "info": {"title": self.title, "version": self.version},
            "servers": [{"url": server_url}],
            "paths": self.paths,
            "components": {
                "schemas": self.schemas,
                "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            },
        }
