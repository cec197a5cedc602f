"""Cross-validate triage on the TRAINING rows only: ``python -m normalizers.cv_intel``.

Never reads a measured row's label or text for scoring: the rows are those of
``train_intel.training_rows()`` (the development half of the corpus and the training-only
files, minus rows near a measured row). Two figures, each with triage top-1, the recall of
the security-critical categories and the false alarms (a non-security-critical row
triaged as security-critical):

* ``k-fold``: 5 folds by ``sha256(text)``;
* ``by source``: leave one file (one author) out, train on the others: the closest
  figure to "messages by authors the model never saw" (for a file no rule was written from:
  the files of 2026-12-06 (e) were scored that way before any rule was written from them,
  docs/intelligence/triage-language.md).

``--model lr`` scores the logistic regression instead of naive Bayes; ``--no-rules`` the model
alone (the security rules switched off); ``--misses`` lists the k-fold misses.

Used to decide every change to the rules, features and weights (see
docs/intelligence/triage-language.md).
"""

from __future__ import annotations

import hashlib
import sys
from collections import Counter

from normalizers import train_intel, triage


def _source_of(rows: list[dict[str, str]]) -> list[str]:
    dev = {r["text"] for r in train_intel.load_corpus() if r["split"] == "dev"}
    by_file: dict[str, str] = {}
    for name, path in train_intel.TRAINING_FILES.items():
        for r in (train_intel.load_corpus(path) if path.exists() else []):
            by_file.setdefault(r["text"], name)
    return ["dev" if r["text"] in dev else by_file.get(r["text"], "?") for r in rows]


def score(train: list[dict[str, str]], test: list[dict[str, str]], misses: list[str] | None = None, kind: str = "nb",
          rules: bool = True) -> Counter[str]:
    """Counts of right / security hits / false alarms on ``test`` with a model of ``kind`` trained
    on ``train`` (``rules=False``: the model alone, without the security rules)."""
    saved, saved_rule = triage._model, triage.security_rule
    triage._model = triage.prepare(train_intel.train_triage(train, kind))
    if not rules:
        triage.security_rule = lambda text: None
    c: Counter[str] = Counter()
    try:
        for r in test:
            if r["category"] == "command":
                continue
            got = triage.classify(r["text"], commands=False).category
            c["n"] += 1
            c["ok"] += got == r["category"]
            if r["category"] in triage.SECURITY_CRITICAL:
                c["sec"] += 1
                c["sec_ok"] += got == r["category"]
                c["sec_any"] += got in triage.SECURITY_CRITICAL
            else:
                c["non"] += 1
                c["alarm"] += got in triage.SECURITY_CRITICAL
            if misses is not None and got != r["category"]:
                misses.append(f"{r['category']} -> {got}\t{r['lang']}\t{r['text']}")
    finally:
        triage._model, triage.security_rule = saved, saved_rule
    return c


def line(name: str, c: Counter[str]) -> str:
    return (f"{name:<12} top-1 {c['ok'] / max(c['n'], 1):.3f} ({c['n']})  security recall {c['sec_ok'] / max(c['sec'], 1):.3f} "
            f"({c['sec_ok']}/{c['sec']}; any security-critical {c['sec_any'] / max(c['sec'], 1):.3f})  "
            f"false alarms {c['alarm'] / max(c['non'], 1):.3f} ({c['alarm']}/{c['non']})")


def main(argv: list[str] | None = None) -> int:
    argv = argv or []
    show = "--misses" in argv
    kind = argv[argv.index("--model") + 1] if "--model" in argv else "nb"
    rules = "--no-rules" not in argv
    rows = train_intel.training_rows()
    sources = _source_of(rows)
    misses: list[str] | None = [] if show else None
    total: Counter[str] = Counter()
    k = 5
    fold = [int(hashlib.sha256(r["text"].encode()).hexdigest(), 16) % k for r in rows]
    for i in range(k):
        total += score([r for r, f in zip(rows, fold, strict=True) if f != i], [r for r, f in zip(rows, fold, strict=True) if f == i], misses,
                       kind, rules)
    print(line("k-fold", total))
    by: Counter[str] = Counter()
    for src in sorted(set(sources)):
        c = score([r for r, s in zip(rows, sources, strict=True) if s != src], [r for r, s in zip(rows, sources, strict=True) if s == src],
                  kind=kind, rules=rules)
        print(line(f"  {src}", c))
        by += c
    print(line("by source", by))
    if misses is not None:
        print("\n".join(sorted(misses)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
