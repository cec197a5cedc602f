"""Reply attachments at signed, expiring public URLs, for providers that fetch media by URL
(Twilio MMS/WhatsApp): the tokens, and how a stored file is served. The route itself
(GET /media/<token>: no login, the token is the permission) is ``hub.media_route``; this
module does not import Flask at import time, so a worker that only signs URLs (the outbox)
does not load the web framework (about 5 MB per worker process)."""

from __future__ import annotations

import re

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

SALT = "omnihub.media.v1"
MAX_AGE = 24 * 3600  # providers fetch within seconds; a day covers retries


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=SALT)


def media_url(public_url: str, secret_key: str, attachment_id: int) -> str:
    token = _serializer(secret_key).dumps({"a": int(attachment_id)})
    return f"{public_url.rstrip('/')}/media/{token}"


def attachment_id_for(secret_key: str, token: str, max_age: int = MAX_AGE) -> int | None:
    try:
        data = _serializer(secret_key).loads(token, max_age=max_age)
    except (BadSignature, SignatureExpired):
        return None
    return int(data["a"]) if isinstance(data, dict) and "a" in data else None


#: Types a browser may show inline: passive images that run nothing. Everything else (HTML,
#: XHTML, SVG, XML, JavaScript, PDF, unknown) is served as a download.
SAFE_INLINE = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/avif", "image/bmp"})
_MIME = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")


def essence(content_type: str | None) -> str:
    """The bare, lower-case media type (``image/svg+xml; charset=x`` -> ``image/svg+xml``);
    application/octet-stream when it is not a well-formed type."""
    base = (content_type or "").split(";", 1)[0].strip().lower()
    return base if _MIME.match(base) else "application/octet-stream"


def file_response(path, content_type: str | None, filename: str, *, keep_type: bool):
    """A stored file: inline only for SAFE_INLINE types, else ``Content-Disposition:
    attachment`` (with its own type when ``keep_type``, else application/octet-stream);
    never sniffed, and sandboxed should a browser render it anyway."""
    from flask import send_file

    kind = essence(content_type)
    inline = kind in SAFE_INLINE
    mimetype = kind if inline or keep_type else "application/octet-stream"
    # a stored name with CR/LF (older rows, provider-supplied names) must not break the header
    safe_name = "".join("_" if ord(c) < 0x20 or ord(c) == 0x7F else c for c in (filename or "")) or "attachment"
    resp = send_file(path, mimetype=mimetype, as_attachment=not inline, download_name=safe_name, max_age=0)
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return resp
