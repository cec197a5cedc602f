"""Train the shipped language word model and triage model: ``python -m normalizers.train_intel``.

Reads the labelled corpus ``tests/data/triage_corpus.tsv`` (category, language, text),
splits it deterministically by ``sha256(text)`` into a development half and a held-out
half (:func:`split`), trains on the development half ONLY (plus the training-only rows of
``tests/data/triage_train_extra.tsv``, which are never measured), and writes
``normalizers/intel_model.json``. Deterministic: same corpus, same file.

Models (pure Python, no numpy, loaded lazily by the pipeline steps):
* language: per-word log-likelihoods (add-0.5 smoothing, centred across languages) over
  accent-folded words; combined with lingua and priors in ``normalizers.language``.
* triage: multinomial naive Bayes over word unigrams, word bigrams and character 4-5-grams
  of accent-folded words; features are stored as sparse counts, turned into log-probabilities
  at load time (``normalizers.triage``).
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "data" / "triage_corpus.tsv"
#: training-only rows (never split, never measured): short messages added to widen the
#: development data without touching the held-out half
EXTRA = ROOT / "tests" / "data" / "triage_train_extra.tsv"
#: the first blind set (407 rows by a session that never saw the rules), looked at once it was
#: scored, so demoted to training-only rows; the blind figure now comes from BLIND
BLIND1 = ROOT / "tests" / "data" / "triage_train_blind1.tsv"
#: 720 training-only rows (90 per language) by a separate session that saw no rules, model or measured set
ROWS3 = ROOT / "tests" / "data" / "triage_train_rows3.tsv"
#: several hundred training-only rows written for issue #16's recall work (every language; indirect,
#: rambling and look-alike messages), by a session that never looked at a measured row
ROWS4 = ROOT / "tests" / "data" / "triage_train_rows4.tsv"
#: 638 training-only rows written on 2026-12-06 (issue #16, unseen authors' phrasing): many short "authors" in every
#: language, security-critical messages and their near-misses, by a session that never looked at a measured row
ROWS5 = ROOT / "tests" / "data" / "triage_train_rows5.tsv"
#: 453 + 148 training-only rows written on 2026-12-06 05:40 UTC (54 + 20 "authors"), first kept apart as an
#: unseen-authors probe (docs/intelligence/triage-language.md, 2026-12-06 (c), (d)); trained on since (e)
ROWS6 = ROOT / "tests" / "data" / "triage_train_rows6.tsv"
ROWS6_PROBE = ROOT / "tests" / "data" / "triage_train_rows6_probe.tsv"
#: issue #16, 2026-12-06 (e): twelve files of ~640 training-only rows each (80 per language), each by a
#: separate session that saw no rule, model, training row or measured row (tests/data/DATA_TASK.md):
#: each file's personas and writing are in its first line
LATER = ("rows7", "rows8", "rows9", "rows10", "rows11", "rows12", "rows13", "rows14", "rows15", "rows16", "rows17", "rows18",
         # 2026-12-06 (f): six more, same brief; four focused on one security-critical category and its
         # honest look-alikes (rows19 hack, rows20 keys, rows21 scam, rows22 impersonation), rows23
         # second-language and regional writers, rows24 terse messages
         "rows19", "rows20", "rows21", "rows22", "rows23", "rows24")
#: every training-only file, by short name (the cross-validation leaves one out at a time)
TRAINING_FILES: dict[str, Path] = {
    "extra": EXTRA, "blind1": BLIND1, "rows3": ROWS3, "rows4": ROWS4, "rows5": ROWS5, "rows6": ROWS6, "rows6_probe": ROWS6_PROBE,
    **{name: ROOT / "tests" / "data" / f"triage_train_{name}.tsv" for name in LATER},
}
#: the blind held-out set: never trained on, never looked at while changing rules or training
BLIND = ROOT / "tests" / "data" / "intel_blind2.tsv"
#: blind set 3 (560 rows by a session that never saw the rules, model or training rows): measured, never trained on
BLIND3 = ROOT / "tests" / "data" / "intel_blind3.tsv"
#: blind set 4 (480 rows, written after the model of 2026-12-06 (e) was trained, by a session that never
#: opened the repository): measured, never trained on. In ``measured_rows`` since the model of (f) (the
#: model it was first scored on, (e), was trained before it existed: its rows near a training row were
#: left out of its figures then; tests/normalizers/test_intel_blind4.py)
BLIND4 = ROOT / "tests" / "data" / "intel_blind4.tsv"
#: blind set 5 (480 rows written on 2026-12-06 ~22:00 UTC by a session that never opened the repository,
#: from its own brief): measured, never trained on (tests/normalizers/test_intel_blind5.py)
BLIND5 = ROOT / "tests" / "data" / "intel_blind5.tsv"
#: a training-only row whose words overlap a measured row's this much (Jaccard) is left out
NEAR = 0.5
OUT = Path(__file__).with_name("intel_model.json")

ABBREV: dict[str, str] = {
    "dep": "deposit_not_credited",
    "wd": "withdrawal_pending",
    "net": "wrong_network_or_memo",
    "login": "login_or_2fa_lost",
    "lock": "account_locked",
    "kyc": "verification_error",
    "fee": "fees",
    "card": "card_payment",
    "ref": "claims_and_refunds",
    "scam": "scam_or_phishing_report",
    "imp": "impersonation",
    "hack": "suspicious_access_or_hacked_account",
    "keys": "lost_keys_or_recovery_phrase",
    "ui": "ui_error",
    "dup": "duplicated_balance",
    "tx": "transaction_not_processed",
    "bank": "bank_integration",
    "sync": "sync_problem",
    "secq": "security_question",
    "gen": "general_question",
    "api": "integrations",
    "delay": "payment_delay",
    "cmd": "command",
}


def split(text: str) -> str:
    """``"dev"`` or ``"heldout"``: fixed by the text's hash, before any training or tuning."""
    return "dev" if int(hashlib.sha256(text.encode("utf-8")).hexdigest(), 16) % 2 == 0 else "heldout"


