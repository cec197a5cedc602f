"""A local stand-in for api.twilio.com that CHECKS each request against Twilio's documented
REST contract and answers the way Twilio does.

Contract checked (https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource,
https://www.twilio.com/docs/usage/requests-to-twilio):
- POST /2010-04-01/Accounts/{AccountSid}/Messages.json, form encoded, HTTP Basic auth
  AccountSid:AuthToken; To required; From or MessagingServiceSid required; Body, MediaUrl
  or ContentSid required; Body at most 1,600 characters (SMS) / 4,096 (WhatsApp);
  StatusCallback, when set, an absolute http(s) URL.
- GET /2010-04-01/Accounts/{AccountSid}.json and .../IncomingPhoneNumbers.json, Basic auth.
Violations are answered 400 like Twilio and recorded in ``violations``.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

API = "2010-04-01"


@dataclass
class SentMessage:
    sid: str
    form: dict[str, list[str]]

    def one(self, name: str) -> str | None:
        values = self.form.get(name)
        return values[0] if values else None


@dataclass
class TwilioApiServer:
    server: HTTPServer
    account_sid: str
    auth_token: str
    friendly_name: str = "omnihub test account"
    numbers: dict[str, dict[str, str]] = field(default_factory=dict)
    sent: list[SentMessage] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    #: queued error answers for the next Messages.json POSTs: (http status, twilio code, message, headers)
    fail_next: list[tuple[int, int | None, str, dict[str, str]]] = field(default_factory=list)
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    media_requests: list[dict[str, Any]] = field(default_factory=list)
    redirects: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        return self.server.url_for("").rstrip("/")

    # --- setup ------------------------------------------------------------------------
    def install(self) -> TwilioApiServer:
        import re

        acct = re.escape(self.account_sid)
        self.server.expect_request(re.compile(rf"^/{API}/Accounts/[^/]+/Messages\.json$"), method="POST").respond_with_handler(
            self._create_message
        )
        self.server.expect_request(re.compile(rf"^/{API}/Accounts/[^/]+\.json$"), method="GET").respond_with_handler(self._account)
        self.server.expect_request(
            re.compile(rf"^/{API}/Accounts/{acct}/IncomingPhoneNumbers\.json$"), method="GET"
        ).respond_with_handler(self._numbers)
        self.server.expect_request(re.compile(r"^/media/.+")).respond_with_handler(self._media)
        return self

    def add_media(self, path: str, content: bytes, content_type: str) -> str:
        """Serve ``content`` at /media/<path> (basic auth required, like Twilio media URLs)."""
        self.media[f"/media/{path}"] = (content, content_type)
        return f"{self.base_url}/media/{path}"

    # --- helpers ----------------------------------------------------------------------
    def _error(self, status: int, code: int | None, message: str, headers: dict[str, str] | None = None) -> Response:
        body = {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status}
        return Response(json.dumps(body), status=status, content_type="application/json", headers=headers or {})

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        expected = "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return header == expected

    def _violation(self, text: str) -> Response:
        with self.lock:
            self.violations.append(text)
        return self._error(400, 21000 + len(self.violations), f"contract violation: {text}")

    # --- handlers ---------------------------------------------------------------------
    def _create_message(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._error(401, 20003, "Authenticate")
        if not request.path.startswith(f"/{API}/Accounts/{self.account_sid}/"):
            return self._violation(f"account sid in path {request.path!r} is not the authenticated account")
        if request.mimetype != "application/x-www-form-urlencoded":
            return self._violation(f"Content-Type {request.mimetype!r} is not form encoded")
        form = {k: request.form.getlist(k) for k in request.form.keys()}
        one = lambda k: (form.get(k) or [None])[0]  # noqa: E731
        if not one("To"):
            return self._violation("To is required")
        if not one("From") and not one("MessagingServiceSid"):
            return self._violation("From or MessagingServiceSid is required")
        if one("Body") is None and not form.get("MediaUrl") and not one("ContentSid"):
            return self._violation("Body, MediaUrl or ContentSid is required")
        limit = 4096 if (one("To") or "").startswith("whatsapp:") else 1600
        body = one("Body") or ""
        if len(body.encode("utf-16-le")) // 2 > limit:
            return self._violation(f"Body is {len(body)} characters, over {limit}")
        if (one("To") or "").startswith("whatsapp:") != (one("From") or "whatsapp:").startswith("whatsapp:"):
            return self._violation("WhatsApp messages need whatsapp: on both To and From")
        cb = one("StatusCallback")
        if cb is not None and not cb.startswith(("http://", "https://")):
            return self._violation(f"StatusCallback {cb!r} is not an absolute URL")
        if len(form.get("MediaUrl", [])) > 10:
            return self._violation("more than 10 MediaUrl")
        with self.lock:
            if self.fail_next:
                status, code, message, headers = self.fail_next.pop(0)
                return self._error(status, code, message, headers)
            sid = ("MM" if form.get("MediaUrl") else "SM") + secrets.token_hex(16)
            self.sent.append(SentMessage(sid=sid, form=form))
        now = format_datetime(datetime.now(UTC), usegmt=True).replace("GMT", "+0000")
        uri = f"/{API}/Accounts/{self.account_sid}/Messages/{sid}.json"
        message = {
            "account_sid": self.account_sid,
            "api_version": API,
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": one("From"),
            "messaging_service_sid": one("MessagingServiceSid"),
            "num_media": str(len(form.get("MediaUrl", []))),
            "num_segments": "1" if not one("MessagingServiceSid") else "0",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "accepted" if one("MessagingServiceSid") and not one("From") else "queued",
            "subresource_uris": {"media": f"/{API}/Accounts/{self.account_sid}/Messages/{sid}/Media.json"},
            "to": one("To"),
            "uri": uri,
        }
        return Response(json.dumps(message), status=201, content_type="application/json")

    def _account(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._error(401, 20003, "Authenticate")
        sid = request.path.rsplit("/", 1)[-1].removesuffix(".json")
        if sid != self.account_sid:
            return self._error(404, 20404, f"The requested resource {request.path} was not found")
        now = "Tue, 18 Aug 2015 16:48:57 +0000"
        account = {
            "auth_token": "redacted",
            "date_created": now,
            "date_updated": now,
            "friendly_name": self.friendly_name,
            "owner_account_sid": sid,
            "sid": sid,
            "status": "active",
            "subresource_uris": {"messages": f"/{API}/Accounts/{sid}/Messages.json"},
            "type": "Full",
            "uri": f"/{API}/Accounts/{sid}.json",
        }
        return Response(json.dumps(account), status=200, content_type="application/json")

    def _numbers(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._error(401, 20003, "Authenticate")
        wanted = request.args.get("PhoneNumber")
        found = [
            {
                "account_sid": self.account_sid,
                "phone_number": number,
                "friendly_name": number,
                "sid": "PN" + secrets.token_hex(16),
                "sms_url": cfg.get("sms_url", ""),
                "sms_method": "POST",
                "voice_url": cfg.get("voice_url", ""),
                "voice_method": "POST",
                "status_callback": cfg.get("status_callback", ""),
                "status_callback_method": "POST",
                "capabilities": {"voice": True, "sms": True, "mms": True, "fax": False},
            }
            for number, cfg in self.numbers.items()
            if wanted in (None, number)
        ]
        page = {
            "end": max(len(found) - 1, 0),
            "first_page_uri": request.full_path,
            "incoming_phone_numbers": found,
            "next_page_uri": None,
            "page": 0,
            "page_size": int(request.args.get("PageSize", 50)),
            "previous_page_uri": None,
            "start": 0,
            "uri": request.full_path,
        }
        return Response(json.dumps(page), status=200, content_type="application/json")

    def _media(self, request: Request) -> Response:
        with self.lock:
            self.media_requests.append({"path": request.path, "authorized": self._authorized(request)})
        if not self._authorized(request):
            return Response("", status=401)
        if request.path in self.redirects:  # Twilio answers media URLs with a redirect to its CDN
            return Response("", status=307, headers={"Location": self.redirects[request.path]})
        item = self.media.get(request.path)
        if item is None:
            return Response("", status=404)
        return Response(item[0], status=200, content_type=item[1])
