"""Values fitted to the columns they are stored in (hub/models.py). PostgreSQL enforces VARCHAR
lengths, SQLite does not: a 130,000-character spam subject must not make a store fail, and a
3,000-character provider id must not collide with another one when it is cut."""

from __future__ import annotations

import hashlib

#: column sizes (hub/models.py); identifiers are kept a little under their 512-character columns
SUBJECT_MAX, NAME_MAX, ADDRESS_MAX, KEY_MAX = 998, 255, 320, 480


def fit_text(value: str, limit: int) -> str:
    """``value`` cut to ``limit`` characters, the cut shown with an ellipsis."""
    return value if len(value) <= limit else value[: limit - 1] + "…"


def fit_key(value: str, limit: int = KEY_MAX) -> str:
    """An identifier cut to ``limit`` characters that stays unique and stable: the head, then the
    sha256 of the whole (the same long id always gives the same key; two differ)."""
    if len(value) <= limit:
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{value[: limit - 65]}#{digest}"


