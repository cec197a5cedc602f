"""Entity extraction: wallet addresses, transaction hashes and amounts -> ``msg.entities``.

Runs after redaction, so a private key has already become a marker and can never be
mistaken for a transaction hash here. Every address is checksum-verified where its
format has a checksum (base58check, bech32/bech32m, EIP-55 for mixed-case EVM
addresses); an EVM address whose mixed case fails EIP-55 is still surfaced, with
``extra["valid"] = False``, because "your address has a typo" is exactly what an
agent needs to know.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from normalizers.codecs import b58check_decode, b58decode, eip55, segwit_decode
from normalizers.model import Entity, NormalizedMessage

_B58 = "1-9A-HJ-NP-Za-km-z"

_BTC_BASE58 = re.compile(rf"(?<![{_B58}])[123mn][{_B58}]{{25,34}}(?![{_B58}])")
_BTC_BECH32 = re.compile(r"(?<![0-9A-Za-z])(?:bc|tb|bcrt|BC|TB|BCRT)1[02-9ac-hj-np-zAC-HJ-NP-Z]{8,87}(?![0-9A-Za-z])")
_EVM = re.compile(r"(?<![0-9A-Za-z])0x[0-9a-fA-F]{40}(?![0-9A-Za-z])")
_TRON = re.compile(rf"(?<![{_B58}])T[{_B58}]{{33}}(?![{_B58}])")
_SOLANA = re.compile(rf"(?<![{_B58}/])[{_B58}]{{32,44}}(?![{_B58}])")
_TX_0X = re.compile(r"(?<![0-9A-Za-z])0x[0-9a-fA-F]{64}(?![0-9A-Za-z])")
_TX_HEX = re.compile(r"(?<![0-9A-Za-z])[0-9a-fA-F]{64}(?![0-9A-Za-z])")
_TX_SOL = re.compile(rf"(?<![{_B58}])[{_B58}]{{86,90}}(?![{_B58}])")

_BTC_VERSIONS = {0x00: ("bitcoin", "p2pkh"), 0x05: ("bitcoin", "p2sh"), 0x6F: ("bitcoin-testnet", "p2pkh"), 0xC4: ("bitcoin-testnet", "p2sh")}
_SEGWIT_HRP = {"bc": "bitcoin", "tb": "bitcoin-testnet", "bcrt": "bitcoin-regtest"}

# Where a hash is shown decides its chain: explorer hosts and words near it.
_CHAIN_HINTS: list[tuple[str, re.Pattern[str]]] = [
    ("ethereum", re.compile(r"etherscan\.io|\beth(?:ereum)?\b|\berc-?20\b", re.I)),
    ("bsc", re.compile(r"bscscan\.com|\bbsc\b|\bbep-?20\b|\bbnb\s+(?:smart\s+)?chain\b", re.I)),
    ("polygon", re.compile(r"polygonscan\.com|\bpolygon\b|\bmatic\b", re.I)),
    ("arbitrum", re.compile(r"arbiscan\.io|\barbitrum\b", re.I)),
    ("base", re.compile(r"basescan\.org|\bbase\s+(?:chain|network)\b", re.I)),
    ("tron", re.compile(r"tronscan\.org|\btron\b|\btrc-?20\b|\btrx\b", re.I)),
    ("solana", re.compile(r"solscan\.io|explorer\.solana\.com|\bsolana\b|\bsol\b", re.I)),
    ("bitcoin", re.compile(r"mempool\.space|blockstream\.info|blockchair\.com/bitcoin|\bbitcoin\b|\bbtc\b", re.I)),
]

_EVM_CHAINS = frozenset({"ethereum", "bsc", "polygon", "arbitrum", "base"})
#: a native coin's network: "my deposit of 0.3 ETH" says the conversation is about Ethereum
CURRENCY_CHAIN = {"BTC": "bitcoin", "SATS": "bitcoin", "SAT": "bitcoin", "SATOSHIS": "bitcoin", "ETH": "ethereum", "GWEI": "ethereum",
                  "SOL": "solana", "TRX": "tron", "BNB": "bsc", "MATIC": "polygon", "POL": "polygon"}


def conversation_chain(entities: list[dict] | None) -> str | None:
    """The network a conversation is about, from its entities (stored as dicts): the last one
    with a chain (an address, a hash), else the last amount in a native coin."""
    items = [e for e in (entities or []) if isinstance(e, dict)]
    chains = [e["chain"] for e in items if e.get("chain")]
    if chains:
        return str(chains[-1])
    coins = [CURRENCY_CHAIN.get(str((e.get("extra") or {}).get("currency") or "").upper()) for e in items if e.get("kind") == "amount"]
    coins = [c for c in coins if c]
    return coins[-1] if coins else None


_CURRENCIES = (
    "BTC|ETH|USDT|USDC|DAI|BUSD|SOL|TRX|BNB|XRP|ADA|DOGE|LTC|DOT|MATIC|POL|AVAX|XLM|LINK|SHIB|TON|"
    "EUR|USD|GBP|CHF|JPY|MXN|BRL|ARS|COP|CLP|PEN|CAD|AUD|SATS?|SATOSHIS|GWEI|euros?|d[oó]lares|dollars?|reais|pesos"
)
_SYMBOLS = {"$": "USD", "US$": "USD", "€": "EUR", "£": "GBP", "R$": "BRL", "¥": "JPY", "₿": "BTC"}
_NUM = r"\d{1,3}(?:[.,' \u00a0]\d{3})+(?:[.,]\d+)?|\d+(?:[.,]\d+)?"
_AMOUNT_AFTER = re.compile(rf"(?<![\w.,])(?P<num>{_NUM})\s?(?P<cur>{_CURRENCIES}|€|\$|£|¥|₿)(?![\w])", re.I)
_AMOUNT_BEFORE = re.compile(rf"(?<![\w])(?P<cur>US\$|R\$|\$|€|£|¥|₿|USD|EUR|GBP)\s?(?P<num>{_NUM})(?![\d])")


def _chain_hint(text: str, start: int, end: int, default: str | None) -> tuple[str | None, bool]:
    """(chain, from_context) from explorer links and words around a hash."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    window = text[max(line_start, start - 80) : min(len(text) if line_end < 0 else line_end, end + 40)]
    for chain, pattern in _CHAIN_HINTS:
        if pattern.search(window):
            return chain, True
    return default, False


