"""Where the shared corpus of real third-party test material lives."""

from __future__ import annotations

import os
from pathlib import Path

CORPUS = Path(os.environ.get("OMNIHUB_CORPUS", Path(__file__).resolve().parents[2].parent / "shared" / "corpus"))
if not CORPUS.exists() and not os.environ.get("OMNIHUB_CORPUS"):
    CORPUS = Path("/work/shared/corpus")
