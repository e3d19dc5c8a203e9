"""One rule's per-problem estimates, with the problems spread over worker processes (``--jobs``).

Every estimator treats problems independently (subsampling seeds problem p by ``[seed, p]`` with p
its index in the whole pool), so splitting the problems into contiguous chunks and concatenating
the chunks' results gives exactly what one process gives. Exact majority needs care: its scheme
(per-N or all-N; both exact, agreeing to ~1e-12) is chosen per batch of problems, per-N only when
every problem of the batch qualifies, so its chunks are cut such that each makes the whole pool's
choice.
"""

from __future__ import annotations

import numpy as np
from joblib import Parallel, delayed

from ttc.estimators import EXACT, ProblemArrays, _per_n, subsample_values

MAX_JOBS = 256


def _one_chunk(rule: str, exact: bool, problems: list[ProblemArrays], ns: np.ndarray, trials: int,
               seed: int, top_k: int, first: int) -> tuple[np.ndarray, np.ndarray | None]:
    """(values, mc_var or None) of problems[first : first + len(problems)] of the pool."""
    if exact:
        return EXACT[rule](problems, ns), None
    return subsample_values(rule, problems, ns, trials=trials, seed=seed, top_k=top_k, first=first)


def _same_majority_scheme(problems: list[ProblemArrays], ns: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Chunk starts merged so that every chunk runs the exact majority scheme the whole pool runs.

    The all-N scheme runs when some problem does not qualify for the per-N one (``_per_n``); then
    every chunk must hold such a problem, or it would run the per-N scheme (the last bits differ)."""
    all_n = np.array([not _per_n(len(p.answer_ids), ns) for p in problems])
    if not all_n.any():
        return starts
    kept = [0]
    for a, b in zip(starts[1:-1], starts[2:]):  # split at a only if both sides hold an all-N problem
        if all_n[kept[-1] : a].any() and all_n[a:b].any():
            kept.append(int(a))
    return np.array(kept + [len(problems)])


def estimate(rule: str, exact: bool, problems: list[ProblemArrays], ns: np.ndarray, *, trials: int,
             seed: int, top_k: int, jobs: int = 1) -> tuple[np.ndarray, np.ndarray | None]:
    """[problems, len(ns), measures] values and Monte-Carlo variances (None for exact rules)."""
    jobs = max(1, min(jobs, len(problems)))
    if jobs == 1:
        return _one_chunk(rule, exact, problems, ns, trials, seed, top_k, 0)
    sizes = np.array([len(p.answer_ids) for p in problems], dtype=float)
    bounds = np.searchsorted(np.cumsum(sizes), np.arange(1, jobs) * sizes.sum() / jobs)  # equal samples
    starts = np.unique(np.concatenate([[0], bounds, [len(problems)]]))
    if exact and rule == "majority":
        starts = _same_majority_scheme(problems, ns, starts)
    parts = Parallel(n_jobs=jobs, backend="loky")(
        delayed(_one_chunk)(rule, exact, problems[a:b], ns, trials, seed, top_k, int(a))
        for a, b in zip(starts[:-1], starts[1:])
    )
    values = np.concatenate([v for v, _ in parts])
    return values, None if exact else np.concatenate([v for _, v in parts if v is not None])
