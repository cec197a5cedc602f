"""Secret redaction: recovery phrases, private keys, card numbers, passwords and PINs never go further.

The pipeline runs ``redact`` before any other step sees the text, and before anything is
stored, pushed or logged. Each secret is replaced by a marker naming its kind
(``[redacted: recovery phrase]``) and recorded in ``msg.redactions`` as kind + marker +
count: the secret itself is never kept.

Design (see docs/intelligence/redaction.md for the measured precision and recall):

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
  digits) — so "my password is not working" stays readable. Also short cues with a
  connector ("pw: hunter2", "my pass is hunter2"), one-time / backup codes ("2FA backup code
  1234-5678") and sign-in pairs ("login: bob / Secret123"): ``_more_credential_spans``.

Speed (#22.5; ~0.4 ms of CPU per 2 KB message, ``R1`` in ``make bench``): cheap pre-checks
decide where each rule may apply, and the rule runs there unchanged — one pass gives every
token a letter (wordlist word or not, sentence mark, short word) from a cached dict over the
union of the wordlists, and only stretches that can hold a phrase are classified per
wordlist; key, base58, hex and card patterns run only where the character stretch each
needs exists. ``tests/normalizers/test_redact_differential.py`` asserts the output is the
one of the implementation before (frozen in ``tests/normalizers/redact_reference.py``).
"""

from __future__ import annotations

import bisect
import codecs
import contextlib
import contextvars
import dataclasses
import functools
import hashlib
import hmac
import itertools
import re
import threading
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from normalizers import redispatch
from normalizers.codecs import b58check_decode, b58decode
from normalizers.model import Attachment, NormalizedMessage, Participant, Redaction, Sealed

MARKERS = {
    "recovery_phrase": "[redacted: recovery phrase]",
    "private_key": "[redacted: private key]",
    "extended_private_key": "[redacted: extended private key]",
    "password": "[redacted: password]",
    "pin": "[redacted: PIN]",
    "card_number": "[redacted: card number]",
    "card_code": "[redacted: card security code]",
    # a 64-hex (or base58 64-byte) string with no evidence either way: a transaction hash
    # as likely as a private key. The pipeline seals it (SEALED_MARKER); elsewhere
    # (logs, names, extra, attachments) it is replaced by this marker.
    "ambiguous_key": "[redacted: unconfirmed hex or base58 string]",
}
#: The pipeline's placeholder for a sealed (encrypted, agent-revealable) value.
SEALED_MARKER = "[sealed: {what} string #{ref}]"
SEALED_RE = re.compile(r"\[sealed: (?:hex|base58) string #(\d{1,4})\]")
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
#: every folded word of every wordlist (the union: one set look-up per token says whether a
#: token is a wordlist word in some language)
_ANY_WORD: frozenset[str] = frozenset()
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
                global _ANY_WORD
                _ANY_WORD = frozenset().union(*(wl.words for wl in built))
                _WORDLISTS = built
    return _WORDLISTS


@functools.lru_cache(maxsize=8192)
def _fold_rare(word: str) -> str:
    return fold(word)


def _fold_token(word: str) -> str:
    """``fold`` of one token; ASCII (most tokens) is only lower-cased, the rest is cached."""
    return word.lower() if word.isascii() else _fold_rare(word)


# --------------------------------------------------------------------------- phrases

_MARKS = "\u0300-\u036f\u1ab0-\u1aff\u20d0-\u20ff\u3099\u309a"
# a letter, then letters and combining marks; or a number. (The same tokens as
# ``[^\W\d_](?:[^\W\d_]|[marks])*|\d+``, written so the engine repeats single classes.)
_TOKEN = re.compile(rf"[^\W\d_]+(?:[{_MARKS}]+[^\W\d_]*)*+|\d+", re.UNICODE)
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
        end = _SENTENCE_END.match(text, prev_end) if prev_word else None
        brk = end is not None and end.end() <= m.start()
        prev_end, prev_word = m.end(), True
        if _HAN.match(tok) and len(tok) > 1:
            # unspaced Chinese: one token per character, flagged as joined so only the
            # checksum path below can redact it
            for i, ch in enumerate(tok):
                out.append((m.start() + i, m.start() + i + 1, "\x00" + ch, brk and i == 0))
            continue
        out.append((m.start(), m.end(), _fold_token(tok), brk))
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
    if words is not None and len(set(words)) < (2 * n) // 3 and not _checksum_valid(words):
        return False  # "image_32 image_36 image_48 …": a phrase repeats a word rarely, never mostly
        # (unless the words are a phrase with a valid BIP39 checksum, e.g. "abandon … about")
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


# ``_TOKEN``'s tokens, a word carrying the sentence mark that follows it, if any (what
# ``_SENTENCE_END`` finds after a word in ``_tokens``: the next word starts a new run).
# Numbers are left out (``_tokens`` drops them, and they cannot end a run).
_TOKEN_SCAN = re.compile(rf"[^\W\d_]+(?:[{_MARKS}]+[^\W\d_]*)*+(?:[^\w.?!;:。？！]*+[.?!;:。？！])?+", re.UNICODE)


#: entries per token-code cache (~150 bytes each: a few MB at most per process)
_CACHE_SIZE = 50_000


class _TokenCodes(dict[str, str]):
    """A ``_TOKEN_SCAN`` token -> its letters in the phrase pre-check, one per token that
    ``_tokens`` makes of it: ``E`` a word of some wordlist, ``x`` any other word, ``F`` / ``y``
    the same followed by a sentence mark, ``b`` an unknown word of under 3 letters; ``F``,
    ``y`` and ``b`` end a run in every language; ``""`` for a number ("²", dropped as numbering).
    Cached: a worker sees the same words again and again (bounded: cleared when full)."""

    def __missing__(self, tok: str) -> str:
        if len(self) >= _CACHE_SIZE:
            self.clear()
        if _WORDLISTS is None:
            wordlists()  # (_ANY_WORD)
        m = _TOKEN.match(tok)
        assert m is not None
        word = m.group()
        folded = _fold_token(word)
        if word.isdigit():  # "²": a letter token that is a number, dropped like one
            code = ""
        elif _HAN.match(word) and len(word) > 1:
            code = "b" * len(word)  # unspaced Chinese: one "\x00"+char token per character
        elif folded in _ANY_WORD:
            code = "F" if m.end() < len(tok) else "E"
        elif len(folded) < 3:
            code = "b"
        else:
            code = "y" if m.end() < len(tok) else "x"
        self[tok] = code
        return code


_CODES = _TokenCodes()
# A stretch of tokens up to the next run end (the token that ends it belongs to it, as in
# ``_split_runs``), at least a phrase long.
_STRETCH = re.compile(rf"[Ex]{{{MIN_PHRASE_WORDS - 1},}}[Fyb]?")


def _dense(stretch: str) -> bool:
    """True when some 12 consecutive tokens hold 9+ wordlist words. Every phrase has such a
    window: a qualifying run of n >= 12 tokens has at most k = max(2, n // 6) inexact ones,
    so any 12 of its tokens hold at most 2 (n < 18) or 3 (n < 24) of them, and of its
    n // 12 disjoint blocks of 12 (n >= 24) one holds at most 3, as all holding 4+ would
    need 4 * (n // 12) > k."""
    stretch = stretch.replace("F", "E")
    if len(stretch) < MIN_PHRASE_WORDS or stretch.count("E") < MIN_PHRASE_WORDS - 2:
        return False
    need = MIN_PHRASE_WORDS - 3
    return any(stretch.count("E", i, i + MIN_PHRASE_WORDS) >= need for i in range(len(stretch) - MIN_PHRASE_WORDS + 1))


# ASCII text (most mail) gets the same codes without a regex: letters lower-cased, a
# digit or "_" (a word character that is no letter) -> \x02, a sentence mark -> \x01,
# anything else -> a space; then str.split.
_ASCII_SCAN = str.maketrans({
    chr(i): (chr(i).lower() if chr(i).isalpha() else "\x02" if chr(i).isdigit() or chr(i) == "_" else "\x01" if chr(i) in ".?!;:" else " ")
    for i in range(128)
})
_ASCII_PIECE = re.compile(r"[a-z]+|\x01+|\x02+")