def parse_number(raw: str) -> Decimal | None:
    """'1.234,56' -> 1234.56, '1,234.56' -> 1234.56, '0,5' -> 0.5, '1,234' -> 1234."""
    s = raw.replace("'", "").replace(" ", "").replace("\u00a0", "")
    if "," in s and "." in s:
        dec = "," if s.rfind(",") > s.rfind(".") else "."
        s = s.replace("." if dec == "," else ",", "").replace(dec, ".")
    elif "," in s or "." in s:
        sep = "," if "," in s else "."
        parts = s.split(sep)
        if len(parts) > 2 or (len(parts[-1]) == 3 and parts[0] not in ("0", "")):
            s = s.replace(sep, "")  # thousands grouping
        else:
            s = s.replace(sep, ".")
    try:
        return Decimal(s)
    except InvalidOperation:
        return None


def _currency(cur: str) -> str:
    if cur in _SYMBOLS:
        return _SYMBOLS[cur]
    c = cur.lower()
    if c.startswith("euro"):
        return "EUR"
    if c.startswith(("dollar", "dólar", "dolar")):
        return "USD"
    if c == "reais":
        return "BRL"
    if c == "pesos":
        return "MXN"
    if c.startswith("sat"):
        return "SATS"
    return cur.upper()


def extract(text: str) -> list[Entity]:
    """Every entity in ``text``, in order of appearance, without duplicates."""
    found: list[tuple[int, Entity]] = []
    taken: list[tuple[int, int]] = []

    def free(a: int, b: int) -> bool:
        return all(b <= x or a >= y for x, y in taken)

    def add(a: int, b: int, entity: Entity) -> None:
        taken.append((a, b))
        found.append((a, entity))

    from normalizers.redact import current_context  # the conversation's network, when the hub knows it

    known = current_context().chain
    evm = known if known in _EVM_CHAINS else None
    for m in _TX_0X.finditer(text):
        chain, ctx = _chain_hint(text, m.start(), m.end(), evm or "evm")
        ctx = ctx or bool(evm)
        add(m.start(), m.end(), Entity("tx_hash", m.group().lower(), chain, {"chain_from": "context" if ctx else "format"}))
    for m in _TX_HEX.finditer(text):
        if free(m.start(), m.end()):
            chain, ctx = _chain_hint(text, m.start(), m.end(), known or "bitcoin")
            ctx = ctx or bool(known)
            add(m.start(), m.end(), Entity("tx_hash", m.group().lower(), chain, {"chain_from": "context" if ctx else "guess"}))
    for m in _EVM.finditer(text):
        if not free(m.start(), m.end()):
            continue
        body = m.group()[2:]
        mixed = body != body.lower() and body != body.upper()
        valid = (not mixed) or eip55(body) == body
        chain, _ctx = _chain_hint(text, m.start(), m.end(), "evm")
        add(m.start(), m.end(), Entity("evm_address", "0x" + body, chain if chain not in ("bitcoin", "tron", "solana") else "evm",
                                       {"valid": valid, "checksummed": mixed}))
    for m in _BTC_BECH32.finditer(text):
        hrp = m.group().split("1", 1)[0].lower()
        dec = segwit_decode(hrp, m.group())
        if dec is not None and free(m.start(), m.end()):
            version, prog = dec
            kind = {0: "p2wpkh" if len(prog) == 20 else "p2wsh", 1: "p2tr"}.get(version, f"witness_v{version}")
            add(m.start(), m.end(), Entity("btc_address", m.group().lower(), _SEGWIT_HRP[hrp], {"type": kind}))
    for m in _BTC_BASE58.finditer(text):
        payload = b58check_decode(m.group())
        if payload is not None and len(payload) == 21 and payload[0] in _BTC_VERSIONS and free(m.start(), m.end()):
            chain, kind = _BTC_VERSIONS[payload[0]]
            add(m.start(), m.end(), Entity("btc_address", m.group(), chain, {"type": kind}))
    for m in _TRON.finditer(text):
        payload = b58check_decode(m.group())
        if payload is not None and len(payload) == 21 and payload[0] == 0x41 and free(m.start(), m.end()):
            add(m.start(), m.end(), Entity("tron_address", m.group(), "tron"))
    for m in _TX_SOL.finditer(text):
        raw = b58decode(m.group())
        if raw is not None and len(raw) == 64 and free(m.start(), m.end()):
            add(m.start(), m.end(), Entity("tx_hash", m.group(), "solana", {"chain_from": "format"}))
    for m in _SOLANA.finditer(text):
        s = m.group()
        if not free(m.start(), m.end()) or s.isalpha() and (s.islower() or s.isupper()):
            continue
        raw = b58decode(s)
        if raw is not None and len(raw) == 32:
            add(m.start(), m.end(), Entity("solana_address", s, "solana"))
    for pattern in (_AMOUNT_BEFORE, _AMOUNT_AFTER):
        for m in pattern.finditer(text):
            if not free(m.start(), m.end()):
                continue
            value = parse_number(m.group("num"))
            if value is None:
                continue
            cur = _currency(m.group("cur"))
            amount = format(value.normalize(), "f") if value == value.to_integral() else format(value, "f")
            add(m.start(), m.end(), Entity("amount", f"{amount} {cur}", None, {"amount": amount, "currency": cur}))
    found.sort(key=lambda x: x[0])
    seen: set[tuple[str, str]] = set()
    out = []
    for _pos, e in found:
        if (e.kind, e.value) not in seen:
            seen.add((e.kind, e.value))
            out.append(e)
    return out


def entities(msg: NormalizedMessage) -> NormalizedMessage:
    """Pipeline step: entities from subject + text (after redaction)."""
    text = "\n".join(t for t in (msg.subject, msg.text or msg.full_text) if t)
    found = extract(text)
    if not found:
        return msg
    known = {(e.kind, e.value) for e in msg.entities}
    return msg.replace(entities=msg.entities + tuple(e for e in found if (e.kind, e.value) not in known))
