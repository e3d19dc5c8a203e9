"""The sweep engine: train generators → sample pools → (verifiers, scores) → curves.

The stages' shared pieces (pool cells, the task, worker threads, dispatch) are in ``ttc.sweep_stage``;
the verifier stage in ``ttc.sweep_verifiers``; search, the verifier-data sweep and reward-model
scoring in ``ttc.sweep_search``, ``ttc.sweep_verifier_data`` and ``ttc.sweep_reward_models``.

Each stage is a content-addressed cached step (``ttc.cache``): a cell's key hashes everything it
depends on, so changing one knob recomputes only what depends on it, and a run killed at any moment
resumes without redoing finished cells. Independent cells run through joblib with a selectable
backend. This module computes and returns data; ``experiments/sweep.py`` writes ``results/``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, replace

import numpy as np
import pandas as pd

from ttc.cache import Cache, content_key, without_new_defaults
from ttc.compute import inference_flops
from ttc.config import to_dict
from ttc.evaluate import curves_and_problems
from ttc.generators import (
    NEW_CHECKPOINT_FIELDS,
    Checkpoint,
    GeneratorSpec,
    ensure_generator,
    generator_cached,
)
from ttc.pools import PoolSpec, pool_key
from ttc.selection import RuleSpec
from ttc.sweep_config import SweepConfig
from ttc.sweep_reward_models import reward_model_keys
from ttc.sweep_stage import (
    CURVES_VERSION,
    PoolCell,
    judged_finals,
    largest_final,
    read_pool,
    run_stage,
    task_of,
)
from ttc.sweep_verifiers import (
    FINETUNE_ROLE,
    finetune_control_cells,
    train_verifiers,
    verifier_gain,
    with_verifier_scores,
)
from ttc.tasks.base import Task


def generator_spec(cfg: SweepConfig, name: str, restart: int = 0) -> GeneratorSpec:
    """The spec of size ``name``'s run number ``restart`` (0: the run every size has; k: seed train.seed + k)."""
    return GeneratorSpec(size=cfg.generators.shape(name), train=cfg.generators.train_for(name, restart),
                         curriculum=cfg.generators.curriculum_for(name))


def seed_spec(cfg: SweepConfig, name: str, seed: int, init_seed: int | None = None) -> GeneratorSpec:
    """Size ``name`` trained from ``train.seed = seed`` (and the initial weights of ``init_seed``, when given)
    without the decay branches of ``train.checkpoint_decay``, which never change the final checkpoint: the
    final model a one-run sweep with that seed would keep, for seed tables."""
    spec = generator_spec(cfg, name)
    return replace(spec, train=replace(spec.train, seed=seed, checkpoint_decay=False), init_seed=init_seed)


def _train_one(cfg: SweepConfig, item: tuple[str, int]) -> list[Checkpoint]:
    name, restart = item
    return ensure_generator(Cache(cfg.run.cache_dir), task_of(cfg), generator_spec(cfg, name, restart),
                            progress=cfg.run.progress)


def select_restart(runs: list[list[Checkpoint]]) -> int:
    """The restart kept: the lowest final training loss (the mean of the last 20 steps' solution-token loss;
    training data only), the earliest on a tie."""
    return min(range(len(runs)), key=lambda k: (runs[k][-1].loss, k))


def chosen_generator(cfg: SweepConfig, name: str, cache: Cache | None = None, *, train: bool = False
                     ) -> list[Checkpoint]:
    """Size ``name``'s checkpoints as the sweep keeps them (the selected restart), for scripts that reuse the
    sweep's generators: read from the cache, or trained where missing with ``train``; without it a missing
    run raises FileNotFoundError naming the fix."""
    cache, task = cache or Cache(cfg.run.cache_dir), task_of(cfg)
    runs = []
    for k in range(cfg.generators.restarts_for(name)):
        spec = generator_spec(cfg, name, k)
        if not train and not generator_cached(cache, task, spec):
            raise FileNotFoundError(f"generator {name!r} (restart {k}) is not in {cache.root}; run the sweep with "
                                    "this config first")
        runs.append(ensure_generator(cache, task, spec))
    return runs[select_restart(runs)]


def _pool_one(cfg: SweepConfig, cell: PoolCell) -> pd.DataFrame:
    """The pools stage's worker: sample (or read) one cell's pool with n_jobs' thread share."""
    return read_pool(cfg, cell)


