"""Password hashes: argon2id at argon2-cffi's standard cost unless the test suite's
OMNIHUB_PASSWORD_HASH_PROFILE=insecure-test-only (tests/conftest.py) says otherwise."""

from __future__ import annotations

import os

import pytest

from config.settings import Settings
from hub import auth
from hub.models import User


def test_production_hashes_cost_three_passes_over_64_mib_and_hashes_verify_under_either_profile(monkeypatch):
    monkeypatch.delenv("OMNIHUB_PASSWORD_HASH_PROFILE", raising=False)
    assert Settings().password_hash_profile == "standard"
    try:
        auth.use_hash_profile("standard")
        strong = auth.hash_password("standard-password-1")
        assert strong.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
        auth.use_hash_profile("insecure-test-only")
        weak = auth.hash_password("test-password-2")
        assert weak.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
        for profile in ("standard", "insecure-test-only"):
            auth.use_hash_profile(profile)
            assert auth.check_password(User(password_hash=strong), "standard-password-1")
            assert auth.check_password(User(password_hash=weak), "test-password-2")
            assert not auth.check_password(User(password_hash=strong), "test-password-2")
    finally:
        auth.use_hash_profile(os.environ.get("OMNIHUB_PASSWORD_HASH_PROFILE", "standard"))


def test_an_unknown_profile_stops_start_up():
    with pytest.raises(ValueError, match="password_hash_profile"):
        Settings(password_hash_profile="fast")


def test_the_test_only_profile_is_announced_at_start_with_the_fix(tmp_path, redis_url):
    """A web app (the process that signs people in) started with the test suite's cheap hashes
    says so, naming the setting and the fix (an admin who copied the variable into production
    sees it in the first log lines)."""
    from structlog.testing import capture_logs

    from tests.support.hub import Hub

    assert os.environ.get("OMNIHUB_PASSWORD_HASH_PROFILE") == "insecure-test-only"  # tests/conftest.py
    from hub.app import create_app

    h = Hub(tmp_path, redis_url)
    with capture_logs() as logs:
        create_app(h.settings, h.rt)
    try:
        warned = [e for e in logs if e["event"] == "auth.insecure_password_hashes"]
        assert warned and warned[0]["setting"] == "OMNIHUB_PASSWORD_HASH_PROFILE"
        assert "unset OMNIHUB_PASSWORD_HASH_PROFILE" in warned[0]["fix"]
    finally:
        h.close()