class _AsciiCodes(dict[str, str]):
    """A ``_ASCII_SCAN`` piece -> ``E``/``x``/``b`` per word, ``|`` for sentence marks, ``d``
    for digits; ``_ascii_codes`` turns a word followed by ``|`` into ``F``/``y``."""

    def __missing__(self, piece: str) -> str:
        if len(self) >= _CACHE_SIZE:
            self.clear()
        if _WORDLISTS is None:
            wordlists()  # (_ANY_WORD)
        out = []
        for m in _ASCII_PIECE.finditer(piece):
            part = m.group()
            if part[0] == "\x01":
                out.append("|")
            elif part[0] == "\x02":
                out.append("d")
            else:
                out.append("E" if part in _ANY_WORD else ("b" if len(part) < 3 else "x"))
        code = self[piece] = "".join(out)
        return code


_ASCII_CODES = _AsciiCodes()


def _ascii_codes(text: str) -> str:
    """``_TOKEN_SCAN`` codes of an ASCII text. A word's sentence mark is the first of the
    non-word characters after it (``|`` right after the word's letter), a digit or "_"
    in between (``d``) cancels it, as in ``_SENTENCE_END``."""
    codes = _ASCII_CODES
    code = "".join([codes[p] for p in text.translate(_ASCII_SCAN).split()])
    return code.replace("E|", "F").replace("x|", "y").replace("|", "").replace("d", "")


def _codes(text: str) -> tuple[str, list[str] | None]:
    """One letter per token of ``_tokens(text)`` (see ``_TokenCodes``), and the raw
    ``_TOKEN_SCAN`` tokens when the text is not ASCII."""
    if text.isascii():
        return _ascii_codes(text), None
    codes = _CODES
    raw = _TOKEN_SCAN.findall(text)
    return "".join([codes[t] for t in raw]), raw


#: an upper bound of an ASCII text's tokens: each holds at least one letter run of its own
_ASCII_WORDS = re.compile(r"[A-Za-z]+")


def _phrase_spans(text: str) -> list[tuple[int, int]]:
    """One pass: the tokens' codes (a cached dict look-up each) say which stretches of the
    text could hold a phrase in some language; only those are classified per wordlist. A
    stretch starts and ends where every language's run ends (a sentence mark, a short
    unknown word), so the runs inside it are the runs the whole text would have, and a run
    outside every dense stretch cannot qualify (see ``_dense``): the result is the same as
    classifying every token of the text in every language."""
    if _WORDLISTS is None:
        # an ASCII text with fewer letter runs than a phrase has words holds no phrase: the
        # web process (which redacts only short ids) never builds the wordlists' index
        if text.isascii() and len(_ASCII_WORDS.findall(text)) < MIN_PHRASE_WORDS:
            return []
        wordlists()
    code, raw = _codes(text)
    if len(code) < MIN_PHRASE_WORDS:
        return [] if text.isascii() else _han_checksum_spans(text)
    stretches = [(m.start(), m.end()) for m in _STRETCH.finditer(code) if _dense(m.group())]
    spans = _stretch_spans(text, stretches, raw) if stretches else []
    return spans + ([] if text.isascii() else _han_checksum_spans(text))


_ASCII_WORD = re.compile(r"[a-z]+")
_ASCII_GAP_WORD = re.compile(r"[^a-z]*[a-z]+")
_ASCII_BREAK = re.compile(r" *\x01")


def _ascii_tokens(text: str, stretches: list[tuple[int, int]]) -> list[Any]:
    """``_tokens(text)`` of an ASCII text, filled in only inside ``stretches`` (None elsewhere).

    In ``text.translate(_ASCII_SCAN)`` the words are the runs of a-z, at the same places and
    already lower-cased; their ends come from the lengths of the gap+word pieces, all in C,
    so only the tokens of the stretches cost Python work."""
    scan = text.translate(_ASCII_SCAN)
    words = _ASCII_WORD.findall(scan)
    ends = list(itertools.accumulate(map(len, _ASCII_GAP_WORD.findall(scan))))
    toks: list[Any] = [None] * len(words)
    for s0, s1 in stretches:
        for k in range(s0, s1):
            end = ends[k]
            brk = k > 0 and _ASCII_BREAK.match(scan, ends[k - 1]) is not None
            toks[k] = (end - len(words[k]), end, words[k], brk)
    return toks


# A token of _TOKEN_SCAN with the non-letters before it: the pieces' lengths add up to
# each token's end.
_TOKEN_PIECE = re.compile(r"[\W\d_]*+(?:" + _TOKEN_SCAN.pattern + ")", re.UNICODE)


def _unicode_tokens(text: str, stretches: list[tuple[int, int]], raw: list[str] | None = None) -> list[Any]:
    """``_tokens(text)`` filled in only inside ``stretches`` (None elsewhere), any text.

    Which raw token holds a code index, and where each raw token ends, come from C-level
    ``findall`` and ``accumulate``; only the raw tokens of the stretches are looked at."""
    raw = _TOKEN_SCAN.findall(text) if raw is None else raw
    codes = _CODES
    after = list(itertools.accumulate(map(len, map(codes.__getitem__, raw))))  # code index after raw token r
    ends = list(itertools.accumulate(map(len, _TOKEN_PIECE.findall(text))))
    toks: list[Any] = [None] * (after[-1] if after else 0)
    for s0, s1 in stretches:
        r = bisect.bisect_right(after, s0)
        prev = r - 1
        while prev >= 0 and not codes[raw[prev]]:
            prev -= 1  # a number: the break is judged from the word before it
        brk = prev >= 0 and _TOKEN.match(raw[prev]).end() < len(raw[prev])  # type: ignore[union-attr]
        idx = after[r - 1] if r else 0
        while idx < s1 and r < len(raw):
            full = raw[r]
            word = _TOKEN.match(full).group()  # type: ignore[union-attr]
            start = ends[r] - len(full)
            n = len(codes[full])
            if n:
                if n > 1:  # unspaced Chinese, one token per character
                    parts = [(start + i, start + i + 1, "\x00" + ch, brk and i == 0) for i, ch in enumerate(word)]
                else:
                    parts = [(start, start + len(word), _fold_token(word), brk)]
                for k, part in enumerate(parts):
                    if s0 <= idx + k < s1:
                        toks[idx + k] = part
                brk = len(word) < len(full)
            idx += n
            r += 1
    return toks


def _stretch_spans(text: str, stretches: list[tuple[int, int]], raw: list[str] | None = None) -> list[tuple[int, int]]:
    toks = _ascii_tokens(text, stretches) if text.isascii() else _unicode_tokens(text, stretches, raw)
    spans: list[tuple[int, int]] = []
    for wl in wordlists():
        for s0, s1 in stretches:
            words = [t[2] for t in toks[s0:s1]]
            if sum(1 for w in words if w in wl.words) < MIN_PHRASE_WORDS - 2:
                continue  # not enough exact words at all
            classes = [wl.classify(w) for w in words]
            # a short unknown word ("I", "a", "my", "de") is prose, not a garbled phrase word:
            # every BIP-39 word has 3+ letters, so it ends the run like a full stop does
            breaks = [toks[s0 + k][3] or (k > 0 and classes[k - 1] == "U" and len(words[k - 1]) < 3) for k in range(len(words))]
            for i, j in _split_runs(classes, breaks):
                for a, b in _qualifying_windows(classes, i, j, words):
                    spans.append((toks[s0 + a][0], toks[s0 + b - 1][1]))
    return spans


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


def _checksum_valid(words: list[str]) -> bool:
    """True when ``words`` is a BIP39 phrase with a valid checksum in some wordlist."""
    if len(words) not in _PHRASE_SIZES:
        return False
    from mnemonic import Mnemonic

    phrase = [w.lower() for w in words]
    for lang in Mnemonic.list_languages():
        m, wordlist = _mnemo(lang)
        if all(w in wordlist for w in phrase):
            try:
                if m.check(" ".join(phrase)):
                    return True
            except Exception:  # a wordlist the library cannot check this way
                continue
    return False


