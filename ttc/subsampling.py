"""Seeded subsampling estimates for selection rules without a closed form (weighted vote, top-k vote).

``trials`` random permutations per problem; the first N of one permutation is a uniform N-subset for
every N, so one pass over a permutation serves all N. Returns per-problem values and their
Monte-Carlo variance, in the layout of ``ttc.estimators`` (which holds the exact rules).
"""

from __future__ import annotations

import numpy as np

from ttc.problem_arrays import ProblemArrays
from ttc.selection import NULL_ANSWER, Subset, with_params

#
# Each trial is one uniformly random permutation of a problem's pool; its first N samples are a
# uniform N-subset for every N at once, so one pass serves all N (the N are correlated within a
# trial, which leaves every per-N mean unbiased). Ties in score are broken by arrival order, which
# is uniform, so the expectation equals the rule's even split. Rows are (problem, trial) pairs;
# step(t) gives every row's t-th sample as (answer, score, measures).


def _vote_prefix(step, rows, slot_base, n_slots, n_meas, m, record):
    """Weighted vote (scores >= 0) on every prefix. Answer a of row r lives at slot_base[r] + a."""
    total, count = np.zeros(n_slots), np.zeros(n_slots)
    msum = np.zeros((n_slots, n_meas))
    lead = np.full(rows, -np.inf)  # the leading total
    tie_n = np.zeros(rows)  # answers at the lead
    tie_sum = np.zeros((rows, n_meas))  # sum over them of their mean measure
    for t in range(m):
        answers, scores, meas = step(t)
        r = np.flatnonzero(answers != NULL_ANSWER)
        a, lr, meas = slot_base[r] + answers[r], lead[r], meas[r]
        before = count[a]
        was_leading = (before > 0) & (total[a] == lr)
        total[a] += scores[r]
        count[a] = before + 1
        msum[a] += meas
        new, new_mean = total[a], msum[a] / (before + 1)[:, None]
        up, tie = new > lr, new == lr
        ru = r[up]
        lead[ru], tie_n[ru], tie_sum[ru] = new[up], 1, new_mean[up]
        if tie.any():  # a zero score for a leading answer, or another answer reaching the lead
            stay, join = tie & was_leading, tie & ~was_leading
            old_mean = (msum[a[stay]] - meas[stay]) / np.maximum(before[stay], 1)[:, None]
            tie_sum[r[stay]] += new_mean[stay] - old_mean
            tie_n[r[join]] += 1
            tie_sum[r[join]] += new_mean[join]
        record(t, tie_sum / np.maximum(tie_n, 1)[:, None])


def _top_k_prefix(step, rows, k, n_meas, m, record):
    """Majority among the k top-scored samples on every prefix (k = 1: best-of-N)."""
    top_score = np.full((rows, k), -np.inf)
    top_time = np.full((rows, k), -1)
    top_answer = np.full((rows, k), NULL_ANSWER)
    top_meas = np.zeros((rows, k, n_meas))
    value = np.zeros((rows, n_meas))
    for t in range(m):
        answers, scores, meas = step(t)
        low = top_score.min(axis=1)
        r = np.flatnonzero((answers != NULL_ANSWER) & (scores > low))
        if len(r):
            lowest = top_score[r] == low[r, None]
            slot = np.argmax(np.where(lowest, top_time[r], -2), axis=1)  # the latest of the lowest
            top_score[r, slot], top_time[r, slot] = scores[r], t
            top_answer[r, slot], top_meas[r, slot] = answers[r], meas[r]
            a = top_answer[r]
            same = (a[:, :, None] == a[:, None, :]) & (a[:, None, :] != NULL_ANSWER)
            votes = np.where(a != NULL_ANSWER, same.sum(axis=2), 0)
            win = votes == votes.max(axis=1, keepdims=True)  # every winning answer has the same count
            value[r] = (top_meas[r] * win[..., None]).sum(axis=1) / win.sum(axis=1)[:, None]
        record(t, value)


