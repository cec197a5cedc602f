"""X-Twilio-Signature: verify and sign, with twilio's own ``RequestValidator``.

Twilio signs the full URL it requested plus, for form posts, every POST parameter sorted
by name (https://www.twilio.com/docs/usage/webhooks/webhooks-security). JSON bodies are
covered by a ``bodySHA256`` query parameter inside the signed URL. Pure functions: no
request objects, no clock (Twilio signatures carry no timestamp; replays of the very same
request are absorbed by the journal's unique provider ids).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import parse_qs, parse_qsl, urlsplit

from twilio.request_validator import RequestValidator

from hub.errors import SignatureInvalid

SIGNATURE_HEADER = "X-Twilio-Signature"
SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"
FORM = "application/x-www-form-urlencoded"


class MultiParams(dict):
    """name -> [values]; ``getlist`` lets RequestValidator sign repeated names (MediaUrl…)."""

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]]) -> MultiParams:
        out = cls()
        for k, v in pairs:
            out.setdefault(k, []).append(v)
        return out

    def getlist(self, name: str) -> list[str]:
        return self[name]


def is_form(content_type: str) -> bool:
    return (content_type or "").split(";")[0].strip().lower() == FORM


def form_pairs(body: bytes) -> list[tuple[str, str]]:
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        raise SignatureInvalid("twilio: form body is not UTF-8") from None


def _algorithm(settings_header: str) -> str | None:
    # Newer twilio releases sign with a selectable algorithm named in this header.
    if not settings_header:
        return None
    for part in settings_header.split(","):
        name, sep, value = part.partition("=")
        if sep and name.strip() == "algorithm" and value.strip():
            return value.strip()
    return None


def verify(
    auth_token: str | None,
    *,
    url: str,
    method: str,
    content_type: str,
    body: bytes,
    signature: str | None,
    settings_header: str = "",
) -> None:
    """Raise SignatureInvalid unless ``signature`` is Twilio's for this request. Fails closed."""
    if not auth_token:
        raise SignatureInvalid("twilio: connector has no auth_token; refusing unsigned webhooks")
    if not signature:
        raise SignatureInvalid(f"twilio: missing {SIGNATURE_HEADER} header")
    validator = RequestValidator(auth_token)
    query = parse_qs(urlsplit(url).query)
    params: MultiParams | str
    if method.upper() == "GET":
        params = MultiParams()
    elif is_form(content_type):
        params = MultiParams.from_pairs(form_pairs(body))
    elif "bodySHA256" in query:
        try:
            params = body.decode("utf-8")
        except UnicodeDecodeError:
            raise SignatureInvalid("twilio: JSON body is not UTF-8") from None
    elif body:
        # A non-form body that no bodySHA256 covers would be unauthenticated.
        raise SignatureInvalid("twilio: non-form body without bodySHA256 in the signed URL")
    else:
        params = MultiParams()
    algorithm = _algorithm(settings_header)
    try:
        ok = validator.validate(url, params, signature, algorithm) if algorithm else validator.validate(url, params, signature)
    except (ValueError, TypeError):
        ok = False
    if not ok:
        raise SignatureInvalid("twilio: X-Twilio-Signature does not match this URL and body")


def sign(auth_token: str, url: str, pairs: Iterable[tuple[str, str]] = ()) -> str:
    """The X-Twilio-Signature Twilio would send for a form POST of ``pairs`` to ``url``."""
    return RequestValidator(auth_token).compute_signature(url, MultiParams.from_pairs(pairs))
