"""The sweep's verifier stage: ttc's ORM/PRM trained per judged generator, their scores on every pool
cell of that generator, and the verifier-gain table (best-of-N of each scorer against majority)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from ttc.cache import Cache, content_key
from ttc.generators import Checkpoint
from ttc.pools import pool_key
from ttc.sweep_config import SweepConfig
from ttc.sweep_stage import PoolCell, judged_finals, run_stage, task_of


def ensure_stage_verifier(cfg: SweepConfig, generators: dict[str, list[Checkpoint]], judged: Checkpoint, spec):
    """A verifier of ``judged``'s samples, started from the checkpoint ``spec.init_size`` names (None:
    from ``judged`` itself)."""
    from ttc.verifiers import ensure_verifier
    init = generators[spec.init_size][-1] if spec.init_size else None  # verifier size chosen freely
    return ensure_verifier(Cache(cfg.run.cache_dir), task_of(cfg), judged, spec, init_checkpoint=init,
                           progress=cfg.run.progress)


def _verifier_one(cfg: SweepConfig, item):
    generators, judged, spec = item
    return ensure_stage_verifier(cfg, generators, judged, spec)


def _verifier_pool_one(cfg: SweepConfig, item) -> None:
    from ttc.verifiers import verifier_pool
    judged, specs = item
    for spec in specs:  # a pool two specs share is sampled once and then read from the cache
        verifier_pool(Cache(cfg.run.cache_dir), task_of(cfg), judged, spec, progress=cfg.run.progress)


def verifier_ready(cfg: SweepConfig, generators: dict[str, list[Checkpoint]], judged: Checkpoint, spec) -> bool:
    """True iff the verifier ``ensure_stage_verifier`` would train for ``judged`` and ``spec`` is cached."""
    from ttc.verifiers.store import verifier_key
    init = generators[spec.init_size][-1] if spec.init_size else judged
    return Cache(cfg.run.cache_dir).dir_ready("verifiers", verifier_key(task_of(cfg), judged, init, spec)) is not None


def train_verifiers(cfg: SweepConfig, generators: dict[str, list[Checkpoint]], timeline: list | None = None) -> dict:
    """One verifier per judged generator and kind (cached): {(generator, kind): record}. The train pools
    are sampled first (``run.n_jobs`` workers, once per generator), then ``run.eval_jobs`` workers train,
    the largest verifiers first."""
    specs = [cfg.verifiers.spec(kind) for kind in cfg.verifiers.kinds]
    judged = judged_finals(cfg, generators)

    def ready(ck: Checkpoint, spec) -> bool:
        return verifier_ready(cfg, generators, ck, spec)

    run_stage(cfg, _verifier_pool_one, [(ck, specs) for ck in reversed(judged)], "verifier pools",
              cached=lambda item: all(ready(item[0], s) for s in item[1]), timeline=timeline)
    jobs = [(generators, ck, s) for ck in reversed(judged) for s in specs]
    recs = run_stage(cfg, _verifier_one, jobs, "verifiers", cfg.run.eval_jobs, cached=lambda j: ready(j[1], j[2]),
                     timeline=timeline)
    return {(ck.generator, s.kind): rec for (_, ck, s), rec in zip(jobs, recs)}


FINETUNE_ROLE = "finetune_control"  # the pool cells of the fine-tuned controls
FINETUNE_SUFFIX = "ft"  # a control of generator G is named "G+ft"


def finetune_control_cells(cfg: SweepConfig, generators: dict[str, list[Checkpoint]],
                           timeline: list | None = None) -> list[PoolCell]:
    """Cobbe's fine-tuning baseline at equal compute (``verifiers.finetune_control``): every judged generator
    fine-tuned on gold solutions for its verifier's training FLOPs (``ttc.verifiers.finetune_control`` of the
    PRM's spec; cached like a verifier, ``run.eval_jobs`` workers), each with a final test pool of
    ``pools.n_samples`` judged by the generator's own verifiers. [] when the switch is off."""
    from ttc.pools import PoolSpec
    from ttc.verifiers import finetune_control, verifier_lm_checkpoint
    if not cfg.verifiers.finetune_control:
        return []
    spec = finetune_control(cfg.verifiers.spec("prm"))
    jobs = [(generators, ck, spec) for ck in reversed(judged_finals(cfg, generators))]
    recs = run_stage(cfg, _verifier_one, jobs, "fine-tuning controls", cfg.run.eval_jobs,
                     cached=lambda j: verifier_ready(cfg, generators, j[1], j[2]), timeline=timeline)
    p = cfg.pools
    pool = PoolSpec(split="test", n_problems=p.n_problems, n_samples=p.n_samples, temperature=p.temperature,
                    max_new_tokens=p.max_new_tokens, seed=p.seed)
    return [PoolCell(verifier_lm_checkpoint(ck, rec, FINETUNE_SUFFIX), pool, FINETUNE_ROLE, verifier_of=ck.key)
            for (_, ck, _), rec in zip(jobs, recs)]


