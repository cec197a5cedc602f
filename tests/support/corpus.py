"""Where the shared corpus of real third-party payloads lives (see ../shared/corpus/README.md)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

_default = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
CORPUS = Path(os.environ.get("OMNIHUB_CORPUS", _default))
if not CORPUS.exists():
    CORPUS = Path("/work/shared/corpus")


def load_json(relative: str) -> Any:
    return json.loads((CORPUS / relative).read_text())
