"""A local Meta Graph API for tests: checks each request against the documented contract.

Mounted on a pytest-httpserver; the adapters reach it through their ``api_base_url``. Every
request must name the configured version (``/v24.0/...``) and carry ``Authorization: Bearer
<token>``; each endpoint checks its documented body and answers with a recorded response
(tests/support/meta_samples.py). Contract violations are collected in ``violations`` and
answered 400 with a Graph error: tests assert the list is empty.

Endpoints:
* WhatsApp Cloud API — ``POST /<v>/<phone_number_id>/messages`` (send-messages reference:
  messaging_product "whatsapp", to, type and the object of that type; text.body at most
  4,096 characters; context.message_id), ``POST /<v>/<phone_number_id>/media`` (multipart:
  file, type, messaging_product), ``GET /<v>/<media_id>`` (the media URL) and the download of
  that URL (bearer token required), ``GET /<v>/<phone_number_id>`` (the number).
* Messenger / Instagram Send API — ``POST /<v>/<page_or_ig_id>/messages`` (recipient.id,
  messaging_type, message.text at most 2,000 / 1,000 characters or message.attachment),
  ``GET /<v>/<page_or_ig_id>`` (name / username).
"""

from __future__ import annotations

import copy
import itertools
import json
import re
from collections.abc import Callable
from typing import Any

from werkzeug import Request, Response

from tests.support import meta_samples as ms

TEXT_LIMITS = {"whatsapp": 4096, "messenger": 2000, "instagram": 1000}
MESSAGE_TYPES = {"text", "image", "audio", "video", "document", "sticker", "location", "contacts", "interactive", "template", "reaction"}
MESSAGING_TYPES = {"RESPONSE", "UPDATE", "MESSAGE_TAG"}


