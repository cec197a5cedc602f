"""Secret redaction: recovery phrases, private keys, card numbers, passwords and PINs never go further.

The pipeline runs ``redact`` before any other step sees the text, and before anything is
stored, pushed or logged. Each secret is replaced by a marker naming its kind
(``[redacted: recovery phrase]``) and recorded in ``msg.redactions`` as kind + marker +
count: the secret itself is never kept.

Design (see the README (Support intelligence) for the measured precision and recall):

* **BIP-39 recovery phrases**, every wordlist the ``mnemonic`` package ships. The text is
  tokenized into letter runs; numbering (``1.``, ``2)``, ``#3``), commas, line breaks and
  capitals are ignored. Each token is *exact* (in the wordlist, accents folded), a *typo*
  (Damerau distance 1 to a wordlist word, tokens of 4+ letters only) or *unknown*. A run
  of consecutive tokens is a phrase when it has at least 12 tokens, at most one unknown
  token per 12 (never two in a row), and at most max(2, n/6) non-exact ones ("11 of 12").
  We do not demand exactly 12/15/18/21/24 tokens nor a valid checksum: a customer's
  phrase is often preceded or followed by a wordlist word of their own prose, and a phrase
  with one mistyped-but-valid word still exposes the other eleven. Prose is safe because
  the short function words of every language (the, a, my, de, la, el, i, que, …) are not
  BIP-39 words, so ordinary sentences break a run long before 12. Chinese phrases are
  caught when written one character per word (spaced), or unspaced with a valid checksum.
* **Private keys**: 64 hex digits (optionally ``0x``), unless a transaction cue (``tx``,
  ``txid``, ``hash``, ``transaction``/``transacción``/…, an explorer ``/tx/`` URL) stands
  just before it and no key cue does — then it is a transaction hash and is kept for the
  entity step. An uncued 64-hex string is redacted: losing a tx hash costs a question,
  keeping a private key costs the customer's funds. WIF keys (base58check, version 0x80 /
  0xef, 32 bytes + optional compression flag), extended private keys
  (xprv/yprv/zprv/tprv/uprv/vprv/Yprv/Zprv, base58check, 78 bytes; a string with that
  prefix and shape is redacted even when its checksum fails — it is a mistyped key) and
  Solana secret keys (base58 of 64 bytes).
* **Payment cards**: 13-19 digits grouped by spaces or dashes, or 14-16 digits in one
  run, with a known issuer prefix and a valid Luhn check digit, not part of an IBAN, a
  phone number (``+``), a decimal or a URL; and the 3-4 digit security code after a cue (CVV, CVC, security code,
  código de seguridad, Kartenprüfnummer, cryptogramme visuel).
* **Passwords and PINs** after a cue word (password, contraseña, contrasenya, mot de
  passe, Passwort, Kennwort, senha, wachtwoord, PIN, passcode, …). After ``:`` or ``=``
  the next token is redacted; after a verb (is, es, és, est, ist, é, lautet, …) or with no
  connector, only a token that looks like a secret (has a digit or a symbol; PIN: 4-8
  digits) — so "my password is not working" stays readable.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import threading
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from normalizers.codecs import b58check_decode, b58decode
from normalizers.model import Attachment, NormalizedMessage, Redaction

MARKERS = {
    "recovery_phrase": "[redacted: recovery phrase]",
    "private_key": "[redacted: private key]",
    "extended_private_key": "[redacted: extended private key]",
    "password": "[redacted: password]",
    "pin": "[redacted: PIN]",
    "card_number": "[redacted: card number]",
    "card_code": "[redacted: card security code]",
}
SECURITY_KINDS = frozenset({"recovery_phrase", "private_key", "extended_private_key"})

MIN_PHRASE_WORDS = 12
MIN_TYPO_LEN = 4

# --------------------------------------------------------------------------- wordlists


def fold(word: str) -> str:
    """Lower-case and strip Latin combining accents (kana voicing marks are kept)."""
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not 0x300 <= ord(c) <= 0x36F))


@dataclass(frozen=True)
class _Wordlist:
    language: str
    words: frozenset[str]
    deletes: Mapping[str, tuple[str, ...]]  # one-deletion variant -> words
    single_chars: bool  # Chinese: one character per word

    def classify(self, token: str) -> str:
        """'E' exact, 'T' one typo away, 'U' unknown."""
        if token in self.words:
            return "E"
        if self.single_chars or len(token) < MIN_TYPO_LEN:
            return "U"
        candidates: set[str] = set(self.deletes.get(token, ()))  # a letter was left out
        for i in range(len(token)):
            d = token[:i] + token[i + 1 :]
            if d in self.words:  # a letter was added
                return "T"
            candidates.update(self.deletes.get(d, ()))  # substituted or transposed
        return "T" if any(_osa_at_most_one(token, w) for w in candidates) else "U"


def _osa_at_most_one(a: str, b: str) -> bool:
    """True when a and b differ by one substitution, insertion, deletion or adjacent swap."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la == lb:
        diff = [i for i in range(la) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
    if la > lb:
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i:] == b[i + 1 :]


