"""Post length as X counts it, and splitting a long public answer into a thread.

X weighs characters (twitter-text v3 config): code points in a few Latin/punctuation
ranges count 1, everything else (CJK, emoji) counts 2, every URL counts 23, and the text
is NFC-normalized first: https://docs.x.com/resources/fundamentals/counting-characters
"""

from __future__ import annotations

import re
import unicodedata

MAX_POST = 280
URL_WEIGHT = 23
_LIGHT_RANGES = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))
_URL = re.compile(r"https?://\S+", re.IGNORECASE)


def _char_weight(ch: str) -> int:
    cp = ord(ch)
    return 1 if any(lo <= cp <= hi for lo, hi in _LIGHT_RANGES) else 2


def post_length(text: str) -> int:
    """Weighted length of a post (an upper bound where X's own URL detection is wider)."""
    text = unicodedata.normalize("NFC", text)
    total, pos = 0, 0
    for m in _URL.finditer(text):
        total += sum(_char_weight(c) for c in text[pos : m.start()]) + URL_WEIGHT
        pos = m.end()
    return total + sum(_char_weight(c) for c in text[pos:])


def split_thread(text: str, limit: int = MAX_POST) -> list[str]:
    """Split text at word boundaries into posts numbered " (i/n)", each within limit."""
    text = " ".join(text.split())
    if post_length(text) <= limit:
        return [text]
    budget = limit - len(" (99/99)")
    parts: list[str] = []
    current = ""
    for word in text.split(" "):
        while post_length(word) > budget:  # a monster word: cut it
            cut = len(word)
            while post_length(word[:cut]) > budget:
                cut -= 1
            if current:
                parts.append(current)
                current = ""
            parts.append(word[:cut])
            word = word[cut:]
        candidate = f"{current} {word}" if current else word
        if post_length(candidate) <= budget:
            current = candidate
        else:
            parts.append(current)
            current = word
    if current:
        parts.append(current)
    n = len(parts)
    return [f"{p} ({i}/{n})" for i, p in enumerate(parts, 1)]
