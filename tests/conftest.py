"""Suite-wide set-up.

The suite runs in parallel worker processes (pytest-xdist, ``-n auto`` in pyproject.toml). Each worker
gets an equal share of the machine's cores for torch's intra-op threads, so two workers on a 2-core
machine do not fight over the same cores (on one core per worker the suite's CPU time stays close to a
serial run's). ``python -m pytest -n 0`` runs serially with torch's own default.
"""

from __future__ import annotations

import os

import torch


def _threads_per_worker() -> int | None:
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if not workers:
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // int(workers))


_THREADS = _threads_per_worker()
if _THREADS is not None:
    torch.set_num_threads(_THREADS)