def _generic_prefix(rule, problems, perms, ns, record_n):
    """Any rule from RULES, called on each prefix in ns (slow; for rules without a fast path)."""
    for j, n in enumerate(ns):
        values = []
        for prob, perm in zip(problems, perms):
            for order in perm[:, :n]:
                sub = Subset(prob.answer_ids[order], prob.scores[order], prob.is_correct[order])
                values.append(rule(sub) @ prob.measures[order])
        record_n(j, np.array(values))


def _run_prefix(rule, problems, perms, top_k, record):
    """Run a fast prefix rule over the chunk's rows (problem-major, trial-minor)."""
    m, trials = perms[0].shape[1], perms[0].shape[0]
    order = np.concatenate(perms) + np.repeat(np.arange(len(problems)) * m, trials)[:, None]
    answers = np.concatenate([p.answer_ids for p in problems])
    scores = np.concatenate([p.scores for p in problems]) if rule != "majority" else np.ones(len(answers))
    meas = np.concatenate([p.measures for p in problems])

    def step(t):
        idx = order[:, t]
        return answers[idx], scores[idx], meas[idx]

    if rule in ("weighted_vote", "majority"):
        per_row = np.repeat([max(int(p.answer_ids.max()) + 1, 1) for p in problems], trials)
        base = np.concatenate([[0], np.cumsum(per_row)[:-1]])
        _vote_prefix(step, len(order), base, int(per_row.sum()), meas.shape[1], m, record)
    else:
        _top_k_prefix(step, len(order), top_k if rule == "top_k_vote" else 1, meas.shape[1], m, record)


def subsample_values(
    rule: str,
    problems: list[ProblemArrays],
    ns: np.ndarray,
    *,
    trials: int = 400,
    seed: int = 0,
    top_k: int = 5,
) -> tuple[np.ndarray, np.ndarray]:
    """Monte-Carlo estimate and its variance, each [problems, len(ns), measures] (NaN if N > pool).

    Problem p's permutations come from np.random.default_rng([seed, p]), so results do not depend
    on how problems are batched. Problems with equal pool sizes run together, in chunks of ~16 MB.
    """
    n_meas = problems[0].measures.shape[1]
    mean = np.full((len(problems), len(ns), n_meas), np.nan)
    var = np.full_like(mean, np.nan)
    sizes = np.array([len(p.answer_ids) for p in problems])
    n_answers = np.array([int(p.answer_ids.max()) + 1 for p in problems])
    nbytes = trials * (4 * sizes + 8 * (n_meas + 2) * n_answers)  # permutations + vote state
    for m in np.unique(sizes):
        same = np.flatnonzero(sizes == m)
        for chunk in np.split(same, np.flatnonzero(np.diff(np.cumsum(nbytes[same]) // (1 << 24))) + 1):
            tile = np.tile(np.arange(m, dtype=np.int32), (trials, 1))
            perms = [np.random.default_rng([seed, int(p)]).permuted(tile, axis=1) for p in chunk]
            slot = {int(n) - 1: j for j, n in enumerate(ns) if n <= m}

            def record_n(j, value, chunk=chunk):
                value = value.reshape(len(chunk), trials, n_meas)
                total, squares = value.sum(axis=1), np.square(value).sum(axis=1)
                mean[chunk, j] = total / trials
                var[chunk, j] = np.maximum(squares - total**2 / trials, 0) / (trials - 1) / trials

            def record(t, value, slot=slot, record_n=record_n):
                if t in slot:
                    record_n(slot[t], value)

            chunk_problems = [problems[p] for p in chunk]
            if rule in ("weighted_vote", "majority", "top_k_vote", "best_of_n"):
                _run_prefix(rule, chunk_problems, perms, top_k, record)
            else:
                rule_fn = with_params(rule, top_k=top_k)
                _generic_prefix(rule_fn, chunk_problems, perms, [n for n in ns if n <= m], record_n)
    return mean, var
