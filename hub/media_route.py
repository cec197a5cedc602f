"""GET /media/<token>: a reply's attachment for the provider that fetches it by URL (Twilio
MMS/WhatsApp). No login: the signed, expiring token (``hub.media``) is the permission."""

from __future__ import annotations

from flask import Blueprint, abort, current_app

from hub.media import attachment_id_for, file_response
from hub.models import AttachmentRow

bp = Blueprint("media", __name__)


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
        # the stored type is kept (providers read it: MMS, WhatsApp documents), but only a
        # passive image is ever shown inline
        resp = file_response(rt.blobs.path(a.storage_key), a.content_type, a.filename, keep_type=True)
    resp.headers["Cache-Control"] = "private, no-store"
    return resp
