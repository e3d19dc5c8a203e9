"""A sweep run that logs every generator it trains and every pool it samples (one line each, with
its process id) to the file named by ``TTC_TEST_CALLS``: what the fault-injection tests count to
show that interrupted and concurrent runs compute each cell once. Runs ``experiments/sweep.py``'s
``main`` with the command-line arguments, in this process (``run.n_jobs = 1`` keeps the work here)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: the repository's packages

import ttc.generators  # noqa: E402
import ttc.pools  # noqa: E402
from experiments import sweep  # noqa: E402


def _logged(fn, what: str):
    def wrapper(*args, **kwargs):
        with open(os.environ["TTC_TEST_CALLS"], "a") as log:
            log.write(f"{what} {os.getpid()}\n")
        return fn(*args, **kwargs)
    return wrapper


ttc.generators.train_generator = _logged(ttc.generators.train_generator, "train")
ttc.pools.draw_pool = _logged(ttc.pools.draw_pool, "pool")

if __name__ == "__main__":
    sys.exit(sweep.main(sys.argv[1:]))
