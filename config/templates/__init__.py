"""Customer-facing message templates in the customer's language (falls back to English).

Data lives in ``messages.yaml`` beside this file (override with ``load(path)``). This
module imports nothing of the project (``config/`` is a leaf: tests/test_layout.py).
"""

from __future__ import annotations

import string
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

DEFAULT_PATH = Path(__file__).with_name("messages.yaml")
FALLBACK = "en"
LANGUAGES: tuple[str, ...] = ("en", "es", "ca", "fr", "de", "pt")


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


@lru_cache(maxsize=8)
def load(path: str | Path = DEFAULT_PATH) -> dict[str, dict[str, str]]:
    """Template name -> language -> text, validated: every template has an English text."""
    data: Any = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of template names")
    for name, texts in data.items():
        if not isinstance(texts, dict) or FALLBACK not in texts:
            raise ValueError(f"{path}: template {name!r} needs at least an {FALLBACK!r} text")
        for lang, text in texts.items():
            if not isinstance(text, str):
                raise ValueError(f"{path}: template {name!r} [{lang}] must be a string")
            for _lit, field, _spec, _conv in string.Formatter().parse(text):
                if field is not None and not field.isidentifier():
                    raise ValueError(f"{path}: template {name!r} [{lang}] has a bad placeholder {{{field}}}")
    return data


def names(path: str | Path = DEFAULT_PATH) -> list[str]:
    return sorted(load(path))


def pick_language(name: str, language: str | None, path: str | Path = DEFAULT_PATH) -> str:
    """The language the template will be rendered in: ``language`` (or its base) or English."""
    texts = load(path)[name]
    if language:
        lang = language.lower().replace("_", "-")
        if lang in texts:
            return lang
        if lang.split("-")[0] in texts:
            return lang.split("-")[0]
    return FALLBACK


def render(name: str, language: str | None = None, path: str | Path = DEFAULT_PATH, **variables: Any) -> str:
    """Template ``name`` in ``language`` (fallback English), placeholders filled from ``variables``."""
    templates = load(path)
    if name not in templates:
        raise KeyError(f"unknown template {name!r}; known: {', '.join(sorted(templates))}")
    text = templates[name][pick_language(name, language, path)]
    values = _Blank({k: "" if v is None else str(v) for k, v in variables.items()})
    if "ref" in values and "ref_suffix" not in values:
        values["ref_suffix"] = f" (#{values['ref']})" if values["ref"] else ""
    return string.Formatter().vformat(text, (), values).strip()
