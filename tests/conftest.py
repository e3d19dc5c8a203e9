"""Suite-wide set-up.

The suite runs in parallel worker processes (pytest-xdist, ``-n auto`` in pyproject.toml). Each worker
gets an equal share of the machine's cores for torch's intra-op threads (``ttc.parallel.threads_per_worker``,
as the sweep's workers do), so two workers on a 2-core machine do not fight over the same cores.
``python -m pytest -n 0`` runs serially with torch's own default.
"""

from __future__ import annotations

import os

import torch

from ttc.parallel import threads_per_worker

if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    torch.set_num_threads(threads_per_worker(int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))
