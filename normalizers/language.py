"""Language detection for short support messages, offline, with the desk's other evidence.

A one-line chat message ("No me llega mi retiro de 0.5 BTC") carries too little text for
a character n-gram detector alone: lingua in low-accuracy mode put 15/15 short Spanish
messages in Portuguese or French. High-accuracy mode is better but costs ~5 ms per message
and ~200 MB per process. So the text's evidence is two cheap, independent views combined:

* lingua (low-accuracy mode, restricted to :data:`SUPPORTED`, built lazily once per
  process): per-language confidence values;
* a word-level naive Bayes model over accent-folded words of support messages
  (``normalizers/intel_model.json``, trained by ``python -m normalizers.train_intel`` on the
  development half of ``tests/data/triage_corpus.tsv`` only).

and the desk's evidence besides the text enters as a prior (:func:`priors`): the contact's
earlier messages, the phone number's country (phonenumbers), the widget's browser language
(Accept-Language / navigator.language), Content-Language and the mail client's locale. A
language an agent confirmed is not guessed at all (see hub: ``Conversation.language_confirmed``).

:func:`detect_scored` returns ``(code, confidence)``, ``("unknown", c)`` when the posterior
is below :data:`MIN_CONFIDENCE`; callers then use the desk's default language
(``OMNIHUB_DEFAULT_LANGUAGE``, default ``en``) for automatic messages.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import operator
import os
import re
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from normalizers.model import NormalizedMessage
from normalizers.textfold import strip_marks

SUPPORTED: tuple[str, ...] = ("en", "es", "ca", "pt", "fr", "de", "it", "nl")
UNKNOWN = "unknown"
MIN_LETTERS = 3  # below this the text says nothing; priors alone never decide
MIN_CONFIDENCE = 0.5
MODEL_PATH = Path(__file__).with_name("intel_model.json")
#: detection reads at most this many characters of a text (P2R profile: a 20 KB email took
#: ~20 ms; its first paragraphs tell its language as well)
TEXT_CHARS = 2000
WORD_WEIGHT = 1.5  # weight of the word model's log-likelihood next to lingua's log-probability

_detector: Any = None
_words: dict[str, Any] | None = None
_lock = threading.Lock()

#: what is no one's language: the hub's markers, links, addresses, hex strings (a transaction
#: hash, "a3f9e0…", once read as Italian or French and switched an English conversation's
#: survey to Italian), base58 addresses, identifiers mixing letters and digits, numbers, signs
_NOISE = re.compile(
    r"\[(?:redacted|sealed): [^\]]+\]|https?://\S+|\S+@\S+|0x[0-9a-fA-F]+|\b[0-9a-fA-F]{16,}\b|\b[1-9A-HJ-NP-Za-km-z]{25,}\b|"
    r"\b(?=[A-Za-z]*\d)(?=\d*[A-Za-z])[A-Za-z0-9]{8,}\b|[\d.,:;/#%$€£+*=_()\[\]{}<>\"'-]+"
)
_WORD = re.compile(r"[a-z]+")
#: English crypto and app words customers use inside every language ("mi withdraw sigue
#: pending", "seed phrase verloren"): no evidence of the message's language, so they are left
#: out of it — unless the message has nothing else, then it is read as written.
NEUTRAL_WORDS = frozenset({
    "withdraw", "withdrawal", "withdrawals", "deposit", "deposits", "pending", "seed", "phrase", "wallet", "wallets",
    "tx", "txid", "txn", "hash", "swap", "staking", "stake", "airdrop", "token", "tokens", "app", "apps", "login",
    "password", "email", "mail", "otp", "kyc", "fa", "pin", "sms", "bug", "ok", "okay", "bitcoin", "btc", "eth",
    "ether", "usdt", "usdc", "sol", "solana", "xrp", "bnb", "trx", "tron", "crypto", "nft", "defi", "memo", "gas",
    "bridge", "explorer", "metamask", "binance", "coinbase", "ledger", "trezor", "screenshot", "update", "support",
})

# Phone country (ISO 3166) -> language. Countries with several languages get the most
# common one at a support desk; the prior only nudges, the text still decides.
_COUNTRY_LANG: dict[str, str] = {
    **dict.fromkeys(("US", "GB", "IE", "AU", "NZ", "CA", "ZA", "IN", "SG", "NG", "KE", "PH"), "en"),
    **dict.fromkeys(("ES", "MX", "AR", "CO", "CL", "PE", "VE", "EC", "UY", "PY", "BO", "CR", "PA", "DO", "GT", "HN", "SV", "NI", "CU", "PR"), "es"),
    **dict.fromkeys(("BR", "PT", "AO", "MZ"), "pt"),
    **dict.fromkeys(("FR", "BE", "LU", "MC", "SN", "CI", "MA", "TN"), "fr"),
    **dict.fromkeys(("DE", "AT", "CH", "LI"), "de"),
    **dict.fromkeys(("IT", "SM"), "it"),
    **dict.fromkeys(("NL", "SR"), "nl"),
    "AD": "ca",
}


def _obj(m: Mapping[str, Any], key: str) -> dict[str, Any]:
    """A nested JSON object of a payload, or {} when it is missing or not an object."""
    v = m.get(key)
    return v if isinstance(v, dict) else {}



def fold(text: str) -> str:
    return strip_marks(text.lower()).replace("ß", "ss")


def _build() -> Any:
    from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

    langs = [Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper())) for code in SUPPORTED]
    detector = LanguageDetectorBuilder.from_languages(*langs).with_low_accuracy_mode().build()
    # lingua loads the models low-accuracy mode uses on the first detection (~10 MB, 80 ms):
    # one here, so a worker that builds this at boot (pipeline.warm) has them before any
    # message. Not with_preloaded_language_models(): it loads more (16.7 MB measured)
    detector.compute_language_confidence_values("warm")
    return detector


def detector() -> Any:
    """The process-wide lingua detector, built on first use."""
    global _detector
    if _detector is None:
        with _lock:
            if _detector is None:
                _detector = _build()
    return _detector


def _word_model() -> dict[str, Any]:
    global _words
    if _words is None:
        with _lock:
            if _words is None:
                data = json.loads(MODEL_PATH.read_text(encoding="utf-8"))["language"]
                column = [data["langs"].index(code) for code in SUPPORTED]
                # per word, WORD_WEIGHT x its log-likelihood for each of SUPPORTED in order: the
                # products text_scores adds, computed once instead of once per occurrence (the
                # per-word dicts of the stored rows are not kept: ~2 MB per worker)
                # (13,091 words have 1,647 distinct rows: one shared tuple per distinct row)
                shared: dict[tuple[float, ...], tuple[float, ...]] = {}
                weighted = {}
                for w, v in data["loglik"].items():
                    row = tuple(WORD_WEIGHT * v[i] for i in column)
                    weighted[w] = shared.setdefault(row, row)
                _words = {"weighted": weighted}
    return _words


def parse_locale_header(value: str | None) -> list[tuple[str, float]]:
    """Accept-Language / Content-Language / a locale ("es-ES,es;q=0.9,en;q=0.5", "pt_BR") ->
    [(supported code, q)], best first."""
    out: dict[str, float] = {}
    for part in (value or "").split(","):
        tag, _, params = part.strip().partition(";")
        code = tag.strip().replace("_", "-").split("-")[0].lower()
        if code not in SUPPORTED:
            continue
        q = 1.0
        m = re.search(r"q=([0-9.]+)", params)
        if m:
            try:
                q = max(0.0, min(1.0, float(m.group(1))))
            except ValueError:
                q = 0.0
        out[code] = max(out.get(code, 0.0), q)
    return sorted(out.items(), key=lambda kv: -kv[1])


def phone_language(number: str | None) -> str | None:
    """The language of a phone number's country (E.164 or whatsapp:+...), if we serve it."""
    if not number:
        return None
    raw = number.split(":", 1)[-1].strip()
    if not raw.startswith("+"):
        return None
    try:
        import phonenumbers

        region = phonenumbers.region_code_for_number(phonenumbers.parse(raw, None))
    except Exception:  # noqa: BLE001 - not a phone number: no evidence
        return None
    return _COUNTRY_LANG.get(region or "")


