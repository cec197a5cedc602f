"""Where the shared third-party corpus lives (``shared/corpus`` beside the repository)."""

from __future__ import annotations

import os
from pathlib import Path


def _default() -> Path:
    beside = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
    return beside if beside.exists() else Path("/work/shared/corpus")


CORPUS = Path(os.environ.get("OMNIHUB_CORPUS", _default()))
