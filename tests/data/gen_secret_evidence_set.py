"""Generate the labelled set for #16.3 (keys vs transaction hashes), ONCE, deterministically:

    python tests/data/gen_secret_evidence_set.py

Writes ``secret_evidence_dev.jsonl`` (the development half: look at it, tune on it) and
``secret_evidence_holdout.jsonl`` (the held-out half: never tuned on; the tests assert the
thresholds on it). Rows are shuffled and split 50/50 by a seeded RNG *before* anyone looks.

Each row: ``{"id", "lang", "agent_last", "chain", "text", "label", "group", "value"}``.

* ``label: "secret"`` — a real key or phrase made with the real algorithms: random valid
  WIFs (mainnet/testnet, compressed or not), xprv/tprv from random BIP-32 seeds, BIP-39
  phrases from the ``mnemonic`` package (5 wordlists, 12-24 words), and 64-hex private
  keys introduced as keys (private key / clave privada / chave privada / clé privée /
  privater Schlüssel / chiave privata / privésleutel / "my key" …). ``value`` must not
  survive in clear. Some are pasted right after an agent asked for a transaction id.
* ``label: "tx"`` — a real-looking transaction hash (random 32 bytes; 0x-prefixed on EVM
  chains; base58 64-byte signatures on Solana) in a customer's answer to an agent who
  asked for it (``agent_last``), written the way customers write (bare, after "here",
  with an explorer link, typos, no accents, emoji, mixed languages). ``value`` must be kept
  exactly (not redacted, not sealed).
* ``label: "bare_key_after_ask"`` — a bare 64-hex private key with no cue, pasted as the
  answer to "send me the transaction id": indistinguishable from a hash by its text. Kept
  apart and reported on its own (it is where the evidence rule knowingly gives way).

Every key, phrase and hash here was generated for the test and protects nothing.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from mnemonic import Mnemonic  # noqa: E402

from normalizers.codecs import b58check_encode, b58encode  # noqa: E402

HERE = Path(__file__).parent
rng = random.Random(16_03_2026)

ASKS = {
    "en": ["Could you share the transaction hash please?", "Can you send me the TXID so I can look it up?",
           "Thanks! What is the transaction ID shown in your wallet?", "Please paste the tx hash from the explorer here.",
           "To trace it we need the transaction hash. Could you send it?"],
    "es": ["¿Nos puedes enviar el hash de la transacción?", "Por favor, facilítanos el ID de la transacción (TXID).",
           "¿Podrías pasarnos el hash de la transaccion para revisarlo?", "Necesitamos el identificador de la transacción, ¿nos lo envías?"],
    "ca": ["Ens pots enviar el hash de la transacció?", "Si us plau, envia'ns l'ID de la transacció.",
           "Podeu facilitar-nos el TXID de la transacció?"],
    "pt": ["Pode enviar-nos o hash da transação?", "Por favor, envie o ID da transação (TXID).",
           "Você pode compartilhar o hash da transacao para verificarmos?"],
    "fr": ["Pouvez-vous nous envoyer le hash de la transaction ?", "Merci de nous communiquer l'identifiant de transaction (TXID).",
           "Pourriez-vous indiquer le hash de la transaction visible sur l'explorateur ?"],
    "de": ["Können Sie uns bitte den Transaktions-Hash schicken?", "Bitte senden Sie uns die Transaktions-ID (TXID).",
           "Könnten Sie uns die TXID der Transaktion geben?"],
    "it": ["Puoi inviarci l'hash della transazione?", "Per favore, condividi l'ID della transazione (TXID).",
           "Potresti mandarci l'hash della transazione per verificarla?"],
    "nl": ["Kun je ons de transactie-hash sturen?", "Kunt u de transactie-ID (TXID) met ons delen?",
           "Stuur ons alsjeblieft de hash van de transactie."],
}

TX_ANSWERS = {
    "en": ["{h}", "here: {h}", "here it is {h}", "txid {h}", "{h} thanks", "this one {h} 🙏", "hash is {h}",
           "sure\n{h}", "the hash: {h}\nit was 0.2 ETH", "ok {h} pls check asap", "{u}", "here {u}", "sent from binance, {h}",
           "i think its this {h}"],
    "es": ["{h}", "aqui esta {h}", "el hash es {h}", "toma: {h}", "{h} gracias!!", "este es el hash de la transacción {h}",
           "mira {u}", "te lo paso {h}", "envie 50 usdt, el hash {h}"],
    "ca": ["{h}", "aquí el tens {h}", "el hash és {h}", "{h} gràcies", "mireu {u}"],
    "pt": ["{h}", "aqui esta {h}", "o hash é {h}", "segue {h}", "{h} obrigado", "veja {u}"],
    "fr": ["{h}", "voici {h}", "le hash est {h}", "{h} merci", "voila le lien {u}"],
    "de": ["{h}", "hier bitte {h}", "der Hash ist {h}", "{h} danke", "siehe {u}"],
    "it": ["{h}", "eccolo {h}", "l'hash è {h}", "{h} grazie", "guarda {u}"],
    "nl": ["{h}", "hier is hij {h}", "de hash is {h}", "{h} bedankt", "kijk {u}"],
}

KEY_CUES = {
    "en": ["my private key is {k}", "private key: {k}", "this is my key {k}", "here is my wallet key {k} can you recover it",
           "secret key {k}", "my privkey {k}"],
    "es": ["mi clave privada es {k}", "clave privada: {k}", "esta es mi clave {k}"],
    "ca": ["la meva clau privada és {k}", "clau privada {k}"],
    "pt": ["minha chave privada é {k}", "chave privada: {k}"],
    "fr": ["ma clé privée est {k}", "cle privee: {k}"],
    "de": ["mein privater Schlüssel ist {k}", "privater Schluessel: {k}"],
    "it": ["la mia chiave privata è {k}", "chiave privata: {k}"],
    "nl": ["mijn privésleutel is {k}", "privesleutel: {k}"],
}

KEY_FRAMES = {
    "en": ["{k}", "here {k}", "is this what you need? {k}", "my wallet backup:\n{k}\nplease help", "{k} pls help me recover",
           "I exported this from the app {k}"],
    "es": ["{k}", "aqui {k}", "esto es lo que me sale {k}", "mi copia de seguridad:\n{k}"],
    "pt": ["{k}", "aqui {k}", "meu backup:\n{k}"],
    "fr": ["{k}", "voici {k}", "ma sauvegarde :\n{k}"],
    "de": ["{k}", "hier {k}", "mein Backup:\n{k}"],
    "it": ["{k}", "ecco {k}", "il mio backup:\n{k}"],
    "nl": ["{k}", "hier {k}", "mijn back-up:\n{k}"],
    "ca": ["{k}", "aquí {k}", "la meva còpia:\n{k}"],
}

PHRASE_LANGS = ["english", "spanish", "french", "italian", "portuguese"]
CHAINS = [("ethereum", "https://etherscan.io/tx/{h}", True), ("bsc", "https://bscscan.com/tx/{h}", True),
          ("bitcoin", "https://mempool.space/tx/{h}", False), ("bitcoin", "https://blockchair.com/bitcoin/transaction/{h}", False),
          ("tron", "https://tronscan.org/#/transaction/{h}", False), ("polygon", "https://polygonscan.com/tx/{h}", True),
          ("solana", "https://solscan.io/tx/{h}", None)]


def tx_hash(chain_0x: bool | None) -> str:
    if chain_0x is None:
        return b58encode(rng.randbytes(64))  # a Solana signature
    h = rng.randbytes(32).hex()
    return "0x" + h if chain_0x else h


def wif() -> str:
    version = rng.choice([0x80, 0x80, 0x80, 0xEF])
    compressed = rng.random() < 0.7
    return b58check_encode(bytes([version]) + rng.randbytes(32) + (b"\x01" if compressed else b""))


def xprv() -> str:
    return Mnemonic("english").to_hd_master_key(rng.randbytes(64), testnet=rng.random() < 0.2)


def phrase() -> str:
    m = Mnemonic(rng.choice(PHRASE_LANGS))
    words = m.to_mnemonic(rng.randbytes(rng.choice([16, 20, 24, 28, 32]))).split()
    layout = rng.choice(["spaces", "lines", "numbered", "commas", "upper"])
    if layout == "lines":
        return "\n".join(words)
    if layout == "numbered":
        return "\n".join(f"{i}. {w}" for i, w in enumerate(words, 1))
    if layout == "commas":
        return ", ".join(words)
    if layout == "upper":
        return " ".join(words).upper()
    return " ".join(words)


def typo(text: str) -> str:
    """Customers' spelling: no accents, lower case, a doubled letter now and then."""
    if rng.random() < 0.25:
        text = text.translate(str.maketrans("áéíóúàèòçãõêôüöäñ", "aeiouaeocaoeouoan"))
    if rng.random() < 0.2:
        text = text.lower()
    return text


