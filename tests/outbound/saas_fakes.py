"""Local stand-ins for the SaaS helpdesk APIs, served by pytest-httpserver.

Each one CHECKS every request against the vendor's documented contract (method, path,
auth scheme, required fields; a violation is recorded and answered 400, and the test's
teardown fails on it) and answers with the recorded responses from the shared corpus
(python-freshdesk, zammad_py, the documented Chatwoot/Help Scout examples) or bodies shaped
exactly like the vendor's documentation, with ids assigned as the real service would.

``fail(status, when="before"|"after", headers=...)`` makes the next write answer an error,
either without doing it ("before") or after doing it ("after": the ticket exists but the
client never saw the answer) — the two halves of a retry storm.
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import re
import threading
from collections.abc import Callable
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response
from werkzeug.serving import WSGIRequestHandler, make_server

from hub import signing
from hub.errors import SignatureInvalid
from tests.outbound.saas_support import load_json

MARK = re.compile(r"omnihub-message-(\d+)(?!\d)")


class ContractError(AssertionError):
    pass


def need(cond: Any, msg: str) -> None:
    if not cond:
        raise ContractError(msg)


TAG = re.compile(r"[a-z0-9_:.-]{1,80}")


def tags_ok(tags: Any, who: str) -> None:
    """Tags as the helpdesks keep them: a list of short lower-case strings without spaces
    (they lower-case and split on spaces otherwise, so an entity value would be mangled)."""
    need(isinstance(tags, list) and all(isinstance(t, str) and TAG.fullmatch(t) for t in tags),
         f"{who} must be a list of lower-case tags without spaces, got {tags!r}")


def jresp(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(data), status=status, headers=headers or {}, content_type="application/json")


class FakeVendor:
    """Catch-all handler on one httpserver; subclasses implement ``route``."""

    name = ""
    writes = ("POST", "PUT")

    def __init__(self, httpserver: Any) -> None:
        self.server = httpserver
        self.base_url = httpserver.url_for("").rstrip("/")
        self.log: list[tuple[str, str]] = []
        self.bodies: list[bytes] = []
        self.violations: list[str] = []
        self.plan: list[tuple[int, str, dict[str, str]]] = []
        self.ids = itertools.count(1001)
        self.tickets: dict[str, dict[str, Any]] = {}
        self.comments: dict[str, list[dict[str, Any]]] = {}
        self.uploads: list[tuple[str, bytes]] = []
        self.deleted: dict[str, dict[str, Any]] = {}  # deleted tickets (a vendor's trash)
        self.purged: list[str] = []  # permanently deleted ids
        #: called with each write request once it is done, before the answer goes back (a test
        #: makes something happen while the caller waits for the answer)
        self.after_write: Any = None
        httpserver.expect_request(re.compile(".*")).respond_with_handler(self._handle)

    # --- test controls -----------------------------------------------------------------
    def fail(self, status: int, when: str = "before", headers: dict[str, str] | None = None) -> None:
        self.plan.append((status, when, headers or {}))

    def comment_count(self, message_id: int) -> int:
        """How many comments/articles/threads/messages carry this omnihub message id."""
        return sum(1 for cs in self.comments.values() for c in cs if str(message_id) in self.marks(c))

    def marks(self, comment: dict[str, Any]) -> set[str]:
        return set(MARK.findall(json.dumps(comment)))

    # --- plumbing ----------------------------------------------------------------------
    def _handle(self, request: Request) -> Response:
        self.log.append((request.method, request.path))
        self.bodies.append(request.get_data())
        planned = self.plan.pop(0) if self.plan and request.method in self.writes and not self.exempt(request) else None
        if planned and planned[1] == "before":
            return jresp({"error": "planned failure"}, planned[0], planned[2])
        try:
            auth = self.check_auth(request)
            if auth is not None:
                return auth
            resp = self.route(request)
        except ContractError as exc:
            self.violations.append(f"{request.method} {request.path}: {exc}")
            return jresp({"error": f"contract violation: {exc}"}, 400)
        if planned:
            return jresp({"error": "planned failure after the write"}, planned[0], planned[2])
        if self.after_write is not None and request.method in self.writes:
            self.after_write(request)
        return resp

    def exempt(self, request: Request) -> bool:
        return False

    def check_auth(self, request: Request) -> Response | None:
        raise NotImplementedError

    def route(self, request: Request) -> Response:
        raise NotImplementedError

    @staticmethod
    def body(request: Request) -> dict[str, Any]:
        need("application/json" in (request.content_type or ""), f"Content-Type must be application/json, got {request.content_type!r}")
        try:
            data = json.loads(request.get_data())
        except ValueError:
            raise ContractError("body is not JSON") from None
        need(isinstance(data, dict), "body must be a JSON object")
        return data

    @staticmethod
    def basic(request: Request) -> tuple[str, str] | None:
        h = request.headers.get("Authorization", "")
        if not h.startswith("Basic "):
            return None
        user, _, pw = base64.b64decode(h[6:]).decode().partition(":")
        return user, pw


# ----------------------------------------------------------------------------------------
class FakeZendesk(FakeVendor):
    """https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/"""

    name = "zendesk"
    EMAIL, TOKEN = "agent@example.com", "zd-api-token"
    writes = ("POST", "PUT", "DELETE")

    def __init__(self, httpserver: Any) -> None:
        super().__init__(httpserver)
        self.users: dict[str, dict[str, Any]] = {}
        self.idempotency: dict[str, tuple[bytes, dict[str, Any]]] = {}
        self.hide_from_lookup = 0  # answer this many external_id lookups with nothing (a race)

    def check_auth(self, request: Request) -> Response | None:
        if self.basic(request) != (f"{self.EMAIL}/token", self.TOKEN):
            return jresp({"error": "Couldn't authenticate you"}, 401)
        return None

    def _audit(self, ticket_id: str, comment: dict[str, Any]) -> dict[str, Any]:
        return {"id": next(self.ids), "ticket_id": int(ticket_id), "events": [{"type": "Comment", **comment}]}

    def _comment(self, ticket: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
        need(isinstance(spec.get("body"), str) and spec["body"], "comment.body is required")
        for token in spec.get("uploads") or []:
            need(any(t == token for t, _ in self.uploads), f"unknown upload token {token}")
        c = {
            "id": next(self.ids),
            "body": spec["body"],
            "public": spec.get("public", True),
            "author_id": spec.get("author_id", 9000),
            "attachments": [{"token": t} for t in spec.get("uploads") or []],
        }
        self.comments.setdefault(str(ticket["id"]), []).append(c)
        return c

    def route(self, request: Request) -> Response:
        m, p = request.method, request.path
        if m == "GET" and p == "/api/v2/users/me.json":
            return jresp({"user": {"id": 9000, "name": "API Agent", "role": "admin", "email": self.EMAIL}})
        if m == "GET" and p == "/api/v2/tickets.json":
            ext = request.args.get("external_id")
            need(ext, "list tickets filter: external_id")
            found = [t for t in self.tickets.values() if t["external_id"] == ext]
            if self.hide_from_lookup:
                self.hide_from_lookup, found = self.hide_from_lookup - 1, []
            return jresp({"tickets": found, "next_page": None, "previous_page": None, "count": len(found)})
        if m == "POST" and p == "/api/v2/tickets.json":
            key = request.headers.get("Idempotency-Key")
            raw = request.get_data()
            if key and key in self.idempotency:
                need(self.idempotency[key][0] == raw, "Idempotency-Key reused with a different payload")
                return jresp(self.idempotency[key][1], 201, {"x-idempotency-lookup": "hit"})
            spec = self.body(request).get("ticket")
            need(isinstance(spec, dict), "body must be {\"ticket\": {...}}")
            need(spec.get("comment"), "ticket.comment is required on create")
            req = spec.get("requester")
            need(req or spec.get("requester_id"), "requester or requester_id is required")
            if req:
                need(req.get("email") or req.get("name"), "requester needs email or name")
            if "tags" in spec:
                tags_ok(spec["tags"], "ticket.tags")
            need(spec.get("priority") in (None, "low", "normal", "high", "urgent"), "priority is low, normal, high or urgent")
            if spec.get("via_followup_source_id") is not None:
                src = self.tickets.get(str(spec["via_followup_source_id"]))
                need(src and src["status"] == "closed", "via_followup_source_id must name a closed ticket")
            uid = spec.get("requester_id") or self._user(req.get("email"), req.get("name"))["id"]
            tid = str(next(self.ids))
            ticket = {
                "id": int(tid),
                "url": f"{self.base_url}/api/v2/tickets/{tid}.json",
                "external_id": spec.get("external_id"),
                "subject": spec.get("subject"),
                "status": "new",
                "requester_id": uid,
                "tags": spec.get("tags", []),
                "custom_fields": spec.get("custom_fields", []),
                "group_id": spec.get("group_id"),
                "priority": spec.get("priority"),
            }
            self.tickets[tid] = ticket
            c = self._comment(ticket, {**spec["comment"], "author_id": uid})
            out = {"ticket": ticket, "audit": self._audit(tid, c)}
            if key:
                self.idempotency[key] = (raw, out)
            return jresp(out, 201)
        md = re.fullmatch(r"/api/v2/deleted_tickets/(\d+)(?:\.json)?", p)
        if md and m == "DELETE":
            # https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#delete-ticket-permanently
            need(not request.get_data(), "DELETE takes no body")
            if md[1] not in self.deleted:  # only a soft-deleted ticket can be deleted permanently
                return jresp({"error": "RecordNotFound", "description": "Not found"}, 404)
            del self.deleted[md[1]]
            self.comments.pop(md[1], None)
            self.purged.append(md[1])
            return jresp({"job_status": {"id": f"job{next(self.ids)}", "status": "queued", "url": f"{self.base_url}/api/v2/job_statuses/x.json"}})
        mt = re.fullmatch(r"/api/v2/tickets/(\d+)\.json", p)
        if mt:
            ticket = self.tickets.get(mt[1])
            if not ticket:
                return jresp({"error": "RecordNotFound", "description": "Not found"}, 404)
            if m == "GET":
                return jresp({"ticket": ticket})
            if m == "DELETE":
                # https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#delete-ticket: 204, restorable
                need(not request.get_data(), "DELETE takes no body")
                self.deleted[mt[1]] = self.tickets.pop(mt[1])
                return Response(status=204)
            if m == "PUT":
                if ticket["status"] == "closed":  # what Zendesk answers for a closed ticket
                    return jresp({"error": "RecordInvalid", "description": "Record validation errors",
                                  "details": {"status": [{"description": "Status: closed prevents ticket update"}]}}, 422)
                spec = self.body(request).get("ticket")
                need(isinstance(spec, dict) and spec.get("comment"), "PUT needs {\"ticket\": {\"comment\": {...}}}")
                known = {"comment", "tags", "additional_tags", "remove_tags", "priority", "status"}
                need(set(spec) <= known, f"unknown ticket field(s) {sorted(set(spec) - known)}")
                for k in ("tags", "additional_tags", "remove_tags"):
                    if k in spec:
                        tags_ok(spec[k], f"ticket.{k}")
                need(spec.get("priority") in (None, "low", "normal", "high", "urgent"), "priority is low, normal, high or urgent")
                if "tags" in spec:
                    ticket["tags"] = list(spec["tags"])
                ticket["tags"] = sorted((set(ticket["tags"]) | set(spec.get("additional_tags", []))) - set(spec.get("remove_tags", [])))
                if spec.get("priority"):
                    ticket["priority"] = spec["priority"]
                c = self._comment(ticket, spec["comment"])
                return jresp({"ticket": ticket, "audit": self._audit(mt[1], c)})
        mc = re.fullmatch(r"/api/v2/tickets/(\d+)/comments\.json", p)
        if mc and m == "GET":
            cs = list(self.comments.get(mc[1], []))
            if request.args.get("sort_order") == "desc":
                cs.reverse()
            return jresp({"comments": cs, "next_page": None, "previous_page": None, "count": len(cs)})
        if m == "POST" and p == "/api/v2/uploads.json":
            need(request.args.get("filename"), "uploads need ?filename=")
            need("json" not in (request.content_type or ""), "upload body is the raw file with its own Content-Type")
            token = f"tok{next(self.ids)}"
            self.uploads.append((token, request.get_data()))
            return jresp({"upload": {"token": token, "attachment": {"file_name": request.args["filename"]}}}, 201)
        if m == "POST" and p == "/api/v2/users/create_or_update.json":
            spec = self.body(request).get("user") or {}
            need(spec.get("name"), "user.name is required")
            need(spec.get("external_id") or spec.get("email"), "create_or_update matches on external_id or email")
            existing = self.users.get(spec["external_id"])
            user = existing or {"id": next(self.ids), **spec}
            self.users[spec["external_id"]] = user
            return jresp({"user": user}, 200 if existing else 201)
        raise ContractError("no such endpoint in the Zendesk API")

    def _user(self, email: str | None, name: str | None) -> dict[str, Any]:
        key = email or name or ""
        if key not in self.users:
            self.users[key] = {"id": next(self.ids), "email": email, "name": name}
        return self.users[key]


# ----------------------------------------------------------------------------------------
FD = "helpdesk/python-freshdesk/freshdesk/v2/tests/sample_json_data/"


class FakeFreshdesk(FakeVendor):
    """https://developers.freshdesk.com/api/ (v2); bodies from python-freshdesk's recordings."""

    name = "freshdesk"
    KEY = "fd-api-key"

    def __init__(self, httpserver: Any) -> None:
        super().__init__(httpserver)
        self.ticket_tpl = load_json(FD + "ticket_1.json")
        self.note_tpl = load_json(FD + "note_1.json")
        self.reply_tpl = load_json(FD + "reply_1.json")

    def check_auth(self, request: Request) -> Response | None:
        if self.basic(request) != (self.KEY, "X"):
            return jresp({"code": "invalid_credentials", "message": "You have to be logged in to perform this action."}, 401)
        return None

    def _payload(self, request: Request) -> tuple[dict[str, Any], list[tuple[str, bytes]]]:
        if (request.content_type or "").startswith("multipart/form-data"):
            form: dict[str, Any] = {}
            for key in request.form:
                vals = request.form.getlist(key)
                if key.endswith("[]"):
                    form[key[:-2]] = vals
                elif "[" in key:
                    outer, inner = key[:-1].split("[", 1)
                    form.setdefault(outer, {})[inner] = vals[0]
                else:
                    form[key] = vals[0]
            for k in ("status", "priority", "source", "user_id", "group_id"):
                if k in form:
                    form[k] = int(form[k])
            for k in ("private", "incoming"):
                if k in form:
                    form[k] = form[k] == "true"
            files = [(f.filename, f.read()) for f in request.files.getlist("attachments[]")]
            need(files, "multipart without attachments[]")
            return form, files
        return self.body(request), []

    def route(self, request: Request) -> Response:
        m, p = request.method, request.path
        if m == "GET" and p == "/api/v2/agents/me":
            return jresp({"id": 1, "contact": {"name": "Rachel", "email": "rachel@freshdesk.com"}})
        if m == "GET" and p == "/api/v2/tickets":
            # documented filters: filter, requester_id, email, company_id, updated_since (+ order_*, include, paging)
            known = {"filter", "requester_id", "email", "company_id", "updated_since", "order_by", "order_type", "include", "page", "per_page"}
            need(set(request.args) <= known, f"unknown list parameter(s) {sorted(set(request.args) - known)}")
            need(int(request.args.get("per_page", 30)) <= 100, "per_page is at most 100")
            email = request.args.get("email")
            out = [t for t in self.tickets.values() if email and t["_requester"] == email]
            return jresp([{k: v for k, v in t.items() if not k.startswith("_")} for t in out])
        if m == "GET" and p == "/api/v2/search/tickets":
            q = request.args.get("query", "")
            mq = re.fullmatch(r"\"tag:'([^']+)'\"", q)
            need(mq, "search query must be wrapped in double quotes, e.g. \"tag:'x'\"")
            found = [t for t in self.tickets.values() if mq[1] in t["tags"]]
            return jresp({"results": [{k: v for k, v in t.items() if not k.startswith("_")} for t in found], "total": len(found)})
        if m == "POST" and p == "/api/v2/tickets":
            spec, files = self._payload(request)
            ident = [k for k in ("requester_id", "email", "phone", "twitter_id", "facebook_id", "unique_external_id") if spec.get(k)]
            need(ident, "one of requester_id, email, phone, twitter_id, facebook_id, unique_external_id is mandatory")
            if ("phone" in ident or "unique_external_id" in ident) and "email" not in ident:
                need(spec.get("name"), "name is mandatory with phone / unique_external_id")
            for k in ("subject", "description"):
                need(spec.get(k), f"{k} is mandatory")
            need(spec.get("status") in (2, 3, 4, 5), "status must be 2..5")
            need(spec.get("priority") in (1, 2, 3, 4), "priority must be 1..4")
            tags_ok(spec.get("tags", []), "tags")
            t = copy.deepcopy(self.ticket_tpl)
            tid = next(self.ids)
            t.update(id=tid, subject=spec["subject"], description=spec["description"], description_text=spec["description"],
                     tags=spec.get("tags", []), status=spec["status"], priority=spec["priority"], requester_id=tid + 500000,
                     attachments=[{"name": n, "file_size": len(b)} for n, b in files], custom_fields=spec.get("custom_fields", {}))
            t["_requester"] = spec.get("email") or spec.get("unique_external_id")
            self.uploads += files
            self.tickets[str(tid)] = t
            self.comments.setdefault(str(tid), []).append({"id": f"description-{tid}", "body": spec["description"]})
            return jresp({k: v for k, v in t.items() if not k.startswith("_")}, 201)
        mdel = re.fullmatch(r"/api/v2/tickets/(\d+)(/permanent_delete)?", p)
        if mdel and m == "DELETE":
            # https://developers.freshdesk.com/api/#delete_a_ticket (to the trash: 204), then
            # https://developers.freshdesk.com/api/#permanently_delete_a_ticket (only one in the trash)
            need(not request.get_data(), "DELETE takes no body")
            if not mdel[2]:
                if mdel[1] not in self.tickets:
                    return jresp({"code": "access_denied", "message": "not found"}, 404)
                self.deleted[mdel[1]] = self.tickets.pop(mdel[1])
                return Response(status=204)
            if mdel[1] not in self.deleted:
                return jresp({"code": "access_denied", "message": "not found"}, 404)
            del self.deleted[mdel[1]]
            self.comments.pop(mdel[1], None)
            self.purged.append(mdel[1])
            return Response(status=204)
        mt = re.fullmatch(r"/api/v2/tickets/(\d+)(/notes|/conversations)?", p)
        if mt:
            t = self.tickets.get(mt[1])
            if not t:
                return jresp({"code": "access_denied", "message": "not found"}, 404)
            if m == "GET" and not mt[2]:
                return jresp({k: v for k, v in t.items() if not k.startswith("_")})
            if m == "PUT" and not mt[2]:  # https://developers.freshdesk.com/api/#update_ticket
                spec = self.body(request)
                known = {"tags", "priority", "status", "subject", "description", "group_id", "custom_fields", "type"}
                need(spec and set(spec) <= known, f"unknown or no ticket field(s): {sorted(set(spec) - known)}")
                if "tags" in spec:
                    tags_ok(spec["tags"], "tags")
                    t["tags"] = list(spec["tags"])  # replaces the whole list
                if "priority" in spec:
                    need(spec["priority"] in (1, 2, 3, 4), "priority must be 1..4")
                    t["priority"] = spec["priority"]
                return jresp({k: v for k, v in t.items() if not k.startswith("_")})
            if m == "GET" and mt[2] == "/conversations":
                convs = [c for c in self.comments.get(mt[1], []) if not str(c["id"]).startswith("description")]
                return jresp(convs)
            if m == "POST" and mt[2] == "/notes":
                spec, files = self._payload(request)
                need(spec.get("body"), "body is mandatory")
                note = copy.deepcopy(self.note_tpl)
                note.update(id=next(self.ids), ticket_id=int(mt[1]), body=spec["body"], body_text=spec["body"],
                            private=spec.get("private", True), incoming=spec.get("incoming", False),
                            user_id=spec.get("user_id", 1), attachments=[{"name": n} for n, _ in files])
                self.uploads += files
                self.comments.setdefault(mt[1], []).append(note)
                return jresp(note, 201)
        raise ContractError("no such endpoint in the Freshdesk v2 API")

    def add_agent_reply(self, ticket_id: str, text: str, private: bool = False) -> dict[str, Any]:
        """What an agent answering in Freshdesk leaves in the ticket (recorded reply/note shape)."""
        c = copy.deepcopy(self.note_tpl if private else self.reply_tpl)
        c.update(id=next(self.ids), ticket_id=int(ticket_id), body=f"<div>{text}</div>", body_text=text)
        self.comments.setdefault(ticket_id, []).append(c)
        return c


