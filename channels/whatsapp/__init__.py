"""whatsapp channel: the WhatsApp Cloud API, directly (no Twilio in between).

``adapter.WhatsAppChannel`` is the adapter; the Graph API client, the webhook signature and
the subscription handshake are shared with messenger and instagram (``channels/meta``).
"""

from channels.whatsapp.adapter import WhatsAppChannel, WhatsAppConfig

__all__ = ["WhatsAppChannel", "WhatsAppConfig"]
