"""What every sweep stage shares: the pool cell, a config's task, worker threads and dispatch.

- ``PoolCell``: one pool of the sweep (a checkpoint, a pool spec and its role);
- ``task_of(cfg)``: the config's task, built once per process (its generated splits are then made once);
- ``stage_threads(cfg, n_jobs)``: torch threads for each of a stage's ``n_jobs`` workers;
- ``read_pool(cfg, cell)``: a cell's pool from the cache, sampled on a miss;
- ``run_stage(cfg, fn, items, desc, ...)``: ``ttc.parallel.run_items`` with the run config's workers,
  backend, scheduler and progress setting, and ``item_label`` naming each item in the task timeline;
- ``largest_final`` / ``judged_finals``: which final checkpoints the verifiers and search judge.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ttc.cache import Cache, content_key
from ttc.config import to_dict
from ttc.generators import Checkpoint, checkpoint_pool
from ttc.parallel import run_items, threads_per_worker
from ttc.pools import PoolSpec
from ttc.sweep_config import SweepConfig
from ttc.tasks.base import Task

CURVES_VERSION = 4  # bump when the curves of a cell (ttc.sweep.cell_curves) change what they compute
# (3: weighted votes decided by a tail bound are exact, ttc.vote_bounds; 4: on pools of 4,096+
# samples the weighted vote is the compiled two-stage estimate with the Chernoff bound, ttc.vote_kernel;
# smaller pools, every shipped config's, give the same values as under 3)


@dataclass(frozen=True)
class PoolCell:
    checkpoint: Checkpoint
    spec: PoolSpec
    role: str  # final | checkpoint | ood | greedy | self_improve
    verifier_of: str = ""  # key of the checkpoint whose verifiers score this pool ("" = its own)

    @property
    def judged_as(self) -> str:
        """The checkpoint key the verifiers of this cell were trained for."""
        return self.verifier_of or self.checkpoint.key


_TASKS: dict[str, Task] = {}


def task_of(cfg: SweepConfig) -> Task:
    """One task object per task config and process: its generated splits are then built only once."""
    key = content_key(to_dict(cfg.task))
    if key not in _TASKS:
        _TASKS[key] = cfg.task.build()
    return _TASKS[key]


def stage_threads(cfg: SweepConfig, n_jobs: int | None = None) -> int:
    """Torch threads per worker: ``run.torch_threads``, else the cores shared by ``n_jobs`` workers."""
    if cfg.run.torch_threads:
        return cfg.run.torch_threads
    return threads_per_worker(cfg.run.n_jobs if n_jobs is None else n_jobs)


def read_pool(cfg: SweepConfig, cell: PoolCell) -> pd.DataFrame:
    """One cell's pool, sampled on a cache miss with the caller's torch threads (``run_stage`` sets them)."""
    return checkpoint_pool(Cache(cfg.run.cache_dir), cell.checkpoint, task_of(cfg), cell.spec,
                           progress=cfg.run.progress, device=cfg.run.device, dtype=cfg.generators.dtype,
                           engine=cfg.generators.engine if cfg.generators.external(cell.checkpoint.generator) else "ttc")


def item_label(item) -> str:
    """A short name of a stage item for the task timeline: generator, checkpoint, cell, verifier kind."""
    if isinstance(item, str):
        return item
    if isinstance(item, PoolCell):
        return f"{item.checkpoint.generator}@{item.checkpoint.tokens}/{item.role}/{item.spec.split}/N={item.spec.n_samples}"
    if isinstance(item, Checkpoint):
        return f"{item.generator}@{item.tokens}"
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str) and isinstance(item[1], int):
        return item[0] if not item[1] else f"{item[0]}#restart{item[1]}"  # a generator size and its restart
    if isinstance(item, tuple) and item and hasattr(item[0], "strategy"):  # a search cell and its pool
        cell = item[0]
        return f"{cell.checkpoint.generator}@{cell.checkpoint.tokens}/search:{cell.strategy}:{cell.value}/N={cell.n}"
    if isinstance(item, tuple):
        return "/".join(item_label(x) for x in item if isinstance(x, (str, PoolCell, Checkpoint))
                        or hasattr(x, "kind")) if item else ""
    return str(getattr(item, "method", None) or getattr(item, "kind", type(item).__name__))


def run_stage(cfg: SweepConfig, fn, items: list, desc: str, n_jobs: int | None = None, cached=None,
              timeline: list | None = None) -> list:
    """``ttc.parallel.run_items`` with the run config's workers, backend and progress setting; each item
    runs with ``stage_threads`` torch threads for those workers (the one place a stage's threads are set)."""
    n_jobs = cfg.run.n_jobs if n_jobs is None else n_jobs
    return run_items(fn, cfg, items, desc, n_jobs=n_jobs, backend=cfg.run.backend, progress=cfg.run.progress,
                     cached=cached, timeline=timeline, label=item_label, scheduler=cfg.run.scheduler,
                     threads=stage_threads(cfg, n_jobs))


def largest_final(generators: dict[str, list[Checkpoint]]) -> Checkpoint:
    """The final checkpoint of the generator with the most parameters."""
    return max((cks[-1] for cks in generators.values()), key=lambda c: c.params)


def judged_finals(cfg: SweepConfig, generators: dict[str, list[Checkpoint]]) -> list[Checkpoint]:
    """The final checkpoints that get their own verifiers (``verifiers.judge``; () = the largest),
    smallest first; none when no verifier kind is trained."""
    if not cfg.verifiers.kinds:
        return []
    finals = [generators[n][-1] for n in cfg.verifiers.judge] or [largest_final(generators)]
    return sorted(finals, key=lambda c: c.params)