_WORDLISTS: list[_Wordlist] | None = None
_WORDLISTS_LOCK = threading.Lock()


def wordlists() -> list[_Wordlist]:
    """Every wordlist of the ``mnemonic`` package, folded and indexed (built once, lazily)."""
    global _WORDLISTS
    if _WORDLISTS is None:
        with _WORDLISTS_LOCK:
            if _WORDLISTS is None:
                from mnemonic import Mnemonic

                built = []
                for lang in sorted(Mnemonic.list_languages()):
                    words = frozenset(fold(w) for w in Mnemonic(lang).wordlist)
                    single = all(len(w) == 1 for w in words)
                    deletes: dict[str, list[str]] = {}
                    if not single:
                        for w in words:
                            if len(w) >= MIN_TYPO_LEN - 1:
                                for i in range(len(w)):
                                    deletes.setdefault(w[:i] + w[i + 1 :], []).append(w)
                    built.append(
                        _Wordlist(lang, words, {k: tuple(v) for k, v in deletes.items()}, single)
                    )
                _WORDLISTS = built
    return _WORDLISTS


# --------------------------------------------------------------------------- phrases

_MARKS = "\u0300-\u036f\u1ab0-\u1aff\u20d0-\u20ff\u3099\u309a"
_TOKEN = re.compile(rf"[^\W\d_](?:[^\W\d_]|[{_MARKS}])*|\d+", re.UNICODE)
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_HAN_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]{12,}")


_SENTENCE_END = re.compile(r"[^\w]*?[.?!;:。？！]")


def _tokens(text: str) -> list[tuple[int, int, str, bool]]:
    """Letter runs as (start, end, folded, sentence_break_before); numbering is dropped.

    A sentence mark (. ? ! ; :) right after a word ends a run: phrases are written with
    spaces, commas, line breaks or numbering ("1." follows a digit, not a word) between
    words, never with full stops, so prose ending in wordlist words does not join them.
    """
    out: list[tuple[int, int, str, bool]] = []
    prev_end = 0
    prev_word = False
    for m in _TOKEN.finditer(text):
        tok = m.group()
        if tok.isdigit():
            continue  # numbering; a break is judged on the text right after the last word
        brk = prev_word and bool(_SENTENCE_END.match(text, prev_end)) and _SENTENCE_END.match(text, prev_end).end() <= m.start()
        prev_end, prev_word = m.end(), True
        if _HAN.match(tok) and len(tok) > 1:
            # unspaced Chinese: one token per character, flagged as joined so only the
            # checksum path below can redact it
            for i, ch in enumerate(tok):
                out.append((m.start() + i, m.start() + i + 1, "\x00" + ch, brk and i == 0))
            continue
        out.append((m.start(), m.end(), fold(tok), brk))
    return out


