"""The shared corpus of real third-party payloads (../shared/corpus beside the repo)."""

from __future__ import annotations

import os
from pathlib import Path

_REPO = Path(__file__).resolve().parents[2]


def _find() -> Path:
    env = os.environ.get("OMNIHUB_CORPUS")
    if env:
        return Path(env)
    for candidate in (_REPO.parent / "shared" / "corpus", Path("/work/shared/corpus")):
        if candidate.exists():
            return candidate
    return _REPO.parent / "shared" / "corpus"


CORPUS = _find()
