"""How much of a size's accuracy is the draw: the family's sizes retrained with other seeds.

One row per (size, seed): the final checkpoint trained with ``train.seed = seed`` (the initial weights
and the order of the training data; ``init_seed`` fixes the weights' seed apart; everything else as
the config says) and its single-sample test accuracy over a pool of ``n_samples`` per problem, with a
95% CI over problems. Training skips the decay branches of ``train.checkpoint_decay``: they never
change the final checkpoint (ttc/train.py, tested), so a seed costs one plain run. Generators and
pools are ordinary cache entries, so a rerun reads them back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ttc.cache import Cache
from ttc.generators import checkpoint_pool, ensure_generator
from ttc.parallel import run_items
from ttc.pools import PoolSpec
from ttc.sweep import seed_spec, train_cost
from ttc.sweep_config import SweepConfig
from ttc.sweep_stage import task_of

COLUMNS = ["generator", "params", "seed", "init_seed", "tokens", "train_flops", "final_loss", "pass1", "ci_low", "ci_high",
           "n_problems", "n_samples"]


@dataclass(frozen=True)
class SeedCell:
    size: str
    seed: int
    n_samples: int
    init_seed: int | None = None  # None: the initial weights drawn from ``seed`` too


def _one(cfg: SweepConfig, cell: SeedCell) -> dict:
    spec = seed_spec(cfg, cell.size, cell.seed, cell.init_seed)
    cache, task = Cache(cfg.run.cache_dir), task_of(cfg)
    final = ensure_generator(cache, task, spec)[-1]
    p = cfg.pools
    pool = checkpoint_pool(cache, final, task, PoolSpec(split="test", n_problems=p.n_problems, n_samples=cell.n_samples,
                                                       temperature=p.temperature, max_new_tokens=p.max_new_tokens,
                                                       seed=p.seed))
    per_problem = pool.groupby("problem_id")["is_correct"].mean().to_numpy(float)
    mean, se = float(per_problem.mean()), float(per_problem.std(ddof=1) / np.sqrt(len(per_problem)))
    return {"generator": cell.size, "params": final.params, "seed": cell.seed,
            "init_seed": cell.seed if cell.init_seed is None else cell.init_seed, "tokens": final.tokens,
            "train_flops": final.train_flops, "final_loss": final.loss, "pass1": mean,
            "ci_low": mean - 1.96 * se, "ci_high": mean + 1.96 * se, "n_problems": len(per_problem),
            "n_samples": cell.n_samples}


def seed_spread(cfg: SweepConfig, sizes: list[str], seeds: list[int], *, n_samples: int = 8,
                init_seed: int | None = None) -> pd.DataFrame:
    """The table (COLUMNS; FLOPs = 6·P·tokens, P non-embedding; pass1 a fraction of test problems) for
    every size in ``sizes`` and seed in ``seeds``, on ``cfg.run.train_jobs`` workers, longest first.
    With ``init_seed`` every run starts from the weights that seed draws, and ``seed`` varies only the
    order of the training data (whose share of the spread is the initial weights', whose the data's)."""
    unknown = [s for s in sizes if s not in cfg.generators.sizes]
    if unknown:
        raise ValueError(f"sizes {unknown} are not among generators.sizes {cfg.generators.sizes}")
    cells = [SeedCell(size, seed, n_samples, init_seed) for size in sizes for seed in seeds]
    order = sorted(cells, key=lambda c: -train_cost(cfg, c.size))  # longest first
    rows = run_items(_one, cfg, order, "seeds", n_jobs=cfg.run.train_jobs, backend=cfg.run.backend,
                     progress=cfg.run.progress, threads=1, label=lambda c: f"{c.size}/{c.seed}")
    table = pd.DataFrame(rows, columns=COLUMNS)
    rank = {s: i for i, s in enumerate(cfg.generators.sizes)}
    return table.sort_values(["generator", "seed"], key=lambda col: col.map(rank) if col.name == "generator" else col,
                             kind="stable").reset_index(drop=True)