def _runs(classes: list[str]) -> Iterable[tuple[int, int]]:
    """Maximal [i, j) runs with no two consecutive unknown tokens, trimmed of edge unknowns."""
    i = 0
    n = len(classes)
    while i < n:
        while i < n and classes[i] == "U":
            i += 1
        j = i
        while j < n and not (classes[j] == "U" and (j + 1 >= n or classes[j + 1] == "U")):
            j += 1
        if j > i:
            yield i, j
        i = j + 1


def _split_runs(classes: list[str], breaks: list[bool]) -> Iterable[tuple[int, int]]:
    bounds = [k for k, b in enumerate(breaks) if b and k] + [len(classes)]
    start = 0
    for end in bounds:
        for i, j in _runs(classes[start:end]):
            yield start + i, start + j
        start = end


def _qualifies(classes: list[str], words: list[str] | None = None) -> bool:
    n = len(classes)
    if n < MIN_PHRASE_WORDS:
        return False
    unknown = classes.count("U")
    inexact = n - classes.count("E")
    if words is not None and len(set(words)) < (2 * n) // 3:
        return False  # "image_32 image_36 image_48 …": a phrase repeats a word rarely, never mostly
    return unknown <= max(1, n // 12) and inexact <= max(2, n // 6)


def _qualifying_windows(classes: list[str], i: int, j: int, words: list[str] | None = None) -> list[tuple[int, int]]:
    """Windows of run [i, j) that qualify as a phrase; a window starts and ends on a
    segment boundary (an unknown token), so prose around a phrase is not swallowed whole."""
    if j - i < MIN_PHRASE_WORDS:
        return []
    cuts = [k for k in range(i, j) if classes[k] == "U"]
    starts = [i] + [k + 1 for k in cuts]
    ends = cuts + [j]
    found = []
    for a in starts:
        for b in ends:
            if b - a >= MIN_PHRASE_WORDS and _qualifies(classes[a:b], None if words is None else words[a:b]):
                found.append(_trim(classes, a, b))
    return found


def _trim(classes: list[str], i: int, j: int) -> tuple[int, int]:
    """Drop prose words hanging at a run's edges ("seed is <phrase> please help")."""
    ti, tj = i, j
    for k in (ti, ti + 1):
        if k < tj and classes[k] == "U":
            ti = k + 1
    for k in (tj - 1, tj - 2):
        if k >= ti and classes[k] == "U":
            tj = k
    return (ti, tj) if _qualifies(classes[ti:tj]) else (i, j)


def _phrase_spans(text: str) -> list[tuple[int, int]]:
    toks = _tokens(text)
    if len(toks) < MIN_PHRASE_WORDS - 1:
        return _han_checksum_spans(text)
    spans: list[tuple[int, int]] = []
    for wl in wordlists():
        exact = sum(1 for t in toks if t[2] in wl.words)
        if exact < MIN_PHRASE_WORDS - 2:  # cheap prefilter: not enough exact words at all
            continue
        classes = [wl.classify(t[2]) for t in toks]
        # a short unknown word ("I", "a", "my", "de") is prose, not a garbled phrase word:
        # every BIP-39 word has 3+ letters, so it ends the run like a full stop does
        breaks = [t[3] or (k > 0 and classes[k - 1] == "U" and len(toks[k - 1][2]) < 3) for k, t in enumerate(toks)]
        for i, j in _split_runs(classes, breaks):
            for a, b in _qualifying_windows(classes, i, j, [t[2] for t in toks]):
                spans.append((toks[a][0], toks[b - 1][1]))
    return spans + _han_checksum_spans(text)


_HAN_CUE = re.compile(r"(?:助记词|助記詞|记忆词|記憶詞|种子|種子|恢复词|恢復詞|助记码)[是為为：:\s]*")
_PHRASE_SIZES = (12, 15, 18, 21, 24)


def _han_checksum_spans(text: str) -> list[tuple[int, int]]:
    """Unspaced Chinese: a Han run of a phrase's length (alone, or after a cue such as
    助记词) whose BIP-39 checksum verifies. Ordinary Chinese prose is made of the same
    common characters, so without spaces only the checksum can tell them apart."""
    spans = []
    for m in _HAN_RUN.finditer(text):
        start = m.start()
        cue = None
        for c in _HAN_CUE.finditer(text, m.start(), m.end()):
            cue = c
        if cue is not None:
            start = cue.end()
        chunk = text[start : m.end()]
        if len(chunk) in _PHRASE_SIZES and any(_han_valid(chunk, lang) for lang in ("chinese_simplified", "chinese_traditional")):
            spans.append((start, m.end()))
    return spans


@functools.lru_cache(maxsize=4)
def _mnemo(lang: str) -> tuple[Any, frozenset[str]]:
    from mnemonic import Mnemonic

    m = Mnemonic(lang)
    return m, frozenset(m.wordlist)


def _han_valid(chunk: str, lang: str) -> bool:
    m, words = _mnemo(lang)
    return all(c in words for c in chunk) and m.check(" ".join(chunk))


# --------------------------------------------------------------------------- keys

_B58 = "1-9A-HJ-NP-Za-km-z"
_HEX64 = re.compile(r"(?<![0-9A-Za-z])(?:0x)?([0-9a-fA-F]{64})(?![0-9A-Za-z])")
_WIF = re.compile(rf"(?<![{_B58}])[5KLc9][{_B58}]{{50,51}}(?![{_B58}])")
_XPRV = re.compile(rf"(?<![{_B58}])[xyztuvYZUV]prv[{_B58}]{{100,112}}(?![{_B58}])")
_SOL_SECRET = re.compile(rf"(?<![{_B58}])[{_B58}]{{85,90}}(?![{_B58}])")

_TX_CUE = re.compile(
    r"(?:\btx(?:id|n|hash)?\b|hash\b|signature\b|\bfirma\b|\bsig\b|sha-?256|\bchecksum\b|\bdigest\b|\btransa(?:ction|cci[oó]n?|ç[aã]o|cao|ktion|ctie)\b|"
    r"\btransfer\w*|\btransferencia\b|\bdeposit\w*|\bdep[oó]sit\w*|\bwithdraw\w*|\bretiro\b|/tx/|/txs?/|/transaction/)",
    re.IGNORECASE,
)
_KEY_CUE = re.compile(
    r"(?:priv|secret|clave|clau|cl[ée]|schl[üu]ssel|chave|sleutel|\bkey\b|seed|semilla|mnemonic)",
    re.IGNORECASE,
)


def _hex_is_tx(text: str, start: int) -> bool:
    """A transaction/hash cue in the 48 characters before (this line and the one above)."""
    before = text[max(0, start - 48) : start]
    before = "\n".join(before.split("\n")[-2:])
    return bool(_TX_CUE.search(before)) and not _KEY_CUE.search(before)


def _wif_valid(s: str) -> bool:
    payload = b58check_decode(s)
    if payload is None or payload[0] not in (0x80, 0xEF):
        return False
    return len(payload) == 33 or (len(payload) == 34 and payload[-1] == 0x01)


def _key_spans(text: str) -> list[tuple[int, int, str]]:
    spans = []
    for m in _HEX64.finditer(text):
        if not _hex_is_tx(text, m.start()):
            spans.append((m.start(), m.end(), "private_key"))
    for m in _WIF.finditer(text):
        if _wif_valid(m.group()):
            spans.append((m.start(), m.end(), "private_key"))
    for m in _XPRV.finditer(text):
        spans.append((m.start(), m.end(), "extended_private_key"))
    for m in _SOL_SECRET.finditer(text):
        raw = b58decode(m.group())
        if raw is not None and len(raw) == 64 and not _hex_is_tx(text, m.start()):
            spans.append((m.start(), m.end(), "private_key"))
    return spans


# --------------------------------------------------------------------------- payment cards

# 13-19 digits, optionally grouped by single spaces or dashes, not glued to other digits,
# letters, a "+" (phone numbers), a decimal point or a URL/query (``id=…``, ``/…``).
_CARD = re.compile(r"(?<![\w+.,/=?&#%-])\d(?:[ -]?\d){12,18}(?![\w]|[.,]\d)")
#: Without separators, only the lengths cards are printed with: longer runs are ids
#: (tweet and other snowflake ids are 18-19 digits).
_CARD_PLAIN_LENGTHS = (14, 15, 16)
# Issuer prefixes (IIN ranges) of the schemes customers paste: Visa, Mastercard (51-55,
# 2221-2720), Amex, Discover, JCB, Diners, UnionPay, Maestro.
_CARD_IIN = re.compile(r"4|5[0-9]|2(?:22[1-9]|2[3-9]\d|[3-6]\d\d|7[01]\d|720)|3[47]|3(?:0[0-5]|[689])|35(?:2[89]|[3-8])|6")
# An IBAN's digits can look like a card number: its span is never a card.
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?\b")
_CARD_CODE_CUE = re.compile(
    r"\b(?:cvv2?|cvc2?|cid|csc|card\s+(?:security\s+|verification\s+)?code|security\s+code|c[oó]digo\s+de\s+seguridad|"
    r"kartenpr[üu]fnummer|cryptogramme(?:\s+visuel)?)\b(?:\s*(?:is|es|est|ist|:|=|#))?\s*(?P<code>\d{3,4})(?!\d)",
    re.IGNORECASE,
)


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card_spans(text: str) -> list[tuple[int, int, str]]:
    """Card numbers (Luhn-valid, a known issuer prefix, 13-19 digits) and the 3-4 digit
    security code after a cue (CVV, CVC, security code, …). PCI DSS forbids storing either
    in clear; a 16-digit order number passes the checks one time in ten at most, and losing
    one costs a question, keeping a card number costs the customer."""
    if not any(c.isdigit() for c in text):
        return []
    ibans = [(m.start(), m.end()) for m in _IBAN.finditer(text)]
    spans = []
    for m in _CARD.finditer(text):
        digits = re.sub(r"[ -]", "", m.group())
        if len(digits) == len(m.group()) and len(digits) not in _CARD_PLAIN_LENGTHS:
            continue
        if not (13 <= len(digits) <= 19 and _CARD_IIN.match(digits) and luhn_valid(digits)):
            continue
        if any(a <= m.start() < b for a, b in ibans):
            continue
        spans.append((m.start(), m.end(), "card_number"))
    for m in _CARD_CODE_CUE.finditer(text):
        spans.append((m.start("code"), m.end("code"), "card_code"))
    return spans


# --------------------------------------------------------------------------- passwords

_PASSWORD_CUES = (
    r"passwords?|passwd|pwd|pass\s?phrase|contrase[ñn]as?|contrasenyes|contrasenya|"
    r"mot\s+de\s+passe|mdp|passw[oö]rt(?:er)?|kennwort|senhas?|palavra[-\s]passe|"
    r"wachtwoord(?:en)?|parola|hasło|haslo|clave\s+de\s+acceso"
)
_PIN_CUES = r"pin(?:[-\s]?(?:code|c[oó]digo|codi|nummer|number))?|passcode|c[oó]digo\s+pin|codi\s+pin|code\s+pin|nip"
_CONNECT_VERB = r"is|was|es|era|és|est|était|ist|lautet|war|é|era|são|zijn|is\s+nu|fica|será"
_CUE_RE = re.compile(rf"\b(?:{_PASSWORD_CUES})\b|\b(?:{_PIN_CUES})\b", re.IGNORECASE)
_VALUE = r"(?:(?P<q>[\"'“‘«`])(?P<qsecret>[^\"'”’»`\n]{1,128})[\"'”’»`]|(?P<secret>[^\s\"'”’»`]+))"
_WITH_CONNECTOR = re.compile(
    rf"(?P<mid>(?:[ \t]+[^\s:=,;\"'()]+){{0,3}}?)(?P<conn>\s*[:=]\s*|\s+(?:{_CONNECT_VERB})\b\s*:?\s*){_VALUE}",
    re.IGNORECASE,
)
_BARE = re.compile(rf"(?P<conn>\s+){_VALUE}")
_TRAIL = ".,;:"


def _looks_secret(token: str) -> bool:
    core = token.strip("()[]{}<>")
    return bool(core) and (any(c.isdigit() for c in core) or any(not c.isalnum() for c in core))


def _credential_spans(text: str) -> list[tuple[int, int, str]]:
    spans = []
    for cue_match in _CUE_RE.finditer(text):
        cue = cue_match.group().lower()
        is_pin = bool(re.fullmatch(_PIN_CUES, cue, re.IGNORECASE))
        for pattern in (_WITH_CONNECTOR, _BARE):
            m = pattern.match(text, cue_match.end())
            if not m:
                continue
            quoted = bool(m.group("q"))
            secret = m.group("qsecret") if quoted else m.group("secret")
            explicit = "=" in m.group("conn") or ":" in m.group("conn")
            stripped = secret if quoted else secret.rstrip(_TRAIL)
            if not stripped or set(stripped) <= {"*", "•", "x", "X"} or stripped.startswith("[redacted"):
                continue
            if is_pin:
                if not re.fullmatch(r"\d{4,8}", stripped):
                    continue
            elif not (quoted or (explicit and len(stripped) >= 3) or _looks_secret(stripped)):
                continue
            start = m.start("qsecret" if quoted else "secret")
            spans.append((start, start + len(stripped), "pin" if is_pin else "password"))
            break
    return spans


# --------------------------------------------------------------------------- API


_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9-]*(?:\s[^<>]{0,500})?/?>")


