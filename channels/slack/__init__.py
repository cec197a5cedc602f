"""slack channel package: ``adapter`` (the ChannelAdapter), ``web`` (Web API helpers),
``socket_mode`` (the Socket Mode poller)."""

from channels.slack.adapter import SlackChannel, SlackConfig

__all__ = ["SlackChannel", "SlackConfig"]
