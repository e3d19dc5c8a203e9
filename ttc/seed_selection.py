"""Selection over seeds: each seed of a judged size gets its own verifiers, pool and selection curves.

One run of the family is one draw (ttc.seed_spread: a size's single-sample accuracy moves by tens of
points from seed to seed), so a selection gain or a model-size multiplier read from one run is a draw
too. Here every (size, seed) repeats the default run's judged-generator pipeline on its own: the final
checkpoint trained with ``train.seed = seed`` (no decay branches: they never change the final
checkpoint), a test pool of ``n_samples`` per problem, the ORM and PRM of ``verifiers.kinds`` trained
from that checkpoint on its own samples with the config's recipe (``cfg.verifiers.spec``; started
from the judged checkpoint whatever ``init_size`` says), and the
exact selection curves of ``eval.rules`` at every N of ``eval.ns`` up to ``n_samples``. The table has one
row per (size, seed, rule, n); ``analysis.seed_selection`` averages it over seeds. Every piece is an
ordinary cache entry (generators are shared with ttc.seed_spread), so a rerun reads it back.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pandas as pd

from ttc.cache import Cache, content_key
from ttc.evaluate import curves
from ttc.generators import checkpoint_pool, ensure_generator
from ttc.parallel import run_items
from ttc.pools import PoolSpec, pool_key
from ttc.sweep import seed_spec, train_cost
from ttc.sweep_config import SweepConfig
from ttc.sweep_stage import CURVES_VERSION, PoolCell, task_of

COLUMNS = ["generator", "params", "seed", "tokens", "train_flops", "final_loss", "rule", "n", "accuracy", "se",
           "n_problems", "n_samples", "verifier_train_flops"]


@dataclass(frozen=True)
class SelectionCell:
    size: str
    seed: int
    n_samples: int


def _one(cfg: SweepConfig, cell: SelectionCell) -> pd.DataFrame:
    from ttc.sweep_verifiers import with_verifier_scores
    from ttc.verifiers import ensure_verifier

    spec = seed_spec(cfg, cell.size, cell.seed)
    cache, task = Cache(cfg.run.cache_dir), task_of(cfg)
    final = ensure_generator(cache, task, spec)[-1]
    p = cfg.pools
    pool_spec = PoolSpec(split="test", n_problems=p.n_problems, n_samples=cell.n_samples, temperature=p.temperature,
                         max_new_tokens=p.max_new_tokens, seed=p.seed)
    pool = checkpoint_pool(cache, final, task, pool_spec)
    # each verifier starts from the checkpoint it judges (Cobbe's setup; a config's init_size is not used here)
    verifiers = {(final.generator, kind): ensure_verifier(cache, task, final, replace(cfg.verifiers.spec(kind), init_size=None))
                 for kind in cfg.verifiers.kinds}
    ns = [n for n in cfg.eval.ns if n <= cell.n_samples]
    rules = [r for r in cfg.eval.rules if ":" not in r or r.split(":", 1)[1] not in ("orm", "prm")
             or r.split(":", 1)[1] in cfg.verifiers.kinds]
    key = content_key("seed-selection", CURVES_VERSION, pool_key(final.key, task, pool_spec),
                      sorted(rec.key for rec in verifiers.values()), rules, ns, cfg.eval.n_trials, cfg.eval.seed)

    def build() -> pd.DataFrame:
        from ttc.sweep import with_generator_scores
        scored = with_verifier_scores(cfg, PoolCell(final, pool_spec, "final"), with_generator_scores(pool), verifiers)
        return curves(scored, rules, ns, trials=cfg.eval.n_trials, seed=cfg.eval.seed,
                      confidence=cfg.eval.confidence)

    table, _ = cache.frame("curves", key, build)
    return pd.DataFrame({
        "generator": cell.size, "params": final.params, "seed": cell.seed, "tokens": final.tokens,
        "train_flops": final.train_flops, "final_loss": final.loss, "rule": table["rule"], "n": table["n"],
        "accuracy": table["accuracy"], "se": table["se"], "n_problems": pool["problem_id"].nunique(),
        "n_samples": cell.n_samples,
        "verifier_train_flops": sum(rec.train_flops for rec in verifiers.values()),
    })[COLUMNS]


def seed_selection(cfg: SweepConfig, sizes: list[str], seeds: list[int], *, n_samples: int = 64) -> pd.DataFrame:
    """The table (COLUMNS; accuracy a fraction of test problems with its SE over problems; FLOPs =
    6·P·tokens with P non-embedding; verifier_train_flops summed over the kinds) for every size in
    ``sizes`` and seed in ``seeds``, on ``cfg.run.train_jobs`` 1-thread workers, largest first."""
    unknown = [s for s in sizes if s not in cfg.generators.sizes]
    if unknown:
        raise ValueError(f"sizes {unknown} are not among generators.sizes {cfg.generators.sizes}")
    if not cfg.verifiers.kinds:
        raise ValueError("verifiers.kinds is empty: selection over seeds needs at least one of orm, prm")
    if n_samples < 1:
        raise ValueError(f"n_samples={n_samples} must be >= 1")
    cells = [SelectionCell(size, seed, n_samples) for size in sizes for seed in seeds]
    order = sorted(cells, key=lambda c: -train_cost(cfg, c.size))  # longest first
    parts = run_items(_one, cfg, order, "seed selection", n_jobs=cfg.run.train_jobs, backend=cfg.run.backend,
                      progress=cfg.run.progress, threads=1, label=lambda c: f"{c.size}/{c.seed}")
    table = pd.concat(parts, ignore_index=True)
    rank = {s: i for i, s in enumerate(cfg.generators.sizes)}
    return table.sort_values(["generator", "seed", "rule", "n"],
                             key=lambda col: col.map(rank) if col.name == "generator" else col,
                             kind="stable").reset_index(drop=True)
