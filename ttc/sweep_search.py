"""The sweep's search stage: step-level search runs on the compute axis of the pools.

One cell = one generator checkpoint x strategy x value function x budget, run on the first
``search.n_problems`` test problems (the same problems, prompts and sampling settings as the pools),
cached as a content-addressed frame with one row per problem: the chosen answer, its correctness,
and every token spent (generator prefill and generation, value-function tokens) in FLOPs with the
parameter counts named. ``search_curves`` turns the rows into ``curves.csv`` rows (role "search",
rule ``search:<strategy>:<value>``, ``n`` = the budget) and per-problem rows for paired comparisons.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

from ttc.cache import Cache, content_key
from ttc.compute import flop_params, inference_flops
from ttc.generators import Checkpoint, load_checkpoint
from ttc.pools import PoolSpec, judge
from ttc.sweep_config import SweepConfig

SEARCH_VERSION = 1  # bump when the search code changes what a cell computes
IMPROVED_ROLE = "self_improve_search"  # curves.csv role of a self-improved generator's search cells


@dataclass(frozen=True)
class SearchCell:
    checkpoint: Checkpoint
    strategy: str
    value: str
    n: int
    verifier: object | None  # the VerifierRecord the value reads (None for logprob)
    role: str = "search"  # "self_improve_search" for an improved generator (search.improved)

    @property
    def spec_fields(self) -> dict:
        return {"strategy": self.strategy, "value": self.value, "n": self.n}


def search_cells(cfg: SweepConfig, generators: dict[str, list[Checkpoint]], verifiers: dict,
                 main: list[Checkpoint], improved: Sequence[Checkpoint] = ()) -> list[SearchCell]:
    """Every cell of the stage, most expensive first (budget x parameters). ``improved``: the final
    models of ``search.improved``'s self-improvement runs, judged by their base generator's verifiers."""
    s = cfg.search
    if not s.strategies:
        return []
    plan = [(ck, s.strategies, ck.generator, "search") for ck in main]
    plan += [(generators[name][-1], s.family_strategies, name, "search") for name in s.family]
    plan += [(ck, s.family_strategies, cfg.self_improve.generator, IMPROVED_ROLE) for ck in improved]
    cells = []
    for ck, strategies, judged_by, role in plan:
        for value in s.values:
            rec = verifiers.get((judged_by, value)) if value in ("orm", "prm") else None
            if value in ("orm", "prm") and rec is None:
                raise ValueError(f"search: generator {judged_by!r} has no {value} verifier; add it to verifiers.judge")
            cells += [SearchCell(ck, strategy, value, n, rec, role) for strategy in strategies for n in s.budgets]
    return sorted(cells, key=lambda c: -c.n * (c.checkpoint.params + 100_000))


def cell_key(cfg: SweepConfig, task, cell: SearchCell, pool_spec: PoolSpec) -> str:
    """The checkpoint, the value's verifier, the search spec, the problems, and the pool whose mean
    sample length sets the token budgets of best-first and MCTS."""
    from ttc.pools import pool_key
    return content_key("search", SEARCH_VERSION, cell.checkpoint.key, getattr(cell.verifier, "key", None),
                       asdict(_spec(cfg, cell)), cfg.search.n_problems, pool_key(cell.checkpoint.key, task, pool_spec))


def _spec(cfg: SweepConfig, cell: SearchCell):
    from ttc.search import SearchSpec
    p = cfg.pools
    base = {"temperature": p.temperature, "max_tokens": p.max_new_tokens, "seed": p.seed}
    return SearchSpec(**{**base, **cfg.search.spec, **cell.spec_fields})


def run_cell(cfg: SweepConfig, task, cell: SearchCell, tokens_per_sample: float) -> pd.DataFrame:
    """Search every problem of the cell; one row per problem (no caching here)."""
    from ttc.search import Expander, LogprobValue, ValueFn, VerifierValue, run_strategy
    from ttc.verifiers import load_verifier
    spec = _spec(cfg, cell)
    problems = task.problems("test")[: cfg.search.n_problems]
    model, codec = load_checkpoint(cell.checkpoint.path)
    gen_params = flop_params(model)
    value_fn: ValueFn
    if cell.verifier is not None:
        vmodel, _ = load_verifier(cell.verifier)  # type: ignore[arg-type]
        value_fn = VerifierValue(vmodel, codec, task, name=cell.value, params=flop_params(vmodel.lm))
    else:
        value_fn = LogprobValue()
    start = time.process_time()
    expander = Expander(model, codec, task, problems, temperature=spec.temperature,
                        max_step_tokens=spec.max_step_tokens, max_tokens=spec.max_tokens, seed=spec.seed)
    results = run_strategy(spec, expander, value_fn, problems, tokens_per_sample=tokens_per_sample,
                           extract=lambda prob, text: task.extract_answer(text))
    cpu = time.process_time() - start
    texts = [r.chosen.text if r.chosen is not None else "" for r in results]
    judged = judge(task, list(problems), np.arange(len(problems)), texts)
    rows = pd.DataFrame({"problem_id": [p.problem_id for p in problems], "text": texts,
                         "answer": judged["answer"], "is_correct": judged["is_correct"],
                         "process_correct": judged["process_correct"]})
    rows["chosen"] = [r.chosen is not None for r in results]
    rows["n_candidates"] = [len(r.candidates) for r in results]
    rows["candidates_correct"] = [sum(task.check_answer(p, task.extract_answer(c.text)) for c in r.candidates)
                                  for p, r in zip(problems, results)]
    for name in ("prefill_tokens", "gen_tokens", "value_tokens", "value_calls", "expansions", "steps_drawn"):
        rows[name] = np.array([getattr(r.spend, name) for r in results], dtype=np.int64)
    rows["gen_flops"] = inference_flops(gen_params, 1) * (rows["prefill_tokens"] + rows["gen_tokens"])
    rows["value_flops"] = inference_flops(value_fn.params, 1) * rows["value_tokens"]
    rows["gen_params"], rows["value_params"] = gen_params, value_fn.params
    rows["tokens_per_sample"] = tokens_per_sample
    rows["cpu_seconds_per_problem"] = cpu / len(problems)
    for key, value in reversed(list(asdict(spec).items())):
        rows.insert(0, key, value)
    rows.insert(0, "rule", spec.label)
    return rows


def search_one(cfg: SweepConfig, item) -> pd.DataFrame:
    """The stage's worker: a cell's rows, searched on a cache miss with this worker's thread share."""
    from ttc.sweep_stage import read_pool as _read_pool
    from ttc.sweep_stage import task_of as _task
    cell, pool_cell = item
    task, cache = _task(cfg), Cache(cfg.run.cache_dir)
    key = cell_key(cfg, task, cell, pool_cell.spec)

    def build() -> pd.DataFrame:
        pool = _read_pool(cfg, pool_cell)
        ids = [p.problem_id for p in task.problems("test")[: cfg.search.n_problems]]
        tokens_per_sample = float(pool[pool["problem_id"].isin(ids)]["gen_tokens"].mean())
        return run_cell(cfg, task, cell, tokens_per_sample)

    frame, _ = cache.frame("search", key, build)
    return frame.assign(generator=cell.checkpoint.generator, checkpoint_tokens=cell.checkpoint.tokens,
                        params=cell.checkpoint.params, train_flops=cell.checkpoint.train_flops, role=cell.role)


