"""Separate the new part of a reply from quoted history and signatures (pure).

Reusable by every channel that carries mail-like text. Line based, no model: it finds
attribution lines ("On ... wrote:" in many languages, wrapped over up to three lines),
Outlook header blocks ("From: / Sent: / To:" and their translations), "Original message"
banners and ``>`` quotes, then trims a trailing signature ("-- ", "Sent from my ...",
a closing such as "Best regards," followed by a short name block).

Languages with attribution, banner, header and closing patterns: English, Spanish,
Catalan, French, German, Portuguese, Dutch, Italian, Danish, Swedish, Norwegian, Finnish,
Polish, Czech, Russian, Turkish, Japanese, Chinese and Korean. Attributions may lack the
verb (mail.ru/Yandex ``30.09.2017, 18:30, "Bob" <b@x>:``), the colon (``... wrote``), be
framed by dashes (``---- On ... wrote ----``) or be wrapped over up to three lines; Outlook
header blocks may have a wrapped From line; a re-wrapped quote line stays in the quote. A
rule or a line of dashes in the customer's own text (a table, a list) is never a cut.
"""

from __future__ import annotations

import functools
import re
import re._constants as sre_constants  # type: ignore[import-not-found]  # the stdlib re parser (no stubs)
import re._parser as sre_parse  # type: ignore[import-not-found]
from dataclasses import dataclass

from normalizers import redispatch

__all__ = ["ReplyParts", "split", "strip"]


@dataclass(frozen=True)
class ReplyParts:
    body: str  # the new text, no quotes, no signature
    signature: str  # the trailing signature of the new text ("" if none)
    quoted: str  # everything that was recognised as quoted history

    @property
    def reply(self) -> str:
        """The new part with its signature (what talon calls the reply)."""
        if self.body and self.signature:
            return f"{self.body}\n\n{self.signature}"
        return self.body or self.signature


