"""Expected outputs for quote/signature splitting, from three projects' fixtures.

Each case names a corpus file and checks on ``normalizers.quotes.split`` of its text:

- ``reply``      talon's notion: new part WITH signature (``extract_from_plain``) equals this
- ``body``       new part without signature equals this
- ``body_has`` / ``body_lacks``   substrings that must / must not be in the new part
- ``sig_has``    substrings of the detected signature
- ``sig_empty``  no signature must be detected

Sources of each expectation:
- talon ``tests/text_quotations_test.py::test_standard_replies`` (``*_reply_text`` or "Hello"),
  ``tests/html_quotations_test.py`` ("Hi. I am fine. Thanks, Alex", whitespace ignored), and the
  signature fixtures (``stripped/*_signature``; ``P/*`` lines marked ``#sig#`` / ``#reply#``);
- zapier ``test/test_email_reply_parser.py`` (its visible-reply assertions);
- alfonsrv ``test/test_email_reply_parser.py`` (``replies[0].body`` / ``.signatures``); the
  ``*_wrap`` files and ``multiline_on*`` have no upstream assertion on the first reply, so
  their expectation is read off the fixture (greeting kept, attribution and quote gone).

Blank-line runs are collapsed before comparing ``body`` (upstream keeps three newlines).
Run ``python -m tests.normalizers.quote_cases`` for the table.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass, field
from pathlib import Path

from normalizers import email as email_normalizer
from normalizers import quotes
from tests.support.corpus import CORPUS

TALON = CORPUS / "email" / "mailgun-talon" / "tests" / "fixtures"
ZAPIER = CORPUS / "email" / "zapier-email-reply-parser" / "test" / "emails"
ALFONSRV = CORPUS / "email" / "alfonsrv-mail-parser-reply" / "test" / "emails"


@dataclass
class Case:
    source: str
    name: str
    text: str
    reply: str | None = None
    reply_nows: str | None = None
    body: str | None = None
    body_has: list[str] = field(default_factory=list)
    body_lacks: list[str] = field(default_factory=list)
    sig_has: list[str] = field(default_factory=list)
    sig_empty: bool = False
    sig_equals: str | None = None

    def checks(self) -> list[tuple[str, bool]]:
        parts = quotes.split(self.text)
        out: list[tuple[str, bool]] = []
        if self.reply is not None:
            out.append(("reply", _rstrip_lines(parts.reply) == _rstrip_lines(self.reply)))
        if self.reply_nows is not None:
            out.append(("reply~", re.sub(r"\s", "", parts.reply) == re.sub(r"\s", "", self.reply_nows)))
        if self.body is not None:
            out.append(("body", _collapse(parts.body) == _collapse(self.body)))
        out += [(f"body has {s!r}", s in parts.body) for s in self.body_has]
        out += [(f"body lacks {s!r}", s not in parts.body) for s in self.body_lacks]
        out += [(f"sig has {s!r}", s in parts.signature) for s in self.sig_has]
        if self.sig_empty:
            out.append(("sig empty", parts.signature == ""))
        if self.sig_equals is not None:
            out.append(("sig", parts.signature.strip() == self.sig_equals.strip()))
        return out


def _collapse(text: str) -> str:
    return re.sub(r"\n\s*\n+", "\n\n", "\n".join(ln.strip() for ln in text.strip().splitlines()))


def _rstrip_lines(text: str) -> str:
    return "\n".join(ln.rstrip() for ln in text.strip().splitlines())


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def _eml_plain(path: Path) -> str:
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.compat32)
    for part in msg.walk():
        if part.get_content_type() == "text/plain":
            return email_normalizer.decode_bytes(part.get_payload(decode=True) or b"", part.get_content_charset())
    return ""


def talon_cases() -> list[Case]:
    cases = []
    std = TALON / "standard_replies"
    for eml in sorted(std.glob("*.eml")):
        expected_file = std / (eml.stem + "_reply_text")
        expected = _read(expected_file).strip() if expected_file.exists() else "Hello"
        cases.append(Case("talon", f"standard/{eml.stem}", _eml_plain(eml), reply=expected))
    for html_file in sorted((TALON / "html_replies").glob("*.html")):
        text = email_normalizer.html_to_text(_read(html_file))
        cases.append(Case("talon", f"html/{html_file.stem}", text, reply_nows="Hi. I am fine.\n\nThanks,\nAlex"))
    stripped = TALON / "signature" / "emails" / "stripped"
    for body in sorted(stripped.glob("*_body")):
        stem = body.name[: -len("_body")]
        sig = _read(stripped / f"{stem}_signature").strip()
        cases.append(Case("talon", f"signature/{stem}", _read(body), sig_equals=sig))
    for path in sorted((TALON / "signature" / "emails" / "P").iterdir()):
        if path.name.endswith("_sender"):
            continue
        raw = _read(path)
        if "\n\n" in raw and raw.split("\n", 1)[0].startswith("From:"):
            raw = raw.split("\n\n", 1)[1]
        sig_lines = [ln[len("#sig#") :] for ln in raw.splitlines() if ln.startswith("#sig#")]
        reply_lines = [ln[len("#reply#") :] for ln in raw.splitlines() if ln.startswith("#reply#")]
        text = "\n".join(re.sub(r"^#(?:sig|reply)#", "", ln) for ln in raw.splitlines())
        sig = "\n".join(sig_lines).strip()
        lacks = [ln.strip() for ln in reply_lines if len(ln.strip()) > 15][:3]
        cases.append(Case("talon", f"signature/P/{path.name}", text, sig_equals=sig if sig else None, sig_empty=not sig, body_lacks=lacks))
    return cases


def zapier_cases() -> list[Case]:
    z = lambda name: _read(ZAPIER / f"{name}.txt")  # noqa: E731
    return [
        Case("zapier", "email_1_1", z("email_1_1"), body_has=["folks"], body_lacks=["riak-users"]),
        Case("zapier", "email_1_2", z("email_1_2"), body_has=["Hi,", "You can list the keys for the bucket"], body_lacks=["> Hi folks", "riak-users"]),
        Case("zapier", "email_1_3", z("email_1_3"), body_lacks=["Russell Brown wrote:", "-Abhishek Kona"]),
        Case("zapier", "email_1_4", z("email_1_4"), body_has=["Awesome"], body_lacks=["Loader"]),
        Case("zapier", "email_1_5", z("email_1_5"), body=quotes._tidy(z("email_1_5").replace("\r\n", "\n").split("\n"))),
        Case("zapier", "email_1_6", z("email_1_6"), body_has=["I get"], body_lacks=["wrote:"]),
        Case("zapier", "correct_sig", z("correct_sig"), sig_has=["--", "rick"], body_lacks=["rick"]),
        Case("zapier", "email_1_7", z("email_1_7"), body_has=[":+1:"], body_lacks=["Steps 0-2"]),
        Case("zapier", "email_iPhone", z("email_iPhone"), body_lacks=["Sent from my iPhone"]),
        Case("zapier", "email_one_is_not_on", z("email_one_is_not_on"), body_lacks=["On Oct 1, 2012, at 11:55 PM, Dave Tapley wrote:"]),
        Case("zapier", "email_gmail", z("email_gmail"), body_lacks=["xxx@gmail.com"]),
    ]


def alfonsrv_cases() -> list[Case]:
    a = lambda name: _read(ALFONSRV / f"{name}.txt")  # noqa: E731
    return [
        Case("alfonsrv", "email_1_1", a("email_1_1"), body_lacks=["riak-users"], sig_has=["riak-users", "-Abhishek Kona"]),
        Case("alfonsrv", "email_1_3", a("email_1_3"), body_lacks=["-Abhishek Kona", "On 01/03/11 7:07 PM, Russell Brown wrote:"], sig_has=["-Abhishek Kona"]),
        Case("alfonsrv", "email_2_1", a("email_2_1"), body="Outlook with a reply\n\n\n------------------------------"),
        Case("alfonsrv", "email_2_3", a("email_2_3"), body="Outlook with a reply above headers using unusual format"),
        Case("alfonsrv", "email_headers_no_delimiter", a("email_headers_no_delimiter"), body="And another reply!"),
        Case("alfonsrv", "email_sent_from_iPhone", a("email_sent_from_iPhone"), body="Here is another email", sig_equals="Sent from my iPhone"),
        Case("alfonsrv", "email_sent_from_multi_word_mobile_device", a("email_sent_from_multi_word_mobile_device"), body="Here is another email", sig_equals="Sent from my Verizon Wireless BlackBerry"),
        Case("alfonsrv", "email_sent_from_BlackBerry", a("email_sent_from_BlackBerry"), body="Here is another email", sig_equals="Sent from my BlackBerry"),
        Case("alfonsrv", "email_sent_from_not_signature", a("email_sent_from_not_signature"), body="Here is another email\n\nSent from my desk, is much easier than my mobile phone.", sig_empty=True),
        Case("alfonsrv", "email_ja_1_1", a("email_ja_1_1"), body_has=["こんにちは"]),
        Case("alfonsrv", "email_ja_1_2", a("email_ja_1_2"), body_has=["お世話になっております。織田です。", "それでは 11:00 にお待ちしております。"], body_lacks=["かしこまりました"]),
        Case("alfonsrv", "email_nl_1_1", a("email_nl_1_1"), body_lacks=["riak-gebruikers"], sig_has=["riak-gebruikers"]),
        Case("alfonsrv", "email_nl_1_2", a("email_nl_1_2"), body="Outlook met een antwoord\n\n\n------------------------------"),
        Case("alfonsrv", "email_pl_1_1", a("email_pl_1_1"), body_has=["Czesc Anno"], sig_has=["Pozdrawiam,\nJan"], body_lacks=["Pozdrawiam,\nJan"]),
        Case("alfonsrv", "email_pl_1_2", a("email_pl_1_2"), body_lacks=["Dnia 28 lutego 2023 14:00 Anna Nowak <anna.nowak@example.com>", "> Pozdrawiam,"]),
        Case("alfonsrv", "email_pl_1_3", a("email_pl_1_3"), sig_has=["Z powazaniem,\nJan"], body_lacks=["Z powazaniem,\nJan"]),
        Case("alfonsrv", "begins_with_signature", a("begins_with_signature"), sig_has=["Regards,"]),
        Case("alfonsrv", "email_swedish_2", a("email_swedish_2"), body_has=["Hello Anna,"], sig_has=["/John"], body_lacks=["/John"]),
        Case("alfonsrv", "email_swedish_1", a("email_swedish_1"), body_has=["Ursäkta mitt sena svar!"], body_lacks=["Hej Person B,"]),
        Case("alfonsrv", "email_sv_anon_1", a("email_sv_anon_1"), body_has=["Berättar gärna."], body_lacks=["Kan inte se att det står något", "Jag har försökt få tag"]),
        Case("alfonsrv", "email_danish_1", a("email_danish_1"), body_has=["Hej Peter,"], body_lacks=["Med venlig hilsen\nAnders Andersen", "Hej Anders,"], sig_has=["Med venlig hilsen\nAnders Andersen"]),
        Case("alfonsrv", "email_danish_2", a("email_danish_2"), body_has=["Jeg har modtaget filerne."], body_lacks=["Her er filerne du bad om."], sig_has=["Hilsen\nSøren"]),
        Case("alfonsrv", "email_danish_3", a("email_danish_3"), body_has=["Svar."]),
        Case("alfonsrv", "email_danish_4", a("email_danish_4"), body_has=["Svar."], body_lacks=["-----Oprindelig meddelelse-----"]),
        Case("alfonsrv", "email_danish_5", a("email_danish_5"), body_has=["Svar."], sig_has=["Kh\nPeter"], body_lacks=["Kh\nPeter"]),
        Case("alfonsrv", "email_es_wrap", a("email_es_wrap"), body_has=["Hola Anna,", "mañana por la mañana."], body_lacks=["escribió", "el puesto vuelve"], sig_has=["Saludos"]),
        Case("alfonsrv", "email_fr_wrap", a("email_fr_wrap"), body_has=["Bonjour Anna,", "la semaine prochaine."], body_lacks=["a écrit", "le poste est"], sig_has=["Cordialement"]),
        Case("alfonsrv", "email_de_wrap", a("email_de_wrap"), body_has=["Hallo Anna,", "kurz telefonieren."], body_lacks=["schrieb", "die Stelle ist"], sig_has=["Viele Grüße"]),
        Case("alfonsrv", "email_de_wrap_inside", a("email_de_wrap_inside"), body_has=["Hallo Anna,"], body_lacks=["schrieb", "die Stelle ist"], sig_has=["Viele Grüße"]),
        Case("alfonsrv", "multiline_on", a("multiline_on"), body=""),
        Case("alfonsrv", "multiline_on_de", a("multiline_on_de"), body="Am heutigen Tage"),
        Case("alfonsrv", "email_headers_no_delimiter_sig", a("email_headers_no_delimiter"), body_lacks=["Sent from my iPhone", "This is a message."]),
        Case("alfonsrv", "greedy_on", a("greedy_on"), body_has=["On your remote host you can run:", "the tunnel is not working."], body_lacks=["George Plymale wrote", "odd issue"]),
        Case("alfonsrv", "email_sig_delimiter_in_middle_of_line", a("email_sig_delimiter_in_middle_of_line"), body_has=["this is not a signature.", "kthxbai"]),
        Case("alfonsrv", "outlook", a("outlook"), body_has=["My number is: +00 0000 000 000"], body_lacks=["Get Outlook for iOS"]),
        Case("alfonsrv", "multi_header", a("multi_header"), body="No problem. I’ll just start a new order."),
        Case("alfonsrv", "email_1_8", a("email_1_8"), body_has=["I will reply under this one", "and under this."], body_lacks=["Hey there, this is my signature", "here's some stuff I can write"]),
    ]


def all_cases() -> list[Case]:
    return talon_cases() + zapier_cases() + alfonsrv_cases()


def score(cases: list[Case] | None = None) -> dict[str, tuple[int, int]]:
    """(passed checks, checks) per source and in total."""
    out: dict[str, list[int]] = {}
    for case in cases or all_cases():
        for _, ok in case.checks():
            for key in (case.source, "total"):
                passed, total = out.setdefault(key, [0, 0])
                out[key] = [passed + ok, total + 1]
    return {k: (v[0], v[1]) for k, v in out.items()}


if __name__ == "__main__":  # pragma: no cover - a report for docs/channels/email.md
    import sys

    cases = all_cases()
    if "-v" in sys.argv:
        for case in cases:
            for label, ok in case.checks():
                if not ok:
                    print(f"FAIL {case.source}/{case.name}: {label}")
    for key, (passed, total) in score(cases).items():
        print(f"{key:10s} {passed:4d}/{total:<4d} {100 * passed / total:5.1f}%")
