"""Faster *search* for regular expressions made of many alternatives (pure, no I/O).

Python's ``re`` tries the alternatives of ``a|b|c|…`` one after the other at every
position it searches, and the rule lists of this package have hundreds of them.
``search_only(pattern)`` compiles the same rules with the alternatives grouped by the
character they start with (``fake|faux|pretend`` becomes ``f(?:ake|aux)|pretend``), so at a
position only the alternatives that can start there are tried.

Grouping changes the *order* in which alternatives are tried, never the set of strings
they match at a position: ``(A|B)C`` is ``AC|BC``, ``cX|cY`` is ``c(X|Y)``, ``R{m,n}`` is
``R R{m-1,n-1}``, ``[ab]`` is ``a|b``, and a union does not depend on its order. So
whether the pattern matches, and the leftmost position where it does (``m.start()``), are
exactly those of the original; only which of several matches *at that position* is
reported (``m.end()``, the groups) may differ. ``Rule`` therefore exposes ``start`` and
``found`` and nothing else.

Where a construct could make order matter (capturing groups, back-references,
conditionals, atomic groups, possessive quantifiers) the pattern is used as written.
"""

from __future__ import annotations

import re
import re._constants as sc  # type: ignore[import-not-found]  # the parser of the stdlib re module (no stubs)
import re._parser as sp  # type: ignore[import-not-found]
from typing import Any

#: a character set with at most this many literal characters is split into alternatives
_SMALL_SET = 12
#: an alternative that may start with at most this many characters is guarded by them
_GUARD_SET = 64
#: an alternative's rest is copied once per first character it may start with only while the
#: copies add at most this many characters of pattern
_TAIL_BUDGET = 2000


class _Unsupported(Exception):
    pass


_CATEGORIES = {
    sc.CATEGORY_DIGIT: r"\d", sc.CATEGORY_NOT_DIGIT: r"\D", sc.CATEGORY_SPACE: r"\s",
    sc.CATEGORY_NOT_SPACE: r"\S", sc.CATEGORY_WORD: r"\w", sc.CATEGORY_NOT_WORD: r"\W",
}
_ATS = {
    sc.AT_BEGINNING: "^", sc.AT_BEGINNING_STRING: r"\A", sc.AT_END: "$", sc.AT_END_STRING: r"\Z",
    sc.AT_BOUNDARY: r"\b", sc.AT_NON_BOUNDARY: r"\B",
}