# Verbs that end an attribution line, e.g. "On Tue, Bob <b@x> wrote:".
_ATTRIBUTION_VERBS = (
    r"wrote|writes|escribi[oó]|va escriure|ha escrit|escrigu[eé]|a [ée]crit|schrieb|geschrieben|"
    r"escreveu|escribiu|schreef|heeft geschreven|het volgende geschreven|ha scritto|skrev|skrev f[øo]lgende|"
    r"napisa[łl]a?|napisał\(a\)|napsal[a]?|написал[аи]?|пишет|kirjoitti|[ií]rta|yazdı|şunu yazdı|写道|寫道|書きました|のメッセージ|작성|wrote\s*>"
)
_ATTRIBUTION = re.compile(
    rf"^.{{0,260}}?(?:\b|\s|(?<=\d))(?:{_ATTRIBUTION_VERBS})(?:\b[^:：]{{0,120}}[:：]|\s*[:：]?)\s*$",
    re.IGNORECASE,
)
# "---- On Sat, 30 Sep 2017 Bob <b@x> wrote ----" (Zoho, some webmails): verb anywhere, no colon
_DASHED_ATTRIBUTION = re.compile(rf"^\s*-{{2,}}\s*(.{{8,300}}?(?:\b|\s)(?:{_ATTRIBUTION_VERBS})\b.{{0,160}}?)\s*-{{2,}}\s*$", re.IGNORECASE)
# Words an attribution line starts with, so a sentence ending in "wrote:" is not cut
# unless it also carries a date or an address.
_ATTRIBUTION_LEAD = re.compile(
    r"^\s*(?:on|el|le|am|em|op|il|den|dnia|w dniu|[àa]s|in|at|,|\d|<|\"|\*)",
    re.IGNORECASE,
)
_BANNER = re.compile(
    r"^\s*[-_=*]{2,}\s*(?:original message|mensaje original|missatge original|message d'origine|"
    r"message original|urspr[üu]ngliche nachricht|original-nachricht|oorspronkelijk bericht|origineel bericht|"
    r"mensagem original|messaggio originale|oprindelig meddelelse|ursprungligt meddelande|opprinnelig melding|"
    r"wiadomo[śs][ćc] oryginalna|forwarded message|mensaje reenviado|missatge reenviat|message transf[ée]r[ée]|"
    r"weitergeleitete nachricht|doorgestuurd bericht|mensagem encaminhada|messaggio inoltrato|"
    r"videresendt meddelelse|vidarebefordrat meddelande|reply message|reply above this line|"
    r"p[ůu]vodn[ií] (?:e-mail|zpr[áa]va)|p[řr]eposlan[áa] zpr[áa]va|исходное сообщение|пересылаемое сообщение|оригинальное сообщение|"
    r"orijinal (?:i̇|i)leti|özgün ileti|iletilen ileti|alkuper[äa]inen viesti|v[äa]litetty viesti|wiadomo[śs][ćc] przekazana|"
    r"original-nachricht|weitergeleitete nachricht|元のメッセージ|元のメール|원본 메일|原始郵件|"
    r"転送メッセージ|原始邮件|原始郵件|转发邮件|원본 메시지|전달된 메시지)\s*[-_=*]{0,}\s*$",
    re.IGNORECASE,
)
_BEGIN_FORWARD = re.compile(
    r"^\s*(?:begin forwarded message|inicio del mensaje reenviado|d[ée]but du message r[ée]exp[ée]di[ée]|"
    r"anfang der weitergeleiteten nachricht|in[ií]cio da mensagem reencaminhada|begin doorgestuurd bericht)\s*:?\s*$",
    re.IGNORECASE,
)
_HEADER_FROM = re.compile(
    r"^\s*\*?\s*(?:from|de|von|van|da|fra|fr[åa]n|od|lähettäjä|feladó|afzender|remitente|expéditeur|"
    r"absender|remetente|от|отправитель|kimden|odes[íi]latel|l[äa]hett[äa]j[äa]|差出人|送信者|发件人|寄件者|보낸 ?사람)\s*\*?\s*[:：]\s*\*?\s*\S",
    re.IGNORECASE,
)
_HEADER_OTHER = re.compile(
    r"^\s*\*?\s*(?:sent|date|enviado|enviat|envoy[ée]|gesendet|verzonden|data|datum|fecha|inviato|sendt|skickat|"
    r"wys[łl]ano|to|para|per|à|a|an|aan|til|till|do|cc|subject|asunto|assumpte|objet|betreff|onderwerp|assunto|"
    r"oggetto|emne|[äa]mne|temat|reply-to|sent at|отправлено|кому|тема|дата|копия|送信日時|件名|宛先|发送时间|主题|收件人|"
    r"odesl[áa]no|komu|p[řr]edm[ěe]t|kopie|g[öo]nderildi|g[öo]nderilme tarihi|kime|konu|tarih|bilgi|l[äa]hetetty|vastaanottaja|aihe|"
    r"p[äa]iv[äa]m[äa][äa]r[äa]|kopio|日付|日時|抄送|日期|寄件日期|收件者|主旨|副本|보낸 ?날짜|받는 ?사람|제목|날짜|참조|per a|fecha|date|"
    r"enviad[oa]|enviat)(?:\s+(?:em|el|le|am|op|a|on|at))?\s*\*?\s*[:：]",
    re.IGNORECASE,
)
_RULE = re.compile(r"^\s*_{5,}\s*$")
_SIG_DELIMITER = re.compile(r"^\s*(?:--|-- |—|__|-{2}\s*)\s*$")
_MOBILE = re.compile(
    r"^\s*(?:sent|envoy[ée]|enviado|enviat|gesendet|verzonden|inviato|sendt|skickat|wys[łl]ane|get)\s+"
    r"(?:from|de|desde|des del|do|dal|von|vanaf|via|fra|fr[åa]n|z|with)\s+"
    r"(?:my|mi|mon|ma|meu|minha|el meu|la meva|mijn|il mio|min|mitt|mojego|mein(?:em)?|outlook|yahoo|samsung|iphone|ipad|android)"
    r"(?:\s+[\w.'-]+){0,5}\s*$"
    r"|^\s*von meinem\s+(?:[\w.'-]+\s+){0,4}gesendet\s*$"
    r"|^\s*get outlook for \w+\s*(?:<[^>]*>)?\s*$"
    r"|^(?=.{0,140}$)\s*[^:：<]{0,40}\boutlook\b[^:：<]{0,30}\b(?:ios|android)\b[^:：<]{0,30}(?:<https?://[^>\s]*>)?\s*$"
    r"|^(?=.{0,80}$)(?=.*(?:iphon|ipad|android|galaxy|samsung|huawei|xiaomi|blackberry|mobile|smartphone|"
    r"mail for windows|yahoo mail|outlook|携帯|スマートフォン|手机|手機|휴대폰))"
    r"(?=.*(?:\bsent\b|envoy[ée]|enviad[oa]|enviat|gesendet|verstuurd|verzonden|inviato|sendt|skickat|l[äa]hetetty|"
    r"wys[łl]ane|odesl[áa]no|отправлено|g[öo]nderildi|送信|发自|發自|寄自|보냄|\bget\b|von meinem))(?!(?:\S+\s+){8})[^:：,]*$",
    re.IGNORECASE,
)
_CLOSING = re.compile(
    r"^\s*(?:"
    r"(?:best|kind|warm|warmest|many)?\s*regards|(?:many )?thanks|thank you|thx|best(?: wishes)?|cheers|sincerely(?: yours)?|yours(?: truly| sincerely)?|"
    r"thanks(?: and| &) regards|br|"
    r"(?:un )?saludos?(?: cordiales)?|atentamente|cordialmente|un abrazo|"
    r"salutacions|atentament|cordialment|una abra[çc]ada|"
    r"cordialement|bien (?:[àa] vous|cordialement)|salutations|meilleures salutations|bonne journ[ée]e|"
    r"mit freundlichen gr[üu](?:ß|ss)en|(?:viele|beste|liebe|herzliche|freundliche) gr[üu](?:ß|ss)e|gru(?:ß|ss)|lg|mfg|vg|"
    r"atenciosamente|cumprimentos|abra[çc]os?|um abra[çc]o|obrigad[oa]|"
    r"met vriendelijke groet(?:en)?|(?:hartelijke )?groet(?:en|jes)?|mvg|"
    r"cordiali saluti|distinti saluti|saluti|"
    r"med venlig hilsen|venlig hilsen|mvh|hilsen|kh|med vänlig hälsning|vänliga hälsningar|hälsningar|"
    r"pozdrawiam|z powa[żz]aniem|dzi[ęe]kuj[ęe]|"
    r"(?:moltes )?gr[àa]cies|merci(?: beaucoup)?|(?:muchas )?gracias|(?:mille )?grazie|danke(?: sch[öo]n)?|vielen dank|(?:alvast )?bedankt|"
    r"(?:med )?vennlig hilsen|hilsen|mvh|(?:mange )?tak|tack|(?:med )?v[äa]nliga? h[äa]lsningar?|"
    r"yst[äa]v[äa]llisin terveisin|terveisin|kiitos|s pozdravem|d[ěe]kuji|"
    r"с уважением|спасибо|всего доброго|saygılarımla|teşekkürler|teşekkür ederim|iyi çalışmalar|"
    r"よろしくお願い(?:いた)?します|宜しくお願い(?:いた)?します|以上|谢谢|謝謝|此致敬礼|此致|감사합니다|고맙습니다"
    r")\s*[,!.！。]?\s*$",
    re.IGNORECASE,
)
_HYPHEN_NAME = re.compile(r"^\s*[-/]\s?[A-Z][\w.'-]*(?:\s+[A-Z][\w.'-]*){0,3}\s*$")
_QUOTED = re.compile(r"^\s*>")
_NAME_LINE = re.compile(r"^\s*[A-ZÀ-Þ][\w.'-]*(?:,?\s+[A-ZÀ-Þ(][\w.'()-]*){0,4}\s*$")
_CONTACT = re.compile(
    r"[\w.+-]+@[\w-]+\.[\w.]+|https?://|www\.|\+?\(?\d[\d ()./-]{6,}\d|\b(?:via|from) (?:mobile|phone)\b|"
    r"^\s*(?:tel|phone|mobile|fax|t|m|f|skype)\b\.?\s*[:.]",
    re.IGNORECASE,
)


