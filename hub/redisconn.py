"""Every Redis client of omnihub is made here: one server (OMNIHUB_REDIS_URL), or the master
that Redis Sentinel names (OMNIHUB_REDIS_SENTINELS + OMNIHUB_REDIS_SENTINEL_MASTER).

With Sentinel, a client asks the sentinels for the master's address before each new
connection (redis-py's ``SentinelConnectionPool``). When the master changes:

- a connection to the old master fails (killed: ConnectionError) or is refused writes
  (demoted to a replica: READONLY, or UNBLOCKED for a blocked BLPOP); redis-py turns both
  into a ConnectionError and drops the connection, so the next attempt asks the sentinels
  again and reaches the new master;
- while no master is known (the election, a few seconds), calls raise MasterNotFoundError
  (a ConnectionError). The client retries (``RETRY_*``: redis-py's default policy, a few
  seconds, as for a client of one server); after that the caller sees the error and handles it as it handles a Redis
  outage: a webhook is journaled first (the sweeper schedules it later), a drain leaves
  its rows pending in SQL, the RQ worker reconnects (``hub.cli worker``), a poller stops
  what it cannot prove it owns and takes it back when Redis answers.

OMNIHUB_REDIS_URL keeps its meaning for what the master needs (password, ACL user,
database number, ``rediss://`` for TLS); with Sentinel its host and port are not used.
"""

from __future__ import annotations

from typing import Any

from redis import Redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.connection import parse_url
from redis.retry import Retry

from config.settings import Settings

#: what a client retries on ConnectionError/TimeoutError (MasterNotFoundError and a demoted
#: master's READONLY included): redis-py's own default for a client of one server (10
#: retries, jittered backoff from 10 ms doubling to 1 s: a few seconds in all)
RETRY_BASE, RETRY_CAP, RETRY_COUNT = 0.01, 1.0, 10
#: seconds a sentinel gets to answer "who is the master" (then the next sentinel is asked)
SENTINEL_TIMEOUT = 1.0
#: connect timeout for the master when the caller gives none (a host that vanished would
#: otherwise hold a connect for the kernel's minutes)
CONNECT_TIMEOUT = 5.0

# URL parts that describe where the server is, not how to talk to it: Sentinel says where
_PLACE = ("host", "port", "path", "unix_socket_path", "connection_class")


def default_retry() -> Retry:
    return Retry(ExponentialWithJitterBackoff(base=RETRY_BASE, cap=RETRY_CAP), RETRY_COUNT)


class SentinelMaster(Redis):
    """The master's client; ``close()`` also closes the connections to the sentinels."""

    def close(self) -> None:
        manager = getattr(self.connection_pool, "sentinel_manager", None)
        try:
            super().close()
        finally:
            if manager is not None:
                manager.close()


def uses_sentinel(settings: Settings | None) -> bool:
    return bool(settings is not None and settings.redis_sentinels)


def connect(settings: Settings | None, url: str, **kwargs: Any) -> Redis:
    """A Redis client: the Sentinel-managed master when ``settings`` name sentinels, else
    the server at ``url``. ``kwargs`` are redis-py connection options (timeouts, health
    checks); with Sentinel, ``socket_timeout`` also bounds each sentinel's answer."""
    if not uses_sentinel(settings):
        return Redis.from_url(url, **kwargs)
    assert settings is not None
    from redis.sentinel import Sentinel

    options: dict[str, Any] = {}
    if url:
        options = {k: v for k, v in parse_url(url).items() if k not in _PLACE}
        if url.startswith("rediss://"):
            options["ssl"] = True
    options.setdefault("socket_connect_timeout", CONNECT_TIMEOUT)
    options.setdefault("retry", default_retry())
    options.update(kwargs)
    timeout = min(SENTINEL_TIMEOUT, options.get("socket_timeout") or SENTINEL_TIMEOUT)
    sentinel_kwargs: dict[str, Any] = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    if settings.redis_sentinel_password:
        sentinel_kwargs["password"] = settings.redis_sentinel_password
    sentinel = Sentinel(settings.redis_sentinel_nodes, sentinel_kwargs=sentinel_kwargs)
    return sentinel.master_for(settings.redis_sentinel_master, redis_class=SentinelMaster, **options)


def describe(settings: Settings | None, url: str) -> str:
    """Where the hub's Redis is, for logs and messages (never the password)."""
    if uses_sentinel(settings):
        assert settings is not None
        return f"sentinel master {settings.redis_sentinel_master!r} via {settings.redis_sentinels}"
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.hostname or parts.path}:{parts.port or 6379}" if url else "(none)"