def _han_valid(chunk: str, lang: str) -> bool:
    m, words = _mnemo(lang)
    return all(c in words for c in chunk) and m.check(" ".join(chunk))


# --------------------------------------------------------------------------- keys

_B58 = "1-9A-HJ-NP-Za-km-z"
_HEX64 = re.compile(r"(?<![0-9A-Za-z])(?:0x)?([0-9a-fA-F]{64})(?![0-9A-Za-z])")
# The same 64 hex digits written in equal groups ("8 groups of 8", "4 x 16", "16 x 4"), or cut
# unevenly into a few long pieces ("30 + 34"), separated by spaces, dashes, colons or line breaks.
_HEX_GROUPED = re.compile(
    r"(?<![0-9A-Za-z])(?:0x)?(?P<g>[0-9a-fA-F]{4,54})(?:(?:[ \t]*[\n:-][ \t]*|[ \t]+)[0-9a-fA-F]{4,54}){1,15}(?![0-9A-Za-z])"
)
_WIF = re.compile(rf"(?<![{_B58}])[5KLc9][{_B58}]{{50,51}}(?![{_B58}])")
_XPRV = re.compile(rf"(?<![{_B58}])[xyztuvYZUV]prv[{_B58}]{{100,112}}(?![{_B58}])")
_SOL_SECRET = re.compile(rf"(?<![{_B58}])[{_B58}]{{85,90}}(?![{_B58}])")
# Runs of base58 chunks split by single spaces/dashes/line breaks ("5HueC sKp9 …"): a WIF
# or an xprv cut into groups. Only a valid checksum makes a chunk run a key.
_B58_CHUNK = re.compile(rf"[{_B58}]{{3,30}}")

# Evidence for a 64-hex / base58-64 string (see ``classify_hash``).
_TECH_CUE = re.compile(
    r"(?:[\w-][-_]hash\b|\b\w+hash\b(?<!\btxhash)|sha-?256|signature|\bfirma\b|\bsig\b|\bchecksum\b|\bdigest\b|\bhmac\b)", re.IGNORECASE
)
_TX_STRONG_CUE = re.compile(
    r"(?:\btx(?:id|n|hash)?\b|\btx[\s_-]?(?:id|hash)\b|\btrans(?:a(?:ction|cci[oó]n?|cao|ção|ção|zione|zion)|aktion|actie|akcja)s?\b|"
    r"\btransakt\w*|\bexplor(?:er|ador|ateur)\b|\betherscan|\bbscscan|\btronscan|\bsolscan|\bblockchair|\bmempool\b|\bblockstream|"
    r"/txs?/|/transactions?/|#/transaction/)",
    re.IGNORECASE,
)
_TX_WEAK_CUE = re.compile(
    r"(?:\bhash\b|\bhashes\b|\btransfer\w*|\btransferencia\b|\bdeposit\w*|\bdep[oó]sit\w*|\bd[ée]p[oô]t\b|\beinzahlung\w*|"
    r"\bwithdraw\w*|\bretir(?:o|ada)\b|\bsaque\b|\bretrait\b|\bauszahlung\w*|\bprelievo\b|\bopname\b|\bstorting\b|\bversamento\b|"
    r"\benv[ií]o\b|\bsent\b|\benvi[eé]\b|\bverstuurd\b|\bgesendet\b|\binviato\b)",
    re.IGNORECASE,
)
_KEY_CUE = re.compile(
    r"(?:\bpriv\w*|\bsecret\w*|\bclaves?\b|\bclau\b|\bcl[ée]s?\b|\w*schl[üu]ssel\w*|\w*schluessel\w*|\bchaves?\b|\w*sleutel\w*|"
    r"\bchiavi?e?\b|\bkeys?\b|\bseeds?\b|\bsemillas?\b|\bsementes?\b|\bmnemoni\w*)",
    re.IGNORECASE,
)
_NETWORK_CUE = re.compile(
    r"\b(?:btc|bitcoin|eth|ethereum|erc-?20|bsc|bep-?20|bnb|polygon|matic|arbitrum|tron|trc-?20|trx|sol|solana|usdt|usdc|ltc|litecoin)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Context:
    """What the hub knows about the conversation a message belongs to (set by the ingest
    worker around ``pipeline.run``; pure callers get the empty default).

    ``asked_for_tx``: the agent's or bot's last message asked for a transaction id/hash.
    ``chain``: the network the conversation is about (from its entities), if any.
    ``id_key``: key of the keyed digest that keeps a redacted identifier unique.
    """

    asked_for_tx: bool = False
    chain: str | None = None
    id_key: bytes | None = None


_CONTEXT: contextvars.ContextVar[Context] = contextvars.ContextVar("omnihub_redact_context", default=Context())  # noqa: B039 - Context is a frozen dataclass


def current_context() -> Context:
    return _CONTEXT.get()


@contextlib.contextmanager
def context(ctx: Context) -> Iterator[Context]:
    """Run the pipeline (or ``redact_text``) with what the hub knows about the conversation."""
    token = _CONTEXT.set(ctx)
    try:
        yield ctx
    finally:
        _CONTEXT.reset(token)


# An agent's / bot's message that asks for a transaction id or hash, in en es ca pt fr de it nl.
_ASK_TX_TERM = re.compile(
    r"(?:\btx(?:id|n|hash)?\b|\btx[\s_-]?(?:id|hash)\b|transaction|transacci[oó]n?|transa[çc][aã]o|transakti|transactie|transazion|"
    r"\bhash\b|\bhash\w*\b|\bexplor(?:er|ador|ateur)\b|etherscan|bscscan|tronscan|solscan|blockchair|mempool)",
    re.IGNORECASE,
)
_ASK_REQUEST = re.compile(
    r"(?:\?|\bsend\b|\bshare\b|\bprovide\b|\bpaste\b|\bgive\b|\bforward\b|\bplease\b|\bneed\b|\bcould you\b|\bcan you\b|"
    r"\benv[ií]a|\benv[ií]e|\bmanda|\bfacilit|\bproporcion|\bcompart|\bp[aá]sa|\bnecesit|\bpor favor\b|\bpodr[ií]as?\b|"
    r"\bpodeu\b|\bpots\b|\bsi us plau\b|\benvi[ae]|\bpartilh|\bforne[cç]|\bpreciso\b|\bprecisamos\b|"
    r"\benvoy|\bfourni|\bindiqu|\bcommuniqu|\bs'il vous pla[iî]t\b|\bpouvez\b|"
    r"\bschick|\bsend(?:en|e)\b|\bteilen\b|\bgeben sie\b|\bbitte\b|\bben[öo]tigen\b|\bk[öo]nnen sie\b|"
    r"\binvia|\bmanda|\bfornisc|\bcondivid|\bper favore\b|\bpotrest|\bpu[oò]i\b|"
    r"\bstuur|\bdeel\b|\bgeef\b|\bkunt u\b|\bkun je\b|\balsjeblieft\b|\bgraag\b)",
    re.IGNORECASE,
)


def may_hold_a_hash(msg: NormalizedMessage) -> bool:
    """True when a text field holds a 64-hex / base58-64 candidate (only then does the
    conversation's context matter; the ingest worker skips the look-up otherwise)."""
    for t in (msg.text, msg.full_text, msg.subject, msg.html):
        if not t:
            continue
        # (64 hex or a Solana key only where the stretch they need is: see _key_spans; any
        # hex groups at all count here, their total is not checked)
        if _HEX_GROUPED.search(t) or (_may_hold_hex(t) and _HEX64.search(t)):
            return True
        if any(_B58_RUN.search(t, a, b) for a, b in _base58_stretches(t)) and _SOL_SECRET.search(t):
            return True
    return False


def asks_for_transaction(text: str) -> bool:
    """True when an agent's or bot's message asks the customer for a transaction id/hash."""
    if not text:
        return False
    folded = text[-600:]  # the request is in the message's last lines
    return bool(_ASK_TX_TERM.search(folded) and _ASK_REQUEST.search(folded))


def _window_before(text: str, start: int, size: int = 48) -> str:
    """The last two lines within ``size`` characters before ``start``, blank lines right before
    it not counted ("Private key below:", a blank line, then the key)."""
    before = text[max(0, start - size) : start]
    lines = before.split("\n")
    while len(lines) > 1 and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines[-2:])


