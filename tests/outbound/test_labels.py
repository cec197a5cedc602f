"""The pure label / priority / detected-line helpers every helpdesk backend shares."""

from __future__ import annotations

from hub.types import ConversationInfo
from outbound import _helpdesk as hd


def conv(**kw):
    return ConversationInfo(**{"id": 1, "subject": "s", "medium": "sms", "connector": "c", "status": "open", "priority": "normal", **kw})


def test_labels_cover_triage_sla_language_and_entity_kinds():
    c = conv(category="payment_delay", priority="high", language="pt-BR", tags=("sla-breached", "vip"),
             entities=({"kind": "evm_address", "value": "0xAbC", "chain": "ethereum"}, {"kind": "amount", "value": "5 BTC"}))
    assert hd.labels(c) == [
        "omnihub-category-payment_delay", "omnihub-entity-amount", "omnihub-entity-evm_address",
        "omnihub-lang-pt-br", "omnihub-priority-high", "omnihub-sla-breached",
    ]
    assert all(hd.is_label(t) for t in hd.labels(c)) and not hd.is_label("omnihub-conversation-1") and not hd.is_label("vip")


def test_security_label_from_the_category_or_the_security_flag():
    assert "omnihub-security" in hd.labels(conv(category="lost_keys_or_recovery_phrase"))
    assert "omnihub-security" in hd.labels(conv(category="general_question", priority="urgent", tags=("security-urgent",)))
    assert "omnihub-security" not in hd.labels(conv(category="payment_delay", priority="urgent"))


def test_labels_are_helpdesk_safe_and_stable():
    c = conv(category="Odd Category/ÜX", priority="bogus", language=None, entities=({"kind": "tx hash!", "value": "x"},))
    out = hd.labels(c)
    assert out == ["omnihub-category-odd_category_x", "omnihub-entity-tx_hash"]
    assert hd.labels(c) == out and all(t == t.lower() and " " not in t for t in out)
    assert hd.labels(conv()) == ["omnihub-priority-normal"]


def test_priority_for_maps_and_defaults_to_normal():
    mapping = {"low": 1, "normal": 2, "high": 3, "urgent": 4}
    assert [hd.priority_for(conv(priority=p), mapping) for p in ("low", "normal", "high", "urgent", "weird")] == [1, 2, 3, 4, 2]


def test_detected_line_names_values_and_caps_the_list():
    ents = tuple({"kind": "btc_address", "value": f"bc1q{i}", "chain": "bitcoin"} for i in range(12))
    line = hd.detected_line(conv(entities=ents), limit=10)
    assert line.startswith("Detected: BTC address bc1q0, BTC address bc1q1") and line.endswith("and 2 more")
    assert hd.detected_line(conv()) == ""
