"""Skip-or-fail for tests that need a system component (DESIGN.md section 6)."""

from __future__ import annotations

import os
import socket

import pytest


def require_all() -> bool:
    return os.environ.get("OMNIHUB_REQUIRE_ALL") == "1"


def missing(reason: str) -> None:
    """Skip the test, or fail it when OMNIHUB_REQUIRE_ALL=1 (CI installs every component)."""
    if require_all():
        pytest.fail(f"{reason} (OMNIHUB_REQUIRE_ALL=1)", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
