"""A local Slack Web API for tests: checks each request against the documented contract.

Mounted on a pytest-httpserver. Each method checks the Bearer token, the HTTP method and
its required arguments (https://docs.slack.dev/reference/methods) and answers with a
recorded real response from the corpus where one exists. Contract violations are
collected in ``violations`` (and answered ``{"ok": false}``): tests assert it is empty.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from werkzeug import Request, Response

from tests.support.corpus import CORPUS

GOLDEN = CORPUS / "slack" / "slack-web-haskell" / "tests" / "golden"
TS = re.compile(r"^\d{10}\.\d{6}$")


def golden(rel: str) -> dict[str, Any]:
    return json.loads((GOLDEN / rel).read_text())


# documented example response of auth.test (https://docs.slack.dev/reference/methods/auth.test)
AUTH_TEST = {
    "ok": True,
    "url": "https://subarachnoid.slack.com/",
    "team": "Subarachnoid Workspace",
    "user": "omnihub",
    "team_id": "T043DB835ML",
    "user_id": "U0442US8QGH",
    "bot_id": "B0439P161B9",
}
ALL_SCOPES = (
    "chat:write,chat:write.customize,users:read,users:read.email,channels:read,channels:history,"
    "groups:read,groups:history,im:read,im:history,mpim:read,mpim:history,files:read,files:write,app_mentions:read"
)

# method -> (HTTP verbs Slack accepts, required arguments). Every method takes POST (form or,
# for write methods, JSON); read methods also take GET.
CONTRACT: dict[str, tuple[set[str], tuple[str, ...]]] = {
    "auth.test": ({"POST"}, ()),
    "chat.postMessage": ({"POST"}, ("channel",)),
    "users.info": ({"GET", "POST"}, ("user",)),
    "conversations.list": ({"GET", "POST"}, ()),
    "conversations.info": ({"GET", "POST"}, ("channel",)),
    "files.info": ({"GET", "POST"}, ("file",)),
    "files.getUploadURLExternal": ({"POST"}, ("filename", "length")),
    "files.completeUploadExternal": ({"POST"}, ("files",)),
    "apps.connections.open": ({"POST"}, ()),
}


class SlackApi:
    def __init__(self, httpserver, *, bot_token: str = "xoxb-test-token", app_token: str = "xapp-test-token") -> None:
        self.server = httpserver
        self.bot_token = bot_token
        self.app_token = app_token
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.violations: list[str] = []
        self.uploads: dict[str, bytes] = {}
        self.scopes = ALL_SCOPES
        self.socket_url: str | None = None
        self._overrides: dict[str, list[Callable[[dict], Response]]] = {}
        self._ts = itertools.count(1)
        self._file_ids = itertools.count(1)
        self.files: dict[str, dict[str, Any]] = {}
        for method in CONTRACT:
            httpserver.expect_request(f"/api/{method}").respond_with_handler(self._handler(method))
        httpserver.expect_request(re.compile(r"^/upload/v1/.+$"), method="POST").respond_with_handler(self._upload)

    @property
    def base_url(self) -> str:
        return self.server.url_for("/api/")

    def fail_next(self, method: str, status: int = 200, body: dict | None = None, headers: dict | None = None) -> None:
        """Answer the next call of method with this response (e.g. an error)."""
        payload = json.dumps(body or {"ok": False, "error": "fatal_error"})
        self._overrides.setdefault(method, []).append(
            lambda _args: Response(payload, status=status, headers=headers or {}, content_type="application/json")
        )

    def called(self, method: str) -> list[dict[str, Any]]:
        return [args for m, args in self.calls if m == method]

    # --- handlers ----------------------------------------------------------------------
    def _violation(self, method: str, problem: str) -> Response:
        self.violations.append(f"{method}: {problem}")
        return Response(json.dumps({"ok": False, "error": "invalid_arguments", "detail": problem}), content_type="application/json")

    def _args(self, request: Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.args)
        if request.mimetype == "application/json":
            args.update(request.get_json(silent=True) or {})
        else:
            args.update(request.form)
        return args

    def _handler(self, method: str) -> Callable[[Request], Response]:
        verbs, required = CONTRACT[method]

        def handle(request: Request) -> Response:
            args = self._args(request)
            self.calls.append((method, args))
            if request.method not in verbs:
                return self._violation(method, f"HTTP {request.method}, documented {sorted(verbs)}")
            token = self.app_token if method == "apps.connections.open" else self.bot_token
            if request.headers.get("Authorization") != f"Bearer {token}":
                return Response(json.dumps({"ok": False, "error": "invalid_auth"}), content_type="application/json")
            missing = [a for a in required if not args.get(a)]
            if missing:
                return self._violation(method, f"missing {missing}")
            if self._overrides.get(method):
                return self._overrides[method].pop(0)(args)
            return getattr(self, "_" + method.replace(".", "_"))(args)

        return handle

    def _json(self, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
        return Response(json.dumps(body), content_type="application/json; charset=utf-8", headers=headers or {})

    def _auth_test(self, args):
        return self._json(AUTH_TEST, {"x-oauth-scopes": self.scopes, "x-accepted-oauth-scopes": ""})

    def _chat_postMessage(self, args):
        if not (args.get("text") or args.get("blocks") or args.get("attachments")):
            return self._violation("chat.postMessage", "one of text, blocks, attachments is required")
        if args.get("thread_ts") and not TS.match(str(args["thread_ts"])):
            return self._violation("chat.postMessage", f"thread_ts {args['thread_ts']!r} is not a message ts")
        body = golden("UpdateRsp/actual.json")  # a real chat.* write response: ok, channel, ts, message
        ts = f"17000000{next(self._ts):02d}.000100"
        body.update(channel=args["channel"], ts=ts)
        body["message"].update(text=args["text"], ts=ts)
        body["message"].pop("edited", None)
        if args.get("thread_ts"):
            body["message"]["thread_ts"] = args["thread_ts"]
        if args.get("username"):
            body["message"]["username"] = args["username"]
        return self._json(body)

    def _users_info(self, args):
        members = {m["id"]: m for m in golden("ListRsp/with_bots.json")["members"]}
        if args["user"] not in members:
            return self._json({"ok": False, "error": "user_not_found"})
        return self._json({"ok": True, "user": members[args["user"]]})

    def _conversations_list(self, args):
        general = golden("InfoRsp/general.json")["channel"]
        shared = golden("Conversation/shared_channel.json")
        return self._json({"ok": True, "channels": [general, shared], "response_metadata": {"next_cursor": ""}})

    def _conversations_info(self, args):
        return self._json(golden("InfoRsp/general.json"))

    def _files_info(self, args):
        if args["file"] in self.files:
            return self._json({"ok": True, "file": self.files[args["file"]]})
        return self._json({"ok": True, "file": golden("FileObject/real.json")})

    def _files_getUploadURLExternal(self, args):
        if not str(args["length"]).isdigit():
            return self._violation("files.getUploadURLExternal", "length must be an integer")
        file_id = f"F0UPLOAD{next(self._file_ids):03d}"
        self.files[file_id] = {"id": file_id, "name": args["filename"], "size": int(args["length"])}
        return self._json({"ok": True, "upload_url": self.server.url_for(f"/upload/v1/{file_id}"), "file_id": file_id})

    def _upload(self, request: Request) -> Response:
        file_id = request.path.rsplit("/", 1)[1]
        self.uploads[file_id] = request.get_data()
        if file_id not in self.files or len(self.uploads[file_id]) != self.files[file_id]["size"]:
            self.violations.append(f"upload {file_id}: length differs from files.getUploadURLExternal")
        return Response("OK - " + str(len(self.uploads[file_id])), content_type="text/plain")

    def _files_completeUploadExternal(self, args):
        files = json.loads(args["files"])
        missing = [f.get("id") for f in files if f.get("id") not in self.uploads]
        if missing:
            return self._violation("files.completeUploadExternal", f"files never uploaded: {missing}")
        if args.get("thread_ts") and not args.get("channel_id"):
            return self._violation("files.completeUploadExternal", "thread_ts needs channel_id")
        out = [{**self.files[f["id"]], "title": f.get("title")} for f in files]
        return self._json({"ok": True, "files": out})

    def _apps_connections_open(self, args):
        if not self.socket_url:
            return self._json({"ok": False, "error": "no socket server in this test"})
        # each call issues a new single-use URL, as Slack does
        n = len(self.called("apps.connections.open"))
        return self._json({"ok": True, "url": f"{self.socket_url}&n={n}"})


def corpus_path(rel: str) -> Path:
    return GOLDEN / rel