def with_verifier_scores(cfg: SweepConfig, cell: PoolCell, pool: pd.DataFrame, verifiers: dict) -> pd.DataFrame:
    """Add score_<kind>, step_scores_<kind> and verify_flops_<kind> for the generator the verifiers judge."""
    from ttc.verifiers import score_pool, scoring_flops
    task, cache = task_of(cfg), Cache(cfg.run.cache_dir)
    for (_, kind), rec in verifiers.items():
        if rec.generator != cell.judged_as:
            continue
        key = content_key("scores", rec.key, pool_key(cell.checkpoint.key, task, cell.spec))

        def build(rec=rec, pool=pool) -> pd.DataFrame:
            scores, steps = score_pool(rec, pool, task, split=cell.spec.split)
            return pd.DataFrame({"score": scores, "step_scores": [list(map(float, s)) for s in steps],
                                 "flops": scoring_flops(rec, pool)})

        scored, _ = cache.frame("scores", key, build)
        pool = pool.assign(**{f"score_{kind}": scored["score"].to_numpy(),
                              f"step_scores_{kind}": list(scored["step_scores"]),
                              f"verify_flops_{kind}": scored["flops"].to_numpy()})
    return pool


def verifier_gain(cfg: SweepConfig, cell: PoolCell, pool: pd.DataFrame) -> pd.DataFrame:
    """Best-of-N of every scorer of a verifier-scored pool next to majority@N: exact accuracy with its CI
    and the paired per-problem difference to majority with its CI (ttc.verifiers.metrics.selection_table),
    plus each scorer's ranking quality on this pool (within-problem AUC etc., labels read here only)."""
    from ttc.verifiers import SCORERS, verifier_metrics
    from ttc.verifiers.metrics import selection_table
    scores = {name: fn(pool) for name, fn in SCORERS.items()}
    scores |= {c.removeprefix("score_"): pool[c].to_numpy(float) for c in pool.columns if c.startswith("score_")}
    z = float(norm.ppf(0.5 + cfg.eval.confidence / 2))
    versus = tuple(v for v in ("logprob", "orm") if v in scores)  # the free baseline; the outcome verifier
    table = selection_table(pool, scores, [n for n in cfg.eval.ns if n <= cell.spec.n_samples], z=z, versus=versus)
    quality = {name: verifier_metrics(s, list(pool[f"step_scores_{name}"]) if f"step_scores_{name}" in pool else None,
                                      pool, probabilities=name not in SCORERS) for name, s in scores.items()}
    cols = ["within_problem_auc", "within_problem_auc_process", "pooled_auc", "step_auc", "ece"]
    for col in cols:
        table[col] = table["scorer"].map(lambda n, c=col: quality.get(n, {}).get(c, np.nan))
    return table.assign(split=cell.spec.split, generator=cell.checkpoint.generator, params=cell.checkpoint.params,
                        checkpoint=cell.checkpoint.key, confidence=cfg.eval.confidence)
