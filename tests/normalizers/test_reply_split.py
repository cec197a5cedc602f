"""Reply splitting on our own multilingual fixture set (issue 18 items 5 and 6).

The development half is what the rules were tuned on; the held-out half was only scored.
Both scores are documented in docs/channels/email.md; a change that lowers them fails."""

from __future__ import annotations

import pytest

from normalizers import quotes
from tests.normalizers.reply_split_cases import CASES, score

DEV_MINIMUM = 0.98
HELDOUT_MINIMUM = 0.95  # the goal on mail the rules were not tuned on


def test_the_fixture_set_is_large_multilingual_and_split_in_two_fixed_halves():
    assert len(CASES) >= 150
    assert len({c.id for c in CASES}) == len(CASES)
    dev = [c for c in CASES if c.half == "dev"]
    held = [c for c in CASES if c.half == "heldout"]
    assert len(dev) >= 60 and len(held) >= 60
    # the split is a pure function of the case id (sha256), not of the rules or the order
    assert {c.id for c in dev} == {c.id for c in CASES if __import__("hashlib").sha256(c.id.encode()).digest()[0] % 2 == 0}


def test_development_half_score():
    ok, total, failures = score("dev")
    assert ok / total >= DEV_MINIMUM, [f.id for f in failures]


def test_held_out_half_score_meets_the_goal():
    ok, total, failures = score("heldout")
    assert ok / total >= HELDOUT_MINIMUM, f"held-out {ok}/{total}"


@pytest.mark.parametrize(
    "closing",
    ["Gràcies,", "Obrigado,", "Obrigada,", "Saludos,", "Un saludo", "Cordialement,", "Bien cordialement,", "Viele Grüße", "MfG",
     "Grazie,", "Cordiali saluti", "Met vriendelijke groet", "Atentamente,", "Salutacions,", "Cumprimentos,", "Best regards,"],
)
def test_sign_offs_in_the_hubs_languages_are_signature_not_message(closing):
    parts = quotes.split(f"Hola,\n\nel pagament no ha arribat.\n\n{closing}\nMaria Puig")
    assert parts.body == "Hola,\n\nel pagament no ha arribat."
    assert parts.signature.startswith(closing.strip())


@pytest.mark.parametrize(
    "text",
    [
        "Here are the amounts:\n\nDate | Amount\n-----+-------\n09-28 | 100\n\nPlease check.",
        "First: login fails.\n\n----------\n\nSecond: the app crashes.\nThird: no mail.",
        "Totals\n=======\nA 1\n=======\nIs that right?",
    ],
)
def test_the_customers_own_rules_and_dashes_are_never_a_cut(text):
    assert quotes.split(text).body == text
