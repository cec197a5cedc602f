"""SMTP out with smtplib: implicit TLS, STARTTLS or plain (loopback only), optional AUTH.

Errors are translated here, once: 4xx replies and connection problems are retriable,
5xx replies are permanent and carry the server's own words; 535 is an AuthError.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

from hub.errors import AuthError, PermanentDeliveryError, RetriableDeliveryError
from hub.net import check_host

DEFAULT_PORTS = {"ssl": 465, "starttls": 587, "none": 25}
TIMEOUT = 30.0


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def connect(
    host: str, port: int | None, security: str, username: str | None, password: str | None, timeout: float = TIMEOUT,
    oauth2: Callable[[bool], str] | None = None,
) -> smtplib.SMTP:
    """An SMTP session, TLS and AUTH done. Raises the hub's delivery errors."""
    port = port or DEFAULT_PORTS[security]
    check_host(host, port, key="smtp_host")  # the outbound URL guard (SSRF)
    context = ssl.create_default_context()
    try:
        if security == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
        else:
            client = smtplib.SMTP(host, port, timeout=timeout)
        client.ehlo()
        if security == "starttls":
            client.starttls(context=context)
            client.ehlo()
        if oauth2 is not None:
            _xoauth2(client, username or "", oauth2)
        elif username:
            client.login(username, password or "")
        return client
    except smtplib.SMTPAuthenticationError as exc:
        raise AuthError(f"SMTP {host}:{port}: login refused: {exc.smtp_code} {_text(exc.smtp_error)}") from None
    except smtplib.SMTPNotSupportedError as exc:
        raise PermanentDeliveryError(f"SMTP {host}:{port}: {exc} (check smtp_security)") from None
    except smtplib.SMTPResponseException as exc:
        raise _for_code(exc.smtp_code, _text(exc.smtp_error), f"SMTP {host}:{port}") from None
    except (TimeoutError, smtplib.SMTPException, OSError, ssl.SSLError) as exc:
        raise RetriableDeliveryError(f"SMTP {host}:{port}: {exc.__class__.__name__}: {exc}") from None


def _xoauth2(client: smtplib.SMTP, username: str, oauth2: Callable[[bool], str]) -> None:
    """AUTH XOAUTH2 (https://developers.google.com/gmail/imap/xoauth2-protocol); a refused
    token is refreshed and tried once more."""
    for force in (False, True):
        token = oauth2(force)

        def respond(challenge: bytes | None = None, _t: str = token) -> str:
            # on failure the server sends a JSON error as a challenge; an empty answer ends the exchange
            return "" if challenge is not None else f"user={username}\x01auth=Bearer {_t}\x01\x01"

        try:
            client.auth("XOAUTH2", respond)
            return
        except smtplib.SMTPAuthenticationError:
            if force:
                raise


def _for_code(code: int, message: str, where: str):
    text = f"{where}: {code} {message}".strip()
    if 400 <= code < 500:
        return RetriableDeliveryError(text)
    if code == 535:
        return AuthError(text)
    return PermanentDeliveryError(text)


def send(client: smtplib.SMTP, msg: EmailMessage, where: str = "SMTP") -> dict[str, Any]:
    """Send one message on an open session; returns per-recipient refusals (empty when all took it)."""
    try:
        refused = client.send_message(msg)
    except smtplib.SMTPRecipientsRefused as exc:
        code, reason = next(iter(exc.recipients.values()))
        raise _for_code(code, _text(reason), f"{where}: recipient refused") from None
    except smtplib.SMTPResponseException as exc:
        raise _for_code(exc.smtp_code, _text(exc.smtp_error), where) from None
    except (TimeoutError, smtplib.SMTPException, OSError) as exc:
        raise RetriableDeliveryError(f"{where}: {exc.__class__.__name__}: {exc}") from None
    return {k: (code, _text(reason)) for k, (code, reason) in (refused or {}).items()}


def close(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()


def capabilities(client: smtplib.SMTP) -> list[str]:
    return sorted(f"{k.upper()} {v}".strip() for k, v in (client.esmtp_features or {}).items())
