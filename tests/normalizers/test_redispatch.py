"""normalizers.redispatch: a grouped rule matches at exactly the positions its pattern does."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from normalizers import redispatch, triage

WORD_START = r"(?<![a-z0-9])"

SAMPLES = [
    "my phone was stolen and then my account was hacked",
    "someone called saying they were from your security team and asked for my seed phrase",
    "i lost my recovery phrase, i only have 23 of the 24 words",
    "fake site asked for my password, was it a scam? not that i was scammed",
    "transactions i didn t make, without me doing anything, my funds are gone",
    "i got an email from support at gmail com asking to verify my wallet phrase",
    "phishing anti phishing code betrugsmasche betrogen",
    "hola, me han robado el movil y no tengo la frase semilla",
    "",
    "a",
]


def _starts(pattern: re.Pattern[str], text: str) -> list[int | None]:
    out = []
    for pos in range(len(text) + 1):
        m = pattern.search(text, pos)
        out.append(None if m is None else m.start())
    return out


def _rule_starts(rule: redispatch.Rule, text: str) -> list[int | None]:
    return [rule.start(text, pos) for pos in range(len(text) + 1)]


def test_security_families_match_where_the_patterns_do():
    """The triage rule families, real patterns of hundreds of alternatives, grouped."""
    bodies = [pat for _cat, pat in triage._SEC_EARLY + triage._SEC_RULES]
    for body in bodies:
        rule = redispatch.Rule(body, prefix=WORD_START)
        assert rule.fast is not rule.pattern  # grouped
        plain = re.compile(WORD_START + "(?:" + body + ")")
        for text in SAMPLES:
            assert _rule_starts(rule, text) == _starts(plain, text)


SMALL = ["ab", "abc", "b", "ba", "x", "cab", "a b"]


@settings(max_examples=300, deadline=None)
@given(
    alts=st.lists(
        st.sampled_from([
            "ab", "abc", "a(?:b|c)d", "(?:ab|ac)\\b", "b.{0,2}a", "[ab]c", "x+y", "a?b", "(?<!c)ab", "\\w*ba", "(?:a|b)(?:c|x)+",
            "c(?=a)", "(?:x|y|ab)c?", "a\\sb", "[^a]b", "", "ba|",
        ]),
        min_size=1, max_size=6,
    ),
    text=st.text(alphabet="abcxy \n", max_size=14),
    flags=st.sampled_from([0, re.IGNORECASE]),
)
def test_any_grouping_keeps_every_start(alts, text, flags):
    body = "|".join(alts)
    rule = redispatch.Rule(body, flags, prefix=WORD_START)
    plain = re.compile(WORD_START + "(?:" + body + ")", flags)
    assert _rule_starts(rule, text) == _starts(plain, text)
    assert _rule_starts(rule, text.upper()) == _starts(plain, text.upper())


def test_capturing_groups_are_left_as_written():
    rule = redispatch.Rule("(a)b|cd|ef|gh")
    assert rule.fast is rule.pattern
