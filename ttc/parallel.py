"""Run a stage's items on joblib workers, with a progress bar and a task timeline.

``run_items(fn, cfg, items, ...)`` calls ``fn(cfg, item)`` for every item (``fn`` at module level, so
workers can import it) and returns the results in item order. Where at most one item still has to
be computed (``cached(item)`` says the others' results are in a cache), everything runs in this
process: a warm rerun starts no workers, each of which would pay for imports. Each item's wall-clock
interval and worker process go to ``timeline`` when given, so a run log can show where workers idle.

``backend="dask"`` runs the items on a Dask distributed cluster (joblib's dask backend): the scheduler
at ``scheduler`` (``tcp://host:8786``), or a ``LocalCluster`` of ``n_jobs`` one-thread worker
processes started here when none is given. Workers must see the same cache directory (a shared
filesystem); every cell is content-addressed and locked there, so the results equal a local run's.
``backend="ray"`` uses Ray's joblib backend (``ray.util.joblib``) the same way.

Torch threads are the scheduler's decision, not the item functions': ``run_items(..., threads=k)``
runs each item with ``k`` torch threads (``torch_threads``) and gives the process its own setting
back after it, in a worker or here.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from joblib import Parallel, delayed, parallel_config

from ttc.progress import progress_bar


def threads_per_worker(n_workers: int) -> int:
    """Torch threads for each of ``n_workers`` worker processes sharing this machine's cores (at least 1;
    ``n_workers`` <= 0 means one worker per core)."""
    cores = os.cpu_count() or 1
    return max(1, cores // (n_workers if n_workers > 0 else cores))


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch threads (None: leave them), then restore the process's setting."""
    if not n:
        yield
        return
    import torch  # here: the parallel helper itself needs no torch
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _timed(fn: Callable[[Any, Any], Any], cfg: Any, item: Any,
           threads: int | None = None) -> tuple[Any, tuple[float, float, int]]:
    """fn(cfg, item) with ``threads`` torch threads, its wall-clock interval and process id."""
    start = time.time()
    with torch_threads(threads):
        out = fn(cfg, item)
    return out, (start, time.time(), os.getpid())


DISTRIBUTED = ("dask", "ray")  # backends that need a package and a cluster (``ttc[dask]``, ``ray``)
_CLIENTS: dict[tuple[str, int], Any] = {}


def check_backend(backend: str) -> None:
    """ImportError (one line, with the install command) when a distributed backend's package is missing."""
    if backend == "dask":
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise ImportError('run.backend="dask" needs Dask distributed: pip install "ttc[dask]"') from None
    if backend == "ray":
        try:
            import ray  # noqa: F401
        except ImportError:
            raise ImportError('run.backend="ray" needs Ray: pip install "ray[default]"') from None


def dask_client(scheduler: str = "", n_workers: int = 2) -> Any:
    """A Dask client for ``scheduler``, or for a LocalCluster of ``n_workers`` one-thread processes;
    one per (address, size) and process, closed at exit."""
    key = (scheduler, n_workers)
    if key not in _CLIENTS:
        import atexit

        from distributed import Client, LocalCluster
        if scheduler:
            client = Client(scheduler)
        else:
            cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
            client = Client(cluster)
            atexit.register(cluster.close)
        atexit.register(client.close)
        _CLIENTS[key] = client
    return _CLIENTS[key]


def _distributed(backend: str, scheduler: str, n_jobs: int) -> Any:
    """The joblib parallel_config for a distributed backend (the cluster started or joined here)."""
    check_backend(backend)
    if backend == "dask":
        dask_client(scheduler, n_jobs if n_jobs > 0 else (os.cpu_count() or 1))
        return parallel_config(backend="dask")
    from ray.util.joblib import register_ray
    register_ray()
    return parallel_config(backend="ray")


def run_items(fn: Callable[[Any, Any], Any], cfg: Any, items: list, desc: str, *, n_jobs: int,
              backend: str = "loky", progress: bool = True, cached: Callable[[Any], bool] | None = None,
              timeline: list[dict] | None = None, label: Callable[[Any], str] = str, scheduler: str = "",
              threads: int | None = None) -> list:
    """``[fn(cfg, item) for item in items]`` on ``n_jobs`` workers (1: here; -1: all cores), each item
    with ``threads`` torch threads (None: the process's own). Timeline rows: stage (``desc``), item
    (``label(item)``), start, end (epoch seconds) and pid."""
    misses = len(items) if cached is None else sum(not cached(it) for it in items)
    if n_jobs == 1 or misses <= 1:
        done: Any = (_timed(fn, cfg, it, threads) for it in items)
        bar = progress_bar(done, total=len(items), desc=desc, disable=not progress)
    elif backend in DISTRIBUTED:
        with _distributed(backend, scheduler, n_jobs):
            done = Parallel(n_jobs=-1, return_as="list")(delayed(_timed)(fn, cfg, it, threads) for it in items)
        bar = progress_bar(done, total=len(items), desc=f"{desc} ({backend})", disable=not progress)
    else:
        done = Parallel(n_jobs=n_jobs, backend=backend, return_as="generator")(
            delayed(_timed)(fn, cfg, it, threads) for it in items)
        bar = progress_bar(done, total=len(items), desc=f"{desc} ({n_jobs} workers)", disable=not progress)
    results = []
    for item, (out, (start, end, pid)) in zip(items, bar):
        results.append(out)
        if timeline is not None:
            timeline.append({"stage": desc, "item": label(item), "start": start, "end": end, "pid": pid})
    return results