def classify_hash(text: str, start: int, end: int, ctx: Context | None = None) -> str:
    """What a 64-hex (or base58 64-byte) string at ``text[start:end]`` most likely is.

    ``key``: a key cue (private key, clave privada, chave privada, clé privée, privater
    Schlüssel, chiave privata, privésleutel, secret, seed, key …) stands before it.
    ``technical``: a machine hash (``x-connection-hash``, ``sha256``, ``signature``,
    ``checksum``): kept, as before. ``tx``: a transaction hash — an explorer link or a
    transaction word (tx, txid, transaction, transacción, transação, Transaktion,
    explorer …) before it, or the agent's / bot's last message asked for a transaction
    id, or a weaker cue (hash, deposit, withdrawal, transfer …) in a conversation whose
    network is known, or two different weaker cues ("deposit … hash"). ``ambiguous``: anything else — sealed by the pipeline, never warned about.
    """
    ctx = ctx or current_context()
    before = _window_before(text, start)
    if _KEY_CUE.search(before):
        return "key"
    if _TECH_CUE.search(before):
        return "technical"
    if _TX_STRONG_CUE.search(before) or ctx.asked_for_tx:
        return "tx"
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line = text[line_start : len(text) if line_end < 0 else line_end]
    network = bool(ctx.chain) or bool(_NETWORK_CUE.search(line))
    weak = {m.group().lower() for m in _TX_WEAK_CUE.finditer(before)}
    if len(weak) >= 2 or (network and (weak or _TX_STRONG_CUE.search(line))):
        return "tx"  # "deposit … hash <hex>", or a weak word in a conversation about a network
    return "ambiguous"


def _hex_is_tx(text: str, start: int) -> bool:
    """Kept for callers of the old API: a transaction/technical cue and no key cue."""
    return classify_hash(text, start, start + 64) in ("tx", "technical")


def _wif_valid(s: str) -> bool:
    payload = b58check_decode(s)
    if payload is None or payload[0] not in (0x80, 0xEF):
        return False
    return len(payload) == 33 or (len(payload) == 34 and payload[-1] == 0x01)


def _xprv_valid(s: str) -> bool:
    payload = b58check_decode(s)
    return payload is not None and len(payload) == 78


_HASH_KINDS = {"key": "private_key", "ambiguous": "ambiguous_key"}


#: 64 hex digits cut unevenly count as one string when in at most this many pieces of at least this many digits
MAX_UNEVEN_GROUPS = 4
MIN_UNEVEN_GROUP = 10


def _grouped_hex_spans(text: str) -> list[tuple[int, int]]:
    """64 hex digits written as equal groups (the last may be shorter), or as up to
    ``MAX_UNEVEN_GROUPS`` uneven ones of ``MIN_UNEVEN_GROUP`` digits or more, ≥ 2 groups."""
    spans = []
    for m in _HEX_GROUPED.finditer(text):
        body = m.group()
        body = body[2:] if body[:2].lower() == "0x" else body
        groups = re.findall(r"[0-9a-fA-F]+", body)
        if sum(len(g) for g in groups) != 64 or len(groups) < 2:
            continue
        even = len({len(g) for g in groups[:-1]}) == 1 and len(groups[-1]) <= len(groups[0])
        # or cut where a line or a copy happened to end ("30 + 34", "21 + 21 + 22"): a few long
        # pieces (two UUIDs, 8-4-4-4-12 twice, are no such thing)
        if not even and not (len(groups) <= MAX_UNEVEN_GROUPS and min(len(g) for g in groups) >= MIN_UNEVEN_GROUP
                             and sum(c.isalpha() for c in "".join(groups)) >= 8):
            continue  # (and with hex letters in it: digits alone are phone, card and order numbers)
        if sum(c.isdigit() for c in "".join(groups)) < 12:
            continue  # "cafe face bead …": words made of hex letters
        spans.append((m.start(), m.end()))
    return spans


# A stretch of base58 characters and the gaps allowed between a split key's chunks, with
# 51+ base58 characters: the only place a WIF, xprv or Solana key, whole or split, can be.
_B58_STRETCH = re.compile(rf"(?<![{_B58} \t\n-])[{_B58} \t\n-]{{51,}}")
_B58_RUN = re.compile(rf"[{_B58}]{{51}}")


def _base58_stretches(text: str) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    if len(text) < 51:
        return out
    for m in _B58_STRETCH.finditer(text):
        body = m.group()
        if len(body) - body.count(" ") - body.count("\t") - body.count("\n") - body.count("-") >= 51:
            out.append((m.start(), m.end()))
    return out


def _split_key_spans(text: str, stretches: list[tuple[int, int]] | None = None) -> list[tuple[int, int, str]]:
    """WIF / xprv keys cut into chunks by spaces, dashes or line breaks (checksum-verified).

    ``stretches``: the parts of ``text`` to look in (``_base58_stretches``): a key's
    chunks and gaps are all base58 or gap characters, so it lies inside one of them, and
    a stretch starts and ends next to a character that is neither, so the chunks found
    in it are the chunks of the whole text."""
    spans: list[tuple[int, int, str]] = []
    for s0, s1 in [(0, len(text))] if stretches is None else stretches:
        spans += _split_key_spans_in(text, list(_B58_CHUNK.finditer(text, s0, s1)))
    return spans


def _split_key_spans_in(text: str, chunks: list[re.Match[str]]) -> list[tuple[int, int, str]]:
    spans: list[tuple[int, int, str]] = []
    for i in range(len(chunks)):
        first = chunks[i].group()
        if not (first[0] in "5KLc9" or first[1:4] == "prv"):
            continue
        joined = ""
        for j in range(i, min(len(chunks), i + 40)):
            if j > i:
                gap = text[chunks[j - 1].end() : chunks[j].start()]
                if not re.fullmatch(r"[ \t]*[\n-]?[ \t]*|[ \t]+", gap) or not gap:
                    break
            joined += chunks[j].group()
            n = len(joined)
            if j > i and n in (51, 52) and joined[0] in "5KLc9" and _wif_valid(joined):
                spans.append((chunks[i].start(), chunks[j].end(), "private_key"))
                break
            if j > i and 111 <= n <= 112 and joined[1:4] == "prv" and _xprv_valid(joined):
                spans.append((chunks[i].start(), chunks[j].end(), "extended_private_key"))
                break
            if n > 112:
                break
    return spans


# A stretch of hex digits, "0x" and the separators of grouped hex: a _HEX64 or _HEX_GROUPED
# match (64 hex digits) is always inside one with 64+ hex digits.
_HEX_STRETCH = re.compile(r"(?<![0-9a-fA-Fx \t\n:-])[0-9a-fA-Fx \t\n:-]{64,}")


def _may_hold_hex(text: str) -> bool:
    if len(text) < 64:
        return False
    for m in _HEX_STRETCH.finditer(text):
        body = m.group()
        seps = body.count("x") + body.count(" ") + body.count("\t") + body.count("\n") + body.count(":") + body.count("-")
        if len(body) - seps >= 64:
            return True
    return False


def _ascii_digits(text: str) -> int:
    return sum(map(text.count, "0123456789"))


