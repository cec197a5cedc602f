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
ADAPTER_ALLOWED = {"normalizers", "hub.errors", "hub.types", "hub.signing", "hub.net"}


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
    bad = {m for m in _project(_imports(path)) if not (m.startswith("normalizers") or m.startswith("hub.errors"))}
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