def strip(text: str) -> str:
    """The new part of ``text``: no quoted history, no signature."""
    return split(text).body


def split(text: str) -> ReplyParts:
    """Split a plain-text mail body into the new part, its signature and quoted history."""
    if not text:
        return ReplyParts("", "", "")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    quoted = _mark_quoted(lines)
    _join_wrapped_quote_lines(lines, quoted)
    new_lines = [line for line, q in zip(lines, quoted, strict=False) if not q]
    old_lines = [line for line, q in zip(lines, quoted, strict=False) if q]
    body_lines, sig_lines = _split_signature(new_lines)
    return ReplyParts(
        body=_tidy(body_lines),
        signature=_tidy(sig_lines),
        quoted=_tidy(old_lines),
    )


def _join_wrapped_quote_lines(lines: list[str], quoted: list[bool]) -> None:
    """A quoted line a client re-wrapped without its '>' ("> it may take up to two days before it"
    / "appears in your account." / "> Regards") is part of the quote, not new text."""
    for j in range(1, len(lines) - 1):
        if quoted[j] or not lines[j].strip():
            continue
        prev, nxt = lines[j - 1], lines[j + 1]
        if _QUOTED.match(prev) and _QUOTED.match(nxt) and len(prev.strip()) >= 50 and len(lines[j].strip()) <= 80:
            quoted[j] = True