def load_corpus(path: Path = CORPUS) -> list[dict[str, str]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        abbr, lang, text = line.split("\t", 2)
        rows.append({"category": ABBREV.get(abbr, abbr), "lang": lang, "text": text, "split": split(text)})
    return rows


def train_language(rows: list[dict[str, str]]) -> dict[str, object]:
    from normalizers.language import _WORD, SUPPORTED, fold

    counts: dict[str, Counter[str]] = {code: Counter() for code in SUPPORTED}
    for r in rows:
        if r["category"] != "command":
            counts[r["lang"]].update(_WORD.findall(fold(r["text"])))
    vocab = sorted(set().union(*counts.values()))
    totals = {code: sum(c.values()) for code, c in counts.items()}
    loglik: dict[str, list[float]] = {}
    for w in vocab:
        row = [math.log((counts[c][w] + 0.5) / (totals[c] + 0.5 * len(vocab))) for c in SUPPORTED]
        mean = sum(row) / len(row)
        loglik[w] = [round(v - mean, 3) for v in row]
    return {"langs": list(SUPPORTED), "loglik": loglik}


def train_triage(rows: list[dict[str, str]], kind: str = "nb") -> dict[str, object]:
    """The triage model of ``kind``: ``nb`` (naive Bayes counts) or ``lr`` (logistic regression)."""
    if kind == "lr":
        return train_triage_lr(rows)
    from normalizers.triage import features

    cats = sorted({r["category"] for r in rows if r["category"] != "command"})
    feat_counts: dict[str, dict[str, int]] = defaultdict(dict)
    docs: Counter[str] = Counter()
    for r in rows:
        if r["category"] == "command":
            continue
        docs[r["category"]] += 1
        for f in features(r["text"]):
            feat_counts[f][r["category"]] = feat_counts[f].get(r["category"], 0) + 1
    return {
        "categories": cats,
        "docs": {c: docs[c] for c in cats},
        "counts": {f: dict(sorted(v.items())) for f, v in sorted(feat_counts.items())},
    }


#: logistic regression (``--model lr``): passes over the rows, L2 strength, first step size,
#: the shuffling's seed and the smallest weight kept in the model file
LR_EPOCHS = 12
LR_L2 = 1e-6
LR_ETA = 4.0
LR_SEED = 16
LR_PRUNE = 0.05


def train_triage_lr(rows: list[dict[str, str]], epochs: int = LR_EPOCHS, l2: float = LR_L2, eta0: float = LR_ETA,
                    seed: int = LR_SEED, prune: float = LR_PRUNE) -> dict[str, object]:
    """Multinomial logistic regression by stochastic gradient descent (pure Python, deterministic:
    a seeded shuffle per pass). Input: ``triage.lr_vector`` (binary features, concepts weighted,
    unit length). L2 by a shared scale factor (a step decays every weight at no cost per feature);
    step size ``eta0 / (1 + eta0 * l2 * t)``; the updates of a row skip the categories whose
    gradient is below 1e-4. Weights below ``prune`` are not stored."""
    import random

    from normalizers.triage import LR_CONCEPT_VALUE, lr_vector

    cats = sorted({r["category"] for r in rows if r["category"] != "command"})
    index = {c: i for i, c in enumerate(cats)}
    k = len(cats)
    weights: dict[str, list[float]] = {}
    data: list[tuple[list[list[float]], list[list[float]], float, int]] = []
    for r in rows:
        if r["category"] == "command":
            continue
        concepts, other, inv = lr_vector(r["text"])
        kon = [weights.setdefault(f, [0.0] * k) for f in concepts]
        plain = [weights.setdefault(f, [0.0] * k) for f in other]
        data.append((plain, kon, inv, index[r["category"]]))
    zero = [0.0] * k
    bias = [0.0] * k
    scale = 1.0
    order = list(range(len(data)))
    rng = random.Random(seed)
    cv = LR_CONCEPT_VALUE
    t = 0
    for _ in range(epochs):
        rng.shuffle(order)
        for i in order:
            plain, kon, inv, y = data[i]
            eta = eta0 / (1.0 + eta0 * l2 * t)
            t += 1
            f = inv * scale
            scores = [b + f * (sum(p) + cv * sum(q)) for b, p, q in zip(bias, zip(*(plain or [zero]), strict=True), zip(*(kon or [zero]), strict=True), strict=True)]
            top = max(scores)
            exp = [math.exp(s - top) for s in scores]
            total = sum(exp)
            for c in range(k):
                g = exp[c] / total - (c == y)
                if -1e-4 < g < 1e-4:
                    continue
                bias[c] -= eta * g
                step = eta * g * inv / scale
                for row in plain:
                    row[c] -= step
                step *= cv
                for row in kon:
                    row[c] -= step
            scale *= 1.0 - eta * l2
            if scale < 1e-6:
                for row in weights.values():
                    row[:] = [w * scale for w in row]
                scale = 1.0
    stored: dict[str, dict[str, float]] = {}
    for name, row in sorted(weights.items()):
        kept = {str(c): round(w * scale, 4) for c, w in enumerate(row) if abs(w * scale) >= prune}
        if kept:
            stored[name] = kept
    return {"kind": "lr", "categories": cats, "bias": [round(b, 4) for b in bias], "weights": stored}


def _words(text: str) -> frozenset[str]:
    from normalizers.triage import _TOKEN, fold

    return frozenset(_TOKEN.findall(fold(text)))


class Near:
    """Rows' word sets indexed for ``index.near(text)``, which is ``near(text, rows)`` without
    comparing ``text`` with most rows: prefix filtering, the standard set-similarity join. With
    each set's words in one global order (rarest first), two sets of Jaccard >= NEAR share a word
    among the first ``n - ceil(NEAR * n) + 1`` words of each (n its size), so only those are
    indexed and probed; the candidates are then checked exactly (the same rows as comparing all)."""

    def __init__(self, rows: list[frozenset[str]]) -> None:
        self.rows = rows
        self.freq: Counter[str] = Counter(word for m in rows for word in m)
        self.by_word: dict[str, list[int]] = defaultdict(list)
        for i, m in enumerate(rows):
            for word in self._prefix(m):
                self.by_word[word].append(i)

    def _prefix(self, words: frozenset[str]) -> list[str]:
        ordered = sorted(words, key=lambda word: (self.freq.get(word, 0), word))
        return ordered[: len(ordered) - math.ceil(NEAR * len(ordered)) + 1]

    def near(self, text: str) -> bool:
        w = _words(text)
        if not w:
            return False
        seen = {i for word in self._prefix(w) for i in self.by_word.get(word, ())}
        return any(len(w & self.rows[i]) / len(w | self.rows[i]) >= NEAR for i in seen)


def near(text: str, measured: list[frozenset[str]] | Near) -> bool:
    """Whether ``text`` shares half or more of its words (Jaccard) with a measured row."""
    if isinstance(measured, Near):
        return measured.near(text)
    w = _words(text)
    return any(w and m and len(w & m) / len(w | m) >= NEAR for m in measured)


def measured_rows() -> list[dict[str, str]]:
    """Every row a figure is measured on: the held-out half and the blind sets 2 to 5."""
    held = [r for r in load_corpus() if r["split"] == "heldout"]
    return held + [r for path in (BLIND, BLIND3, BLIND4, BLIND5) if path.exists() for r in load_corpus(path)]


def training_rows() -> list[dict[str, str]]:
    """The development half of the corpus plus the rows of every ``TRAINING_FILES`` file that are
    not near a measured row (checked by script, unseen)."""
    measured = Near([_words(r["text"]) for r in measured_rows()])
    extra = [r for path in TRAINING_FILES.values() if path.exists() for r in load_corpus(path) if not near(r["text"], measured)]
    return [r for r in load_corpus() if r["split"] == "dev"] + extra


def main(argv: list[str] | None = None) -> int:
    """``--model lr``: the triage model is the logistic regression (default ``nb``, naive Bayes).
    ``--keep-language``: the language word model is copied from the shipped file, not retrained
    (it was kept from 2026-12-06 (c) to (d): retrained then, without the rows near blind set 3, it
    left an ambiguous "saldo 0" from a Spanish browser unknown; retrained on the 10,433 rows of
    2026-12-06 (e) it does not, tests/hub/test_intel_language.py, and ``make intel-train`` retrains both)."""
    argv = argv or []
    kind = argv[argv.index("--model") + 1] if "--model" in argv else "nb"
    if kind not in ("nb", "lr"):
        print(f"unknown --model {kind!r} (nb or lr)", file=sys.stderr)
        return 2
    from normalizers.triage import pack as triage_pack

    rows = training_rows()
    language = json.loads(OUT.read_text(encoding="utf-8"))["language"] if "--keep-language" in argv else train_language(rows)
    files = " ".join(str(p.relative_to(ROOT)) for p in TRAINING_FILES.values())
    trained_on = f"dev half of tests/data/triage_corpus.tsv + training-only rows of {files} not near a measured row"
    if "--keep-language" in argv:
        trained_on += " (triage; the language word model is kept from the previous file)"
    model = {"trained_on": trained_on, "rows": len(rows),
             "language": language, "triage": triage_pack(train_triage(rows, kind))}
    OUT.write_text(json.dumps(model, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {OUT} from {len(rows)} training rows (development half + training-only)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