def _mask_markup(text: str) -> str:
    """Same-length copy of HTML with tags and entities blanked, so they separate words."""
    text = re.sub(r"<[^>]*>", lambda m: " " * len(m.group()), text)
    return re.sub(r"&[#\w]+;", lambda m: " " * len(m.group()), text)


def redact_text(text: str, *, markup: bool = False) -> tuple[str, tuple[Redaction, ...]]:
    """Replace every secret in ``text`` by its kind's marker; return (text, redactions)."""
    if not text:
        return text, ()
    scan = _mask_markup(text) if markup or len(_TAG.findall(text[:20000])) >= 2 else text
    spans: list[tuple[int, int, str]] = [(a, b, "recovery_phrase") for a, b in _phrase_spans(scan)]
    spans += _key_spans(scan)
    spans += _credential_spans(scan)
    spans += _card_spans(scan)
    if not spans:
        return text, ()
    # merge overlaps, the earliest-starting / longest span wins the kind
    spans.sort(key=lambda s: (s[0], -(s[1] - s[0])))
    merged: list[list[Any]] = []
    for a, b, kind in spans:
        if merged and a < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
            continue
        merged.append([a, b, kind])
    counts: dict[str, int] = {}
    out = []
    last = 0
    for a, b, kind in merged:
        out.append(text[last:a])
        out.append(MARKERS[kind])
        counts[kind] = counts.get(kind, 0) + 1
        last = b
    out.append(text[last:])
    return "".join(out), tuple(Redaction(kind=k, marker=MARKERS[k], count=c) for k, c in counts.items())


