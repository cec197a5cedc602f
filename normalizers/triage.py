"""Triage: category, priority, security flag, "wants a human" and SMS commands, offline and multilingual.

How a category is chosen (see docs/intelligence/triage-language.md):

1. Commands. A message that is only an opt-out/opt-in/help keyword ("STOP", "BAJA",
   "ARRÊT", "UNSTOP", "START", "HELP", "AYUDA"...) is a ``command`` (``Triage.command`` is
   ``stop`` / ``start`` / ``help``), not a conversation needing an answer.
2. Security rules. Hacked accounts, lost keys / recovery phrases, impersonation and
   scam/phishing reports are decided by explicit multilingual rules first: they must not
   depend on a statistical model's mood (recall goal 98 %).
3. A multinomial naive Bayes model over accent-folded word unigrams, bigrams and character
   4-5-grams, trained by ``python -m normalizers.train_intel`` on the development half of
   ``tests/data/triage_corpus.tsv`` and shipped as ``normalizers/intel_model.json``; loaded
   lazily once per process (pure Python, no numpy). A message the model is unsure about and
   that has no cue at all is a ``general_question``; a question asked before anything happened
   (a hypothetical, "so I don't get fooled", "is that a good idea?") is never made
   security-critical by the model alone (:func:`_precaution`).

The rules and the cue check read the folded text with misspelt security words mended
(:func:`respell`: "hakced", "recovry phrse", "walet").
"""

from __future__ import annotations

import functools
import json
import math
import re
import threading
from pathlib import Path
from typing import Any

from normalizers import redispatch
from normalizers.model import Medium, NormalizedMessage, Triage
from normalizers.textfold import strip_marks

CATEGORIES: tuple[str, ...] = (
    "deposit_not_credited",
    "withdrawal_pending",
    "wrong_network_or_memo",
    "login_or_2fa_lost",
    "account_locked",
    "verification_error",
    "fees",
    "card_payment",
    "claims_and_refunds",
    "scam_or_phishing_report",
    "impersonation",
    "transaction_not_processed",
    "lost_keys_or_recovery_phrase",
    "ui_error",
    "duplicated_balance",
    "payment_delay",
    "bank_integration",
    "suspicious_access_or_hacked_account",
    "sync_problem",
    "security_question",
    "general_question",
    "integrations",
    "command",
)
PRIORITIES: tuple[str, ...] = ("low", "normal", "high", "urgent")
SECURITY_CATEGORIES = frozenset({
    "suspicious_access_or_hacked_account", "lost_keys_or_recovery_phrase", "security_question",
    "scam_or_phishing_report", "impersonation",
})
# The categories whose recall is measured against the 98 % goal (decided by rules first).
SECURITY_CRITICAL = frozenset({
    "suspicious_access_or_hacked_account", "lost_keys_or_recovery_phrase", "scam_or_phishing_report", "impersonation",
})
SECURITY_REDACTIONS = frozenset({"recovery_phrase", "private_key", "extended_private_key"})
MODEL_PATH = Path(__file__).with_name("intel_model.json")

_model: dict[str, Any] | None = None
_lock = threading.Lock()


_APOSTROPHES = re.compile(r"['’`\-]")


@functools.lru_cache(maxsize=64)
def fold(text: str) -> str:
    """Lower-case, accents removed, apostrophes and hyphens as spaces. Cached: one message's
    text is folded by the command check, the security rules, the model and the cue check."""
    return _APOSTROPHES.sub(" ", strip_marks(text.lower())).replace("ß", "ss")


_TOKEN = re.compile(r"[a-z0-9]+")


# Concepts: the same idea in the supported languages, so that what the model learns from a
# Spanish example also holds for Dutch. Each is a feature like any other (its weight is learnt).
_CONCEPTS: dict[str, str] = {
    "deposit": r"deposit\w*|deposit[oe]\w*|depot\w*|ingres\w*|ingreso|einzahl\w*|eingezahlt|stort\w*|gestort|diposit\w*|top ?up|topped|caiu|accredit\w*|credit\w*|gutgeschrieben|bijgeschreven",
    "withdraw": r"withdraw\w*|retir\w*|retrait\w*|saque|sac\w*|sacar|auszahl\w*|opname|prelev\w*|prelievo|payout|uitbetal\w*",
    "pending": r"pending|pendent\w*|pendiente|en attente|in attesa|ausstehend|in behandeling|processing|procesando|processament\w*|en cours|in bearbeitung|elaborazione|hang\w*|stuck|bloccat\w*|still|sigue|encara|toujours|immer noch|nog steeds|ancora|ainda|continua|todavia|when|cuando|quan|quand|wann|wanneer|quando",
    "arrive": r"arriv\w*|lleg\w*|arrib\w*|chega\w*|ankomm\w*|angekommen|aankom\w*|komt|recu|received|recibi\w*|ricevut\w*|ontvangen|nada|nothing|rien|nix|nichts|niks|niente|nao caiu|not in|no aparece|no surt|not show\w*|appear\w*",
    "network": r"network|red|rede|reseau|netzwerk|netwerk|xarxa|rete|chain|bep2\w*|bep20|erc20|trc20|polygon",
    "memo": r"memo|tag|etiqueta|destination tag|tag de desti\w*",
    "wrong": r"wrong|equivocad\w*|equivoc\w*|errad\w*|mauvais|falsch\w*|verkeerd\w*|sbagliat\w*|ongeluk|instead|en vez|au lieu|statt|ipv|em vez|invece",
    "login": r"log ?in|login\w*|logar|loggar\w*|sign in|inici\w* (?:de )?sessi\w*|einlogg\w*|inlogg\w*|connect\w*|entrar|entrer|accedere|accedir|rein|password|contrasen\w*|contrasenya|senha|mot de passe|passwort|wachtwoord",
    "twofa": r"2fa|authenticator|autenticador\w*|autenticatore|authentification|two factor|dos pasos|dos passos|code|codigo|codice|codi",
    "locked": r"lock\w*|bloque\w*|blocked|blokkeer\w*|geblokkeerd|gesperrt|sperr\w*|entsperr\w*|bloccat\w*|sblocc\w*|bloquej\w*|blokead\w*|suspen\w*|sospes\w*|opgeschort|frozen|freeze|congelad\w*|gele|eingefroren|bevroren|desbloq\w*|debloq\w*|deblokk\w*",
    "kyc": r"kyc|verif\w*|identit\w*|passport|pasaporte|passaport|paspoort|ausweis|dni|rg\b|documento?|selfie|proof of address|comprobante|comprovante|justificatif|adressnachweis|adresbewijs",
    "reject": r"reject\w*|rechaz\w*|rebutj\w*|recusad\w*|refus\w*|abgelehnt|afgewezen|rifiutat\w*|declined|geweigerd|failing|falla\w*",
    "fee": r"fees?|comisi\w*|comissi\w*|commission\w*|commissioni|taxa\w*|frais|gebuhr\w*|gebuehr\w*|kosten|transactiekosten|cost\w*|cobran|charge",
    "card": r"card|tarjeta|targeta|cartao|carte|karte\w*|kaart\w*|carta|visa|mastercard|credit ?card|kreditkarte|creditcard",
    "refund": r"refund\w*|reembols\w*|reemborsa\w*|rembours\w*|ruckerstatt\w*|rueckerstatt\w*|erstattung|terugbetal\w*|rimbors\w*|money back|geld zuruck|geld terug|de volta|devuelv\w*|torneu|rivoglio|compensation",
    "twice": r"twice|double|dos veces|dues vegades|duas vezes|deux fois|doppelt|twee keer|due volte|duplica\w*|dobro|dubbel|doppio",
    "balance": r"balance|saldo|solde|guthaben|kontostand|history|historial",
    "crash": r"crash\w*|plant\w*|cierra|tanca|fecha|chiude|sturz\w*|stuerz\w*|freez\w*|congela|trava|fige|penja|blocca|vastloop|loopt vast|blank|blanco|blanc|branca|blanche|weiss|bianco|wit|wont open|no abre|geht nicht auf|nicht mehr auf",
    "screen": r"screen|pantalla|tela|ecran|bildschirm|scherm\w*|schermata|button|boton|bouton|knopf|app|appli\w*|aplicac\w*|aplicativo",
    "bank": r"bank\w*|banco|bancari\w*|banque|bancaire|iban|sepa|pix|ideal|bankrekening|bankkonto|conto bancario",
    "link": r"link\w*|vincul\w*|lier|verknupf\w*|verknuepf\w*|koppel\w*|collegare",
    "sync": r"sync\w*|sincron\w*|synchron\w*|block",
    "safe": r"safe|segur\w*|secur\w*|sicher\w*|sicuro|veilig|2fa|protect\w*|proteg\w*|protecao|schutz\w*|schutze\w*|bescherm\w*|proteggo|proteggere|"
            r"hardware (?:wallet|key)|passkey|yubikey|whitelist|lista blanca|anti ?phishing|palavra passe",
    # the wallet itself (a lost or emptied wallet is named so by many who name nothing else)
    "wallet": r"wallet\w*|cartera|carteira|portefeuille|portafoglio|portemonnee|brieftasche|billetera|moneder|keystore|ledger|trezor|metamask",
    # "I was asleep", "my phone was off": the customer's alibi for something done on the account
    "alibi": r"asleep|sleeping|slept|dormid[oa]|durmiendo|dormia|dormindo|dormais|dormait|dormivo|dormint|geschlafen|schlief|sliep|lag te slapen|"
             r"(?:phone|mobile|cell|movil|celular|telemovel|tel|telephone|handy|telefono|telefoon|mobil)\W+(?:\w+\W+)?(?:off|apagad[oa]|desligad[oa]|eteint|aus|spento|uit|apagat)",
    # a credential or a detail on the account that is not the customer's
    "notmine": r"not mine|isn t mine|no es (?:el |la )?(?:mio|mia|meu|meva)|nao e (?:o |a )?(?:meu|minha)|(?:plus|pas) (?:le |la )?mien\w*|nicht (?:mehr )?(?:meins|meiner|meine)|"
               r"niet (?:meer )?van mij|non e (?:il |la )?(?:mio|mia)|no es (?:el |la )?meu|never seen|nunca (?:he )?visto|nunca vi|jamais vu|nie gesehen|nooit gezien|mai vist|mai visto",
    "invest": r"invest\w*|invert\w*|inverti\w*|investieren|investeren|investire|trading|trader|profit\w*|ganancia\w*|lucro\w*|rendement\w*|gewinn\w*|winst|guadagn\w*|beneficis|rendiment\w*|returns",
    "restore": r"restor\w*|restaur\w*|herstel\w*|wiederherstell\w*|ripristin\w*|recupera\w*|recover\w*|import\w*|zin",
    "hours": r"hours|horario\w*|horari|horaires|offnungszeiten|oeffnungszeiten|openingstijden|orari",
    "support_coin": r"support|soport\w*|acept\w*|accept\w*|unterstutz\w*|unterstuetz\w*|ondersteun\w*|supportate|aceitam|coins?|monedas|solana|desktop|pc|ordinador|computador",
    "api": r"api|webhook\w*|401|403|sdk|endpoint",
    "late": r"late|retras\w*|retard|atrasad\w*|verspat\w*|verspaet\w*|vertraagd|ritardo",
    "payment": r"payment|pago|pagamento|paiement|zahlung|betaling|pagament",
    "transaction": r"transac\w*|transakt\w*|transaz\w*|transactie|tx|txid|confirm\w*|bestatigt|bestaetigt|bevestigd",
    "seed": r"seed|frase|phrase|recovery|backup|mnemonic|words|wortern|woertern|paraulas|twelve words|doce palabras|secret words|(?:12|24) (?:words?|palabras|paraules|palavras|mots|parole|woorden|worter|woerter)|palabras|paraules|palavras|mots|parole|woorden|worter|woerter|private key|clave privada|herstelzin",
    "dm": r"telegram|whatsapp|twitter|instagram|discord|dm\w*|appte|ecrit|escribio|chamou|angeschrieben|contacte\w*|contacted|messag\w*",
    "mail": r"e ?mail|mail|correo|correu|sms|link|enlace|liens?|site|web|website|pagina|airdrop|investment|inversion|investimento|investissement",
    "fake": r"fake|falso|falsa|faux|fausse|nep|presunto|supuesto|suposto|suposat|angeblich\w*|zogenaamde|soi disant|pretend\w*|claim\w*|promis\w*|prometi\w*|beloofde|versprochen",
    "account": r"account|cuenta|conta|compte|konto|conto|acc",
    "gone": r"gone|took|taken|sumiu|disparu|verdwenen|llevo|weg|sparito|desaparec\w*|vanished|empty|vacia\w*|leeg",
    "failed": r"fail\w*|fallo|fallat|falhou|echoue|fehlgeschlagen|mislukt|fallita",
    # a how-to / where-is question (a security question about the seed is no lost seed)
    "howto": r"how (?:do|can|should|to)|what s the (?:best|safest)|whats the (?:best|safest)|where (?:is|do i find|can i find)|is it (?:safe|ok|okay|normal|risky)|"
             r"como (?:puedo|hago|se|activo|configuro|guardo|sei|faco|posso)|donde (?:esta|encuentro)|onde (?:fica|acho|esta)|es (?:seguro|normal)|e seguro|e normal|"
             r"comment (?:je|faire|on)|ou (?:est|trouver)|c est (?:sur|risque|normal)|est ce que je peux|wie (?:kann|mache|richte|sichere|aktiviere)|wo (?:ist|finde)|ist es (?:sicher|riskant|normal)|"
             r"hoe (?:kan|stel|zet|bewaar|doe)|waar (?:is|vind|zit)|is het (?:veilig|riskant|normaal)|come (?:posso|faccio|imposto|attivo|capisco)|dove (?:e|trovo)|e (?:sicuro|rischioso|normale)|"
             r"com (?:puc|faig|activo|configuro)|on (?:es|trobo)|es segur",
    # a hypothetical ("if I lose my phone"): no incident yet
    "hypo": r"if i (?:lose|lost|forget|get)|what happens if|if (?:someone|somebody|a thief|they) (?:steals?|stole|gets?|hacks?|takes?)|"
            r"si (?:me )?roban|si (?:alguien|algu) (?:me )?(?:roba|robe|hackea)|se (?:me )?roubarem|se alguem (?:roubar|hackear)|si on me vole|si quelqu un (?:vole|pirate)|"
            r"wenn (?:mir )?jemand|falls jemand|als iemand|se (?:mi )?rubano|se qualcuno (?:mi )?(?:ruba|hackera)|si em roben|si algu (?:em )?roba|"
            r"si (?:pierdo|perdiera|olvido|je perds|je perdais|perdo)|que pasa si|o que acontece se|se (?:eu )?perder|se perdo|"
            r"que se passe t il si|wenn ich .{0,20}verliere|was passiert wenn|als ik .{0,20}verlies|wat gebeurt er als|cosa succede se|que passa si|en cas de",
    # a loss or a "never backed up" (lost seed, forgotten password)
    "loss": r"lost|lose|forgot\w*|perd\w*|olvid\w*|oblid\w*|oubli\w*|verlor\w*|vergess\w*|vergeten|kwijt|esqueci\w*|dimentica\w*|never (?:wrote|saved|backed)|nunca (?:anote|apunte|guarde)|"
            r"jamais note|nie aufgeschrieben|nooit opgeschreven|mai scritt\w*|no (?:la |lo )?tengo|nao tenho|je n ai (?:plus|pas)|hab (?:sie |die )?nicht|heb (?:ze |hem )?niet|non (?:ce )?l ho",
}
_CONCEPTS_COMPILED = tuple((name, re.compile(r"(?<![a-z0-9])(?:" + pat + r")(?![a-z0-9])")) for name, pat in _CONCEPTS.items())
_HYPO = dict(_CONCEPTS_COMPILED)["hypo"]
#: concepts that only tell a text names something support-related (the cue check), not model
#: features: "wallet" is in every category's words, and as a 12-fold feature it pulled "how do
#: I connect my wallet to a dApp?" to a scam report in cross-validation by author
CUE_ONLY = frozenset({"wallet"})
CONCEPT_REPEAT = 12
#: character n-gram sizes (4-5 generalised better than 3-5 in cross-validation by author)
CHAR_NS: tuple[int, ...] = (4, 5)