def train_cost(cfg: SweepConfig, name: str) -> float:
    """A size's relative training time, for dispatching the longest first: tokens x (P + a per-token
    overhead worth ~75k parameters, which dominates the smallest models on a CPU; measured with
    benchmarks/bench_training.py)."""
    s = cfg.generators.shape(name)
    params = s.layers * (4 * s.hidden ** 2 + 3 * s.hidden * s.mlp)
    tokens = cfg.generators.train_for(name).tokens + sum(st.tokens for st in cfg.generators.curriculum_for(name))
    return tokens * (params + 75_000)


def train_generators(cfg: SweepConfig, timeline: list | None = None, selection: dict | None = None
                     ) -> dict[str, list[Checkpoint]]:
    """Every generator's checkpoints: trained (cached) for family sizes, the kept restart of a size with
    ``generators.restarts``, one final record for each external checkpoint (``generators.checkpoints``: a
    local model ttc does not train). ``selection``, when given, is filled with each trained size's restart
    record (``restart_record``)."""
    from ttc.external import external_checkpoint
    g = cfg.generators
    external = {n: [external_checkpoint(n, g.checkpoints[n], train_flops=g.train_flops.get(n, float("nan")),
                                        dtype=g.dtype, engine=g.engine, device=cfg.run.device)]
                for n in g.sizes if g.external(n)}
    runs = _train_family(cfg, [n for n in g.sizes if not g.external(n)], timeline) if len(external) < len(g.sizes) else {}
    kept = {name: select_restart(r) for name, r in runs.items()}
    if selection is not None:
        selection.update({name: restart_record(cfg, name, r, kept[name]) for name, r in runs.items()})
    return {name: external[name] if name in external else runs[name][kept[name]] for name in g.sizes}


def restart_record(cfg: SweepConfig, name: str, runs: list[list[Checkpoint]], kept: int) -> dict:
    """generators.csv's restart columns of a size: the kept run's seed, how many were trained, every run's
    final training loss, and the training FLOPs of all of them (6·P·tokens, P non-embedding, summed)."""
    return {"seed": cfg.generators.train_for(name, kept).seed, "restarts": len(runs),
            "restart_losses": ";".join(f"{r[-1].loss:.4f}" for r in runs),
            "restarts_train_flops": float(sum(r[-1].train_flops for r in runs))}


def _train_family(cfg: SweepConfig, sizes: list[str], timeline: list | None) -> dict[str, list[list[Checkpoint]]]:
    """Every restart of every size (longest first), grouped by size in restart order."""
    items = [(n, k) for n in sizes for k in range(cfg.generators.restarts_for(n))]
    items.sort(key=lambda it: (-train_cost(cfg, it[0]), it[1]))
    cache, task = Cache(cfg.run.cache_dir), task_of(cfg)

    def cached(item: tuple[str, int]) -> bool:
        return generator_cached(cache, task, generator_spec(cfg, *item))

    trained = dict(zip(items, run_stage(cfg, _train_one, items, "generators", cfg.run.train_jobs, cached, timeline)))
    return {n: [trained[(n, k)] for k in range(cfg.generators.restarts_for(n))] for n in sizes}


def pool_cells(cfg: SweepConfig, generators: dict[str, list[Checkpoint]]) -> list[PoolCell]:
    p = cfg.pools
    final = PoolSpec(split="test", n_problems=p.n_problems, n_samples=p.n_samples, temperature=p.temperature,
                     max_new_tokens=p.max_new_tokens, seed=p.seed)
    judged = {c.key for c in judged_finals(cfg, generators)}
    cells = []
    for ckpts in generators.values():
        for ck in ckpts:
            if ck.final:
                k = p.judged_samples if ck.key in judged and p.judged_samples else p.n_samples
                k = p.samples_by_size.get(ck.generator, k)
                cells.append(PoolCell(ck, replace(final, n_samples=k), "final"))
                cells.append(PoolCell(ck, replace(final, n_samples=1, temperature=0.0), "greedy"))
            else:
                cells.append(PoolCell(ck, replace(final, n_samples=p.checkpoint_samples), "checkpoint"))
    if getattr(task_of(cfg), "has_ood", True):  # a file task without task.ood_path has none
        ood = replace(final, split="ood", n_problems=p.ood_problems)
        cells.append(PoolCell(largest_final(generators), ood, "ood"))
    return cells


