"""messenger channel: Facebook Messenger conversations with a Facebook Page.

``adapter.MessengerChannel``; the Messenger Platform plumbing is shared with instagram
(``channels/meta/messaging.py``), the Graph client and webhook checks with whatsapp.
"""

from channels.messenger.adapter import MessengerChannel, MessengerConfig

__all__ = ["MessengerChannel", "MessengerConfig"]
