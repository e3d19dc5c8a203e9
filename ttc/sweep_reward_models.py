"""The sweep's reward-model scorers: every pool cell scored by each configured public reward model.

``[reward_models]`` names local reward-model directories (``ttc.reward_models``); each adds the columns
``score_<name>``, ``step_scores_<name>`` and ``verify_flops_<name>`` (2·P·tokens of the reward model)
to every pool it scores, so a rule ``best_of_n:<name>`` reads it like ttc's own ``orm``/``prm``. Scores
are cached per (reward model content, pool) and resume like every other cell.
"""

from __future__ import annotations

from dataclasses import asdict
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from ttc.cache import Cache, content_key
from ttc.external import checkpoint_digest


@lru_cache(maxsize=32)
def _digest(path: str, mtime_ns: int) -> str:  # mtime in the key: a replaced model is hashed again
    return checkpoint_digest(path)


def _model_digest(path: str) -> str:
    p = Path(path).expanduser()
    return _digest(str(p), max(f.stat().st_mtime_ns for f in p.iterdir()))


def reward_model_keys(cfg: Any) -> list:
    """(name, content digest, spec without its path) of every configured reward model."""
    return [(name, _model_digest(spec.path), {k: v for k, v in asdict(spec).items() if k != "path"})
            for name, spec in sorted(cfg.reward_model_specs().items())]


_LOADED: dict[tuple, Any] = {}


def _loaded(spec: Any, device: str) -> Any:
    """One loaded adapter per (spec, device) and process: scoring many cells loads it once."""
    from ttc.reward_models import load_reward_model
    key = (spec, device)
    if key not in _LOADED:
        _LOADED.clear()  # keep at most one reward model in memory
        _LOADED[key] = load_reward_model(spec, device=device)
    return _LOADED[key]


def score_frame(rm: Any, task: Any, split: str, pool: pd.DataFrame) -> pd.DataFrame:
    """score, step_scores and flops of every sample of ``pool`` under the reward model ``rm``."""
    from ttc.compute import inference_flops
    problems = {p.problem_id: p for p in task.problems(split)}
    questions = [problems[int(i)].meta.get("question", problems[int(i)].prompt) for i in pool["problem_id"]]
    steps = [task.step_texts(t) for t in pool["text"]]
    out = rm.score(questions, steps)
    return pd.DataFrame({"score": out.scores, "step_scores": [list(map(float, s)) for s in out.step_scores],
                         "flops": inference_flops(rm.params, 1) * out.tokens})


def with_reward_model_scores(cfg: Any, cell: Any, pool: pd.DataFrame) -> pd.DataFrame:
    """``pool`` with each reward model's score columns (cached per reward model and pool)."""
    if not cfg.reward_models:
        return pool
    from ttc.pools import pool_key
    from ttc.sweep_stage import task_of as _task
    task, cache = _task(cfg), Cache(cfg.run.cache_dir)
    specs = cfg.reward_model_specs()
    for name, digest, view in reward_model_keys(cfg):
        key = content_key("rm-scores", digest, view, pool_key(cell.checkpoint.key, task, cell.spec))
        def build(spec=specs[name], pool=pool) -> pd.DataFrame:
            return score_frame(_loaded(spec, cfg.run.device), task, cell.spec.split, pool)

        scored, _ = cache.frame("scores", key, build)
        pool = pool.assign(**{f"score_{name}": scored["score"].to_numpy(),
                              f"step_scores_{name}": list(scored["step_scores"]),
                              f"verify_flops_{name}": scored["flops"].to_numpy()})
    return pool
