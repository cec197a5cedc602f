"""Small, dependency-free address codecs: base58(check), bech32/bech32m, EIP-55.

Shared by ``normalizers.redact`` (WIF and extended private keys) and
``normalizers.entities`` (addresses). Pure functions; keccak comes from pycryptodome.
"""

from __future__ import annotations

import hashlib

B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(B58_ALPHABET)}


def b58decode(text: str) -> bytes | None:
    """Decode base58 (Bitcoin alphabet); None when a character is outside the alphabet."""
    num = 0
    for ch in text:
        idx = _B58_INDEX.get(ch)
        if idx is None:
            return None
        num = num * 58 + idx
    body = num.to_bytes((num.bit_length() + 7) // 8, "big") if num else b""
    pad = len(text) - len(text.lstrip("1"))
    return b"\x00" * pad + body


def b58encode(data: bytes) -> str:
    num = int.from_bytes(data, "big")
    out = []
    while num:
        num, rem = divmod(num, 58)
        out.append(B58_ALPHABET[rem])
    pad = len(data) - len(data.lstrip(b"\x00"))
    return "1" * pad + "".join(reversed(out))


def _dsha256(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def b58check_decode(text: str) -> bytes | None:
    """Payload of a base58check string, or None when the 4-byte checksum does not verify."""
    raw = b58decode(text)
    if raw is None or len(raw) < 5:
        return None
    payload, check = raw[:-4], raw[-4:]
    return payload if _dsha256(payload)[:4] == check else None


def b58check_encode(payload: bytes) -> str:
    return b58encode(payload + _dsha256(payload)[:4])


# --- bech32 / bech32m (BIP-173, BIP-350; reference implementation, condensed) ---

_BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_CONST = 1
_BECH32M_CONST = 0x2BC830A3


def _polymod(values: list[int]) -> int:
    gen = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if ((top >> i) & 1) else 0
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(x) >> 5 for x in hrp] + [0] + [ord(x) & 31 for x in hrp]


def bech32_decode(text: str) -> tuple[str, list[int], str] | None:
    """(hrp, data without checksum, "bech32"|"bech32m") or None when invalid."""
    if text.lower() != text and text.upper() != text:
        return None
    text = text.lower()
    pos = text.rfind("1")
    if pos < 1 or pos + 7 > len(text) or len(text) > 90:
        return None
    hrp = text[:pos]
    try:
        data = [_BECH32_CHARSET.index(c) for c in text[pos + 1 :]]
    except ValueError:
        return None
    const = _polymod(_hrp_expand(hrp) + data)
    if const == _BECH32_CONST:
        return hrp, data[:-6], "bech32"
    if const == _BECH32M_CONST:
        return hrp, data[:-6], "bech32m"
    return None


def _convertbits(data: list[int], frombits: int, tobits: int, pad: bool = False) -> list[int] | None:
    acc = bits = 0
    out = []
    maxv = (1 << tobits) - 1
    for value in data:
        acc = (acc << frombits) | value
        bits += frombits
        while bits >= tobits:
            bits -= tobits
            out.append((acc >> bits) & maxv)
    if pad:
        if bits:
            out.append((acc << (tobits - bits)) & maxv)
    elif bits >= frombits or ((acc << (tobits - bits)) & maxv):
        return None
    return out


def segwit_decode(hrp_expected: str, address: str) -> tuple[int, bytes] | None:
    """(witness version, program) of a valid segwit address for ``hrp_expected``, else None.

    Enforces BIP-350: version 0 uses bech32, versions 1-16 use bech32m.
    """
    dec = bech32_decode(address)
    if dec is None or dec[0] != hrp_expected or not dec[1]:
        return None
    _hrp, data, encoding = dec
    version = data[0]
    prog = _convertbits(data[1:], 5, 8)
    if prog is None or not 2 <= len(prog) <= 40 or version > 16:
        return None
    if version == 0 and len(prog) not in (20, 32):
        return None
    if (version == 0) != (encoding == "bech32"):
        return None
    return version, bytes(prog)


def segwit_encode(hrp: str, version: int, program: bytes) -> str:
    """Encode a segwit address (used by the test-set generator)."""
    data = [version] + (_convertbits(list(program), 8, 5, pad=True) or [])
    const = _BECH32_CONST if version == 0 else _BECH32M_CONST
    values = _hrp_expand(hrp) + data
    polymod = _polymod(values + [0] * 6) ^ const
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_BECH32_CHARSET[d] for d in data + checksum)


# --- EIP-55 ---


def keccak256(data: bytes) -> bytes:
    from Crypto.Hash import keccak  # pycryptodome; imported lazily (only mixed-case EVM addresses need it)

    return keccak.new(digest_bits=256, data=data).digest()


def eip55(address_hex40: str) -> str:
    """The EIP-55 checksummed form of a 40-hex-digit address (without 0x)."""
    lower = address_hex40.lower()
    digest = keccak256(lower.encode("ascii")).hex()
    return "".join(c.upper() if c.isalpha() and int(digest[i], 16) >= 8 else c for i, c in enumerate(lower))
