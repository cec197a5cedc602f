"""The one HTML-to-text conversion of the project.

Used wherever HTML becomes plain text: an email's HTML part, an agent's rich-text reply
from Help Scout, Zammad or Request Tracker on its way to an SMS or chat customer. Built on
the standard library's HTML parser (tolerant of broken markup); the contents of
``<style>``, ``<script>``, ``<head>``, ``<title>`` and ``<template>`` never reach the text,
blocks go on their own lines, list items get "- ", blockquotes "> ", images their alt text,
entities are decoded and whitespace is collapsed outside ``<pre>``.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_WS = re.compile(r"[ \t\r\n\f\v\u00a0]+")
_BLOCK = {
    "p", "div", "br", "tr", "li", "ul", "ol", "table", "h1", "h2", "h3", "h4", "h5", "h6",
    "blockquote", "pre", "hr", "section", "article", "header", "footer", "dd", "dt", "dl",
    "address", "aside", "figure", "figcaption", "main", "nav", "details", "summary",
}
#: elements whose content is never text for a reader
_SKIP = {"style", "script", "head", "title", "template", "noscript", "svg", "object"}
_CELL = {"td", "th"}


class _TextRenderer(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current: list[str] = []
        self.quote_depth = 0
        self.skip: list[str] = []
        self.pre = 0
        self.cell = False

    def _flush(self) -> None:
        text = "".join(self.current)
        if not self.pre:
            text = _WS.sub(" ", text).strip()
        prefix = "> " * self.quote_depth
        self.lines.append(prefix + text if text or not prefix else prefix.rstrip())
        self.current = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self.skip = [t for t in self.skip if t != "head"]  # an unclosed <head> ends here
        if tag in _SKIP:
            self.skip.append(tag)
            return
        if self.skip:
            return
        if tag == "br":
            self._flush()
        elif tag in _BLOCK:
            if self.current:
                self._flush()
            if tag == "blockquote":
                self.quote_depth += 1
            elif tag == "pre":
                self.pre += 1
            elif tag == "li":
                self.current.append("- ")
            elif tag == "hr":
                self.lines.append("_" * 20)
            elif tag == "tr":
                self.cell = False
        elif tag in _CELL:
            if self.cell:
                self.current.append(" | ")
            self.cell = True
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.current.append(f"[{alt}]")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            return  # <script/> has no content to skip
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            if tag in self.skip:
                while self.skip and self.skip.pop() != tag:
                    pass
            return
        if self.skip:
            return
        if tag in _BLOCK and tag != "br":
            if self.current:
                self._flush()
            if tag == "blockquote":
                self.quote_depth = max(0, self.quote_depth - 1)
            elif tag == "pre":
                self.pre = max(0, self.pre - 1)
            elif tag in ("p", "table", "ul", "ol"):
                self.lines.append("")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.current.append(data)


def html_to_text(markup: str) -> str:
    """A plain-text rendering of HTML: blocks on their own lines, blockquotes as '> '."""
    renderer = _TextRenderer()
    renderer.feed(markup)
    renderer.close()
    if renderer.current:
        renderer._flush()
    text = "\n".join(line.rstrip() for line in renderer.lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
