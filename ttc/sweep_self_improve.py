"""The sweep's self-improvement stage: SFT, STaR and RL runs from one generator's final checkpoint
(``ttc.self_improve``), one cached, resumable run per method on ``run.eval_jobs`` workers, the longest
first. Each run's final model becomes a checkpoint record whose pool (role ``self_improve``) is scored
by the base generator's own verifiers and estimated like every other pool, so its majority, best-of-N
and pass@N curves come with the rest of the sweep's."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from ttc.cache import Cache
from ttc.generators import Checkpoint
from ttc.pools import PoolSpec
from ttc.sweep_config import SweepConfig
from ttc.sweep_stage import PoolCell, run_stage, task_of

ROLE = "self_improve"


def _verifiers_of(verifiers: dict, generator: str) -> dict:
    return {kind: rec for (gen, kind), rec in verifiers.items() if gen == generator}


def _run_one(cfg: SweepConfig, item) -> tuple[list[dict], Checkpoint]:
    from ttc.self_improve.runs import run
    spec, base, verifiers = item
    history, path = run(Cache(cfg.run.cache_dir), base.path, base.key, task_of(cfg), spec, verifiers=verifiers,
                        progress=cfg.run.progress)
    last = history[-1]
    record = Checkpoint(generator=f"{base.generator}+{spec.method}", key=f"{path.name}", path=str(path),
                        params=base.params, tokens=base.tokens, train_flops=base.train_flops + last["extra_flops"],
                        step=base.step, loss=float(last.get("train_loss", float("nan"))), final=True)
    return history, record


def run_self_improve_stage(cfg: SweepConfig, generators: dict[str, list[Checkpoint]], verifiers: dict,
                           timeline: list | None = None) -> tuple[pd.DataFrame, list[Checkpoint]]:
    """(history: one row per run and segment, the runs' final checkpoints); empty when the stage is off."""
    si = cfg.self_improve
    if not si.generator:
        return pd.DataFrame(), []
    base = generators[si.generator][-1]
    mine = _verifiers_of(verifiers, si.generator)
    specs = si.run_specs(cfg.pools.max_new_tokens, cfg.eval.confidence)
    cost = {"sft": 1.4, "star": 1.0, "rl": 1.1}  # relative run times in the default run, for longest-first dispatch
    specs = sorted(specs, key=lambda s: -cost[s.kind])
    items = [(s, base, mine) for s in specs]
    cache, task = Cache(cfg.run.cache_dir), task_of(cfg)
    from ttc.self_improve.runs import finished

    def cached(item) -> bool:
        return finished(cache, base.key, task, item[0], {k: r.key for k, r in mine.items()})

    done = run_stage(cfg, _run_one, items, "self-improve", cfg.run.eval_jobs, cached, timeline)
    order = {m: i for i, m in enumerate(si.methods)}
    done = sorted(done, key=lambda d: order[d[0][0]["method"]])
    rows = [dict(r, generator=si.generator, base_checkpoint=base.key, params=base.params,
                 base_train_flops=base.train_flops) for history, _ in done for r in history]
    table = pd.DataFrame(rows).drop(columns="per_problem")  # (kept in the cached run state)
    table["total_train_flops"] = table["base_train_flops"] + table["extra_flops"]
    lead = ["method", "kind", "generator", "segment", "iteration", "test_accuracy", "ci_low", "ci_high"]
    return table[lead + [c for c in table.columns if c not in lead]], [ck for _, ck in done]


def self_improve_cells(cfg: SweepConfig, checkpoints: list[Checkpoint], base: Checkpoint | None) -> list[PoolCell]:
    """A final test pool per improved generator, judged by the base generator's verifiers."""
    p = cfg.pools
    spec = PoolSpec(split="test", n_problems=p.n_problems, n_samples=cfg.self_improve.pool_samples,
                    temperature=p.temperature, max_new_tokens=p.max_new_tokens, seed=p.seed)
    return [PoolCell(ck, replace(spec), ROLE, verifier_of=base.key if base else "") for ck in checkpoints]
