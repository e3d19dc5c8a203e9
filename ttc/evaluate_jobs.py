"""One rule's per-problem estimates, with the problems spread over worker processes (``--jobs``).

Every estimator treats problems independently (subsampling seeds problem p by ``[seed, p]`` with p
its index in the whole pool), so splitting the problems into contiguous chunks and concatenating
the chunks' results gives exactly what one process gives (exact majority picks its scheme per
problem, not per batch, for the same reason).
"""

from __future__ import annotations

import numpy as np
from joblib import Parallel, delayed

from ttc.estimators import EXACT, ProblemArrays, subsample_values

MAX_JOBS = 256


def _one_chunk(rule: str, exact: bool, problems: list[ProblemArrays], ns: np.ndarray, trials: int,
               seed: int, top_k: int, first: int) -> tuple[np.ndarray, np.ndarray | None]:
    """(values, mc_var or None) of problems[first : first + len(problems)] of the pool."""
    if exact:
        return EXACT[rule](problems, ns), None
    return subsample_values(rule, problems, ns, trials=trials, seed=seed, top_k=top_k, first=first)


def estimate(rule: str, exact: bool, problems: list[ProblemArrays], ns: np.ndarray, *, trials: int,
             seed: int, top_k: int, jobs: int = 1) -> tuple[np.ndarray, np.ndarray | None]:
    """[problems, len(ns), measures] values and Monte-Carlo variances (None for exact rules)."""
    jobs = max(1, min(jobs, len(problems)))
    if jobs == 1:
        return _one_chunk(rule, exact, problems, ns, trials, seed, top_k, 0)
    sizes = np.array([len(p.answer_ids) for p in problems], dtype=float)
    bounds = np.searchsorted(np.cumsum(sizes), np.arange(1, jobs) * sizes.sum() / jobs)  # equal samples
    starts = np.unique(np.concatenate([[0], bounds, [len(problems)]]))
    parts = Parallel(n_jobs=jobs, backend="loky")(
        delayed(_one_chunk)(rule, exact, problems[a:b], ns, trials, seed, top_k, int(a))
        for a, b in zip(starts[:-1], starts[1:])
    )
    values = np.concatenate([v for v, _ in parts])
    return values, None if exact else np.concatenate([v for _, v in parts if v is not None])
