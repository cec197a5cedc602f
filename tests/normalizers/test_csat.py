"""CSAT reply parsing in six languages, numbers, stars and emoji."""

from __future__ import annotations

import pytest

from normalizers.csat import parse_csat


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("5", 5), (" 1 ", 1), ("4/5", 4), ("3 de 5", 3), ("8/10", 4), ("2 out of 5", 2), ("I'd say 4", 4),
        ("⭐⭐⭐⭐", 4), ("★★", 2), ("😡", 1), ("😐", 3), ("👍", 4), ("😍😍", 5), ("❤️", 5),
        ("Excellent!", 5), ("great service, thanks", 5), ("very good", 5), ("good", 4), ("ok", 3), ("bad", 2),
        ("terrible", 1), ("not good", 2),
        ("Excelente", 5), ("muy bien", 5), ("bien", 4), ("regular", 3), ("malo", 2), ("pésimo", 1),
        ("molt bé", 5), ("bé", 4), ("dolent", 2), ("molt dolent", 1), ("excel·lent", 5),
        ("très bien", 5), ("bien merci", 4), ("bof", 3), ("mauvais", 2), ("nul", 1),
        ("sehr gut", 5), ("gut", 4), ("geht so", 3), ("schlecht", 2), ("sehr schlecht", 1),
        ("ótimo", 5), ("bom", 4), ("razoável", 3), ("ruim", 2), ("péssimo", 1),
        ("cinco", 5), ("tres", 3), ("vier", 4),
    ],
)
def test_ratings(text, score):
    assert parse_csat(text) == score


@pytest.mark.parametrize(
    "text",
    [
        "", "   ", "hello?", "I still have 2 problems with 3 withdrawals",
        "My transfer of 4 BTC is still not there, can you please check again what happened to it",
        "12345", "7",
    ],
)
def test_not_a_rating(text):
    assert parse_csat(text) is None
