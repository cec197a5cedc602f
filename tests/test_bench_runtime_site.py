"""F1's view of an installed omnihub (benchmarks/runtime_site): the development venv's extra
packages are hidden from `omnihub run`'s processes, omnihub's runtime dependencies are not."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

from tests.support.hub import REPO

SITE = REPO / "benchmarks" / "runtime_site"


def _site():
    spec = importlib.util.spec_from_file_location("omnihub_runtime_site_test", SITE / "sitecustomize.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_runtime_closure_has_the_dependencies_and_their_extras_and_no_test_tool():
    closure = _site().runtime_closure()
    for dist in ("omnihub", "flask", "sqlalchemy", "structlog", "rq", "redis", "lingua-language-detector",
                 "psycopg", "psycopg-binary",  # psycopg[binary]: an extra of a dependency
                 "markupsafe", "cffi"):  # dependencies of dependencies
        assert dist in closure, dist
    for dist in ("pytest", "schemathesis", "rich", "playwright", "mypy", "ruff", "greenlet"):
        assert dist not in closure, dist


def test_the_hidden_packages_cannot_be_imported_and_the_others_can():
    blocked = _site().blocked()
    assert {"rich", "pytest", "schemathesis", "pygments"} <= blocked
    assert not blocked & {"flask", "sqlalchemy", "structlog", "psycopg", "psycopg_binary", "hub", "normalizers", "lingua", "yaml"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNIHUB_")}
    env.update({"PYTHONPATH": os.pathsep.join([str(SITE), str(REPO)]), "OMNIHUB_BENCH_ABSENT": ",".join(sorted(blocked))})
    code = ("import structlog, sqlalchemy, flask, hub.app, sys\n"
            "assert 'rich' not in sys.modules, 'structlog picked up rich'\n"
            "try:\n    import rich.console\nexcept ModuleNotFoundError as exc:\n    print('absent', exc.name)\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=str(REPO), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "absent rich"