#: words whose misspellings are worth mending before the rules and the cue check read a text
#: ("hakced", "recovry phrse", "walet", "emial", "coreo", "frace"): the model reads character
#: n-grams and copes with a typo, the rules and the concepts match whole words and do not
RESPELL_TERMS: tuple[str, ...] = (
    # long, distinctive words only: a short one has real neighbours ("spam"/"scam", "sede"/"seed",
    # "lots"/"lost", "fase"/"frase", "Betrag"/"Betrug", "peso"/"perso")
    "hacked", "hacker", "account", "wallet", "recovery", "phrase", "password", "email", "restore", "stolen", "scammed",
    "private", "withdrawal", "investment", "impersonating", "phishing",
    "hackeado", "hackeada", "hackearon", "cuenta", "correo", "contrasena", "billetera", "cartera", "recuperacion", "palabras", "estafaron", "robaron", "semilla",
    "carteira", "recuperacao", "palavras", "roubaram", "hackearam",
    "compte", "portefeuille", "recuperation",
    "passwort", "gehackt", "wiederherstellung", "wiederherstellungsphrase", "verloren", "gestohlen",
    "wachtwoord", "herstelzin", "oplichter", "opgelicht", "gestolen", "portemonnee",
    "portafoglio", "recupero", "hackerato",
    "contrasenya", "paraules", "recuperacio",
)
_RESPELL_BY_FIRST: dict[str, tuple[str, ...]] = {}
for _t in sorted(set(RESPELL_TERMS)):
    _RESPELL_BY_FIRST[_t[0]] = (*_RESPELL_BY_FIRST.get(_t[0], ()), _t)


