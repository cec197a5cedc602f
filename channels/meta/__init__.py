"""Shared plumbing of the Meta channels (``whatsapp``, ``messenger``, ``instagram``).

``graph`` is a small Graph API client (bearer token, versioned paths, Meta's error codes
mapped to the hub's delivery errors, media download), the ``X-Hub-Signature-256`` check and
the GET subscription handshake; ``adapter.MetaChannel`` is the base class the three channel
adapters share (verify, replay key, handshake answer). It registers no connector kind itself.
"""
