"""Leases in Redis: each long-running poll and periodic job has one owner at a time.

A lease is one key, ``<queue prefix>:lease:<name>``, whose value is the owner's id
(``host:pid:random``). With OMNIHUB_POLL_LEASE_SECONDS = L, the key lives 3/4 L and its owner
renews it every L/4 (``TICK``): a holder survives two failed renewals, and a dead holder's
key is gone at most 3/4 L after its last renewal, so the next tick of another poller (at most
L/4 later) takes the work over within L.

- acquire: ``SET key owner NX PX ttl`` (a free lease only; several in one script call, up
  to a number the caller may still take);
- renew: compare-and-extend in one script call for all the leases a poller holds — a lease
  whose value is no longer the caller's id is lost, and the caller stops that work at once;
- release: compare-and-delete, so a poller that stops hands its work over at once instead of
  after the lease time.

Live pollers announce themselves in a sorted set (``<prefix>:pollers``: owner -> expiry in
ms), renewed with the leases, so each knows how many share the work
(``hub.leases.Leases.heartbeat``). ``holders`` and ``pollers`` are what
``GET /api/v1/stats/queues`` shows.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Iterable
from typing import Any

from redis import Redis

from config.settings import Settings

# KEYS: lease keys. ARGV: owner, ttl ms. Returns 1/0 per key: still held (and extended) or lost.
_RENEW = """
local out = {}
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
"""

# KEYS: candidate lease keys. ARGV: owner, ttl ms, how many may be taken. Returns the
# (1-based) indexes of the keys acquired: free ones, and ones still holding this owner's id
# (a poller that stopped everything while Redis was unreachable takes its own back at once).
_ACQUIRE = """
local got = {}
local room = tonumber(ARGV[3])
for i, key in ipairs(KEYS) do
  if room <= 0 then break end
  local mine = redis.call('GET', key) == ARGV[1]
  if mine then redis.call('PEXPIRE', key, ARGV[2]) end
  if mine or redis.call('SET', key, ARGV[1], 'NX', 'PX', ARGV[2]) then
    table.insert(got, i)
    room = room - 1
  end
end
return got
"""

# KEYS: lease keys. ARGV: owner. Deletes the ones the owner still holds; returns how many.
_RELEASE = """
local n = 0
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    n = n + redis.call('DEL', key)
  end
end
return n
"""


def owner_id() -> str:
    """This process's lease owner id: host, pid and a random part (a pid is reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def lease_key(prefix: str, name: str) -> str:
    return f"{prefix}:lease:{name}"


def pollers_key(prefix: str) -> str:
    return f"{prefix}:pollers"


def names_key(prefix: str) -> str:
    """Every lease name ever taken under ``prefix`` (what ``holders`` looks up: no SCAN)."""
    return f"{prefix}:lease-names"


#: fractions of OMNIHUB_POLL_LEASE_SECONDS: the key's life, the renewal tick, a Redis call's timeout
LIFE, TICK, TIMEOUT = 0.75, 0.25, 0.2


def client(redis_url: str, lease_seconds: float, settings: Settings | None = None) -> Redis:
    """A Redis client whose calls give up well inside the lease time: a poller that cannot
    renew must learn it (and stop its polls) before its leases expire elsewhere (last good
    renewal + TICK + TIMEOUT < LIFE). With ``settings`` naming sentinels, the client of the
    master they name (it follows a failover; each sentinel gets the same timeout)."""
    from hub.redisconn import connect, uses_sentinel

    timeout = max(0.1, lease_seconds * TIMEOUT)
    options: dict[str, Any] = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    if uses_sentinel(settings):
        # no retries: a failed renewal must surface within the timeout; the next tick asks
        # the sentinels again (and reaches the new master once they name it)
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        options["retry"] = Retry(NoBackoff(), 0)
    return connect(settings, redis_url, **options)


class Leases:
    """One owner's view of the leases under a queue prefix."""

    def __init__(self, redis: Redis, prefix: str, owner: str, lease_seconds: float) -> None:
        self.redis = redis
        self.prefix = prefix
        self.owner = owner
        self.ttl_ms = max(1, int(lease_seconds * LIFE * 1000))  # the key's life
        self._renew = redis.register_script(_RENEW)
        self._acquire = redis.register_script(_ACQUIRE)
        self._release = redis.register_script(_RELEASE)

    def key(self, name: str) -> str:
        return lease_key(self.prefix, name)

    def acquire(self, names: Iterable[str], room: int) -> set[str]:
        """Take up to ``room`` of the free leases among ``names`` (tried in order)."""
        names = list(names)
        if not names or room <= 0:
            return set()
        got = self._acquire(keys=[self.key(n) for n in names], args=[self.owner, self.ttl_ms, room])
        taken = {names[int(i) - 1] for i in got}
        if taken:
            self.redis.sadd(names_key(self.prefix), *taken)
        return taken

    def renew(self, names: Iterable[str]) -> set[str]:
        """Extend the leases still held by this owner; returns them (the others are lost)."""
        names = list(names)
        if not names:
            return set()
        kept = self._renew(keys=[self.key(n) for n in names], args=[self.owner, self.ttl_ms])
        return {n for n, k in zip(names, kept, strict=True) if int(k)}

    def release(self, names: Iterable[str]) -> int:
        names = list(names)
        if not names:
            return 0
        return int(self._release(keys=[self.key(n) for n in names], args=[self.owner]))

    def heartbeat(self) -> list[str]:
        """Announce this poller for one key life; returns the live pollers (this one included)."""
        now_ms = int(time.time() * 1000)
        key = pollers_key(self.prefix)
        pipe = self.redis.pipeline(transaction=True)
        pipe.zadd(key, {self.owner: now_ms + self.ttl_ms})
        pipe.zremrangebyscore(key, "-inf", now_ms)
        pipe.zrange(key, 0, -1)
        pipe.pexpire(key, self.ttl_ms * 10)
        live = pipe.execute()[2]
        return [o.decode() if isinstance(o, bytes) else str(o) for o in live]

    def leave(self) -> None:
        self.redis.zrem(pollers_key(self.prefix), self.owner)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def holders(redis: Redis, prefix: str) -> list[dict[str, Any]]:
    """Every lease held under ``prefix``: name, owner, expires_in (seconds)."""
    names = sorted(_text(n) for n in redis.smembers(names_key(prefix)))
    if not names:
        return []
    pipe = redis.pipeline(transaction=False)
    for n in names:
        pipe.get(lease_key(prefix, n))
        pipe.pttl(lease_key(prefix, n))
    values = pipe.execute()
    out = []
    for i, n in enumerate(names):
        owner, ttl = values[2 * i], values[2 * i + 1]
        if owner is None or ttl is None or int(ttl) < 0:
            continue  # free (expired or released)
        out.append({"name": n, "owner": _text(owner), "expires_in": round(int(ttl) / 1000, 1)})
    return out


def pollers(redis: Redis, prefix: str) -> list[dict[str, Any]]:
    """The live pollers under ``prefix``: owner and how long their heartbeat still runs (s)."""
    now_ms = time.time() * 1000
    rows: list[Any] = list(redis.zrangebyscore(pollers_key(prefix), now_ms, "+inf", withscores=True))
    return [{"owner": _text(o), "expires_in": round((float(score) - now_ms) / 1000, 1)} for o, score in rows]
