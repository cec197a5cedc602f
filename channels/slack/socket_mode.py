"""Socket Mode inbound for the slack channel (the poller process).

slack_sdk's built-in ``SocketModeClient`` (stdlib sockets, no extra websocket library)
opens the connection with apps.connections.open (app-level ``xapp-`` token), answers
pings and reconnects on ``disconnect`` envelopes. Every ``events_api`` envelope's payload
— the same ``event_callback`` body the Events API would POST — is journaled through
``sink.record`` and only then acknowledged with ``{"envelope_id": …}``: if recording fails
the envelope stays unacknowledged and Slack redelivers it
(https://docs.slack.dev/apis/events-api/using-socket-mode).
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode import SocketModeClient
from slack_sdk.socket_mode.client import BaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from channels.slack.web import delivery_error
from hub.errors import AuthError, ConfigError
from hub.types import PollSink, StopEvent

if TYPE_CHECKING:
    from channels.slack.adapter import SlackChannel


def handle_request(adapter: SlackChannel, sink: PollSink, client: BaseSocketModeClient, req: SocketModeRequest) -> None:
    """Journal one envelope, then ack it. Raises (no ack) when journaling fails."""
    if req.type == "events_api" and isinstance(req.payload, dict):
        body = json.dumps(req.payload, separators=(",", ":"), ensure_ascii=False).encode()
        meta: dict[str, Any] = {"socket_mode": True}
        if req.retry_attempt:
            meta.update({"retry_num": str(req.retry_attempt), "retry_reason": req.retry_reason or ""})
        events = adapter.events_from_body(body, meta=meta)
        if events:
            sink.record(events)
    # slash commands / interactivity are not ours, but an unacknowledged envelope is retried:
    # acknowledge them so Slack does not keep redelivering
    client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))


def run_socket_mode(adapter: SlackChannel, sink: PollSink, stop: StopEvent, *, ping_interval: float = 10) -> None:
    """Connect, journal events until ``stop`` is set, then close."""
    config = adapter.config
    if config.app_token is None:
        raise ConfigError(f"slack connector {adapter.ctx.name!r}: Socket Mode needs app_token (xapp-…)")
    client = SocketModeClient(
        app_token=config.app_token.get_secret_value(),
        web_client=adapter.web_client(),
        auto_reconnect_enabled=True,
        ping_interval=ping_interval,
        logger=logging.getLogger("slack_sdk.socket_mode"),
    )

    def on_request(c: BaseSocketModeClient, req: SocketModeRequest) -> None:
        try:
            handle_request(adapter, sink, c, req)
        except Exception:  # noqa: BLE001 - left unacknowledged on purpose; Slack redelivers
            adapter.log.exception("slack.socket_mode.not_journaled", envelope_id=req.envelope_id)
            raise

    client.socket_mode_request_listeners.append(on_request)
    try:
        while not stop.is_set():
            try:
                client.connect()
                break
            except SlackApiError as exc:
                err = delivery_error(exc, who=adapter.who)
                if isinstance(err, AuthError):
                    raise AuthError(f"{err} (Socket Mode needs an app-level token with connections:write)") from None
                adapter.log.warning("slack.socket_mode.connect_failed", error=str(err))
                stop.wait(getattr(err, "retry_after", None) or 5)
            except OSError as exc:
                adapter.log.warning("slack.socket_mode.connect_failed", error=str(exc))
                stop.wait(5)
        stop.wait()
    finally:
        client.close()