def priors(
    *,
    history: Iterable[str] = (),
    phone: str | None = None,
    accept_language: str | None = None,
    content_language: str | None = None,
    locale: str | None = None,
) -> dict[str, float]:
    """Prior probability per supported language from the desk's evidence besides the text.

    Each piece of evidence adds weight to a uniform base (1 per language): the contact's
    earlier detected languages +1 each (up to +4), the browser's languages +5 x q, the
    email's Content-Language / client locale +2, the phone's country +1.5.
    """
    weight = dict.fromkeys(SUPPORTED, 1.0)
    counts: dict[str, int] = {}
    for code in history:
        if code in weight:
            counts[code] = counts.get(code, 0) + 1
    for code, n in counts.items():
        weight[code] += min(4, n)
    for code, q in parse_locale_header(accept_language):
        weight[code] += 5.0 * q
    for header in (content_language, locale):
        for code, q in parse_locale_header(header)[:1]:
            weight[code] += 2.0 * q
    from_phone = phone_language(phone)
    if from_phone:
        weight[from_phone] += 1.5
    total = sum(weight.values())
    return {k: v / total for k, v in weight.items()}


def _prefix(text: str, limit: int) -> str:
    from normalizers.triage import prefix

    return prefix(text, limit)


def _without_neutral_words(text: str) -> str:
    """``text`` without NEUTRAL_WORDS, when that leaves words to judge by; else ``text``."""
    kept = [w for w in text.split() if not _neutral(w)]
    return " ".join(kept) if _has_letters("".join(kept)) else text


