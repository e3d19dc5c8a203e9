"""Seeded subsampling estimates for selection rules without a closed form (weighted vote, top-k vote).

``trials`` random permutations per problem; the first N of one permutation is a uniform N-subset for
every N, so one pass over a permutation serves all N. Returns per-problem values and their
Monte-Carlo variance, in the layout of ``ttc.estimators`` (which holds the exact rules). Weighted
votes on pools of _DRAW_FROM+ samples run compiled (``ttc.vote_kernel``, ``_compiled_vote``).
"""

from __future__ import annotations

import numpy as np

from ttc.problem_arrays import ProblemArrays
from ttc.selection import NULL_ANSWER, Subset, rule_info
from ttc.vote_bounds import decided_votes

#
# Each trial is one uniformly random permutation of a problem's pool; its first N samples are a
# uniform N-subset for every N at once, so one pass serves all N (the N are correlated within a
# trial, which leaves every per-N mean unbiased). Ties in score are broken by arrival order, which
# is uniform, so the expectation equals the rule's even split. Rows are (problem, trial) pairs;
# step(t) gives every row's t-th sample as (answer, score, measures); block(lo, hi) samples lo..hi-1.


def _vote_prefix(block, rows, slot_base, n_slots, n_meas, ts, record):
    """Weighted vote (scores >= 0) on the prefixes ending at the sample indices ``ts`` (ascending).

    Answer a of row r lives at flat slot slot_base[r] + a. Between two recorded prefixes the new
    samples of every row are added at once (``np.bincount`` over (row, answer) slots); at a recorded
    prefix each row's leading total comes from one segmented maximum, and the rule's value is the
    mean over the tied leaders of their samples' mean measures (the even split of a tie).
    """
    total, count = np.zeros(n_slots), np.zeros(n_slots)
    msum = np.zeros((n_meas, n_slots))
    starts = slot_base.astype(np.intp)
    sizes = np.diff(np.append(starts, n_slots))
    done = 0
    width = max(_BLOCK, (1 << 20) // max(rows, 1))  # ~1M samples per bincount
    for t in ts:
        for lo in range(done, t + 1, width):  # at most `width` samples per row in memory at once
            answers, scores, meas = block(lo, min(lo + width, t + 1))
            valid = answers != NULL_ANSWER
            slot = (starts[:, None] + answers)[valid]
            total += np.bincount(slot, weights=scores[valid], minlength=n_slots)
            count += np.bincount(slot, minlength=n_slots)
            for k in range(n_meas):
                msum[k] += np.bincount(slot, weights=meas[..., k][valid], minlength=n_slots)
        done = t + 1
        present = count > 0
        lead_total = np.where(present, total, -np.inf)
        lead = np.maximum.reduceat(lead_total, starts)
        win = present & (lead_total == np.repeat(lead, sizes))
        n_win = np.add.reduceat(win.astype(np.float64), starts)
        mean_meas = np.where(win, msum / np.maximum(count, 1), 0.0)
        value = np.add.reduceat(mean_meas, starts, axis=1).T / np.maximum(n_win, 1)[:, None]
        record(t, value)


_BLOCK = 32  # fewest samples per row gathered at once by the vote prefix


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
    """Any registered rule's reference function, called on each prefix in ns (slow; for rules without a fast path)."""
    for j, n in enumerate(ns):
        values = []
        for prob, perm in zip(problems, perms):
            for order in perm[:, :n]:
                sub = Subset(prob.answer_ids[order], prob.scores[order], prob.is_correct[order])
                values.append(rule(sub) @ prob.measures[order])
        record_n(j, np.array(values))


def _run_prefix(rule, problems, perms, top_k, ts, record, pool=None):
    """Run a fast prefix rule over the chunk's rows (problem-major, trial-minor); ``ts`` are the
    prefix ends (sample indices, ascending) that ``record`` wants; ``perms`` may be prefixes of
    permutations of ``pool`` samples (default: their width)."""
    width, trials = perms[0].shape[1], perms[0].shape[0]
    m = width if pool is None else pool
    order = np.concatenate(perms) + np.repeat(np.arange(len(problems)) * m, trials)[:, None]
    answers = np.concatenate([p.answer_ids for p in problems])
    info = rule_info(rule)
    scores = np.concatenate([p.scores for p in problems]) if info.needs_score else np.ones(len(answers))
    meas = np.concatenate([p.measures for p in problems])

    def block(lo, hi):
        idx = order[:, lo:hi]
        return answers[idx], scores[idx], meas[idx]

    if info.fast_path == "vote":  # weights: the scores, or ones for an unscored vote
        per_row = np.repeat([max(int(p.answer_ids.max()) + 1, 1) for p in problems], trials)
        base = np.concatenate([[0], np.cumsum(per_row)[:-1]])
        _vote_prefix(block, len(order), base, int(per_row.sum()), meas.shape[1], ts, record)
    else:
        def step(t):
            idx = order[:, t]
            return answers[idx], scores[idx], meas[idx]

        _top_k_prefix(step, len(order), top_k if "k" in info.params else 1, meas.shape[1], width, record)


def _prefixes(rng: np.random.Generator, m: int, trials: int, length: int) -> np.ndarray:
    """[trials, length] int32: the first ``length`` samples of ``trials`` uniform permutations of m.

    Small pools, or prefixes of most of the pool: permute (the stream the committed results used).
    Otherwise the first occurrences of i.i.d. uniform draws, which are a uniform ordered sample
    without replacement, at the cost of the prefix rather than the pool.
    """
    if m < _DRAW_FROM or length > 0.3 * m:
        return rng.permuted(np.tile(np.arange(m, dtype=np.int32), (trials, 1)), axis=1)[:, :length]
    draws = int(-m * np.log1p(-length / m) + 8 * np.sqrt(length) + 16)
    while True:
        d = rng.integers(0, m, size=(trials, draws), dtype=np.int64)
        key = np.sort(d * draws + np.arange(draws), axis=1)  # by value, then by draw
        ranked, when = key // draws, key % draws
        first = np.ones_like(ranked, dtype=bool)
        first[:, 1:] = ranked[:, 1:] != ranked[:, :-1]
        keep = np.zeros_like(first)
        np.put_along_axis(keep, when, first, axis=1)
        keep &= np.cumsum(keep, axis=1) <= length
        if (keep.sum(axis=1) == length).all():
            return d[keep].reshape(trials, length).astype(np.int32)
        draws = int(draws * 1.5) + 1  # too few distinct draws in some trial (rare): draw again


_DRAW_FROM = 4096  # pools at least this large draw prefixes, not whole permutations


def subsample_values(
    rule: str,
    problems: list[ProblemArrays],
    ns: np.ndarray,
    *,
    trials: int = 400,
    seed: int = 0,
    top_k: int = 5,
    first: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Monte-Carlo estimate and its variance, each [problems, len(ns), measures] (NaN if N > pool).

    Problem p's permutations come from np.random.default_rng([seed, first + p]) (``first``: the
    index of problems[0] in the whole pool), so results do not depend on how problems are batched. Problems with equal pool sizes run together, in chunks of ~16 MB.
    Weighted vote: the N at which the vote is decided (``ttc.vote_bounds``) take their exact value,
    with variance 0, and the permutations stop at the largest N still undecided. On pools of
    _DRAW_FROM+ samples it runs compiled (``ttc.vote_kernel``), problem by problem from the same
    seeded stream, at its own undecided N only, each with up to ``trials`` trials (``_compiled_vote``).
    """
    n_meas = problems[0].measures.shape[1]
    mean = np.full((len(problems), len(ns), n_meas), np.nan)
    var = np.full_like(mean, np.nan)
    decided = np.zeros((len(problems), len(ns)), dtype=bool)
    sizes = np.array([len(p.answer_ids) for p in problems])
    if rule == "weighted_vote":
        for i, p in enumerate(problems):
            decided[i], mean[i] = decided_votes(p, ns, tight=len(p.answer_ids) >= _DRAW_FROM)
        var[decided] = 0.0
        large = np.flatnonzero(sizes >= _DRAW_FROM)
        _large_votes(problems, large, ns, decided, trials, seed, first, mean, var)
        sizes[large] = -1  # done
    n_answers = np.array([int(p.answer_ids.max()) + 1 for p in problems])
    nbytes = trials * (4 * sizes + 8 * (n_meas + 2) * n_answers)  # permutations + vote state
    for m in np.unique(sizes[sizes >= 0]):
        same = np.flatnonzero(sizes == m)
        for chunk in np.split(same, np.flatnonzero(np.diff(np.cumsum(nbytes[same]) // (1 << 24))) + 1):
            open_n = (ns <= m) & ~decided[chunk].all(axis=0)
            if open_n.any():
                _subsample_chunk(rule, problems, chunk, ns, open_n, int(m), trials, seed, top_k, mean, var, first)
    return mean, var


def _subsample_chunk(rule, problems, chunk, ns, open_n, m, trials, seed, top_k, mean, var, first) -> None:
    """Fill mean/var [chunk, open N] from ``trials`` seeded permutation prefixes per problem (N that
    some problem of the chunk has decided exactly keep that problem's exact value)."""
    n_meas = mean.shape[2]
    length = int(ns[open_n].max())
    perms = [_prefixes(np.random.default_rng([seed, first + int(p)]), m, trials, length) for p in chunk]
    slot = {int(ns[j]) - 1: int(j) for j in np.flatnonzero(open_n)}

    def record_n(j, value):
        value = value.reshape(len(chunk), trials, n_meas)
        total, squares = value.sum(axis=1), np.square(value).sum(axis=1)
        keep = np.isnan(var[chunk, j, 0])  # not decided exactly
        mean[chunk[keep], j] = (total / trials)[keep]
        var[chunk[keep], j] = (np.maximum(squares - total**2 / trials, 0) / (trials - 1) / trials)[keep]

    def record(t, value):
        if t in slot:
            record_n(slot[t], value)

    chunk_problems = [problems[p] for p in chunk]
    if rule_info(rule).fast_path:
        _run_prefix(rule, chunk_problems, perms, top_k, sorted(slot), record, pool=m)
    else:
        rule_fn = rule_info(rule).bound(top_k=top_k)
        open_js = np.flatnonzero(open_n)
        _generic_prefix(rule_fn, chunk_problems, perms, [int(ns[j]) for j in open_js],
                        lambda i, value: record_n(open_js[i], value))


def _large_votes(problems: list[ProblemArrays], large: np.ndarray, ns: np.ndarray, decided: np.ndarray,
                 trials: int, seed: int, first: int, mean: np.ndarray, var: np.ndarray) -> None:
    """Fill mean/var of the problems ``large`` at their undecided N by the compiled vote, each from
    np.random.default_rng([seed, first + p])."""
    for p in large.tolist():
        open_n = ~decided[p] & (ns <= len(problems[p].answer_ids))
        if open_n.any():
            rng = np.random.default_rng([seed, first + p])
            mean[p, open_n], var[p, open_n] = _compiled_vote(problems[p], ns[open_n], trials, rng)


PILOT = 40  # large-pool weighted vote: trials that only choose each N's trial count (then discarded)
MIN_TRIALS = 40  # the fewest trials an N then gets
TARGET_SE = 0.005  # ... and more, up to ``trials``, until its Monte-Carlo SE should be below this


def _compiled_vote(p: ProblemArrays, ns: np.ndarray, trials: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Weighted vote of one problem at ``ns`` (ascending, <= its pool) by ``ttc.vote_kernel``:
    the Monte-Carlo mean and its variance, each [len(ns), measures].

    Two stages, so the estimate stays unbiased: PILOT trials measure each N's per-trial variance
    s^2 and are discarded; then N gets s^2 / TARGET_SE^2 fresh trials, at least MIN_TRIALS and at
    most ``trials`` (close votes get all of them, votes the pilot saw decided only MIN_TRIALS), and
    its mean and variance come from those alone.
    """
    answers = p.answer_ids.astype(np.int64)
    base, dev, varies = _measure_parts(answers, p.measures.astype(np.float64))
    arrays = (answers, p.scores.astype(np.float64), dev, varies, base)
    counts = np.full(len(ns), trials)
    if trials > PILOT and trials > MIN_TRIALS:
        pilot = _vote_trials(arrays, ns, np.full(len(ns), PILOT), rng)
        spread = pilot.var(axis=0, ddof=1).max(axis=1)  # [N]: the largest over measures
        counts = np.clip(np.ceil(spread / TARGET_SE**2), MIN_TRIALS, trials).astype(np.int64)
    values = _vote_trials(arrays, ns, counts, rng)
    mean, var = np.empty((len(ns), base.shape[1])), np.empty((len(ns), base.shape[1]))
    for e, count in enumerate(counts.tolist()):
        mean[e] = values[:count, e].mean(axis=0)
        var[e] = values[:count, e].var(axis=0, ddof=1) / count
    return mean, var


def _vote_trials(arrays: tuple[np.ndarray, ...], ns: np.ndarray, counts: np.ndarray,
                 rng: np.random.Generator) -> np.ndarray:
    """[max(counts), len(ns), Q]: trial t's vote value at ns[e] for t < counts[e]: trial t's
    prefix reaches the largest such N only."""
    from ttc.vote_kernel import vote_on_orders

    ends = ns.astype(np.int64)
    active = np.arange(int(counts.max()))[:, None] < counts[None, :]
    lengths = np.where(active, ends[None, :], 0).max(axis=1)
    answers, scores, dev, varies, base = arrays
    orders = _shuffled_prefixes(rng, len(answers), lengths)
    return vote_on_orders(orders, answers, scores, dev, varies, base, ends, counts.astype(np.int64))


def _measure_parts(answers: np.ndarray, meas: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(base [answers, Q]: each answer's pool mean measure, dev [samples, Q]: each sample's
    measure less it, varies [samples] bool: whether its answer's measures are not all equal)."""
    valid = answers >= 0
    n_answers = max(int(answers.max()) + 1, 1)
    ids = np.where(valid, answers, 0)
    count = np.maximum(np.bincount(answers[valid], minlength=n_answers), 1)
    base = np.stack([np.bincount(answers[valid], weights=meas[valid, q], minlength=n_answers)
                     for q in range(meas.shape[1])], axis=1) / count[:, None]
    dev = np.where(valid[:, None], meas - base[ids], 0.0)
    spread = np.bincount(ids[valid], weights=(dev[valid] != 0).any(axis=1), minlength=n_answers) > 0
    return base, np.ascontiguousarray(dev), spread[ids] & valid


def _shuffled_prefixes(rng: np.random.Generator, m: int, lengths: np.ndarray) -> np.ndarray:
    """[trials, max(lengths)] int32: row t the first lengths[t] samples of a uniform permutation of
    m (``ttc.vote_kernel.prefix_orders``), from 32-bit words of ``rng``'s bit generator (more are
    drawn in the rare case they run out)."""
    from ttc.vote_kernel import prefix_orders

    need = int(lengths.sum())
    words = need + need // 1000 + 64  # rejections are ~1 in 2^32 / M
    while True:
        bits = rng.bit_generator.random_raw((words + 1) // 2).view(np.uint32)
        orders, ok = prefix_orders(m, lengths.astype(np.int64), bits)
        if ok:
            return orders
        words *= 2