def with_generator_scores(pool: pd.DataFrame) -> pd.DataFrame:
    """The generator's own scores: mean log-prob per token, and its exponent for weighted votes."""
    from ttc.verifiers import SCORERS
    mean_lp = SCORERS["logprob_per_token"](pool)
    return pool.assign(score_logprob=mean_lp, score_prob=np.exp(mean_lp))


def cell_curves(cfg: SweepConfig, cell: PoolCell, pool: pd.DataFrame, task: Task) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(curves, per-problem values) of one pool cell: the curves rows with their provenance columns, and
    the values they average (ttc.evaluate.curves_by_problem) keyed by generator, rule, n, problem_id."""
    pool = with_generator_scores(pool)
    k = cell.spec.n_samples
    ns = [n for n in cfg.eval.ns if n <= k] or [1]
    rules = [r for r in cfg.eval.rule_specs if r.score == "score" or r.score in pool.columns]
    rules = rules if k > 1 else [RuleSpec.parse("single")]
    scorer = {r.name: r.scorer or "none" for r in rules}  # the scorer each rule reads
    frame, by_problem = curves_and_problems(pool, rules, ns, trials=cfg.eval.n_trials, seed=cfg.eval.seed,
                                            confidence=cfg.eval.confidence)
    ck = cell.checkpoint
    prompt = pool.groupby("problem_id")["prompt_tokens"].first().mean()
    gen = pool["gen_tokens"].mean()
    frame["gen_flops_per_problem"] = inference_flops(ck.params, 1) * (prompt + frame["n"] * gen)
    frame["verify_flops_per_problem"] = 0.0
    for col in (c for c in pool.columns if c.startswith("verify_flops_")):  # each of the N samples is scored
        uses = frame["rule"].map(scorer) == col.removeprefix("verify_flops_")
        frame.loc[uses, "verify_flops_per_problem"] = frame.loc[uses, "n"] * pool[col].mean()
    verifier = frame["rule"].map(scorer)
    meta = {"task": task.name, "generator": ck.generator, "checkpoint_tokens": ck.tokens, "final": ck.final,
            "params": ck.params, "train_flops": ck.train_flops, "split": cell.spec.split, "role": cell.role,
            "temperature": cell.spec.temperature, "pool_size": k, "verifier": verifier, "seed": cell.spec.seed}
    for key, value in reversed(list(meta.items())):
        frame.insert(0, key, value)
    by_problem.insert(0, "generator", ck.generator)
    by_problem.insert(1, "checkpoint_tokens", ck.tokens)
    by_problem.insert(2, "split", cell.spec.split)
    by_problem.insert(3, "role", cell.role)
    return frame, by_problem


def pool_stats(cell: PoolCell, pool: pd.DataFrame) -> dict:
    """One pool's row of pools.csv; process-based numbers are NaN when the task has no step checker."""
    right, known = pool["is_correct"], bool(pool["process_correct"].notna().all())
    if not known:
        pool = pool.assign(process_correct=False)
    nan_unless = (lambda x: x) if known else (lambda x: float("nan"))
    return {"generator": cell.checkpoint.generator, "checkpoint_tokens": cell.checkpoint.tokens,
            "params": cell.checkpoint.params, "train_flops": cell.checkpoint.train_flops, "role": cell.role,
            "split": cell.spec.split, "temperature": cell.spec.temperature, "pool_size": cell.spec.n_samples,
            "n_problems": pool["problem_id"].nunique(), "accuracy": float(right.mean()),
            "process_correct": nan_unless(float(pool["process_correct"].mean())),
            "lucky_share": nan_unless(float((right & ~pool["process_correct"]).sum() / max(1, right.sum()))),
            "invalid_rate": float(pool["answer"].isna().mean()),
            "mean_gen_tokens": float(pool["gen_tokens"].mean()),
            "distinct_correct_texts_per_problem": nan_unless(float(
                pool[pool["process_correct"]].groupby("problem_id")["text"].nunique().mean()
                if pool["process_correct"].any() else 0.0))}


def _curves_key(cfg: SweepConfig, cell: PoolCell, verifiers: dict) -> str:
    """The curves cache key: the pool, the estimation settings, the checkpoint record and its verifiers."""
    return content_key("curves", CURVES_VERSION, pool_key(cell.checkpoint.key, task_of(cfg), cell.spec),
                       to_dict(cfg.eval), cell.role, without_new_defaults({k: v for k, v in asdict(cell.checkpoint).items() if k != "path"},
                                            NEW_CHECKPOINT_FIELDS),
                       sorted(r.key for r in verifiers.values() if r.generator == cell.judged_as),
                       *([reward_model_keys(cfg)] if cfg.reward_models else []))


