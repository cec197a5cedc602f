"""instagram channel adapter: direct messages of an Instagram professional account.

Instagram API with Instagram Login (https://developers.facebook.com/docs/instagram-platform):
webhook ``/webhooks/<connector>/events`` (object ``instagram``; fields messages,
message_reactions, messaging_postbacks, messaging_seen), replies through
``POST https://graph.instagram.com/<version>/<ig_user_id>/messages`` with the account's token.
"""

from __future__ import annotations

from pydantic import SecretStr, field_validator

from channels.meta import graph
from channels.meta.messaging import MessagingChannel
from hub.types import AdapterConfig, setting

TEXT_LIMIT = 1000  # message.text on Instagram (https://developers.facebook.com/docs/instagram-platform/instagram-api-with-instagram-login/messaging-api)
INSTAGRAM_API = "https://graph.instagram.com"


class InstagramConfig(AdapterConfig):
    ig_user_id: str = setting(
        title="Instagram account ID", example="17841400000000000", section="addresses",
        help="The professional account's Instagram user ID (App Dashboard → Instagram → API setup with Instagram login).")
    access_token: SecretStr = setting(
        title="Access token", example="IGAA…",
        help="The account's Instagram User access token with instagram_business_manage_messages "
             "(App Dashboard → Instagram → Generate token). Long-lived tokens last 60 days: refresh them before.")
    app_secret: SecretStr = setting(
        title="App secret", needed_for="webhooks",
        help="The Meta app's Instagram App Secret (App Dashboard → Instagram → API setup). Every webhook is checked "
             "against it (X-Hub-Signature-256); without it none is accepted.")
    verify_token: SecretStr = setting(
        title="Verify token", example="a long random string",
        help="Any secret string you choose; enter the same one as the Verify token when you set the callback URL "
             "(App Dashboard → Instagram → Webhooks).")
    api_base_url: str = setting(
        INSTAGRAM_API, title="API base URL", example="https://graph.instagram.com", section="advanced", origin_of="url",
        help="The Instagram Graph API host; change it only for a proxy or a local test server.")
    api_version: str = setting(
        graph.DEFAULT_API_VERSION, title="Graph API version", example="v24.0", section="advanced",
        help="The Graph API version every call names (the path's /v24.0/ part).")

    @field_validator("ig_user_id")
    @classmethod
    def _ig_user_id(cls, v: str) -> str:
        return graph.need_id(v, "ig_user_id")

    @field_validator("api_version")
    @classmethod
    def _version(cls, v: str) -> str:
        return graph.need_version(v)


class InstagramChannel(MessagingChannel):
    kind = "instagram"
    title = "Instagram direct messages"
    Config = InstagramConfig
    config: InstagramConfig
    webhook_object = "instagram"
    max_text_length = TEXT_LIMIT
    id_key = "ig_user_id"
    token_key = "access_token"
    profile_fields = "name,username"  # the User Profile API for Instagram messaging

    def check_fields(self) -> str:
        return "username,name"