def _key_spans(text: str) -> list[tuple[int, int, str]]:
    """Keys and ambiguous strings, in the order: 64 hex, grouped hex, WIF, xprv, Solana,
    split WIF / xprv. Each pattern runs only when the stretch it needs is there."""
    spans = []
    ctx = current_context()
    if _may_hold_hex(text):
        for m in _HEX64.finditer(text):
            kind = _HASH_KINDS.get(classify_hash(text, m.start(), m.end(), ctx))
            if kind:
                spans.append((m.start(), m.end(), kind))
        if _ascii_digits(text) >= 12:  # grouped hex holds 12+ digits
            for a, b in _grouped_hex_spans(text):
                kind = _HASH_KINDS.get(classify_hash(text, a, b, ctx))
                if kind:
                    spans.append((a, b, kind))
    b58 = _base58_stretches(text)
    if any(_B58_RUN.search(text, a, b) for a, b in b58):  # a whole key: 51+ base58 in a row
        for m in _WIF.finditer(text):
            if _wif_valid(m.group()):
                spans.append((m.start(), m.end(), "private_key"))
        for m in _XPRV.finditer(text):
            spans.append((m.start(), m.end(), "extended_private_key"))
        for m in _SOL_SECRET.finditer(text):
            raw = b58decode(m.group())
            if raw is not None and len(raw) == 64:
                kind = _HASH_KINDS.get(classify_hash(text, m.start(), m.end(), ctx))
                if kind:
                    spans.append((m.start(), m.end(), kind))
    if b58 and (_DIGIT.search(text) or any(c.isdigit() for c in text)):
        spans += _split_key_spans(text, b58)
    return spans


# --------------------------------------------------------------------------- payment cards

# 13-19 digits, optionally grouped by single spaces or dashes, not glued to other digits,
# letters, a "+" (phone numbers), a decimal point or a URL/query (``id=…``, ``/…``).
_CARD = re.compile(r"(?<![\w+.,/=?&#%-])\d(?:[ -]?\d){12,18}(?![\w]|[.,]\d)")
#: Without separators, only the lengths cards are printed with: longer runs are ids
#: (tweet and other snowflake ids are 18-19 digits).
_CARD_PLAIN_LENGTHS = (14, 15, 16)
#: Cards printed in groups of 4 (Amex 4-6-5) separated by dots, slashes or line breaks
#: ("4111.1111.1111.1111", "4111/1111/…", a number broken over lines); one separator
#: kind per number, line breaks (with spaces around them) allowed anywhere.
_CARD_GROUPED = re.compile(
    r"(?<![\w+.,/=?&#%-])(?:\d{4}(?P<s>[./]|[ \t]*\n[ \t]*|[ -])\d{4}(?:(?:(?P=s)|[ \t]*\n[ \t]*)\d{4}){1,2}(?:(?:(?P=s)|[ \t]*\n[ \t]*)\d{1,3})?"
    r"|\d{4}(?P<a>[./]|[ \t]*\n[ \t]*)\d{6}(?:(?P=a)|[ \t]*\n[ \t]*)\d{5})(?![\w]|[.,/]\d)"
)
# Issuer prefixes (IIN ranges) of the schemes customers paste: Visa, Mastercard (51-55,
# 2221-2720), Amex, Discover, JCB, Diners, UnionPay, Maestro.
_CARD_IIN = re.compile(r"4|5[0-9]|2(?:22[1-9]|2[3-9]\d|[3-6]\d\d|7[01]\d|720)|3[47]|3(?:0[0-5]|[689])|35(?:2[89]|[3-8])|6")
# An IBAN's digits can look like a card number: its span is never a card.
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?\b")
_DIGIT = re.compile(r"\d")
# Digits and the separators a card number is written with (_CARD, _CARD_GROUPED), from a
# digit to a digit: a card's 13+ digits are always inside one such stretch.
_CARD_STRETCH = re.compile(r"\d[\d \t\n./-]{11,}\d")


def _card_windows(text: str) -> list[tuple[int, int]]:
    """The stretches of ``_CARD_STRETCH`` with 13+ digits: every card number lies in one."""
    out: list[tuple[int, int]] = []
    if len(text) < 13:
        return out
    for m in _CARD_STRETCH.finditer(text):
        body = m.group()
        seps = body.count(" ") + body.count("\t") + body.count("\n") + body.count(".") + body.count("/") + body.count("-")
        if len(body) - seps >= 13:
            out.append((m.start(), m.end()))
    return out


def _in_windows(pattern: re.Pattern[str], text: str, windows: list[tuple[int, int]]) -> Iterator[re.Match[str]]:
    """``pattern.finditer(text)``'s matches that start inside ``windows``. Look-behinds see
    the text before a window; the window reaches 2 characters further for the patterns'
    look-aheads, which read up to 2 characters past a match."""
    for a, b in windows:
        for m in pattern.finditer(text, a, b + 2):
            if m.start() < b:
                yield m


