"""F1 measures `omnihub run` as a desk installs it (``pip install omnihub``), not a development
checkout: its processes get this directory on PYTHONPATH, and this module (run by ``site`` at
interpreter start) makes every distribution that omnihub does not depend on, directly or
through its dependencies, unimportable — as if it were not installed.

Why: the development venv also holds the test and lint tools (``.[test]``), and some runtime
libraries pick up what they find: structlog imports ``rich`` (a dependency of schemathesis,
a test tool) when it is importable, about 4.5 MB in each of the run's Python processes. The
versions of everything omnihub does use are the same ones the development venv holds.

The closure is read from the installed metadata (``importlib.metadata``): omnihub's
``Requires-Dist`` without extras, then theirs, recursively; a requirement whose environment
marker cannot be evaluated is kept (the conservative side: more imports, a larger figure).
Blocked imports raise ModuleNotFoundError, exactly what an absent package raises. The
benchmark computes the list once (``blocked()``) and hands it to the processes in
``OMNIHUB_BENCH_ABSENT``: computing it in each would load importlib.metadata's view of every
installed distribution into each process (about 4.5 MB of PSS each, the figure measured).
"""

from __future__ import annotations

import os
import re
import sys


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _needed(requirement: str, extras: set[str]) -> tuple[str, set[str]] | None:
    """(distribution, its extras) a ``Requires-Dist`` line asks for when the requiring
    distribution is installed with ``extras``; None when its marker rules it out."""
    from packaging.requirements import Requirement

    req = Requirement(requirement)
    if req.marker is not None:
        try:
            if not any(req.marker.evaluate({"extra": e}) for e in (extras or {""})):
                return None
        except Exception:  # noqa: BLE001 - a marker it cannot evaluate: kept (conservative)
            pass
    return _canon(req.name), {_canon(e) for e in req.extras}


def runtime_closure(root: str = "omnihub") -> set[str]:
    """Canonical names of ``root`` and every distribution it needs at run time (with the
    extras its requirements name, e.g. ``psycopg[binary]``)."""
    import importlib.metadata as md

    done: dict[str, set[str]] = {}
    todo: list[tuple[str, set[str]]] = [(_canon(root), set())]
    while todo:
        name, extras = todo.pop()
        if name in done and extras <= done[name]:
            continue
        done[name] = done.get(name, set()) | extras
        try:
            requires = md.distribution(name).requires or []
        except md.PackageNotFoundError:
            continue
        todo += [n for n in (_needed(r, done[name]) for r in requires) if n]
    return set(done)


class _Absent:
    """A meta path finder (duck-typed: importlib.abc would be one more import per process)."""

    def __init__(self, blocked: frozenset[str]) -> None:
        self.blocked = blocked

    def find_spec(self, fullname, path=None, target=None):  # noqa: ANN001 - the finder protocol
        if fullname.partition(".")[0] in self.blocked:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


def blocked() -> frozenset[str]:
    """Top-level import names that only distributions outside the runtime closure provide."""
    import importlib.metadata as md

    closure = runtime_closure()
    return frozenset(
        top for top, dists in md.packages_distributions().items()
        if top not in sys.builtin_module_names and not any(_canon(d) in closure for d in dists)
    )


def install(names: frozenset[str]) -> None:
    sys.meta_path.insert(0, _Absent(names))


_absent = os.environ.get("OMNIHUB_BENCH_ABSENT")
if _absent:
    install(frozenset(_absent.split(",")))
