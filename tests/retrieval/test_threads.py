"""FAISS's OpenMP thread count: `RETRIEVAL_SEARCH_THREADS` holds in every thread of a process,
not only the one that started it (request threads and the task thread search and add)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import threading
import faiss
seen = []
thread = threading.Thread(target=lambda: seen.append(faiss.omp_get_max_threads()))
thread.start()
thread.join()
print("threads", faiss.omp_get_max_threads(), seen[0])
"""


def test_every_thread_uses_the_configured_openmp_threads():
    # More than the machine's cores, which OpenMP's default would be: only the setting gives it.
    wanted = str((os.cpu_count() or 1) + 1)
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    result = subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, "manage.py", "shell", "-c", PROBE],
        cwd=ROOT,
        env={**env, "RETRIEVAL_SEARCH_THREADS": wanted},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == f"threads {wanted} {wanted}"