def _contact_block_start(lines: list[str], nonblank: list[int]) -> int | None:
    """Start of a trailing paragraph that is a name followed by contact lines."""
    if len(nonblank) < 3:
        return None
    end = nonblank[-1]
    start = end
    while start - 1 >= 0 and lines[start - 1].strip():
        start -= 1
    block = [ln.strip() for ln in lines[start : end + 1]]
    if not 2 <= len(block) <= 7 or any(len(ln) > 60 for ln in block):
        return None
    if not _NAME_LINE.match(block[0]) or not any(_CONTACT.search(ln) for ln in block[1:]):
        return None
    return start


def _tidy(lines: list[str]) -> str:
    text = "\n".join(line.rstrip() for line in lines).strip("\n")
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _next_nonblank(lines: list[str], start: int) -> int | None:
    for j in range(start, len(lines)):
        if lines[j].strip():
            return j
    return None


@functools.cache
def _verb_rule() -> redispatch.Rule:
    return redispatch.Rule(_ATTRIBUTION_VERBS, re.IGNORECASE)


def _has_verb(text: str) -> bool:
    """Whether one of ``_ATTRIBUTION_VERBS`` is in ``text`` (as ``re.search`` finds them)."""
    return _verb_rule().found(text)


def _verb_span() -> int:
    """The longest match of ``_ATTRIBUTION_VERBS`` that a search must see whole: the widest
    bounded alternative. An unbounded one ("wrote\\s*>") must start with a literal alternative
    ("wrote"), which then matches wherever it does."""
    alts = _ATTRIBUTION_VERBS.split("|")
    widths = []
    for alt in alts:
        hi = sre_parse.parse(alt, re.IGNORECASE).getwidth()[1]
        if hi >= sre_constants.MAXREPEAT:
            if not any(o != alt and alt.startswith(o) and re.escape(o) == o for o in alts):
                raise ValueError(f"unbounded attribution verb without a literal prefix: {alt!r}")
            continue
        widths.append(hi)
    return max(widths)


#: no match of the verbs is longer than this (a window this wide each side of a line break
#: holds any match that spans it)
_VERB_SPAN = _verb_span()


@functools.lru_cache(maxsize=1024)
def _line_has_verb(line: str) -> bool:
    return _verb_rule().found(line)


def _chunk_has_verb(chunk: list[str], joined: str) -> bool:
    """``_has_verb(joined)`` for ``joined == " ".join(chunk)``: each line is searched once
    (cached: a line is part of up to three chunks), and a verb across a line break is found in
    a window of ``_VERB_SPAN`` characters each side of it (the verbs have no lookarounds, so
    a search of the window finds exactly the matches inside it)."""
    if any(_line_has_verb(ln) for ln in chunk):
        return True
    rule, b = _verb_rule(), -1
    for ln in chunk[:-1]:
        b += len(ln) + 1  # the space after this line
        if rule.found(joined, max(0, b - _VERB_SPAN), b + _VERB_SPAN + 1):
            return True
    return False


def _attribution_at(lines: list[str], i: int) -> int:
    """Number of lines (1-3) of an attribution starting at line i, or 0."""
    first = lines[i].strip()
    if not first or _QUOTED.match(first) or len(first) > 300:
        return 0
    for k in (1, 2, 3):
        if i + k > len(lines):
            break
        chunk = [ln.strip() for ln in lines[i : i + k]]
        if k > 1 and (not chunk[-1] or _QUOTED.match(chunk[-1])):
            break
        joined = " ".join(chunk)
        if len(joined) > 400:
            break
        if not _chunk_has_verb(chunk, joined):
            continue  # both patterns below need one of the verbs (most lines)
        dashed = _DASHED_ATTRIBUTION.match(joined)
        if dashed and re.search(r"\d", joined):
            return k
        if _ATTRIBUTION.match(joined):
            has_hint = bool(re.search(r"\d|@", first)) or bool(re.search(_ATTRIBUTION_VERBS, first, re.IGNORECASE))
            if _ATTRIBUTION_LEAD.match(first) and has_hint:
                return k
            if re.search(r"\d", joined) and "@" in joined:
                return k
            if "@" in first and re.search(_ATTRIBUTION_VERBS, first, re.IGNORECASE):
                return k
            # any word order ("Bob kirjoitti 30.9.2017 klo 18.30:"): a time of day, and a quote follows
            nxt = _next_nonblank(lines, i + k)
            if re.search(r"\b\d{1,2}[:.]\d{2}\b", joined) and nxt is not None and nxt - (i + k) <= 1 and _QUOTED.match(lines[nxt]):
                return k
    return 0


