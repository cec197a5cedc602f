"""discord channel: direct messages to the bot and support threads in a Discord server.

In:  the Gateway (a websocket) in the poller: MESSAGE_CREATE / UPDATE / DELETE in DMs and in
     threads whose parent is one of ``support_channel_ids`` (text or forum channels) are
     journaled (deduplicated by message id) and normalized by ``normalizers/discord.py``.
     The interactions webhook /webhooks/<connector>/interactions (Ed25519 signature with
     ``public_key``, fail closed with 401 as Discord requires) serves the "Contact support"
     slash command and button: the worker opens a private thread for the customer.
Out: REST create message in the DM channel or the thread (2,000-character parts, files as
     multipart), quoting the customer's message; rate limits from the X-RateLimit headers
     and 429 ``retry_after``.
"""

from channels.discord.adapter import DiscordChannel, DiscordConfig

__all__ = ["DiscordChannel", "DiscordConfig"]
