"""Language and triage on BLIND set 4, tests/data/intel_blind4.tsv.

480 messages (60 per language, 176 security-critical) written on 2026-12-06 ~20:35 UTC by a helper
session that never opened the repository (no rule, model, training row or measured set), from its
own brief (a realistic week of a desk's inbox per language; not the brief the training files of
2026-12-06 (e) were written from), after the shipped model of (e) was trained. Its rows have never
been looked at. It was not one of ``train_intel.measured_rows`` then (that would have changed
which training rows are left out, and the model, after it was measured); instead its rows that
share half or more of their words with a training row (``train_intel.near``) were left out of its
figures: 180 of the 480 were (short messages alike, e.g. a customer asking where a deposit is),
so 300 rows were scored, 132 security-critical. Scored once, aggregate figures only
(docs/intelligence/triage-language.md, (e)): on the 300 rows language 159/161 = 0.988, top-1
0.917, security recall 122/132 = 0.924, under some security-critical category 131/132, false
alarms 3/168; on all 480 rows (read once too, for comparison) language 310/312, top-1 0.935,
security recall 166/176 = 0.943, under some security-critical category 175/176, false alarms 7/304.
Since 2026-12-06 (f) it is one of ``train_intel.measured_rows`` (training rows near one of its rows
are left out of training), so all 480 rows are scored; scored twice on the model of (f), after
the retraining and after its two rule parts (docs/intelligence/triage-language.md, (f)); twice on
the model of 2026-12-07 (g), choosing among all four security-critical categories (top-1 0.944,
recall 173/176), then among the issue's three (shipped: top-1 0.935, recall 169/176, 173/176 = 0.983
with scam and impersonation one group).
Goals (issue #16): language >= 97 % on messages of at most 12 words, triage top-1 >= 90 %,
security-critical recall >= 98 %; where a figure is below its goal the test asserts the measured
floor, so a regression fails.
"""

from __future__ import annotations

from normalizers import train_intel
from tests.normalizers.blind_scores import BlindSetChecks


class TestBlindSet4(BlindSetChecks):
    PATH = train_intel.BLIND4
    HEADER = "# blind held-out set 4 written without looking at the rules"
    SIZE, MIN_SECURITY = 480, 170
    # measured on the model of (g), all 480 rows (in brackets: (f); the model of (e), all 480 rows)
    LANGUAGE_FLOOR = 0.97  # 310/312 (310/312)
    TRIAGE_FLOOR = 0.90  # 0.931 (0.935 before a message without a concept needed four words; 0.929; 0.935)
    SECURITY_FLOOR = 0.96  # 169/176 = 0.960 (166/176; 166/176): NOT met
    GROUPED_FLOOR = 0.98  # 173/176 = 0.983 (170/176 = 0.966): met
    ALARMS_CEILING = 0.025  # 6/304 = 0.020 (6/304; 7/304)
    FLAGGED_FLOOR = 0.99  # 176/176 (175/176)
