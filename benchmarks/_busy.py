"""Competing CPU load for the benchmarks: ``with busy_processes(n):`` runs ``n`` spinning processes (``while True``)
that also stop by themselves if the benchmark dies (each checks its parent now and then)."""
from __future__ import annotations

import contextlib
import subprocess
import sys

#: a busy process that stops when its parent is gone
SPIN = """
import os
parent, i = os.getppid(), 0
while True:
    i += 1
    if i % 10_000_000 == 0 and os.getppid() != parent:
        break
"""


@contextlib.contextmanager
def busy_processes(n: int):
    """``n`` busy processes while the block runs; killed and reaped when it ends, however it ends."""
    spinners = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(n)]
    try:
        yield spinners
    finally:
        for p in spinners:
            p.kill()
            p.wait()
