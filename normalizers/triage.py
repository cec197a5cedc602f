"""Triage: category, priority, security flag and "wants a human", offline and multilingual.

Keyword/phrase scoring over accent-folded text in English, Spanish, Catalan, French,
German and Portuguese. Each category has weighted patterns (stems, so "sincroniza",
"sincronitza" and "synchronisiert" all hit ``sincron|synchron``); the best-scoring
category wins, and a message that scores nothing is a ``general_question``. Accuracy on
the labelled set tests/data/triage_set.jsonl is in the README (Support intelligence).
"""

from __future__ import annotations

import re
import unicodedata

from normalizers.model import NormalizedMessage, Triage

CATEGORIES: tuple[str, ...] = (
    "transaction_not_processed",
    "lost_keys_or_recovery_phrase",
    "ui_error",
    "duplicated_balance",
    "payment_delay",
    "bank_integration",
    "verification_error",
    "suspicious_access_or_hacked_account",
    "sync_problem",
    "security_question",
    "general_question",
    "integrations",
    "claims_and_refunds",
)
PRIORITIES: tuple[str, ...] = ("low", "normal", "high", "urgent")
SECURITY_CATEGORIES = frozenset({"suspicious_access_or_hacked_account", "lost_keys_or_recovery_phrase", "security_question"})
SECURITY_REDACTIONS = frozenset({"recovery_phrase", "private_key", "extended_private_key"})


