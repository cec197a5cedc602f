"""Per-process runtime: settings, database, encryption box, blob store, Redis, queues."""

from __future__ import annotations

import threading
from functools import cached_property

from config.settings import Settings, load_settings
from hub.blobs import BlobStore
from hub.crypto import Box
from hub.db import Database


class Runtime:
    def __init__(self, settings: Settings) -> None:
        from hub.files import protect_state

        self.settings = settings
        from hub import net

        net.set_allow_private_urls(settings.allow_private_urls)  # the outbound URL guard's policy
        protect_state(settings)  # VAR_DIR and attachments 0700, the SQLite files 0600
        self.db = Database(settings.effective_database_url)
        from hub.auth import use_hash_profile

        use_hash_profile(settings.password_hash_profile)  # the argon2 cost of new password hashes
        from hub import events

        # event webhooks: events are written with the change; their deliveries scheduled after the commit
        events.install(self.db.Session, lambda ids: self.queues.schedule("event", ids), settings.sweep_after)
        self.box = Box(settings.secret_key)
        self.blobs = BlobStore(settings.effective_attachment_dir)

    @cached_property
    def redis(self):
        return self.redis_client(health_check_interval=30)

    def redis_client(self, **kwargs):
        """A new Redis client (its own connection pool) to the hub's Redis: the server of
        OMNIHUB_REDIS_URL, or the master that the sentinels name (``hub.redisconn``)."""
        from hub.redisconn import connect

        return connect(self.settings, self.redis_url, **kwargs)

    @property
    def redis_url(self) -> str:
        """OMNIHUB_REDIS_URL, or the embedded Redis that `omnihub run` started (VAR_DIR/redis.url).
        With Sentinel (OMNIHUB_REDIS_SENTINELS) only the URL's credentials, database and TLS
        are used, and it may be empty."""
        if self.settings.redis_url or self.settings.redis_sentinels:
            return self.settings.redis_url
        marker = self.settings.var_dir / "redis.url"
        if marker.exists():
            return marker.read_text().strip()
        from hub.errors import ConfigError

        raise ConfigError("OMNIHUB_REDIS_URL is not set and no embedded Redis is running (start one with `omnihub run`)")

    @cached_property
    def queues(self):
        from hub.queues import Queues

        return Queues(self.redis, self.settings)

    def close(self) -> None:
        self.db.dispose()
        if "redis" in self.__dict__:
            self.redis.close()


_lock = threading.Lock()
_runtime: Runtime | None = None


def get_runtime() -> Runtime:
    """The process-wide runtime, built from the environment on first use."""
    global _runtime
    with _lock:
        if _runtime is None:
            _runtime = Runtime(load_settings())
        return _runtime


def set_runtime(rt: Runtime | None) -> None:
    global _runtime
    with _lock:
        _runtime = rt


def freeze_startup_heap() -> None:
    """Call once a process has started (modules imported, app built): moves every object
    alive now out of the garbage collector's view (``gc.freeze``), so a full collection
    scans only what the work allocates. Measured in a web process under the P1 load: a
    full collection took 94–128 ms without it (every thread of the process stalls), 8–14 ms
    with it. Startup objects live as long as the process, so nothing is lost.

    Then the C allocator gives back what startup freed (``malloc_trim``, glibc only): parsing
    the shipped models leaves several megabytes of free heap behind (measured in a worker:
    about 4 MB of its PSS, F1)."""
    import gc

    gc.collect()
    gc.freeze()
    release_free_heap()


def release_free_heap() -> None:
    """Return the C heap's free pages to the system (glibc's ``malloc_trim(0)``); nothing
    where the C library has no such call (musl, macOS)."""
    import ctypes

    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):
        return
    trim.argtypes = [ctypes.c_size_t]
    trim(0)
