"""Reply attachments at signed, expiring public URLs, for providers that fetch media by URL
(Twilio MMS/WhatsApp). GET /media/<token>: no login, the token is the permission."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, send_file
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from hub.models import AttachmentRow

bp = Blueprint("media", __name__)
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


@bp.get("/media/<token>")
def media(token: str):
    rt = current_app.extensions["omnihub"]
    attachment_id = attachment_id_for(rt.settings.secret_key, token)
    if attachment_id is None:
        abort(404)
    with rt.db.read() as s:
        a = s.get(AttachmentRow, attachment_id)
        # only files agents attached to replies are ever published this way
        if a is None or a.reply_id is None or not a.storage_key:
            abort(404)
        path = rt.blobs.path(a.storage_key)
        resp = send_file(path, mimetype=a.content_type, download_name=a.filename, max_age=0)
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    resp.headers["Cache-Control"] = "private, no-store"
    return resp