def fold(text: str) -> str:
    """Lower-case, accents removed, apostrophes and hyphens as spaces."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"['’`\-]", " ", plain).replace("ß", "ss")


# (pattern over folded text, weight). Patterns are regex fragments matched at a word start.
_RULES: dict[str, list[tuple[str, float]]] = {
    "transaction_not_processed": [
        (r"transac\w*|transakt\w*|tx\b|txid", 1.0),
        (r"(?:transfer|transferencia|overschrijving|envio|enviament|withdraw\w*|retir\w*|retrait|auszahlung|saque|ueberweisung|uberweisung)", 0.8),
        (r"pend\w*|stuck|bloque\w*|atasc\w*|encalla\w*|haengt|hangt|unconfirm\w*|not confirm\w*|no se (?:ha )?confirm\w*|no es confirma|nicht bestaetigt|nicht bestatigt|n[ao]o (?:foi )?confirm\w*", 1.2),
        (r"fail\w*|fall[oa]\w*|fallat|echou\w*|fehlgeschlagen|falhou", 0.8),
        (r"not (?:been )?processed|sin procesar\w*|no (?:s ha )?process\w*|pas (?:ete )?traite\w*|nicht ausgefuehrt|nicht ausgefuhrt|n[ao]o (?:foi )?processad\w*|not gone through|never arriv\w*|no (?:ha )?lleg\w*|no ha arribat", 1.5),
    ],
    "lost_keys_or_recovery_phrase": [
        (r"(?:recovery|seed|secret|backup|mnemonic) (?:phrase|words?)|12 words|24 words|frase (?:de recupera\w*|semilla|secreta)|palabras semilla|paraules de recupera\w*|phrase (?:de recuperation|secrete)|wiederherstellungsphrase|seed phrase|frase de recuperacao|(?:12|24) (?:words|palabras|paraules|mots|palavras|woerter|worter)", 1.5),
        (r"private key|clave privada|clau privada|cle privee|privat\w* schluessel|privat\w* schlussel|chave privada", 1.5),
        (r"lost|lose|forgot\w*|perd\w*|olvid\w*|oblid\w*|oubli\w*|verloren|vergessen|esqueci\w*|can ?t find|no trobo|no encuentro", 1.5),
        (r"restor\w*|recover\w*|recuper\w*|restaur\w*|wiederherstell\w*", 0.6),
    ],
    "ui_error": [
        (r"crash\w*|plant\w*|se cierra|es tanca|stuerzt|sturzt|abstuerz\w*|trava\w*|freez\w*|congel\w*|es penja|se cuelga|blank|en blanco|en blanc|blanche", 1.5),
        (r"screen|pantalla|ecran|bildschirm|tela|page|pagina|display|layout|chart|grafic\w*", 0.8),
        (r"button|boton|boto|bouton|knopf|botao", 1.2),
        (r"error message|mensaje de error|missatge d error|message d erreur|fehlermeldung|mensagem de erro|bug", 1.2),
        (r"app\b|aplicac\w*|aplicacio|application|aplicativo", 0.5),
        (r"error|erreur|fehler|erro\b", 0.5),
    ],
    "duplicated_balance": [
        (r"duplica\w*|doppelt|double\w*|doubl\w*|doble|dues vegades|dos veces|deux fois|zweimal|duas vezes|twice", 1.2),
        (r"balance|saldo|solde|kontostand|guthaben|portfolio", 1.2),
        (r"(?:twice|double|doble|doppelt|duplica\w*) (?:the )?(?:amount|balance|saldo)|same coins counted", 1.0),
    ],
    "payment_delay": [
        (r"delay\w*|late\b|retras\w*|retard\w*|endarrer\w*|verspaet\w*|verspat\w*|atrasad\w*|atraso", 2.0),
        (r"taking too long|tarda\w* demasiado|triguen massa|met trop de temps|braucht zu lange|dauert|demorand\w*|demora\w*|still waiting|sigo esperando|segueixo esperant", 1.8),
        (r"when will|cuando lleg\w*|quan arribar\w*|quand\b|wann\b|quando cheg\w*", 0.8),
        (r"payment|payout|pago|pagament|paiement|zahlung|pagamento|money|dinero|diners|argent|geld|dinheiro", 0.7),
        (r"arriv\w*|lleg\w*|arrib\w*|ankommen|chegar|chegado", 0.5),
    ],
    "bank_integration": [
        (r"bank\w*|banco|banc\b|bancari\w*|banque|bancaire|bancaria", 1.2),
        (r"iban|sepa|plaid|open banking|swift|ach\b|pix\b", 1.5),
        (r"link\w*|vincul\w*|lier|verknuepf\w*|verknupf\w*|connect\w*|conexi\w*|connexi\w*|verbindung", 1.0),
    ],
    "verification_error": [
        (r"kyc|verif\w*|identitaetspruef\w*|identitatspruf\w*", 1.8),
        (r"identity|identidad|identitat|identite|identidade|ausweis|passport|pasaporte|passaport|passeport|reisepass|documento?|dni|selfie|proof of address|piece d identite|id document", 1.2),
        (r"reject\w*|rechaz\w*|rebutj\w*|refus\w*|abgelehnt|recusad\w*|not accepted|no coincid\w*|doesn ?t match|ne correspond|nao corresponde", 0.8),
    ],
    "suspicious_access_or_hacked_account": [
        (r"hack\w*|piratad\w*|pirate\w*|gehackt|compromis\w*|kompromittiert", 3.0),
        (r"stol\w*|steal\w*|robad\w*|robat\w*|robaron|vole\b|gestohlen|roubad\w*|roubaram|drained|vaciad\w*", 2.5),
        (r"suspicious|sospechos\w*|sospitos\w*|suspect\w*|verdaechtig\w*|verdachtig\w*|suspeit\w*|wasn ?t me|no (?:he sido|era) yo|no reconozco|ne reconnais pas|nicht kenne|nao reconheco|unauthori[sz]ed|sin autorizaci\w*|sense permis|without permission|sin permiso|sem autorizacao|unknown address", 2.0),
        (r"login alert|someone (?:changed|has access|logged)|alguien ha entrado|algu ha entrat|ha entrado en mi cuenta|entrat al meu compte|entrou na minha conta|jemand", 2.0),
        (r"access|acceso|acces|zugriff|acesso|login|connexion", 0.4),
    ],
    "sync_problem": [
        (r"sync\w*|sincron\w*|synchron\w*|synchronis\w*", 2.5),
        (r"block\b|blockchain|node\b|nodo|noeud", 0.8),
        (r"not updat\w*|no se actualiza|don ?t update|out of date", 0.8),
    ],
    "security_question": [
        (r"two factor|2fa|dos pasos|dos passos|deux facteurs|zwei faktor|dois fatores|authenti\w*|autentica\w*", 2.0),
        (r"phishing|scam|estafa|estafa\w*|arnaque|betrug|golpe", 2.0),
        (r"is it safe|es seguro|es segur|est ce securise|ist es sicher|e seguro|safe|secur\w*|segur\w*|sicher\w*|hardware wallet", 1.2),
        (r"password manager|cloud|nube|nuvol|nuvem|correo sospechoso|correu estrany", 0.6),
        (r"store|keep|guardar|garder|speicher\w*|aufbewahr\w*", 0.8),
    ],
    "general_question": [
        (r"opening hours|horario|horari|horaires|oeffnungszeiten|offnungszeiten|horario de atendimento", 2.0),
        (r"which countries|que paises|quins paisos|countries|paises|paisos|pays|laender|lander", 1.5),
        (r"language|idioma|langue|sprache", 1.5),
        (r"question|pregunta|pregunta|question|frage|pergunta|fees?\b|comisiones|tarifas|how do i|como\b|com\b|comment\b|wie\b", 0.5),
    ],
    "integrations": [
        (r"api\b|api key|api schluessel|sdk\b|endpoint|webhook\w*", 2.0),
        (r"plugin|shopify|woocommerce|zapier|koinly|integra\w*|connector|eina de comptabilitat|buchhaltungssoftware|tax tool|herramienta de impuestos", 1.5),
        (r"401|403|500\b|status code", 0.8),
    ],
    "claims_and_refunds": [
        (r"refund\w*|reembols\w*|reemborsa\w*|rembourse\w*|rueckerstatt\w*|ruckerstatt\w*|erstattung|chargeback|money back|devuelvan\w*|devolu\w*|torneu me|retorn\w*", 2.0),
        (r"complaint|reclama\w*|beschwerde|plainte|compensation|compensaci\w*|indemni\w*|entschaedigung|entschadigung", 2.0),
        (r"want my (?:\w+ )?back|de volta|money back", 1.5),
        (r"charged twice|cobrad\w* dos veces|cobrar dos cops|overcharg\w*|cobrar\w* de mas|cobrat de mes|factur\w* deux fois|doppelt berechnet\w*|cobrada duas vezes|billed|cobrad\w*|cobrat", 1.0),
    ],
}

_COMPILED: dict[str, list[tuple[re.Pattern[str], float]]] = {
    cat: [(re.compile(r"(?<![a-z0-9])(?:" + pat + r")"), w) for pat, w in rules] for cat, rules in _RULES.items()
}

_HUMAN = re.compile(
    r"(?<![a-z])(?:human\w*|huma\b|humain\w*|mensch\w*|mitarbeiter\w*|atendente|operador\w*|operator|"
    r"agent\b|agente\b|representative|representante|real person|persona real|una persona|alguien real|"
    r"(?:talk|speak|chat|hablar|parlar|parler|falar|sprechen|passer)\b(?:\s+\w+){0,3}\s+(?:someone|somebody|person|alguien|algu|quelqu un|alguem|jemand\w*|persona|pessoa|personne)\b)"
)
_URGENT = re.compile(r"(?<![a-z])(?:urgent\w*|asap|immediately|right now|inmediat\w*|immediat\w*|dringend|sofort|now!|help!|ayuda!|!!)")


def score(text: str) -> dict[str, float]:
    """Category -> score for ``text`` (folded internally)."""
    folded = fold(text)
    return {cat: sum(w for p, w in pats if p.search(folded)) for cat, pats in _COMPILED.items()}


def classify(text: str, redaction_kinds: frozenset[str] = frozenset()) -> Triage:
    """Category, priority, flags and confidence for a message's text."""
    scores = score(text)
    ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
    (best, top), (_second, runner_up) = ranked[0], ranked[1]
    if top < 0.6:
        best = "general_question"
    confidence = 0.0 if top <= 0 else round(min(1.0, top / 4.0) * (top - runner_up + 0.5) / (top + 0.5), 3)
    folded = fold(text)
    wants_human = bool(_HUMAN.search(folded))
    secret_pasted = bool(redaction_kinds & SECURITY_REDACTIONS)
    if secret_pasted and top < 0.6:
        best = "lost_keys_or_recovery_phrase" if "recovery_phrase" in redaction_kinds else "security_question"
    priority = _priority(best, folded)
    security = best in SECURITY_CATEGORIES or secret_pasted
    if secret_pasted or best == "suspicious_access_or_hacked_account":
        priority = "urgent"
    return Triage(category=best, priority=priority, security=security, confidence=confidence, wants_human=wants_human)


def _priority(category: str, folded: str) -> str:
    base = {
        "suspicious_access_or_hacked_account": "urgent",
        "lost_keys_or_recovery_phrase": "high",
        "transaction_not_processed": "high",
        "general_question": "low",
    }.get(category, "normal")
    if _URGENT.search(folded) and base in ("low", "normal"):
        return "high"
    return base


def triage(msg: NormalizedMessage) -> NormalizedMessage:
    """Pipeline step: ``msg.triage`` from subject + text (after redaction)."""
    if msg.direction != "inbound" or msg.kind in ("status", "delete"):
        return msg
    text = "\n".join(t for t in (msg.subject, msg.text or msg.full_text) if t)
    return msg.replace(triage=classify(text, frozenset(r.kind for r in msg.redactions)))
