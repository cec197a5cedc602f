"""Channel adapters. Core code looks them up here, never by branching on a name."""

from __future__ import annotations

from channels.api import ApiChannel
from channels.base import ChannelAdapter
from channels.discord import DiscordChannel
from channels.email import EmailChannel
from channels.instagram import InstagramChannel
from channels.messenger import MessengerChannel
from channels.slack import SlackChannel
from channels.telegram import TelegramChannel
from channels.twilio import TwilioChannel
from channels.whatsapp import WhatsAppChannel
from channels.x import XChannel

REGISTRY: dict[str, type[ChannelAdapter]] = {
    ApiChannel.kind: ApiChannel,
    DiscordChannel.kind: DiscordChannel,
    EmailChannel.kind: EmailChannel,
    SlackChannel.kind: SlackChannel,
    TelegramChannel.kind: TelegramChannel,
    TwilioChannel.kind: TwilioChannel,
    XChannel.kind: XChannel,
    WhatsAppChannel.kind: WhatsAppChannel,
    MessengerChannel.kind: MessengerChannel,
    InstagramChannel.kind: InstagramChannel,
}
