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
RIVALS = 16  # with ``tight``: the rivals (largest totals first) that also get the Chernoff bound
BINS = 256  # score bins of the Chernoff bound's moment generating functions (bounded from above)
LAMBDAS = np.geomspace(1e-3, 60.0, 48)  # the bound's lambda grid, times 1 / (largest score)


def _answer_totals(p: ProblemArrays) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per answer: total score, largest score and mean measure [answers, measures]."""
    valid = p.answer_ids != NULL_ANSWER
    ids, n_answers = p.answer_ids[valid], int(p.answer_ids.max()) + 1 if valid.any() else 0
    total = np.bincount(ids, weights=p.scores[valid], minlength=n_answers)
    top = np.full(n_answers, -np.inf)
    np.maximum.at(top, ids, p.scores[valid])
    sums = np.zeros((n_answers, p.measures.shape[1]))
    for q in range(sums.shape[1]):  # the same sums as np.add.at, in the same order, faster
        sums[:, q] = np.bincount(ids, weights=p.measures[valid, q], minlength=n_answers)
    return total, top, sums / np.maximum(np.bincount(ids, minlength=n_answers), 1)[:, None]


def decided_votes(p: ProblemArrays, ns: np.ndarray, tight: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(decided [len(ns)] bool, value [len(ns), measures]): the N at which the weighted vote (scores
    >= 0) is decided up to EPS, and its value there (NaN elsewhere, and where N > M). ``tight``:
    the RIVALS leading rivals also get the Chernoff bound (``_chernoff``), whichever is smaller."""
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
    loss = np.where(spread > 0, np.exp(exponent), 0.0)
    if tight:
        rivals = np.argsort(-total[others], kind="stable")[:RIVALS]
        loss[:, rivals] = np.minimum(loss[:, rivals], _chernoff(p, total, lead, others[rivals], ns))
    loss = loss.sum(axis=1)
    loss += hypergeom.pmf(0, m, int((p.answer_ids == lead).sum()), ns)  # the leader not drawn at all
    decided = ((loss <= EPS) & (ns <= m)) | (ns == m)
    value[decided & (ns < m)] = means[lead]
    return decided, value


def _binned_counts(p: ProblemArrays, answers: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(counts [len(answers), BINS] of each answer's samples per score bin, lower and upper bin
    edges [BINS], widened by 1e-12 so every score lies inside its bin despite rounding)."""
    width = float(p.scores[p.answer_ids != NULL_ANSWER].max()) / BINS
    lookup = np.full(int(p.answer_ids.max()) + 2, -1)  # the last entry serves the nulls (id -1)
    lookup[answers] = np.arange(len(answers))
    row = lookup[p.answer_ids]
    keep = row >= 0
    k = np.minimum(np.floor(p.scores[keep] / width), BINS - 1).astype(np.int64)
    counts = np.bincount(row[keep] * BINS + k, minlength=len(answers) * BINS).reshape(len(answers), BINS)
    edges = np.arange(BINS + 1) * width
    return counts.astype(float), edges[:-1] * (1 - 1e-12), edges[1:] * (1 + 1e-12)


def _chernoff(p: ProblemArrays, total: np.ndarray, lead: int, rivals: np.ndarray, ns: np.ndarray) -> np.ndarray:
    """[len(ns), len(rivals)]: a Chernoff bound on P(S_lead <= S_b) for a uniform N-subset
    (``total``: each answer's total score in the pool).

    Z = S_lead - S_b sums N draws without replacement from the v's (s on the leader's samples, -s
    on b's, 0 elsewhere); by Hoeffding (1963, Theorem 4) E exp(-lam Z) is at most its value with
    replacement, (E exp(-lam v))^N. The undrawn M - N samples are a uniform subset too and
    Z = T - Z' (T: the pool's difference), so P(Z <= 0) = P(Z' >= T) <= exp(-lam T) (E exp(lam
    v))^(M - N) as well. Each moment generating function is bounded from above by moving every
    score to the edge of its bin; the bound is the least over a grid of lam, of both.
    """
    m = len(p.answer_ids)
    if not len(rivals) or not (p.scores[p.answer_ids != NULL_ANSWER] > 0).any():
        return np.ones((len(ns), len(rivals)))
    counts, lo, hi = _binned_counts(p, np.concatenate([[lead], rivals]))
    lam = LAMBDAS[:, None] / (hi[-1] or 1.0)
    up, down = counts @ np.exp(lam * hi).T, counts @ np.exp(-lam * lo).T  # [answers, lambdas]
    zeros = (m - counts[0].sum() - counts[1:].sum(axis=1))[:, None]
    log_low = np.log((down[0] + up[1:] + zeros) / m)  # log E exp(-lam v), [rivals, lambdas]
    log_high = np.log((up[0] + down[1:] + zeros) / m)  # log E exp(lam v)
    gap = total[lead] - total[rivals]
    n = ns.astype(float)[:, None, None]
    drawn, undrawn = n * log_low, -LAMBDAS / (hi[-1] or 1.0) * gap[:, None] + (m - n) * log_high
    return np.exp(np.minimum(drawn, undrawn).min(axis=2))