def _one_edit(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` differ by one insertion, deletion, substitution or swap of two
    neighbouring letters (and are not equal)."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    i = 0
    while i < len(short) and short[i] == long_[i]:
        i += 1
    return short[i:] == long_[i + 1:]


@functools.lru_cache(maxsize=4096)
def _respelt(word: str, known: frozenset[str]) -> str:
    if len(word) < 5 or len(word) > 24 or word in known or not word.isalpha():
        return word
    for term in _RESPELL_BY_FIRST.get(word[0], ()):
        if _one_edit(word, term):
            return term
    return word


def respell(folded: str) -> str:
    """``folded`` with each word the training rows never use (fewer than twice) that is one edit
    away from a :data:`RESPELL_TERMS` word spelt as that word."""
    known = model()["known"]
    return _TOKEN.sub(lambda m: _respelt(m.group(0), known), folded)


_WORD_START = r"(?<![a-z0-9])"


@functools.cache
def _concept_rules() -> tuple[tuple[str, redispatch.Rule], ...]:
    """``_CONCEPTS_COMPILED`` for words joined by single spaces, searched in ``" " + spaced``:
    there a word starts exactly after a space, so the leading space replaces the look-behind
    (and the regex engine skips to the spaces instead of trying every position)."""
    return tuple((name, redispatch.Rule(f"(?:{pat})(?![a-z0-9])", prefix=" ")) for name, pat in _CONCEPTS.items())


@functools.lru_cache(maxsize=16)
def _concepts_in(spaced: str) -> tuple[str, ...]:
    """The concepts named in ``spaced`` (folded words joined by single spaces), in ``_CONCEPTS``
    order: those ``_CONCEPTS_COMPILED`` finds in it. Cached: the model's features and the cue
    check read the same words when the text is short (and needs no respelling)."""
    padded = " " + spaced
    return tuple(name for name, rule in _concept_rules() if rule.found(padded))


def has_cue(text: str) -> bool:
    """Whether ``text`` names any support concept at all (else it is a general question)."""
    spaced = " ".join(_TOKEN.findall(respell(fold(text))))
    return bool(_concepts_in(spaced))


def features(text: str) -> list[str]:
    """Concepts, word unigrams, word bigrams and character n-grams (``CHAR_NS``) of the folded words."""
    folded = fold(text)
    words = _TOKEN.findall(folded)
    spaced = " ".join(words)
    out = [f"k:{name}" for name in _concepts_in(spaced) if name not in CUE_ONLY] * CONCEPT_REPEAT
    out += [f"w:{w}" for w in words]
    out += [f"b:{a}_{b}" for a, b in zip(words, words[1:], strict=False)]
    for w in words:
        padded = f"<{w}>"
        for n in CHAR_NS:
            out += [f"c:{padded[i:i + n]}" for i in range(len(padded) - n + 1)]
    return out


# --- 1. commands -------------------------------------------------------------------------
_COMMANDS: dict[str, str] = {
    **dict.fromkeys((
        "stop", "stopall", "stop all", "stop sms", "unsubscribe", "cancel", "end", "quit", "optout", "opt out",
        "baja", "darme de baja", "arret", "stopp", "abmelden", "parar", "sair", "cancelar", "ferma", "basta",
        "afmelden", "baixa", "desinscribir", "desabonner", "desinscrire",
    ), "stop"),
    **dict.fromkeys(("start", "unstop", "subscribe", "yes", "alta", "si", "sim", "oui", "ja", "inici", "iniciar", "reprendre"), "start"),
    **dict.fromkeys(("help", "info", "ayuda", "aide", "hilfe", "ajuda", "aiuto", "hulp"), "help"),
}


def command(text: str) -> str | None:
    """``stop`` / ``start`` / ``help`` when the whole message is such a keyword, else None."""
    words = _TOKEN.findall(fold(text or ""))
    if not words or len(words) > 3:
        return None
    return _COMMANDS.get(" ".join(words))


# --- 2. security rules (over folded text; word-start anchored) ---------------------------
_SEED = (
    r"(?:paper\w*|papel\w*|papier\w*|zettel|foglio|foglietto|carnet|notebook|paperet|sheet|note)\b.{0,6}\b(?:with|con|com|met|mit|avec|amb|de|der|di) (?:the |my |mis |las |les |mijn |meine |den |i miei |le |as |minhas |mes |meus |les meves |mes )?(?:\d\d )?"
    r"(?:words|palabras|paraules|palavras|woorden|worter|woerter|mots|parole|woordjes|paroline|palabritas|parauletes|palavrinhas|petits mots|wortchen|little words)|"
    r"keystore|wallet ?file|wallet ?dat|(?:archivo|fichier|arquivo|datei|bestand|file) (?:de la |du |da |der |van de |del )?(?:cartera|portefeuille|carteira|wallet|keystore)|"
    r"(?:seed|recovery|backup|mnemonic|secret)(?! ?codes?\b)(?! ?(?:keys?|key file) for (?:2fa|the authenticator)) ?(?:phrase|words?)?|seed|seedphrase|seed ?zin|mnemoni\w*|"
    r"frase (?:semilla|de recupera\w*|de respaldo|secreta|segreta|di recupero|de seguranca)|frase|"
    r"(?:12|24|twelve|doce|dotze|douze|zwolf|zwoelf|dodici|twaalf) (?:words|palabras|paraules|mots|palavras|woerter|worter|parole|woorden)|"
    r"private key|private keys|privat\w* schlussel\w*|prive ?sleutel|private sleutel|chiav\w* privat\w*|"
    r"clave privada|clau privada|cle privee|cles privees|chave privada|herstel ?zin|herstelwoorden|"
    r"wiederherstellungs\w*|phrase de recuperation|phrase secrete|phrase|parole segrete|paraules de recuperacio"
)
_LOSS = (
    r"unreadable|illegible|ilegible|illisible|unlesbar|onleesbaar|illeggibil\w*|ilegivel|il legible|no se lee|no es llegeix|nao da (?:pra|para) ler|on (?:ne )?lit plus|non si legge|"
    r"in the wash|through the wash|washing machine|lavadora|maquina de lavar|machine a laver|passe a la machine|waschmaschine|wasmachine|in de was|lavatrice|rentadora|lavanderia|"
    r"mojad\w*|se me mojo|molhou|mouille\w*|nass geworden|nat geworden|bagnat\w*|mullat|water damage|"
    r"missing (?:one|a|1|two|2)|(?:me falta|em falta|me faltan|falta|manque|fehlt|fehlen|mis|missen|manca|mancano) (?:one|a|1|2|un|una|uma|um|ein|een|due|dos|duas|deux|zwei|twee)? ?"
    r"(?:word|palabra|paraula|palavra|mot|wort|woord|parola)|lost|lose|losing|misplaced|forgot\w*|perd\w*|pers[oa]\b|olvid\w*|oblid\w*|oubli\w*|verlor\w*|verlier\w*|vergess\w*|"
    r"vergeten|vergat|kwijt\w*|esqueci\w*|esquec\w*|dimentica\w*|scordat\w*|can ?t find|cannot find|no encuentro|"
    r"no (?:la|lo|las|los) encuentro|no trobo|no (?:la|les) trobo|non trovo|non (?:la|lo|le) trovo|nao (?:a |as )?encontro|"
    r"je ne (?:la|le|les) trouve plus|ne (?:la|le|les) retrouve|finde (?:sie|ihn|es) nicht|vind (?:ze|hem|het) niet|"
    r"don ?t have|do not have|no tengo|no tinc|nao tenho|n ai plus|je n ai pas|keine|niet meer|non ho|"
    r"don ?t remember|can ?t remember|no recuerdo|no me acuerdo|no em recordo|no me n recordo|nao lembro|nao me lembro|"
    r"ne me souviens|me souviens plus|erinnere mich nicht|weiss (?:sie|es|ihn|die) nicht mehr|non ricordo|non mi ricordo|"
    r"weet (?:ik )?(?:ze |hem |het )?niet meer|wiped|deleted|erased|destroyed|burn(?:ed|t)|thrown away|"
    r"nobody knows|no one knows|nadie (?:sabe|conoce)|ninguem (?:sabe|conhece)|personne ne (?:connait|sait)|niemand (?:kennt|weiss|weet|kent)|nessuno (?:sa|conosce)|ningu (?:sap|coneix)|"
    r"weggegooid|weggeworfen|tir\w* a la basura|tirei|joguei fora|jete\w*|buttat\w*|llencat|threw (?:it )?away|thrown out|tossed|"
    r"borr\w*|esborr\w*|apag\w*|supprim\w*|efface\w*|geloscht|geloescht|verwijderd|cancellat\w*|"
    r"sumiu|desapareci\w*|disparu\w*|verschwunden|sparit\w*|weg\b|gone\b"
)
_HACKED_SUBJECT = r"(?:someone|somebody|alguien|algu|alguem|quelqu un|jemand|qualcuno|iemand|they|on a|ils ont|han|hanno|hebben ze)"
_CREDENTIAL = (
    r"(?:e ?mail\w*|mail\w*|correo|correu|password|pass|mot de passe|mdp|contrasena|contrasenya|clave|senha|passwort|kennwort|"
    r"wachtwoord|phone number|numero|telefon\w*|2fa)"
)
#: movements the customer finds strange, or security codes that stopped arriving (after a credential changed)
_STRANGE_MOVES = (r"(?:strange|weird|odd|unknown|raros?|raras?|extran\w*|estranh\w*|bizarre\w*|etrange\w*|komisch\w*|seltsam\w*|merkwurdig\w*|rare|vreemde|onbekende|strani|strane|estranys?|estranyes) "
                  r"(?:transac\w*|movement\w*|movimient\w*|movimenta\w*|mouvement\w*|bewegung\w*|transaktion\w*|transacties|movimenti|moviments|operacion\w*|operacoes|activity|actividad)|"
                  r"(?:movimient\w*|movimenta\w*|mouvement\w*|movimenti|moviments|operacion\w*|transac\w*|transaz\w*) (?:raros?|raras?|extran\w*|estranh\w*|bizarre\w*|etrange\w*|strani|strane|estranys?|sospech\w*|suspeit\w*|suspect\w*|sospett\w*)|"
                  r"(?:no|not|nao|plus|keine|geen|piu|mes) (?:\w+ ){0,3}(?:codes?|codigos?|codis?|codici|sms)")
_OTHER_PERSON = (r"someone else|somebody else|another person|otra persona|outra pessoa|una altra persona|quelqu un d autre|jemand (?:anderes|anders)|"
                 r"iemand anders|qualcun altro|un altra persona|un altro")
_ROLE = (r"support\w*|soporte|suporte|supporto|suport|helpdesk|moderat\w*|admin\w*|agent\w*|atendente|assistenza|kundenservice|klantenservice|"
         r"comercial|commercial|commerciale|buitendienst|aussendienst|vertreter|vertegenwoordiger|rappresentante|representative|account rep|"
         r"medewerker\w*|mitarbeiter\w*|employee|empleado|funcionari\w*|employe\w*|dipendent\w*|treballador|account manager|gestor\w*|gerente|"
         r"conseill\w*|betreuer\w*|accountmanager|consulente|operator\w*|operador\w*|operatore")
_SOCIAL = r"instagram|insta|telegram|whatsapp|discord|twitter|x|facebook|fb|tiktok|youtube|signal|linkedin"
_YOURS = (r"(?:from you|of yours|your (?:team|company|staff|support)|de ustedes|de vosotros|vuestr\w*|de voces|de vcs|vosso|vossa|de chez vous|votre|vostr\w*|"
          r"von euch|eure[rmn]?|van jullie|jullie|di voi)")
_CONTACTED = (r"called|calls|rang|phoned|gebeld|belde|angerufen|rief|llam\w*|ligou|ligaram|appel\w*|chiamat\w*|chiamo|trucat|truca\w*|"
              r"messaged me|texted me|wrote me|wrote to me|dm\w* me|me escribi\w*|me escreveu|m a ecrit|schrieb mir|hat mir geschrieben|schreef me|mi ha scritto|m ha escrit")
_CLAIM = (r"saying|said|says|claim\w*|present\w* (?:himself |herself |themselves )?(?:as|comme|como|come|com|als)|se presentant|se presentaba|se presento|se apresentou|"
          r"stellte sich\b.{0,30}\bvor|stelde zich\b.{0,30}\bvoor|presentandosi|si e presentat\w*|es va presentar|on behalf of|namens|en nombre de|em nome d\w*|au nom de|im namen|a nome d\w*|en nom de|"
          r"dicendo|diceva|dizendo|disse|disant|diciendo|decia|dijo|sagte|sagt|sei|zei|zegt|deia|diu|dient|"
          r"works?|worked|working|trabaj\w*|trabalh\w*|travaill\w*|arbeit\w*|werkt\w*|lavor\w*|treball\w*")
_SEC_RULES: tuple[tuple[str, str], ...] = (
    ("suspicious_access_or_hacked_account",
     r"hack\w*|hak(?:c\w*|e[ard]\w*|ke[dr]\w*)|gehackt|pirate\w*|piratead\w*|hackead\w*|hackejat\w*|hackerat\w*|compromis\w*|comprometid\w*|"
     r"compromes\w*|kompromittiert|gecompromitteerd|stolen|stole\b|robad\w*|robat\w*|robaron|roubad\w*|roubaram|"
     r"gestohlen|geklaut|gestolen|rubat\w*|drained|vaciad\w*|vaciaron|esvazi\w*|svuotat\w*|leeggehaald|leeggeroofd|"
     r"leergeraumt|leergeraeumt|ausgeraubt|gekapert|gekaapt|(?:ont|a|avez) vide\b|vide mon|vide ma|vide mes|buidat|han buidat|"
     r"wasn ?t me|was not me|wasnt me|no fui yo|no he sido yo|no era yo|no era jo|no he estat jo|nao fui eu|"
     r"n etait pas moi|ce n etait pas moi|war nicht ich|das war ich nicht|war ich nicht|non ero io|non sono stato io|"
     r"was ik niet|ben ik niet geweest|unauthori[sz]ed|sin autorizacion|sense autoritzacio|sem autorizacao|"
     r"non autorizzat\w*|nicht autorisiert|niet geautoriseerd|non autorise\w*|"
     r"without my (?:permission|consent|knowledge)|sin mi (?:permiso|consentimiento)|sense el meu (?:permis|consentiment)|"
     r"sem (?:a )?minha (?:permissao|autorizacao)|sans mon (?:accord|autorisation|consentement)|"
     r"ohne (?:meine|mein) (?:zustimmung|erlaubnis|wissen)|senza (?:il mio )?(?:permesso|consenso)|zonder (?:mijn )?(?:toestemming|medeweten)|"
     r"(?:didn ?t|did not|never) (?:make|do|send|authori[sz]e|approve) (?:this|that|these|those|it|any)|"
     r"(?:unknown|unrecogni[sz]ed|strange|suspicious) (?:device|login|log in|sign ?in|ip|location|session)|"
     r"dispositivo (?:desconocido|desconhecido|sconosciuto)|dispositiu desconegut|appareil inconnu|"
     r"unbekannte\w* (?:gerat|geraet|anmeldung|login|ip)|onbekend\w* (?:apparaat|login|inlog|ip)|"
     r"(?:login|log in|sign ?in|inicio de sesion|connexion|anmeldung|inlog|accesso|acesso)s? (?:alert|notification|attempt|email|mail)s? (?:from|de|desde|aus|uit|vanuit|da)|"
     r"(?:alert\w*|aviso|avis|notifica\w*|notificac\w*|benachrichtigung|meldung|melding|inlogmelding|anmeldebenachrichtigung)\s(?:de |di |d |da |van |voor |zur |uber |ueber )?"
     r"(?:login|connexion|acceso|accesso|acesso|inicio de sesion|inici de sessio|anmeldung|inlog|log in)?\s?(?:from|de|desde|depuis|aus|uit|vanuit|da|dalla|dal|dallo|des de|van)\b.{0,120}"
     r"\b(?:gone|left|out|partis?|parti\w*|weg|spariti|sparit\w*|usciti|sortit\w*|sairam|saiu|salieron|salio|se fue|desaparec\w*|sumi\w*|disparu\w*|verdwenen|empty|zero|0)\b|"
     rf"{_CREDENTIAL}\b.{{0,25}}\b(?:is|was|got|has been|wurde|ist|fue|ha sido|foi|a ete|e stato|ha estat|werd|been)\b.{{0,8}}\b(?:changed|cambiad\w*|canviad\w*|canviat|mudad\w*|mudaram|alterad\w*|change|geandert|geaendert|veranderd|gewijzigd|cambiat\w*)\b.{{0,60}}"
     rf"\b(?:gone|took|taken|stole|weg|levaram|sumi\w*|llevaron|desaparec\w*|disparu|vide|sparit\w*|verdwenen|empty|vacia|vazia|leeg|zero|0|{_STRANGE_MOVES})\b|"
     rf"(?:mudaram|alteraram|cambiaron|(?:they|someone|somebody|he|she) changed|ont change|on m a change|m ont change|hanno cambiato|mi hanno cambiato|han canviat|m han canviat) "
     rf"(?:a |la |el |il |mon |ma |minha |mi |meu |my |mein\w* |l )?(?:adresse |adreca |endereco |direccion |indirizzo )?(?:de |di |d )?{_CREDENTIAL}\b.{{0,60}}"
     rf"\b(?:gone|took|taken|stole|weg|levaram|sumi\w*|llevaron|desaparec\w*|disparu|vide|sparit\w*|verdwenen|empty|vacia|vazia|leeg|{_STRANGE_MOVES})\b|"
     rf"{_HACKED_SUBJECT}\b.{{0,40}}(?:logged in|log in|has access|got in|entr\w* (?:en|a|al|no|na|nel|in) (?:mi|meu|minha|meva|mio|mia)\b|"
     r"s est connecte|ha entrat|eingeloggt|ingelogd|e entrato|tiene acceso|"
     rf"(?:chang\w*|cambi\w*|canvi\w*|mud\w*|alter\w*|geander\w*|geaendert|veranderd|gewijzigd|modifi\w*)\b.{{0,25}}{_CREDENTIAL})"),
    ("impersonation",
     # "(they called) saying they were from your security team", "said he works for you"
     r"(?:saying|said|says|dizendo|a dizer|disse|disseram|disant|en disant|diciendo|dijo|dijeron|dicendo|diceva|dient|deia|zeggend|zei|zegt|sagte|sagt|claim\w*)\b.{0,20}"
     r"\b(?:(?:he|she|they) (?:was|were|is|are|worked|works)|eram?|era|eran|etai\w*|sono|fosse|war|waren|was|werkte|treballa\w*|trabaja\w*|trabalha\w*|travaill\w*|arbeite\w*|lavora\w*)\b.{0,25}"
     rf"\b(?:{_YOURS}|(?:del|da|do|de la|du|von|van|della|dal|of|from) (?:the |la |el |a |o )?(?:{_ROLE}|equip\w*|team|security|seguridad|seguranca|securite|sicherheit\w*|beveiliging|sicurezza|seguretat|apoio|atencion|service|servicio|servizio))|"
     rf"(?:worked|works|trabaja\w*|trabalha\w*|travaill\w*|arbeite\w*|werkt\w*|lavora\w*|treballa\w*) (?:for|with|con|com|chez|bei|bij|per|amb|para|pour) (?:you|vous|ustedes|vosotros|voces|vcs|euch|jullie|voi|vosaltres)|"
     rf"(?:{_ROLE})\b.{{0,12}}\b(?:{_YOURS})\b.{{0,40}}(?:called|rang|phoned|gebeld|angerufen|llamo|ligou|ligaram|appele|chiamat\w*|trucat|wrote|escribio|escreveu|ecrit|schrieb|schreef|scritto|dm)|"
     rf"(?:called|rang|phoned|gebeld|angerufen|llamo|llamado|ligou|ligaram|appele|chiamat\w*|trucat|contact\w*|dm\w*|escribio|escreveu|schrieb|geschreven|scritto)\b.{{0,40}}\b(?:{_ROLE})\b.{{0,15}}\b(?:{_YOURS})|"
     rf"(?:{_ROLE}) (?:no|en|on|sur|auf|op|su|a|in|via|por|per) (?:{_SOCIAL})\b.{{0,80}}(?:pag\w*|pay|pagar|payer|zahlen|betalen|seed|frase|phrase|words|palabras|palavras|code|codigo|codice|anydesk|install\w*|you|voces|vosotros|ustedes|vous|euch|jullie|voi|vosaltres|vcs|\?)|"
     rf"(?:profil\w*|perfil|account|cuenta|conta|compte|konto|profiel|group|grupo|groupe|gruppe|gruppo|groep|grup|user|usuario|utente|gebruiker|called|named|"
     rf"llamad[oa]|chamad[oa]|nomme|namens|genaamd|chiamat[oa]|anomenat|que se llama|heet|heisst)\b.{{0,20}}\b(?:{_ROLE}) (?:oficial|official|officiel|ufficiale|offiziell\w*|officiele|team)|"
     rf"(?:oficial|official|officiel|ufficiale|offiziell\w*|officiele) (?:{_ROLE})\b.{{0,60}}(?:group|grupo|groupe|gruppe|gruppo|groep|grup|added|agrego|adicionou|ajoute|geholt|toegevoegd|aggiunto|afegit)|"
     r"@\w+.{0,60}(?:actually|really|realmente|vraiment|wirklich|echt|davvero|de verdad|mesmo|de veritat) (?:you|vous|ustedes|voces|euch|jullie|voi|vosaltres)|"
     r"pretend\w* to be|claim\w* to be|impersonat\w*|posing as|posed as|poses as|"
     r"(?:hace|hacen|hizo|hacia|haciendo|haciendose|hacerse|hicieron) pasar|"
     r"(?:fa|fan|feia|fent|fer|va fer) (?:se )?passar|es (?:fa|feia|va fer) passar|"
     rf"(?:passando|passou|passaram|passa|passar) por (?:voces|atendente|funcionario|suporte|vos|voce|da|do|(?:\w+ )?(?:{_ROLE}))|fingi\w* (?:ser|que era)|"
     rf"(?:{_CLAIM})\b.{{0,25}}\b(?:{_ROLE})\b.{{0,12}}\b(?:{_YOURS})|"
     r"(?:account|cuenta|conta|compte|konto|profil\w*|perfil|profiel|page|pagina|group|grupo|groupe|gruppe|gruppo|groep|number|numero|nummer|org|organi[sz]ation|channel|canal|kanal|server|servidor|serveur|repo\w*)\b.{0,15}\b"
     r"(?:with|con|com|avec|mit|met|amb|using|usando|utilisant|che usa|die) (?:the |el |la |o |a |le |il |de |den |het )?(?:your|vuestr\w*|vostr\w*|votre|eure\w*|jullie|seu|sua|de voces|de ustedes) "
     r"(?:logo|name|nombre|nome|nom|naam|foto|photo|picture|avatar|brand\w*|marca|marque|merk|marchio|marke)|"
     rf"(?:{_SOCIAL}) (?:mod|modo|mods|moderat\w*|moderador\w*|admin\w*)\b.{{0,60}}\b(?:priv\w*|dm\w*|direct\w*)|"
     rf"(?:mod|modo|mods|moderat\w*|moderador\w*|admin\w*) (?:de |di |do |da |from |on |van |von |auf |op |sur |en |no |su |in )?(?:{_SOCIAL})\b.{{0,60}}\b(?:priv\w*|dm\w*|direct\w*)|"
     r"(?:fait|faisant|faisait|font|faire) passer|pretend\w* etre|pretendant|"
     r"(?:gibt|gab|gaben|geben|ausgegeben|ausgibt|ausgab)\b.{0,40}\bals\b|sich\b.{0,40}\bals\b.{0,40}\b(?:aus|ausgegeben|ausgibt|ausgab)\b|"
     r"spacci\w*|si fing\w*|fingendosi|sedicente|"
     r"(?:voordeed|voordoet|voordoen|voorgedaan|doet zich|deed zich|doen zich)|"
     r"(?:fake|faux|fausse|falso|falsa|fals|nep|neppe|finto|gefalscht\w*|falscher|falsche) (?:customer )?(?:support|soporte|suporte|supporto|suport|agent\w*|"
     r"admin\w*|staff|team|employee|rep|atendente|funcionari\w*|empleado|tecnic\w*|operator\w*|operador\w*|assistent\w*|"
     r"conseill\w*|mitarbeiter|medewerker|helpdesk|moderat\w*|service|servei|servicio|servico|servizio|kundenservice|klantenservice|"
     r"compte support|cuenta de soporte|account|profil\w*|perfil|compte|konto|cuenta|conta|profiel)|"
     r"(?:support|soporte|suporte|supporto|suport|kundenservice|klantenservice|admin) (?:falso|falsa|fals|faux|fake|nep)|"
     r"supuest\w* (?:agente|soporte|empleado|asesor|tecnico|de|del)|suposat\w* (?:agent|suport|tecnic|de|del)|"
     r"suposto (?:atendente|suporte|funcionario|da|do|de)|soi disant|pretendu\w*|angeblich\w*|zogenaamd\w*|"
     r"presunt\w* (?:operatore|supporto|assistenza|agente|dipendente|del|della|tecnico)|"
     r"(?:says?|said|saying|told me|claim\w*|dice|dijo|diciendo|diu|deia|dizendo|disse|dit|disant|sagt|sagte|zegt|zei|dicendo|diceva)\b.{0,25}"
     r"\b(?:from|de|da|do|du|von|vom|van|della|del|dal)\b.{0,6}\b(?:your|you|vuestro|vuestra|su|vostre|vostra|vos|voces|votre|vous|euch|eurem|eurer|jullie|vostro|vostra)\b.{0,12}"
     r"(?:support|soporte|suporte|supporto|suport|team|equipo|equip|equipe|staff|company|empresa|societe|firma|bedrijf|azienda|"
     r"security|seguridad|seguretat|seguranca|securite|sicherheit|beveiliging|sicurezza|fraud\w*|compliance|customer|atencion|"
     r"assistance|assistenza|servei|service|servizio|servicio|kundendienst|kundenservice|klantenservice|exchange|app)|"
     r"(?:says?|said|saying|claim\w*|dice|dijo|diciendo|diu|deia|dizendo|disse|dit|disant|sagt|sagte|zegt|zei|dicendo|diceva|s est presente\w*|se presento|se apresentou|stellte sich|stelde zich|si e presentat\w*|es va presentar)\b.{0,30}"
     r"\b(?:support|soporte|suporte|supporto|suport|helpdesk|moderat\w*|admin\w*|agent\w*|atendente|assistenza|kundenservice|klantenservice|"
     r"comercial|commercial|commerciale|buitendienst|aussendienst|vertreter|vertegenwoordiger|rappresentante|representative|account rep)\b|"
     r"(?:telegram|whatsapp|dm\w*|insta\w*|twitter|discord|@\w+|call\w*|llam\w*|truca\w*|ligou|ligaram|appel\w*|anruf\w*|angerufen|gebeld|chiamat\w*)"
     r".{0,80}(?:support\w*|soporte|suporte|supporto|suport|helpdesk|moderat\w*|moderador|admin\w*|agent\w*|atendente|assistenza|oficial|official|officiel|ufficial\w*)"
     r".{0,80}(?:(?:is|was) (?:that|this|it|he|she|they) (?:really |actually )?(?:you|real|legit|official)|really you|(?:is|are) (?:that|this|it|they) you|"
     r"son ustedes|sois vosotros|es real|es verdad|de verdad|e verdade|sao (?:voces|vcs)|sao vcs|"
     r"es de veritat|es veritat|sou vosaltres|es vostre|c est (?:vraiment |bien )?vous|c est vrai|c est bien|"
     r"seid ihr|stimmt das|ist (?:das|der|die) .{0,25}echt|echt\?|siete voi|e vero|e reale|sono veri|zijn jullie|klopt dat|is dat .{0,30}echt|"
     r"seed|phrase|frase|12 \w+|24 \w+|private key|"
     r"remote|remoto|fernzugriff|a distance|op afstand|anydesk|teamviewer)|"
     r"dice ser de|dicen ser de|disse que era da|disse que era do|cuenta falsa de soporte|using your (?:logo|name)"),
    ("lost_keys_or_recovery_phrase", rf"(?:{_SEED}).{{0,300}}?(?:{_LOSS})|(?:{_LOSS}).{{0,40}}(?:{_SEED})|"
     # "one of the 24 words is missing", "I only have 23 of the 24 words"
     r"(?:only|solo|so|seulement|nur|alleen|nomes|just|tengo|tenho|tinc|heb|habe|ho|j ai) (?:have |got |tengo |tenho |tinc |heb |habe |ho )?\d{1,2} (?:of|de|van|von|delle|dels|das|sur|des|dei|der|dos|do|di) "
     r"(?:the |les |las |as |de |den |le )?(?:12|24) (?:words|palabras|paraules|palavras|mots|woerter|worter|parole|woorden)|"
     r"(?:missing|me falta|em falta|me faltan|falta|manque|fehlt|fehlen|mis|missen|manca|mancano|perdi|lost|forgot|olvide|oublie|vergessen|vergeten|dimenticato|oblidat|esqueci)"
     r"\b.{0,25}\b(?:word|palabra|paraula|palavra|mot|wort|woord|parola)\w*\b.{0,15}\b(?:of|de|van|von|delle|dels|das|sur|des|dei|der|dos|do|di) (?:the |les |las |as |de |den |le )?(?:12|24)\b|"
     r"(?:word|palabra|paraula|palavra|mot|wort|woord|parola)\w*\b.{0,15}\b(?:of|de|van|von|delle|dels|das|sur|des|dei|der|dos|do|di) (?:the |les |las |as |de |den |le )?(?:12|24)\b.{0,25}"
     r"\b(?:missing|is missing|falta\w*|manque\w*|fehlt|fehlen|manca\w*|ontbreekt|ontbreken)\b"),
    ("scam_or_phishing_report",
     r"(?<!anti )phishing|scam(?!bi)\w*|estafa\w*|estafad\w*|golpe\w*|arnaqu\w*|escroc\w*|betrug\w*|betrog\w*|betruger\w*|truff\w*|"
     r"opgelicht|oplichter\w*|oplichting|fraud(?!\w* (?:department|team|unit|dept))\w*|frauduleu\w*|ponzi|piramid\w*|pyramid\w*|(?:site|sito|seite|siite|web|pagina|page|app|giveaway|airdrop|sorteo|sorteio|concours|gewinnspiel|winactie|concorso|sorteig)\w* (?:finto|finta|fasull\w*|falso|falsa|fals|falsch\w*|faux|fausse|fake|nep)\b|(?:semblava|s assembla|sembla) (?:a )?(?:la |el )?vostr\w*|(?:send|sende|envia\w*|envie|manda\w*|schick\w*|stuur|invia\w*|envoie|envoyez|mandame)\b.{0,12}\b\d+\b.{0,30}\b(?:get|receive|recibe\w*|recibir|te devuelvo|devuelvo|krieg\w*|krijg\w*|ricev\w*|ti ridò|ti rido|torno|et torno|rends|rendrai|recebe\w*|devolvo|te devolvo)\b.{0,15}\d+|(?:sent|send|mande|envie|mandei|enviei|gestuurd|geschickt|envoye|inviato|inviat\w*|vaig enviar|le mande|paid|pague|paguei|bezahlt|betaald|pagato|payed|versato|verse|eingezahlt|gestort|deposited|ingrese)\b.{0,80}\b(?:blocked me|me bloqueo|me bloqueou|m a bloque|hat mich (?:geblockt|blockiert)|heeft me geblok\w*|mi ha bloccato|em va bloquejar|deleted (?:his|her|their|the) (?:acc\w*|profile|account)|borro (?:su|la) cuenta|apagou (?:a|o) (?:conta|perfil)|a supprime son compte|hat (?:seinen|ihren) account geloscht|heeft (?:zijn|haar) account verwijderd|ha cancellato (?:il|l) (?:suo )?(?:account|profilo))|"
     r"site falso|pagina falsa|web falsa|sitio falso|web fals|pagina fals|sito falso|sito fasullo|faux site|site frauduleux|"
     r"(?:fake|gefalscht\w*|nep|faux|fausse)\s?(?:site|website|web ?seite|webseite|seite|page|pagina|app|appli\w*|link|lien|"
     r"e ?mail|mail|sms|nachricht|bericht\w*|message|airdrop|investment|exchange|wallet|token|giveaway|url|version|copy|clone|sorteo|sorteio|concours|gewinnspiel|winactie|concorso|sorteig|live|stream|video)|"
     r"(?:e ?mail|mail|correo|correu|sms|mensaje|missatge|mensagem|message|messaggio|nachricht|bericht|link)\b.{0,60}"
     r"\b(?:asking|asked|pidiendo|pidiendome|pide|demanant|pedindo|pede|demandant|demande|fragt|gefragt|vraagt|chiede|chiedendo)\b.{0,25}"
     r"\b(?:seed|phrase|frase|password|contrasena|contrasenya|senha|mot de passe|identifiants|passwort|wachtwoord|datos|dades|dados|"
     r"donnees|daten|gegevens|dati|private key|clave|chave|code|codigo|codice)|"
     r"nepsite|nepmail|nepapp|neplink|nepbericht\w*|"
     r"(?:email|mail|correo|correu|sms|mensaje|missatge|mensagem|messaggio|link|enlace|enllac|app|airdrop) (?:falso|falsa|fals|fasull\w*|fraudulent\w*)|"
     r"(?:falso|falsa|fals|fasull\w*) (?:sito|airdrop|email|mail|correo|link|enlace|app|sms|mensaje|messaggio)|"
     r"(?:looks?|looked) (?:exactly |just )?like (?:yours|your (?:site|website|app|page)|you guys)|"
     r"(?:igual|identic\w*|parecid\w*|se parece) (?:a|al|que) (?:la |el )?(?:vuestr\w*|vostr\w*|de voces|sua)|"
     r"ressembl\w* (?:a|exactement a) (?:la |le )?(?:votre|vos|la votre|le votre)|aussieht wie (?:eure|ihre|die eure|eure seite)|"
     r"lijkt op (?:die van )?jullie|(?:sembra|identic\w*|uguale) (?:a|al|alla) (?:il |la )?vostr\w*|copia (?:il|la|del|della) vostr\w*|"
     r"(?:e ?mail|mail|correo|correu|sms|message|mensaje|bericht)\b.{0,40}(?:from you|vuestro|vostre|de voces|vient de vous|von euch|vostra|van jullie)|"
     r"(?:double|duplica\w*|dobrar|doubler|verdubbel\w*|verdoppel\w*|raddoppi\w*)\b.{0,12}(?:my|mis|meus|mes|mijn|meine|i miei)? ?(?:btc|crypto|coins|eth|usdt|money|dinero|bitcoin)|"
     # told to move the funds to a "safe" wallet or address
     r"(?:move|moving|send|sending|transfer\w*|mover|muev\w*|enviar|envie|transferir|passer|deplacer|deplace|verschieben|schicken|overzetten|overmaken|zetten|spostare|sposta|trasferire|moure|"
     r"made me send|me hizo enviar|me fez enviar|m a fait envoyer)\b.{0,40}\b(?:safe|secure|segur[ao]|sicher\w*|veilig\w*|sicur[ao]|protected|protegid[ao]|securise\w*) ?"
     r"(?:address|wallet|account|cuenta|conta|compte|konto|rekening|portefeuille|cartera|carteira|adresse|direccion|endereco|indirizzo|adres|vault)?|"
     # verb last (Dutch, German): "mijn btc te verdubbelen", "meine Coins zu verdoppeln"
     r"(?:btc|crypto|coins|eth|usdt|geld|bitcoin)\b.{0,12}(?:verdubbel\w*|verdoppel\w*)"),
)
# funds missing with nothing else said: a break-in, but only when no scam, impersonation or lost
# seed was named ("a look-alike extension, and my funds disappeared" is a scam)
_SEC_RULES += (
    ("suspicious_access_or_hacked_account",
     r"(?:funds|coins|money|crypto|fondos|monedas|dinero|fundos|moedas|dinheiro|fonds|argent|geld|munten|fondi|monete|soldi|fons|monedes|diners)\b.{0,8}"
     r"\b(?:missing|disappeared|vanished|desaparecid\w*|desaparec\w*|sumiram|disparu\w*|verschwunden|verdwenen|spariti|sparite|scompars\w*|desapareguts)"),
)
_SEC_COMPILED = tuple((cat, re.compile(r"(?<![a-z0-9])(?:" + pat + r")")) for cat, pat in _SEC_RULES)

# --- 2b. families of phrasings (issue #16, recall on unseen authors' words) ----------------
# Each family is a combination of general parts (a negation, an action on funds, an object),
# not a list of sentences: "transactions I didn't make", "no lo pedí", "je l'ai pas demandé",
# "die ich nicht gemacht hab", "non l'ho chiesto io" are one idea.
_NEG = (r"(?:not|never|didn t|didnt|did not|haven t|have not|havent|no|nunca|jamas|nao|nem|pas|jamais|rien|nicht|nie|niemals|niet|nooit|non|mai|"
        r"nothing|nada|niks|nix|nichts|niente|nulla|res)")
_GAP = (r"(?:(?:i|yo|eu|je|j|ich|ik|io|jo|lo|la|los|las|le|les|l|me|m|ho|he|ha|hab|habe|heb|ai|avais|ont|have|had|has|it|this|that|"
        r"these|those|any|ever|nada|rien|res|niks|nix|nichts|iets|niente|nulla|nunca|jamais|mai|das|dat|het|ca|pas|ever|them|vaig|ni) ){0,3}")
_ACT = (r"(?:make|made|do|did|done|send|sent|withdr\w*|authori[sz]\w*|approv\w*|request\w*|initiat\w*|order\w*|ask\w*|touch\w*|"
        r"hice|hecho|hiciera|hizo|realice|realizad\w*|envie|enviad\w*|mande|mandad\w*|retire|retirad\w*|autorice|autorizad\w*|pedi|pedid\w*|solicite|solicitad\w*|toque|"
        r"fiz|feito|fez|fizesse|enviei|saquei|autorizei|mexi|"
        r"fet|enviat|retirat|autoritzat|demanat|tocat|"
        r"fait|faits|faite|faites|fasse|envoye\w*|retire\w*|autorise\w*|demande\w*|valide\w*|touche|"
        r"effectu\w*|veranlasst|disposto|dispost\w*|ordenad\w*|ordenei|ordonne\w*|"
        r"gemacht|getan|gesendet|geschickt|abgehoben|ausgezahlt|autorisiert|beauftragt|angefordert|freigegeben|angefasst|"
        r"gedaan|verstuurd|gestuurd|opgenomen|toegestaan|goedgekeurd|aangevraagd|gevraagd|aangeraakt|"
        r"fatt[oaie]|inviat\w*|mandat\w*|prelevat\w*|autorizzat\w*|chiest\w*|richiest\w*|toccat\w*|"
        r"chang\w*|cambie|cambiad\w*|mude\w*|mudei|alterei|troquei|canviat|geandert|geaendert|veranderd|gewijzigd|cambiat\w*|modificat\w*|modifie\w*|"
        r"trade|traded|trading|operad\w*|opere|opero|operat|operei|mexo|mexe|gehandelt|gehandeld|handel|faccio|fatto trading|tradeado|tradei|"
        r"reset|resett\w*|restablec\w*|redefin\w*|reinitialis\w*|zuruckgesetzt|gereset|reimpostat\w*|wanted|wollte|quise|queria|volevo|wilde|voulais|volia)\b"
)
_WITHOUT_ME = (r"without me\b|sin mi\b|sans moi|ohne mich|zonder mij|senza (?:di )?me\b|sense mi\b|sem mim|(?:don ?t|do not|dont) recogni[sz]e|no (?:los |las |lo |la )?reconozco|nao (?:os |as )?reconhec\w*|(?:ne )?(?:les |le |la )?reconnais pas|nicht kenne|"
               r"nicht erkenne|niet herken|non (?:li |le )?riconosco|no (?:els |les )?reconec|"
               # an unknown recipient ("to an account I don't know", "a una cuenta que no conocemos", "a un compte desconegut")
               r"(?:account|address|wallet|cuenta|conta|compte|konto|rekening|adres\w*|direccion|endereco|indirizzo|adreca|iban|conto)\b (?:\w+ ){0,2}?"
               r"(?:unknown|desconocid\w*|desconhecid\w*|desconegut\w*|inconnu\w*|unbekannt\w*|onbekend\w*|sconosciut\w*|que no conocemos|que (?:a gente |nos )?nao conhece\w*|we don t know|die wir nicht kennen|die we niet kennen|che non conosciamo|que no coneixem)|"
               r"(?:unknown|unbekannte\w*|onbekende|inconnu\w*|sconosciut\w*|desconocid\w*|desconhecid\w*) (?:account|address|wallet|konto|rekening|adres\w*|adresse|indirizzo|iban|conto|cuenta|conta)\b|"
               r"(?:that|which|die|dat|que|qui|che|den|het) (?:i |ik |ich |je |jo |io |eu |yo )?(?:don t|do not|dont|niet|nicht|ne|no|nao|non) (?:know|ken|kenne|connais|conozco|conheco|conosco|conec)\b|"
               r"on (?:its|their) own|by itself|(?:hace|hizo|hacen) (?:\w+ )?sol[ao]s?|sozinh[ao]s?|tout(?:e)? seul(?:e)?s?|von selbst|vanzelf|da sol[oa]|tot sol[ao]?|"
               r"sin que (?:yo )?(?:hiciera|haga|hice|hiciese|tocara)|sem (?:eu|que eu) (?:fazer|fizesse|faca|mexer)|sans que je (?:fasse|touche)|"
               r"ohne dass ich|zonder dat ik|senza che (?:io )?(?:facessi|faccia|toccassi)|sense que (?:jo )?(?:fes|faci)|without (?:me|my) (?:doing|touching|knowing)|without doing anything")
_NOT_ME = (r"yo no fui|yo no he sido|yo no era|eu nao fui|ich war (?:es|das) nicht|ik was het niet|io non (?:sono stato|sono stata|ero)|non sono stat[oa] io|"
           r"(?:none|nobody|no one|neither) (?:of us|on (?:our|the) team|here)|nadie (?:de nosotros|del equipo|de aqui)|ninguem (?:de nos|da equipe|da equipa|aqui)|personne (?:chez nous|de nous|de l equipe)|"
           r"keiner von uns|niemand (?:von uns|van ons|bij ons|im team)|nessuno (?:di noi|del team)|ningu de nosaltres|ningu de l equip|"
           r"wasn t (?:anyone|anybody|any of us|one of us)|was not (?:anyone|anybody|any of us)|no fue nadie|no ha sido nadie|nao foi ninguem|ce n etait personne|ce n est personne|war keiner|war niemand|was niemand|non e stato nessuno|no ha estat ningu|jo no (?:he estat|vaig ser)|not me|wasn t me|wasnt me|no soy yo|no era yo|no fui yo|no he sido yo|nao fui eu|nao era eu|nao sou eu|(?:c est|c etait|ce n est|ce n etait|c etais) pas moi|"
           r"(?:i did not|i didn t|i didnt|i never did|not true|no es (?:verdad|cierto)|nao e verdade|c est faux|ce n est pas vrai|stimmt nicht|hab ich nicht|habe ich nicht|"
           r"heb ik niet|niet waar|non e vero|no es veritat|no ho he fet)(?=\s*(?:[.!]|$))|"
           r"(?:das )?war ich nicht|bin ich nicht|nicht ich|non sono (?:stato )?io|non ero io|was ik niet|ben ik niet|niet ik|no soc jo|no era jo|no he estat jo")
_NEVER_CREATED = (r"(?:api|key|clau|chave|clave|cle|schlussel|sleutel|chiave|address|adres|direccion|endereco|adresse|indirizzo|adreca|whitelist|device|dispositi\w*|appareil|gerat|apparaat)"
                  r"\b.{0,40}\b(?:never|not|nunca|no|nao|jamais|pas|nie|nicht|nooit|niet|mai|non|ni) (?:(?:i|yo|eu|je|j|ich|ik|io|jo|l|la|lo|le|ho|he|hab|habe|heb|ai|have|had|ever|mai|vaig|nie) ){0,3}"
                  r"(?:creat\w*|cree|creado|criei|criad\w*|erstellt|angelegt|gemaakt|aangemaakt|added|add|anadi|anadid\w*|afegi\w*|adicion\w*|ajoute\w*|hinzugefugt|toegevoegd|aggiunt\w*|set up|configur\w*|eingerichtet|ingesteld)\b")
_NOT_MINE = (r"(?:device|dispositi\w*|appareil|gerat|geraet|apparaat|e ?mail\w*|correo|correu|sessions?|sessao|sessio\w*|login|iphone|samsung|android|windows|mac|ip|"
             r"phone|telefono|telefone|telephone|telefon\w*|telefoon\w*|mobile|movil|celular|handynummer|cadastrad\w*|registrad\w*|on file|"
           r"api|key|clau|chave|clave|cle|schlussel|sleutel|chiave|address|adres|direccion|endereco|adresse|indirizzo|adreca|whitelist|numero|number|nummer)\b.{0,40}"
           r"\b(?:not mine|isn t mine|aren t mine|no es (?:el |la )?(?:mio|mia|meu|meva)|no son (?:los )?mios|nao e (?:o |a )?(?:meu|minha)|(?:pas|plus) (?:le |la )?mien\w*|"
           r"nicht (?:mehr )?(?:meins|meiner|meine)|niet (?:meer )?van mij|non e (?:il |la )?(?:mio|mia)|"
           r"(?:i ve|i have) never seen|que nunca (?:he )?vi\w*|que nunca vi|que je n ai jamais vu|die ich nie gesehen|die ik nooit gezien|che non ho mai visto|que no he vist mai)")
_FUNDS_EVENT = (r"retrait\w*|usdt|usdc|btc|eth|bitcoins?|ether|cryptos?|criptos?|kryptos?|bonifici|virements?|password|contrasen\w*|senha|palavra passe|mot de passe|passwort|wachtwoord|2fa|e ?mail|correo|correu|"
                r"virement\w*|uberweis\w*|ueberweis\w*|bonific\w*|overboek\w*|overschrijving\w*|overgemaakt|overgeboekt|afgeschreven|afschrijving\w*|payouts?|pagos|pagamentos|pagaments|uitbetaling\w*|sign ?ins?|signed in|"
                r"movement\w*|movimient\w*|movimentac\w*|mouvement\w*|bewegung\w*|beweging\w*|moviment\w*|entries|activity|actividad|atividade|activite|aktivitat|activiteit|attivita|activitat|"
                r"buchung\w*|operations?|operacion\w*|operacoes|operazion\w*|operacions|envios|envois|historial|history|historique|verlauf|geschiedenis|storico|historico|"
                r"preliev\w*|credencial\w*|credenziali|identifiants|zugangsdaten|"
                r"transac\w*|transakt\w*|transaz\w*|transf\w*|\btxs?\b|withdraw\w*|retir\w*|saque|saiu|auszahl\w*|abbuchung|abgebucht|opname|prelievo|prelev\w*|"
                r"log ?ins?|inicio de sesion|sessio\w*|sessions?|sessao|connexion|anmeldung|inlog\w*|accesso|acesso|acceso|device|dispositi\w*|appareil|"
                r"gerat|geraet|apparaat|zero|cero|zerad\w*|null|nul|empty|vacia|vazia|vide|leer|leeg|vuoto|buida|gone|desaparec\w*|sumi\w*|disparu|weg|sparit\w*|"
                r"verdwenen|address|direccion|endereco|adresse|adres|indirizzo|adreca|moved|movid\w*|mogut|verschoben|verplaatst|spostat\w*|deplace\w*|"
                r"sent|enviad\w*|enviou|envoye|gesendet|verstuurd|inviat\w*|coins|monedas|moedas|monete|monedes|fondos|fundos|fonds|fondi|funds|saldo|balance|solde|guthaben")
_DEVICE_THEFT = re.compile(
    r"(?<![a-z0-9])(?:(?:phone|cell|mobile|celular|movil|mobil|handy|telefon\w*|telefoon|portable|ledger|bag|laptop|wallet fisica|bolso|mochila|tasche)\b.{0,25}"
    r"\b(?:stolen|stole|robad\w*|robat\w*|roubad\w*|roubaram|geklaut|gestohlen|gestolen|rubat\w*|vole)|"
    r"(?:stole|robaron|roubaram|m han robat|on m a vole|hanno rubato|mi hanno rubato|geklaut|gestolen)\b.{0,20}\b(?:phone|cell|mobile|celular|movil|mobil|handy|telefon\w*|telefoon|portable|ledger|bag|laptop|tasche))(?![a-z0-9])")
#: a department a caller claims to be from: the word, or a fraud / security unit named with "your"
_DEPARTMENT_WORD = (r"betrugsabteilung|sicherheitsabteilung|fraudeafdeling|beveiligingsafdeling|fraud (?:department|team|unit|dept)|security (?:department|team|dept)|"
                    r"departamento (?:de )?(?:fraude|seguridad|seguranca|antifraude)|departament de (?:frau|seguretat)|(?:service|departement|equipe) (?:de )?(?:la )?(?:fraude|securite|anti ?fraude)|anti ?fraud\w* (?:department|team|unit|service|servicio|servei|afdeling|abteilung)|"
                    r"setor de (?:fraude|seguranca)|ufficio (?:antifrode|frodi|sicurezza)|reparto (?:antifrode|sicurezza)|abteilung fur betrug")
_DEPARTMENT = _DEPARTMENT_WORD
#: a quoted or forwarded request for a secret ("confirm your wallet phrase", "verifique su contraseña")
_ASK_SECRET = (r"(?:confirm\w*|verif\w*|bestatig\w*|bestaetig\w*|bevestig\w*|conferm\w*|valid\w*|update|actualiz\w*|atualiz\w*|mettre a jour|aktualisier\w*|aggiorna\w*|enter|introduc\w*|"
               r"insert\w*|eingeben|invoer\w*|inser\w*|saisi\w*|entr\w*|provide|send|envi\w*|manda\w*|stuur|schick\w*|inviare|invia)\b.{0,20}\b"
               r"(?:seed|phrase|frase|zin|herstelzin|words|palabras|palavras|mots|woerter|worter|parole|woorden|paraules|private key|clave privada|chave privada|cle privee|password|"
               r"contrasena|contrasenya|senha|mot de passe|passwort|wachtwoord)")
_SEC_EARLY: tuple[tuple[str, str], ...] = (
    # a caller or writer "from your fraud / security department": a role of ours claimed, not a scam report
    # (the fraud words would otherwise make it one)
    ("impersonation",
     rf"(?:{_CONTACTED}|{_CLAIM})\b.{{0,60}}\b(?:from|de|del|da|do|du|von|vom|van|bij|nel|nell|al|au|at|in|en|chez|dal|dalla|della|namens|comme|como|als|as)\W{{1,3}}(?:\w+\W{{1,3}}){{0,2}}(?:{_DEPARTMENT})|"
     rf"(?:{_CONTACTED}|{_CLAIM})\b.{{0,60}}(?:{_DEPARTMENT})\b.{{0,20}}\b(?:{_YOURS})|"
     # a support role writing from a free mail address
     rf"(?<!to )(?<!aan )(?<!al )(?<!ao )(?<!au )"
     rf"(?:{_ROLE}|engineer|ingenier\w*|ingenieur\w*|tecnic\w*|techni\w*)\b.{{0,60}}\b(?:from|de|da|von|van|depuis|desde) (?:a|an|un|una|um|uma|une|een|ein\w*) "
     r"(?:gmail|hotmail|outlook|yahoo|proton\w*|gmx|icloud)\b"),
    ("suspicious_access_or_hacked_account", r"sim ?swap\w*|golpe do chip|clonaram (?:meu|o meu) (?:numero|chip)|account takeover"),
    # a wallet drainer: a signature / approval given to a site, then the funds are gone (a scam, not a break-in)
    ("scam_or_phishing_report",
     r"drainer\w*|(?:site|airdrop|page|link|dapp|contract|contrato|contrat|vertrag)\b.{0,30}\bdrain\w*|"
     # a forwarded message asking to confirm a secret
     rf"(?:fwd|forwarded|reenviad\w*|reenviat\w*|encaminhad\w*|transfere\w*|weitergeleitet\w*|inoltrat\w*|doorgestuurd\w*)\b.{{0,300}}\b(?:{_ASK_SECRET})|"
     # a look-alike address (ad, link, site) that asks for the seed
     r"(?:url|address|adres\w*|direccion|endereco|indirizzo|adreca|domain|dominio|domein|link|enlace|lien)\b.{0,25}"
     r"\b(?:slightly |a bit |un poco |um pouco |un peu |leicht |net |un po |una mica |iets )?(?:different|distint[ao]|diferent\w*|differente|diversa?o?|anders|pas (?:la|le) meme|not the same|no es la misma|nao e o mesmo|non e lo stesso)\b.{0,80}"
     r"\b(?:seed|phrase|frase|herstelzin|words|palabras|palavras|mots|woerter|worter|parole|woorden|paraules|private key|password|contrasena|senha|mot de passe|passwort|wachtwoord)|"
     # "recovering" lost funds for money up front
     r"(?:recover\w*|recuper\w*|zuruckhol\w*|zurueckhol\w*|terughal\w*|terug te halen|get (?:my |it |them )?back)\b.{0,60}"
     r"\b(?:upfront|up front|in advance|por adelantado|adelantad\w*|adiantad\w*|antecipad\w*|d avance|a l avance|vorkasse|im voraus|vooraf|prima|in anticipo|per avancat|avancad\w*)|"
     # a copy of our site or app
     r"(?:clone|clon|clonad\w*|kopie|copia|copie|copy|nachgemacht\w*|nagemaakt\w*) (?:of |de |do |del |van |von |du |di |della )?(?:your |vuestr\w* |vostr\w* |votre |eure |jullie )?(?:site|sito|web\w*|pagina|page|seite|app)|"
     r"(?:site|sito|web|pagina|page|seite|website|app) (?:clone|clon|clonad\w*|copia|copie|nagemaakt|nachgemacht)|"
     # a phishing report, a victim's own words, a fake site: a scam even when it also uses our name
     r"(?:site|sito|seite|siite|web|website|pagina|page|giveaway|airdrop|sorteo|sorteio|concours|gewinnspiel|winactie|concorso|sorteig)\w* (?:finto|finta|fasull\w*|falso|falsa|fals|falsch\w*|faux|fausse|fake|nep)\b|"
     r"(?:semblava|s assembla|sembla|parecia|parecida|ressemblait|ressemble|aussah|leek|sembrava)\b.{0,12}\b(?:vostr\w*|vuestr\w*|votre|la votre|eure|jullie|de voces|la vostra|la suya|suyo|yours|your)\b|"
     r"(?:fake|faux|fausse|falso|falsa|fals|nep|gefalscht\w*|falsche\w*|finto|finta) (?:giveaway|sorteo|sorteio|concours|gewinnspiel|winactie|concorso|sorteig|live|stream)|"
     # returns promised per month / week / day
     r"(?:promis\w*|prometi\w*|prometeu|promet\w*|versproch\w*|beloofd\w*|beloofde|promett\w*|promes\w*|garanti\w*)\b.{0,30}\b\d+ ?(?:%|percent|per ?cent|por ?ciento|pour ?cent|prozent|procent|per cento|por cento)"
     r" ?(?:a|per|al|par|pro|im|in|ao|each|every|cada|chaque|jede\w*|elke|ogni)? ?(?:month|mes|mois|monat|maand|mese|week|semana|semaine|woche|day|dia|jour|tag|dag|giorno|setmana)|"
     r"(?:prize|premio|premi|prix|gewinn|gewonnen|prijs|lottery|loteria|lotto|gagne|gane|ganhei|vinto|won)\b.{0,100}\b(?:gave|di|passei|donne|gegeben|gegeven|dato|vaig donar|le di|ho dato|heb .{0,12}gegeven|habe .{0,12}gegeben)\b.{0,40}"
     r"(?:card|tarjeta|cartao|carte|karte|kaart\w*|carta|targeta|numbers|numeros|numeri|nummer\w*|code|codigo|codice|codi)|"
     r"(?:invoice|factura|fatura|facture|rechnung|factuur|fattura|boleto)\b.{0,120}\b(?:new|nuevo|novo|nouvel|nouveau|nouvelle|neue\w*|nieuw\w*|nuovo|nou|another|otro|outro|autre|andere\w*|altro|un altre) "
     r"(?:iban|account|cuenta|conta|compte|konto|rekening|conto|bank\w*|banco|banque)|"
     r"(?:automated|automatic|automatica|automatico|gravada|recorded|enregistre\w*|automatisch\w*|automatizzat\w*|robot\w*|pregrabad\w*|grabad\w*)\b.{0,12}\b(?:voice|voz|voix|stimme|stem|voce|veu|call|llamada|message|mensaje|mensagem|anruf|oproep|chiamata)|"
     r"(?:press|pulse|marque|apertar|aperte|appuyez|appuyer|drucken|druecken|druk op|premi|prema|premeu|digite|tecle)\b.{0,6}\b\d\b.{0,30}\b(?:cancel\w*|anul\w*|stopp\w*|annul\w*|block\w*|bloque\w*|annull\w*|stornier\w*)|"
     r"(?:fake|falso|falsa|fals|vals|valse|gefalscht\w*|faux|fausse|finto|finta|fasull\w*)\b.{0,5}\b(?:proof|receipt|comprobante|comprovante|comprovant|preuve|beleg|zahlungsbeleg|betaalbewijs|bewijs|ricevuta|screenshot|captura|print)|"
     r"(?<!anti )(?!anti)\w*phishing\w*|(?:got|been|was|were) scammed|(?:me he|me suis|m ai) fait arnaquer|fait arnaquer|me (?:han )?estafa\w*|fui estafad\w*|"
     r"m han estafat|mi hanno truffat\w*|sono stat[oa] truffat\w*|ben opgelicht|ik ben opgelicht|bin betrogen|wurde betrogen|"
     r"(?:fake|faux|fausse|falso|falsa|fals|nep|gefalscht\w*|falsche\w*|finto|finta) (?:site|website|web|webseite|seite|airdrop|page|pagina|sito|app|exchange)|"
     # fell for it / was scammed, in words that do not name the scam
     # "recovery services" that want money up front
     r"(?:recovery (?:service|company|expert|agency)|servicio de recuperacion|servei de recuperacio|service de recuperation|herstelservice|herstel service|"
     r"servico de recuperacao|servizio di recupero|wiederherstellungs ?(?:service|dienst)|recovery ?(?:service|dienst))|"
     r"reingefallen|(?:fell|falling) for|cai (?:num|em um|no) golpe|caigut en|caido en una estafa|sono cascat\w*|\w*betrug\w*|\w*betrog\w*|"
     # an "adviser" paid who vanished
     r"(?:coach|mentor|trader|broker|consultant|conseiller|berater|adviseur|consulente|asesor|assessor|seller|vendedor|vendeur|verkaufer|verkaeufer|verkoper|venditore|venedor)\b.{0,80}"
     r"(?:no longer|stopped (?:answering|replying|responding)|blocked me|ghost\w*|ya no (?:contesta|responde)|nao responde mais|ne repond plus|antwortet nicht mehr|"
     r"reageert (?:hij |ze )?niet meer|non risponde piu|ja no respon|me bloqueo|me bloqueou|m a bloque|hat mich blockiert|heeft me geblokkeerd|mi ha bloccato|"
     r"vanished|disappeared|desaparecio|desaparegut|sumiu|a disparu|est parti|ist weg|verschwunden|is verdwenen|verdwenen|e sparito|sparit[oa]|"
     r"non si fa piu sentire|ne donne plus (?:de )?nouvelles|meldet sich nicht mehr|no da senales|ya no da senales|nao da mais (?:sinal|noticias)|laat niks meer van zich horen|no dona senyals|reageert niet meer|no contesta)|"
     r"(?:approv\w*|aprob\w*|aprov\w*|approuv\w*|bestatig\w*|bestaetig\w*|goedgekeurd|goedkeur\w*|approvat\w*|aprovat\w*|signed|sign\w* (?:a|the|something)|firm\w*|assin\w*|signe\w*|signier\w*|onderteken\w*|connect\w* (?:my|mi|mon|meine?|mijn|il mio|a minha|la meva) (?:wallet|cartera|carteira|portefeuille|cartera))"
     r"\b.{0,60}\b(?:site|web\w*|pagina|page|seite|link|airdrop|mint\w*|claim\w*|dapp|reward\w*|recompens\w*)\b.{0,80}"
     r"\b(?:empty|vacia|vazia|vide|leer|leeg|vuot\w*|buida|gone|weg|sumiu|desaparec\w*|disparu|sparit\w*|verdwenen|zero|cero|zerad\w*|drained|vaciad\w*|esvazi\w*|svuotat\w*)|"
     # the same, the site named first ("on an airdrop site I signed something and everything is gone")
     r"(?:site|web\w*|pagina|page|seite|link|airdrop|dapp)\b.{0,60}\b(?:approv\w*|aprob\w*|aprov\w*|approuv\w*|bestatig\w*|bestaetig\w*|goedgekeurd|goedkeur\w*|approvat\w*|aprovat\w*|signed|sign\w* (?:a|the|something)|firm\w*|assin\w*|signe\w*|signier\w*|onderteken\w*|connect\w* (?:my|mi|mon|meine?|mijn|il mio|a minha|la meva) (?:wallet|cartera|carteira|portefeuille|cartera))\b.{0,80}\b(?:empty|vacia|vazia|vide|leer|leeg|vuot\w*|buida|gone|weg|sumiu|desaparec\w*|disparu|sparit\w*|verdwenen|zero|cero|zerad\w*|drained|vaciad\w*|esvazi\w*|svuotat\w*|parti|partis|left)|"
     # "promised to double it"
     r"(?:promis\w*|prometi\w*|prometeu|promet\w*|versproch\w*|beloofd\w*|beloofde|promett\w*)\b.{0,25}\b(?:doubl\w*|duplic\w*|dobr\w*|verdoppel\w*|verdubbel\w*|raddoppi\w*|tripl\w*|multipl\w*)|"
     # a strange link in a message
     r"(?:strange|weird|odd|suspicious|sketchy|dodgy|shady|raro|rara|raros|extrano|estranho|estranha|chelou|bizarre|louche|suspect|komisch\w*|seltsam\w*|verdachtig\w*|raar|rare|vreemd\w*|strano|strana|sospett\w*|estrany|sospitos\w*) (?:link\w*|enlace|lien|enllac|url)\b|"
     r"(?:link\w*|enlace|lien|enllac|url) (?:raro|extrano|estranho|chelou|bizarre|louche|suspect|strano|sospetto|estrany|sospitos|sospechoso|suspeito)\b|"
     # investing, then a tax or a percentage to withdraw
     r"(?:invest\w*|invert\w*|inverti\w*|investieren|investeren|investire|trading (?:site|seite|plattform|platform|plataforma|plateforme|piattaforma|app))\b.{0,120}\b(?:withdraw\w*|retir\w*|sacar|retrait|retirer|auszahl\w*|auszuzahl\w*|abheben|opnemen|op te nemen|prelev\w*|treure)\b.{0,30}"
     r"\b(?:they (?:want|ask|demand|require)|want me|asking me|me piden|piden|me exigen|exigen|me pedem|pedem|me cobram|on me demande|ils (?:veulent|demandent)|em demanen|demanen|"
     r"(?:sie )?(?:wollen|verlangen)|soll ich|vragen ze|willen ze|moet ik|vogliono|chiedono|mi chiedono)\b.{0,25}"
     r"(?:tax\w*|impuest\w*|impost\w*|tassa|tasse|steuer\w*|belasting\w*|\d+ ?%|percent|por ciento|per cento|pour ?cent|prozent|procent|\w*kaution|caution|deposito|anticipo|garantia|garantie|borg\w*)|"
     # investment scams: someone talked into "investing" on their platform, then fees or taxes to withdraw
     r"(?:convinc\w*|persuad\w*|convenc\w*|convenceu|convaincu|uberredet|ueberredet|overgehaald|convint\w*|promis\w*|prometi\w*|beloofd\w*|versproch\w*|promett\w*)\b.{0,40}"
     r"\b(?:invest\w*|invert\w*|inverti\w*|investieren|investeren|investire|platform\w*|plataforma|plateforme|plattform|piattaforma)|"
     r"(?:invest\w*|invert\w*|inverti\w*|investieren|investeren|investire|platform\w*|plataforma|plateforme|plattform|piattaforma)\b.{0,80}"
     r"\b(?:tax\w*|impuest\w*|impost\w*|taxa|tassa|frais|steuer\w*|belasting|pay\w* (?:a |an )?fee|pagar|pague|payer|zahlen|betalen|pagare)\b.{0,30}"
     r"\b(?:withdraw\w*|retir\w*|sac\w*|retrait|auszahl\w*|auszuzahl\w*|abheben|opnemen|op te nemen|prelev\w*|unlock|desbloque\w*|debloqu\w*|freischalt\w*)"),
    ("suspicious_access_or_hacked_account",
     rf"{_NOT_MINE}|{_NEVER_CREATED}|"
     # someone who knew the password or PIN moved the funds
     r"(?:knew|knows|sabia|sabe|sap|sapeva|sa|kannte|kennt|wist|weet|connaissait|connait|conocia|conhecia|coneixia)\b.{0,20}\b"
     r"(?:password|pass|pin|code|codigo|codi|codice|contrasen\w*|senha|mot de passe|mdp|passwort|kennwort|wachtwoord|login)\b.{0,100}"
     r"\b(?:sent|moved|transferred|took|paso|passou|passat|envoy\w*|geschickt|gestuurd|overgemaakt|mandat\w*|inviat\w*|spostat\w*|trasferit\w*|transferiu|transfiri\w*|mandou|envio|enviou|"
     r"se (?:paso|passou|ha passat|l ha passat)|s est envoye|sich .{0,20}geschickt|naar zichzelf|a su (?:wallet|cartera)|pra (?:carteira|conta) dela|a la seva)\b.{0,30}"
     r"\b(?:crypto\w*|cripto\w*|coins?|monedas|moedas|monete|monedes|munten|bitcoins?|btc|eth|usdt|sol|funds|fondos|fundos|fonds|fondi|fons|geld|money|dinero|dinheiro|argent|soldi|diners|saldo|balance|wallet|cartera|carteira|portefeuille|zichzelf)|"
     # they (not I) changed a credential
     rf"(?:trocaram|mudaram|alteraram|cambiaron|me cambiaron|m han canviat|han canviat|ont change|hanno cambiato|(?:someone|somebody|they|who) (?:has |have )?changed|"
     rf"quien (?:ha )?cambio|quem (?:mudou|trocou|alterou)|qui a change|wer hat|chi ha cambiato|wie heeft)\b.{{0,30}}{_CREDENTIAL}|"
     rf"(?:{_OTHER_PERSON})\b.{{0,40}}\b(?:used|usad\w*|utilis\w*|benutzt|gebruikt|usat\w*|fet servir|accessed|acced\w*|entr\w*|logged|access\w*|acess\w*)|"
     rf"(?:used|usad\w*|utilis\w*|benutzt|gebruikt|usat\w*|fet servir|accessed|acced\w*|logged in|access\w*|acess\w*|entrou|entro)\b.{{0,20}}\b(?:by|por|par|von|door|da|per) (?:{_OTHER_PERSON})|"
     rf"(?:virus|malware|trojan\w*|troyano|keylogger|spyware)\b.{{0,200}}(?:{_FUNDS_EVENT})|"
     r"(?:someone|somebody|sb|alguien|algu|alguem|quelqu un|jemand|qualcuno|iemand)\b.{0,20}\b(?:moved|took|has access|had access|got access|accessed|accedio|ha accedido|tiene acceso|"
     r"entro|ha entrat|accedeix|acessou|entrou|tirou|levou|s est connecte|a acces|a vide|hat zugriff|hat .{0,20}verschoben|zit in|heeft toegang|heeft .{0,20}verplaatst|"
     r"e entrato|ha accesso|ha spostato|ha fatto|me movio|mogut|ha mogut|movio|se llevo)|"
     r"(?:invadiram|entraron en mi|entraram na minha|me entraron|m han entrat|sont entres dans mon)|"
     r"(?:used|usaron|usaram|utilise\w*|benutzt|gebruikt|usat\w*|usad\w*|van fer servir|logged in with|entraron con|entraram com)\b.{0,20}\b(?:old|former|viej\w*|antig\w*|ancien\w*|alt\w*|oude?|vecchi\w*|vell\w*|ex)\b.{0,6}\b"
     r"(?:login|user|usuario|usuari|utilisateur|benutzer\w*|gebruiker\w*|utente|account|credentials|cuenta|conta|compte|zugang\w*|acceso|acesso|accesso|identifiants)|"
     r"(?:account|cuenta|conta|compte|konto|acc)\b.{0,25}\b(?:taken over|uebernommen|ubernommen|overgenomen|gekaapt|secuestrad\w*|sequestrad\w*|invadid\w*)|"
     r"(?:took|taken|take|tomo|tomaron|tomado|tomou|tomaram|pris|prendre|pres|preso|ha preso|ubernommen|overgenomen|genomen)\b.{0,6}\b(?:the |el |o |le |il |la |die |de )?"
     r"(?:control|controle|controlo|kontrolle|controllo)\b.{0,6}\b(?:of|de|del|da|do|du|sur|uber|ueber|van|di|over) (?:my|mi|mon|ma|meu|minha|mein\w*|mijn|mio|mia|la meva|el meu)|"
     r"(?:no|nao|non|not|niet|nicht|pas) autori[sz]\w*|niet toegestane? (?:login|inlog|toegang|opname|transactie)|unerlaubt\w*|"
     r"(?:never|nunca|jamais|nie|nooit|mai) (?:authori[sz]\w*|autoriz\w*|autoris\w*|autorizei|autoritzat|autorizzat\w*|toegestaan|genehmigt)"),
)
# "transactions I didn't make", "not me", "without me doing anything" near a funds or login event
# (checked as two searches and a distance, not one regex: linear in the text's length)
_ALIBI = (r"(?:i was|i m|yo estaba|estaba|eu estava|tava|estava|j etais|je dormais|ich (?:habe|hab|war)|ik (?:was|lag)|io|ero|jo|mentre|while|wahrend|terwijl|mientras|enquanto|pendant que)\b.{0,12}"
          r"\b(?:asleep|sleeping|dormid[oa]|durmiendo|dormia|dormindo|dormais|dormivo|geschlafen|schlief|sliep|te slapen|dormint|on a plane|en un avion|no aviao|dans l avion|im flugzeug|in het vliegtuig|in aereo)|"
          r"(?:phone|mobile|cell|movil|celular|telemovel|tel|telephone|handy|telefono|telefoon|mobil)\W+(?:\w+\W+)?(?:was |war |stond |era |estaba |estava |etait )?(?:off|apagad[oa]|desligad[oa]|eteint|aus|spento|uit|apagat)\b")
_DISOWN = re.compile(rf"(?<![a-z0-9])(?:{_NEG} {_GAP}{_ACT}|{_WITHOUT_ME}|{_NOT_ME}|{_ALIBI})")
#: a denied act whose object is a backup ("never did the backup") is a lost seed, not a break-in
_BACKUP_OBJECT = re.compile(r"\W+(?:\w+\W+){0,2}?(?:backup|back up|copy|copia|copie|sauvegarde|kopie|respaldo|copia de seguridad|seed|phrase|frase|words|palabras|palavras|mots|woorden|worter|parole|paraules)\b")
_FUNDS = re.compile(rf"(?<![a-z0-9])(?:{_FUNDS_EVENT})")
DISOWN_SPAN = 200
_NOT_YET = re.compile(r"(?:\W+\w+){0,3}?\W+(?:yet|todavia|aun|ainda|encara|encore|noch|nog|ancora)\b")


def _disowned(folded: str) -> bool:
    # "I didn't send it yet" is no disowned action
    said = [m.start() for m in _DISOWN.finditer(folded) if not _discounted(folded, m.start()) and not _NOT_YET.match(folded, m.end(), m.end() + 30)
            and not _BACKUP_OBJECT.match(folded, m.end(), m.end() + 40)]
    if not said:
        return False
    events = [m.start() for m in _FUNDS.finditer(folded)]
    return any(abs(a - b) <= DISOWN_SPAN for a in said for b in events)


_SEC_EARLY_COMPILED = tuple((cat, re.compile(r"(?<![a-z0-9])(?:" + pat + r")")) for cat, pat in _SEC_EARLY)
_DEVICE_GONE = (r"died|dead|broke\w*|broken|crashed|morto|morta|kapot|kaputt|espatllat|muerto|murio|se rompio|quebr\w*|pifou|casse|mort|defekt|stuk|rott[oa]|"
                r"format\w*|reset\w*|reinstal\w*|reinstall\w*|wiped|restablec\w*|zuruckgesetzt|teruggezet|resettat\w*|ripristinat\w*|is gone|se borro|apagou|supprime")
_NO_BACKUP = (r"no (?:words?|backup|copy) (?:written|saved|made)|(?:never|didn t|did not|didnt) (?:did|do|make|made|write|wrote|note|noted|save|saved) (?:the |a |any )?(?:backup|copy|words|phrase|seed)|"
              r"(?:nothing|niente|nada|rien|nichts|niks|res) (?:\w+ )?(?:noted|written|annotat\w*|apuntad\w*|apuntat|anotad\w*|note|notiert|genoteerd|scritto|escrito)|"
              r"(?:nowhere|nergens|nirgends|nulle part|da nessuna parte|en ningun (?:lado|sitio)|enlloc|em lugar nenhum) (?:\w+ )?(?:noted|written|genoteerd|notiert|note|annotat\w*|apuntad\w*|anotad\w*)|"
              r"(?:noted|written|genoteerd|notiert|annotat\w*|apuntad\w*|anotad\w*) (?:nowhere|nergens|nirgends|nulle part|anywhere)|"
              r"no (?:la |lo |las |les )?(?:apunte|anote|guarde|copie)|nao (?:a |as )?(?:anotei|salvei|copiei)|(?:j ai |je n ai )?pas (?:note|sauvegarde|copie)|nie (?:notiert|aufgeschrieben|gesichert)|"
              r"nooit (?:opgeschreven|genoteerd|bewaard)|non (?:l ho |le ho )?(?:mai )?(?:annotat\w*|scritt\w*|salvat\w*)|no (?:la |les )?vaig (?:apuntar|guardar|copiar)|"
              r"(?:sin|sem|sans|ohne|zonder|senza|sense|without|no|geen|kein\w*) (?:copia de seguridad|copia|backup|back up|respaldo|sauvegarde|kopie|copie)")
_SEED_MORE = re.compile(
    r"(?<![a-z0-9])(?:herstelwoorden|wiederherstellungsw\w*|llavor|semilla|semente|palabras (?:secretas|semilla)|palavras secretas|paraules secretes|mots secrets|geheime woerter|geheimen woerter|"
    r"geheime woorden|parole segrete|secret words|recovery (?:sheet|card|words)|seed ?phrase|seed|herstelzin|frase de recupera\w*|phrase de recuperation|"
    r"frase di recupero|wiederherstellungs\w*|(?:12|24) (?:words|palabras|paraules|mots|palavras|woerter|worter|parole|woorden)|chave privada|clave privada|"
    r"private key|cle privee|chiave privata|privater schlussel|private sleutel)"
    r".{0,80}(?:nowhere|anywhere|ningun (?:lado|sitio)|ninguna parte|enlloc|cap lloc|nirgends|nergens|da nessuna parte|nulle part|lugar nenhum|nenhum lugar|"
    r"never (?:saved|wrote|backed)|nunca (?:guarde|anote|salvei|anotei)|mai (?:vaig guardar|salvato|scritto)|jamais (?:sauvegarde|note|ecrit)|nie (?:gesichert|aufgeschrieben)|"
    r"nooit (?:bewaard|opgeschreven|genoteerd)|nie (?:notiert|aufgeschrieben)|never (?:noted|copied)|no (?:la |las )?(?:anote|copie|apunte)|nao (?:anotei|copiei)|"
    r"nunca (?:la |lo |las |los |a |as )?(?:guarde|anote|apunte|escribi|copie|salvei|anotei|escrevi)|no (?:la |les |l )?vaig (?:apuntar|guardar|escriure|copiar)|"
    r"(?:j avais |je n ai )?pas (?:note|copie)|no (?:l |les )?havia (?:copiat|apuntat)|non (?:l |le )?avevo (?:salvat\w*|scritt\w*|copiat\w*)|smudged|illegible|no se lee|ilegible|can ?t read)|"
    r"(?:no idea where|ni idea de donde|ni idea d on|nao faco ideia de onde|aucune idee ou|keine ahnung wo|geen idee waar|non ho idea di dove|don ?t know where|no se donde|no se on|nao sei onde|je (?:ne )?sais (?:plus |pas )?ou|weiss nicht (?:mehr )?wo|weet niet (?:meer )?waar|non so (?:piu )?dove|"
    r"forgot where|olvide donde|esqueci onde|oublie ou|vergessen wo|vergeten waar|dimenticato dove|oblidat on)\b.{0,40}"
    r"(?:llavor|semilla|semente|seed|frase|phrase|words|palabras|paraules|mots|palavras|woerter|worter|parole|woorden|herstelzin|key|clave|chave|cle|chiave|schlussel|sleutel)")


#: a device gone and no backup made, in either order ("old laptop died ... no words written anywhere")
_GONE_NO_BACKUP = re.compile(rf"(?<![a-z0-9])(?:(?:{_DEVICE_GONE})\b.{{0,120}}\b(?:{_NO_BACKUP})|(?:{_NO_BACKUP})\b.{{0,120}}\b(?:{_DEVICE_GONE}))")

#: how many discounted matches of one family are searched past (bounds the cost on long texts)
RETRIES = 8

_MARKER = re.compile(r"\[redacted:[^\]]{1,40}\]|\[sealed:[^\]]{1,60}\]", re.I)


def _word_start_body(pattern: re.Pattern[str]) -> str | None:
    """``X`` when ``pattern`` is ``(?<![a-z0-9])(?:X)`` (the look-behind applies to all of it)."""
    src = pattern.pattern
    if not src.startswith(_WORD_START + "(?:"):
        return None
    rest = src[len(_WORD_START):]
    return rest[3:-1] if redispatch.closing_paren(rest, 0) == len(rest) - 1 else None


def _alternative(pattern: re.Pattern[str]) -> tuple[str, str]:
    """``pattern`` as (its body after the word-start look-behind, "") or, when the look-behind
    is not on all of it, ("", the whole pattern)."""
    body = _word_start_body(pattern)
    return (body, "") if body is not None else ("", pattern.pattern)


def _any_of(patterns: list[re.Pattern[str]], bodies: tuple[str, ...] = ()) -> tuple[redispatch.Rule, ...]:
    """Rules that together match where one of ``patterns`` or of ``bodies`` (after the
    word-start look-behind) does: one for all those under the look-behind (grouped after it),
    one per pattern whose look-behind is not on all of it."""
    under = list(bodies)
    whole = []
    for p in patterns:
        body, full = _alternative(p)
        if full:
            whole.append(redispatch.Rule(full))
        else:
            under.append(body)
    first = [redispatch.Rule("|".join(f"(?:{b})" for b in under), prefix=_WORD_START)] if under else []
    return (*first, *whole)


def _found(rules: tuple[redispatch.Rule, ...], text: str) -> bool:
    return any(rule.found(text) for rule in rules)


@functools.cache
def _security_fast() -> tuple[tuple[redispatch.Rule, ...], tuple[redispatch.Rule, ...], tuple[redispatch.Rule, ...]]:
    """(``_SEED_MORE`` or ``_GONE_NO_BACKUP``, ``_DEVICE_THEFT``, any family rule or ``_DISOWN``)
    as rules that answer only whether they match, grouped for speed (``normalizers.redispatch``;
    compiled on first use)."""
    families = tuple(pat for _cat, pat in _SEC_EARLY + _SEC_RULES)
    return _any_of([_SEED_MORE, _GONE_NO_BACKUP]), _any_of([_DEVICE_THEFT]), _any_of([_DISOWN], families)


def security_rule(text: str) -> str | None:
    """The security-critical category whose rule matches ``text`` (folded, misspellings of a few
    security words mended: :func:`respell`), if any."""
    folded = respell(fold(text))
    lost_seed, device_theft, any_family = _security_fast()
    if _found(lost_seed, folded):
        return "lost_keys_or_recovery_phrase"
    # a stolen phone or bag is no break-in into the account by itself (with no backup of
    # the seed it is lost keys; with an authenticator on it a login problem)
    if _found(device_theft, folded):
        folded = _DEVICE_THEFT.sub(" ", folded)
    if not _found(any_family, folded):
        # no family matches anywhere, and nothing is disowned (``_disowned`` needs a ``_DISOWN``
        # match): the loop below would find nothing (most messages)
        return None
    for cat, pattern in _SEC_EARLY_COMPILED + _SEC_COMPILED:
        # a discounted match is searched again one character later (a later, undenied start of
        # the same family still counts: "um cara no telegram ... dizendo que é do suporte"), a few times at most
        pos = 0
        for _ in range(RETRIES):
            m = pattern.search(folded, pos)
            if m is None:
                break
            if not _discounted(folded, m.start()):
                return cat
            pos = m.start() + 1
        if cat == "suspicious_access_or_hacked_account" and pattern is _SEC_EARLY_COMPILED[-1][1] and _disowned(folded):
            return cat
    return None


#: "my account isn't hacked", "não é golpe", "not saying it's a scam", "no funds are missing":
#: a cue the customer denies right before it does not count
_DENIED = re.compile(
    r"(?<![a-z0-9])(?:isn t|is not|isnt|aren t|are not|wasn t|was not|not saying (?:it s|its|this is|that s)|no es|no era|no fue|nao e|nao foi|nao era|"
    r"n est pas|n etait pas|ce n est pas|ist nicht|ist kein\w*|ist das kein\w*|war nicht|is geen|is niet|was geen|non e|non era|non e stato|no son|nao sao|no|not|"
    r"kein\w*|geen|nessun\w*|cap|aucun\w*|ningun\w*|nenhum\w*)\s+(?:(?:a|an|un|una|um|uma|een|ein\w*|been|sido|ete|stato|it s|its|this|das)\s+)?$")


#: words right before a cue that make it no report of the customer's own case (each is a general
#: construction, in the eight languages): "so I don't fall for a scam", "how can I tell if an email
#: ...", "almost a scam lol", "my friend got hacked", "not that I was hacked", "not accusing anyone of"
_DISCOUNT = re.compile(
    r"(?<![a-z0-9])(?:"
    # avoidance: the customer wants not to become a victim
    r"(?:so (?:that )?i (?:don t|dont|do not|won t|wont)|to avoid|avoid|not to|para no|para (?:eu )?nao|pra (?:eu )?nao|pour (?:ne )?pas|pour eviter|damit ich nicht|um nicht|"
    r"zodat ik niet|om niet|cosi non|per non|per no|per evitar|para evitar|evitar|eviter|vermeiden|vermijden|evitare)(?:\s+\w+){0,4}\s+|"
    # a how-to question about any message or site, not this one
    r"(?:how|como|comment|wie|hoe|come|com)\b.{0,30}\b(?:if|whether|si|se|ob|of)\s+(?:a|an|any|un|una|um|uma|une|ein\w*|een|uno)\s+(?:\w+\s+)?|"
    r"(?:how|como|comment|wie|hoe|come|com)\b.{0,20}\b(?:know|tell|be sure|saber|sei|savoir|wissen|weiss|weten|sapere|capisco)\b\s+(?:if |whether |si |se |ob |of |que |that |dass |dat |che )?"
    r"(?:a|an|any|the|un|una|um|uma|une|ein\w*|een|uno|el|la|o|le|il|der|die|das|de|het)?\s*(?:\w+\s+){0,2}|"
    r"(?:how|como|comment|wie|hoe|come|com)\b.{0,25}\b(?:spot|recogni[sz]e|identify|detect|reconoc\w*|identific\w*|reconhec\w*|reconna\w*|erkenn\w*|herken\w*|riconosc\w*|reconeix\w*)\s+"
    r"(?:a|an|un|una|um|uma|une|ein\w*|een)?\s*|"
    # hedges
    r"(?:almost|nearly|practically|casi|quase|presque|fast|bijna|quasi|gairebe|praticamente|praktisch)\s+(?:a |an |un |una |um |uma |une |ein\w* |een |de )?|"
    # someone else's case (a friend, a relative) in the passive
    r"(?:friend|amig[oa]s?|ami|amie|freund\w*|vriend\w*|amic[oa]|colleague|colega|coworker|brother|sister|hermano|hermana|irma|irmao|frere|soeur|bruder|schwester|broer|zus|"
    r"fratello|sorella|germa|germana|cousin|primo|prima|neighbou?r|vecino|vizinho|voisin|nachbar|buurman|vicino|kolleg\w*|collega|collegue|companer[oa]|companheir[oa]|company[oa]|mate|buddy)\b.{0,12}\b(?:got|was|has been|have been|le|les|lo|la|ha sido|foi|"
    r"a ete|wurde|ist|is|e stato|e stata|werd|li han|l han|hanno|han|fue)\s+(?:\w+\s+)?|"
    # news about another company ("saw a news article that an exchange got hacked")
    r"(?:news|article|noticias?|nouvelles|presse|nachrichten|artikel|nieuws|notizi\w*|noticies|i read|i heard|lei que|li que|j ai lu|gelesen|gelezen|ho letto|he llegit)\b.{0,40}"
    r"\b(?:an|a|un|una|um|uma|une|ein\w*|een|another|other|otro|outro|autre|anderer?|andere|altro|altre|algun|alguna)\s+(?:\w+\s+){0,2}|"
    # "not that ...", "not accusing anyone of ..."
    r"(?:no es que|not that|nao e que|ce n est pas que|c est pas que|nicht dass|niet dat|non che|no que)(?:\s+\w+){0,5}\s+|"
    r"(?:not|no|nao|pas|nicht|niet|non) (?:accus\w*|acus\w*|beschuldig\w*) (?:\w+ ){0,2}(?:of|de|di|van|von)?\s*|"
    r"(?:not|no|nao|pas|nicht|niet|non) (?:saying|diciendo|digo|dizendo|dis|dit|sage|sagen|zeg|zeggen|dico|dicendo|dic)(?:\s+\w+){0,4}\s+|"
    # "no me han hackeado", "nao fui hackeado", "je n ai pas ete pirate", "no m han hackejat", "non mi hanno truffato"
    r"(?:not|no|nao|pas|nicht|niet|non|never|nunca|mai|jamais|nooit|nie|haven t|hasn t|havent|hasnt) "
    r"(?:(?:me|m|te|han|ha|he|hem|hanno|mi|ci|l|le|la|lo|been|sido|foi|fui|ete|worden|stato|stata|sono|a|ai|ont|s|se|ist|bin|ben|was|wurde|werd)\s+){1,3}"
    r")$")


def _discounted(folded: str, start: int) -> bool:
    """Whether the cue at ``start`` is denied or discounted by the words right before it."""
    return bool(_DENIED.search(folded, max(0, start - 40), start) or _DISCOUNT.search(folded, max(0, start - 60), start))


# --- 3. the model -----------------------------------------------------------------------
def _load() -> dict[str, Any]:
    """The shipped model (``normalizers/intel_model.json``), prepared."""
    return prepare(json.loads(MODEL_PATH.read_text(encoding="utf-8"))["triage"])


#: smoothing of the naive Bayes counts
ALPHA = 0.1
#: log-odds added to the security-critical categories in the model. Their recall comes first
#: from the rules; measured by cross-validation by author on the training rows
#: (docs/intelligence/triage-language.md). 2026-12-06 b: -6 (from 0). 2026-12-06 c: the rows6
#: files made the training rows more security-heavy (their prior rose), and -8 cuts the false
#: alarms by author from 4.2 to 3.8 % (83 -> 76 of 2000) for one security-critical row of 1210;
#: -10 cuts one more false alarm by author for one more row in k-fold
MODEL_SECURITY_BIAS = -8.0


def prepare(raw: dict[str, Any]) -> dict[str, Any]:
    """Log-priors and per-feature log-likelihoods (centred) from a model's counts."""
    cats: list[str] = raw["categories"]
    docs = raw["docs"]
    n_docs = sum(docs.values())
    totals = dict.fromkeys(cats, 0)
    for per_cat in raw["counts"].values():
        for c, n in per_cat.items():
            totals[c] += n
    vocab = len(raw["counts"])
    alpha = ALPHA
    denom = {c: math.log(totals[c] + alpha * vocab) for c in cats}
    base = {c: math.log(alpha) - denom[c] for c in cats}  # log-likelihood of an unseen-in-c feature
    # per feature, its value for each of ``cats`` in order (0.0 where it has no count): the
    # model sums columns in C instead of updating a dict per (feature, category)
    index = {c: i for i, c in enumerate(cats)}
    zero = (0.0,) * len(cats)
    dense: dict[str, tuple[float, ...]] = {}
    for f, per_cat in raw["counts"].items():
        row = list(zero)
        for c, n in per_cat.items():
            row[index[c]] = math.log(n + alpha) - denom[c] - base[c]
        dense[f] = tuple(row)
    return {
        "categories": cats,
        "prior": {c: math.log(docs[c] / n_docs) + (MODEL_SECURITY_BIAS if c in SECURITY_CRITICAL else 0.0) for c in cats},
        "base": base,
        "dense": dense,
        # the words the training rows use at least twice (never "mended" by respell)
        "known": frozenset(f[2:] for f, per_cat in raw["counts"].items() if f.startswith("w:") and sum(per_cat.values()) >= 2),
    }


def model() -> dict[str, Any]:
    """The process-wide triage model, loaded on first use."""
    global _model
    if _model is None:
        with _lock:
            if _model is None:
                _model = _load()
    return _model


def probabilities(text: str) -> dict[str, float]:
    """Category -> posterior probability under the naive Bayes model."""
    m = model()
    dense = m["dense"]
    rows = [row for row in map(dense.get, features(text)) if row is not None]
    cats = m["categories"]
    n = len(rows)
    # per category, the feature values added in feature order (exactly the sums of the
    # sparse loop: a category a feature has no count for gets + 0.0, which changes no float)
    sums = zip(*rows, strict=True) if rows else ((),) * len(cats)
    scores = {c: sum(col, m["prior"][c] + m["base"][c] * n) for c, col in zip(cats, sums, strict=True)}
    top = max(scores.values())
    exp = {c: math.exp(s - top) for c, s in scores.items()}
    total = sum(exp.values())
    return {c: e / total for c, e in sorted(exp.items(), key=lambda kv: -kv[1])}


MIN_MODEL_CONFIDENCE = 0.2
#: the model reads at most this many characters of a text: what a customer asks is said in
#: the first paragraphs, and a 20 KB text costs the model ~10 ms (P2R profile) for nothing it
#: decides better; the security rules, the cue check and the priority words read it all
MODEL_CHARS = 2000


def prefix(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, at a space when there is one."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ", limit // 2)
    return cut[:space] if space > 0 else cut
#: a text that names no support concept at all is a general question unless the model is at
#: least this sure (the concepts cannot list every way a customer words a problem)
NO_CUE_CONFIDENCE = 0.99
#: and never a security category that way, not even a security question (security=True): "and
#: again" around two sealed hex strings is no security matter, however sure a model is of two words
NO_CUE_NO_ALARM = True

#: a question asked before anything happened ("if someone steals my phone, can they ...?", "is
#: the giveaway real? asking before I enter", "what does support never ask for, so I don't get
#: fooled"): no rule fired, so the model's security-critical guess is replaced by its best other
#: category (the rules still catch an incident told in the same message)
def _precaution(folded: str) -> bool:
    spaced = " ".join(_TOKEN.findall(folded))
    # a how-to question ("is it ok to keep ...", "what's the safest way to store ...") is none
    # here: counting it (even only when nothing was lost) cost a security-critical row of 1117
    # for two or three false alarms in cross-validation by author
    return bool(_PRECAUTION.search(folded) or _HYPO.search(spaced))


_PRECAUTION = re.compile(
    r"(?<![a-z0-9])(?:before i (?:enter|join|participate|click|send|pay|sign up|register|invest|connect)|"
    r"antes de (?:participar|entrar|pagar|enviar|invertir|registrarme|conectar|clicar|hacer click|investir|mandar)|"
    r"avant de (?:participer|cliquer|payer|envoyer|investir|connecter)|bevor ich|voor(?:dat)? ik (?:meedoe|klik|betaal|stuur|investeer|deelneem)|"
    r"prima di (?:partecipare|cliccare|pagare|inviare|investire|collegare)|abans de (?:participar|clicar|pagar|enviar|invertir)|"
    r"before i (?:forget|lose)|(?:is (?:that|this|it) (?:a )?(?:good idea|ok|okay|safe|dumb|smart))|es (?:una )?buena idea|e (?:uma )?boa ideia|(?:est ce|c est) une bonne idee|ist das (?:eine )?gute idee|"
    r"is dat (?:een )?goed(?:e idee)?|e una buona idea|va bene\?|es (?:una )?bona idea|"
    r"antes de (?:que se me olvide|olvidar|perder)|avant de (?:l oublier|perdre)|"
    r"(?:news|article|noticias?|la presse|dans la presse|nachrichten|artikel|nieuws|notizi\w*|noticies|diari|periodico|jornal|journal|zeitung|krant|giornale)\b|"
    r"so (?:that )?i (?:don t|dont|do not|won t|wont) (?:get|fall|be)|para que no me|para no (?:caer|ser)|pra (?:eu )?nao (?:cair|ser)|para (?:eu )?nao (?:cair|ser)|"
    r"pour ne pas (?:me faire|tomber|etre)|damit ich nicht (?:reinfalle|betrogen|hereinfalle)|zodat ik niet (?:in|word|opgelicht)|cosi non mi (?:faccio|fanno)|per non (?:cadere|farmi)|per no (?:caure|ser))")

_HUMAN = re.compile(
    r"(?<![a-z])(?:human\w*|huma\b|humain\w*|mensch\w*|mitarbeiter\w*|medewerker\w*|atendente|operador\w*|operator|"
    r"agent\b|agente\b|representative|representante|real person|persona real|una persona|alguien real|"
    r"(?:talk|speak|chat|hablar|parlar|parler|falar|sprechen|passer|parlare|praten|spreken)\b(?:\s+\w+){0,3}\s+"
    r"(?:someone|somebody|person|alguien|algu|quelqu un|alguem|jemand\w*|persona|pessoa|personne|qualcuno|iemand)\b)"
)
_URGENT = re.compile(r"(?<![a-z])(?:urgent\w*|asap|immediately|right now|inmediat\w*|immediat\w*|dringend|sofort|subito|meteen|now!|help!|ayuda!|!!)")


# Channels where a bare keyword is a carrier-style command (a chat widget's "help" is a request).
COMMAND_MEDIA = frozenset({Medium.SMS, Medium.WHATSAPP})


def classify(text: str, redaction_kinds: frozenset[str] = frozenset(), commands: bool = True) -> Triage:
    """Category, priority, flags and confidence for a message's text (``commands``: whether a
    bare STOP/START/HELP keyword is a command on this channel)."""
    folded = fold(text)
    secret_pasted = bool(redaction_kinds & SECURITY_REDACTIONS)
    cmd = command(text) if commands and not secret_pasted else None
    if cmd:
        return Triage(category="command", priority="low", security=False, confidence=1.0, wants_human=False, command=cmd)
    rule = security_rule(text)
    if rule:
        best, confidence = rule, 1.0
    else:
        # the hub's redaction markers ("[redacted: password]") are not the customer's words:
        # what was pasted is judged from redaction_kinds below, not by the model
        words = _MARKER.sub(" ", text)
        probs = probabilities(prefix(words, MODEL_CHARS))
        best, confidence = next(iter(probs.items()))
        cue = has_cue(words)
        if confidence < (MIN_MODEL_CONFIDENCE if cue else NO_CUE_CONFIDENCE) or (not cue and best in SECURITY_CATEGORIES and NO_CUE_NO_ALARM):
            best = "general_question"
        elif best in SECURITY_CRITICAL and _precaution(folded):
            best, confidence = next((c, p) for c, p in probs.items() if c not in SECURITY_CRITICAL)
        if secret_pasted and best not in SECURITY_CATEGORIES:
            best = "lost_keys_or_recovery_phrase" if "recovery_phrase" in redaction_kinds else "security_question"
    wants_human = bool(_HUMAN.search(folded))
    priority = _priority(best, folded)
    security = best in SECURITY_CATEGORIES or secret_pasted
    if secret_pasted or best == "suspicious_access_or_hacked_account":
        priority = "urgent"
    return Triage(category=best, priority=priority, security=security, confidence=round(confidence, 3), wants_human=wants_human)


_BASE_PRIORITY = {
    "suspicious_access_or_hacked_account": "urgent",
    "lost_keys_or_recovery_phrase": "high",
    "impersonation": "high",
    "scam_or_phishing_report": "high",
    "transaction_not_processed": "high",
    "deposit_not_credited": "high",
    "withdrawal_pending": "high",
    "wrong_network_or_memo": "high",
    "login_or_2fa_lost": "high",
    "account_locked": "high",
    "general_question": "low",
    "fees": "low",
}


def _priority(category: str, folded: str) -> str:
    base = _BASE_PRIORITY.get(category, "normal")
    if _URGENT.search(folded) and base in ("low", "normal"):
        return "high"
    return base


#: what a normalizer writes for content without words of its own ("[location: …]", "[sticker]",
#: "[Reacted 👍 to a message]", "[Unsupported WhatsApp message type: order]"): not the
#: customer's words, so never triaged ("1 Hacker Way" in an address is no hacked account)
_GENERATED = re.compile(r"\[(?!redacted:|sealed:)[^\[\]\n]{1,300}\]", re.I)


def triage(msg: NormalizedMessage) -> NormalizedMessage:
    """Pipeline step: ``msg.triage`` from subject + text (after redaction)."""
    if msg.direction != "inbound" or msg.kind in ("status", "delete"):
        return msg
    body = _GENERATED.sub(" ", msg.text or msg.full_text or "")
    text = "\n".join(t for t in (msg.subject, body) if t and t.strip())
    kinds = frozenset(r.kind for r in msg.redactions)
    return msg.replace(triage=classify(text, kinds, commands=msg.medium in COMMAND_MEDIA))
