"""normalizers.email against the shared corpus and hand-made edge cases."""

from __future__ import annotations

import hashlib
import re
from email.message import EmailMessage
from email.policy import SMTP

import pytest

from hub.errors import PayloadInvalid
from normalizers import email as email_normalizer
from normalizers.model import ConversationToken, NormalizedMessage
from tests.support.corpus import CORPUS

EMAIL = CORPUS / "email"
pytestmark = pytest.mark.skipif(not EMAIL.exists(), reason=f"corpus not found at {EMAIL} (set OMNIHUB_CORPUS)")


def _catalog_paths() -> list[str]:
    if not (EMAIL / "CATALOG.tsv").exists():
        return []
    out = []
    for line in (EMAIL / "CATALOG.tsv").read_text(encoding="utf-8", errors="replace").splitlines()[1:]:
        path = line.split("\t", 1)[0]
        if path and (EMAIL / path).is_file():
            out.append(path)
    return out


CATALOG = _catalog_paths()


def norm(path: str, **kw) -> NormalizedMessage:
    return email_normalizer.normalize((EMAIL / path).read_bytes(), connector="support", **kw)[0]


def test_catalog_is_complete():
    assert len(CATALOG) >= 220


@pytest.mark.parametrize("path", CATALOG)
def test_every_corpus_message_normalizes_or_is_quarantined_with_a_reason(path):
    raw = (EMAIL / path).read_bytes()
    try:
        [msg] = email_normalizer.normalize(raw, connector="support", max_attachment_bytes=200_000)
    except PayloadInvalid as exc:
        assert str(exc).startswith("email: ") and len(str(exc)) > 15
        return
    assert msg.medium == "email" and msg.connector == "support"
    assert msg.sender.address == msg.sender.address.lower() and "@" in msg.sender.address
    assert msg.external_id == email_normalizer.external_id_for(raw)
    assert msg.thread_key.startswith("support:")
    assert msg.sent_at.tzinfo is not None
    assert "\ufffd" not in msg.subject or b"\xef\xbf\xbd" in raw  # only when the source has it
    assert "<script" not in msg.html.lower()
    for att in msg.attachments:
        assert (att.content is None) != (att.placeholder_reason is None)
        if att.content is not None:
            assert att.size == len(att.content) <= 200_000
            assert att.sha256 == hashlib.sha256(att.content).hexdigest()
    NormalizedMessage.from_dict(msg.to_dict(with_content=True))


@pytest.mark.parametrize(
    "path, reason",
    [
        ("spamscope-mail-parser/tests/mails/mail_outlook_1", "Outlook .msg"),
        ("mikel-mail/MIT-LICENSE", "header block"),
    ],
)
def test_non_messages_are_rejected_with_the_reason(path, reason):
    with pytest.raises(PayloadInvalid, match=reason):
        norm(path)


def test_mail_without_any_sender_is_processed_as_a_null_sender_bounce():
    # issue 18: null-sender mail is never rejected, so the message a bounce names is still found
    msg = norm("mikel-mail/spec/fixtures/emails/error_emails/bad_encoded_subject.eml")
    assert msg.sender.address == "mailer-daemon@null-sender.invalid"
    assert msg.auto_generated and msg.auto_reason.startswith("null sender")


