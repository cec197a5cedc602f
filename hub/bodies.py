"""The one reader of request bodies: JSON nested past a fixed depth is a 400, never a 500.

Python's json parser recurses once per ``[`` / ``{``: a body nested 200,000 levels deep
raised RecursionError (a 500 with a traceback) wherever a body was parsed — the API, the web
chat widget (before its rate limit), provider webhooks. ``install(app)`` checks every request
body that is (or looks like) JSON before any view runs, and makes Flask's ``get_json`` use
the same check; adapters and views that parse raw bodies are then safe too.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote_to_bytes

import structlog
from flask import Flask, jsonify, request
from flask.json.provider import DefaultJSONProvider

from hub.errors import PayloadInvalid

log = structlog.get_logger("omnihub.bodies")

#: deepest nesting accepted in a request body (provider payloads nest about 10 levels)
MAX_JSON_DEPTH = 64
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[^\[\]{}]+")


class TooDeep(PayloadInvalid, ValueError):
    """A JSON document nested past MAX_JSON_DEPTH."""


def json_depth_exceeds(data: bytes | str, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when ``data`` opens more than ``limit`` arrays/objects at once (strings ignored).

    Linear and non-recursive; unbalanced input counts its opens, so it can only over-estimate
    a document that is not valid JSON anyway.
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    if raw.count(b"[") + raw.count(b"{") <= limit:  # fast path: cannot nest deeper
        return False
    brackets = _BRACKETS.sub(b"", _STRING.sub(b"", raw))
    depth = 0
    for ch in brackets:
        if ch in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        elif depth:
            depth -= 1
    return False


def loads(data: bytes | str, *, what: str = "request body") -> Any:
    """json.loads with the depth limit: PayloadInvalid (a 400) names the problem."""
    if json_depth_exceeds(data):
        raise TooDeep(f"{what}: JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise PayloadInvalid(f"{what}: not valid JSON ({exc.__class__.__name__})") from None


class SafeJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider with the depth limit on loads (``request.get_json``)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        if json_depth_exceeds(s):
            raise TooDeep(f"request body: JSON nested deeper than {MAX_JSON_DEPTH} levels")
        return super().loads(s, **kwargs)


def _looks_like_json(data: bytes) -> bool:
    mimetype = request.mimetype or ""
    if mimetype == "application/json" or mimetype.endswith("+json"):
        return True
    return data.lstrip(b" \t\r\n")[:1] in (b"{", b"[")


def install(app: Flask) -> None:
    """Refuse too-deep JSON bodies (400) on every route, before any view or rate limit."""
    app.json = SafeJSONProvider(app)

    @app.before_request
    def _check_body_depth():
        mimetype = request.mimetype or ""
        if request.method not in ("POST", "PUT", "PATCH", "DELETE") or mimetype == "multipart/form-data":
            return None
        data = request.get_data(cache=True)
        if not data:
            return None
        if mimetype == "application/x-www-form-urlencoded":
            # form fields may carry JSON (admin forms): check their decoded text
            too_deep = json_depth_exceeds(unquote_to_bytes(data.replace(b"+", b" ")))
        else:
            too_deep = _looks_like_json(data) and json_depth_exceeds(data)
        if too_deep:
            log.info("request.body_refused", path=request.path, reason="json_too_deep", size=len(data))
            resp = jsonify({"error": f"request body: JSON nested deeper than {MAX_JSON_DEPTH} levels"})
            resp.status_code = 400
            return resp
        return None
