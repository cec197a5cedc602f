"""Language and triage on BLIND set 3, tests/data/intel_blind3.tsv.

560 messages (70 per language, 176 security-critical) written on 2026-12-06 by a separate session
that never saw the rules, the model, the training rows or any corpus (see the file's first line);
its rows have never been looked at. Scored four times, aggregate figures only: on the shipped
triage (top-1 0.871, security recall 141/176, all 560 rows); on a third round of rules and a
retrained model (0.880, 147/176), then with that model retrained without the 70 training rows
near a blind-set-3 row (0.879, 147/176) — that round was reverted before landing (it triaged an
everyday "no puedo retirar mi dinero" as a hacked account, found by tests/hub/test_teams.py);
and the shipped triage again through this test (rows that are word for word training rows
left out): language 277/286 = 0.969, top-1 0.869, security recall 140/175 = 0.800.
70 training rows shared half or more of their words with a blind-set-3 row (short messages,
commands): those figures are slightly optimistic. Since 2026-12-06 (c) the set is one of
train_intel.measured_rows, so those rows are left out of training; the triage model was retrained
without them (naive Bayes kept: a logistic regression was no better by author) and scored once:
language 280/289 = 0.969 (word model not retrained), top-1 0.868, security recall 141/176 = 0.801.
After 2026-12-06 (d) (a security-critical category from the model without a support concept, when
the model is 99 % sure and the message has three words: decided on training rows only) scored
once: top-1 0.890, security recall 153/176 = 0.869, false alarms 8/377 (6/377 before).
After 2026-12-06 (e) (twelve new files of training rows by sessions that saw no rule, model or
measured row; concepts counted 6 times instead of 12 and smoothed toward their overall frequency;
two "not by me" / sold-trades rule parts; all decided on training rows only) scored once: top-1
0.928, security recall 162/176 = 0.920, under some security-critical category 175/176, false
alarms 10/377; language 280/289 with the old word model, then 283/289 = 0.979 once the word
model was retrained on the new rows (the language figures were read twice in (e)).
After 2026-12-06 (f) (six more training files, blind sets 4 and 5 made measured rows, two rule
parts against false alarms; decided on training rows only) scored twice (after the retraining, and
after the rule parts): top-1 0.915 / 0.917, security recall 161/176 = 0.915 both times, false
alarms 14 / 13 of 377, language 283/289: a little worse than (e), the first round where more rows
did not help this set.
After 2026-12-07 (g) (the model says which security-critical category a rule's match is; decided
on training rows only) scored twice, the model choosing among all four categories, then among the
issue's three (shipped): top-1 0.919 / 0.922, security recall 162 / 164 of 176, 168/176 = 0.955 both
times with scam and impersonation one group (the goal: NOT met), false alarms 13/377. Goals (issue #16): language >= 97 % on messages
of at most 12 words, triage top-1 >= 90 %, security-critical recall >= 98 %: recall NOT met on
this set; the test asserts the measured floors, so a regression fails
(docs/intelligence/triage-language.md).
"""

from __future__ import annotations

from normalizers import train_intel
from tests.normalizers.blind_scores import BlindSetChecks


class TestBlindSet3(BlindSetChecks):
    """Rows whose text is word for word a training row are left out (the model was trained on them)."""

    PATH = train_intel.BLIND3
    HEADER = "# blind held-out set 3 written without looking at the rules"
    SIZE, MIN_SECURITY = 560, 170
    LANGUAGE_FLOOR = 0.97  # measured 0.979 (283/289, f, e); 0.969 (280/289) before
    TRIAGE_FLOOR = 0.90  # measured 0.926 (g, last; 0.922 before a message without a concept needed four words); 0.917 (f); 0.928 (2026-12-06 (e)); 0.890 (d); 0.868 (c)
    SECURITY_FLOOR = 0.93  # measured 0.932 (164/176, g); 0.915 (161/176, f); 0.920 (162/176, e); 0.869 (153/176, d); 0.801 (141/176, c): NOT met
    GROUPED_FLOOR = 0.95  # measured 168/176 = 0.955 (g); 165/176 = 0.938 (f): scam and impersonation one group: NOT met
    ALARMS_CEILING = 0.035  # measured 13/377 = 0.034 (g, f: more than (e)); 10/377 = 0.027 (e); 8/377 (d); 6/377 before
    FLAGGED_FLOOR = 0.98  # measured 175/176 = 0.994 (f, e): under some security-critical category