# ----------------------------------------------------------------------------------------
class FakeZammad(FakeVendor):
    """https://docs.zammad.org/en/latest/api/ ; POST /tickets answer from zammad_py's cassette."""

    name = "zammad"
    TOKEN = "zm-token"

    def __init__(self, httpserver: Any) -> None:
        super().__init__(httpserver)
        cassette = load_json("helpdesk/zammad_py/TestAPI.test_tickets.decoded.json")["interactions"]
        self.create = next(i for i in cassette if i["method"] == "POST")
        self.users: dict[str, dict[str, Any]] = {}

    def check_auth(self, request: Request) -> Response | None:
        if request.headers.get("Authorization") != f"Token token={self.TOKEN}":
            return jresp({"error": "Invalid token!"}, 401)
        return None

    def _article(self, ticket_id: int, spec: dict[str, Any]) -> dict[str, Any]:
        need(spec.get("body"), "article.body is required")
        need(spec.get("type") in ("note", "web", "phone", "email", "sms", "chat"), "article.type must be a known type")
        need(spec.get("type") != "email", "omnihub must never create email articles (Zammad would send mail)")
        for a in spec.get("attachments") or []:
            need({"filename", "data", "mime-type"} <= set(a), "attachments need filename, data, mime-type")
            self.uploads.append((a["filename"], base64.b64decode(a["data"])))
        art = {"id": next(self.ids), "ticket_id": ticket_id, "sender": spec.get("sender", "Agent"),
               "type": spec["type"], "internal": spec.get("internal", False), "body": spec["body"],
               "content_type": spec.get("content_type", "text/plain")}
        self.comments.setdefault(str(ticket_id), []).append(art)
        return art

    def route(self, request: Request) -> Response:
        m, p = request.method, request.path
        if m == "GET" and p == "/api/v1/users/me":
            return jresp({"id": 3, "login": "admin@example.com"})
        if m == "GET" and p == "/api/v1/tickets/search":
            q = request.args.get("query", "")
            need(q.startswith("tags:"), "search by tags:<tag>")
            found = [t for t in self.tickets.values() if q[5:] in t["_tags"]]
            return jresp([{k: v for k, v in t.items() if not k.startswith("_")} for t in found])
        if m == "POST" and p == "/api/v1/tickets":
            spec = self.body(request)
            for k in self.create["request_body"]:  # the recorded request's fields are the contract
                if k in ("state", "priority", "owner", "customer"):
                    continue
                need(k in spec, f"{k} is required")
            cust = spec.get("customer")
            need(cust or spec.get("customer_id"), "customer or customer_id is required")
            if isinstance(cust, dict):  # tickets_controller#create: found by id, email, login, else created
                need(cust.get("email") or cust.get("login"), "a customer hash needs email or login")
                found = next((u for u in self.users.values() if (cust.get("email") and u.get("email") == cust["email"])
                              or (cust.get("login") and u.get("login") == cust["login"])), None)
                if found is None:
                    found = {"id": next(self.ids), **cust}
                    self.users[cust.get("login") or cust["email"]] = found
            t = copy.deepcopy(self.create["response_body"])
            tid = next(self.ids)
            t.update(id=tid, number=str(77000 + tid), title=spec["title"])
            t["_tags"] = [s.strip() for s in str(spec.get("tags", "")).split(",")]
            tags_ok(t["_tags"], "tags (comma-separated)")
            if "priority_id" in spec:
                need(spec["priority_id"] in (1, 2, 3), "priority_id names a stock priority: 1 low, 2 normal, 3 high")
                t["priority_id"] = spec["priority_id"]
            self.tickets[str(tid)] = t
            art = self._article(tid, spec["article"])
            t["article_ids"] = [art["id"]]
            return jresp({k: v for k, v in t.items() if not k.startswith("_")}, 201)
        if m == "POST" and p == "/api/v1/ticket_articles":
            spec = self.body(request)
            need(str(spec.get("ticket_id")) in self.tickets, "ticket_id must name an existing ticket")
            return jresp(self._article(int(spec["ticket_id"]), spec), 201)
        ma = re.fullmatch(r"/api/v1/ticket_articles/by_ticket/(\d+)", p)
        if ma and m == "GET":
            return jresp(self.comments.get(ma[1], []))
        md = re.fullmatch(r"/api/v1/tickets/(\d+)", p)
        if md and m == "DELETE":  # https://docs.zammad.org/en/latest/api/ticket/index.html#delete
            need(not request.get_data(), "DELETE takes no body")
            if md[1] not in self.tickets:
                return jresp({"error": "Couldn't find Ticket with 'id'=" + md[1]}, 404)
            self.deleted[md[1]] = self.tickets.pop(md[1])
            self.comments.pop(md[1], None)
            self.purged.append(md[1])
            return jresp({})
        raise ContractError("no such endpoint in the Zammad API")


