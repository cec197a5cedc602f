"""The FAQ knowledge base: Markdown articles in ``config/faq/<lang>/*.md``.

Each article has an optional front matter (``tags: a, b``), a ``# Title`` line and a
body. ``load_articles`` returns plain dicts so that ``normalizers.faq`` (the pure
matcher) needs nothing from ``config``; this module imports nothing of the project.
Point ``OMNIHUB_FAQ_DIR`` (or the ``root`` argument) at your own folder to replace them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

DEFAULT_ROOT = Path(__file__).resolve().parent


def parse_article(text: str, *, article_id: str, language: str) -> dict[str, Any]:
    """One Markdown article -> {id, language, title, tags, body}."""
    tags: list[str] = []
    lines = text.replace("\r\n", "\n").split("\n")
    if lines and lines[0].strip() == "---":
        end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
        if end is None:
            raise ValueError(f"{language}/{article_id}: front matter is not closed with ---")
        for line in lines[1:end]:
            key, _, value = line.partition(":")
            if key.strip() == "tags":
                tags = [t.strip() for t in value.split(",") if t.strip()]
        lines = lines[end + 1 :]
    title = ""
    body_lines = []
    for line in lines:
        if not title and line.startswith("# "):
            title = line[2:].strip()
        else:
            body_lines.append(line)
    if not title:
        raise ValueError(f"{language}/{article_id}: an article needs a '# Title' line")
    return {"id": article_id, "language": language, "title": title, "tags": tags, "body": "\n".join(body_lines).strip()}


def load_articles(root: str | Path | None = None) -> list[dict[str, Any]]:
    """Every article under ``root`` (default: OMNIHUB_FAQ_DIR or this folder), sorted."""
    base = Path(root or os.environ.get("OMNIHUB_FAQ_DIR") or DEFAULT_ROOT)
    articles = []
    for path in sorted(base.glob("*/*.md")):
        articles.append(parse_article(path.read_text(encoding="utf-8"), article_id=path.stem, language=path.parent.name))
    return articles