def closing_paren(src: str, at: int) -> int | None:
    """Index of the ")" that closes the "(" at ``src[at]`` (escapes and character sets skipped)."""
    depth, i, n = 0, at, len(src)
    while i < n:
        ch = src[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "[":
            i += 1
            if i < n and src[i] == "^":
                i += 1
            if i < n and src[i] == "]":
                i += 1
            while i < n and src[i] != "]":
                i += 2 if src[i] == "\\" else 1
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


def _char(c: int, in_class: bool = False) -> str:
    ch = chr(c)
    if ch.isalnum() and ch.isascii() or (not ch.isascii() and ch.isprintable() and not ch.isspace()):
        return ch
    if ch == "\n":
        return r"\n"
    if ch == "\t":
        return r"\t"
    if ch == "\r":
        return r"\r"
    if c < 0x20 or c == 0x7F or not ch.isprintable() or ch.isspace() and ch != " ":
        return f"\\x{c:02x}" if c < 0x100 else (f"\\u{c:04x}" if c < 0x10000 else f"\\U{c:08x}")
    return "\\" + ch if (ch in r"\]^-[" if in_class else not ch.isalnum()) else ch


def _class_item(op: Any, av: Any) -> str:
    if op is sc.LITERAL:
        return _char(av, True)
    if op is sc.RANGE:
        return _char(av[0], True) + "-" + _char(av[1], True)
    if op is sc.CATEGORY and av in _CATEGORIES:
        return _CATEGORIES[av]
    raise _Unsupported(op)


def _quant(lo: int, hi: int) -> str:
    if hi == sc.MAXREPEAT:
        return {0: "*", 1: "+"}.get(lo, f"{{{lo},}}")
    if lo == 0 and hi == 1:
        return "?"
    return f"{{{lo}}}" if lo == hi else f"{{{lo},{hi}}}"


def _unparse(seq: Any) -> str:
    """Source text of a parsed (sub)pattern, for the constructs where grouping is exact."""
    out = []
    for op, av in seq:
        if op == "cut":
            break
        if op is sc.LITERAL:
            out.append(_char(av))
        elif op is sc.NOT_LITERAL:
            out.append("[^" + _char(av, True) + "]")
        elif op is sc.ANY:
            out.append(".")
        elif op is sc.IN:
            items = list(av)
            neg = bool(items) and items[0][0] is sc.NEGATE
            if neg:
                items = items[1:]
            out.append("[" + ("^" if neg else "") + "".join(_class_item(o, a) for o, a in items) + "]")
        elif op is sc.BRANCH:
            out.append("(?:" + "|".join(_unparse(alt) for alt in av[1]) + ")")
        elif op is sc.SUBPATTERN:
            group, add_flags, del_flags, sub = av
            if group is not None or add_flags or del_flags:
                raise _Unsupported("group")
            out.append("(?:" + _unparse(sub) + ")")
        elif op in (sc.MAX_REPEAT, sc.MIN_REPEAT):
            lo, hi, sub = av
            out.append("(?:" + _unparse(sub) + ")" + _quant(lo, hi) + ("?" if op is sc.MIN_REPEAT else ""))
        elif op is sc.AT and av in _ATS:
            out.append(_ATS[av])
        elif op in (sc.ASSERT, sc.ASSERT_NOT):
            direction, sub = av
            head = {(sc.ASSERT, 1): "(?=", (sc.ASSERT, -1): "(?<=", (sc.ASSERT_NOT, 1): "(?!", (sc.ASSERT_NOT, -1): "(?<!"}[(op, direction)]
            out.append(head + _unparse(sub) + ")")
        else:
            raise _Unsupported(op)
    return "".join(out)


class _Wide(Exception):
    """The pattern may start with too many characters, or match the empty string."""


def _first(items: list[Any], k: int = 0) -> set[int]:
    """Code points a match of ``items[k:]`` can start with (raises _Wide when unknown)."""
    if k >= len(items):
        raise _Wide
    op, av = items[k]
    if op is sc.LITERAL:
        return {av}
    if op is sc.IN:
        chars: set[int] = set()
        for iop, iav in av:
            if iop is sc.LITERAL:
                chars.add(iav)
            elif iop is sc.RANGE and iav[1] - iav[0] < _GUARD_SET:
                chars.update(range(iav[0], iav[1] + 1))
            else:  # NEGATE, a category, a large range
                raise _Wide
        return chars
    if op in (sc.AT, sc.ASSERT, sc.ASSERT_NOT):  # zero-width: the next item decides
        return _first(items, k + 1)
    if op is sc.SUBPATTERN:
        return _first(list(av[3]) + items[k + 1:])
    if op is sc.BRANCH:
        out: set[int] = set()
        for alt in av[1]:
            out |= _first(list(alt) + items[k + 1:])
        return out
    if op in (sc.MAX_REPEAT, sc.MIN_REPEAT):
        lo, _hi, sub = av
        out = _first(list(sub))
        if lo == 0:
            out |= _first(items, k + 1)
        return out
    raise _Wide


def _heads(seq: list[Any], budget: bool = True) -> list[tuple[int | None, list[Any]]]:
    """``seq`` as alternatives (first character, the rest); ``None`` for one kept whole."""
    if not seq:
        return [(None, seq)]
    op, av = seq[0]
    if op is sc.LITERAL:
        return [(av, seq[1:])]
    if op is sc.BRANCH:
        # the alternatives grouped by first character, each group followed by a copy of the rest
        by_char: dict[int | None, list[list[Any]]] = {}
        for alt in av[1]:
            for c, rest in _heads(list(alt), budget):
                by_char.setdefault(c, []).append(rest)
        tail = seq[1:]
        whole = by_char.pop(None, [])
        copies = len(by_char) + len(whole)
        if budget and copies > 1 and tail and (copies - 1) * len(_unparse(tail)) > _TAIL_BUDGET:
            return [(None, seq)]
        out = [(c, (rests[0] if len(rests) == 1 else [(sc.BRANCH, (None, rests))]) + tail) for c, rests in by_char.items()]
        return out + [(None, rest + tail) for rest in whole]
    if op is sc.SUBPATTERN and av[0] is None and not av[1] and not av[2]:
        return _heads(list(av[3]) + seq[1:], budget)
    if op is sc.IN and all(o is sc.LITERAL for o, _ in av) and len(av) <= _SMALL_SET:
        return [(c, seq[1:]) for _o, c in av]
    if op is sc.MAX_REPEAT and av[0] >= 1 and len(av[2]) == 1 and av[2][0][0] is sc.LITERAL:
        lo, hi, sub = av
        rest = [(sc.MAX_REPEAT, (lo - 1, hi if hi == sc.MAXREPEAT else hi - 1, sub))] if hi != 1 else []
        return [(sub[0][1], rest + seq[1:])]
    return [(None, seq)]


def _class(chars: set[int]) -> str:
    return "[" + "".join(_char(c, True) for c in sorted(chars)) + "]"


def _second(seq: list[Any]) -> set[int] | None:
    """The characters a match of ``seq`` can have second, or None when unknown."""
    k = 0
    while k < len(seq) and seq[k][0] in (sc.AT, sc.ASSERT, sc.ASSERT_NOT):
        k += 1  # the characters are those of what follows (lookarounds are checked at the start)
    out: set[int] = set()
    try:
        for c, rest in _heads(seq[k:], budget=False):
            if c is None:
                return None
            out |= _first(rest)
    except _Wide:
        return None
    return out


def _head_grouped(seq: list[Any]) -> str:
    """``seq`` with its first alternation (after any lookarounds) grouped by first character."""
    k = 0
    while k < len(seq) and seq[k][0] in (sc.AT, sc.ASSERT, sc.ASSERT_NOT):
        k += 1
    if k < len(seq):
        op, av = seq[k]
        if op is sc.SUBPATTERN and av[0] is None and not av[1] and not av[2] and len(av[3]) == 1:
            op, av = av[3][0]
        if op is sc.BRANCH:
            return _unparse(seq[:k]) + _group([list(alt) for alt in av[1]]) + _unparse(seq[k + 1:])
    return _unparse(seq)


def _group(alts: list[list[Any]]) -> str:
    """Source of a pattern that matches at exactly the positions where one of ``alts`` does."""
    by_char: dict[int, list[list[Any]]] = {}
    whole: list[list[Any]] = []
    for alt in alts:
        for c, rest in _heads(alt):
            if c is None:
                whole.append(rest)
            else:
                by_char.setdefault(c, []).append(rest)
    parts = []
    for c, rests in by_char.items():
        if len(rests) == 1:
            parts.append(_char(c) + _unparse(rests[0]))
        else:
            parts.append(_char(c) + "(?:" + "|".join(_unparse(r) for r in rests if r) + ")" + ("?" if any(not r for r in rests) else ""))
    for seq in whole:
        try:
            first = _first(seq)
        except _Wide:
            first = None
        if first is None or len(first) > _GUARD_SET:
            parts.append(_unparse(seq))
        else:
            # one character that starts it, then the whole alternative, as a lookahead from
            # that character's position: the match starts where the alternative does
            cls = _class(first)
            second = _second(seq)
            ahead = f"(?={_class(second)})" if second is not None and len(second) <= _GUARD_SET else ""
            parts.append(f"{cls}{ahead}(?<=(?={_head_grouped(seq)}){cls})")
    return "(?:" + "|".join(parts) + ")"


def _grouped(body: str, flags: int) -> str | None:
    try:
        compiled = re.compile(body, flags)
        parsed = sp.parse(body, flags)
    except re.error:
        return None
    if compiled.groups or flags & re.VERBOSE:
        return None
    try:
        out = _group([list(parsed)])
        re.compile(out, flags)
    except (_Unsupported, re.error, RecursionError):
        return None
    return out


class Rule:
    """A pattern used for where it matches only: ``start`` and ``found`` answer exactly as
    ``re.compile(prefix + "(?:" + body + ")" + suffix, flags).search`` would. ``suffix``
    must be zero-width (a lookaround)."""

    __slots__ = ("fast", "pattern")

    def __init__(self, body: str, flags: int = 0, prefix: str = "", suffix: str = "") -> None:
        self.pattern = re.compile(prefix + "(?:" + body + ")" + suffix, flags)
        fast = _grouped(body, flags) if not suffix else None
        self.fast = re.compile(prefix + fast + suffix, flags) if fast is not None else self.pattern

    def start(self, text: str, pos: int = 0, endpos: int | None = None) -> int | None:
        """Leftmost position in ``text[pos:endpos]`` where the rule matches, or None."""
        m = self.fast.search(text, pos) if endpos is None else self.fast.search(text, pos, endpos)
        return None if m is None else m.start()

    def found(self, text: str, pos: int = 0, endpos: int | None = None) -> bool:
        return (self.fast.search(text, pos) if endpos is None else self.fast.search(text, pos, endpos)) is not None