# ----------------------------------------------------------------------------------------
class _KeepUnderscoreHeaders(WSGIRequestHandler):
    """Werkzeug's dev server drops header names with "_"; Chatwoot's ``api_access_token`` has them
    (its self-hosting guide sets nginx ``underscores_in_headers on`` for that reason)."""

    def make_environ(self):  # type: ignore[no-untyped-def]
        environ = super().make_environ()
        for key, value in self.headers.items():
            if "_" in key:
                environ["HTTP_" + key.upper().replace("-", "_")] = value
        return environ


class VendorServer(HTTPServer):
    """pytest-httpserver's server, keeping underscore headers (Chatwoot's ``api_access_token``)
    and not waiting for our clients' idle keep-alive connections when it stops."""

    def start(self) -> None:
        app = Request.application(self.application)  # type: ignore[arg-type]
        self.server = make_server(self.host, self.port, app, threaded=True, request_handler=_KeepUnderscoreHeaders)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.port = self.server.port
        self.server_thread = threading.Thread(target=self.thread_target, daemon=True)
        self.server_thread.start()

    def thread_target(self) -> None:
        assert self.server is not None
        self.server.serve_forever(poll_interval=0.02)  # stop() in 20 ms instead of 500


class FakeChatwoot(FakeVendor):
    """https://www.chatwoot.com/developers/api/ ; message bodies shaped like the documented webhook."""

    name = "chatwoot"
    TOKEN, ACCOUNT, INBOX = "cw-token", 1, 7

    def __init__(self, httpserver: Any) -> None:
        super().__init__(httpserver)
        self.doc_message = load_json("helpdesk/helpdesk_documented_examples.json")["chatwoot_webhooks"]["message_created"]
        self.contacts: dict[int, dict[str, Any]] = {}

    def check_auth(self, request: Request) -> Response | None:
        if request.headers.get("api_access_token") != self.TOKEN:
            return jresp({"error": "You need to sign in or sign up before continuing."}, 401)
        return None

    def marks(self, comment: dict[str, Any]) -> set[str]:
        return set(MARK.findall(str(comment.get("source_id") or "")))

    def route(self, request: Request) -> Response:
        m, p = request.method, request.path
        a = f"/api/v1/accounts/{self.ACCOUNT}"
        need(p.startswith(a), f"paths are under {a}")
        p = p[len(a):]
        if m == "GET" and p == f"/inboxes/{self.INBOX}":
            return jresp({"id": self.INBOX, "name": "omnihub", "channel_type": "Channel::Api"})
        if m == "GET" and p == "/contacts/search":
            q = request.args.get("q")
            need(q, "contacts/search needs q")
            hits = [c for c in self.contacts.values() if q in (c.get("identifier"), c.get("email"), c.get("phone_number"))]
            return jresp({"meta": {}, "payload": hits})
        if m == "POST" and p == "/contacts":
            spec = self.body(request)
            need(spec.get("inbox_id") == self.INBOX, "inbox_id is required")
            for field in ("email", "phone_number", "identifier"):
                if spec.get(field) and any(c.get(field) == spec[field] for c in self.contacts.values()):
                    return jresp({"message": f"{field} has already been taken"}, 422)
            cid = next(self.ids)
            inbox = {"source_id": f"src-{cid}", "inbox": {"id": self.INBOX, "name": "omnihub", "channel_type": "Channel::Api"}}
            contact = {"id": cid, "name": spec.get("name"), "email": spec.get("email"), "phone_number": spec.get("phone_number"),
                       "identifier": spec.get("identifier"), "custom_attributes": spec.get("custom_attributes", {}),
                       "contact_inboxes": [inbox]}  # app/views/api/v1/accounts/contacts/create.json.jbuilder
            self.contacts[cid] = contact
            return jresp({"payload": {"contact": contact, "contact_inbox": inbox}})
        mc = re.fullmatch(r"/contacts/(\d+)/(conversations|contact_inboxes)", p)
        if mc:
            need(int(mc[1]) in self.contacts, "unknown contact")
            if m == "GET" and mc[2] == "conversations":
                return jresp({"payload": [t for t in self.tickets.values() if t["meta"]["sender"]["id"] == int(mc[1])]})
            if m == "POST" and mc[2] == "contact_inboxes":
                need(self.body(request).get("inbox_id") == self.INBOX, "inbox_id is required")
                return jresp({"source_id": f"src-{mc[1]}", "inbox": {"id": self.INBOX}})
        if m == "POST" and p == "/conversations":
            spec = self.body(request)
            need(spec.get("source_id") and spec.get("inbox_id") == self.INBOX, "source_id and inbox_id are required")
            cid = int(spec["source_id"].removeprefix("src-"))
            need(cid == spec.get("contact_id"), "source_id must belong to contact_id")
            conv = copy.deepcopy(self.doc_message["conversation"])
            conv.update(id=next(self.ids), inbox_id=self.INBOX, messages=[], status=spec.get("status", "open"),
                        custom_attributes=spec.get("custom_attributes", {}))
            conv["meta"]["sender"].update(id=cid)
            self.tickets[str(conv["id"])] = conv
            return jresp(conv)
        ml = re.fullmatch(r"/conversations/(\d+)/labels", p)
        if ml and m == "POST":  # sets the conversation's labels (replaces the list)
            need(ml[1] in self.tickets, "unknown conversation")
            labels = self.body(request).get("labels")
            tags_ok(labels, "labels")
            self.tickets[ml[1]]["labels"] = list(labels)
            return jresp({"payload": labels})
        mm = re.fullmatch(r"/conversations/(\d+)/messages", p)
        if mm:
            need(mm[1] in self.tickets, "unknown conversation")
            msgs = self.comments.setdefault(mm[1], [])
            if m == "GET":
                before = int(request.args.get("before", 10**12))
                page = [x for x in msgs if x["id"] < before][-20:]
                return jresp({"meta": {}, "payload": page})
            if m == "POST":
                files: list[tuple[str, bytes]] = []
                if (request.content_type or "").startswith("multipart/form-data"):
                    spec = {k: request.form[k] for k in request.form}
                    files = [(f.filename, f.read()) for f in request.files.getlist("attachments[]")]
                    need(files, "multipart without attachments[]")
                    spec["private"] = spec.get("private") == "true"
                else:
                    spec = self.body(request)
                need(spec.get("content") or files, "content is required")
                need(spec.get("message_type") in ("incoming", "outgoing"), "message_type must be incoming or outgoing")
                msg = copy.deepcopy(self.doc_message)
                for k in ("conversation", "event", "inbox", "account"):
                    msg.pop(k)
                msg.update(id=next(self.ids), content=spec.get("content"), message_type=spec["message_type"],
                           private=bool(spec.get("private")), source_id=spec.get("source_id"),
                           attachments=[{"file_name": n} for n, _ in files])
                self.uploads += files
                msgs.append(msg)
                return jresp(msg)
        raise ContractError("no such endpoint in the Chatwoot application API")


