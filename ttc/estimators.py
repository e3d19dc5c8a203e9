"""Expected value at every N of what a selection rule chooses, from one pool of M >= N samples.

Every estimate is the expectation over uniformly random N-subsets of a problem's pool (sampling
without replacement), never "the first N samples". What is measured about the chosen sample is
generic: ``measures[:, q]`` (0 for null answers) can be correctness, "right answer, wrong process", or
anything else, so one pass gives accuracy and the false-positive rate together.

- best-of-N, coverage (pass@N) and single sample: closed forms (order statistics).
- majority: exact. Per N on pools of 1,000+ samples, ``ttc.majority`` (binomial embedding, roots
  of unity; about linear in M for each N, terms below e^-50 dropped); on smaller pools or when
  nearly every N is asked for, the all-N counting
  scheme over the multivariate hypergeometric of answer counts (``_majority_events``, O(M^2)); a
  tail of terms whose total is below ~1e-13 is dropped. See docs/estimators.md.
- weighted vote, top-k vote (no closed form): seeded subsampling without replacement
  (``ttc.subsampling.subsample_values``, re-exported here), with its Monte-Carlo variance; weighted
  vote takes its exact value (variance 0) at the N where a tail bound decides it (``ttc.vote_bounds``),
  and on pools of 4,096+ samples runs compiled, in two unbiased stages (``ttc.vote_kernel``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.special import gammaln
from scipy.stats import hypergeom, norm

from ttc.majority import answer_groups, majority_at
from ttc.problem_arrays import ProblemArrays
from ttc.selection import NULL_ANSWER
from ttc.subsampling import subsample_values  # noqa: F401  (re-exported: estimators is the entry point)

LOG_EPS = -40.0  # hypergeometric weights below e^-40 are treated as zero (majority truncation)


# ---------------------------------------------------------------- counting helpers


@lru_cache(maxsize=8)
def _log_factorials(size: int) -> np.ndarray:
    return gammaln(np.arange(size + 1) + 1.0)


def _log_comb(n, k) -> np.ndarray:
    """log C(n, k), -inf outside 0 <= k <= n; n, k integer arrays (broadcast)."""
    n, k = np.asarray(n), np.asarray(k)
    lf = _log_factorials(1 << int(max(np.max(n), 1)).bit_length())
    ok = (k >= 0) & (k <= n)
    kk, nk = np.where(ok, k, 0), np.where(ok, n - k, 0)
    return np.where(ok, lf[np.where(ok, n, 0)] - lf[kk] - lf[nk], -np.inf)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Chen et al. 2021: 1 - C(n-c, k)/C(n, k), in the stable product form."""
    if n - c < k:
        return 1.0
    return 1.0 - float(np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


# ---------------------------------------------------------------- best-of-N and friends


def rank_weights(pool_size: int, ns: np.ndarray) -> np.ndarray:
    """[len(ns), pool_size]: P(the sample ranked r-th (0-based) is the best of a random N-subset).

    C(M-1-r, N-1) / C(M, N) = N/M * prod_{j<r} (M-j-N)/(M-1-j), as a running product (no overflow).
    """
    m, ns = pool_size, np.asarray(ns, dtype=float)[:, None]
    r = np.arange(m - 1)
    ratios = np.clip((m - r - ns) / (m - 1 - r), 0.0, None)
    return np.concatenate([ns / m, ns / m * np.cumprod(ratios, axis=1)], axis=1)


def _tie_groups(scores: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Order by score (best first, null answers last) and the tie-group id of each rank."""
    key = np.where(valid, scores, -np.inf)
    order = np.argsort(-key, kind="stable")
    sorted_key = key[order]
    return order, np.concatenate([[0], np.cumsum(sorted_key[1:] != sorted_key[:-1])])


def _group_mean(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Replace each row of values [ranks, ...] by the mean over its tie group."""
    sums = np.zeros((groups[-1] + 1,) + values.shape[1:])
    np.add.at(sums, groups, values)
    return (sums / np.bincount(groups)[(slice(None),) + (None,) * (values.ndim - 1)])[groups]


def best_of_n_probs(scores: np.ndarray, valid: np.ndarray, ns) -> np.ndarray:
    """[len(ns), samples]: P(sample is the arg-max of a random N-subset); ties split, nulls never."""
    order, groups = _tie_groups(scores, valid)
    weights = _group_mean(rank_weights(len(scores), np.asarray(ns)).T, groups).T  # [ns, ranks]
    probs = np.zeros_like(weights)
    probs[:, order] = weights
    return probs * valid


def _best_values(problems: list[ProblemArrays], ns: np.ndarray, by_correctness: bool) -> np.ndarray:
    out = np.full((len(problems), len(ns), problems[0].measures.shape[1]), np.nan)
    for m in sorted({len(p.answer_ids) for p in problems}):
        rows = [i for i, p in enumerate(problems) if len(p.answer_ids) == m]
        fits = ns <= m
        parts = []
        for i in rows:
            p = problems[i]
            valid = p.answer_ids != NULL_ANSWER
            order, groups = _tie_groups(p.is_correct.astype(float) if by_correctness else p.scores, valid)
            parts.append(_group_mean(p.measures[order], groups))  # [ranks, measures]
        stacked = np.stack(parts, axis=1)  # [ranks, problems, measures]
        vals = np.tensordot(rank_weights(m, ns[fits]), stacked, axes=1)  # [ns, problems, measures]
        out[np.ix_(np.asarray(rows), np.flatnonzero(fits))] = vals.transpose(1, 0, 2)
    return out


def _single_values(problems: list[ProblemArrays], ns: np.ndarray) -> np.ndarray:
    """A single uniformly drawn sample: the pool mean, for every N the pool can hold."""
    means = np.stack([p.measures.mean(axis=0) for p in problems])  # [problems, measures]
    fits = ns[None, :] <= np.array([len(p.answer_ids) for p in problems])[:, None]
    return np.where(fits[..., None], means[:, None, :], np.nan)


# ---------------------------------------------------------------- majority, exact
#
# Answer a (c_a samples) wins with count k when every other answer has at most k; if t others tie
# at k, a gets 1/(t+1) = integral_0^1 u^t du. For a fixed k the other answers are "constrained"
# only if their count c >= k; the rest (and null answers) fill slots freely. Per answer, with
# f(x) = [x < k] + u [x = k], the probability of "all constrained answers fine" given i draws from
# their joint pool is a product-form sum; pools are combined by hypergeometric merges of vectors
# normalised by C(pool, i) (so every number is a probability: no overflow). The u-integral is done
# by Gauss-Legendre, exact for the polynomial degree involved. Distinct counts split the k range
# into segments with a fixed constrained set; each segment gives one vector over draws from
# (a + constrained), and all are carried to draws from the whole pool by adding the free samples
# one at a time, which serves every N at once (O(M^2) per problem).


def _merge(a: np.ndarray, size_a: int, b: np.ndarray, size_b: int, cap: int) -> np.ndarray:
    """Combine two independent pools: out[..., i] = sum_x Hyp(x; size_a+size_b, size_a, i) a[x] b[i-x]."""
    if a.shape[-1] > b.shape[-1]:
        a, size_a, b, size_b = b, size_b, a, size_a
    da, db, size = a.shape[-1] - 1, b.shape[-1] - 1, size_a + size_b
    dout = min(da + db, size, cap)
    lf = _log_factorials(1 << size.bit_length())
    x, i = np.arange(da + 1), np.arange(dout + 1)
    j = i[None, :] - x[:, None]  # [da+1, dout+1]: the index into b that pairs with a[x] for out[i]
    ok = (j >= 0) & (j <= db)
    j = np.where(ok, j, 0)
    log_w = (lf[size_a] - lf[x] - lf[size_a - x])[:, None] + (lf[size_b] - lf[j] - lf[size_b - j])
    w = np.where(ok, np.exp(log_w - (lf[size] - lf[i] - lf[size - i])), 0.0)  # Hyp(x; size, size_a, i)
    if a[..., 0].size * w.size <= 1 << 22:  # small: one gather instead of a Python loop
        return np.einsum("...x,...xi->...i", a, np.take(b, j, axis=-1) * w)
    out = np.zeros(a.shape[:-1] + (dout + 1,))
    for xi in range(min(da, dout) + 1):
        width = min(db, dout - xi) + 1
        out[..., xi : xi + width] += a[..., xi : xi + 1] * (b[..., :width] * w[xi, xi : xi + width])
    return out


def _pool_table(table: np.ndarray, size: int, groups, cap: int) -> tuple[np.ndarray, int]:
    """Merge ``m`` copies of a one-answer table per (count, m) group (binary powers)."""
    acc, acc_size = None, 0
    for count, m in groups:
        base, base_size = table[..., : count + 1], count
        while m:
            if m & 1:
                acc, acc_size = (
                    (base, base_size)
                    if acc is None
                    else (_merge(acc, acc_size, base, base_size, cap), acc_size + base_size)
                )
            m >>= 1
            if m:
                base, base_size = _merge(base, base_size, base, base_size, cap), 2 * base_size
    assert acc is not None  # m >= 1 sets it on the first set bit
    return acc, acc_size


def _relevant_draws(c_a: int, pool: int, ks: np.ndarray) -> int:
    """Largest i such that Hyp(k; pool, c_a, k + i) >= e^LOG_EPS for some k in ks.

    The relevant i grows with k, so the ends of a k range suffice.
    """
    i, ks = np.arange(pool - c_a + 1), np.array([ks.min(), ks.max()])
    logp = _log_comb(c_a, ks[:, None]) + _log_comb(pool - c_a, i) - _log_comb(pool, ks[:, None] + i)
    keep = np.flatnonzero((logp >= LOG_EPS).any(axis=0))
    return int(keep[-1]) if len(keep) else 0


def _majority_events(c_a: int, other_counts: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """(A, chi): chi[s] = P(a wins within segment | s draws from a + its constrained pool of size A).

    Wins with more than every other answer's whole count are left to the caller (hypergeom.sf).
    """
    values, mults = np.unique(other_counts, return_counts=True)
    events = []
    lo = 0
    for d in range(len(values)):
        k_lo, k_hi, lo = lo + 1, min(int(values[d]), c_a), int(values[d])
        if k_lo > k_hi:
            break
        groups = list(zip(values[d:].tolist(), mults[d:].tolist()))
        size = sum(v * m for v, m in groups)
        parts = []
        if k_lo == 1:  # k = 1: all drawn answers distinct, so the tie count is the number drawn
            cap = _relevant_draws(c_a, c_a + size, np.array([1]))
            distinct, _ = _pool_table(np.ones((1, 2)), size, groups, cap)
            parts.append((np.array([1]), distinct / (np.arange(distinct.shape[-1]) + 1.0)))
            k_lo = 2
        if k_lo <= k_hi:  # the u-integral by Gauss-Legendre, for all k of the segment at once
            ks = np.arange(k_lo, k_hi + 1)
            cap = _relevant_draws(c_a, c_a + size, ks)
            n_nodes = min(sum(mults[d:]), cap // k_lo) // 2 + 1  # exact for the u-degree
            u, w = np.polynomial.legendre.leggauss(n_nodes)
            x = np.arange(k_hi + 1)
            table = (x < ks[:, None, None]) + (x == ks[:, None, None]) * ((u + 1) / 2)[None, :, None]
            pooled, _ = _pool_table(table, size, groups, cap)  # [ks, nodes, draws]
            parts.append((ks, np.einsum("kgi,g->ki", pooled, w / 2)))
        chi = np.zeros(c_a + size + 1)
        for ks, psi in parts:
            i = np.arange(psi.shape[-1])
            s = ks[:, None] + i
            wts = np.exp(_log_comb(c_a, ks[:, None]) + _log_comb(size, i) - _log_comb(c_a + size, s))
            chi += np.bincount(s.ravel(), (wts * psi).ravel(), minlength=len(chi))
        events.append((c_a + size, chi))
    return events


def _grow(events: list[tuple[int, int, np.ndarray]], sizes: np.ndarray) -> np.ndarray:
    """Sum event vectors, each over draws from a sub-pool of size A, carried to each row's full pool.

    events: (row, A, vec [A+1, Q]); adding one free sample to a pool of L:
    V'(n) = n/(L+1) V(n-1) + (1 - n/(L+1)) V(n). Returns [rows, max(sizes)+1, Q].
    """
    q, m = events[0][2].shape[1], int(sizes.max())
    start = np.full(len(sizes), m + 1)
    for row, a, _ in events:
        start[row] = min(start[row], a)
    order = np.argsort(start, kind="stable")  # rows in the order they start: active rows are a prefix
    position = np.argsort(order)
    v = np.zeros((len(sizes), m + 2, q))
    out = np.zeros((len(sizes), m + 1, q))
    by_size: dict[int, list] = {}
    for row, a, vec in events:
        by_size.setdefault(a, []).append((position[row], vec))
    for pool in range(int(start.min()), m + 1):
        for pos, vec in by_size.get(pool, []):
            v[pos, : pool + 1] += vec
        done = position[sizes == pool]
        out[order[done], : pool + 1] = v[done, : pool + 1]
        active = v[: np.searchsorted(start[order], pool, side="right")]
        frac = (np.arange(1, pool + 2) / (pool + 1))[None, :, None]
        moved = active[:, : pool + 1] * frac
        active[:, 1 : pool + 2] *= 1 - frac
        active[:, 1 : pool + 2] += moved
    return out


def _majority_rows(answer_ids: np.ndarray, weights: np.ndarray) -> tuple[list, np.ndarray]:
    """One problem's events, and its closed-form part [pool+1, Q]; answer a's win probability is
    weighted by weights[a] [answers, Q]."""
    m = len(answer_ids)
    counts = np.bincount(answer_ids[answer_ids != NULL_ANSWER], minlength=len(weights))
    events, direct = [], np.zeros((m + 1, weights.shape[1]))
    for c_a in np.unique(counts[weights.any(axis=1)]):  # answers of equal count win equally often
        w = weights[counts == c_a].sum(axis=0)
        others = np.delete(counts, np.flatnonzero(counts == c_a)[0])
        others = others[others > 0]
        top = int(others.max()) if len(others) else 0  # a wins outright with more than `top`
        direct += hypergeom.sf(top, m, c_a, np.arange(m + 1))[:, None] * w
        events += [(a, chi[:, None] * w) for a, chi in _majority_events(int(c_a), others)]
    return events, direct


def _majority_probs(rows: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """rows: (answer_ids, weights [answers, Q]) -> [rows, max pool + 1, Q] expected weight of the winner."""
    sizes = np.array([len(ids) for ids, _ in rows])
    out = np.zeros((len(rows), sizes.max() + 1, rows[0][1].shape[1]))
    events = []
    for row, (ids, weights) in enumerate(rows):
        row_events, direct = _majority_rows(ids, weights)
        out[row, : len(direct)] += direct
        events += [(row, a, vec) for a, vec in row_events]
    return out + _grow(events, sizes) if events else out


def _old_majority_win_probs(answer_ids: np.ndarray, ns) -> np.ndarray:
    """All-N counting scheme (O(M^2) per problem, every N at once): what dense N requests use."""
    n_answers = int(answer_ids.max()) + 1 if (answer_ids != NULL_ANSWER).any() else 0
    return _majority_probs([(answer_ids, np.eye(n_answers))])[0, np.asarray(ns)]


PER_N_FROM = 1000  # pools at least this large run the per-N scheme (smaller: the all-N one is faster)


def _per_n(pool: int, ns: np.ndarray) -> bool:
    """Whether to run the per-N scheme (``ttc.majority``, about linear in M per N) rather than the
    all-N one: it wins on large pools unless nearly every N is asked for (e.g. every N of a
    1,860-sample pool); on pools under PER_N_FROM samples the all-N scheme's O(M^2) is cheaper."""
    return pool >= PER_N_FROM and len(ns) <= max(64, pool // 50)


def majority_win_probs(answer_ids: np.ndarray, ns, scheme: str = "auto") -> np.ndarray:
    """[len(ns), answers]: P(answer wins the vote of a random N-subset), ties split evenly.

    Columns are answer ids 0..max(answer_ids); null answers (-1) never win. ``scheme``: "auto"
    (see ``_per_n``), "per_n" or "all_n" (both exact; tests compare them).
    """
    ns = np.asarray(ns)
    if scheme == "all_n" or (scheme == "auto" and not _per_n(len(answer_ids), ns)):
        return _old_majority_win_probs(answer_ids, ns)
    n_answers = int(answer_ids.max()) + 1 if (answer_ids != NULL_ANSWER).any() else 0
    counts = np.bincount(answer_ids[answer_ids != NULL_ANSWER], minlength=n_answers)
    groups = answer_groups(counts, np.eye(n_answers), len(answer_ids))
    return np.stack([majority_at(groups, int(n)) for n in ns]).reshape(len(ns), n_answers)


def _answer_means(p: ProblemArrays) -> np.ndarray:
    """[answers, measures]: mean measure over each answer's samples."""
    valid = p.answer_ids != NULL_ANSWER
    n_answers = int(p.answer_ids.max()) + 1 if valid.any() else 0
    sums = np.zeros((n_answers, p.measures.shape[1]))
    np.add.at(sums, p.answer_ids[valid], p.measures[valid])
    return sums / np.maximum(np.bincount(p.answer_ids[valid], minlength=n_answers), 1)[:, None]


def majority_problem(p: ProblemArrays, ns: np.ndarray) -> np.ndarray:
    """[len(ns), measures] exact majority values of one problem (NaN where N > its pool)."""
    m, means = len(p.answer_ids), _answer_means(p)
    out = np.full((len(ns), p.measures.shape[1]), np.nan)
    fits = np.flatnonzero(ns <= m)
    valid = p.answer_ids != NULL_ANSWER
    groups = answer_groups(np.bincount(p.answer_ids[valid], minlength=len(means)), means, m)
    for j in fits:
        out[j] = majority_at(groups, int(ns[j]))
    return out


def _majority_values(problems: list[ProblemArrays], ns: np.ndarray) -> np.ndarray:
    """[problems, len(ns), measures]; each problem runs the scheme ``_per_n`` picks for its own pool, so a
    problem's values do not depend on which other problems share its batch (``--jobs`` chunks)."""
    sizes = np.array([len(p.answer_ids) for p in problems])
    per_n = np.array([_per_n(int(m), ns) for m in sizes], dtype=bool)
    out = np.full((len(problems), len(ns), problems[0].measures.shape[1]), np.nan)
    for i in np.flatnonzero(per_n):
        out[i] = majority_problem(problems[i], ns)
    rest = np.flatnonzero(~per_n)
    if len(rest):
        probs = _majority_probs([(problems[i].answer_ids, _answer_means(problems[i])) for i in rest])
        fits = (ns[None, :] <= sizes[rest, None])[..., None]
        out[rest] = np.where(fits, probs[:, np.minimum(ns, sizes[rest].max())], np.nan)
    return out


EXACT = {
    "single": _single_values,
    "majority": _majority_values,
    "best_of_n": lambda problems, ns: _best_values(problems, ns, by_correctness=False),
    "coverage": lambda problems, ns: _best_values(problems, ns, by_correctness=True),
}


# ---------------------------------------------------------------- uncertainty across problems


@dataclass(frozen=True)
class Summary:
    """Per (N, measure) statistics over problems; each array is [len(ns), measures]."""

    mean: np.ndarray
    se: np.ndarray  # standard error across problems (includes Monte-Carlo noise); NaN for one problem
    ci_low: np.ndarray
    ci_high: np.ndarray
    mc_se: np.ndarray  # Monte-Carlo part of the standard error (0 for exact estimates)
    n_problems: np.ndarray  # [len(ns)]


def summarize(
    values: np.ndarray,
    mc_var: np.ndarray | None = None,
    *,
    confidence: float = 0.95,
    bootstrap: int = 0,
    seed: int = 0,
) -> Summary:
    """values [problems, ns, measures], NaN where a problem has too few samples for that N.

    CI: normal (mean +- z * se) by default; percentile bootstrap over problems if bootstrap > 0.
    """
    present = ~np.isnan(values)
    n = present.sum(axis=0)  # [ns, measures]
    filled = np.where(present, values, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):  # one problem: the SE is undefined (NaN)
        mean = filled.sum(axis=0) / n
        se = np.sqrt(np.where(present, (values - mean) ** 2, 0).sum(axis=0) / (n - 1) / n)
    mc = np.zeros_like(mean) if mc_var is None else np.sqrt(np.where(present, mc_var, 0).sum(axis=0)) / n
    if bootstrap:
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, values.shape[0], size=(bootstrap, values.shape[0]))
        with np.errstate(invalid="ignore"):  # a resample holding no problem long enough: NaN
            boots = filled[idx].sum(axis=1) / present[idx].sum(axis=1)
        alpha = (1 - confidence) / 2
        low, high = np.nanquantile(boots, [alpha, 1 - alpha], axis=0)
    else:
        z = norm.ppf(0.5 + confidence / 2)
        low, high = mean - z * se, mean + z * se
    return Summary(mean, se, np.clip(low, 0, 1), np.clip(high, 0, 1), mc, n[:, 0])
