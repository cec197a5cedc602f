"""telegram channel: a Telegram bot as a support channel (private chats, optionally groups).

In:  webhook mode — Telegram POSTs each Update to /webhooks/<connector>/updates with the
     X-Telegram-Bot-Api-Secret-Token header (compared in constant time; no secret_token,
     no webhook: fail closed); ``check`` registers the webhook (setWebhook with the secret
     and allowed_updates). Polling mode — getUpdates long polling in the poller, the offset
     kept in the connector state after the updates are journaled, so a restart neither
     misses nor repeats. Both journal the same Update (one normalization path,
     ``normalizers/telegram.py``), deduplicated by update_id; messages by chat + message id.
Out: sendMessage (HTML parse mode, text escaped, 4,096-character parts), sendPhoto /
     sendDocument (multipart), reply_parameters quoting the customer's latest message;
     429 waits ``parameters.retry_after``; "bot was blocked by the user" marks the contact
     opted out and fails the reply with that explanation.
"""

from channels.telegram.adapter import TelegramChannel, TelegramConfig

__all__ = ["TelegramChannel", "TelegramConfig"]
