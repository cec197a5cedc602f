"""A small Discord Gateway client for the poller: HELLO, IDENTIFY or RESUME, heartbeats
with zombie detection, RECONNECT / INVALID_SESSION handling and resume after a dropped
connection (https://discord.com/developers/docs/events/gateway).

Dispatches are handed to ``on_dispatch`` one at a time and the sequence number advances
only after it returned: when journaling fails the connection is closed and resumed from
the last journaled sequence, so Discord replays what was not stored.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import ClientConnection, connect

from hub.errors import AuthError, ConfigError
from hub.net import check_url

# Gateway intents (https://discord.com/developers/docs/events/gateway#gateway-intents)
GUILDS = 1 << 0
GUILD_MESSAGES = 1 << 9
DIRECT_MESSAGES = 1 << 12
MESSAGE_CONTENT = 1 << 15  # privileged: enabled in the Developer Portal (Bot → Message Content Intent)
INTENTS = GUILDS | GUILD_MESSAGES | DIRECT_MESSAGES | MESSAGE_CONTENT

DISPATCH, HEARTBEAT, IDENTIFY, RESUME, RECONNECT, INVALID_SESSION, HELLO, HEARTBEAT_ACK = 0, 1, 2, 6, 7, 9, 10, 11
#: close codes after which reconnecting cannot help (https://discord.com/developers/docs/topics/opcodes-and-status-codes#gateway-gateway-close-event-codes)
FATAL = {
    4004: "the bot token was refused: reset it in the Discord Developer Portal (Bot → Reset Token) and paste it into bot_token",
    4010: "invalid shard", 4011: "the bot is in too many servers for one connection (sharding required)",
    4012: "invalid Gateway API version",
    4013: "invalid intents",
    4014: "the Message Content intent is not enabled: turn on Bot → Privileged Gateway Intents → Message Content Intent "
          "in the Discord Developer Portal",
}
#: close codes after which the session cannot be resumed (identify afresh)
NO_RESUME = {4007, 4009}


class Gateway:
    def __init__(self, url: str, token: str, *, on_dispatch: Callable[[str, dict[str, Any]], bool | None], stop: threading.Event,
                 log: Any, intents: int = INTENTS, who: str = "discord",
                 resume: dict[str, Any] | None = None, checkpoint: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.url = url
        self.token = token
        self.on_dispatch = on_dispatch
        self.stop = stop
        self.log = log
        self.intents = intents
        self.who = who
        # a session saved by an earlier process (``checkpoint``): a restarted poller RESUMEs it,
        # so what Discord sent while no process was connected is replayed, not lost
        saved = resume or {}
        self.session_id: str | None = saved.get("session_id")
        self.resume_url: str | None = saved.get("resume_url")
        self.seq: int | None = saved.get("seq") if isinstance(saved.get("seq"), int) else None
        self.checkpoint = checkpoint
        self.user: dict[str, Any] = {}
        self.connections = 0  # sessions opened (for status and tests)
        self.resumes = 0

    # --- the loop ---------------------------------------------------------------------------
    def run(self) -> None:
        """Connect and reconnect until ``stop`` is set; raises on a fatal close code."""
        backoff = 1.0
        while not self.stop.is_set():
            try:
                self._session()
                backoff = 1.0
            except (AuthError, ConfigError):
                raise
            except (ConnectionClosed, OSError, TimeoutError, InvalidHandshake, InvalidURI, ValueError) as exc:
                self.log.warning("discord.gateway.disconnected", error=f"{exc.__class__.__name__}: {exc}")
                self.stop.wait(backoff * random.uniform(0.5, 1.0))
                backoff = min(backoff * 2, 60.0)

    def _session(self) -> None:
        resuming = bool(self.session_id and self.seq is not None)
        base = (self.resume_url if resuming and self.resume_url else self.url).rstrip("/")
        check_url(base, key="gateway_url")
        with connect(f"{base}/?v=10&encoding=json", open_timeout=15, close_timeout=2, max_size=2**24) as ws:
            self.connections += 1
            hello = self._recv(ws, timeout=20)
            if hello is None or hello.get("op") != HELLO:
                raise ValueError("the Gateway did not start with HELLO")
            interval = float(hello["d"]["heartbeat_interval"]) / 1000.0
            acked = threading.Event()
            acked.set()
            done = threading.Event()
            beat = threading.Thread(target=self._heartbeat, args=(ws, interval, acked, done), daemon=True,
                                    name="discord-heartbeat")
            beat.start()
            try:
                if resuming:
                    self.resumes += 1
                    self._send(ws, RESUME, {"token": self.token, "session_id": self.session_id, "seq": self.seq})
                else:
                    self._send(ws, IDENTIFY, {"token": self.token, "intents": self.intents,
                                              "properties": {"os": "linux", "browser": "omnihub", "device": "omnihub"}})
                self._loop(ws, acked)
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd else None
                if code in FATAL:
                    err = AuthError if code == 4004 else ConfigError
                    raise err(f"{self.who}: Discord closed the Gateway ({code}): {FATAL[code]}") from None
                if code in NO_RESUME:
                    self.session_id = self.seq = None
                    if self.checkpoint is not None:
                        self.checkpoint({})
                raise
            finally:
                done.set()

    def _loop(self, ws: ClientConnection, acked: threading.Event) -> None:
        while not self.stop.is_set():
            msg = self._recv(ws, timeout=1.0)
            if msg is None:
                continue
            op = msg.get("op")
            if op == DISPATCH:
                t, d = msg.get("t"), msg.get("d")
                if t == "READY" and isinstance(d, dict):
                    self.session_id = d.get("session_id")
                    self.resume_url = d.get("resume_gateway_url") or self.url
                    self.user = d.get("user") or {}
                    self.log.info("discord.gateway.ready", bot=self.user.get("username"), guilds=len(d.get("guilds") or ()))
                elif t == "RESUMED":
                    self.log.info("discord.gateway.resumed", seq=self.seq)
                journaled = False
                if isinstance(t, str) and isinstance(d, dict):
                    try:
                        journaled = bool(self.on_dispatch(t, d))
                    except Exception:
                        # not journaled: resume from the last stored sequence; Discord replays it
                        self.log.exception("discord.gateway.not_journaled", event=t)
                        ws.close(4000, "journal failed; resuming")
                        return
                if isinstance(msg.get("s"), int):
                    self.seq = msg["s"]
                if self.checkpoint is not None and (journaled or t in ("READY", "RESUMED")):
                    self.checkpoint({"session_id": self.session_id, "resume_url": self.resume_url, "seq": self.seq})
            elif op == HEARTBEAT:
                self._send(ws, HEARTBEAT, self.seq)
            elif op == HEARTBEAT_ACK:
                acked.set()
            elif op == RECONNECT:
                self.log.info("discord.gateway.reconnect_requested")
                ws.close(4000, "reconnect requested")
                return
            elif op == INVALID_SESSION:
                if not msg.get("d"):
                    self.session_id = self.seq = None
                    if self.checkpoint is not None:
                        self.checkpoint({})
                self.stop.wait(random.uniform(1.0, 5.0))
                ws.close(4000, "invalid session")
                return
        # not 1000/1001: those end the session on Discord's side, and the next poller (a
        # restart, or another host taking over) resumes it instead of losing what came meanwhile
        ws.close(4000, "stopping; the session will be resumed")

    def _heartbeat(self, ws: ClientConnection, interval: float, acked: threading.Event, done: threading.Event) -> None:
        """Beat every interval (the first after a random part of it); no ACK since the last
        beat means a zombie connection: close it so the session resumes on a new one."""
        wait = interval * random.random()
        while not done.wait(wait) and not self.stop.is_set():
            if not acked.is_set():
                self.log.warning("discord.gateway.zombie")
                try:
                    ws.close(4000, "no heartbeat ack")
                except Exception:  # noqa: BLE001 - closing a dead socket
                    pass
                return
            acked.clear()
            try:
                self._send(ws, HEARTBEAT, self.seq)
            except ConnectionClosed:
                return
            wait = interval

    @staticmethod
    def _send(ws: ClientConnection, op: int, d: Any) -> None:
        ws.send(json.dumps({"op": op, "d": d}))

    @staticmethod
    def _recv(ws: ClientConnection, timeout: float) -> dict[str, Any] | None:
        try:
            raw = ws.recv(timeout=timeout)
        except TimeoutError:
            return None
        data = json.loads(raw)
        return data if isinstance(data, dict) else None
