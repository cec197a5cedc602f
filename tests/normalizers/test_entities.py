"""Entity extraction: checksummed addresses, tx hashes with a chain guess, amounts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from normalizers.codecs import b58check_encode, segwit_encode
from normalizers.entities import entities, extract, parse_number
from normalizers.model import NormalizedMessage, Participant


def kinds(text: str) -> list[tuple[str, str, str | None]]:
    return [(e.kind, e.value, e.chain) for e in extract(text)]


@pytest.mark.parametrize(
    ("address", "chain", "type_"),
    [
        ("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "bitcoin", "p2pkh"),
        ("3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", "bitcoin", "p2sh"),
        ("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "bitcoin", "p2wpkh"),
        ("BC1QAR0SRRR7XFKVY5L643LYDNW9RE59GTZZWF5MDQ", "bitcoin", "p2wpkh"),
        ("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0", "bitcoin", "p2tr"),
        (segwit_encode("tb", 0, bytes(32)), "bitcoin-testnet", "p2wsh"),
    ],
)
def test_valid_bitcoin_addresses(address, chain, type_):
    [e] = extract(f"please send to {address} today")
    assert (e.kind, e.chain, e.extra["type"]) == ("btc_address", chain, type_)


@pytest.mark.parametrize(
    "address",
    [
        "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb",  # base58 checksum broken
        "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdr",  # bech32 checksum broken
        "bc1qar0srrr7xfkvy5l643lYdnw9re59gtzzwf5mdq",  # mixed case is invalid bech32
        # a v1 (taproot) program encoded with bech32 instead of bech32m (BIP-350 rule)
        "bc1p" + segwit_encode("bc", 0, bytes(32))[4:],
    ],
)
def test_invalid_bitcoin_addresses_are_ignored(address):
    assert [e for e in extract(address) if e.kind == "btc_address"] == []


def test_evm_addresses_and_eip55():
    good = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"  # EIP-55 test vector
    typo = good[:-1] + "D"
    lower = good.lower()
    got = {e.value: e.extra for e in extract(f"{good} {typo} {lower}") if e.kind == "evm_address"}
    assert got[good] == {"valid": True, "checksummed": True}
    assert got[typo] == {"valid": False, "checksummed": True}
    assert got[lower] == {"valid": True, "checksummed": False}


def test_tron_and_solana():
    text = "USDT TRC20 to TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t, or on solana EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
    assert ("tron_address", "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", "tron") in kinds(text)
    assert ("solana_address", "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", "solana") in kinds(text)
    bad_tron = b58check_encode(b"\x42" + bytes(20))  # wrong version byte
    assert kinds(bad_tron) == [] or all(k != "tron_address" for k, _, _ in kinds(bad_tron))


def test_tx_hashes_with_chain_guess():
    h = "5c504ed432cb51138bcf09aa5e8a410dd4a1e204ef84bfed1be16dfba1b22060"
    assert kinds(f"https://etherscan.io/tx/0x{h}") == [("tx_hash", f"0x{h}", "ethereum")]
    assert kinds(f"tx 0x{h} on BSC") == [("tx_hash", f"0x{h}", "bsc")]
    assert kinds(f"tx 0x{h}") == [("tx_hash", f"0x{h}", "evm")]
    assert kinds(f"txid {h}") == [("tx_hash", h, "bitcoin")]
    assert kinds(f"TRC20 transfer, txid {h}") == [("tx_hash", h, "tron")]
    assert kinds(f"https://mempool.space/tx/{h}") == [("tx_hash", h, "bitcoin")]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("I sent 0.5 BTC", "0.5 BTC"),
        ("it cost $120", "120 USD"),
        ("120 USDT never arrived", "120 USDT"),
        ("un cargo de 1.234,56 € duplicado", "1234.56 EUR"),
        ("he rebut 0,3 ETH", "0.3 ETH"),
        ("R$ 50,25 via Pix", "50.25 BRL"),
        ("fee of 2,500 sats", "2500 SATS"),
        ("£1,234.50 refunded", "1234.50 GBP"),
        ("20 euros", "20 EUR"),
    ],
)
def test_amounts(text, value):
    assert [e.value for e in extract(text) if e.kind == "amount"] == [value]


@pytest.mark.parametrize(("raw", "value"), [("1.234,56", "1234.56"), ("1,234.56", "1234.56"), ("0,5", "0.5"),
                                            ("1,234", "1234"), ("0.500", "0.500"), ("1 234 567", "1234567")])
def test_parse_number(raw, value):
    assert str(parse_number(raw)) == value


def test_prose_has_no_entities():
    assert extract("Hello, my account was charged twice last week and I need help, ticket 12345.") == []


def test_step_adds_entities_from_subject_and_text():
    msg = NormalizedMessage(
        medium="api", connector="c", external_id="1", thread_key="t", sender=Participant("api", "c:1"),
        sent_at=datetime(2026, 1, 1, tzinfo=UTC), subject="0.5 BTC missing",
        text="to bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
    )
    out = entities(msg)
    assert [e.kind for e in out.entities] == ["amount", "btc_address"]
    assert entities(out).entities == out.entities
