"""messenger channel adapter: a Facebook Page's Messenger conversations (Messenger Platform).

Webhook ``/webhooks/<connector>/events`` (object ``page``; fields messages, message_echoes,
message_deliveries, message_reads, message_reactions, messaging_postbacks); replies through
the Send API as the page (``POST /<version>/<page_id>/messages`` with the page access token).
"""

from __future__ import annotations

from pydantic import SecretStr, field_validator

from channels.meta import graph
from channels.meta.messaging import MessagingChannel
from hub.types import AdapterConfig, setting

TEXT_LIMIT = 2000  # message.text (https://developers.facebook.com/docs/messenger-platform/reference/send-api/)


class MessengerConfig(AdapterConfig):
    page_id: str = setting(
        title="Page ID", example="1234567890", section="addresses",
        help="The Facebook Page's numeric ID (Page → About → Page transparency, or Meta Business Suite → Settings).")
    page_access_token: SecretStr = setting(
        title="Page access token", example="EAAG…",
        help="A Page access token with pages_messaging (App Dashboard → Messenger → Settings → Generate token; "
             "a System User token does not expire).")
    app_secret: SecretStr = setting(
        title="App secret", needed_for="webhooks",
        help="The Meta app's App Secret (App Dashboard → App settings → Basic). Every webhook is checked against it "
             "(X-Hub-Signature-256); without it none is accepted.")
    verify_token: SecretStr = setting(
        title="Verify token", example="a long random string",
        help="Any secret string you choose; enter the same one as the Verify token when you set the callback URL "
             "(App Dashboard → Messenger → Settings → Webhooks).")
    api_base_url: str = setting(
        graph.DEFAULT_API_BASE, title="API base URL", example="https://graph.facebook.com", section="advanced", origin_of="url",
        help="The Graph API host; change it only for a proxy or a local test server.")
    api_version: str = setting(
        graph.DEFAULT_API_VERSION, title="Graph API version", example="v24.0", section="advanced",
        help="The Graph API version every call names (the path's /v24.0/ part).")

    @field_validator("page_id")
    @classmethod
    def _page_id(cls, v: str) -> str:
        return graph.need_id(v, "page_id")

    @field_validator("api_version")
    @classmethod
    def _version(cls, v: str) -> str:
        return graph.need_version(v)


class MessengerChannel(MessagingChannel):
    kind = "messenger"
    title = "Facebook Messenger"
    Config = MessengerConfig
    config: MessengerConfig
    webhook_object = "page"
    max_text_length = TEXT_LIMIT
    id_key = "page_id"
    token_key = "page_access_token"
    profile_fields = "first_name,last_name"  # the User Profile API (https://developers.facebook.com/docs/messenger-platform/identity/user-profile)