# ----------------------------------------------------------------------------------------
class FakeHelpScout(FakeVendor):
    """https://developer.helpscout.com/mailbox-api/ ; thread bodies from the documented examples."""

    name = "helpscout"
    APP_ID, APP_SECRET, MAILBOX = "hs-app", "hs-secret", 85

    def __init__(self, httpserver: Any) -> None:
        super().__init__(httpserver)
        self.doc = load_json("helpdesk/helpdesk_documented_examples.json")["helpscout_mailbox_api_v2"]
        self.tokens: set[str] = set()
        self.customers: dict[int, dict[str, Any]] = {}

    def exempt(self, request: Request) -> bool:
        return request.path == "/v2/oauth2/token"

    def check_auth(self, request: Request) -> Response | None:
        if request.path == "/v2/oauth2/token":
            return None
        h = request.headers.get("Authorization", "")
        if not h.startswith("Bearer ") or h[7:] not in self.tokens:
            return jresp({"error": "invalid_token", "error_description": "The access token is invalid or expired"}, 401)
        return None

    def _thread(self, conv_id: str, spec: dict[str, Any], ttype: str) -> dict[str, Any]:
        doc_fields = set(self.doc["create_customer_thread"]["body"]) - {"attachments"}
        need(doc_fields <= set(spec), f"thread needs {sorted(doc_fields)}")
        cust = spec["customer"]
        need(cust.get("id") or cust.get("email"), "customer needs id or email")
        for a in spec.get("attachments") or []:
            need({"fileName", "mimeType", "data"} <= set(a), "attachments need fileName, mimeType, data")
            self.uploads.append((a["fileName"], base64.b64decode(a["data"])))
        if cust.get("email") and not cust.get("id"):
            cust = {**cust, "id": 4560 + len(cust["email"])}
        t = {"id": next(self.ids), "type": ttype, "body": spec["text"], "customer": cust,
             "imported": spec.get("imported", False), "createdBy": {"type": "customer" if ttype == "customer" else "user"}}
        self.comments.setdefault(conv_id, []).append(t)
        return t

    def route(self, request: Request) -> Response:
        m, p = request.method, request.path
        if m == "POST" and p == "/v2/oauth2/token":
            f = request.form
            need(f.get("grant_type") == "client_credentials", "grant_type=client_credentials")
            if (f.get("client_id"), f.get("client_secret")) != (self.APP_ID, self.APP_SECRET):
                return jresp({"error": "invalid_client"}, 401)
            tok = f"hs-token-{next(self.ids)}"
            self.tokens.add(tok)
            return jresp({"token_type": "bearer", "access_token": tok, "expires_in": 7200})
        if m == "GET" and p == f"/v2/mailboxes/{self.MAILBOX}":
            return jresp({"id": self.MAILBOX, "name": "Support"})
        if m == "GET" and p == "/v2/conversations":
            need(request.args.get("mailbox") == str(self.MAILBOX), "mailbox filter")
            tag = request.args.get("tag")
            found = [c for c in self.tickets.values() if tag in c["tags"]]
            return jresp({"_embedded": {"conversations": found}, "page": {"size": 25, "totalElements": len(found), "number": 1}})
        if m == "POST" and p == "/v2/conversations":
            spec = self.body(request)
            for k in self.doc["create_conversation_partial"]["body_prefix_as_documented"]:
                need(k in spec, f"{k} is required")
            need(spec["mailboxId"] == self.MAILBOX, "mailboxId")
            need(spec["type"] in ("email", "chat", "phone"), "type is email, chat or phone")
            need(spec.get("threads"), "threads: at least one")
            tags_ok(spec.get("tags", []), "tags")
            cid = str(next(self.ids))
            self.tickets[cid] = {"id": int(cid), "subject": spec["subject"], "tags": spec.get("tags", []), "status": spec["status"]}
            for th in spec["threads"]:
                need(th.get("type") in ("customer", "reply", "note", "chat", "phone"), "thread type")
                self._thread(cid, th, th["type"])
            return Response(status=201, headers={"Resource-ID": cid, "Location": f"{self.base_url}/v2/conversations/{cid}"})
        md = re.fullmatch(r"/v2/conversations/(\d+)", p)
        if md and m == "DELETE":  # https://developer.helpscout.com/mailbox-api/endpoints/conversations/delete/
            if md[1] not in self.tickets:
                return jresp({"message": "Not found"}, 404)
            self.deleted[md[1]] = self.tickets.pop(md[1])
            self.comments.pop(md[1], None)
            self.purged.append(md[1])
            return Response(status=204)
        mt = re.fullmatch(r"/v2/conversations/(\d+)/(threads|customer|reply|chats|phones)", p)
        if mt:
            need(mt[1] in self.tickets, "unknown conversation")
            if m == "GET" and mt[2] == "threads":
                return jresp({"_embedded": {"threads": list(reversed(self.comments.get(mt[1], [])))}})
            if m == "POST":
                t = self._thread(mt[1], self.body(request), "reply" if mt[2] == "reply" else "customer")
                return Response(status=201, headers={"Resource-ID": str(t["id"])})
        if m == "POST" and p == "/v2/customers":
            spec = self.body(request)
            need(spec.get("firstName") or spec.get("emails"), "a customer needs firstName or emails")
            cid = next(self.ids)
            self.customers[cid] = spec
            return Response(status=201, headers={"Resource-ID": str(cid)})
        raise ContractError("no such endpoint in the Mailbox API 2.0")