def rows() -> list[dict]:
    out = []
    langs = list(ASKS)
    # tx hashes asked for
    for _ in range(360):
        lang = rng.choice(langs)
        chain, url, is0x = rng.choice(CHAINS)
        h = tx_hash(is0x)
        template = rng.choice(TX_ANSWERS[lang])
        text = typo(template.replace("{u}", url)).replace("{h}", h)
        out.append({"lang": lang, "agent_last": rng.choice(ASKS[lang]), "chain": rng.choice([chain, None]),
                    "text": text, "label": "tx", "group": "asked_tx", "value": h})
    # certain secrets, with and without a preceding request for a transaction id
    makers = [("wif", wif), ("xprv", xprv), ("phrase", phrase)]
    for _ in range(420):
        lang = rng.choice(langs)
        asked = rng.random() < 0.4
        kind, make = rng.choice(makers + [("hex_cued", None)])
        if kind == "hex_cued":
            k = rng.randbytes(32).hex()
            if rng.random() < 0.3:
                k = "0x" + k
            text = typo(rng.choice(KEY_CUES[lang])).replace("{k}", k)
        else:
            k = make()
            text = typo(rng.choice(KEY_FRAMES[lang])).replace("{k}", k)
        out.append({"lang": lang, "agent_last": rng.choice(ASKS[lang]) if asked else "", "chain": None,
                    "text": text, "label": "secret", "group": kind + ("_after_ask" if asked else ""), "value": k})
    # bare hex keys with no cue and no request: ambiguous, must be sealed (not in clear)
    for _ in range(60):
        lang = rng.choice(langs)
        k = rng.randbytes(32).hex()
        out.append({"lang": lang, "agent_last": "", "chain": None, "text": rng.choice(KEY_FRAMES[lang]).replace("{k}", k),
                    "label": "secret", "group": "hex_bare", "value": k})
    # bare hex keys answering a request for a transaction id: reported apart
    for _ in range(40):
        lang = rng.choice(langs)
        k = rng.randbytes(32).hex()
        out.append({"lang": lang, "agent_last": rng.choice(ASKS[lang]), "chain": None, "text": rng.choice(["{k}", "here {k}", "aqui {k}"]).replace("{k}", k),
                    "label": "bare_key_after_ask", "group": "bare_key_after_ask", "value": k})
    return out


def main() -> None:
    data = rows()
    rng.shuffle(data)
    for i, row in enumerate(data):
        row["id"] = f"e{i:04d}"
    half = len(data) // 2
    for name, part in (("secret_evidence_dev.jsonl", data[:half]), ("secret_evidence_holdout.jsonl", data[half:])):
        with open(HERE / name, "w", encoding="utf-8") as f:
            for row in part:
                f.write(json.dumps({k: row[k] for k in ("id", "lang", "agent_last", "chain", "text", "label", "group", "value")},
                                   ensure_ascii=False) + "\n")
    print(f"{len(data)} rows: {half} dev, {len(data) - half} held out")


if __name__ == "__main__":
    main()
