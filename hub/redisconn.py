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
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.connection import parse_url
from redis.exceptions import AuthenticationError
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


#: how long a caller that must not give up on a failover (a drain holding its turn and its
#: rows' claims) retries a Redis call that failed on the connection, after the client's own
#: retries (RETRY_*): an election, a SENTINEL FAILOVER, a restart of one server
REDIS_WAIT = 30.0
#: connection errors that waiting does not cure (``patient`` raises them at once)
_FATAL: tuple[type[BaseException], ...] = (AuthenticationError,)


def patient(call: Any, *args: Any, event: str = "redis.unavailable", wait: float | None = None, **kwargs: Any) -> Any:
    """``call(*args, **kwargs)``, retried for up to REDIS_WAIT seconds (``wait``) while Redis
    cannot be reached or refuses writes: ConnectionError and TimeoutError (a killed master,
    a demoted one's READONLY or UNBLOCKED through Sentinel, MasterNotFoundError while the
    sentinels elect) and ReadOnlyError (a client of one server that was made a replica).
    Each retry is logged as ``event`` with the short error; then the error is raised."""
    import time

    import structlog
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import ReadOnlyError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    deadline = time.monotonic() + (REDIS_WAIT if wait is None else wait)
    delay = 0.1
    while True:
        try:
            return call(*args, **kwargs)
        except (RedisConnectionError, RedisTimeoutError, ReadOnlyError) as exc:
            if isinstance(exc, _FATAL):
                raise
            if time.monotonic() + delay > deadline:
                raise
            structlog.get_logger("omnihub.redis").warning(event, error=short_error(exc), retry_in=delay)
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


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


# ---- start-up problems, said in one line ------------------------------------------------

#: the longest error text a log line or /readyz carries (redis-py's MasterNotFoundError
#: appends the repr of every sentinel's client and error: about a kilobyte)
ERROR_CHARS = 200


def short_error(exc: BaseException) -> str:
    """``Class: message`` on one line, at most ERROR_CHARS characters: a MasterNotFoundError
    without the sentinel clients' reprs redis-py appends."""
    from redis.sentinel import MasterNotFoundError

    text = (str(exc).strip().splitlines() or [""])[0]
    if isinstance(exc, MasterNotFoundError):
        text = text.split(" : ", 1)[0]
    text = f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__
    return text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 1] + "…"


class Problem:
    """Why Redis cannot be used: ``fatal`` when only a change of settings can fix it (a
    malformed URL, a refused password, a master name the sentinels do not know); otherwise
    waiting may (Redis down or restarting, sentinels unreachable or still electing)."""

    def __init__(self, fatal: bool, message: str) -> None:
        self.fatal = fatal
        self.message = message

    def __str__(self) -> str:
        return self.message


def _has_password(url: str) -> bool:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return bool(parts.password) or "password=" in parts.query


def probe_sentinels(settings: Settings, timeout: float = SENTINEL_TIMEOUT) -> list[tuple[str, str, set[str] | None]]:
    """Ask each sentinel which masters it monitors: ``(host:port, outcome, names)`` with
    outcome ``answered`` (names: the masters it monitors), ``auth`` (it refused
    OMNIHUB_REDIS_SENTINEL_PASSWORD) or the short error of a sentinel that did not answer."""
    from redis.exceptions import AuthenticationError, RedisError, ResponseError

    out: list[tuple[str, str, set[str] | None]] = []
    for host, port in settings.redis_sentinel_nodes:
        addr = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        client = Redis(host=host, port=port, password=settings.redis_sentinel_password or None, socket_timeout=timeout,
                       socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0), decode_responses=True)
        try:
            names = {str(n) for n in client.sentinel_masters()}
            out.append((addr, "answered", names))
        except AuthenticationError:
            out.append((addr, "auth", None))
        except ResponseError as exc:
            auth = str(exc).startswith(("NOAUTH", "WRONGPASS")) or "AUTH" in str(exc)
            out.append((addr, "auth" if auth else short_error(exc), None))
        except (RedisError, OSError) as exc:
            out.append((addr, short_error(exc), None))
        finally:
            client.close()
    return out


