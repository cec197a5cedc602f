"""The cue-word pre-check of redaction (#22.5) never hides a cue the patterns would find.

``_credential_spans`` and the card-code search skip a text that holds none of
``_CUE_WORDS`` / ``_CARD_CUE_WORDS`` once folded by ``_no_cue``. That is only right if
(1) every spelling the cue patterns accept contains one of the words, and (2) every character that
IGNORECASE matches to a letter of those words lowers to that letter, or turns the check off.
"""

from __future__ import annotations

import re
import sys

import pytest

from normalizers import redact as r

SPELLINGS = [
    # _PASSWORD_CUES, every alternative, in the case and accents it accepts
    "password", "passwords", "passwd", "pwd", "pass phrase", "passphrase", "contraseña", "contraseñas", "contrasena",
    "contrasenas", "contrasenyes", "contrasenya", "mot de passe", "mdp", "passwort", "passwörter", "passworter",
    "kennwort", "senha", "senhas", "palavra-passe", "palavra passe", "wachtwoord", "wachtwoorden", "parola", "hasło",
    "haslo", "clave de acceso",
    # _PIN_CUES
    "pin", "pincode", "pin-código", "pin codigo", "pin codi", "pinnummer", "pin number", "passcode", "código pin",
    "codigo pin", "codi pin", "code pin", "nip",
]
CARD_SPELLINGS = [
    "cvv", "cvv2", "cvc", "cvc2", "cid", "csc", "card code", "card security code", "card verification code",
    "security code", "código de seguridad", "codigo de seguridad", "kartenprüfnummer", "kartenprufnummer",
    "cryptogramme", "cryptogramme visuel",
]


@pytest.mark.parametrize("cue", SPELLINGS)
def test_every_password_and_pin_cue_holds_a_cue_word(cue):
    assert r._CUE_RE.fullmatch(cue), cue  # a spelling the pattern accepts
    for text in (cue, cue.upper(), cue.title(), cue.upper().replace("I", "İ"), cue.replace("s", "ſ"), cue.replace("i", "ı")):
        if r._CUE_RE.search(text):
            assert not r._no_cue(text, r._CUE_WORDS), text


@pytest.mark.parametrize("cue", CARD_SPELLINGS)
def test_every_card_code_cue_holds_a_cue_word(cue):
    assert r._CARD_CODE_CUE.fullmatch(f"{cue} 123"), cue  # a spelling the pattern accepts
    for text in (cue, cue.upper(), cue.title(), cue.replace("s", "ſ"), cue.replace("i", "ı"), cue.upper().replace("I", "İ")):
        sample = f"{text} 123"
        if r._CARD_CODE_CUE.search(sample):
            assert not r._no_cue(sample, r._CARD_CUE_WORDS), sample


def test_every_character_ignorecase_takes_for_a_cue_letter_is_lowered_to_it_or_disables_the_check():
    letters = sorted(set("".join(r._CUE_WORDS + r._CARD_CUE_WORDS + r._MORE_WORDS)))
    every = "".join(chr(i) for i in range(sys.maxunicode + 1) if not 0xD800 <= i <= 0xDFFF)
    for letter in letters:
        for ch in set(re.compile(f"[{letter}]", re.IGNORECASE).findall(every)):
            assert ch.lower() == letter or ch in r._CUE_ODD, (letter, ch, hex(ord(ch)))
    assert not r._no_cue("paſsword", r._CUE_WORDS) and not r._no_cue("PİN", r._CUE_WORDS)


MORE_SPELLINGS = [
    # _WEAK_CUES, the one-time/backup code cues and the sign-in cues of _more_credential_spans (#21.8)
    "pw: ab12", "pwd: ab12", "pword: ab12", "pswd: ab12", "psw: ab12", "pass: ab12", "passwd: ab12", "passw: ab12",
    "clave: ab12", "clau: ab12", "senha: ab12", "contra: ab12", "mdp: ab12", "kennwort: ab12",
    "2fa code 123456", "mfa code 123456", "otp 123456", "totp 123456", "backup code 123456", "recovery codes 123456",
    "verification code 123456", "authenticator code 123456", "one-time code 123456", "sms code 123456",
    "código de verificación 123456", "codigo de respaldo 123456", "código de verificação 123456", "codi de recuperació 123456",
    "code de secours 123456", "code de récupération 123456", "Backup-Code 123456", "Wiederherstellungscode 123456",
    "Bestätigungscode 123456", "herstelcode 123456", "verificatiecode 123456",
    "login: bob / Secret123", "log in: bob / Secret123", "sign-in: bob / Secret123", "username: bob / Secret123",
    "user bob / Secret123", "credentials: bob / Secret123", "usuario: bob / Secret123", "usuari: bob / Secret123",
    "utilisateur: bob / Secret123", "identifiant: bob / Secret123", "Benutzername: bob / Secret123",
    "utilizador: bob / Secret123", "usuário: bob / Secret123", "gebruikersnaam: bob / Secret123",
]


@pytest.mark.parametrize("text", MORE_SPELLINGS)
def test_every_more_credential_cue_holds_a_pre_check_word(text):
    assert r._more_credential_spans(text), text  # a form the rules take
    for variant in (text, text.upper(), text.title()):
        assert not r._no_cue(variant, r._MORE_WORDS), variant