@pytest.mark.parametrize(
    "path, field, expected",
    [
        ("mikel-mail/spec/fixtures/emails/multi_charset/japanese_iso_2022.eml", "subject", "まみむめも"),
        ("mikel-mail/spec/fixtures/emails/multi_charset/japanese_iso_2022.eml", "text", "すみません。"),
        ("mikel-mail/spec/fixtures/emails/multi_charset/japanese_shift_jis.eml", "text", "このメールはテスト用のメールです。"),
        ("mikel-mail/spec/fixtures/emails/multi_charset/ks_c_5601-1987.eml", "text", "스티해"),
        ("mailgun-flanker/tests/fixtures/messages/charset-gb2312.eml", "subject", "提示：您的企业成员暂时无法登录邮件客户端"),
        ("spamscope-mail-parser/tests/mails/mail_test_6", "subject", "Быстрее вкладывайте в золото!"),
        ("spamscope-mail-parser/tests/mails/mail_test_6", "sender.name", "Время пришло"),
        ("spamscope-mail-parser/tests/mails/mail_test_5", "subject", "Je prépare mon été zéro complexe !"),
        ("mikel-mail/spec/fixtures/emails/error_emails/content_transfer_encoding_empty.eml", "subject", "大補泡麵專賣"),
        ("mikel-mail/spec/fixtures/emails/rfc6532/utf8_headers.eml", "subject", "Säying Hello"),
        ("mikel-mail/spec/fixtures/emails/plain_emails/raw_email_with_partially_quoted_subject.eml", "subject", 'Re: Test: "漢字" mid "漢字" tail'),
        ("chatwoot/spec/fixtures/files/non_utf_encoded_mail.eml", "subject", "أهلين عميلنا الكريم"),
        ("mailgun-flanker/tests/fixtures/messages/bilingual-simple.eml", "subject", "Как ты поживаешь?"),
    ],
)
def test_charsets_decode_to_the_right_text(path, field, expected):
    msg = norm(path)
    value = msg.sender.name if field == "sender.name" else getattr(msg, field)
    assert expected in value


@pytest.mark.parametrize(
    "path, filename",
    [
        ("mikel-mail/spec/fixtures/emails/attachment_emails/attachment_nonascii_filename.eml", "ciële.txt"),
        ("mikel-mail/spec/fixtures/emails/multi_charset/japanese_attachment_long_name.eml", "かきくけこかきくけこかきくけこかきくけこかきくけこ.txt"),
        ("mikel-mail/spec/fixtures/emails/attachment_emails/attachment_with_base64_encoded_name.eml", None),
    ],
)
def test_rfc2231_and_encoded_attachment_names(path, filename):
    msg = norm(path)
    assert msg.attachments
    names = [a.filename for a in msg.attachments]
    if filename:
        assert filename in names
    assert all("=?" not in n for n in names)


def test_inline_cid_image_and_size_limit_placeholder():
    msg = norm("spamscope-mail-parser/tests/mails/mail_test_2", max_attachment_bytes=100_000)
    inline = {a.content_id: a for a in msg.attachments if a.inline}
    assert {"intestazione.jpg", "logo.jpg"} <= set(inline)
    assert inline["logo.jpg"].content[:2] == b"\xff\xd8"  # a JPEG
    pdf = next(a for a in msg.attachments if a.filename == "Bollettino.pdf")
    assert pdf.content is None and pdf.size == 1089942
    assert "over the 100000-byte limit" in pdf.placeholder_reason


def test_dsn_marks_our_message_bounced_with_the_servers_reason():
    msg = norm("mailgun-flanker/tests/fixtures/messages/bounce/mailbox-full.eml")
    assert msg.auto_generated
    assert msg.bounce.message_id == "<4E326A95.3010907@example.com>"
    assert "552" in msg.bounce.reason and "MAILBOX FULL" in msg.bounce.reason


def test_gmail_bounce_without_status_fields_still_names_the_message():
    msg = norm("chatwoot/spec/fixtures/files/bounced_gmail.eml")
    assert msg.bounce.message_id.startswith("<conversation/93775311-9416-4428-964b-862001f8a8b2/messages/")
    assert "Address not found" in msg.bounce.reason


def test_delayed_dsn_is_auto_generated_but_not_a_failure():
    msg = norm("mailgun-flanker/tests/fixtures/messages/bounce/no-mx.eml")
    assert msg.auto_generated and "bounce_for" not in msg.extra


def test_auto_reply_with_two_in_reply_to_ids():
    msg = norm("chatwoot/spec/fixtures/files/non_utf_encoded_mail.eml")
    assert msg.auto_generated and msg.auto_reason.startswith("Auto-Submitted")
    assert msg.in_reply_to == "<4e6e35f5a38b4_479f13bb90078178@small-app-01.mail>"