def diagnose(exc: BaseException, settings: Settings | None, url: str, *, probe: bool = True) -> Problem:
    """One line for a Redis error met at start (or while waiting): which setting, what the
    servers answered, and the fix. ``probe``: with Sentinel, ask the sentinels which masters
    they monitor, to tell a wrong OMNIHUB_REDIS_SENTINEL_MASTER from sentinels that cannot be
    reached or are still electing (a second each at most)."""
    from redis.exceptions import AuthenticationError, AuthenticationWrongNumberOfArgsError, ResponseError
    from redis.sentinel import MasterNotFoundError

    sentinel = uses_sentinel(settings)
    if isinstance(exc, ValueError):
        return Problem(True, f"OMNIHUB_REDIS_URL is not a valid Redis URL ({short_error(exc)}); fix: set it to "
                             + ("redis://:PASSWORD@sentinel/0 (with Sentinel only its password, database and TLS are used)"
                                if sentinel else "redis://:PASSWORD@HOST:6379/0 (rediss:// for TLS)"))
    if isinstance(exc, (AuthenticationError, AuthenticationWrongNumberOfArgsError)) or (
            isinstance(exc, ResponseError) and str(exc).startswith(("NOAUTH", "WRONGPASS"))):
        place = describe(settings, url)
        if not _has_password(url):
            what = f"Redis ({place}) requires a password and OMNIHUB_REDIS_URL has none"
        else:
            what = f"Redis ({place}) refused the password of OMNIHUB_REDIS_URL ({short_error(exc)})"
        example = "redis://:PASSWORD@sentinel/0" if sentinel else "redis://:PASSWORD@HOST:6379/0"
        whose = "the master's" if sentinel else "the server's"
        return Problem(True, f"OMNIHUB_REDIS_URL: {what}; fix: put {whose} password (or ACL user and password) in "
                             f"OMNIHUB_REDIS_URL ({example})")
    if sentinel and isinstance(exc, MasterNotFoundError):
        assert settings is not None
        name = settings.redis_sentinel_master
        answers = probe_sentinels(settings) if probe else []
        refused = [a for a, outcome, _ in answers if outcome == "auth"]
        answered = [(a, names) for a, outcome, names in answers if outcome == "answered"]
        silent = [f"{a} ({outcome})" for a, outcome, _ in answers if outcome not in ("answered", "auth")]
        if answered and not any(name in (names or ()) for _, names in answered):
            known = sorted(set().union(*(names or set() for _, names in answered)))
            return Problem(True, f"OMNIHUB_REDIS_SENTINEL_MASTER={name!r}: the sentinels at {', '.join(a for a, _ in answered)} "
                                 f"answered but monitor no master of that name (they monitor: {', '.join(known) or 'none'}); "
                                 "fix: set OMNIHUB_REDIS_SENTINEL_MASTER to the name of their `sentinel monitor NAME ...` line")
        if refused and not answered:
            return Problem(True, f"OMNIHUB_REDIS_SENTINEL_PASSWORD: the sentinels at {', '.join(refused)} refused it; "
                                 "fix: set OMNIHUB_REDIS_SENTINEL_PASSWORD to the sentinels' requirepass (empty when they have none)")
        if answered:
            return Problem(False, f"OMNIHUB_REDIS_SENTINELS/OMNIHUB_REDIS_SENTINEL_MASTER: the sentinels at "
                                  f"{', '.join(a for a, _ in answered)} answered but name no usable master for {name!r} yet "
                                  f"(a failover or election in progress?{'; did not answer: ' + ', '.join(silent) if silent else ''}); "
                                  "waiting for them; fix if it lasts: check the master and its replicas (SENTINEL MASTER "
                                  f"{name} on a sentinel)")
        return Problem(False, f"OMNIHUB_REDIS_SENTINELS={settings.redis_sentinels}: no sentinel answered "
                              f"({'; '.join(silent) or short_error(exc)}); waiting for them; fix: start the sentinels or correct "
                              "OMNIHUB_REDIS_SENTINELS (host:port of each, comma-separated)")
    place = describe(settings, url)
    if sentinel:
        return Problem(False, f"OMNIHUB_REDIS_SENTINELS/OMNIHUB_REDIS_SENTINEL_MASTER: the master {place} does not answer "
                              f"({short_error(exc)}); waiting for it; fix: start it or correct the settings")
    return Problem(False, f"OMNIHUB_REDIS_URL: Redis at {place} does not answer ({short_error(exc)}); waiting for it; "
                          "fix: start Redis or correct OMNIHUB_REDIS_URL")
