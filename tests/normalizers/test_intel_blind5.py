"""Language and triage on BLIND set 5, tests/data/intel_blind5.tsv.

480 messages (60 per language, 184 security-critical) written on 2026-12-06 ~22:00 UTC by a helper
session that never opened the repository (no rule, model, training row or measured set), from a
brief of its own (one real week of a desk's inbox in 2026, current fraud trends included; not the
brief the training files were written from). Its rows have never been looked at. It was scored once
on the model of 2026-12-06 (e) (which was trained before the set existed; its rows not near a
training row), then made one of ``train_intel.measured_rows`` (training rows near one of its rows
are left out of training) and scored twice on the model of (f), trained after it (after the
retraining and after its two rule parts), and twice on the model of 2026-12-07 (g), choosing among all
four security-critical categories (top-1 0.921, recall 179/184), then among the issue's three (shipped:
top-1 0.919, recall 178/184, 183/184 = 0.995 with scam and impersonation one group): aggregate figures
only (docs/intelligence/triage-language.md, (f), (g)). Goals (issue #16): language >= 97 % on
messages of at most 12 words, triage top-1 >= 90 %, security-critical recall >= 98 %; where a
figure is below its goal the test asserts the measured floor, so a regression fails.
"""

from __future__ import annotations

from normalizers import train_intel
from tests.normalizers.blind_scores import BlindSetChecks


class TestBlindSet5(BlindSetChecks):
    PATH = train_intel.BLIND5
    HEADER = "# blind held-out set 5 written without looking at the rules"
    SIZE, MIN_SECURITY = 480, 180
    # measured on the model of (g), all 480 rows (in brackets: (f); the model of (e), its 342 rows not near a training row)
    LANGUAGE_FLOOR = 0.97  # 295/295 (175/175)
    TRIAGE_FLOOR = 0.90  # 0.914 (0.919 before a message without a concept needed four words; 0.912; 0.909)
    SECURITY_FLOOR = 0.96  # 178/184 = 0.967 (175/184 = 0.951; 145/155 = 0.935): NOT met
    GROUPED_FLOOR = 0.98  # 183/184 = 0.995 (178/184 = 0.967; 0.961): met
    ALARMS_CEILING = 0.075  # 21/295 = 0.071 (21/295; 15/187 = 0.080): the highest of the sets
    FLAGGED_FLOOR = 0.99  # 184/184 (155/155)