# (the look-ahead names the cues' first letters, so most positions fail at one test)
_CARD_CODE_CUE = re.compile(
    r"(?=[csk])\b(?:cvv2?|cvc2?|cid|csc|card\s+(?:security\s+|verification\s+)?code|security\s+code|c[oó]digo\s+de\s+seguridad|"
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
    if not _DIGIT.search(text):  # every pattern below needs one
        return []
    spans: list[tuple[int, int, str]] = []
    windows = _card_windows(text)
    if windows:
        spans += _card_number_spans(text, windows)
    if not _no_cue(text, _CARD_CUE_WORDS):
        for m in _CARD_CODE_CUE.finditer(text):
            spans.append((m.start("code"), m.end("code"), "card_code"))
    return spans


def _card_number_spans(text: str, windows: list[tuple[int, int]] | None = None) -> list[tuple[int, int, str]]:
    ibans: list[tuple[int, int]] | None = None

    def in_iban(start: int) -> bool:
        nonlocal ibans
        if ibans is None:
            ibans = [(m.start(), m.end()) for m in _IBAN.finditer(text)]
        return any(a <= start < b for a, b in ibans)

    spans = []
    windows = [(0, len(text))] if windows is None else windows
    for m in _in_windows(_CARD, text, windows):
        digits = re.sub(r"[ -]", "", m.group())
        if len(digits) == len(m.group()) and len(digits) not in _CARD_PLAIN_LENGTHS:
            continue
        if not (13 <= len(digits) <= 19 and _CARD_IIN.match(digits) and luhn_valid(digits)):
            continue
        if in_iban(m.start()):
            continue
        spans.append((m.start(), m.end(), "card_number"))
    for m in _in_windows(_CARD_GROUPED, text, windows):
        digits = re.sub(r"\D", "", m.group())
        if 13 <= len(digits) <= 19 and _CARD_IIN.match(digits) and luhn_valid(digits) and not in_iban(m.start()):
            spans.append((m.start(), m.end(), "card_number"))
    return spans


# --------------------------------------------------------------------------- passwords

_PASSWORD_CUES = (
    r"passwords?|passwd|pwd|pass\s?phrase|contrase[ñn]as?|contrasenyes|contrasenya|"
    r"mot\s+de\s+passe|mdp|passw[oö]rt(?:er)?|kennwort|senhas?|palavra[-\s]passe|"
    r"wachtwoord(?:en)?|parola|hasło|haslo|clave\s+de\s+acceso"
)
_PIN_CUES = r"pin(?:[-\s]?(?:code|c[oó]digo|codi|nummer|number))?|passcode|c[oó]digo\s+pin|codi\s+pin|code\s+pin|nip"
_CONNECT_VERB = r"is|was|es|era|és|est|était|ist|lautet|war|é|era|são|zijn|is\s+nu|fica|será"
# (the look-ahead names the cues' first letters, so most positions fail at one test)
_CUE_RE = re.compile(rf"(?=[pcmkswhn])(?:\b(?:{_PASSWORD_CUES})\b|\b(?:{_PIN_CUES})\b)", re.IGNORECASE)
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


# Every cue of _CUE_RE holds one of these words, every cue of _CARD_CODE_CUE one of the
# second ones, in lower case: a text without any of them has no cue and is not scanned.
# IGNORECASE also takes "İ" and "ı" for i and "ſ" for s, which lower() does not: a text with
# one of those is always scanned (tests/normalizers/test_redact_cues.py checks all this).
_CUE_WORDS = ("pass", "pwd", "contrase", "mdp", "kennwort", "senha", "palavra", "wachtwoord", "parola", "haslo", "hasło",
              "clave", "pin", "nip")
_CARD_CUE_WORDS = ("cvv", "cvc", "cid", "csc", "card", "security", "codigo", "código", "kartenpr", "cryptogramme")
_CUE_ODD = ("İ", "ı", "ſ")


def _no_cue(text: str, words: tuple[str, ...]) -> bool:
    # (map over the bound ``in`` test: no Python frame per word)
    if not text.isascii() and any(map(text.__contains__, _CUE_ODD)):
        return False
    return not any(map(text.lower().__contains__, words))


def _credential_spans(text: str) -> list[tuple[int, int, str]]:
    spans: list[tuple[int, int, str]] = []
    if _no_cue(text, _CUE_WORDS):
        return spans
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
            # with no connector at all, a question or exclamation mark is the sentence's, not a
            # symbol of a password ("should I use a password manager?", "contraseña olvidada?")
            judged = stripped.rstrip("?!") if pattern is _BARE else stripped
            if is_pin:
                if not re.fullmatch(r"\d{4,8}", stripped):
                    continue
            elif not (quoted or (explicit and len(stripped) >= 3) or (judged and _looks_secret(judged))):
                continue
            start = m.start("qsecret" if quoted else "secret")
            spans.append((start, start + len(stripped), "pin" if is_pin else "password"))
            break
    return spans


# ------------------------------------------------- more credential forms (#21.8 fresh eyes)
#
# Three forms the cue words above miss, each held to a stricter value than a plain cue:
#
# * a short or slang cue (pw, pass, pword, psw, pwd, clave, clau, senha…) needs a connector
#   (``:``, ``=`` or a verb: "my pass is hunter2") and a value of 4+ characters with a digit or
#   a symbol: "boarding pass is ready", "my pass expired" stay;
# * a one-time or backup code (2FA/MFA/OTP, backup, recovery, verification, authenticator,
#   one-time, and their Spanish, Catalan, French, German, Portuguese and Dutch names) followed by
#   codes: groups of digits (4+ digits in all) or letters-and-digits of 6+ characters, several
#   in a list too ("backup codes: 1234-5678, 8765-4321") — kind ``pin``;
# * a sign-in pair after a login cue (login, username, user, credentials, usuario, identifiant,
#   Benutzername, utilizador, gebruikersnaam…): "login: bob / Secret123", "user bob pw: x" —
#   the username stays, the part after ``/``, ``|`` or a password word goes when it has 5+
#   characters, a letter, and a digit or a symbol ("user 42 / 2024-05-01" stays).
#
# ``legacy_credentials()`` turns them off (tests/normalizers/test_redact_differential.py
# compares the rest with the frozen implementation from before them).

_WEAK_CUES = r"pw|pwd|pword|pswd|psw|pass|passwd|passw|clave|clau|senha|contra|mdp|kennwort"
_WEAK_RE = re.compile(
    rf"\b(?:{_WEAK_CUES})\b(?P<conn>\s*[:=]\s*|\s+(?:{_CONNECT_VERB}|c['’]est|est\s+le|es\s+la)\b\s*:?\s*){_VALUE}", re.IGNORECASE)
_CODE_CUES = (
    r"(?:2fa|mfa|otp|totp|2-?step|two[-\s]factor|backup|recovery|verification|authenticator|one[-\s]time|auth|login|sms)"
    r"(?:\s+(?:backup|recovery|verification|login|security))?\s+codes?"
    r"|otp|totp"
    r"|c[oó]digos?\s+(?:de\s+)?(?:2fa|verificaci[oó]n|verifica[cç][aã]o|respaldo|recuperaci[oó]n|recupera[cç][aã]o|backup|seguran[cç]a\s+de\s+backup|autenticaci[oó]n|acceso)"
    r"|codis?\s+(?:de\s+)?(?:2fa|verificaci[oó]|recuperaci[oó]|seguretat\s+de\s+c[oò]pia|c[oò]pia|autenticaci[oó])"
    r"|codes?\s+(?:de\s+)?(?:2fa|v[ée]rification|secours|r[ée]cup[ée]ration|sauvegarde|s[ée]curit[ée]\s+de\s+secours)"
    r"|(?:backup|wiederherstellungs|best[äa]tigungs|sicherungs|2fa|einmal|verifizierungs)-?codes?"
    r"|(?:herstel|verificatie|back-?up|2fa)codes?"
)
_CODE_TOKEN = r"(?:\d{2,10}(?:[-\s]\d{2,10}){0,3}(?![\w-])|(?=[A-Za-z-]*\d)(?=[\d-]*[A-Za-z])[A-Za-z0-9]{2,12}(?:-[A-Za-z0-9]{2,12}){0,3}(?![\w-]))"
_CODE_RE = re.compile(
    rf"\b(?:{_CODE_CUES})\b(?:\s+(?:is|are|was|were|es|son|és|són|est|sont|ist|sind|lautet|lauten|é|são|zijn|is\s+nu))?\s*[:=]?\s*"
    rf"(?P<codes>{_CODE_TOKEN}(?:\s*[,;/]\s*{_CODE_TOKEN}|\s+(?:and|y|i|et|und|e|en)\s+{_CODE_TOKEN}|[ \t]+{_CODE_TOKEN})*)",
    re.IGNORECASE)
_LOGIN_CUES = (r"log[-\s]?in|sign[-\s]?in|user\s*name|username|user|usr|credentials?|creds|usuario|usuari|utilisateur|identifiant|"
               r"benutzer(?:name)?|anmeldung|utilizador|usu[áa]rio|gebruikersnaam|gebruiker|accesos?")
_PAIR_RE = re.compile(
    rf"\b(?:{_LOGIN_CUES})\b(?:\s+(?:is|es|és|est|ist|é|is)\b)?\s*[:=]?\s*(?P<user>[^\s/|:,;\"']{{1,64}})"
    rf"(?:\s*[/|]\s*|\s+(?:{_WEAK_CUES}|password|contraseña|contrasenya|mot\s+de\s+passe|passwort|wachtwoord)\b\s*[:=]?\s*|:(?=\S))"
    rf"(?P<secret>[^\s\"'”’»`]{{5,128}})",
    re.IGNORECASE)
_MORE_WORDS = ("pw", "pass", "psw", "clave", "clau", "senha", "contra", "mdp", "kennwort", "code", "códig", "codig", "codi",
               "otp", "log", "sign", "user", "usr", "cred", "usuari", "utilisateur", "identifiant", "benutzer", "anmeldung",
               "utilizador", "usuário", "gebruik", "acceso", "accesos")
_LEGACY_ONLY: contextvars.ContextVar[bool] = contextvars.ContextVar("omnihub_redact_legacy_credentials", default=False)


@contextlib.contextmanager
def legacy_credentials() -> Iterator[None]:
    """Within: only the credential rules of before #21.8 (for comparing with the frozen reference)."""
    token = _LEGACY_ONLY.set(True)
    try:
        yield
    finally:
        _LEGACY_ONLY.reset(token)


def _strong_secret(token: str, least: int) -> bool:
    core = token.strip("()[]{}<>")
    return len(core) >= least and _looks_secret(core) and not core.startswith("[redacted")


def _no_groups(pattern: re.Pattern[str]) -> str:
    return re.sub(r"\(\?P<\w+>", "(?:", pattern.pattern)


@functools.cache
def _more_rules() -> tuple[redispatch.Rule, redispatch.Rule, redispatch.Rule, redispatch.Rule]:
    """``_WEAK_RE``, ``_CODE_RE``, ``_PAIR_RE`` and any of them, without their named groups,
    grouped for a quick "is it anywhere?" (the cue words are common: "code", "user", "log",
    "pass" are in most mail, a match of these patterns is not)."""
    assert _WEAK_RE.flags == _CODE_RE.flags == _PAIR_RE.flags
    bodies = [_no_groups(p) for p in (_WEAK_RE, _CODE_RE, _PAIR_RE)]
    weak, code, pair = (redispatch.Rule(b, _WEAK_RE.flags) for b in bodies)
    return weak, code, pair, redispatch.Rule("|".join(f"(?:{b})" for b in bodies), _WEAK_RE.flags)


def _more_credential_spans(text: str) -> list[tuple[int, int, str]]:
    spans: list[tuple[int, int, str]] = []
    if _LEGACY_ONLY.get() or _no_cue(text, _MORE_WORDS):
        return spans
    weak, code, pair, any_of_them = _more_rules()
    if not any_of_them.found(text):
        return spans
    if weak.found(text):
        spans += _weak_spans(text)
    if code.found(text):
        spans += _code_spans(text)
    if pair.found(text):
        spans += _pair_spans(text)
    return spans


def _weak_spans(text: str) -> list[tuple[int, int, str]]:
    spans: list[tuple[int, int, str]] = []
    for m in _WEAK_RE.finditer(text):
        quoted = bool(m.group("q"))
        secret = m.group("qsecret") if quoted else m.group("secret").rstrip(_TRAIL)
        if quoted or _strong_secret(secret, 4):
            start = m.start("qsecret" if quoted else "secret")
            spans.append((start, start + len(secret), "password"))
    return spans


def _code_spans(text: str) -> list[tuple[int, int, str]]:
    spans: list[tuple[int, int, str]] = []
    for m in _CODE_RE.finditer(text):
        codes = m.group("codes")
        for t in re.finditer(_CODE_TOKEN, codes):
            value = t.group()
            digits = sum(c.isdigit() for c in value)
            if (value.replace("-", "").replace(" ", "").isdigit() and digits >= 4) or (digits and len(value.replace("-", "")) >= 6):
                spans.append((m.start("codes") + t.start(), m.start("codes") + t.end(), "pin"))
    return spans


def _pair_spans(text: str) -> list[tuple[int, int, str]]:
    spans: list[tuple[int, int, str]] = []
    for m in _PAIR_RE.finditer(text):
        secret = m.group("secret").rstrip(_TRAIL)
        if _strong_secret(secret, 5) and any(c.isalpha() for c in secret) and "://" not in m.group(0) and "@" not in secret:
            spans.append((m.start("secret"), m.start("secret") + len(secret), "password"))
    return spans


# --------------------------------------------------------------------------- API


_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9-]*(?:\s[^<>]{0,500})?/?>")


