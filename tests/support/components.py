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


def quick_httpserver(**kwargs):
    """A pytest-httpserver HTTPServer whose stop() takes ~50 ms instead of up to 500 (its
    serve_forever polls for shutdown every 0.05 s instead of every 0.5 s)."""
    from pytest_httpserver import HTTPServer

    class QuickHTTPServer(HTTPServer):
        def thread_target(self) -> None:  # pytest-httpserver's documented override point
            assert self.server is not None
            self.server.serve_forever(poll_interval=0.05)

    return QuickHTTPServer(**kwargs)
