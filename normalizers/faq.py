"""FAQ bot decisions: a pure BM25 matcher over the knowledge base, plus the hand-off rules.

``FaqIndex(articles)`` takes the plain dicts ``config.faq.load_articles`` returns
({id, language, title, tags, body}); matching is per language (falling back to English)
on accent-folded, stop-word-free, prefix-stemmed tokens, with title and tags weighted
above the body. ``decide`` answers only when the match is confident and nothing calls
for a person: the customer asked for a human, the message is a security matter (hacked
account, lost recovery phrase, a pasted secret), or the confidence is low.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from normalizers.model import NormalizedMessage
from normalizers.textfold import strip_marks

STEM = 6
K1, B = 1.2, 0.75
ANSWER_THRESHOLD = 0.5
SECURITY_CATEGORIES = frozenset({"suspicious_access_or_hacked_account", "lost_keys_or_recovery_phrase", "security_question"})

_STOP = set(
    """a an the and or of to in on for with is are was be it my me i you your we our do does can how what when which
    who why this that there have has from at by as not no please hello hi thanks
    el la los las un una unos de del y o en con por para es son mi mis tu su que como cuando cual donde qué hola gracias
    lo le les se al me te nos os muy
    els les uns unes i amb per és són meu meva teu seu com quan quin quina on hola gràcies em et ens us el la
    le les un une des du et ou en avec pour est sont mon ma mes ton votre nos que comment quand quel quelle où bonjour merci
    je vous nous il elle ce cette
    der die das ein eine und oder in mit für ist sind mein meine ihr ihre wie wann was welche wo hallo danke ich sie wir es
    o a os as um uma de do da dos das e ou em com para é são meu minha seu sua como quando qual onde olá obrigado
    eu você nós""".split()
)


def _fold(text: str) -> str:
    return strip_marks(text.lower())


_STOP_FOLDED = {_fold(w) for w in _STOP}


def tokens(text: str) -> list[str]:
    """Folded, stop-words removed, prefix-stemmed (first 6 letters) tokens."""
    return [w[:STEM] for w in re.findall(r"[a-z0-9]+", _fold(text)) if w not in _STOP_FOLDED and len(w) > 1]


@dataclass(frozen=True)
class Match:
    article: Mapping[str, Any]
    confidence: float
    score: float


@dataclass(frozen=True)
class FaqDecision:
    action: str  # "answer" | "handoff"
    reason: str  # "match" | "wants_human" | "security" | "low_confidence" | "no_articles" | "not_a_question"
    article: Mapping[str, Any] | None = None
    confidence: float = 0.0


class FaqIndex:
    """BM25 over the articles of each language."""

    def __init__(self, articles: Iterable[Mapping[str, Any]]) -> None:
        self.by_lang: dict[str, list[tuple[Mapping[str, Any], Counter[str], int]]] = {}
        for art in articles:
            doc = tokens(" ".join([art["title"]] * 2 + list(art.get("tags", ())) * 2 + [art["body"]]))
            self.by_lang.setdefault(art["language"], []).append((art, Counter(doc), len(doc)))
        self.stats = {}
        for lang, docs in self.by_lang.items():
            df: Counter[str] = Counter()
            for _a, tf, _n in docs:
                df.update(tf.keys())
            avg = sum(n for _a, _tf, n in docs) / len(docs)
            self.stats[lang] = (df, avg, len(docs))

    def languages(self) -> list[str]:
        return sorted(self.by_lang)

    def search(self, text: str, language: str | None) -> list[Match]:
        """Articles of ``language`` (or English) ranked by BM25, with a 0..1 confidence."""
        lang = language if language in self.by_lang else ("en" if "en" in self.by_lang else None)
        if lang is None:
            return []
        query = set(tokens(text))
        if not query:
            return []
        df, avg, n_docs = self.stats[lang]
        scored = []
        for art, tf, length in self.by_lang[lang]:
            s = 0.0
            for term in query:
                if term in tf:
                    idf = math.log(1 + (n_docs - df[term] + 0.5) / (df[term] + 0.5))
                    s += idf * tf[term] * (K1 + 1) / (tf[term] + K1 * (1 - B + B * length / avg))
            if s > 0:
                scored.append((s, art))
        scored.sort(key=lambda x: x[0], reverse=True)
        if not scored:
            return []
        top = scored[0][0]
        second = scored[1][0] if len(scored) > 1 else 0.0
        # confidence: how much of the question the best article covers, discounted when a
        # second article is about as good
        covered = len(query & {t for t in tokens(scored[0][1]["title"] + " " + " ".join(scored[0][1].get("tags", ())) + " " + scored[0][1]["body"])}) / len(query)
        margin = (top - second) / top
        out = []
        for i, (s, art) in enumerate(scored):
            conf = round(min(1.0, covered * (0.5 + 0.5 * margin)), 3) if i == 0 else round(min(1.0, s / top * 0.5 * covered), 3)
            out.append(Match(art, conf, round(s, 3)))
        return out


def decide(msg: NormalizedMessage, index: FaqIndex, threshold: float = ANSWER_THRESHOLD) -> FaqDecision:
    """Answer from the knowledge base, or hand the conversation to an agent (and why)."""
    triage = msg.triage
    if triage is not None and triage.wants_human:
        return FaqDecision("handoff", "wants_human")
    if msg.redactions or (triage is not None and (triage.security or triage.category in SECURITY_CATEGORIES)):
        return FaqDecision("handoff", "security")
    if not index.by_lang:
        return FaqDecision("handoff", "no_articles")
    text = "\n".join(t for t in (msg.subject, msg.text) if t)
    matches = index.search(text, msg.language)
    if not matches:
        return FaqDecision("handoff", "low_confidence")
    best = matches[0]
    if best.confidence < threshold:
        return FaqDecision("handoff", "low_confidence", best.article, best.confidence)
    return FaqDecision("answer", "match", best.article, best.confidence)
