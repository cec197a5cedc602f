"""Connection-check failures in plain words, naming the connector key to fix.

An adapter's ``check()`` reports what went wrong the way its library said it
("ConnectError: [Errno 111] Connection refused", "gaierror: [Errno -2] Name or service not
known", an HTTP 401 from the provider). ``explain`` turns that into one sentence an admin can
act on — "cannot resolve imap.example.com — check imap_host" — by recognising the kind of
failure and finding which key holds the host or credentials concerned (from the connector's
schema: ``origin`` keys hold destinations, ``SecretStr`` keys credentials). The original text
is kept beside it as the technical detail.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from hub.errors import OmnihubError
from hub.types import AdapterConfig

_DNS = re.compile(r"Name or service not known|nodename nor servname|getaddrinfo failed|cannot resolve|"
                  r"Temporary failure in name resolution|No address associated with hostname|gaierror", re.I)
_REFUSED = re.compile(r"Connection refused|ECONNREFUSED|actively refused", re.I)
_TIMEOUT = re.compile(r"timed? ?out|Timeout", re.I)
_TLS = re.compile(r"CERTIFICATE_VERIFY_FAILED|certificate verify failed|SSLError|SSL:|wrong version number|"
                  r"TLS|handshake", re.I)
_AUTH = re.compile(r"\b401\b|\b403\b|Unauthorized|Forbidden|AUTHENTICATIONFAILED|authentication failed|"
                   r"invalid[_ ]auth|not_authed|Invalid credentials|invalid_client|invalid_grant|AuthError|"
                   r"credentials|Couldn.t authenticate|login (?:failed|refused)|LOGIN failed|\b535\b", re.I)
_HTTP_STATUS = re.compile(r"\bHTTP (\d{3})\b|\berror (\d{3})\b|error '(\d{3}) ")
#: messages of ours that already name the fix: left as they are
_ALREADY_PLAIN = re.compile(r"sign in again|not signed in|press sign in|check oauth_|token endpoint answered|@BotFather|Developer Portal", re.I)
_UNREACHABLE = re.compile(r"unreachable|ConnectionError|ConnectError|Network is unreachable|No route to host", re.I)
_NAMED_HOST = (re.compile(r"cannot resolve '([^']+)'"), re.compile(r"host='([^']+)'"),
               re.compile(r"https?://([^/:'\s]+)"))


def _host_of(value: Any) -> str:
    text = str(value or "").strip()
    if "://" in text:
        return (urlsplit(text).hostname or "").lower()
    return text.lower()


def _destinations(config_cls: type[AdapterConfig], values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(key, host) of every destination key that is set, in schema order."""
    out = []
    for key, what in config_cls.origin_fields().items():
        if what in ("url", "host") and values.get(key):
            out.append((key, _host_of(values[key])))
    return out


def _destination_keys(config_cls: type[AdapterConfig]) -> list[str]:
    return [k for k, what in config_cls.origin_fields().items() if what in ("url", "host", "part")]


def _pick(part: str, config_cls: type[AdapterConfig], values: Mapping[str, Any]) -> tuple[str, str]:
    """(key, host) the failure is about: the destination key whose host the text names; else,
    for an IMAP/SMTP part, that protocol's host key; else the first destination set."""
    dests = _destinations(config_cls, values)
    low = part.lower()
    prefix = "imap" if low.startswith("imap") else "smtp" if low.startswith("smtp") else ""
    if prefix:
        for key, host in dests:
            if key.startswith(prefix):
                return key, host
    for key, host in dests:
        if host and host in low:
            return key, host
    if dests:  # a base URL set overrides the provider's default host
        return next(((k, h) for k, h in dests if k.endswith("base_url")), dests[0])
    keys = _destination_keys(config_cls)
    host = next((m.group(1) for m in (p.search(part) for p in _NAMED_HOST) if m), "")
    return (keys[0] if keys else "", host)


def _secrets(config_cls: type[AdapterConfig], values: Mapping[str, Any], part: str) -> str:
    """The keys that hold the credentials a server refused: the login name and the secrets the
    hub sends (not the secrets that only check incoming webhooks)."""
    secret = config_cls.secret_fields()
    sent = [k for k in config_cls.model_fields if k in secret and not k.startswith(("webhook", "signing"))]
    if part.lower().startswith("smtp"):
        sent = [k for k in sent if k.startswith("smtp")] + [k for k in sent if k == "password"]
        logins = ["smtp_username", "username"]
    else:
        sent = [k for k in sent if not k.startswith("smtp")]
        logins = ["username", "email", "app_id", "account_sid"]
    if values.get("auth") == "oauth2":
        sent = ["the OAuth sign-in (press Sign in again)"]
    elif any(values.get(k) for k in sent):
        sent = [k for k in sent if values.get(k)]
    user = next((k for k in logins if k in config_cls.model_fields), None)
    names = ([user] if user else []) + sent[:3]
    if not names:
        return "the credentials"
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def error_text(exc: Exception) -> str:
    """An exception as a check reports it: our own errors already say what to fix (no class
    name); a library's keeps its class name (the plain-words step below reads it)."""
    return str(exc) if isinstance(exc, OmnihubError) and str(exc) else f"{exc.__class__.__name__}: {exc}"