def _curves_one(cfg: SweepConfig, item) -> tuple[pd.DataFrame, dict, pd.DataFrame | None, pd.DataFrame]:
    """One pool cell: verifier scores (cached), curves (cached), pool statistics, and the verifier gain
    table for the judged generator's final and ood pools."""
    cell, verifiers, judged = item
    task, cache = task_of(cfg), Cache(cfg.run.cache_dir)
    key = _curves_key(cfg, cell, verifiers)
    wants_gain = bool(verifiers) and judged and cell.role in ("final", "ood")
    done = _read_cell(cache, key, wants_gain)
    if done is None:
        with cache.lock("curves", key):  # another process estimating this cell: wait, then read
            done = _read_cell(cache, key, wants_gain)
            if done is None:
                return _estimate_cell(cfg, cell, verifiers, task, cache, key, wants_gain)
    frame, by_problem, gain = done  # a warm rerun (or another process's work): read only
    return frame, pool_stats(cell, read_pool(cfg, cell)), gain, by_problem


def _read_cell(cache: Cache, key: str, wants_gain: bool):
    """(curves, by-problem values, verifier gain or None) of a finished cell, or None."""
    frame, by_problem = cache.read_frame("curves", key), cache.read_frame("curves-by-problem", key)
    gain = cache.read_frame("verifier-gain", key) if wants_gain else None
    if frame is None or by_problem is None or (wants_gain and gain is None):
        return None
    return frame, by_problem, gain


def _estimate_cell(cfg, cell, verifiers, task, cache, key, wants_gain):
    """Score, estimate and cache one cell (its parts already cached are read, not redone)."""
    frame, by_problem = cache.read_frame("curves", key), cache.read_frame("curves-by-problem", key)
    gain = cache.read_frame("verifier-gain", key) if wants_gain else None
    from ttc.sweep_reward_models import with_reward_model_scores
    pool = with_reward_model_scores(cfg, cell, with_verifier_scores(cfg, cell, read_pool(cfg, cell), verifiers))
    if wants_gain and gain is None:
        gain, _ = cache.frame("verifier-gain", key, lambda: verifier_gain(cfg, cell, pool))
    if frame is None or by_problem is None:
        frame, by_problem = cell_curves(cfg, cell, pool, task)
        cache.write_frame("curves-by-problem", key, by_problem)
        cache.write_frame("curves", key, frame)
        # read back, so a cold run returns exactly the dtypes a warm one reads
        frame, by_problem = cache.read_frame("curves", key), cache.read_frame("curves-by-problem", key)
    return frame, pool_stats(cell, pool), gain, by_problem