def test_threading_headers():
    msg = norm("mikel-mail/spec/fixtures/emails/rfc2822/example07.eml")
    assert msg.in_reply_to and msg.references
    assert msg.thread_key == f"support:{msg.references[0]}"


# --- hand-made messages -------------------------------------------------------------------


def build(headers: dict[str, str] | None = None, text: str = "Hello, my wallet is stuck.", html: str | None = None) -> bytes:
    m = EmailMessage(policy=SMTP)
    m["From"] = "Alice Example <Alice@Example.COM>"
    m["To"] = "support@hub.example"
    m["Subject"] = "Help"
    m["Message-ID"] = "<m1@example.com>"
    m["Date"] = "Sun, 22 Nov 2026 10:00:00 +0100"
    for k, v in (headers or {}).items():
        del m[k]
        m[k] = v
    m.set_content(text)
    if html is not None:
        m.add_alternative(html, subtype="html")
    return m.as_bytes()


def one(raw: bytes, **kw) -> NormalizedMessage:
    return email_normalizer.normalize(raw, connector="support", **kw)[0]


def test_basic_fields():
    msg = one(build())
    assert msg.sender.address == "alice@example.com" and msg.sender.name == "Alice Example"
    assert msg.external_id == "<m1@example.com>" and msg.thread_key == "support:<m1@example.com>"
    assert msg.sent_at.isoformat() == "2026-11-22T09:00:00+00:00"
    assert msg.text == "Hello, my wallet is stuck." and not msg.auto_generated


def test_missing_message_id_uses_sha256_of_the_bytes():
    raw = re.sub(rb"Message-ID:[^\r\n]*\r\n", b"", build())
    assert b"Message-ID" not in raw
    msg = one(raw)
    assert msg.external_id == "sha256:" + hashlib.sha256(raw).hexdigest() == email_normalizer.external_id_for(raw)


@pytest.mark.parametrize(
    "headers, auto",
    [
        ({"Auto-Submitted": "auto-replied"}, True),
        ({"Auto-Submitted": "no"}, False),
        ({"X-Autoreply": "yes"}, True),
        ({"X-Autorespond": "yes"}, True),
        ({"Precedence": "bulk"}, True),
        ({"Precedence": "junk"}, True),
        ({"Precedence": "list"}, True),
        ({"Precedence": "auto_reply"}, True),
        ({"Precedence": "first-class"}, False),
        ({"Return-Path": "<>"}, True),
        ({"Return-Path": "<alice@example.com>"}, False),
        ({"Subject": "Out of Office: back Monday"}, True),
        ({"Subject": "Automatic reply: Help"}, True),
        ({"Subject": "Respuesta automática: Ayuda"}, True),
        ({"Subject": "Réponse automatique : absent"}, True),
        ({"Subject": "Abwesenheit bis Montag"}, True),
        ({"Subject": "Re: out of office hours question"}, False),
        ({"From": "MAILER-DAEMON@mx.example.net"}, True),
    ],
)
def test_loop_safety(headers, auto):
    assert one(build(headers)).auto_generated is auto


def test_conversation_token_from_plus_address_and_subject():
    msg = one(build({"To": "Support <support+c42@hub.example>"}))
    assert msg.conversation_token == ConversationToken("42", "address")
    msg = one(build({"Subject": "Re: Help [#77]"}))
    assert msg.conversation_token == ConversationToken("77", "subject")
    assert "conversation_token" not in one(build()).extra


@pytest.mark.parametrize("subject", ["Fwd: Re: Help [#77]", "FW: Help [#77]", "WG: Help [#77]", "TR: Help [#77]", "RV: Help [#77]"])
def test_a_forward_does_not_carry_the_subject_token(subject):
    assert "conversation_token" not in one(build({"Subject": subject})).extra


