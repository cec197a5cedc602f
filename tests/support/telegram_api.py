"""A local Telegram Bot API server for tests: checks each request against the documented
contract (https://core.telegram.org/bots/api) and answers the way the real one does.

Answers are the Bot API's documented objects with the values real bots get: the getMe
``User`` fields, ``Message`` objects for send methods, and the exact error bodies Telegram
returns (``{"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the
user"}``, the 429 ``parameters.retry_after`` form, the 409 getUpdates conflict, ``"Webhook
was set"``), as recorded in the Bot API documentation and its FAQ
(https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this).

Contract violations are collected in ``violations`` (and answered 400): tests assert the
list is empty. ``updates`` is the queue getUpdates serves (long polling honours
``timeout``); ``confirmed`` records the offsets the client confirmed.
"""

from __future__ import annotations

import html.parser
import itertools
import json
import re
import threading
import time
from typing import Any

from werkzeug import Request, Response

from tests.support.components import quick_httpserver

TOKEN = "7311234567:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
BOT = {  # getMe's User (https://core.telegram.org/bots/api#getme)
    "id": 7311234567, "is_bot": True, "first_name": "Acme Support", "username": "acme_support_bot",
    "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False,
    "can_connect_to_business": False, "has_main_web_app": False,
}
ALLOWED_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a", "code", "pre",
                "blockquote", "tg-emoji"}
REQUIRED = {
    "getMe": (), "getWebhookInfo": (), "deleteWebhook": (), "setWebhook": ("url",), "getUpdates": (),
    "sendMessage": ("chat_id", "text"), "sendPhoto": ("chat_id", "photo"), "sendDocument": ("chat_id", "document"),
    "getFile": ("file_id",),
}


