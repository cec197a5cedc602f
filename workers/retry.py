"""Retry policy: exponential backoff with jitter, capped; dead after the last attempt."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from config.settings import Settings


def next_attempt(settings: Settings, attempts: int, now: datetime, retry_after: float | None = None) -> datetime:
    """When to try again after ``attempts`` failures (honouring a provider's Retry-After)."""
    base = settings.retry_base_seconds * (2 ** max(0, attempts - 1))
    delay = min(settings.retry_max_seconds, base) * random.uniform(0.8, 1.2)
    if retry_after is not None:
        delay = max(delay, float(retry_after))
    return now + timedelta(seconds=delay)


def exhausted(settings: Settings, attempts: int) -> bool:
    return attempts >= settings.retry_max_attempts
