"""Fixtures for the helpdesk backend tests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer

from tests.outbound.saas_support import SAAS, vendor_server


@pytest.fixture(scope="session")
def saas_servers() -> Iterator[dict[str, HTTPServer]]:
    """One started local server per vendor for the whole run (fresh stand-ins per test: start_fake)."""
    with contextlib.ExitStack() as stack:
        yield {kind: stack.enter_context(vendor_server(kind)) for kind in SAAS}
