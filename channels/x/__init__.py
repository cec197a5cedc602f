"""x channel (X / Twitter): mentions and DMs through API v2 with tweepy.

``adapter.XChannel`` is the adapter; ``api`` wraps tweepy (host, rate limits, errors),
``poller`` keeps the cursors, ``webhook`` the Account Activity CRC and signature,
``text`` X's character counting.
"""

from channels.x.adapter import XChannel, XConfig

__all__ = ["XChannel", "XConfig"]
