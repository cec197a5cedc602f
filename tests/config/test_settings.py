from __future__ import annotations

import pytest
from pydantic import ValidationError

from config.settings import Settings, describe_error


def test_defaults_are_embedded(tmp_path, monkeypatch):
    for k in list(__import__("os").environ):
        if k.startswith("OMNIHUB_"):
            monkeypatch.delenv(k)
    s = Settings(var_dir=tmp_path).with_secret_key()
    assert s.effective_database_url == f"sqlite:///{(tmp_path / 'omnihub.db').resolve()}"
    assert s.redis_url == "" and s.default_helpdesk == "inbox"
    assert s.effective_public_url == "http://127.0.0.1:8000"
    assert len(s.secret_key) > 40 and (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    # generated once, then reused
    assert Settings(var_dir=tmp_path).with_secret_key().secret_key == s.secret_key


def test_invalid_values_name_the_variable(monkeypatch):
    monkeypatch.setenv("OMNIHUB_RETRY_MAX_ATTEMPTS", "zero")
    with pytest.raises(ValidationError) as exc:
        Settings()
    assert "OMNIHUB_RETRY_MAX_ATTEMPTS" in describe_error(exc.value)
