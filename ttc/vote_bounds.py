"""Where a weighted vote is decided before any sampling: a tail bound on the leader's margin.

For a uniform N-subset of a pool of M samples, answer b's vote total S_b is a sum over the subset of
per-sample values. With v_i = s_i on the leader's samples, -s_i on b's and 0 elsewhere,
Z = S_lead - S_b is the sum of N draws without replacement from the v's, so Serfling's inequality
(1974) bounds P(Z <= 0) <= exp(-2 E[Z]^2 / (N (1 - (N-1)/M) R^2)), R the range of the v's. Where the
bounds summed over every other answer b, plus the chance that the leader is not drawn at all,
stay below ``EPS`` the leader (largest total score) wins
all but an EPS fraction of subsets, and the rule's value is the expected measure of the leader's
drawn samples, which is its pool mean (a uniform subset of its samples is drawn): exact within EPS,
no Monte-Carlo error. At N = M everything is drawn and the value is the tied leaders' mean.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import hypergeom

from ttc.problem_arrays import ProblemArrays
from ttc.selection import NULL_ANSWER

EPS = 1e-15  # the leader loses at most this fraction of subsets where the vote counts as decided


def _answer_totals(p: ProblemArrays) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per answer: total score, largest score and mean measure [answers, measures]."""
    valid = p.answer_ids != NULL_ANSWER
    ids, n_answers = p.answer_ids[valid], int(p.answer_ids.max()) + 1 if valid.any() else 0
    total = np.bincount(ids, weights=p.scores[valid], minlength=n_answers)
    top = np.full(n_answers, -np.inf)
    np.maximum.at(top, ids, p.scores[valid])
    sums = np.zeros((n_answers, p.measures.shape[1]))
    np.add.at(sums, ids, p.measures[valid])
    return total, top, sums / np.maximum(np.bincount(ids, minlength=n_answers), 1)[:, None]


def decided_votes(p: ProblemArrays, ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(decided [len(ns)] bool, value [len(ns), measures]): the N at which the weighted vote (scores
    >= 0) is decided up to EPS, and its value there (NaN elsewhere, and where N > M)."""
    m = len(p.answer_ids)
    value = np.full((len(ns), p.measures.shape[1]), np.nan)
    total, top, means = _answer_totals(p)
    if not len(total):  # every answer null: nothing is ever chosen
        return ns <= m, np.where((ns <= m)[:, None], 0.0, np.nan)
    leaders = np.flatnonzero(total == total.max())
    value[ns == m] = means[leaders].mean(axis=0)
    if len(leaders) > 1:
        return ns == m, value
    lead, others = int(leaders[0]), np.flatnonzero(np.arange(len(total)) != leaders[0])
    n = ns.astype(float)[:, None]
    gap = n / m * (total[lead] - total[others])[None, :]  # E[Z] per (N, other answer)
    spread = np.maximum(top[lead], 0) + np.maximum(top[others], 0)[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        exponent = -2 * gap**2 / (n * (1 - (n - 1) / m) * spread**2)
    loss = np.where(spread > 0, np.exp(exponent), 0.0).sum(axis=1)
    loss += hypergeom.pmf(0, m, int((p.answer_ids == lead).sum()), ns)  # the leader not drawn at all
    decided = ((loss <= EPS) & (ns <= m)) | (ns == m)
    value[decided & (ns < m)] = means[lead]
    return decided, value
