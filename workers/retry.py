"""Retry policy: exponential backoff with jitter, capped; dead after the last attempt."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

import structlog
from sqlalchemy.exc import OperationalError

from config.settings import Settings

#: times a stage's write transaction is run again, in place, after a transient database error
STORE_ATTEMPTS = 4


def transient(exc: BaseException) -> bool:
    """A database error that running the same transaction again can clear (PostgreSQL deadlock
    40P01, serialization failure 40001, lock timeout 55P03; SQLite "database is locked")."""
    if not isinstance(exc, OperationalError):
        return False
    code = getattr(exc.orig, "sqlstate", None)
    return code in ("40P01", "40001", "55P03") or "database is locked" in str(exc.orig)


T = TypeVar("T")
log = structlog.get_logger("omnihub.retry")


def rerun_transient(run: Callable[[], T], event: str) -> T:
    """``run()`` (one write transaction), run again in place up to ``STORE_ATTEMPTS`` times
    after a transient database error (``transient``), logged as ``event``; any other error,
    or the last attempt's, is raised."""
    for attempt in range(1, STORE_ATTEMPTS + 1):
        try:
            return run()
        except OperationalError as exc:
            if not transient(exc) or attempt == STORE_ATTEMPTS:
                raise
            log.warning(event, attempt=attempt, error=str(exc.orig)[:200])
            time.sleep(0.05 * attempt)
    raise AssertionError("unreachable: the last attempt returns or raises")


def next_attempt(settings: Settings, attempts: int, now: datetime, retry_after: float | None = None) -> datetime:
    """When to try again after ``attempts`` failures (honouring a provider's Retry-After)."""
    base = settings.retry_base_seconds * (2 ** max(0, attempts - 1))
    delay = min(settings.retry_max_seconds, base) * random.uniform(0.8, 1.2)
    if retry_after is not None:
        delay = max(delay, float(retry_after))
    return now + timedelta(seconds=delay)


def exhausted(settings: Settings, attempts: int) -> bool:
    return attempts >= settings.retry_max_attempts
