"""Finding the real components a test needs: skip when missing, fail under OMNIHUB_REQUIRE_ALL=1."""

from __future__ import annotations

import os

import pytest

REQUIRE_ALL = os.environ.get("OMNIHUB_REQUIRE_ALL") == "1"


def require(available: bool, component: str, how: str = "") -> None:
    """Skip (or fail, with OMNIHUB_REQUIRE_ALL=1) when a component is unavailable."""
    if available:
        return
    message = f"{component} is not available{': ' + how if how else ''}"
    if REQUIRE_ALL:
        pytest.fail(f"OMNIHUB_REQUIRE_ALL=1 and {message}", pytrace=False)
    pytest.skip(message)
