"""The client's address of the current request (core: the audit log and the web shell share it)."""

from __future__ import annotations

from flask import has_request_context, request

LOOPBACK = ("127.0.0.1", "::1")


def client_ip() -> str:
    """The client's address; behind a reverse proxy on this machine, the one it appended to X-Forwarded-For.

    Trusts the header only from loopback, as `omnihub web` trusts the proxy headers
    (gunicorn --forwarded-allow-ips 127.0.0.1). Otherwise every client behind the proxy would
    share one login-throttling bucket. "" outside a request.
    """
    if not has_request_context():
        return ""
    addr = request.remote_addr or "unknown"
    forwarded = request.headers.get("X-Forwarded-For")
    if addr in LOOPBACK and forwarded:
        return forwarded.split(",")[-1].strip() or addr
    return addr
