"""Busy-loop processes that share the cores while a benchmark runs.

Users' machines are rarely idle; ``busy_cores(n)`` makes a benchmark measure what a trainer
gets when ``n`` other processes want a whole core each (a browser, another job). Both trainers
of a comparison run under the same load.

Examples
--------
>>> with busy_cores(1) as pids:
...     len(pids)
1
"""
from __future__ import annotations

import subprocess
import sys
from contextlib import contextmanager

__all__ = ["busy_cores"]

_SPIN = "while True: pass"


@contextmanager
def busy_cores(n: int):
    """Run ``n`` busy-loop processes for the duration of the ``with`` block; yields their pids."""
    if n < 0:
        raise ValueError(f"busy must be a number of processes >= 0, got {n}")
    processes = [subprocess.Popen([sys.executable, "-c", _SPIN]) for _ in range(n)]
    try:
        yield [p.pid for p in processes]
    finally:
        for process in processes:
            process.kill()
        for process in processes:
            process.wait()