def run_sweep(cfg: SweepConfig) -> dict:
    """All language-model stages; returns the tables experiments/sweep.py writes, and the config hash."""
    cfg.validate()
    clock, seconds, timeline = time.time(), {}, list[dict]()
    run_start = clock

    def lap(stage: str) -> None:
        nonlocal clock
        seconds[stage] = round(time.time() - clock, 1)
        clock = time.time()

    selection: dict[str, dict] = {}
    generators = train_generators(cfg, timeline, selection)
    lap("generators")
    cells = pool_cells(cfg, generators)
    # the longest cells first (samples x (P + per-token overhead)), so the workers finish together
    order = sorted(range(len(cells)), key=lambda i: -cells[i].spec.n_samples * cells[i].spec.n_problems
                   * (cells[i].checkpoint.params + 40_000))
    cache, task = Cache(cfg.run.cache_dir), task_of(cfg)

    def pool_cached(c: PoolCell) -> bool:
        return cache.path("pools", pool_key(c.checkpoint.key, task, c.spec), ".parquet").exists()

    drawn = run_stage(cfg, _pool_one, [cells[i] for i in order], "pools", cached=pool_cached, timeline=timeline)
    pools = [drawn[order.index(i)] for i in range(len(cells))]
    lap("pools")
    verifiers = train_verifiers(cfg, generators, timeline)
    lap("verifiers")
    controls = finetune_control_cells(cfg, generators, timeline)
    run_stage(cfg, _pool_one, controls, "fine-tuned pools", cached=pool_cached, timeline=timeline)
    cells += controls
    lap("finetune_control")
    from ttc.sweep_self_improve import run_self_improve_stage, self_improve_cells
    improvement, improved = run_self_improve_stage(cfg, generators, verifiers, timeline)
    extra = self_improve_cells(cfg, improved, generators[cfg.self_improve.generator][-1] if improved else None)
    run_stage(cfg, _pool_one, extra, "self-improved pools", cached=pool_cached, timeline=timeline)
    cells += extra
    lap("self_improve")
    judged = judged_finals(cfg, generators)  # the generators the verifiers judge
    frames, stats, gains, by_problem = curves_stage(cfg, cells, verifiers, judged, timeline)
    lap("scores_and_curves")
    from ttc.sweep_search import run_search_stage, search_curves
    search = run_search_stage(cfg, generators, verifiers, cells, timeline)
    lap("search")
    from ttc.sweep_verifier_data import verifier_data_sweep
    config_hash = cfg.results_hash()
    data_sweep = pd.DataFrame()
    if judged:  # Cobbe's Figure 5 on the largest judged generator
        final = next(i for i, c in enumerate(cells) if c.role == "final" and c.checkpoint == judged[-1])
        data_sweep = verifier_data_sweep(cfg, generators, cells[final], pools[final])
    lap("verifier_data_sweep")
    searched, searched_by_problem = search_curves(search, confidence=cfg.eval.confidence, task_name=task.name,
                                                  config_hash=config_hash)
    table = pd.concat(frames, ignore_index=True)
    table["config_hash"] = config_hash
    if len(searched):
        table = pd.concat([table, searched[table.columns]], ignore_index=True)
        by_problem.append(searched_by_problem)
    gens, vers = record_tables(generators, verifiers, selection)
    return {"curves": table, "curves_by_problem": pd.concat(by_problem, ignore_index=True), "pools": pd.DataFrame(stats),
            "generators": gens, "verifiers": vers, "self_improve": improvement,
            "verifier_data": data_sweep, "search": search, "verifier_gain": pd.concat(gains, ignore_index=True) if gains else
            pd.DataFrame(), "config_hash": config_hash, "stage_seconds": seconds,
            "task_timeline": [t | {"start": round(t["start"] - run_start, 1), "end": round(t["end"] - run_start, 1)}
                              for t in timeline]}


def curves_stage(cfg: SweepConfig, cells: list[PoolCell], verifiers: dict, judged: list[Checkpoint],
                 timeline: list | None) -> tuple[list, list, list, list]:
    """Scores, curves and pool statistics of every cell (the judged ones first, largest first, so the
    workers finish together): (curves per cell, pool stats per cell, verifier gain tables, the final
    and checkpoint cells' per-problem values)."""
    order = sorted(range(len(cells)), key=lambda i: (cells[i].checkpoint not in judged, -cells[i].checkpoint.params))
    cache = Cache(cfg.run.cache_dir)

    def curves_cached(item) -> bool:
        key = _curves_key(cfg, item[0], verifiers)
        kinds = ["curves", "curves-by-problem"] + (["verifier-gain"] if item[2] and item[0].role in ("final", "ood")
                                                   and verifiers else [])
        return all(cache.path(k, key, ".parquet").exists() for k in kinds)

    done = run_stage(cfg, _curves_one, [(cells[i], verifiers, cells[i].checkpoint in judged) for i in order],
                     "curves", cfg.run.eval_jobs, curves_cached, timeline)
    frames, stats, gains, by_problem = [None] * len(cells), [None] * len(cells), [], []
    for i, (frame, stat, gain, values) in zip(order, done):
        frames[i], stats[i] = frame, stat
        if gain is not None:
            gains.append(gain)
        if cells[i].role in ("final", "checkpoint", FINETUNE_ROLE):  # bootstraps over problems: model size,
            by_problem.append(values)  # trade-off; paired differences of the fine-tuning control
    return frames, stats, gains, by_problem


def record_tables(generators: dict[str, list[Checkpoint]], verifiers: dict, selection: dict | None = None
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """generators.csv and verifiers.csv: one row per checkpoint and per trained verifier (no paths); with
    ``selection`` (train_generators'), each trained size's restart columns (``restart_record``)."""
    gens = pd.DataFrame([asdict(ck) | (selection or {}).get(ck.generator, {}) for cks in generators.values()
                         for ck in cks]).drop(columns=["path"])
    vers = pd.DataFrame([{"judges": gen} | {k: v for k, v in asdict(r).items() if k not in ("path", "spec", "metrics")}
                         | {f"val_{m}": v for m, v in r.metrics.items() if np.isscalar(v)}
                         for (gen, _), r in verifiers.items()])
    return gens, vers
