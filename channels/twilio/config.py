"""Connector configuration of the twilio channel."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import SecretStr, field_validator

from hub.types import AdapterConfig, setting
from normalizers import twilio as tw

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")

DEFAULT_GREETING = "Thank you for calling. Please leave a message after the tone, and we will get back to you."
DEFAULT_GREETING_NO_VOICEMAIL = "Thank you for calling. Nobody can take your call right now; we will get back to you by text message."


def _e164(value: str, field: str) -> str:
    number = tw.normalize_phone(value)
    if not _E164.match(number):
        raise ValueError(f"{field}: {value!r} is not an E.164 phone number (like +14155550100)")
    return number


class TwilioConfig(AdapterConfig):
    account_sid: str = setting(
        title="Account SID", example="AC0123456789abcdef0123456789abcdef", section="credentials",
        help="Your Twilio account's identifier (Console → Account info): AC followed by 32 hex digits.")
    auth_token: SecretStr | None = setting(
        None, title="Auth token", section="credentials", needed_for="webhooks",
        help="The account's Auth Token (Console → Account info). It signs every webhook: without it no webhook is accepted.")
    phone_numbers: str = setting(
        "", title="Phone numbers", example="+14155550100, +442071838750", section="addresses",
        help="Comma-separated E.164 numbers of this account that customers text and call.")
    messaging_service_sid: str | None = setting(
        None, title="Messaging Service SID", example="MG0123456789abcdef0123456789abcdef", section="addresses",
        help="Send SMS through this Messaging Service (MG…) instead of from the number the customer wrote to.")
    whatsapp_from: str | None = setting(
        None, title="WhatsApp sender", example="whatsapp:+14155238886", section="addresses",
        help="The WhatsApp-enabled number replies are sent from (the whatsapp: prefix is added if missing).")
    voice_greeting: str | None = setting(
        None, title="Voice greeting", example="Thanks for calling Acme Wallet support.", section="behaviour",
        help="What callers hear before voicemail; empty: a standard greeting.")
    voice_language: str = setting(
        "en-US", title="Voice language", example="es-ES", section="behaviour",
        help="Language (BCP 47) the greeting is spoken in.")
    voicemail: Literal["on", "off"] = setting(
        "on", title="Voicemail", section="behaviour",
        help="on: callers can leave a message, which becomes a conversation with the recording; off: the call ends after the greeting.")
    forward_to: str | None = setting(
        None, title="Forward calls to", example="+14155550123", section="behaviour",
        help="An agent's phone (E.164): incoming calls ring it first, voicemail if nobody answers.")
    api_base_url: str | None = setting(
        None, title="API base URL", example="https://api.twilio.com", section="advanced", origin_of="url",
        help="Send API requests here instead of https://api.twilio.com (a proxy or a local test server).")

    @field_validator("account_sid")
    @classmethod
    def _account_sid(cls, v: str) -> str:
        if not re.fullmatch(r"AC[0-9a-fA-F]{32}", v.strip()):
            raise ValueError("must be a Twilio Account SID: AC followed by 32 hex digits")
        return v.strip()

    @field_validator("messaging_service_sid")
    @classmethod
    def _service_sid(cls, v: str | None) -> str | None:
        if v and not re.fullmatch(r"MG[0-9a-fA-F]{32}", v.strip()):
            raise ValueError("must be a Messaging Service SID: MG followed by 32 hex digits")
        return v.strip() if v else None

    @field_validator("phone_numbers")
    @classmethod
    def _numbers(cls, v: str) -> str:
        return ",".join(_e164(n, "phone_numbers") for n in v.split(",") if n.strip())

    @field_validator("forward_to")
    @classmethod
    def _forward(cls, v: str | None) -> str | None:
        return _e164(v, "forward_to") if v else None

    @field_validator("whatsapp_from")
    @classmethod
    def _whatsapp(cls, v: str | None) -> str | None:
        if not v:
            return None
        return "whatsapp:" + _e164(v.strip().removeprefix("whatsapp:"), "whatsapp_from")

    @field_validator("api_base_url")
    @classmethod
    def _base(cls, v: str | None) -> str | None:
        if v and not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/") if v else None

    @property
    def numbers(self) -> list[str]:
        return [n for n in self.phone_numbers.split(",") if n]

    @property
    def greeting(self) -> str:
        if self.voice_greeting:
            return self.voice_greeting
        return DEFAULT_GREETING if self.voicemail == "on" else DEFAULT_GREETING_NO_VOICEMAIL
