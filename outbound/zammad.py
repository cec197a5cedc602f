"""Zammad: tickets and articles via the REST API; agent replies via a trigger webhook.

API: https://docs.zammad.org/en/latest/api/ticket/index.html  Auth: ``Authorization: Token token=<token>``.
Push: the first message creates a ticket (``POST /api/v1/tickets`` with an inline article
and a customer hash: Zammad finds the customer by email, then login, or creates it) tagged ``omnihub-conversation-<id>``, found again with ``GET /api/v1/tickets/search?query=tags:...``
(Zammad's search; it needs the Elasticsearch index Zammad recommends); later messages are
articles (``POST /api/v1/ticket_articles``, type note, not internal, sender Customer or
Agent), deduplicated by the ``omnihub-message-<id>`` footer in
``GET /api/v1/ticket_articles/by_ticket/{id}``. Attachments: inline base64 on the article.
Agent replies: a trigger with a webhook action; Zammad signs the body with the webhook's
"HMAC SHA1 Signature Token": ``X-Hub-Signature: sha1=<hex HMAC-SHA1(token, body)>``.
"""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from hub.errors import PayloadInvalid, PermanentDeliveryError
from hub.types import AdapterConfig, AgentReply, CheckResult, PushItem, PushResult, RawEvent, WebhookRequest, setting
from outbound import _helpdesk as hd
from outbound._http import JsonClient
from outbound.base import HelpdeskBackend

#: Zammad's stock priorities (ticket_priorities): 1 low, 2 normal, 3 high (no urgent)
PRIORITY = {"low": 1, "normal": 2, "high": 3, "urgent": 3}
STATUS = {"closed": "closed", "merged": "closed", "open": "open"}


class ZammadConfig(AdapterConfig):
    base_url: str = setting(
        title="Zammad URL", example="https://support.example.com", origin_of="url",
        help="Your Zammad (self-hosted, or https://acme.zammad.com).")
    token: SecretStr = setting(
        title="Access token", help="Profile → Token Access: a token with ticket.agent (and customer creation).")
    group: str = setting("Users", title="Group", example="Support", section="addresses", help="The group new tickets go to.")
    tags: tuple[str, ...] = setting(("omnihub",), title="Tags", example="omnihub, wallet", help="Tags added to every ticket.")
    article_type: str = setting(
        "note", title="Article type", section="advanced",
        help="note, web or phone — never email (Zammad would send mail to the customer itself).")
    webhook_secret: SecretStr | None = setting(
        None, title="Webhook HMAC token", needed_for="agent replies", help="The HMAC SHA1 signature token of the Zammad webhook that sends agent replies.")
    timeout: float = setting(15.0, title="Request timeout (seconds)", section="advanced", help="How long one API request may take.")