def _has_tags(text: str) -> bool:
    """Two tags or more in the first 20,000 characters (the text is HTML)."""
    return len(list(itertools.islice(_TAG.finditer(text, 0, 20000), 2))) >= 2


def _mask_markup(text: str) -> str:
    """Same-length copy of HTML with tags and entities blanked, so they separate words."""
    text = re.sub(r"<[^>]*>", lambda m: " " * len(m.group()), text)
    return re.sub(r"&[#\w]+;", lambda m: " " * len(m.group()), text)


Sealer = Callable[[str, str], str]
_KIND_RANK = {"ambiguous_key": 0}


def redact_text(text: str, *, markup: bool = False, seal: Sealer | None = None) -> tuple[str, tuple[Redaction, ...]]:
    """Replace every secret in ``text`` by its kind's marker; return (text, redactions).

    An ambiguous 64-hex / base58 string (``classify_hash``) gets the ``ambiguous_key``
    marker, or — with ``seal`` (the pipeline) — the placeholder ``seal(value, what)`` returns.
    """
    if not text:
        return text, ()
    scan = _mask_markup(text) if markup or _has_tags(text) else text
    return _apply(text, _find(scan), seal)


def _find(scan: str) -> list[list[Any]]:
    spans: list[tuple[int, int, str]] = [(a, b, "recovery_phrase") for a, b in _phrase_spans(scan)]
    spans += _key_spans(scan)
    spans += _credential_spans(scan)
    spans += _card_spans(scan)
    spans += _more_credential_spans(scan)  # last: on a tie ("card verification code 123") the card code's kind wins
    # merge overlaps, the earliest-starting / longest span wins the kind; a certain kind
    # always wins over an ambiguous one
    spans.sort(key=lambda s: (s[0], -(s[1] - s[0])))
    merged: list[list[Any]] = []
    for a, b, kind in spans:
        if merged and a < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
            if _KIND_RANK.get(merged[-1][2], 1) < _KIND_RANK.get(kind, 1):
                merged[-1][2] = kind
            continue
        merged.append([a, b, kind])
    return merged


def _apply(text: str, merged: list[list[Any]], seal: Sealer | None) -> tuple[str, tuple[Redaction, ...]]:
    if not merged:
        return text, ()
    counts: dict[str, int] = {}
    out = []
    last = 0
    for a, b, kind in merged:
        out.append(text[last:a])
        value = text[a:b]
        if kind == "ambiguous_key" and seal is not None:
            compact = re.sub(r"\s+|-|:", "", value)
            what = "hex" if re.fullmatch(r"(?:0x)?[0-9a-fA-F]{64}", compact) else "base58"
            out.append(seal(compact, what))
        else:
            out.append(MARKERS[kind])
        counts[kind] = counts.get(kind, 0) + 1
        last = b
    out.append(text[last:])
    return "".join(out), tuple(Redaction(kind=k, marker=MARKERS[k], count=c) for k, c in counts.items())


# ------------------------------------------------------------------ identifiers and names

_DEFAULT_ID_KEY = b"omnihub-redact-identifier"


def redact_identifier(value: str | None, key: bytes | None = None) -> tuple[str | None, tuple[Redaction, ...]]:
    """Redact a customer-controlled *identifier* (sender id, thread name, message id).

    Each secret becomes the token ``redacted-<kind>-<digest>`` (no spaces, brackets or
    colons, so addresses and thread keys still parse), where the digest is a keyed BLAKE2b
    of the secret (the hub's key, ``Context.id_key``): two customers whose ids hold
    different secrets keep different identities and threads, the same id always maps to
    the same value (threading and deduplication keep working), and the digest reveals
    nothing without the key. An unconfirmed 64-hex string in an id is a machine id far
    more often than a key, and is left alone here.
    """
    if not value:
        return value, ()
    spans = [sp for sp in _find(value) if sp[2] != "ambiguous_key"]
    if not spans:
        return value, ()
    k = key or current_context().id_key or _DEFAULT_ID_KEY
    out: list[str] = []
    last = 0
    counts: dict[str, int] = {}
    for a, b, kind in spans:
        digest = hmac.new(k, value[a:b].encode("utf-8", "surrogatepass"), hashlib.blake2b).hexdigest()[:12]
        out.append(value[last:a])
        out.append(f"redacted-{kind}-{digest}")
        counts[kind] = counts.get(kind, 0) + 1
        last = b
    out.append(value[last:])
    return "".join(out), tuple(Redaction(kind=kd, marker=MARKERS[kd], count=c) for kd, c in counts.items())


_EMAIL_ADDRESS = re.compile(r"[^@\s:]+@[^@\s:]+\.[A-Za-z]{2,63}")


def redact_participant(p: Participant) -> tuple[Participant, tuple[Redaction, ...]]:
    """Display name, address (an identifier: keyed digest), verified email and extra."""
    name, r1 = redact_text(p.name)
    # an email address is where the reply goes: mangling it would send the reply elsewhere
    # (a phrase cannot be in one: no spaces), so only free-text addresses are redacted
    address, r2 = (p.address, ()) if _EMAIL_ADDRESS.fullmatch(p.address or "") else redact_identifier(p.address)
    verified, r3 = (p.verified_email, ())
    extra, r4 = redact_value(p.extra)
    if not (r1 or r2 or r3 or r4):
        return p, ()
    return dataclasses.replace(p, name=name, address=address or "", verified_email=verified, extra=extra), (*r1, *r2, *r3, *r4)


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
            if isinstance(k, str):
                k, r = redact_text(k)
                found.extend(r)
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


TEXT_TYPES = ("text/", "application/json", "application/xml", "application/csv", "application/x-yaml", "message/",
              "application/rtf", "application/x-rtf")
TEXT_EXTENSIONS = (".txt", ".csv", ".tsv", ".json", ".md", ".markdown", ".rtf", ".log", ".xml", ".yaml", ".yml",
                   ".html", ".htm", ".eml", ".ini", ".conf", ".cfg", ".key", ".pem", ".asc", ".wallet", ".dat")
