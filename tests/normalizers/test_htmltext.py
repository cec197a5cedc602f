"""The one HTML-to-text conversion (normalizers/htmltext.py)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from normalizers.htmltext import html_to_text

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("markup, text", [
    ("<style>p{color:red}</style><p>Hi", "Hi"),
    ("<script>var a = '<p>x</p>';</script>Hello", "Hello"),
    ("<head><title>T</title><style>b{}</style></head><body>Body</body>", "Body"),
    ("<html><head><title>T</title><meta charset=utf-8><body>unclosed head, still shown", "unclosed head, still shown"),
    ("<p>a</p><!-- <p>hidden</p> --><p>b</p>", "a\n\nb"),
    ("Fish &amp; chips &lt;3 &nbsp;&eacute;t&eacute; &#128512;", "Fish & chips <3 été 😀"),
    ("line one<br>line two<br/>line three", "line one\nline two\nline three"),
    ("<ul><li>one</li><li>two</li></ul>", "- one\n- two"),
    ("<ol><li>first<li>second</ol>", "- first\n- second"),
    ("<blockquote><p>quoted</p></blockquote><p>mine</p>", "> quoted\n\nmine"),
    ("<pre>  keep\n    indent</pre>", "keep\n    indent"),
    ("<table><tr><td>Amount</td><td>0.5 BTC</td></tr></table>", "Amount | 0.5 BTC"),
    ("see <a href='https://x.example/tx/1'>the explorer</a>", "see the explorer"),
    ("<img src=cid:1 alt='QR code'>", "[QR code]"),
    ("<div>a <b>bold</b>\n   move</div>", "a bold move"),
    ("<svg><text>vector text</text></svg>after", "after"),
    ("<p>unclosed <b>tags", "unclosed tags"),
    ("", ""),
])
def test_html_to_text(markup, text):
    assert html_to_text(markup) == text


def test_one_conversion_in_the_project():
    """No other module strips tags with a regular expression or parses HTML to text itself."""
    offenders = []
    for pkg in ("hub", "channels", "normalizers", "outbound", "workers"):
        for path in (ROOT / pkg).rglob("*.py"):
            if path.name == "htmltext.py":
                continue
            # redact.py blanks tags to same-length spaces so offsets map back: a mask, not a conversion
            allowed = {"normalizers/redact.py"}
            source = path.read_text()
            tree = ast.parse(source)
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and any(getattr(b, "id", getattr(b, "attr", "")) == "HTMLParser" for b in node.bases):
                    offenders.append(f"{path.relative_to(ROOT)}: HTMLParser subclass {node.name}")
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in ("<[^>]+>", "<[^>]*>") \
                        and str(path.relative_to(ROOT)) not in allowed:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: tag-stripping regex")
    assert offenders == []
