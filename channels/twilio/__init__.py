"""twilio channel package: adapter, config, signature, API client."""

from channels.twilio.adapter import TwilioChannel
from channels.twilio.config import TwilioConfig

__all__ = ["TwilioChannel", "TwilioConfig"]
