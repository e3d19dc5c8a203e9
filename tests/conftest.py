"""Suite-wide set-up.

The suite runs in parallel worker processes (pytest-xdist, ``-n auto`` in pyproject.toml). Each worker
gets an equal share of the machine's cores for torch's intra-op threads (``ttc.parallel.threads_per_worker``,
as the sweep's workers do), so two workers on a 2-core machine do not fight over the same cores.
``python -m pytest -n 0`` runs serially with torch's own default. Every process computes on the kernel
paths the entry scripts pin (``ttc.environment.pin_kernels``), so the suite's numbers are the runs'.
"""

from __future__ import annotations

import os

from ttc.environment import pin_kernels

pin_kernels()  # the kernel paths the entry scripts run (ttc.environment), set before torch loads

import torch  # noqa: E402

from ttc.parallel import threads_per_worker  # noqa: E402

if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    torch.set_num_threads(threads_per_worker(int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))
