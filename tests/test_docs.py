"""The documentation site builds strictly: no broken link or anchor, no page outside the
nav, and every registered connector kind has a page with its generated key table."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _mkdocs() -> list[str]:
    exe = Path(sys.executable).with_name("mkdocs")
    if exe.exists():
        return [str(exe)]
    if shutil.which("mkdocs"):
        return ["mkdocs"]
    pytest.fail("mkdocs is not installed: `make install` installs it with the test extra")


def _build(tmp_path: Path, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    # not -q: with -q MkDocs hides its warnings from the strict-mode counter and passes
    cmd = [*_mkdocs(), "build", "--strict", "-d", str(tmp_path / "site")]
    if config:
        cmd += ["-f", str(config)]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/bin:/bin", "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": str(ROOT)})


def test_docs_build_strict(tmp_path: Path) -> None:
    result = _build(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    site = tmp_path / "site"
    from channels import REGISTRY as channels
    from outbound import REGISTRY as backends

    html = "".join(p.read_text() for p in site.rglob("*.html"))
    for kind, adapter in {**channels, **backends}.items():
        assert f"Keys of <code>kind: {kind}</code>" in html, f"no key table for {kind}"
        for name in adapter.Config.model_fields:
            assert f"<code>{name}</code>" in html, f"{kind}.{name} is missing from the docs"


def _copy_of_the_site(tmp_path: Path) -> tuple[Path, Path]:
    """(docs dir, mkdocs.yml) of a copy of the site that a test may break."""
    docs = tmp_path / "docs"
    shutil.copytree(ROOT / "docs", docs)
    config = tmp_path / "mkdocs.yml"
    text = (ROOT / "mkdocs.yml").read_text().replace("docs_dir: docs", f"docs_dir: {docs}")
    config.write_text(text.replace("  - docs/hooks/connector_keys.py", f"  - {ROOT / 'docs/hooks/connector_keys.py'}"))
    return docs, config


def test_docs_build_fails_on_a_broken_link(tmp_path: Path) -> None:
    docs, config = _copy_of_the_site(tmp_path)
    (docs / "cli.md").write_text((docs / "cli.md").read_text() + "\nSee [settings](settings.md#no-such-anchor).\n")
    result = _build(tmp_path, config)
    assert result.returncode != 0
    assert "no-such-anchor" in result.stdout + result.stderr


def test_docs_build_fails_on_an_undocumented_connector(tmp_path: Path) -> None:
    docs, config = _copy_of_the_site(tmp_path)
    page = docs / "helpdesks" / "zendesk.md"
    page.write_text(page.read_text().replace("<!-- connector-keys: zendesk -->", ""))
    result = _build(tmp_path, config)
    assert result.returncode != 0
    assert "zendesk" in result.stdout + result.stderr