# ----------------------------------------------------------------------------------------
class FakeReceiver(FakeVendor):
    """A system receiving omnihub's signed webhook: verifies it and dedupes on Idempotency-Key."""

    name = "webhook"
    SECRET = "wh-secret"

    def __init__(self, httpserver: Any) -> None:
        super().__init__(httpserver)
        self.erased: list[str] = []

    def check_auth(self, request: Request) -> Response | None:
        try:
            signing.verify(self.SECRET, request.get_data(), dict(request.headers))
        except SignatureInvalid as exc:
            return jresp({"error": str(exc)}, 401)
        return None

    def route(self, request: Request) -> Response:
        need(request.method == "POST" and request.path == "/hooks/omnihub", "POST /hooks/omnihub")
        data = self.body(request)
        if data.get("event") == "ping":
            return jresp({"ok": True})
        if data.get("event") == "ticket.erase":
            need(set(data) == {"event", "version", "ticket_ref", "sent_at"}, "ticket.erase fields")
            need(request.headers.get("Idempotency-Key") == f"omnihub-erase-{data['ticket_ref']}", "Idempotency-Key")
            conv = str(data["ticket_ref"]).removeprefix("T-")
            self.tickets.pop(conv, None)
            self.comments.pop(conv, None)
            self.erased.append(data["ticket_ref"])
            return Response(status=204)
        need(data.get("event") == "message.created", "event")
        for k in ("conversation", "message", "contact"):
            need(isinstance(data.get(k), dict), f"{k} object")
        key = request.headers.get("Idempotency-Key")
        need(key == f"omnihub-message-{data['message']['id']}", "Idempotency-Key")
        conv = str(data["conversation"]["id"])
        self.tickets.setdefault(conv, {"id": conv})
        msgs = self.comments.setdefault(conv, [])
        if not any(x["key"] == key for x in msgs):
            msgs.append({"key": key, "payload": data})
        return jresp({"ticket_ref": f"T-{conv}", "comment_ref": key})


FAKES: dict[str, Callable[[Any], FakeVendor]] = {
    f.name: f for f in (FakeZendesk, FakeFreshdesk, FakeZammad, FakeChatwoot, FakeHelpScout, FakeReceiver)
}
