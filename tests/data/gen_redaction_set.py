"""Generate tests/data/redaction_set.jsonl (deterministic; re-run to refresh).

    python tests/data/gen_redaction_set.py

Each line: {"id", "text", "lang", "label": "positive"|"negative", "kind", "secret", "note"}.
``secret`` (positives) is the exact secret text that must not survive redaction; the
whole set is synthetic — every key and phrase here was generated for the test and
protects nothing.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from mnemonic import Mnemonic  # noqa: E402

from normalizers.codecs import b58check_encode, b58encode  # noqa: E402

OUT = Path(__file__).with_name("redaction_set.jsonl")
rng = random.Random(20261122)

PROSE = {
    "en": [
        "Hello, I sent 0.5 BTC to my exchange account yesterday and it still has not arrived.",
        "Can you please check what happened to my last withdrawal?",
        "The app shows an error every time I open the wallet screen.",
        "My balance appears twice after the last update, is that normal?",
        "I cannot log in since this morning, the page keeps loading forever.",
        "Please help me, I think someone has access to my account.",
        "I would like to know how long a bank transfer usually takes.",
        "Thank you for the quick answer, it works now.",
        "I lost my phone and I do not know how to recover my wallet.",
        "Is it safe to connect my account to this trading bot?",
        "The verification of my identity document failed again.",
        "I want a refund for the fee you charged me twice.",
        "My wallet does not sync with the network since the upgrade.",
        "Where can I find the invoice for last month?",
        "Could you explain the difference between the two account types?",
        "I tried again today but nothing happened and the money is gone from my bank.",
        "Please close my account and send the remaining funds to my bank.",
        "We are a small business and want to integrate your payment API.",
        "The transfer was marked as completed but my friend did not receive anything.",
        "I have been waiting for three days for an answer, this is unacceptable.",
        "Good morning, I need help with a payment that is stuck as pending.",
        "I changed my phone number and now I cannot receive the login code.",
        "Please call me back when you can, I am available all afternoon.",
        "The card payment was declined even though I have enough money.",
        "Why do I have to verify my address again?",
    ],
    "es": [
        "Hola, envié 120 USDT ayer y todavía no han llegado a mi cuenta.",
        "¿Podéis revisar qué ha pasado con mi última retirada?",
        "La aplicación muestra un error cada vez que abro la cartera.",
        "Mi saldo aparece duplicado después de la última actualización.",
        "No puedo iniciar sesión desde esta mañana, la página no carga.",
        "Por favor ayúdenme, creo que alguien ha entrado en mi cuenta.",
        "Quisiera saber cuánto tarda normalmente una transferencia bancaria.",
        "Muchas gracias por la respuesta rápida, ya funciona.",
        "He perdido el móvil y no sé cómo recuperar mi monedero.",
        "La verificación de mi documento de identidad ha fallado otra vez.",
        "Quiero el reembolso de la comisión que me cobraron dos veces.",
        "Mi cartera no se sincroniza con la red desde la actualización.",
        "¿Dónde puedo encontrar la factura del mes pasado?",
        "Llevo tres días esperando una respuesta, es inaceptable.",
        "Buenos días, necesito ayuda con un pago que sigue pendiente.",
        "Cambié mi número de teléfono y ya no recibo el código de acceso.",
        "El pago con tarjeta fue rechazado aunque tengo saldo suficiente.",
        "Somos una empresa pequeña y queremos integrar vuestra API de pagos.",
        "La transferencia aparece como completada pero mi amigo no recibió nada.",
        "Por favor, llamadme cuando podáis, estoy disponible toda la tarde.",
    ],
    "ca": [
        "Hola, vaig enviar 0,3 ETH ahir i encara no han arribat al meu compte.",
        "Podeu revisar què ha passat amb la meva darrera retirada?",
        "L'aplicació mostra un error cada cop que obro la cartera.",
        "El meu saldo apareix duplicat després de l'última actualització.",
        "No puc iniciar sessió des d'aquest matí, la pàgina no carrega.",
        "Si us plau, ajudeu-me, crec que algú ha entrat al meu compte.",
        "Voldria saber quant triga normalment una transferència bancària.",
        "Moltes gràcies per la resposta ràpida, ja funciona.",
        "He perdut el mòbil i no sé com recuperar el meu moneder.",
        "La verificació del meu document d'identitat ha fallat un altre cop.",
        "Vull el reemborsament de la comissió que em van cobrar dues vegades.",
        "La meva cartera no se sincronitza amb la xarxa des de l'actualització.",
        "On puc trobar la factura del mes passat?",
        "Fa tres dies que espero una resposta, és inacceptable.",
        "Bon dia, necessito ajuda amb un pagament que continua pendent.",
        "He canviat el número de telèfon i ja no rebo el codi d'accés.",
        "El pagament amb targeta va ser rebutjat tot i que tinc saldo suficient.",
        "Som una empresa petita i volem integrar la vostra API de pagaments.",
        "La transferència apareix com a completada però el meu amic no ha rebut res.",
        "Si us plau, truqueu-me quan pugueu, estic disponible tota la tarda.",
    ],
}

# English prose made mostly of BIP-39 words on purpose (they are common English words).
BIP39_HEAVY_PROSE = [
    "Please check the account balance again because the amount looks wrong after the transfer.",
    "I had to wait a long time at the airport and my phone battery was almost empty, so I missed your call.",
    "Your support team was very kind and the answer was simple and clear, thank you again.",
    "There is a problem with the price shown in the app: it seems the total doubled after the update.",
    "I live in a small village near the ocean and the network signal is often weak at night.",
    "My brother bought a new laptop and now the wallet app will not open on either device.",
    "Can you explain the process to verify my identity, I already sent a photo of my card and a bill.",
    "The screen goes black for a moment and then the whole app crashes, I tried to reinstall it twice.",
    "I want to cancel the order because the coin price dropped and the fee is too high for me.",
    "During the holiday I tried to buy some crypto but the payment failed each time with no reason.",
    "abandon all hope and about above absent absorb, said the poem my teacher gave us in class",
    "We need a fresh start: build a better bridge, keep the car clean, recycle paper, plant a tree, visit the zoo.",
]

WORD_LISTS = [  # lists of common words (some are BIP-39 words, most aren't)
    "milk, eggs, bread, butter, apples, cheese, tomatoes, onions, rice, pasta, coffee, sugar, flour",
    "monday tuesday wednesday thursday friday saturday sunday january february march april may june",
    "red green blue yellow orange purple pink brown black white grey silver gold violet",
    "tags: wallet, bitcoin, ethereum, staking, defi, nft, exchange, ledger, metamask, trezor, binance, kraken",
    "apple banana cherry grape lemon mango melon orange peach pear plum kiwi lime",
    "perro gato caballo vaca oveja cerdo gallina conejo pato ratón tigre león lobo",
    "gos gat cavall vaca ovella porc gallina conill ànec ratolí tigre lleó llop",
]

TX_HASH_CUES = [
    "My tx {h} is still unconfirmed.",
    "txid: {h}",
    "The transaction hash is 0x{h}, can you check it?",
    "Here is the explorer link https://mempool.space/tx/{h}",
    "La transacción {h} sigue pendiente.",
    "El hash de la transacció és {h}.",
    "See https://etherscan.io/tx/0x{h} please",
    "I made a deposit, hash {h}, two hours ago.",
]

NEG_CREDENTIAL_PROSE = [
    "My password is not working after the reset.",
    "I forgot my password, how do I reset it?",
    "I forgot my PIN and the app is locked.",
    "Mi contraseña no funciona desde ayer.",
    "He olvidado la contraseña de mi cuenta.",
    "La meva contrasenya és incorrecta segons l'aplicació.",
    "He oblidat el PIN de la targeta.",
    "Mon mot de passe est bloqué depuis hier.",
    "Mein Passwort ist abgelaufen, was soll ich tun?",
    "A minha senha não funciona.",
    "Mijn wachtwoord is verlopen.",
    "The PIN code screen does not appear anymore.",
    "Password reset emails never arrive.",
]

PASSWORD_POS = [
    ("en", "My password is {p} and it still fails", "password"),
    ("en", "password: {p}", "password"),
    ("en", "login with user alice and pwd={p} please", "password"),
    ("es", "Mi contraseña es {p}, no sé qué pasa.", "password"),
    ("es", "contraseña: {p}", "password"),
    ("ca", "La meva contrasenya és {p} però no entra.", "password"),
    ("fr", "Mon mot de passe est {p} merci", "password"),
    ("de", "Mein Passwort lautet {p}.", "password"),
    ("pt", "A minha senha é {p}", "password"),
    ("nl", "Mijn wachtwoord is {p}", "password"),
    ("en", "The password for my account is \"{p}\"", "password"),
]
PIN_POS = [
    ("en", "My PIN is {n}, the card is blocked", "pin"),
    ("en", "PIN: {n}", "pin"),
    ("es", "Mi PIN es {n}", "pin"),
    ("ca", "El meu PIN és {n}", "pin"),
    ("en", "passcode {n} no longer opens the app", "pin"),
    ("de", "Mein PIN-Code ist {n}", "pin"),
]


def password() -> str:
    alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    core = "".join(rng.choice(alphabet) for _ in range(rng.randint(7, 12)))
    return core + rng.choice(["1", "!", "#9", "2024", "_x", "$"])


def prose(lang: str, k: int | None = None) -> str:
    return " ".join(rng.sample(PROSE[lang], k or rng.randint(1, 3)))


def phrase_words(lang: str, strength: int) -> list[str]:
    """A valid phrase from seeded entropy (Mnemonic.generate would use the OS's randomness)."""
    return Mnemonic(lang).to_mnemonic(rng.randbytes(strength // 8)).replace("\u3000", " ").split(" ")


def typo(word: str) -> str:
    if len(word) < 5:
        return word
    i = rng.randrange(1, len(word) - 1)
    op = rng.choice(["sub", "del", "swap", "ins"])
    if op == "sub":
        return word[:i] + rng.choice("aeioulnrst".replace(word[i], "")) + word[i + 1 :]
    if op == "del":
        return word[:i] + word[i + 1 :]
    if op == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    return word[:i] + rng.choice("aeiou") + word[i:]


def layout(words: list[str], style: str) -> str:
    if style == "spaces":
        return " ".join(words)
    if style == "numbered_dot":
        return "\n".join(f"{i}. {w}" for i, w in enumerate(words, 1))
    if style == "numbered_paren":
        return " ".join(f"{i}) {w}" for i, w in enumerate(words, 1))
    if style == "commas":
        return ", ".join(words)
    if style == "lines":
        return "\n".join(words)
    if style == "caps":
        return " ".join(w.capitalize() for w in words)
    if style == "upper":
        return " ".join(w.upper() for w in words)
    raise ValueError(style)


def main() -> None:
    rows: list[dict] = []

    def add(text: str, lang: str, label: str, kind: str = "", secret: str = "", note: str = "") -> None:
        rows.append({"id": f"r{len(rows):04d}", "text": text, "lang": lang, "label": label, "kind": kind,
                     "secret": secret, "note": note})

    # --- recovery phrases in every wordlist, every size, several layouts
    langs = sorted(Mnemonic.list_languages())
    styles = ["spaces", "numbered_dot", "numbered_paren", "commas", "lines", "caps", "upper"]
    for lang in langs:
        for strength in (128, 160, 192, 224, 256):
            for style in rng.sample(styles, 3):
                words = phrase_words(lang, strength)
                secret = layout(words, style)
                host = rng.choice(["en", "es", "ca"])
                text = rng.choice([
                    f"{prose(host, 1)}\n{secret}\n{prose(host, 1)}",
                    f"{secret}",
                    f"{prose(host, 1)} {secret}",
                ])
                add(text, host, "positive", "recovery_phrase", secret, f"{lang} {len(words)} words {style}")
    # typos: one or two single-letter typos in Latin wordlists
    for lang in ("english", "spanish", "french", "italian", "portuguese", "czech"):
        for n_typos in (1, 1, 2):
            words = phrase_words(lang, rng.choice([128, 256]))
            for i in rng.sample(range(len(words)), n_typos):
                words[i] = typo(words[i])
            secret = layout(words, rng.choice(["spaces", "numbered_dot", "commas"]))
            add(f"{prose('en', 1)}\n{secret}", "en", "positive", "recovery_phrase", secret, f"{lang} {n_typos} typo(s)")
    # accents dropped (Spanish, French), and 11 real words + one garbled word of 12
    for lang in ("spanish", "french"):
        for _ in range(3):
            import unicodedata

            words = [unicodedata.normalize("NFKD", w).encode("ascii", "ignore").decode() for w in phrase_words(lang, 128)]
            secret = " ".join(words)
            add(f"{prose('es', 1)} {secret}", "es", "positive", "recovery_phrase", secret, f"{lang} no accents")
    for _ in range(4):
        words = phrase_words("english", 128)
        words[rng.randrange(12)] = rng.choice(["xqzt", "blorf", "mmmph", "qwrt"])
        secret = " ".join(words)
        add(secret, "en", "positive", "recovery_phrase", secret, "11 of 12 + garbled word")
    # random wordlist words without a valid checksum: redacted by design (see redact.py)
    for lang in ("english", "spanish", "italian"):
        wl = Mnemonic(lang).wordlist
        for _ in range(2):
            secret = " ".join(rng.sample(wl, 12))
            add(f"words: {secret}", "en", "positive", "recovery_phrase", secret, f"{lang} 12 random list words")

    # --- private keys
    for _ in range(6):
        key = rng.randbytes(32)
        h = key.hex()
        add(rng.choice([f"my private key is {h}", f"{h}", f"key: 0x{h} please restore", f"Mi clave privada: {h}"]),
            "en", "positive", "private_key", h, "64 hex")
        wif_c = b58check_encode(b"\x80" + key + b"\x01")
        wif_u = b58check_encode(b"\x80" + key)
        add(f"I exported this from Electrum: {wif_c}", "en", "positive", "private_key", wif_c, "WIF compressed")
        add(f"WIF {wif_u} is it valid?", "en", "positive", "private_key", wif_u, "WIF uncompressed")
        add(f"Importa esta clave: {b58encode(rng.randbytes(64))}", "es", "positive", "private_key",
            "", "solana secret key (base58, 64 bytes)")
        rows[-1]["secret"] = rows[-1]["text"].split(": ", 1)[1]
    for i in range(4):
        m = Mnemonic("english")
        xprv = m.to_hd_master_key(hashlib.sha512(f"seed{i}".encode()).digest(), testnet=bool(i % 2))
        add(f"Here is my master key {xprv} from the backup", "en", "positive", "extended_private_key", xprv, "xprv/tprv")

    # --- passwords and PINs
    for lang, tmpl, kind in PASSWORD_POS:
        for _ in range(2):
            p = password()
            add(tmpl.format(p=p), lang, "positive", kind, p, "password after cue")
    for lang, tmpl, kind in PIN_POS:
        for _ in range(2):
            n = "".join(rng.choice("0123456789") for _ in range(rng.choice([4, 6])))
            add(tmpl.format(n=n), lang, "positive", kind, n, "PIN after cue")

    # --- near misses
    for lang in ("english", "spanish", "french"):
        for _ in range(4):
            words = phrase_words(lang, 128)[:11]
            add(f"{prose('en', 1)} " + " ".join(words), "en", "negative", note=f"{lang} 11 words only")
    for text in BIP39_HEAVY_PROSE:
        add(text, "en", "negative", note="prose rich in BIP-39 words")
    for a, b in zip(BIP39_HEAVY_PROSE, BIP39_HEAVY_PROSE[1:], strict=False):
        add(f"{a}\n{b}", "en", "negative", note="prose rich in BIP-39 words")
    for text in WORD_LISTS:
        add(text, "en", "negative", note="list of common words")
    for tmpl in TX_HASH_CUES:
        for _ in range(2):
            add(tmpl.format(h=rng.randbytes(32).hex()), "en", "negative", note="tx hash with cue")
    for text in NEG_CREDENTIAL_PROSE:
        add(text, "en", "negative", note="credential words without a secret")
    for _ in range(4):
        add(f"Send it to 0x{rng.randbytes(20).hex()} on Ethereum", "en", "negative", note="EVM address")
    # ordinary prose
    for lang in ("en", "es", "ca"):
        for _ in range(40):
            add(prose(lang), lang, "negative", note="ordinary prose")
        for _ in range(5):
            add("\n\n".join(prose(lang, 3) for _ in range(3)), lang, "negative", note="long ordinary prose")

    with OUT.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    pos = sum(r["label"] == "positive" for r in rows)
    print(f"wrote {len(rows)} rows ({pos} positive, {len(rows) - pos} negative) to {OUT}")


if __name__ == "__main__":
    main()
