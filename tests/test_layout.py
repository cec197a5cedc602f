"""The architecture contract: layout, registries, and the one-way dependency direction."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import channels
import outbound
from channels.base import ChannelAdapter
from hub.types import AdapterConfig
from outbound.base import HelpdeskBackend

ROOT = Path(__file__).resolve().parents[1]
ADAPTER_ALLOWED = {"normalizers", "hub.errors", "hub.types", "hub.signing", "hub.net", "hub.states"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def _project(mods: set[str]) -> set[str]:
    return {m for m in mods if m.split(".")[0] in {"hub", "channels", "normalizers", "outbound", "workers", "config"}}


def _files(pkg: str):
    return sorted((ROOT / pkg).rglob("*.py"))


def test_fixed_top_level_layout():
    for d in ("hub", "channels", "normalizers", "outbound", "workers", "config", "tests"):
        assert (ROOT / d).is_dir(), d
    for f in ("Procfile", "pyproject.toml", "README.md", "Makefile", ".ci/run"):
        assert (ROOT / f).exists(), f
    procfile = (ROOT / "Procfile").read_text()
    for proc in ("web:", "worker:", "poller:"):
        assert proc in procfile


@pytest.mark.parametrize("path", _files("config"), ids=lambda p: p.name)
def test_config_imports_nothing_of_the_project(path):
    assert _project(_imports(path)) == set()


@pytest.mark.parametrize("path", _files("normalizers"), ids=lambda p: p.name)
def test_normalizers_are_pure(path):
    bad = {m for m in _project(_imports(path)) if not (m.startswith("normalizers") or m.startswith(("hub.errors", "hub.states")))}
    assert bad == set(), f"{path.name} imports {bad}"


@pytest.mark.parametrize("path", _files("channels") + _files("outbound"), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_adapters_import_only_the_small_types(path):
    own = path.relative_to(ROOT).parts[0]
    bad = set()
    for m in _project(_imports(path)):
        if m.startswith(own) or any(m == a or m.startswith(a + ".") for a in ADAPTER_ALLOWED):
            continue
        if m in ("hub",):  # `from hub import signing` style
            continue
        bad.add(m)
    assert bad == set(), f"{path.name} imports {bad}"


def test_every_adapter_module_is_registered_and_names_are_unique():
    found = {}
    for pkg, base in ((channels, ChannelAdapter), (outbound, HelpdeskBackend)):
        for info in pkgutil.iter_modules(pkg.__path__):
            if info.name in ("base",) or info.name.startswith("_"):
                continue
            mod = importlib.import_module(f"{pkg.__name__}.{info.name}")
            for obj in vars(mod).values():
                if isinstance(obj, type) and issubclass(obj, base) and obj is not base and obj.kind and obj.__module__.startswith(mod.__name__):
                    found[obj.kind] = obj
    registered = {**channels.REGISTRY, **outbound.REGISTRY}
    assert set(found) <= set(registered), f"not registered: {set(found) - set(registered)}"
    assert len(channels.REGISTRY) + len(outbound.REGISTRY) == len(registered), "a kind is both a channel and a backend"
    for kind, cls in registered.items():
        assert cls.kind == kind
        assert issubclass(cls.Config, AdapterConfig)


def test_core_never_branches_on_a_channel_or_backend_name():
    kinds = set(channels.REGISTRY) | set(outbound.REGISTRY)
    offenders = []
    for pkg in ("hub", "workers"):
        for path in _files(pkg):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Compare) and any(isinstance(op, (ast.Eq, ast.NotEq, ast.In)) for op in node.ops):
                    for c in [node.left, *node.comparators]:
                        if isinstance(c, ast.Constant) and c.value in kinds - {"inbox"}:
                            offenders.append(f"{path.name}:{node.lineno} compares with {c.value!r}")
    assert offenders == []


def test_docstrings_point_inside_the_repository():
    """Comments and docstrings refer to the README or docs/ or say it themselves, never to documents
    a reader of the repository does not have (design notes, issue numbers)."""
    import re

    pattern = re.compile(r"DESIGN\.md|STYLE\.md|RUNBOOK|\.\./shared|\bissue \d+|\(#\d+\)")
    offenders = []
    for pkg in ("hub", "channels", "normalizers", "outbound", "workers", "config"):
        for path in _files(pkg):
            if "migrations" in path.parts:
                continue
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if pattern.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()[:80]}")
    assert offenders == []


# ------------------------------------------------------------ dependency direction in hub/
#: what adapters (channels/, outbound/) and normalizers may import from hub/
HUB_ADAPTER_FACING = {"hub.errors", "hub.types", "hub.signing", "hub.net", "hub.states"}
#: the application shell: Flask app, API, web UI, CLI, process entry points
HUB_SHELL = {"hub.app", "hub.api", "hub.views", "hub.openapi", "hub.cli", "hub.wsgi", "hub.webhooks", "hub.weblog",
             "hub.bootstrap", "hub.web"}
#: everything else in hub/ is the storage core (models, journal, threads, runtime, queues...)


def _module_of(path: Path) -> str:
    name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    return name[: -len(".__init__")] if name.endswith(".__init__") else name


def _project_modules() -> dict[str, Path]:
    mods = {}
    for pkg in ("hub", "channels", "normalizers", "outbound", "workers", "config"):
        for path in _files(pkg):
            if "migrations" not in path.parts:
                mods[_module_of(path)] = path
    return mods


def _edges(path: Path, mods: dict[str, Path]) -> set[str]:
    """Project modules imported by a file, at any depth except under ``if TYPE_CHECKING``."""
    tree = ast.parse(path.read_text())
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for n in ast.walk(node))

    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rsplit(".", 1)[0] if "." in name else ""
        return name or None

    out = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out.update(filter(None, (resolve(a.name) for a in node.names)))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                full = f"{node.module}.{a.name}"
                out.add(full if full in mods else resolve(node.module))
    out.discard(None)
    out.discard(_module_of(path))
    return out


def _layer(mod: str) -> str:
    top = mod.split(".")[0]
    if top != "hub":
        return top
    if mod in HUB_ADAPTER_FACING:
        return "hub-adapter-facing"
    if mod in HUB_SHELL or any(mod.startswith(s + ".") for s in HUB_SHELL):
        return "hub-shell"
    return "hub-core"


#: layer -> layers it may import (its own included)
ALLOWED_LAYERS = {
    "config": {"config"},
    "normalizers": {"normalizers", "hub-adapter-facing"},
    "hub-adapter-facing": {"hub-adapter-facing", "normalizers", "config"},
    "channels": {"channels", "normalizers", "hub-adapter-facing"},
    "outbound": {"outbound", "normalizers", "hub-adapter-facing"},
    "hub-core": {"hub-core", "hub-adapter-facing", "normalizers", "config", "channels", "outbound"},
    "workers": {"workers", "hub-core", "hub-adapter-facing", "normalizers", "config"},
    "hub-shell": {"hub-shell", "hub-core", "hub-adapter-facing", "normalizers", "config", "channels", "outbound", "workers"},
}


def test_dependency_direction_per_layer():
    """Adapters and normalizers see only the adapter-facing part of hub/; the storage core
    never reaches up into workers or the application shell; workers never into the shell."""
    mods = _project_modules()
    bad = []
    for mod, path in mods.items():
        mine = _layer(mod)
        for dep in _edges(path, mods):
            if _layer(dep) not in ALLOWED_LAYERS[mine]:
                bad.append(f"{mod} ({mine}) imports {dep} ({_layer(dep)})")
    assert sorted(bad) == []


def test_no_import_cycles():
    """No two project modules import each other, directly or through others, at any depth
    (function-level imports included; ``if TYPE_CHECKING`` imports excluded)."""
    mods = _project_modules()
    graph = {m: _edges(p, mods) for m, p in mods.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    assert cycles == []


def test_importing_a_package_registers_nothing():
    """Registration is explicit (e.g. ``workers.intel.install()``), never an import side effect."""
    for pkg in ("hub", "channels", "normalizers", "outbound", "workers", "config"):
        tree = ast.parse((ROOT / pkg / "__init__.py").read_text())
        calls = [n for n in tree.body if isinstance(n, ast.Expr) and isinstance(n.value, ast.Call)]
        assert calls == [], f"{pkg}/__init__.py calls something at import"
    assert not [n for n in ast.parse((ROOT / "workers" / "__init__.py").read_text()).body if isinstance(n, (ast.Import, ast.ImportFrom))]
    intel = ast.parse((ROOT / "workers" / "intel.py").read_text())
    assert not [n for n in intel.body if isinstance(n, ast.Expr) and isinstance(n.value, ast.Call)], "workers/intel.py installs itself on import"
