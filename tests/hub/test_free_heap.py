"""``hub.runtime.release_free_heap``: what a process freed goes back to the system (glibc's
``malloc_trim``), e.g. the parse of the shipped models at a worker's start (F1)."""

from __future__ import annotations

import subprocess
import sys

from tests.support.hub import REPO

CODE = """
from pathlib import Path
from hub.runtime import release_free_heap

def anon_mb():
    return int(next(l for l in Path('/proc/self/status').read_text().splitlines() if l.startswith('RssAnon')).split()[1]) / 1024

before = anon_mb()
blocks = [bytes(2000) for _ in range(40000)]  # ~80 MB of heap chunks (above pymalloc's 512 bytes)
pin = bytes(2000)  # allocated last: the heap's top stays in use, so free() alone cannot shrink it
del blocks
freed = anon_mb()
release_free_heap()
print(before, freed, anon_mb())
"""


def test_freed_heap_goes_back_to_the_system():
    out = subprocess.run([sys.executable, "-c", CODE], cwd=str(REPO), capture_output=True, text=True, timeout=60,
                         env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    before, freed, after = map(float, out.stdout.split())
    assert freed - before > 60, "the test's blocks were not held by the heap after free()"
    assert after - before < 10, f"release_free_heap kept {after - before:.0f} MB of freed heap"
