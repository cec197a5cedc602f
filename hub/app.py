"""The Flask application factory."""

from __future__ import annotations

import time
from typing import Any

import structlog
from flask import Flask, Response, jsonify, request
from sqlalchemy.exc import InterfaceError, OperationalError, ProgrammingError
from werkzeug.exceptions import HTTPException

from config.settings import Settings, load_settings
from hub.connectors import ConnectorService
from hub.runtime import Runtime, set_runtime

log = structlog.get_logger("omnihub.web")


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Flask:
    settings = settings or (runtime.settings if runtime else load_settings())
    rt = runtime or Runtime(settings)
    set_runtime(rt)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.effective_public_url.startswith("https://"),
        JSON_SORT_KEYS=False,
        OMNIHUB_SSE_SECONDS=settings.sse_seconds,
    )
    app.extensions["omnihub"] = rt
    if settings.password_hash_profile != "standard":  # the process that signs people in says so
        import structlog

        structlog.get_logger("omnihub.auth").warning(
            "auth.insecure_password_hashes", setting="OMNIHUB_PASSWORD_HASH_PROFILE", value=settings.password_hash_profile,
            fix="unset OMNIHUB_PASSWORD_HASH_PROFILE: this cost is for the test suite only, never for real passwords")
    app.extensions["omnihub.connectors"] = ConnectorService(rt)
    from hub import bodies

    bodies.install(app)  # first: too-deep JSON is a 400 before any view, rate limit or CSRF check

    from hub import api, media_route, metrics, webhooks

    app.register_blueprint(webhooks.bp)
    app.register_blueprint(media_route.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(metrics.bp)
    try:  # the web UI (inbox/admin) registers itself when present
        from hub import web

        web.init_app(app)
    except ImportError:
        pass

    @app.get("/healthz")
    def healthz():
        return jsonify({"status": "ok"})

    @app.get("/readyz")
    def readyz():
        checks: dict[str, str] = {}
        body: dict[str, Any]
        schema = None
        try:
            from hub.migrate import schema_state

            schema = schema_state(rt.db)  # reaches the database, and tells whether its tables are there
            checks["database"] = "ok" if schema.migrated else "not migrated"
        except Exception as exc:
            checks["database"] = f"error: {exc.__class__.__name__}"
        try:
            rt.redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            from hub.redisconn import short_error

            checks["redis"] = f"error: {short_error(exc)}"  # one line (a MasterNotFoundError without its ~1 KB of reprs)
        ok = all(v == "ok" for v in checks.values())
        body = {"status": "ok" if ok else "unavailable", "checks": checks}
        if schema is not None and not schema.migrated:  # processes started before the migration Job
            body.update(reason=schema.reason(), revision=schema.revision, expected_revision=schema.expected_revision)
        if checks["database"] == "ok":
            from hub import health

            # detail only: a red connector never makes the hub unready (the others keep working)
            body["connectors"] = {c["name"]: {"kind": c["kind"], "healthy": c["healthy"], "reason": c["reason"]} for c in health.statuses(rt)}
        return jsonify(body), 200 if ok else 503

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if request.path.startswith(("/api/", "/webhooks/", "/healthz", "/readyz", "/metrics")) or not _wants_html():
            messages = {413: f"request body over the {settings.max_body_bytes}-byte limit"}
            code = exc.code or 500
            return jsonify({"error": messages.get(code, exc.description or exc.name)}), code
        return exc

    def not_migrated(exc: Exception) -> Response | None:
        """503 naming the fix when a request met a database without its tables (the web process
        started before `omnihub db upgrade`); checked only after such an error, never per request."""
        if isinstance(exc, OperationalError) and "no such " not in str(exc):  # SQLite: no such table/column
            return None
        try:
            from hub.migrate import schema_state

            state = schema_state(rt.db)
        except Exception:  # noqa: BLE001 - the original error is reported instead
            return None
        if state.migrated:
            return None
        log.error("database.not_migrated", revision=state.revision, expected=state.expected_revision,
                  fix="run `omnihub db upgrade`")
        resp = jsonify({"error": state.reason()})
        resp.status_code = 503
        resp.headers["Retry-After"] = "5"
        return resp

    @app.errorhandler(ProgrammingError)
    def db_schema(exc):
        return not_migrated(exc) or unexpected(exc)

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def db_down(exc):
        if (resp := not_migrated(exc)) is not None:
            return resp
        log.error("database.unavailable", error=str(exc.orig) if getattr(exc, "orig", None) else str(exc))
        resp = jsonify({"error": "database unavailable, retry later"})
        resp.status_code = 503
        resp.headers["Retry-After"] = "5"
        return resp

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        if isinstance(exc, HTTPException):
            return exc
        log.exception("request.failed", path=request.path)
        return jsonify({"error": "internal error"}), 500

    @app.before_request
    def _start_timer():
        request.environ["omnihub.start"] = time.perf_counter()

    @app.after_request
    def _headers(resp: Response):
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        start = request.environ.get("omnihub.start")
        if start is not None:
            metrics.observe(request, resp, time.perf_counter() - start)
        return resp

    return app


def _wants_html() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html"