MAX_TEXT_ATTACHMENT = 5 * 1024 * 1024
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF8, "utf-8"),
         (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))


def is_text_attachment(content_type: str, filename: str) -> bool:
    ct = (content_type or "").lower()
    return ct.startswith(TEXT_TYPES) or (filename or "").lower().endswith(TEXT_EXTENSIONS)


def decode_text(content: bytes) -> tuple[str, str, bytes] | None:
    """(text, encoding, bom) of bytes that are text, or None for binary data.

    A byte-order mark decides (UTF-8/16/32); then UTF-16 without a BOM (every other byte
    NUL), UTF-8, and charset-normalizer's best guess for legacy charsets. Bytes with NULs
    or control characters that no text encoding explains are binary.
    """
    for bom, enc in _BOMS:
        if content.startswith(bom):
            try:
                return content[len(bom):].decode(enc), enc, bom
            except UnicodeDecodeError:
                return content[len(bom):].decode(enc, "replace"), enc, bom
    sample = content[:4096]
    if len(sample) >= 4 and sample.count(0) * 3 >= len(sample):
        even, odd = sample[0::2].count(0), sample[1::2].count(0)
        enc = "utf-16-le" if odd > even else "utf-16-be"
        try:
            return content.decode(enc), enc, b""
        except UnicodeDecodeError:
            pass
    try:
        text = content.decode("utf-8")
        enc = "utf-8"
    except UnicodeDecodeError:
        from charset_normalizer import from_bytes

        best = from_bytes(content).best()
        if best is None:
            return None
        text, enc = str(best), best.encoding
    controls = sum(1 for c in text[:4096] if ord(c) < 32 and c not in "\t\n\r\f")
    if controls > max(2, len(text[:4096]) // 100):
        return None
    return text, enc, b""


_RTF_CONTROL = re.compile(r"\\[a-zA-Z]+-?\d* ?|\\'[0-9a-fA-F]{2}|\\[^a-zA-Z]|[{}]")


def _mask_rtf(text: str) -> str:
    """Same-length copy of RTF with control words, escapes and braces blanked."""
    return _RTF_CONTROL.sub(lambda m: " " * len(m.group()), text)


def redact_attachment(att: Attachment) -> tuple[Attachment, tuple[Redaction, ...]]:
    """Redact the name, type and bytes of an attachment in hand (a .txt "backup" of a seed phrase).

    Text files are scanned whatever their encoding (BOM, UTF-16/32, legacy charsets via
    charset-normalizer): by type or extension (.txt .csv .json .md .rtf …), and any other
    file (application/octet-stream, a wrong type) whose bytes sniff as text. RTF control
    words count as separators. Binary files (images, PDFs) are left as they are: no OCR.
    The redacted text is written back in the file's own encoding (and BOM).
    """
    found: list[Redaction] = []
    name, r = redact_text(att.filename)
    found.extend(r)
    ctype, r = redact_text(att.content_type or "")
    found.extend(r)
    content = att.content
    if content is not None and len(content) <= MAX_TEXT_ATTACHMENT:
        declared = is_text_attachment(att.content_type, att.filename)
        binary_type = (att.content_type or "").lower().startswith(("image/", "audio/", "video/", "application/pdf", "application/zip"))
        decoded = decode_text(content) if (declared or not binary_type) else None
        if decoded is not None:
            text, encoding, bom = decoded
            lower = (att.filename or "").lower()
            rtf = lower.endswith(".rtf") or "rtf" in (att.content_type or "").lower() or text.startswith("{\\rtf")
            markup = "html" in (att.content_type or "") or lower.endswith((".html", ".htm"))
            if rtf:
                clean, r = _apply(text, _find(_mask_rtf(text)), None)
            else:
                clean, r = redact_text(text, markup=markup)
            if r:
                found.extend(r)
                content = bom + clean.encode(encoding, "replace")
    if not found:
        return att, ()
    changed = dataclasses.replace(att, filename=name, content_type=ctype or "application/octet-stream", content=content)
    if content is not att.content and content is not None:
        changed = dataclasses.replace(changed, size=len(content), sha256=None)
    return changed, tuple(found)


_HTML_TEXT_ATTR = re.compile(
    r"""(\b(?:alt|title|value|placeholder|aria-label|label|summary)\s*=\s*)(["'])(.*?)\2""", re.IGNORECASE | re.DOTALL
)


class _Sealer:
    """Numbers each distinct ambiguous value of a message once (text, full_text, html and
    subject share the numbers) and keeps the clear value for the ingest worker to encrypt."""

    def __init__(self, existing: tuple[Sealed, ...]) -> None:
        self.items: list[Sealed] = list(existing)
        self._by_value = {s.value: s for s in existing if not s.sealed}

    def __call__(self, value: str, what: str) -> str:
        hit = self._by_value.get(value)
        if hit is None:
            hit = Sealed(ref=len(self.items) + 1, kind=what, value=value)
            self.items.append(hit)
            self._by_value[value] = hit
        return SEALED_MARKER.format(what=hit.kind, ref=hit.ref)


def redact(msg: NormalizedMessage) -> NormalizedMessage:
    """Pipeline step: every customer-controlled text field of the message.

    Text fields (text, full_text, html, subject) — ambiguous 64-hex / base58 strings there
    are sealed (``msg.sealed``, placeholder ``[sealed: hex string #1]``); display names,
    participant extras, ``extra`` (keys and values), attachment names, types and the bytes
    of text attachments in hand (``redact_attachment``; attachments fetched later by URL
    go through it in the ingest stage) — ambiguous strings there are redacted; identifiers
    (sender and recipient addresses, thread key, message ids and references) get a keyed
    digest so they stay unique (``redact_identifier``).
    """
    sealer = _Sealer(msg.sealed)
    found: list[tuple[Redaction, ...]] = []
    # full_text is often text itself (one body, no quote): redacting the same string again
    # with the same sealer gives the same result, so it is done once
    done: dict[tuple[str, bool], tuple[str, tuple[Redaction, ...]]] = {}

    def txt(value: str, markup: bool = False) -> str:
        key = (value, markup)
        hit = done.get(key)
        if hit is None:
            hit = done[key] = redact_text(value, markup=markup, seal=sealer)
        out, r = hit
        found.append(r)
        return out

    def ident(value: str | None) -> str | None:
        out, r = redact_identifier(value)
        found.append(r)
        return out

    text, full, html, subject = txt(msg.text), txt(msg.full_text), txt(msg.html, markup=True), txt(msg.subject)
    if html:  # the text an HTML part carries in attributes (alt, title, value …)
        html = _HTML_TEXT_ATTR.sub(lambda m: m.group(1) + m.group(2) + txt(m.group(3)) + m.group(2), html)
    extra, r = redact_value(msg.extra)
    found.append(r)
    sender, r = redact_participant(msg.sender)
    found.append(r)
    recipients = []
    for p in msg.recipients:
        p2, r = redact_participant(p)
        found.append(r)
        recipients.append(p2)
    thread_key = ident(msg.thread_key) or msg.thread_key
    external_id = ident(msg.external_id) or msg.external_id
    in_reply_to = ident(msg.in_reply_to)
    references = tuple(ident(x) or x for x in msg.references)
    new_atts = []
    for a in msg.attachments:
        a2, r = redact_attachment(a)
        found.append(r)
        new_atts.append(a2)
    if not any(found) and len(sealer.items) == len(msg.sealed):
        return msg
    return msg.replace(
        text=text, full_text=full, html=html, subject=subject, extra=extra, attachments=tuple(new_atts),
        sender=sender, recipients=tuple(recipients), thread_key=thread_key, external_id=external_id,
        in_reply_to=in_reply_to, references=references,
        redactions=merge_redactions(msg.redactions, *found), sealed=tuple(sealer.items),
    )


def redact_event_dict(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: redact every string value of the event before it is rendered."""
    clean, _found = redact_value(event_dict)
    return clean
