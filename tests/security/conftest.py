"""Shared fixtures for the security suite: one hub with a connector of every registered kind."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

import channels
import outbound
from tests.contract.examples import EXAMPLES
from tests.support.hub import Hub

ALL_KINDS = {**channels.REGISTRY, **outbound.REGISTRY}


def other_secrets(kind: str) -> dict:
    """The example config of ``kind`` with every secret field changed."""
    cls = ALL_KINDS[kind]
    cfg = dict(EXAMPLES[kind])
    for name in cls.Config.secret_fields():
        value = cfg.get(name)
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        cfg[name] = f"{value}-other"  # keeps documented prefixes (xoxb-, whsec_, ...)
    return cfg


@pytest.fixture(scope="module")
def all_hub(tmp_path_factory, redis_url):
    """A hub with connectors ``<kind>-a`` (example config) and ``<kind>-b`` (other secrets)
    for every registered kind that serves webhooks."""
    h = Hub(tmp_path_factory.mktemp("sec"), redis_url)
    for kind, cls in sorted(ALL_KINDS.items()):
        if not cls.hooks:
            continue
        assert kind in EXAMPLES, f"add an example config for {kind!r} to tests/contract/examples.py"
        h.add_connector(f"{kind}-a", kind, **EXAMPLES[kind])
        if cls.Config.secret_fields():
            h.add_connector(f"{kind}-b", kind, **other_secrets(kind))
    yield h
    h.close()
