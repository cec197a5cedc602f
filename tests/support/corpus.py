"""Where the shared corpus of real provider payloads lives (../shared/corpus beside the repo)."""

from __future__ import annotations

import os
from pathlib import Path

_BESIDE_REPO = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
CORPUS = Path(os.environ.get("OMNIHUB_CORPUS", _BESIDE_REPO))
if not CORPUS.exists() and "OMNIHUB_CORPUS" not in os.environ:
    CORPUS = Path("/work/shared/corpus")