def validation_summary(exc: ValidationError) -> str:
    """A config that does not validate, as a failed check says it."""
    return "invalid configuration: " + validation_problems(exc)


def validation_problems(exc: ValidationError) -> str:
    """A config's validation errors in the admin's words: "account_sid: must be …"; a rule
    over several keys ("set subdomain … or base_url") without a key in front."""
    problems = []
    for e in exc.errors():
        where = ".".join(str(p) for p in e["loc"])
        msg = re.sub(r"^(?:Value error|Assertion failed), ", "", str(e["msg"]))
        if e["type"] == "missing":
            msg = "required"
        elif e["type"] == "extra_forbidden":
            msg = "not a key of this connector kind"
        problems.append(f"{where}: {msg}" if where else msg)
    return "; ".join(problems)


def explain_part(part: str, config_cls: type[AdapterConfig], values: Mapping[str, Any]) -> str:
    """One failure in plain words with the key to fix; unrecognised text is returned as it is."""
    if _ALREADY_PLAIN.search(part):
        return part  # our own message already says what to do (an OAuth sign-in, a client secret)
    key, host = _pick(part, config_cls, values)
    where = host or "the server"
    check = f"check {key}" if key else "check the connector's address keys"
    proto = "IMAP: " if part.lower().startswith("imap") else "SMTP: " if part.lower().startswith("smtp") else ""
    status = _HTTP_STATUS.search(part)
    code = int(status.group(1) or status.group(2) or status.group(3)) if status else 0
    if code in (401, 403):
        return f"{proto}{where} refused the credentials (HTTP {code}) — check {_secrets(config_cls, values, part)}"
    if code == 404:
        ids = [k for k in config_cls.model_fields if k.endswith("_id") and values.get(k) and k not in config_cls.secret_fields()
               and k != "app_id"]
        also = f" and {', '.join(ids)}" if ids else ""
        return f"{proto}{where} answered 404 Not Found — the address or an ID is wrong; {check}{also}"
    if code == 429:
        return f"{proto}{where} is rate limiting the hub (HTTP 429) — try the check again in a minute"
    if code >= 500:
        return f"{proto}{where} has a server error (HTTP {code}) — try again later; if it persists, {check}"
    if _DNS.search(part):
        return f"{proto}cannot resolve {where} — no such host name; {check}"
    if _REFUSED.search(part):
        port_key = next((k for k in (f"{key.split('_')[0]}_port",) if k in config_cls.model_fields), "")
        extra = f" and {port_key}" if port_key and key.endswith("_host") else ""
        return f"{proto}{where} refused the connection — nothing is listening there; {check}{extra}"
    if _AUTH.search(part):
        return f"{proto}{where} refused the credentials — check {_secrets(config_cls, values, part)}"
    if _TLS.search(part) and not _TIMEOUT.search(part):
        sec = f"{key.split('_')[0]}_security" if key.endswith("_host") else ""
        fix = f"check {key}{' and ' + sec if sec in config_cls.model_fields else ''}"
        return f"{proto}the secure connection to {where} failed (untrusted certificate or wrong security mode) — {fix}"
    if _TIMEOUT.search(part):
        return f"{proto}{where} did not answer in time — {check}, and that a firewall lets the hub reach it"
    if _UNREACHABLE.search(part):
        return f"{proto}cannot connect to {where} — {check}"
    return part


def explain(summary: str, config_cls: type[AdapterConfig], values: Mapping[str, Any]) -> str:
    """A failed check's summary in plain words (each "; "-separated part on its own)."""
    parts = [p.strip() for p in re.split(r";\s+(?=(?:IMAP|SMTP)\b)", summary)] if summary else []
    return "; ".join(explain_part(p, config_cls, values) for p in parts) or summary


def plain_result(result: dict[str, Any], config_cls: type[AdapterConfig], values: Mapping[str, Any]) -> dict[str, Any]:
    """A check result whose failure summary is in plain words; the original text moves to
    ``details["technical"]``."""
    if result.get("ok"):
        return result
    original = str(result.get("summary") or "")
    plain = explain(original, config_cls, values)
    if plain == original:
        return result
    return {**result, "summary": plain, "details": {**dict(result.get("details") or {}), "technical": original}}
