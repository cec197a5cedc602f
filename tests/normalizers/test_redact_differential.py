"""The fast redaction (#22.5) finds exactly what the implementation before it found.

``redact_reference`` is a frozen copy of normalizers/redact.py from before the speed-up.
Both run over a third of the shared corpus (real emails and payloads, in 3 KB pieces), every text of
the labelled sets in tests/data, and ~2,000 generated texts (700 for redact_text) built to sit on the
edges of the pre-checks the fast path adds: phrases in every wordlist with typos, unknown
and short words, numbering, sentence marks and line breaks; 64-hex strings whole and
grouped, with and without cues; WIF, xprv and Solana keys whole and cut into chunks; card
numbers with every separator, next to decimals, phones, IBANs and other numbers; security
codes, passwords and PINs after their cues; HTML; spaced and unspaced Chinese; "²"-like
digits. (The credential forms added later, #21.8, are switched off here: ``legacy_credentials``.) The output (text and redaction records) must be identical, for ``redact_text``
(with and without markup, in a transaction context and without), ``redact_identifier`` and
the pipeline step ``redact`` (sealed values and their numbering included).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from mnemonic import Mnemonic

from normalizers import redact as fast
from normalizers.codecs import b58check_encode, b58encode
from normalizers.model import NormalizedMessage, Participant
from tests.normalizers import redact_reference as ref
from tests.support.corpus import CORPUS

DATA = Path(__file__).resolve().parents[1] / "data"
LANGS = sorted(Mnemonic.list_languages())
WORDS = {lang: Mnemonic(lang).wordlist for lang in LANGS}
PROSE = [
    "Hello, I sent 0.5 BTC yesterday and it has not arrived.", "Please help me, my wallet is empty!",
    "Hola, envié 120 USDT ayer y todavía no han llegado.", "La meva contrasenya no funciona des d'ahir.",
    "Bonjour, je n'arrive pas à retirer mes fonds.", "Mein Konto ist gesperrt, bitte helfen Sie mir.",
    "Olá, a minha transferência está pendente há três dias.", "Ciao, il mio deposito non è arrivato.",
    "我的账户余额不对请帮忙检查一下", "入金が反映されていません。", "출금이 안 됩니다 도와주세요",
    "the app shows an error every time I open the wallet screen", "account balance transfer again because wrong",
    "order 1234567812345678 is pending", "call me on +49 1512 3456789", "IBAN DE89 3704 0044 0532 0130 00",
    "I paid 4111111111111111.50 satoshi", "tweet 1412345678901234566 was deleted", "x² + y² = z²",
    "snake_case_words and_more_words", "https://etherscan.io/tx/0x", "see <b>bold</b> &amp; <i>it</i>",
]


@pytest.fixture(autouse=True)
def _rules_of_the_reference():
    """The credential forms added after the speed-up (#21.8: short cues, one-time and backup codes,
    sign-in pairs) are not in the frozen reference: compared without them; they have their own
    tests in tests/normalizers/test_redact.py."""
    with fast.legacy_credentials():
        yield


def _typo(rng: random.Random, w: str) -> str:
    if len(w) < 4:
        return w
    i = rng.randrange(len(w) - 1)
    op = rng.randrange(4)
    if op == 0:
        return w[:i] + w[i + 1 :]
    if op == 1:
        return w[:i] + rng.choice("abcdefghijklmnopqrstuvwxyz") + w[i:]
    if op == 2:
        return w[:i] + w[i + 1] + w[i] + w[i + 2 :]
    return w[:i] + rng.choice("aeiou") + w[i + 1 :]


def _phrase(rng: random.Random) -> str:
    lang = rng.choice(LANGS)
    if rng.random() < 0.3:
        words = Mnemonic(lang).to_mnemonic(rng.randbytes(rng.choice([16, 20, 24, 28, 32]))).split()
    else:
        words = [rng.choice(WORDS[lang]) for _ in range(rng.randint(8, 26))]
    out = []
    for w in words:
        r = rng.random()
        if r < 0.06:
            w = _typo(rng, w)
        elif r < 0.09:
            w = rng.choice(["xqzt", "my", "a", "de", "la", "ok", "plz", "wallet", "I"])
        elif r < 0.11:
            w = w.upper()
        elif r < 0.13:
            w = w.capitalize()
        if rng.random() < 0.04:
            out.append(rng.choice(["please", "the", "and", "also", "et"]))
        out.append(w)
        if rng.random() < 0.05:
            out[-1] += rng.choice([".", "!", "?", ";", ":", "。", ",", " -", " ."])
    style = rng.randrange(6)
    if style == 0:
        return " ".join(out)
    if style == 1:
        return "\n".join(out)
    if style == 2:
        return ", ".join(out)
    if style == 3:
        return " ".join(f"{k + 1}{rng.choice(['.', ')', ':', ''])} {w}" for k, w in enumerate(out))
    if style == 4:
        return "".join(out) if lang.startswith("chinese") else "\t".join(out)
    return "<ol>" + "".join(f"<li>{w}</li>" for w in out) + "</ol>"


def _edge_phrase(rng: random.Random) -> str:
    """A run right at the limits of a phrase: n words with max(2, n // 6) inexact ones (one
    more, sometimes), bunched together, so every 12 in a row may hold only 9 exact words."""
    lang = rng.choice([x for x in LANGS if not x.startswith("chinese")])
    n = rng.randint(12, 30)
    words = [rng.choice(WORDS[lang]) for _ in range(n)]
    k = max(2, n // 6) + (1 if rng.random() < 0.3 else 0)
    start = rng.randrange(0, n - k + 1)
    unknown_left = max(1, n // 12)
    for i in range(start, start + k):
        if unknown_left and rng.random() < 0.3 and (i == start or not words[i - 1].startswith("zq")):
            words[i] = "zq" + "xv"[i % 2] * 3
            unknown_left -= 1
        else:
            words[i] = _typo(rng, words[i]) if len(words[i]) >= 4 else words[i]
    return rng.choice(["", "my words ", "seed is "]) + rng.choice([" ", "\n", ", "]).join(words) + rng.choice(["", " please help", "."])


def _hexkey(rng: random.Random) -> str:
    h = rng.randbytes(32).hex()
    if rng.random() < 0.3:
        h = h.upper() if rng.random() < 0.5 else "0x" + h
    r = rng.random()
    if r < 0.35:
        size = rng.choice([4, 8, 16, 32, 5, 7])
        sep = rng.choice([" ", "-", ":", "\n", " \n ", "  "])
        h = sep.join(h[i : i + size] for i in range(0, len(h), size))
    elif r < 0.45:
        h = h[: rng.randint(40, 63)]
    cue = rng.choice(["", "", "tx ", "txid: ", "my private key ", "hash ", "deposit of 0.1 BTC hash ", "sha256=",
                      "clave privada: ", "https://mempool.space/tx/", "x-connection-hash: ", "seed "])
    return cue + h


def _b58key(rng: random.Random) -> str:
    key = rng.randbytes(32)
    kind = rng.randrange(4)
    if kind == 0:
        s = b58check_encode(b"\x80" + key + (b"\x01" if rng.random() < 0.5 else b""))
    elif kind == 1:
        s = Mnemonic("english").to_hd_master_key(rng.randbytes(64), testnet=rng.random() < 0.5)
    elif kind == 2:
        s = b58encode(rng.randbytes(64))
    else:
        s = b58check_encode(b"\xef" + key + b"\x01")
    if rng.random() < 0.15:
        s = s[:-1] + ("1" if s[-1] != "1" else "2")  # broken checksum
    if rng.random() < 0.4:
        size = rng.choice([4, 5, 8, 10, 13, 17, 30])
        sep = rng.choice([" ", "-", "\n", " - ", "\t", "  \n "])
        s = sep.join(s[i : i + size] for i in range(0, len(s), size))
    return rng.choice(["", "wif ", "backup ", "my key: ", "solana secret "]) + s


def _luhn_complete(digits: str) -> str:
    for d in "0123456789":
        if fast.luhn_valid(digits + d):
            return digits + d
    raise AssertionError


def _card(rng: random.Random) -> str:
    prefix = rng.choice(["4", "51", "55", "2221", "2720", "34", "37", "6011", "3528", "36", "62", "9", "1"])
    length = rng.choice([13, 14, 15, 16, 16, 16, 19, 12, 20])
    body = prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1))
    digits = _luhn_complete(body) if rng.random() < 0.8 else body + "3"
    r = rng.random()
    if r < 0.3:
        sep = rng.choice([" ", "-", ".", "/", "\n", " \n", "  "])
        s = sep.join(digits[i : i + 4] for i in range(0, len(digits), 4))
    elif r < 0.4:
        s = " ".join(digits)
    else:
        s = digits
    before = rng.choice(["", "card: ", "+", "id=", "/", "0", ".", "ref ", "Tarjeta ", "amex "])
    after = rng.choice(["", ".50", ",", ",5", ",50", ".5", "/1", "/", ", exp 12/28, cvv 123", " CVC: 0421", "5", "a",
                        " código de seguridad 987", " codigo de seguridad 123", " CID 1234", " csc: 999", " security code 321",
                        " kartenprufnummer 555", " cryptogramme visuel 777", " card verification code 4321", " 12345"])
    return before + s + after


def _credential(rng: random.Random) -> str:
    cue = rng.choice(["password", "Passwort", "contraseña", "mot de passe", "senha", "wachtwoord", "PIN", "passcode",
                      "pwd", "pin code", "código pin", "hasło", "clave de acceso", "Kennwort", "mdp", "nip", "haslo",
                      "codigo pin", "contrasena", "palavra-passe", "parola", "pass phrase", "Wachtwoord", "PASSWD", "pinnummer"])
    conn = rng.choice([" is ", ": ", " = ", " ", " lautet ", " és ", " for my account is ", " was "])
    value = rng.choice(["Hunter2!", "secreto", "1234", "04821", "not working", "\"correct horse\"", "****", "abc", "x1",
                        "[redacted: password]", "«clé»", "Sonne#7.", "123456789"])
    return cue + conn + value


def _noise(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.3:
        return rng.choice(PROSE)
    if r < 0.4:
        return "".join(rng.choice("0123456789 .-/:,") for _ in range(rng.randint(5, 40)))
    if r < 0.5:
        return "".join(rng.choice("abcdef0123456789 \n") for _ in range(rng.randint(20, 140)))
    if r < 0.6:
        return "".join(rng.choice("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz \n-") for _ in range(rng.randint(20, 160)))
    if r < 0.7:
        return rng.choice(["²", "³", "①", "٣", "½", "_", "İ", "ß", "ﬁ", "ς", "\u0301", "。", "？", "！"]) * rng.randint(1, 3)
    if r < 0.8:
        lang = rng.choice(LANGS)
        return " ".join(rng.choice(WORDS[lang]) for _ in range(rng.randint(1, 11)))
    if r < 0.9:
        m = Mnemonic(rng.choice(["chinese_simplified", "chinese_traditional"]))
        return rng.choice(["我的助记词是", "助記詞：", "种子 ", ""]) + m.to_mnemonic(rng.randbytes(16)).replace(" ", rng.choice(["", " "]))
    return rng.choice(["\n", "\n\n", " ", ". ", "; ", ", ", " - ", "\t", "<p>", "</p>", "<br/>"])


def generated(n: int, seed: int = 225) -> list[str]:
    rng = random.Random(seed)
    makers = [_phrase, _edge_phrase, _hexkey, _b58key, _card, _credential]
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(1, 6)):
            parts.append(rng.choice(makers)(rng) if rng.random() < 0.45 else _noise(rng))
        out.append(rng.choice([" ", "\n", "", ". ", ", "]).join(parts))
    return out


def labelled() -> list[str]:
    texts = []
    for name in ("redaction_set.jsonl", "secret_evidence_dev.jsonl", "secret_evidence_holdout.jsonl"):
        for line in (DATA / name).read_text(encoding="utf-8").splitlines():
            texts.append(json.loads(line)["text"])
    return texts


def corpus_pieces(limit: int = 100, size: int = 3000) -> list[str]:
    if not CORPUS.exists():
        pytest.skip(f"the shared corpus is not at {CORPUS}")
    from tests.normalizers.test_redact_corpus import MAX_FILE, _texts

    files = [p for p in sorted(CORPUS.rglob("*")) if p.is_file() and p.stat().st_size <= MAX_FILE
             and p.suffix not in (".png", ".jpg", ".gif", ".pdf", ".msg")]
    pieces = []
    for path in files[::3]:  # every third file: parsing all the mail takes longer than redacting it
        for text in _texts(path):
            pieces += [text[i : i + size] for i in range(0, min(len(text), 4 * size), size)]
    step = max(1, len(pieces) // limit)
    return pieces[::step][:limit]


def _same(texts: list[str], markup: bool = False) -> None:
    diffs = []
    for t in texts:
        a, b = fast.redact_text(t, markup=markup), ref.redact_text(t, markup=markup)
        if a != b:
            diffs.append((t[:300], a, b))
    assert not diffs, f"{len(diffs)} of {len(texts)} differ; first: {diffs[0]}"


def test_generated_texts_are_redacted_exactly_as_before():
    texts = generated(700)
    assert sum(1 for t in texts if ref.redact_text(t)[1]) > 200  # the set is full of secrets, not only near misses
    _same(texts)
    _same(texts[:250], markup=True)


def test_labelled_sets_and_the_shared_corpus_are_redacted_exactly_as_before():
    _same(labelled())
    _same(corpus_pieces())


def test_the_same_in_a_transaction_context_and_for_identifiers():
    texts = generated(150, seed=7) + labelled()[:150]
    for kw in ({"asked_for_tx": True}, {"chain": "bitcoin"}):
        with fast.context(fast.Context(**kw)), ref.context(ref.Context(**kw)):
            _same(texts)
    key = hashlib.sha256(b"test").digest()
    for t in texts:
        assert fast.redact_identifier(t, key) == ref.redact_identifier(t, key)


def test_the_pipeline_step_seals_and_numbers_exactly_as_before():
    texts = generated(200, seed=11)
    rng = random.Random(3)
    for k, t in enumerate(texts):
        other = rng.choice(texts)
        msg = NormalizedMessage(
            medium="api", connector="api-1", external_id=f"m{k} {other[:40]}", thread_key=f"t{k}",
            sender=Participant(medium="api", address=f"api-1:{other[:60]}", name=other[:80]),
            sent_at=datetime(2026, 1, 1, tzinfo=UTC), subject=other[:100], text=t,
            full_text=t if k % 2 else f"{t}\n> {other}", html=f"<p>{other}</p>" if k % 3 == 0 else "",
            extra={"raw": {"body": other}},
        )
        assert fast.redact(msg) == ref.redact(msg), t[:200]


def test_the_fast_tokenizer_matches_the_reference_tokenizer():
    for t in generated(600, seed=5) + labelled()[:200] + ["word. 1 next", "word 1. next", "abc.1def", "a_b. c", ". x", "end.",
                                                           "word ² . next", "word. ² next", "a² b.c 你好世界. x", "e\u0301te\u0301. la"]:
        toks = ref._tokens(t)
        assert fast._tokens(t) == toks == fast._unicode_tokens(t, [(0, len(toks))])
        n = len(toks)
        if n > 6:  # filled in only inside the stretches asked for
            part = fast._unicode_tokens(t, [(2, n // 2), (n // 2 + 1, n)])
            assert part[2 : n // 2] == toks[2 : n // 2] and part[n // 2 + 1 :] == toks[n // 2 + 1 :]
        if t.isascii():
            assert fast._ascii_tokens(t, [(0, len(toks))]) == toks


def test_the_ascii_codes_match_the_regex_codes():
    fast.wordlists()
    texts = [t for t in generated(800, seed=9) + labelled() if t.isascii()]
    texts += ["word. 1 next", "word 1. next", "abc.1def", "a_b. c", "x:y", ". start", "end.", "abc1.def", "hi ,  . there", "\x01a\x02b"]
    for t in texts:
        assert fast._ascii_codes(t) == "".join(fast._CODES[x] for x in fast._TOKEN_SCAN.findall(t)), t


def test_may_hold_a_hash_answers_as_before():
    texts = generated(600, seed=13) + labelled()
    for k, t in enumerate(texts):
        msg = NormalizedMessage(medium="api", connector="api-1", external_id=f"m{k}", thread_key=f"t{k}",
                                sender=Participant(medium="api", address="api-1:u"), sent_at=datetime(2026, 1, 1, tzinfo=UTC),
                                text=t, subject=texts[k - 1][:80])
        got, before = fast.may_hold_a_hash(msg), ref.may_hold_a_hash(msg)
        # since 2026-12-07 hex cut unevenly into long pieces ("30 + 34") is a candidate too: the
        # answer may be yes where the reference said no, only for hex groups with a piece over 32
        assert got == before or (got and _long_hex_piece(msg)), t[:200]


def _long_hex_piece(msg) -> bool:
    return any(len(piece) > 32 for field in (msg.text, msg.subject) if field
               for m in fast._HEX_GROUPED.finditer(field) for piece in re.findall(r"[0-9a-fA-F]+", m.group()))