@functools.lru_cache(maxsize=4096)
def _neutral(word: str) -> bool:
    """Whether every word of ``word`` (folded) is in NEUTRAL_WORDS (cached: words repeat)."""
    return set(_WORD.findall(fold(word))) <= NEUTRAL_WORDS


def _has_letters(text: str) -> bool:
    """Whether ``text`` holds at least MIN_LETTERS letters (stops counting there)."""
    return next(itertools.islice((c for c in text if c.isalpha()), MIN_LETTERS - 1, None), None) is not None


def text_scores(text: str) -> dict[str, float] | None:
    """Log-scores per language from the text alone, or None when it has too few letters."""
    cleaned = _NOISE.sub(" ", _prefix(text or "", TEXT_CHARS))
    if not _has_letters(cleaned):
        return None
    words = cleaned.split()
    if len(words) == 1 and _neutral(words[0]):
        return None  # "KYC", "bitcoin", "withdrawal?": a word of every language says none
    cleaned = _without_neutral_words(cleaned)
    values = detector().compute_language_confidence_values(cleaned)
    probs = {v.language.iso_code_639_1.name.lower(): v.value for v in values}
    scores = {code: math.log(probs.get(code, 0.0) + 1e-3) for code in SUPPORTED}
    weighted = _word_model()["weighted"]
    rows = [row for row in map(weighted.get, _WORD.findall(fold(cleaned))) if row is not None]
    if rows:
        # per language, the words' weighted log-likelihoods added one by one in text order
        # (functools.reduce with operator.add: the same float additions as a loop, not sum())
        for code, col in zip(SUPPORTED, zip(*rows, strict=True), strict=True):
            scores[code] = functools.reduce(operator.add, col, scores[code])
    return scores


def evidence_words(text: str | None) -> int:
    """How many words of ``text`` say something about its language: words of two letters or more
    once markers, hashes, identifiers and numbers are out, NEUTRAL_WORDS not counted ("ok merci": 1)."""
    cleaned = _NOISE.sub(" ", _prefix(text or "", TEXT_CHARS))
    return sum(1 for w in cleaned.split() if sum(c.isalpha() for c in w) >= 2 and not _neutral(w))


def detect_scored(text: str, prior: Mapping[str, float] | None = None, confirmed: str | None = None) -> tuple[str, float]:
    """``(language, confidence)``; ``("unknown", c)`` when unsure or the text is too short."""
    if confirmed:
        return confirmed, 1.0
    scores = text_scores(text)
    if scores is None:
        return UNKNOWN, 0.0
    if prior:
        for code in SUPPORTED:
            scores[code] += math.log(max(prior.get(code, 0.0), 1e-6))
    top = max(scores.values())
    exp = {k: math.exp(v - top) for k, v in scores.items()}
    total = sum(exp.values())
    best = max(exp, key=exp.__getitem__)
    confidence = exp[best] / total
    if confidence < MIN_CONFIDENCE:
        return UNKNOWN, round(confidence, 3)
    return best, round(confidence, 3)


def detect(text: str, prior: Mapping[str, float] | None = None) -> str | None:
    """ISO 639-1 code of ``text``'s language, or None when too short or too unsure."""
    code, _ = detect_scored(text, prior)
    return None if code == UNKNOWN else code


def default_language(settings: Any = None) -> str:
    """The desk's language for automatic messages when a conversation's is unknown: the
    ``default_language`` setting (``OMNIHUB_DEFAULT_LANGUAGE``, default ``en``)."""
    value = getattr(settings, "default_language", None) if settings is not None else os.environ.get("OMNIHUB_DEFAULT_LANGUAGE")
    code = (value or "en").strip().lower()
    return code or "en"


def message_prior(msg: NormalizedMessage, history: Iterable[str] = ()) -> dict[str, float]:
    """Priors from what the channel put on the message (see docs/intelligence/triage-language.md)."""
    extra = msg.extra or {}
    widget = _obj(extra, "widget")
    browser = ", ".join(str(v) for v in (widget.get("language"), widget.get("accept_language"),
                                         extra.get("accept_language"), extra.get("browser_language")) if v)
    phone = msg.sender.phone  # set by the normalizer for phone media
    return priors(
        history=history,
        phone=phone,
        accept_language=browser or None,
        content_language=extra.get("content_language"),
        locale=extra.get("locale"),
    )


def language(msg: NormalizedMessage) -> NormalizedMessage:
    """Pipeline step: set ``msg.language`` (and ``msg.language_confidence``) from subject +
    text (markers and addresses removed) and the message's own hints."""
    if msg.direction != "inbound" or msg.kind in ("status", "delete"):
        return msg
    text = "\n".join(t for t in (msg.subject, msg.text or msg.full_text) if t)
    code, confidence = detect_scored(text, message_prior(msg))
    if code == UNKNOWN:
        return msg.replace(language_confidence=confidence)
    return msg.replace(language=code, language_confidence=confidence)
