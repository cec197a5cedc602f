"""instagram channel: Instagram direct messages to a professional account.

``adapter.InstagramChannel``; the Messenger Platform plumbing is shared with messenger
(``channels/meta/messaging.py``), the Graph client and webhook checks with whatsapp.
"""

from channels.instagram.adapter import InstagramChannel, InstagramConfig

__all__ = ["InstagramChannel", "InstagramConfig"]
