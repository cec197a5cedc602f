"""Channel adapters. Core code looks them up here, never by branching on a name.

``REGISTRY`` maps each connector kind to the dotted path of its adapter class; the class (and
the channel's SDK) is imported the first time the kind is looked up, so a process that never
meets a Slack connector never imports slack_sdk.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hub.types import Registry

if TYPE_CHECKING:
    from channels.base import ChannelAdapter

REGISTRY: Registry[ChannelAdapter] = Registry("channel", {
    "api": "channels.api:ApiChannel",
    "discord": "channels.discord.adapter:DiscordChannel",
    "email": "channels.email:EmailChannel",
    "slack": "channels.slack.adapter:SlackChannel",
    "telegram": "channels.telegram.adapter:TelegramChannel",
    "twilio": "channels.twilio.adapter:TwilioChannel",
    "x": "channels.x.adapter:XChannel",
    "whatsapp": "channels.whatsapp.adapter:WhatsAppChannel",
    "messenger": "channels.messenger.adapter:MessengerChannel",
    "instagram": "channels.instagram.adapter:InstagramChannel",
})
