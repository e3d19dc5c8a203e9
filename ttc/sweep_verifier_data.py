"""The sweep's verifier-data stage (Cobbe 2021, Figure 5): selection accuracy vs verifier training data.

Each point retrains the judged generator's verifier on a cut of the full verifier's data
(``ttc.verifiers.data_point``), scores the judged pool with it and estimates best-of-N and the
weighted vote, cached like every curve; ``ttc.sweep.run_sweep`` calls it for the largest judged
generator when ``verifiers.data_problems`` is set.
"""

from __future__ import annotations

import pandas as pd

from ttc.cache import Cache, content_key
from ttc.config import to_dict
from ttc.evaluate import curves
from ttc.pools import pool_key
from ttc.selection import RuleSpec
from ttc.sweep_config import SweepConfig
from ttc.sweep_stage import CURVES_VERSION, PoolCell, read_pool, run_stage, task_of
from ttc.sweep_verifiers import ensure_stage_verifier, with_verifier_scores


def _data_point_one(cfg: SweepConfig, item) -> pd.DataFrame:
    """One point of the verifier-data sweep: train the verifier, score the judged pool, estimate (cached)."""
    from ttc.verifiers import data_point
    generators, cell, kind, n_problems, k, ns = item
    rec = ensure_stage_verifier(cfg, generators, cell.checkpoint, data_point(cfg.verifiers.spec(kind), n_problems, k))
    task, cache = task_of(cfg), Cache(cfg.run.cache_dir)
    key = content_key("data-sweep", CURVES_VERSION, rec.key, pool_key(cell.checkpoint.key, task, cell.spec),
                      to_dict(cfg.eval), ns)

    def build() -> pd.DataFrame:
        scored = with_verifier_scores(cfg, cell, read_pool(cfg, cell), {(cell.checkpoint.generator, kind): rec})
        rules = [RuleSpec.parse(f"best_of_n:{kind}"), RuleSpec.parse(f"weighted_vote:{kind}")]
        return curves(scored, rules, ns, trials=cfg.eval.n_trials, seed=cfg.eval.seed, confidence=cfg.eval.confidence)

    table, _ = cache.frame("curves", key, build)
    return table.assign(verifier=kind, train_problems=n_problems, samples_per_problem=k,
                        train_samples=rec.train_samples, train_steps=rec.spec["steps"],
                        verifier_train_flops=rec.train_flops,
                        val_within_problem_auc=rec.metrics.get("within_problem_auc"))


def verifier_data_sweep(cfg: SweepConfig, generators: dict, cell: PoolCell, pool: pd.DataFrame) -> pd.DataFrame:
    """Selection accuracy vs verifier training data (problems x samples), against majority and single.

    Each point is a verifier retrained on a cut of the full verifier's data (ttc.verifiers.data_point);
    points run on ``run.eval_jobs`` workers, largest first."""
    if not cfg.verifiers.data_problems or not cfg.verifiers.kinds:
        return pd.DataFrame()
    nmax = max(n for n in cfg.eval.ns if n <= cell.spec.n_samples)
    ns = sorted({n for n in (4, 16, nmax) if n <= nmax})
    base = curves(pool, ["single", "majority"], ns, confidence=cfg.eval.confidence)
    jobs = sorted(((generators, cell, kind, n, k, ns) for kind in cfg.verifiers.kinds
                   for n, k in cfg.verifiers.data_grid(kind)), key=lambda j: -j[3] * j[4])
    rows = run_stage(cfg, _data_point_one, jobs, "verifier data sweep", cfg.run.eval_jobs)
    out = pd.concat(rows + [base.assign(verifier="none")], ignore_index=True)
    out = out.sort_values(["verifier", "train_problems", "samples_per_problem", "rule", "n"], kind="stable")
    return out.reset_index(drop=True).assign(generator=cell.checkpoint.generator, params=cell.checkpoint.params)