class GraphApi:
    def __init__(self, httpserver, *, token: str = "EAAG-test-token", version: str = "v24.0",
                 phone_number_id: str = ms.PHONE_NUMBER_ID, page_id: str = ms.PAGE_ID, ig_user_id: str = ms.IG_USER_ID) -> None:
        self.server = httpserver
        self.token = token
        self.version = version
        self.phone_number_id = phone_number_id
        self.page_id = page_id
        self.ig_user_id = ig_user_id
        self.calls: list[tuple[str, str, Any]] = []  # (method, path, body)
        self.violations: list[str] = []
        self.media: dict[str, tuple[bytes, str]] = {}  # media id -> (bytes, content type): customer media to serve
        self.uploads: dict[str, tuple[str, bytes, str]] = {}  # media id -> (filename, bytes, type)
        self._overrides: list[tuple[str, Callable[[Request], Response]]] = []
        self._ids = itertools.count(1)
        self.cdn: dict[str, tuple[bytes, str]] = {}  # Messenger / Instagram attachment URLs (signed, fetched without a token)
        self.cdn_down: set[str] = set()  # CDN names answered 503 (a file that cannot be reached right now)
        httpserver.expect_request(re.compile(r"^/media-download/.+$"), method="GET").respond_with_handler(self._download)
        httpserver.expect_request(re.compile(r"^/cdn/.+$"), method="GET").respond_with_handler(self._cdn)
        httpserver.expect_request(re.compile(r"^/v[0-9.]+/.*$")).respond_with_handler(self._handle)

    @property
    def base_url(self) -> str:
        return self.server.url_for("/").rstrip("/")

    def called(self, method: str, path: str) -> list[Any]:
        return [body for m, p, body in self.calls if m == method and p == path]

    def fail_next(self, path_suffix: str, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        """Answer the next request whose path ends with path_suffix with this response."""
        payload = json.dumps(body)
        self._overrides.append((path_suffix, lambda _r: Response(payload, status=status, headers=headers or {}, content_type="application/json")))

    # --- plumbing ------------------------------------------------------------------------
    def _json(self, body: Any, status: int = 200) -> Response:
        return Response(json.dumps(body), status=status, content_type="application/json; charset=UTF-8")

    def _violation(self, where: str, problem: str) -> Response:
        self.violations.append(f"{where}: {problem}")
        return self._json({"error": {"message": f"(#100) {problem}", "type": "OAuthException", "code": 100, "fbtrace_id": "test"}}, 400)

    def _authorized(self, request: Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.token}"

    def _handle(self, request: Request) -> Response:
        path = request.path
        body: Any = None
        if request.method == "POST":
            if request.mimetype == "application/json":
                body = request.get_json(silent=True)
            elif request.mimetype == "multipart/form-data":
                body = {"form": dict(request.form), "files": {k: (f.filename, f.read(), f.mimetype) for k, f in request.files.items()}}
            else:
                body = request.get_data()
        self.calls.append((request.method, path, body))
        for i, (suffix, respond) in enumerate(self._overrides):
            if path.endswith(suffix):
                del self._overrides[i]
                return respond(request)
        if not path.startswith(f"/{self.version}/"):
            return self._violation(path, f"path must start with /{self.version}/")
        if not self._authorized(request):
            return self._json(ms.TOKEN_EXPIRED | {"error": {**ms.TOKEN_EXPIRED["error"], "message": "Invalid OAuth access token."}}, 401)
        parts = path.split("/")[2:]
        if len(parts) == 2 and parts[1] == "messages" and request.method == "POST":
            if parts[0] == self.phone_number_id:
                return self._wa_send(path, body)
            if parts[0] in (self.page_id, self.ig_user_id, "me"):
                return self._send_api(path, body, "instagram" if parts[0] == self.ig_user_id else "messenger")
        if len(parts) == 2 and parts[1] == "media" and request.method == "POST" and parts[0] == self.phone_number_id:
            return self._wa_upload(path, body)
        if len(parts) == 2 and parts[1] == "message_templates" and request.method == "GET":
            if parts[0] != ms.WABA_ID:
                return self._violation(path, "message_templates belong to the WhatsApp Business Account id")
            return self._json(ms.TEMPLATES)
        if len(parts) == 1 and request.method == "GET":
            return self._get_object(parts[0], request)
        return self._violation(path, f"{request.method} {path} is not an endpoint of this contract")

    # --- WhatsApp ------------------------------------------------------------------------
    def _wa_send(self, where: str, body: Any) -> Response:
        if not isinstance(body, dict):
            return self._violation(where, "body must be JSON")
        if body.get("messaging_product") != "whatsapp":
            return self._violation(where, "messaging_product must be 'whatsapp'")
        if not re.fullmatch(r"\+?\d{6,15}", str(body.get("to") or "")):
            return self._violation(where, f"to {body.get('to')!r} is not a phone number / wa_id")
        if body.get("recipient_type", "individual") != "individual":
            return self._violation(where, "recipient_type must be 'individual'")
        kind = body.get("type", "text")
        if kind not in MESSAGE_TYPES or not isinstance(body.get(kind), dict):
            return self._violation(where, f"type {kind!r} needs a {kind!r} object")
        obj = body[kind]
        if kind == "text":
            text = obj.get("body")
            if not isinstance(text, str) or not text or len(text) > TEXT_LIMITS["whatsapp"]:
                return self._violation(where, "text.body must be 1..4096 characters")
        if kind in ("image", "audio", "video", "document", "sticker"):
            if bool(obj.get("id")) == bool(obj.get("link")):
                return self._violation(where, f"{kind} needs exactly one of id, link")
            if obj.get("id") and obj["id"] not in self.uploads:
                return self._violation(where, f"{kind}.id {obj['id']!r} was never uploaded")
            if kind == "audio" and obj.get("caption"):
                return self._violation(where, "audio takes no caption")
        if kind == "template":
            lang = (obj.get("language") or {}).get("code")
            if not isinstance(obj.get("name"), str) or not isinstance(lang, str):
                return self._violation(where, "template needs name and language.code")
            known = [t for t in ms.TEMPLATES["data"] if t["name"] == obj["name"] and t["language"] == lang and t["status"] == "APPROVED"]
            if not known:
                return self._json(ms.TEMPLATE_MISSING, 400)
            wanted = len(set(re.findall(r"\{\{(\w+)\}\}", next((c["text"] for c in known[0]["components"] if c["type"] == "BODY"), ""))))
            given = [p for c in obj.get("components") or () if c.get("type") == "body" for p in c.get("parameters") or ()]
            if len(given) != wanted or any(p.get("type") != "text" or not isinstance(p.get("text"), str) for p in given):
                return self._violation(where, f"template {obj['name']} takes {wanted} body text parameters, got {given!r}")
        ctx = body.get("context")
        if ctx is not None and not (isinstance(ctx, dict) and isinstance(ctx.get("message_id"), str)):
            return self._violation(where, "context must be {'message_id': <wamid>}")
        resp = copy.deepcopy(ms.SEND_RESPONSE)
        resp["contacts"][0].update(input=str(body["to"]), wa_id=str(body["to"]).lstrip("+"))
        resp["messages"][0]["id"] = f"wamid.SENT{next(self._ids):04d}"
        return self._json(resp)

    def _wa_upload(self, where: str, body: Any) -> Response:
        if not isinstance(body, dict) or "file" not in body.get("files", {}):
            return self._violation(where, "upload must be multipart/form-data with a file part")
        form = body["form"]
        if form.get("messaging_product") != "whatsapp" or not form.get("type"):
            return self._violation(where, "upload needs messaging_product=whatsapp and type")
        media_id = f"{1037543291543636 + next(self._ids)}"
        self.uploads[media_id] = body["files"]["file"]
        return self._json({"id": media_id})

    def _get_object(self, object_id: str, request: Request) -> Response:
        if object_id == "debug_token":
            if request.args.get("input_token") != self.token:
                return self._violation(request.path, "debug_token needs input_token (the token to inspect)")
            return self._json(ms.DEBUG_TOKEN)
        if object_id == self.phone_number_id:
            return self._json(ms.PHONE_NUMBER)
        if object_id in self.media:
            data, ctype = self.media[object_id]
            info = copy.deepcopy(ms.MEDIA_URL)
            info.update(id=object_id, mime_type=ctype, file_size=str(len(data)), url=self.server.url_for(f"/media-download/{object_id}"))
            return self._json(info)
        if object_id == ms.PSID:
            return self._json(ms.PSID_PROFILE)
        if object_id == ms.IGSID:
            return self._json(ms.IGSID_PROFILE)
        if object_id == self.page_id:
            return self._json({"name": "Jasper's Market", "id": self.page_id})
        if object_id == self.ig_user_id:
            return self._json({"username": "jaspersmarket", "name": "Jasper's Market", "id": self.ig_user_id})
        return self._json({"error": {"message": f"Unsupported get request. Object with ID '{object_id}' does not exist",
                                     "type": "GraphMethodException", "code": 100, "error_subcode": 33, "fbtrace_id": "test"}}, 400)

    def _download(self, request: Request) -> Response:
        media_id = request.path.rsplit("/", 1)[1]
        self.calls.append(("GET", request.path, None))
        if not self._authorized(request):
            self.violations.append(f"{request.path}: media download without the bearer token")
            return Response(b"", status=401)
        if media_id not in self.media:
            return Response(b"", status=404)
        data, ctype = self.media[media_id]
        return Response(data, content_type=ctype)

    def cdn_url(self, name: str, data: bytes, ctype: str) -> str:
        self.cdn[name] = (data, ctype)
        return self.server.url_for(f"/cdn/{name}")

    def _cdn(self, request: Request) -> Response:
        name = request.path.rsplit("/", 1)[1]
        self.calls.append(("GET", request.path, None))
        if request.headers.get("Authorization"):
            self.violations.append(f"{request.path}: a token was sent to the CDN")
        if name in self.cdn_down:
            return Response(b"", status=503)
        if name not in self.cdn:
            return Response(b"", status=404)
        data, ctype = self.cdn[name]
        return Response(data, content_type=ctype)

    # --- Messenger / Instagram -------------------------------------------------------------
    def _send_api(self, where: str, body: Any, product: str) -> Response:
        if not isinstance(body, dict):
            return self._violation(where, "body must be JSON")
        rid = (body.get("recipient") or {}).get("id")
        if not isinstance(rid, str) or not rid.isdigit():
            return self._violation(where, "recipient.id must be the PSID / IGSID")
        if body.get("messaging_type", "RESPONSE") not in MESSAGING_TYPES:
            return self._violation(where, f"messaging_type {body.get('messaging_type')!r} unknown")
        if body.get("messaging_type") == "MESSAGE_TAG" and not body.get("tag"):
            return self._violation(where, "MESSAGE_TAG needs a tag")
        msg = body.get("message") or {}
        if "text" in msg:
            if not isinstance(msg["text"], str) or not msg["text"] or len(msg["text"]) > TEXT_LIMITS[product]:
                return self._violation(where, f"message.text must be 1..{TEXT_LIMITS[product]} characters")
        elif "attachment" in msg:
            att = msg["attachment"]
            if att.get("type") not in ("image", "audio", "video", "file") or not (att.get("payload") or {}).get("url"):
                return self._violation(where, "message.attachment needs a type and payload.url")
        else:
            return self._violation(where, "message needs text or attachment")
        # https://developers.facebook.com/docs/messenger-platform/reference/send-api/ (response)
        return self._json({"recipient_id": rid, "message_id": f"m_SENT{next(self._ids):04d}"})
