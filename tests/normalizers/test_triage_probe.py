"""Triage on hard look-alikes: tests/data/triage_lookalike_probe.tsv (640 rows, 80 per language).

Written on 2026-12-07 by a helper session that never opened the repository, from the brief of
tests/data/DATA_TASK.md with one focus: balances that look wrong or missing (mostly a display, sync,
deposit or withdrawal matter, sometimes a break-in) and "is this account / number / site yours?"
questions (a security question before anything happened; impersonation or a scam once something did),
with their honest look-alikes. A newcomer trying the hub had found both misread ("Ich kann mein
Guthaben nicht sehen" triaged as a hacked account, urgent). Trained on, the file cost the other
files' authors security-critical recall (by author: 21 hits fewer for 29 false alarms fewer), so it
is not trained on; it is not a blind set either (its rows were read, and training rows like it are
not left out): it bounds the model's known weakness so that it does not grow, and shows where it is
(docs/intelligence/triage-language.md, 2026-12-07 (g)).
"""

from __future__ import annotations

from normalizers import train_intel
from normalizers.triage import SECURITY_CRITICAL, classify

PROBE = train_intel.ROOT / "tests" / "data" / "triage_lookalike_probe.tsv"
# measured on the model of (g): top-1 0.659 (422/640), false alarms 106/478 = 0.222 (security
# questions read as impersonation or scam reports, 66; balances read as a break-in, 20),
# security-critical under some security-critical category 146/162
TOP1_FLOOR = 0.64
ALARMS_CEILING = 0.24
FLAGGED_FLOOR = 0.88


def test_the_lookalike_probe_stays_where_it_was():
    rows = train_intel.load_corpus(PROBE)
    assert len(rows) == 640 and {r["lang"] for r in rows} == {"en", "es", "ca", "pt", "fr", "de", "it", "nl"}
    got = [(r["category"], classify(r["text"], commands=False).category) for r in rows]
    top1 = sum(c == g for c, g in got) / len(got)
    non = [g for c, g in got if c not in SECURITY_CRITICAL]
    sec = [g for c, g in got if c in SECURITY_CRITICAL]
    alarms = sum(g in SECURITY_CRITICAL for g in non) / len(non)
    flagged = sum(g in SECURITY_CRITICAL for g in sec) / len(sec)
    print(f"look-alike probe: top-1 {top1:.3f}, false alarms {alarms:.3f}, flagged {flagged:.3f}")
    assert top1 >= TOP1_FLOOR and alarms <= ALARMS_CEILING and flagged >= FLAGGED_FLOOR
