"""Which of our messages does a bounce name, and did delivery fail for good? (pure)

Standard delivery reports (RFC 3464 multipart/report) are read field by field in
``normalizers.email``; this module covers every shape, standard or not, by looking at the
whole message: the original attached as message/rfc822, message/rfc822-headers or
text/rfc822-headers, quoted inline in a plain-text bounce (exim, qmail, Postfix, Gmail,
Yahoo, Exchange/Office 365), base64-encoded, or behind a broken MIME boundary.

No maintained bounce parser fits (flufl.bounce is not available to this project's
registry; bounce-email was last released in 2017 and returns no Message-ID), so the rules
are here, kept small: a bounce is recognised by its signs (null or daemon sender, a bounce
subject, X-Failed-Recipients, the phrases MTAs print), the message it names by the
Message-IDs inside it (the hub keeps only the ones that are ours), our conversation token
(``+c<token>@`` Reply-To address or ``[#token]`` subject tag), and the reason by the SMTP
reply / enhanced status code it quotes. A delay notice never counts as a failure.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from normalizers import redispatch, robots

__all__ = ["Bounce", "analyse"]

_MSGID_HEADER = re.compile(r"^[ \t>]*(?:message-id|x-ms-exchange-.*?message-id|original-message-id)[ \t]*:[ \t]*(?:\r?\n[ \t]+)?(<[^<>\s]+@[^<>\s]+>)", re.IGNORECASE | re.MULTILINE)
_REF_HEADER = re.compile(r"^[ \t>]*(?:in-reply-to|references)[ \t]*:((?:.*)(?:\r?\n[ \t]+.*)*)", re.IGNORECASE | re.MULTILINE)
_OURS = re.compile(r"<omnihub\.[0-9a-f]{32}@[A-Za-z0-9.-]+>", re.IGNORECASE)
_MSGID = re.compile(r"<[^<>\s]+@[^<>\s]+>")
_TOKEN_ADDRESS = re.compile(r"[A-Za-z0-9._-]+\+c([A-Za-z0-9_-]{1,64})@[A-Za-z0-9.-]+", re.IGNORECASE)
_TOKEN_SUBJECT = re.compile(r"^[ \t>]*subject[ \t]*:.*\[#([A-Za-z0-9_-]{1,64})\]", re.IGNORECASE | re.MULTILINE)

_BOUNCE_TEXT = re.compile(
    r"this is the mail system at host|i'm sorry to have to inform you|could not be delivered to one or more|"
    r"this message was created automatically by mail delivery software|a message that you sent could not be delivered|"
    r"hi\. this is the qmail-send program|i'm afraid i wasn't able to deliver|"
    r"sorry, we were unable to deliver your message|delivery to the following recipients? failed permanently|"
    r"your message (?:wasn't|was not|couldn't be|could not be) delivered|delivery has failed to these recipients|"
    r"message not delivered|address not found|the following addresses? had permanent fatal errors|"
    r"user unknown|mailbox (?:unavailable|full|not found)|unrouteable address|no such (?:user|recipient)|"
    r"recipient address rejected|permanent (?:error|failure)|550[ -]|5\.\d{1,3}\.\d{1,3}|"
    r"konnte nicht zugestellt werden|n'a pas pu [êe]tre (?:remis|distribu)|no se ha podido entregar|"
    r"kon niet worden bezorgd|non è stato possibile recapitare|não pôde ser entregue|"
    r"配信できませんでした|送信できませんでした|宛先不明|无法投递|無法傳遞|전달되지 않았습니다",
    re.IGNORECASE,
)
_DELAY = re.compile(
    r"\(delay\)|delivery delayed|delayed mail|delivery incomplete|will (?:continue to )?retry|will keep (?:on )?trying|"
    r"still trying|has not yet been delivered|not been delivered yet|no action is required on your part|"
    r"warning: could not send message for past|message (?:delivery )?(?:is|has been) delayed|delivery is delayed|"
    r"temporar(?:y|ily) (?:failure|problem|unable|deferred)|zustellung verz[öo]gert|verz[öo]gerte zustellung|"
    r"remise diff[ée]r[ée]e|entrega retrasada|vertraagde (?:bezorging|aflevering)|consegna ritardata|配信遅延|延迟投递",
    re.IGNORECASE,
)
_SMTP_REASON = re.compile(
    r"([^\r\n]{0,200}\(#[45]\.\d{1,3}\.\d{1,3}\)|(?:[45]\d\d[ -](?:[45]\.\d{1,3}\.\d{1,3}\s+)?|[45]\.\d{1,3}\.\d{1,3}\s+|#[45]\.\d\.\d\s+)[^\r\n]{3,240})"
)
_REASON_LINE = re.compile(
    r"^[ \t]*((?:user unknown|no such (?:user|recipient)|mailbox (?:unavailable|full|not found|does not exist)|"
    r"address not found|unrouteable address|recipient address rejected|the email account that you tried to reach does not exist|"
    r"this user doesn't have a [^\r\n]* account|quota exceeded|over quota)[^\r\n]{0,200})",
    re.IGNORECASE | re.MULTILINE,
)


_SMTP_REASON_PLAIN = re.compile(r"((?:[45]\d\d[ -](?:[45]\.\d{1,3}\.\d{1,3}\s+)?|[45]\.\d{1,3}\.\d{1,3}\s+|#[45]\.\d\.\d\s+)[^\r\n]{3,240})")
assert _SMTP_REASON.pattern == r"([^\r\n]{0,200}\(#[45]\.\d{1,3}\.\d{1,3}\)|" + _SMTP_REASON_PLAIN.pattern[1:]
_PLUS_C = re.compile(r"\+c", re.IGNORECASE)
_ADDRESS_CHAR = re.compile(r"[A-Za-z0-9._-]", re.IGNORECASE)
_ADDRESS_ASCII = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")


def _token_address(hay: str) -> re.Match[str] | None:
    """``_TOKEN_ADDRESS.search(hay)``, found from the "+c" in it: a match starts where the run of
    address characters before one begins (a run cannot hold a "+"), so the first "+c" whose run
    matches there gives the leftmost match (the search itself tries every position of the text)."""
    for plus in _PLUS_C.finditer(hay):
        end = start = plus.start()
        while start > 0 and (hay[start - 1] in _ADDRESS_ASCII or (not hay[start - 1].isascii() and _ADDRESS_CHAR.match(hay[start - 1]))):
            start -= 1
        if start < end:
            m = _TOKEN_ADDRESS.match(hay, start)
            if m:
                return m
    return None


@functools.cache
def _delay() -> redispatch.Rule:
    return redispatch.Rule(_DELAY.pattern, _DELAY.flags)


@functools.cache
def _bounce_text() -> redispatch.Rule:
    """``_BOUNCE_TEXT``, grouped for a quicker answer to whether it is found (most mail: no)."""
    return redispatch.Rule(_BOUNCE_TEXT.pattern, _BOUNCE_TEXT.flags)


@dataclass
class Bounce:
    is_bounce: bool = False
    delayed: bool = False
    candidates: list[str] = field(default_factory=list)  # Message-IDs it names, ours first
    token: str | None = None
    reason: str = ""


def analyse(*, own_id: str | None, subject: str, haystack: Callable[[], str], human_text: str, null_sender: bool, daemon_sender: bool,
            failed_recipients: bool, dsn_actions: list[str], dsn_failed: bool, dsn_reason: str, top_refs: list[str]) -> Bounce:
    """Read a message as a possible bounce. ``haystack()`` gives every decoded part of it
    (built only for mail that shows a bounce sign: most mail never pays for it)."""
    out = Bounce()
    cache: list[str] = []

    def text() -> str:
        if not cache:
            cache.append(haystack())
        return cache[0]

    # strong signs: only an MTA sends these; weak ones (a bounce subject, bounce wording) also
    # need the original quoted in the body, so a customer's "Re: Delivery failure of my
    # parcel" never fails our reply through its In-Reply-To
    strong = null_sender or daemon_sender or failed_recipients or bool(dsn_actions)
    weak = robots.bounce_subject(subject) or _bounce_text().found(human_text[:6000])
    # a weak sign needs the original *message* quoted (its Message-ID header, or one of ours):
    # a customer's reply quotes our address in "On … <support+c…@> wrote:" and may well say
    # "550 EUR" or "05.12.26" — that is no bounce
    if not (strong or (weak and _has_original_message(text()))):
        return out
    if dsn_actions:
        out.delayed = not dsn_failed
    else:
        delay = _delay()
        out.delayed = delay.found(subject) or delay.found(human_text[:4000])
    if dsn_actions and not dsn_failed and not any(a == "delayed" for a in dsn_actions):
        return out  # delivered/relayed/expanded: a success notice
    out.is_bounce = True
    hay = text()
    seen: dict[str, None] = {}
    for mid in _OURS.findall(hay):
        seen.setdefault(mid, None)
    for mid in _MSGID_HEADER.findall(hay):
        seen.setdefault(mid, None)
    for value in _REF_HEADER.findall(hay):
        for mid in _MSGID.findall(value):
            seen.setdefault(mid, None)
    if strong:
        for mid in top_refs:
            seen.setdefault(mid, None)
    seen.pop(own_id or "", None)
    out.candidates = list(seen)[:50]
    m = _token_address(hay) or _TOKEN_SUBJECT.search(hay)
    if m:
        out.token = m.group(1).lower()
    out.reason = dsn_reason or _reason(human_text) or "delivery failed"
    return out


def _has_original_message(haystack: str) -> bool:
    return bool(_MSGID_HEADER.search(haystack) or _OURS.search(haystack))


def _reason(text: str) -> str:
    head = text[:20000]
    # the first alternative of _SMTP_REASON needs "(#": without one the second alone gives the
    # same match (and the first, tried at every position, is what costs)
    m = (_SMTP_REASON if "(#" in head else _SMTP_REASON_PLAIN).search(head) or _REASON_LINE.search(head)
    if m:
        found = m.group(1)
        # an MTA wraps a long SMTP reply onto indented continuation lines
        rest = text[m.end(1):m.end(1) + 600].split("\n")
        for line in rest[1:4]:
            if line[:1] in (" ", "\t") and line.strip():
                found += " " + line.strip()
            else:
                break
        return re.sub(r"\s+", " ", found).strip()[:300]
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return re.sub(r"\s+", " ", " ".join(lines[:3]))[:300]
