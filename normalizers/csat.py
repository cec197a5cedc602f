"""CSAT answers: "5", "4/5", "⭐⭐⭐", "😡", "excellent", "molt bé", "schlecht", "ruim" -> 1..5.

A pure function. ``parse_csat`` returns None when the reply is not a rating (a customer
who answers the survey with a new question must reach an agent, not be scored).
"""

from __future__ import annotations

import re

from normalizers.textfold import strip_marks

MAX_WORDS = 8  # a longer reply is a message, not a rating (unless it is "5/5"-shaped)

_EMOJI = {
    "😡": 1, "🤬": 1, "😠": 1, "👎": 1, "💩": 1, "😤": 1,
    "😞": 2, "🙁": 2, "☹": 2, "😟": 2, "😕": 2, "😢": 2,
    "😐": 3, "😑": 3, "🤷": 3, "😶": 3,
    "🙂": 4, "👍": 4, "😌": 4, "☺": 4,
    "😊": 5, "😃": 5, "😄": 5, "😁": 5, "😍": 5, "🤩": 5, "🥰": 5, "❤": 5, "💯": 5, "🙏": 5, "👏": 5,
}
_STARS = re.compile(r"[⭐★🌟]")

# phrases first (longest wins), folded (lower case, no accents)
_WORDS: list[tuple[str, int]] = [
    # 1
    (r"very bad|terrible|horrible|awful|worst|useless|pesim[oa]|fatal|muy mal[oa]?|molt dolent[a]?|molt malament|"
     r"tres mauvais|nul\b|sehr schlecht|furchtbar|schrecklich|pessim[oa]|horrivel|muito ru(?:im|im)|muito mau|muito ma\b|"
     r"nefast[oa]|lamentable", 1),
    # 5 (before 4: "very good" must not stop at "good")
    (r"excellent\w*|excelente|excel[.·]?lent|perfect\w*|perfet\w*|amazing|outstanding|great|superb|fantastic\w*|genial|"
     r"very good|muy bien|muy buen[oa]|molt be|molt bo|molt bona|tres bien|super\b|ausgezeichnet|hervorragend|sehr gut|"
     r"wunderbar|otim[oa]|muito bo[am]|muito bem|maravilhos[oa]|incre[i]ble|increible", 5),
    # 2 (negated "good" before plain "good")
    (r"not (?:very )?good|no muy bien|no muy buen[oa]|no gaire be|pas terrible|pas bien|nicht gut|nicht so gut|nao muito bom|"
     r"bad|poor|mal[oa]?\b|malament|dolent[a]?|mauvais\w*|schlecht|mangelhaft|ru[i]m|mau\b|ma\b|insatisf\w*|unsatisf\w*|disappoint\w*|decepcion\w*", 2),
    # 3
    (r"ok(?:ay)?\b|so so|normal|regular|aceptable|acceptable|correct[eo]?\b|passable|moyen|ca va|bof|geht so|okay|mittel|"
     r"razoavel|mais ou menos|mas o menos|mes o menys|average|fine", 3),
    # 4
    (r"good|bien|buen[oa]?|be\b|bo\b|bona|bon(?:ne)?\b|gut|bom|boa|bem|satisf\w*|zufrieden|content[ae]?|happy|nice|helpful|thanks|gracias|gracies|merci|danke|obrigad[oa]", 4),
]
_WORD_RES = [(re.compile(r"(?<![a-z])(?:" + p + r")"), v) for p, v in _WORDS]
_NUMBER = re.compile(r"(?<![\d.,])([0-9]{1,2})(?:\s*(?:/|de|of|sur|von|out of)\s*(5|10))?(?![\d.,])")
_NUM_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "uno": 1, "una": 1, "dos": 2, "tres": 3, "cuatro": 4,
    "cinco": 5, "un": 1, "u": 1, "quatre": 4, "cinc": 5, "deux": 2, "trois": 3, "cinq": 5, "eins": 1, "zwei": 2,
    "drei": 3, "vier": 4, "funf": 5, "fuenf": 5, "um": 1, "duas": 2, "quatro": 4,
}


def _fold(text: str) -> str:
    return strip_marks(text.lower())


def parse_csat(text: str) -> int | None:
    """A 1-5 satisfaction score from a survey reply, or None when it is not a rating."""
    if not text or not text.strip():
        return None
    raw = text.strip()
    folded = _fold(raw)
    m = _NUMBER.search(folded)
    if m:
        value, scale = int(m.group(1)), m.group(2)
        if scale == "10" and 0 <= value <= 10:
            return max(1, min(5, round(value / 2)))
        others = _NUMBER.findall(folded[m.end():])
        if 1 <= value <= 5 and not others and (scale or len(folded.split()) <= MAX_WORDS):
            return value
    words = re.findall(r"[a-z]+", folded)
    if len(words) > MAX_WORDS:
        return None
    stars = len(_STARS.findall(raw))
    if 1 <= stars <= 5:
        return stars
    for ch in raw:
        if ch in _EMOJI:
            return _EMOJI[ch]
    if len(words) == 1 and words[0] in _NUM_WORDS:
        return _NUM_WORDS[words[0]]
    for pattern, value in _WORD_RES:
        if pattern.search(folded):
            return value
    return None
