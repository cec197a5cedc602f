"""A local Discord for tests: a Gateway (websocket) and a REST API that check the documented
contract and answer the way Discord does.

Gateway (https://discord.com/developers/docs/events/gateway): HELLO with a heartbeat
interval, then IDENTIFY (token, intents, properties) or RESUME (token, session_id, seq);
READY with session_id and resume_gateway_url; heartbeats answered with HEARTBEAT_ACK;
``dispatch()`` sends numbered events; ``reconnect()`` sends op 7 RECONNECT and, on RESUME,
replays every event after the client's seq, then RESUMED.

REST (https://discord.com/developers/docs/reference): ``Authorization: Bot <token>`` on
every route but interaction webhooks; create message with ``content`` of at most 2,000
characters or files as multipart (``payload_json`` + ``files[n]``); the rate-limit headers
(X-RateLimit-Limit / Remaining / Reset-After / Bucket) on every answer and ``fail_next``
for a 429 with Discord's body ``{"message": "You are being rate limited.", "retry_after":
…, "global": false}``. Objects are shaped as the documentation's examples.

Violations of the contract go to ``violations`` (tests assert it stays empty).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from typing import Any

from pytest_httpserver import HTTPServer
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve
from werkzeug import Request, Response

TOKEN = "MTE4NzY1NDMyMTA5ODc2NTQzMg.GhJkLm.contract-test-token-0123456789abcdef"
BOT_USER = {"id": "1187654321098765432", "username": "acme-support", "global_name": None, "discriminator": "0",
            "avatar": None, "bot": True}
APP_ID = "1187654321098765432"
GUILD = "1098765432109876543"
SUPPORT_CHANNEL = "1123456789012345678"
MESSAGE_CONTENT_FLAG = 1 << 18
REQUIRED_INTENTS = (1 << 9) | (1 << 12) | (1 << 15)


def snowflake(n: int) -> str:
    return str(1200000000000000000 + n)


class Gateway:
    def __init__(self, *, token: str = TOKEN, heartbeat_ms: int = 600) -> None:
        self.token = token
        self.heartbeat_ms = heartbeat_ms
        self.violations: list[str] = []
        self.identifies: list[dict[str, Any]] = []
        self.resumes: list[dict[str, Any]] = []
        self.heartbeats = 0
        self.sent: list[dict[str, Any]] = []  # every dispatch with its seq (replayed on RESUME)
        self.session_id = "c0ffee" * 5 + "42"
        self._seq = 0
        self._conns: list[ServerConnection] = []
        self._lock = threading.Lock()
        self.server = serve(self._handler, "127.0.0.1", 0)
        self.port = self.server.socket.getsockname()[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self._thread.join(5)

    def dispatch(self, t: str, d: dict[str, Any], *, deliver: bool = True) -> int:
        """Send an event; ``deliver=False``: it is numbered but lost on the way (only a RESUME
        replays it)."""
        with self._lock:
            self._seq += 1
            event = {"op": 0, "t": t, "s": self._seq, "d": d}
            self.sent.append(event)
            conns = list(self._conns) if deliver else []
        for ws in conns:
            try:
                ws.send(json.dumps(event))
            except ConnectionClosed:
                pass
        return self._seq

    def reconnect(self) -> None:
        """op 7: the client must reconnect and RESUME."""
        for ws in list(self._conns):
            try:
                ws.send(json.dumps({"op": 7, "d": None}))
            except ConnectionClosed:
                pass

    @property
    def connected(self) -> int:
        return len(self._conns)

    def _handler(self, ws: ServerConnection) -> None:
        path = ws.request.path if ws.request else ""
        if "v=10" not in path or "encoding=json" not in path:
            self.violations.append(f"gateway: connected without ?v=10&encoding=json ({path})")
        ws.send(json.dumps({"op": 10, "d": {"heartbeat_interval": self.heartbeat_ms}}))
        try:
            first = json.loads(ws.recv(timeout=10))
        except (TimeoutError, ConnectionClosed):
            return
        if first.get("op") == 2:
            d = first.get("d") or {}
            self.identifies.append(d)
            if d.get("token") != self.token:
                ws.close(4004, "Authentication failed.")
                return
            if (int(d.get("intents") or 0) & REQUIRED_INTENTS) != REQUIRED_INTENTS:
                self.violations.append(f"gateway: IDENTIFY intents {d.get('intents')} lack GUILD_MESSAGES/DIRECT_MESSAGES/MESSAGE_CONTENT")
            if not isinstance(d.get("properties"), dict) or not {"os", "browser", "device"} <= set(d["properties"]):
                self.violations.append("gateway: IDENTIFY without properties os/browser/device")
            with self._lock:
                self._seq += 1
                ready = {"op": 0, "t": "READY", "s": self._seq, "d": {
                    "v": 10, "user": BOT_USER, "guilds": [{"id": GUILD, "unavailable": True}], "session_id": self.session_id,
                    "resume_gateway_url": self.url, "application": {"id": APP_ID, "flags": MESSAGE_CONTENT_FLAG}}}
                self.sent.append(ready)
                ws.send(json.dumps(ready))
                self._conns.append(ws)
        elif first.get("op") == 6:
            d = first.get("d") or {}
            self.resumes.append(d)
            if d.get("token") != self.token or d.get("session_id") != self.session_id or not isinstance(d.get("seq"), int):
                self.violations.append(f"gateway: bad RESUME {d}")
                ws.send(json.dumps({"op": 9, "d": False}))
                return
            with self._lock:
                for event in self.sent:
                    if event["s"] > d["seq"]:
                        ws.send(json.dumps(event))
                self._seq += 1
                resumed = {"op": 0, "t": "RESUMED", "s": self._seq, "d": {}}
                self.sent.append(resumed)
                ws.send(json.dumps(resumed))
                self._conns.append(ws)
        else:
            self.violations.append(f"gateway: first message was op {first.get('op')}, not IDENTIFY or RESUME")
            ws.close(4003, "Not authenticated.")
            return
        try:
            for raw in ws:
                msg = json.loads(raw)
                if msg.get("op") == 1:
                    self.heartbeats += 1
                    ws.send(json.dumps({"op": 11}))
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                if ws in self._conns:
                    self._conns.remove(ws)


class DiscordRest:
    def __init__(self, gateway_url: str, *, token: str = TOKEN) -> None:
        self.server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
        self.server.start()
        self.token = token
        self.gateway_url = gateway_url
        self.calls: list[tuple[str, str, Any]] = []
        self.violations: list[str] = []
        self.messages: list[dict[str, Any]] = []
        self.files: dict[str, bytes] = {}
        self.fail: dict[str, list[tuple[int, dict[str, Any], dict[str, str]]]] = {}
        self.channels: dict[str, dict[str, Any]] = {
            SUPPORT_CHANNEL: {"id": SUPPORT_CHANNEL, "type": 0, "guild_id": GUILD, "name": "support", "parent_id": None},
        }
        self.app_flags = MESSAGE_CONTENT_FLAG
        self._ids = itertools.count(900)
        self.server.expect_request(re.compile(r"^/api/v10/.*$")).respond_with_handler(self._handle)
        self.server.expect_request(re.compile(r"^/attachments/.*$"), method="GET").respond_with_handler(self._cdn)

    @property
    def base_url(self) -> str:
        return self.server.url_for("/api/v10")

    def stop(self) -> None:
        self.server.clear()
        if self.server.is_running():
            self.server.stop()

    def add_file(self, name: str, data: bytes) -> str:
        self.files[name] = data
        return self.server.url_for(f"/attachments/{SUPPORT_CHANNEL}/1/{name}") + "?ex=6790&is=678f&hm=abc"

    def fail_next(self, route: str, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        self.fail.setdefault(route, []).append((status, body, headers or {}))

    def called(self, method: str, pattern: str) -> list[Any]:
        return [body for m, p, body in self.calls if m == method and re.fullmatch(pattern, p)]

    def _json(self, body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        hdrs = {"X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "4", "X-RateLimit-Reset-After": "1.0",
                "X-RateLimit-Bucket": "abcd1234", **(headers or {})}
        if status == 204:
            return Response(status=204, headers=hdrs)
        return Response(json.dumps(body), status=status, headers=hdrs, content_type="application/json")

    def _violation(self, problem: str) -> Response:
        self.violations.append(problem)
        return self._json({"message": problem, "code": 50035}, 400)

    def _body(self, request: Request) -> Any:
        if request.mimetype == "multipart/form-data":
            payload = json.loads(request.form.get("payload_json") or "{}")
            payload["_files"] = {k: (f.filename, f.read()) for k, f in request.files.items()}
            return payload
        return request.get_json(silent=True)

    def _cdn(self, request: Request) -> Response:
        name = request.path.rsplit("/", 1)[-1]
        if name not in self.files:
            return Response("not found", status=404)
        if request.headers.get("Authorization"):
            self.violations.append("cdn: a token was sent to the CDN")
        return Response(self.files[name], content_type="image/png")

    def _handle(self, request: Request) -> Response:
        path = request.path[len("/api/v10"):]
        body = self._body(request)
        self.calls.append((request.method, path, body))
        webhook = path.startswith("/webhooks/")
        if not webhook and request.headers.get("Authorization") != f"Bot {self.token}":
            return self._json({"message": "401: Unauthorized", "code": 0}, 401)
        if not request.headers.get("User-Agent", "").startswith("DiscordBot ("):
            self.violations.append(f"{path}: User-Agent must be 'DiscordBot ($url, $version)'")
        route = f"{request.method} {re.sub(r'/[0-9]{15,21}', '/:id', path)}"
        if self.fail.get(route):
            status, fbody, headers = self.fail[route].pop(0)
            return self._json(fbody, status, headers)
        m = request.method
        if m == "GET" and path == "/gateway/bot":
            return self._json({"url": self.gateway_url, "shards": 1, "session_start_limit": {
                "total": 1000, "remaining": 999, "reset_after": 14400000, "max_concurrency": 1}})
        if m == "GET" and path == "/users/@me":
            return self._json(BOT_USER)
        if m == "GET" and path == "/applications/@me":
            return self._json({"id": APP_ID, "name": "Acme Support", "flags": self.app_flags, "bot_public": False})
        if m == "GET" and (hit := re.fullmatch(r"/channels/(\d+)", path)):
            ch = self.channels.get(hit.group(1))
            return self._json(ch) if ch else self._json({"message": "Unknown Channel", "code": 10003}, 404)
        if m == "POST" and (hit := re.fullmatch(r"/channels/(\d+)/messages", path)):
            return self._create_message(hit.group(1), body)
        if m == "POST" and (hit := re.fullmatch(r"/channels/(\d+)/threads", path)):
            if not isinstance(body, dict) or not body.get("name") or len(body["name"]) > 100:
                return self._violation("start thread: name of 1-100 characters required")
            tid = snowflake(next(self._ids))
            thread = {"id": tid, "type": body.get("type", 11), "guild_id": GUILD, "parent_id": hit.group(1), "name": body["name"],
                      "thread_metadata": {"archived": False, "auto_archive_duration": body.get("auto_archive_duration", 4320),
                                          "locked": False, "invitable": body.get("invitable", True)}}
            self.channels[tid] = thread
            return self._json(thread, 201)
        if m == "PUT" and re.fullmatch(r"/channels/\d+/thread-members/\d+", path):
            return self._json(None, 204)
        if m == "PATCH" and re.fullmatch(rf"/webhooks/{APP_ID}/[\w.-]+/messages/@original", path):
            return self._json({"id": snowflake(next(self._ids)), "content": (body or {}).get("content")})
        if m == "POST" and re.fullmatch(rf"/applications/{APP_ID}/guilds/\d+/commands", path):
            if not isinstance(body, dict) or not re.fullmatch(r"[-_\w]{1,32}", str(body.get("name"))) or not body.get("description"):
                return self._violation("create command: name (1-32 lower-case) and description required")
            return self._json({"id": snowflake(next(self._ids)), "application_id": APP_ID, **body}, 201)
        return self._json({"message": "404: Not Found", "code": 0}, 404)

    def _create_message(self, channel: str, body: Any) -> Response:
        if not isinstance(body, dict):
            return self._violation("create message: no JSON body")
        content = body.get("content") or ""
        files = body.pop("_files", {})
        if len(content) > 2000:
            return self._json({"message": "Invalid Form Body", "code": 50035,
                               "errors": {"content": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}]}}}, 400)
        if not content and not files:
            return self._json({"message": "Cannot send an empty message", "code": 50006}, 400)
        if files and [a.get("id") for a in body.get("attachments") or ()] != list(range(len(files))):
            return self._violation("create message: attachments[].id must match files[n]")
        if body.get("allowed_mentions") is None:
            self.violations.append("create message without allowed_mentions (a reply could ping @everyone)")
        msg = {"id": snowflake(next(self._ids)), "channel_id": channel, "author": BOT_USER, "content": content,
               "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00", time.gmtime()), "type": 19 if body.get("message_reference") else 0,
               "attachments": [{"id": snowflake(next(self._ids)), "filename": f[0], "size": len(f[1])} for f in files.values()]}
        if body.get("message_reference"):
            msg["message_reference"] = {"message_id": body["message_reference"].get("message_id"), "channel_id": channel}
        self.messages.append({"channel": channel, "body": body, "files": files, "result": msg})
        return self._json(msg)


def user(n: int = 1, name: str = "satoshi_fan", global_name: str = "Sato") -> dict[str, Any]:
    return {"id": snowflake(500 + n), "username": name, "global_name": global_name, "discriminator": "0", "avatar": None}


def message(mid: int, channel_id: str, content: str, *, author: dict[str, Any] | None = None, guild_id: str | None = None,
            **fields: Any) -> dict[str, Any]:
    """A MESSAGE_CREATE payload as the Gateway sends it (a Message object plus guild_id/member)."""
    d: dict[str, Any] = {"id": snowflake(mid), "channel_id": channel_id, "author": author or user(), "content": content,
                         "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00", time.gmtime()), "edited_timestamp": None,
                         "tts": False, "mention_everyone": False, "mentions": [], "mention_roles": [], "attachments": [],
                         "embeds": [], "pinned": False, "type": 0}
    if guild_id:
        d["guild_id"] = guild_id
        d["member"] = {"nick": None, "roles": [], "joined_at": "2024-01-01T00:00:00.000000+00:00"}
    d.update(fields)
    return d