def merge_redactions(*groups: Iterable[Redaction]) -> tuple[Redaction, ...]:
    """Combine redaction records by kind, keeping the highest count seen in any one field."""
    best: dict[str, int] = {}
    for group in groups:
        for r in group:
            best[r.kind] = max(best.get(r.kind, 0), r.count)
    return tuple(Redaction(kind=k, marker=MARKERS.get(k, f"[redacted: {k}]"), count=c) for k, c in best.items())


def redact_value(value: Any) -> tuple[Any, tuple[Redaction, ...]]:
    """Redact every string inside nested dicts/lists/tuples (provider fields in ``extra``)."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        found: list[Redaction] = []
        out = {}
        for k, v in value.items():
            out[k], r = redact_value(v)
            found.extend(r)
        return out, tuple(found)
    if isinstance(value, (list, tuple)):
        found = []
        items = []
        for v in value:
            nv, r = redact_value(v)
            items.append(nv)
            found.extend(r)
        return type(value)(items), tuple(found)
    return value, ()


TEXT_TYPES = ("text/", "application/json", "application/xml", "application/csv", "application/x-yaml", "message/")
TEXT_EXTENSIONS = (".txt", ".csv", ".json", ".md", ".log", ".xml", ".yaml", ".yml", ".html", ".htm", ".eml")
MAX_TEXT_ATTACHMENT = 5 * 1024 * 1024


def is_text_attachment(content_type: str, filename: str) -> bool:
    ct = (content_type or "").lower()
    return ct.startswith(TEXT_TYPES) or (filename or "").lower().endswith(TEXT_EXTENSIONS)


def redact_attachment(att: Attachment) -> tuple[Attachment, tuple[Redaction, ...]]:
    """Redact the bytes of a text attachment in hand (a .txt "backup" of a seed phrase).

    Binary files (images, PDFs) are left as they are: no OCR here. Text that is not
    UTF-8 is decoded as Latin-1 so that no byte sequence escapes the scan.
    """
    found: list[Redaction] = []
    name, r = redact_text(att.filename)
    found.extend(r)
    content = att.content
    if content is not None and len(content) <= MAX_TEXT_ATTACHMENT and is_text_attachment(att.content_type, att.filename):
        try:
            decoded, encoding = content.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            decoded, encoding = content.decode("latin-1"), "latin-1"
        markup = "html" in (att.content_type or "") or att.filename.lower().endswith((".html", ".htm"))
        clean, r = redact_text(decoded, markup=markup)
        if r:
            found.extend(r)
            content = clean.encode(encoding, "replace")
    if not found:
        return att, ()
    changed = dataclasses.replace(att, filename=name, content=content)
    if content is not att.content:
        changed = dataclasses.replace(changed, size=len(content), sha256=None)
    return changed, tuple(found)


def redact(msg: NormalizedMessage) -> NormalizedMessage:
    """Pipeline step: redact text, full_text, html, subject, extra, attachment names and
    the bytes of text attachments in hand (``redact_attachment``; attachments fetched
    later by URL must go through it too — the ingest stage does)."""
    text, r_text = redact_text(msg.text)
    full, r_full = redact_text(msg.full_text)
    html, r_html = redact_text(msg.html, markup=True)
    subject, r_subject = redact_text(msg.subject)
    extra, r_extra = redact_value(msg.extra)
    r_att: list[Redaction] = []
    new_atts = []
    for a in msg.attachments:
        a2, r = redact_attachment(a)
        r_att.extend(r)
        new_atts.append(a2)
    attachments = tuple(new_atts)
    found = merge_redactions(msg.redactions, r_text, r_full, r_html, r_subject, r_extra, r_att)
    if not (r_text or r_full or r_html or r_subject or r_extra or r_att):
        return msg
    return msg.replace(
        text=text, full_text=full, html=html, subject=subject, extra=extra, attachments=attachments,
        redactions=found,
    )


def redact_event_dict(logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: redact every string value of the event before it is rendered."""
    clean, _found = redact_value(event_dict)
    return clean