class _HtmlCheck(html.parser.HTMLParser):
    """Telegram's HTML parse mode: only the documented tags; text length after parsing."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self.problems.append(f"unsupported start tag {tag!r}")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


class TelegramApi:
    def __init__(self, *, token: str = TOKEN) -> None:
        self.server = quick_httpserver(host="127.0.0.1", port=0, threaded=True)
        self.server.start()
        self.token = token
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.violations: list[str] = []
        self.updates: list[dict[str, Any]] = []
        self.confirmed: list[int] = []
        self.sent: list[dict[str, Any]] = []
        self.files: dict[str, tuple[str, bytes]] = {}  # file_id -> (file_path, bytes)
        self.webhook: dict[str, Any] = {"url": ""}
        self.fail: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self._ids = itertools.count(500)
        self._cond = threading.Condition()
        self._polling = 0
        self.server.expect_request(re.compile(r"^/bot[^/]+/\w+$")).respond_with_handler(self._handle)
        self.server.expect_request(re.compile(r"^/file/bot[^/]+/.+$"), method="GET").respond_with_handler(self._file)

    @property
    def base_url(self) -> str:
        return self.server.url_for("/").rstrip("/")

    def stop(self) -> None:
        with self._cond:
            self._cond.notify_all()
        self.server.clear()
        if self.server.is_running():
            self.server.stop()

    def push(self, *updates: dict[str, Any]) -> None:
        with self._cond:
            self.updates.extend(updates)
            self._cond.notify_all()

    def fail_next(self, method: str, code: int, description: str, **parameters: Any) -> None:
        body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
        if parameters:
            body["parameters"] = parameters
        self.fail.setdefault(method, []).append((code, body))

    def called(self, method: str) -> list[dict[str, Any]]:
        return [args for m, args in self.calls if m == method]

    def add_file(self, file_id: str, path: str, data: bytes) -> None:
        self.files[file_id] = (path, data)

    # --- handlers ------------------------------------------------------------------------
    def _json(self, body: dict[str, Any], status: int = 200) -> Response:
        return Response(json.dumps(body), status=status, content_type="application/json")

    def _violation(self, method: str, problem: str) -> Response:
        self.violations.append(f"{method}: {problem}")
        return self._json({"ok": False, "error_code": 400, "description": f"Bad Request: {problem}"}, 400)

    def _args(self, request: Request) -> dict[str, Any]:
        if request.mimetype == "application/json":
            return dict(request.get_json(silent=True) or {})
        args: dict[str, Any] = {**request.args, **request.form}
        for key, value in list(args.items()):  # multipart: objects are JSON-serialized strings
            if isinstance(value, str) and value[:1] in "{[":
                try:
                    args[key] = json.loads(value)
                except ValueError:
                    pass
        for key, storage in request.files.items():
            args[key] = {"filename": storage.filename, "content_type": storage.mimetype, "data": storage.read()}
        return args

    def _handle(self, request: Request) -> Response:
        _, bot, method = request.path.split("/", 2)
        args = self._args(request)
        self.calls.append((method, args))
        if bot != f"bot{self.token}":
            return self._json({"ok": False, "error_code": 401, "description": "Unauthorized"}, 401)
        if method not in REQUIRED:
            return self._json({"ok": False, "error_code": 404, "description": "Not Found"}, 404)
        if request.method != "POST":
            return self._violation(method, f"HTTP {request.method} (the client always POSTs)")
        missing = [k for k in REQUIRED[method] if args.get(k) in (None, "")]
        if missing:
            return self._violation(method, f"missing {missing}")
        if self.fail.get(method):
            code, body = self.fail[method].pop(0)
            return self._json(body, code)
        return getattr(self, f"_m_{method}")(args)

    def _m_getMe(self, args: dict[str, Any]) -> Response:
        return self._json({"ok": True, "result": BOT})

    def _m_getWebhookInfo(self, args: dict[str, Any]) -> Response:
        return self._json({"ok": True, "result": {"url": self.webhook.get("url", ""), "has_custom_certificate": False,
                                                   "pending_update_count": 0,
                                                   **({"allowed_updates": self.webhook["allowed_updates"]} if self.webhook.get("allowed_updates") else {})}})

    def _m_deleteWebhook(self, args: dict[str, Any]) -> Response:
        self.webhook = {"url": ""}
        return self._json({"ok": True, "result": True, "description": "Webhook was deleted"})

    def _m_setWebhook(self, args: dict[str, Any]) -> Response:
        url = str(args["url"])
        if not url.startswith("https://"):
            return self._json({"ok": False, "error_code": 400, "description": "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"}, 400)
        secret = args.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            return self._violation("setWebhook", "secret_token has characters outside A-Za-z0-9_-")
        if "allowed_updates" in args and not isinstance(args["allowed_updates"], list):
            return self._violation("setWebhook", "allowed_updates must be a JSON array")
        self.webhook = {"url": url, "secret_token": secret, "allowed_updates": args.get("allowed_updates")}
        return self._json({"ok": True, "result": True, "description": "Webhook was set"})

    def _m_getUpdates(self, args: dict[str, Any]) -> Response:
        if self.webhook.get("url"):
            return self._json({"ok": False, "error_code": 409, "description": "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"}, 409)
        offset = args.get("offset")
        timeout = float(args.get("timeout") or 0)
        if offset is not None and not isinstance(offset, int):
            return self._violation("getUpdates", "offset must be an integer")
        if "allowed_updates" in args and not isinstance(args["allowed_updates"], list):
            return self._violation("getUpdates", "allowed_updates must be a JSON array")
        with self._cond:
            if self._polling:
                return self._json({"ok": False, "error_code": 409, "description": "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"}, 409)
            self._polling += 1
            try:
                if offset is not None:
                    # "An update is considered confirmed as soon as getUpdates is called with an
                    # offset higher than its update_id."
                    self.confirmed.append(offset)
                    self.updates = [u for u in self.updates if u["update_id"] >= offset]
                deadline = time.monotonic() + timeout
                while not self.updates and time.monotonic() < deadline and self.server.is_running():
                    self._cond.wait(max(0.0, min(0.2, deadline - time.monotonic())))
                batch = list(self.updates[:100])
            finally:
                self._polling -= 1
        return self._json({"ok": True, "result": batch})

    def _send(self, method: str, args: dict[str, Any], content: dict[str, Any]) -> Response:
        reply = args.get("reply_parameters")
        if reply is not None and not (isinstance(reply, dict) and isinstance(reply.get("message_id"), int)):
            return self._violation(method, "reply_parameters must be a ReplyParameters object with an integer message_id")
        message_id = next(self._ids)
        result = {"message_id": message_id, "from": {k: BOT[k] for k in ("id", "is_bot", "first_name", "username")},
                  "chat": {"id": int(args["chat_id"]), "type": "private" if int(args["chat_id"]) > 0 else "supergroup"},
                  "date": int(time.time()), **content}
        if isinstance(reply, dict):
            result["reply_to_message"] = {"message_id": reply["message_id"]}
        self.sent.append({"method": method, "args": args, "result": result})
        return self._json({"ok": True, "result": result})

    def _m_sendMessage(self, args: dict[str, Any]) -> Response:
        text = str(args["text"])
        shown = text
        if args.get("parse_mode") == "HTML":
            check = _HtmlCheck()
            check.feed(text)
            check.close()
            if check.problems:
                return self._json({"ok": False, "error_code": 400, "description": "Bad Request: can't parse entities: " + check.problems[0]}, 400)
            if re.search(r"&(?!(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);)", text) or re.search(r"<(?![/a-z])", text):
                return self._violation("sendMessage", "HTML text with an unescaped & or <")
            shown = "".join(check.text)
        elif args.get("parse_mode") is not None:
            return self._violation("sendMessage", f"unexpected parse_mode {args.get('parse_mode')!r}")
        if not 1 <= len(shown) <= 4096:
            return self._json({"ok": False, "error_code": 400, "description": "Bad Request: message is too long"}, 400)
        return self._send("sendMessage", args, {"text": shown})

    def _m_sendPhoto(self, args: dict[str, Any]) -> Response:
        photo = args["photo"]
        if not isinstance(photo, dict) or not photo.get("data"):
            return self._violation("sendPhoto", "photo must be a multipart file upload")
        return self._send("sendPhoto", args, {"photo": [{"file_id": f"AgAC{next(self._ids)}", "file_unique_id": "AQAD", "width": 90, "height": 90,
                                                       "file_size": len(photo["data"])}]})

    def _m_sendDocument(self, args: dict[str, Any]) -> Response:
        doc = args["document"]
        if not isinstance(doc, dict) or not doc.get("data"):
            return self._violation("sendDocument", "document must be a multipart file upload")
        return self._send("sendDocument", args, {"document": {"file_id": f"BQAC{next(self._ids)}", "file_unique_id": "AgAD",
                                                             "file_name": doc["filename"], "mime_type": doc["content_type"],
                                                             "file_size": len(doc["data"])}})

    def _m_getFile(self, args: dict[str, Any]) -> Response:
        hit = self.files.get(str(args["file_id"]))
        if hit is None:
            return self._json({"ok": False, "error_code": 400, "description": "Bad Request: invalid file_id"}, 400)
        path, data = hit
        return self._json({"ok": True, "result": {"file_id": args["file_id"], "file_unique_id": "AQADxyz", "file_size": len(data), "file_path": path}})

    def _file(self, request: Request) -> Response:
        prefix = f"/file/bot{self.token}/"
        if not request.path.startswith(prefix):
            return Response("Unauthorized", status=401)
        path = request.path[len(prefix):]
        for fpath, data in self.files.values():
            if fpath == path:
                return Response(data, content_type="application/octet-stream")
        return Response(json.dumps({"ok": False, "error_code": 404, "description": "Not Found"}), status=404)


def user(uid: int = 111222333, first: str = "Marta", last: str = "García", username: str = "marta_g", lang: str = "es") -> dict[str, Any]:
    return {"id": uid, "is_bot": False, "first_name": first, "last_name": last, "username": username, "language_code": lang}


def message_update(update_id: int, message_id: int, text: str | None = None, *, sender: dict[str, Any] | None = None,
                   chat: dict[str, Any] | None = None, edited: bool = False, **fields: Any) -> dict[str, Any]:
    """An Update as Telegram sends it (https://core.telegram.org/bots/api#update), private chat by default."""
    who = sender or user()
    msg: dict[str, Any] = {
        "message_id": message_id, "from": who,
        "chat": chat or {"id": who["id"], "first_name": who["first_name"], "last_name": who.get("last_name", ""),
                         "username": who.get("username", ""), "type": "private"},
        "date": int(time.time()) - 5,
    }
    if text is not None:
        msg["text"] = text
    msg.update(fields)
    if edited:
        msg["edit_date"] = int(time.time())
    return {"update_id": update_id, "edited_message" if edited else "message": msg}
