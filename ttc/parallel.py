"""Run a stage's items on joblib workers, with a progress bar and a task timeline.

``run_items(fn, cfg, items, ...)`` calls ``fn(cfg, item)`` for every item (``fn`` at module level, so
workers can import it) and returns the results in item order. Where at most one item still has to
be computed (``cached(item)`` says the others' results are in a cache), everything runs in this
process: a warm rerun starts no workers, each of which would pay for imports. Each item's wall-clock
interval and worker process go to ``timeline`` when given, so a run log can show where workers idle.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from joblib import Parallel, delayed

from ttc.progress import progress_bar


def _timed(fn: Callable[[Any, Any], Any], cfg: Any, item: Any) -> tuple[Any, tuple[float, float, int]]:
    """fn(cfg, item) with its wall-clock interval and process id."""
    start = time.time()
    out = fn(cfg, item)
    return out, (start, time.time(), os.getpid())


def run_items(fn: Callable[[Any, Any], Any], cfg: Any, items: list, desc: str, *, n_jobs: int,
              backend: str = "loky", progress: bool = True, cached: Callable[[Any], bool] | None = None,
              timeline: list[dict] | None = None, label: Callable[[Any], str] = str) -> list:
    """``[fn(cfg, item) for item in items]`` on ``n_jobs`` workers (1: here; -1: all cores). Timeline
    rows: stage (``desc``), item (``label(item)``), start, end (epoch seconds) and pid."""
    misses = len(items) if cached is None else sum(not cached(it) for it in items)
    if n_jobs == 1 or misses <= 1:
        done: Any = (_timed(fn, cfg, it) for it in items)
        bar = progress_bar(done, total=len(items), desc=desc, disable=not progress)
    else:
        done = Parallel(n_jobs=n_jobs, backend=backend, return_as="generator")(
            delayed(_timed)(fn, cfg, it) for it in items)
        bar = progress_bar(done, total=len(items), desc=f"{desc} ({n_jobs} workers)", disable=not progress)
    results = []
    for item, (out, (start, end, pid)) in zip(items, bar):
        results.append(out)
        if timeline is not None:
            timeline.append({"stage": desc, "item": label(item), "start": start, "end": end, "pid": pid})
    return results