def _name_then_address(lines: list[str], i: int, span: int) -> bool:
    """"ACME Support" / "<support@x> 于2017年9月30日写道：": a sender's name the client wrapped
    before its address belongs to the attribution (a sentence of the customer's does not)."""
    first = lines[i].strip()
    if re.search(r"[.!?。！？:;,]\s*$", first) or len(first) > 60:
        return False
    return any(lines[j].lstrip().startswith(("<", "(")) for j in range(i + 1, i + span))


def _loose_attribution(lines: list[str], i: int) -> int:
    """'26.06.2014, 14:41, "Bob" <bob@x.com>:' right above a quote (no verb: mail.ru, Yandex,
    Gmail in Russian or Japanese), also wrapped over up to three lines. Returns its line count."""
    first = lines[i].strip()
    if not first or _QUOTED.match(first) or not re.search(r"\d", first):
        return 0
    for k in (1, 2, 3):
        chunk = [ln.strip() for ln in lines[i : i + k]]
        if len(chunk) < k or (k > 1 and (not chunk[-1] or _QUOTED.match(chunk[-1]))):
            return 0
        line = " ".join(chunk)
        if len(line) > 260:
            return 0
        if line.endswith((":", "：")) and "@" in line:
            nxt = _next_nonblank(lines, i + k)
            if nxt is not None and nxt - (i + k) <= 1 and _QUOTED.match(lines[nxt]):
                return k
    return 0


def _header_block_at(lines: list[str], i: int) -> bool:
    """An Outlook/Gmail style header block: From/Sent/To/Subject lines (any order, translated)."""
    if not (_HEADER_FROM.match(lines[i]) or _HEADER_OTHER.match(lines[i])):
        return False
    seen_from = bool(_HEADER_FROM.match(lines[i]))
    count = 1
    for j in range(i + 1, min(len(lines), i + 8)):
        line = lines[j]
        if _HEADER_FROM.match(line):
            seen_from = True
            count += 1
        elif _HEADER_OTHER.match(line):
            count += 1
        elif (line.startswith((" ", "\t")) and line.strip()) or _wrapped_header_tail(lines[j - 1], line):
            continue
        else:
            break
    return seen_from and count >= 2


def _wrapped_header_tail(prev: str, line: str) -> bool:
    """The rest of a header line that a client wrapped: "From: Long Name <bob@" / "x.com>",
    or "From: Long Name" / "<bob@x.com>"."""
    text = line.strip()
    if not text or len(text) > 120:
        return False
    if prev.count("<") > prev.count(">") and text.endswith(">") and "<" not in text:
        return True
    return bool(re.fullmatch(r"<[^<>\s]+@[^<>\s]+>[;,]?", text)) and bool(_HEADER_FROM.match(prev))