def test_html_is_sanitized_and_rendered_as_text():
    html = '<p onclick="steal()">Hi <b>team</b></p><script>alert(1)</script><blockquote>old</blockquote><a href="javascript:x">l</a>'
    raw = build(text="", html=html + '<img src="cid:logo@x" alt="logo">')
    msg = one(raw)
    assert "<script" not in msg.html and "onclick" not in msg.html and "javascript:" not in msg.html
    assert "<b>team</b>" in msg.html and 'src="cid:logo@x"' in msg.html
    only_html = EmailMessage(policy=SMTP)
    only_html["From"] = "a@example.com"
    only_html.set_content(html, subtype="html")
    msg = one(only_html.as_bytes())
    assert msg.full_text.startswith("Hi team") and "> old" in msg.full_text and msg.text == "Hi team\n\nl"


def test_quotes_are_split_from_the_new_text():
    text = "Sí, ya funciona.\n\nSaludos\nAna\n\nEl lun, 15 ene 2025 a las 17:03, Soporte <support@hub.example> escribió:\n> ¿Funciona ahora?\n"
    msg = one(build(text=text))
    assert msg.text == "Sí, ya funciona."
    assert "¿Funciona ahora?" in msg.full_text and "¿Funciona ahora?" in msg.extra["quoted_text"]
    assert msg.extra["signature"] == "Saludos\nAna"


def test_header_injection_in_raw_input_does_not_leak_into_fields():
    raw = build({"Subject": "=?utf-8?q?Hi=0D=0ABcc=3A_evil=40x.com?="})
    msg = one(raw)
    assert "\n" not in msg.subject and "\r" not in msg.subject


def test_attachment_over_limit_keeps_a_placeholder():
    m = EmailMessage()
    m["From"] = "a@example.com"
    m.set_content("see file")
    m.add_attachment(b"x" * 5000, maintype="application", subtype="pdf", filename="big.pdf")
    m.add_attachment(b"y" * 10, maintype="text", subtype="plain", filename="small.txt")
    msg = one(m.as_bytes(), max_attachment_bytes=1000)
    big, small = msg.attachments
    assert big.placeholder_reason and big.content is None and big.size == 5000
    assert small.content == b"y" * 10


@pytest.mark.parametrize(
    "junk",
    [b"", b"\x00\x01\x02", b"From: a@b\n\n" + b"x" * 10, b"Content-Type: multipart/mixed; boundary=x\n\n--x\n" * 3, b"From: \n\n"],
)
def test_garbage_never_raises_anything_but_payload_invalid(junk):
    try:
        email_normalizer.normalize(junk, connector="c")
    except PayloadInvalid:
        pass


def test_deeply_nested_message_is_handled():
    inner = b"From: a@example.com\nSubject: x\n\nbody\n"
    raw = inner
    for _ in range(80):
        raw = b"From: a@example.com\nContent-Type: message/rfc822\n\n" + raw
    try:
        msg = email_normalizer.normalize(raw, connector="c")[0]
        assert msg.sender.address == "a@example.com"
    except PayloadInvalid as exc:
        assert re.search(r"nested|parse", str(exc))


# --- mutated corpus: hostile bytes never raise anything but PayloadInvalid ----------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_SEEDS = [p for p in CATALOG if (EMAIL / p).stat().st_size < 60_000][:80]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.sampled_from(_SEEDS or ["missing"]),
    cut=st.floats(0.0, 1.0),
    flips=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 255)), max_size=12),
    insert=st.binary(max_size=40),
)
def test_mutated_corpus_messages_never_raise_anything_else(seed, cut, flips, insert):
    if not _SEEDS:
        pytest.skip("corpus missing")
    raw = bytearray((EMAIL / seed).read_bytes())
    for where, value in flips:
        if raw:
            raw[int(where * (len(raw) - 1))] = value
    pos = int(cut * len(raw))
    raw = bytes(raw[:pos]) + insert + bytes(raw[pos:]) if cut < 0.5 else bytes(raw[:pos])
    try:
        [msg] = email_normalizer.normalize(raw, connector="c", max_attachment_bytes=10_000)
    except PayloadInvalid:
        return
    assert msg.sender.address and msg.external_id == email_normalizer.external_id_for(raw)