def run_search_stage(cfg: SweepConfig, generators: dict[str, list[Checkpoint]], verifiers: dict, pool_cells: list,
                     timeline: list | None = None) -> pd.DataFrame:
    """Every search cell (cached), on ``run.eval_jobs`` workers; their rows, one per problem and cell."""
    from ttc.sweep_stage import judged_finals
    from ttc.sweep_stage import run_stage as _parallel
    from ttc.sweep_stage import task_of as _task
    main = [generators[name][-1] for name in cfg.search.generators] or judged_finals(cfg, generators)[-1:]
    base = cfg.self_improve.generator
    improved = [c.checkpoint for c in pool_cells if c.role == "self_improve"
                and c.checkpoint.generator in {f"{base}+{m}" for m in cfg.search.improved}]
    if improved:  # and their start, searched the same way: the paired comparison
        improved = [generators[base][-1], *improved]
    cells = search_cells(cfg, generators, verifiers, main, improved)
    if not cells:
        return pd.DataFrame()
    # each cell's pool (its mean sample length sets best-first's and MCTS's token budgets)
    final = {c.checkpoint.key: c for c in pool_cells if c.role in ("final", "self_improve")}
    task, cache = _task(cfg), Cache(cfg.run.cache_dir)
    items = [(cell, final[cell.checkpoint.key]) for cell in cells]
    rows = _parallel(cfg, search_one, items, "search", cfg.run.eval_jobs, timeline=timeline, cached=lambda item: cache.path(
        "search", cell_key(cfg, task, item[0], item[1].spec), ".parquet").exists())
    return pd.concat(rows, ignore_index=True)


def search_curves(rows: pd.DataFrame, *, confidence: float, task_name: str, config_hash: str
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(curves rows, per-problem rows) of the search cells, in the columns of ``curves.csv`` and
    ``curves_by_problem``: accuracy over problems with a normal CI (one search per problem: the CI is
    over problems; the search's own randomness is inside it)."""
    if rows.empty:
        return pd.DataFrame(), pd.DataFrame()
    z = float(norm.ppf(0.5 + confidence / 2))
    keys = ["role", "generator", "checkpoint_tokens", "rule", "n"]
    # as for the pools: a right answer reached by a wrong process
    rows = rows.assign(false_positive=(rows["is_correct"] & ~rows["process_correct"]).astype(float))
    out = []
    for (role, gen, tokens, rule, n), g in rows.groupby(keys, sort=False):
        acc = float(g["is_correct"].mean())
        se = float(g["is_correct"].std(ddof=1) / np.sqrt(len(g))) if len(g) > 1 else 0.0
        fp_se = float(g["false_positive"].std(ddof=1) / np.sqrt(len(g))) if len(g) > 1 else 0.0
        first = g.iloc[0]
        out.append({"task": task_name, "generator": gen, "checkpoint_tokens": tokens, "final": True,
                    "params": first["params"], "train_flops": first["train_flops"], "split": "test", "role": role,
                    "temperature": first["temperature"], "pool_size": n, "verifier": first["value"],
                    "seed": first["seed"], "rule": rule, "n": n, "accuracy": acc, "ci_low": acc - z * se,
                    "ci_high": acc + z * se, "n_problems": len(g), "se": se, "mc_se": 0.0, "method": "search",
                    "false_positive_rate": float(g["false_positive"].mean()), "false_positive_se": fp_se,
                    "gen_flops_per_problem": float(g["gen_flops"].mean()),
                    "verify_flops_per_problem": float(g["value_flops"].mean()), "config_hash": config_hash})
    by_problem = rows.assign(split="test", value=rows["is_correct"].astype(float))
    cols = ["generator", "checkpoint_tokens", "split", "role", "rule", "n", "problem_id", "value", "false_positive"]
    return pd.DataFrame(out), by_problem[cols].reset_index(drop=True)