def _mark_quoted(lines: list[str]) -> list[bool]:
    n = len(lines)
    quoted = [False] * n
    i = 0
    while i < n:
        line = lines[i]
        if _QUOTED.match(line):
            quoted[i] = True
            i += 1
            continue
        span = _attribution_at(lines, i)
        if span > 1 and not re.search(r"\d|@", lines[i]) and not _name_then_address(lines, i, span):
            for later in range(i + 1, i + span):
                sub = _attribution_at(lines, later)
                if sub and later + sub == i + span:
                    i, span = later, sub
                    break
        if not span:
            span = _loose_attribution(lines, i)
        if span:
            nxt = _next_nonblank(lines, i + span)
            if nxt is not None and _QUOTED.match(lines[nxt]) and _quote_block_then_text(lines, nxt):
                # interleaved reply: the attribution heads a '>' block, text follows it
                for j in range(i, i + span):
                    quoted[j] = True
                i += span
                continue
            _cut_from(quoted, i)
            return quoted
        if _header_block_at(lines, i) and not any(ln.strip() for ln in lines[:i]):
            j = i + 1
            while j < n and lines[j].strip() and (_HEADER_OTHER.match(lines[j]) or lines[j].startswith((" ", "\t")) or _wrapped_header_tail(lines[j - 1], lines[j])):
                j += 1
            for k in range(i, j):
                quoted[k] = True
            i = j
            continue
        if _BANNER.match(line) or _BEGIN_FORWARD.match(line) or _header_block_at(lines, i):
            start = i
            prev = i - 1
            while prev >= 0 and not lines[prev].strip():
                prev -= 1
            if prev >= 0 and _RULE.match(lines[prev]):
                start = prev
            _cut_from(quoted, start)
            return quoted
        i += 1
    return quoted


def _quote_block_then_text(lines: list[str], start: int) -> bool:
    """True when the '>' block starting at ``start`` is followed by new unquoted text."""
    j = start
    while j < len(lines) and (not lines[j].strip() or _QUOTED.match(lines[j])):
        j += 1
    if j >= len(lines):
        return False
    rest = [ln for ln in lines[j:] if ln.strip()]
    # the text after the block must itself be more than a signature of the quoted mail
    return bool(rest) and not all(_QUOTED.match(ln) for ln in rest)


def _cut_from(quoted: list[bool], start: int) -> None:
    for j in range(start, len(quoted)):
        quoted[j] = True


def _split_signature(lines: list[str]) -> tuple[list[str], list[str]]:
    body, sig = _split_signature_once(lines)
    for _ in range(3):
        if not sig:
            break
        inner_body, inner_sig = _split_signature_once(body)
        if not inner_sig:
            break
        body, sig = inner_body, inner_sig + [""] + sig
    return body, sig


def _split_signature_once(lines: list[str]) -> tuple[list[str], list[str]]:
    # trim trailing blank lines first
    end = len(lines)
    while end and not lines[end - 1].strip():
        end -= 1
    lines = lines[:end]
    if not lines:
        return [], []
    nonblank = [i for i, ln in enumerate(lines) if ln.strip()]
    first_content = nonblank[0]
    # 1. an explicit delimiter ("-- ") after some content
    for i in nonblank:
        if i > first_content and _SIG_DELIMITER.match(lines[i]) and len(nonblank) - nonblank.index(i) <= 20:
            return lines[:i], lines[i:]
    # 2. a mobile footer ("Sent from my iPhone"), with at most a short tail after it
    for i in reversed(nonblank[-4:]):
        if _MOBILE.match(lines[i]) and i > first_content:
            return lines[:i], lines[i:]
    # 3. a closing ("Best regards,") followed by a short name block
    tail = nonblank[-6:]
    for i in tail:
        if i <= first_content:
            continue
        if _CLOSING.match(lines[i]):
            after = [lines[j] for j in nonblank if j > i]
            if len(after) <= 4 and all(len(a.strip()) <= 60 for a in after):
                return lines[:i], lines[i:]
    # 4. a mailing-list footer after a rule line
    for i in nonblank[-8:]:
        if i > first_content and _RULE.match(lines[i]):
            return lines[:i], lines[i:]
    # 5. a name + contact block as the last paragraph ("Jane Doe / jane@x.com / 555-1234")
    start = _contact_block_start(lines, nonblank)
    if start is not None and start > first_content:
        return lines[:start], lines[start:]
    # 6. a dashed rule with a few lines after it
    # (only when what follows looks like a name block: a rule inside the customer's own text,
    # a table or a list of problems, is never a cut)
    for i in nonblank[-15:]:
        if i > first_content and re.match(r"^\s*-{4,}\s*$", lines[i]) and i != nonblank[-1]:
            after = [lines[j].strip() for j in nonblank if j > i]
            short = len(after) <= 6 or (len(after) <= 14 and any(_CONTACT.search(a) for a in after))
            if short and _NAME_LINE.match(after[0]) and not any(re.search(r"[?:!]$|[.]\s*$", a) and not _CONTACT.search(a) for a in after):
                return lines[:i], lines[i:]
    # 7. "-Name" as the last line
    last = nonblank[-1]
    if last > first_content and _HYPHEN_NAME.match(lines[last]):
        return lines[:last], lines[last:]
    return lines, []
