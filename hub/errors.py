"""One error hierarchy for the whole hub: every failure an adapter or the core raises is one of these.

Adapters translate provider and SDK exceptions into these at their boundary. Whether a
delivery is retried is decided here, once: ``error_for_status`` maps an HTTP status.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


class OmnihubError(Exception):
    """Base of every error omnihub raises on purpose."""


class ConfigError(OmnihubError):
    """A setting or connector configuration is missing or invalid; the message names the fix."""


class NotFound(OmnihubError):
    """A connector, conversation or other object does not exist."""


class SignatureInvalid(OmnihubError):
    """A webhook failed authentication: answered with 403 and stored nowhere."""

    status_code = 403


class PayloadInvalid(OmnihubError):
    """A request or raw event is malformed: answered with 400 / quarantined with this reason."""

    status_code = 400


class DeliveryError(OmnihubError):
    """Base of errors raised while pushing to a helpdesk or sending on a channel."""


class RetriableDeliveryError(DeliveryError):
    """Temporary failure (429, 5xx, timeout, connection): retried with backoff."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    """Will never succeed as sent (4xx, opted-out number, archived channel): goes dead."""

    #: set when sending the same reply again cannot deliver it and the agent must do
    #: something else (a closed 24-hour window: send an approved template): the inbox shows
    #: this instead of a Retry button
    advice: str | None = None


class WindowClosed(PermanentDeliveryError):
    """The platform's messaging window with this customer is closed (WhatsApp's 24 hours,
    Messenger's 24 hours / 7 days): free text cannot be sent until the customer writes
    again; ``advice`` says what can be sent instead."""

    def __init__(self, message: str, advice: str) -> None:
        super().__init__(message)
        self.advice = advice


class RecipientRefused(PermanentDeliveryError):
    """The recipient can never be reached this way (an invalid or unsubscribed number, a
    number that cannot receive SMS): sending the same reply again cannot help, so the inbox
    offers no Retry and a replay leaves it out unless asked."""


class RecipientOptedOut(RecipientRefused):
    """The recipient turned us away (blocked the bot, unsubscribed the number): the hub marks
    their identity opted out with this error's words as the reason, so no later reply is
    attempted until they write again."""


class AuthError(PermanentDeliveryError):
    """Credentials rejected (401/403): fix the connector; shown on its health."""

    needed: str | None = None  # Slack's missing_scope names the scope(s) needed


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


def error_for_status(
    status: int, message: str, *, who: str = "", retry_after: str | float | None = None
) -> DeliveryError | None:
    """Map an HTTP status to the error to raise, or None for 2xx/3xx.

    429 and 5xx -> retriable (honouring Retry-After); 401/403 -> AuthError;
    any other 4xx -> permanent with the API's message.
    """
    if status < 400:
        return None
    prefix = f"{who}: " if who else ""
    text = f"{prefix}HTTP {status}: {message}".strip()
    if status == 429 or status >= 500 or status == 408:
        delay = retry_after if isinstance(retry_after, (int, float)) else parse_retry_after(retry_after)
        return RetriableDeliveryError(text, retry_after=delay)
    if status in (401, 403):
        return AuthError(f"{text} (check the connector's credentials)")
    return PermanentDeliveryError(text)