class ZammadBackend(HelpdeskBackend):
    kind = "zammad"
    title = "Zammad"
    Config = ZammadConfig
    config: ZammadConfig  # the instance's validated config (ctx.config)
    hooks = ("agent-reply",)
    erases = True  # erase_ticket

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        c = self.config
        self.who = f"zammad connector {ctx.name!r}"
        self.http = JsonClient(
            c.base_url, who=self.who, headers={"Authorization": f"Token token={c.token.get_secret_value()}"}, timeout=c.timeout
        )

    # --- push ------------------------------------------------------------------------
    def push(self, item: PushItem) -> PushResult:
        # base64 in JSON: stay under the 50 MB request size of Zammad's stock nginx config
        item = hd.fit_attachments(item, per_file=None, total=35 * hd.MB, vendor="Zammad")
        ticket_ref = item.ticket_ref or self._find_ticket(item)
        if ticket_ref is None:
            return self._create_ticket(item)
        for art in self.http.get(f"/api/v1/ticket_articles/by_ticket/{ticket_ref}") or []:
            if hd.has_marker(art.get("body"), item.message_id):
                return PushResult(ticket_ref=ticket_ref, comment_ref=str(art["id"]), data={"deduplicated": True})
        article = {"ticket_id": int(ticket_ref), **self._article(item)}
        data = self.http.post("/api/v1/ticket_articles", json=article)
        return PushResult(ticket_ref=ticket_ref, comment_ref=str(data["id"]))

    def _article(self, item: PushItem) -> dict[str, Any]:
        art: dict[str, Any] = {
            "subject": hd.subject(item),
            "body": hd.body_text(item),
            "content_type": "text/plain",
            "type": self.config.article_type,
            "internal": False,
            "sender": "Customer" if item.direction == "inbound" else "Agent",
        }
        if item.attachments:
            art["attachments"] = [
                {"filename": b.filename, "data": hd.b64(b.read()), "mime-type": b.content_type or "application/octet-stream"}
                for b in item.attachments
            ]
        return art

    def _find_ticket(self, item: PushItem) -> str | None:
        found = self.http.get(
            "/api/v1/tickets/search", params={"query": f"tags:{hd.conversation_key(item)}", "expand": "true", "limit": 5}
        )
        tickets = found if isinstance(found, list) else [{"id": i} for i in (found or {}).get("tickets", [])]
        return str(tickets[0]["id"]) if tickets else None

    def _create_ticket(self, item: PushItem) -> PushResult:
        req = hd.requester(item)
        ticket: dict[str, Any] = {
            "title": hd.subject(item),
            "group": self.config.group,
            "tags": ",".join(sorted({*self.config.tags, hd.conversation_key(item), f"omnihub-{req.medium}", *hd.labels(item.conversation)})),
            "priority_id": hd.priority_for(item.conversation, PRIORITY),
            "article": self._article(item),
        }
        # A customer hash is found by email, then login, or created (tickets_controller#create)
        first, last = req.first_last
        customer: dict[str, Any] = {"firstname": first, "lastname": last, "note": f"omnihub {req.medium}: {req.address}"}
        if req.email:
            customer["email"] = req.email
        else:
            customer["login"] = req.external_id
            if req.phone:
                customer["mobile"] = req.phone
        ticket["customer"] = customer
        data = self.http.post("/api/v1/tickets", json=ticket)
        articles = data.get("article_ids") or []
        return PushResult(ticket_ref=str(data["id"]), comment_ref=str(articles[0]) if articles else None)

    def erase_ticket(self, ticket_ref: str) -> None:
        """``DELETE /api/v1/tickets/{id}`` (needs the ticket.admin permission): Zammad removes
        the ticket with its articles and attachments."""
        if not str(ticket_ref).isdigit():
            raise PermanentDeliveryError(f"{self.who}: {ticket_ref!r} is not a Zammad ticket id")
        self.http.delete(f"/api/v1/tickets/{ticket_ref}")

    def check(self) -> CheckResult:
        me = self.http.get("/api/v1/users/me")
        return CheckResult(True, f"authenticated as {me.get('login') or me.get('email')}")

    # --- agent replies -----------------------------------------------------------------
    def verify(self, hook: str, request: WebhookRequest) -> None:
        secret = hd.secret_value(self.config.webhook_secret, self.who)
        expected = "sha1=" + hd.hmac_digest(secret, request.body, "sha1").hex()
        hd.check_equal(expected, request.headers.get("X-Hub-Signature"), self.who, "X-Hub-Signature")

    def replay_key(self, hook: str, request: WebhookRequest) -> bytes | None:
        return (request.headers.get("X-Hub-Signature") or "").strip().encode() or None

    def parse(self, hook: str, request: WebhookRequest) -> list[RawEvent]:
        if hook != "agent-reply":
            raise PayloadInvalid(f"{self.who}: unknown hook {hook!r} (use /agent-reply)")
        data = hd.json_body(request.body, self.who)
        article = data.get("article") or {}
        if article.get("id"):
            ext = f"article-{article['id']}"
        elif request.headers.get("X-Zammad-Delivery"):
            ext = f"delivery-{request.headers.get('X-Zammad-Delivery')}"
        else:
            raise PayloadInvalid(f"{self.who}: webhook has no article id and no X-Zammad-Delivery")
        return [RawEvent(external_id=ext, hook=hook, payload=request.body)]

    def parse_agent_reply(self, event: RawEvent) -> list[AgentReply]:
        data = hd.json_body(event.payload, self.who)
        ticket = data.get("ticket") or {}
        if not ticket.get("id"):
            raise PayloadInvalid(f"{self.who}: webhook names no ticket")
        ticket_ref = str(ticket["id"])
        state = ticket.get("state")
        state = (state.get("name") if isinstance(state, dict) else state) or ""
        status = STATUS.get(str(state).lower())
        article = data.get("article") or {}
        if not article.get("id"):
            return [AgentReply(external_id=event.external_id, ticket_ref=ticket_ref, status=status)] if status else []
        sender = article.get("sender")
        sender = (sender.get("name") if isinstance(sender, dict) else sender) or ""
        body = article.get("body") or ""
        if sender != "Agent" or hd.is_ours(body):
            return []  # customer/system article, or the echo of one we pushed
        is_html = "html" in str(article.get("content_type") or "")
        return [
            AgentReply(
                external_id=str(article["id"]),
                ticket_ref=ticket_ref,
                text=hd.html_to_text(body) if is_html else body,
                html=body if is_html else "",
                author_name=_author(article),
                internal=bool(article.get("internal")),
                status=status if status == "closed" else None,
            )
        ]


def _author(article: dict[str, Any]) -> str:
    by = article.get("created_by")
    if isinstance(by, dict):
        return " ".join(p for p in (by.get("firstname"), by.get("lastname")) if p) or by.get("login") or ""
    frm = article.get("from") or ""
    return frm.split("<", 1)[0].strip().strip('"')

