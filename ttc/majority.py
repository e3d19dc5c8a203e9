"""Exact majority vote at one N, in time about linear in the pool (``majority_at``).

A uniform N-subset of a pool of M samples has the same law as "keep every sample independently with
probability p, then condition on exactly N kept", for any p (here p = N/M, where that event is
likeliest). Under the independent law an answer with c samples is drawn Y ~ Binomial(c, p) times,
independently of the others, so the probability that answer a wins at level k (drawn k times, every
other answer at most k, a tie with t others split 1/(t+1) = integral_0^1 u^t du) is a coefficient:

    P(a wins at k) = [z^N] B_a(k) z^k  prod_{b != a} H_b(z, u)  (q + p z)^F  /  P(Binomial(M, p) = N),
    H_b(z, u) = sum_{y < k} B_b(y) z^y + u B_b(k) z^k,

integrated over u, with F the samples of answers that cannot reach k (and nulls), which are free.

- The coefficient is read off the values at L roots of unity (a discrete Fourier transform): every
  polynomial here has coefficients no larger than Binomial(M, p)'s, so choosing L past Binomial(M,
  p)'s window makes the wrapped-around terms negligible. No convolution is ever formed.
- Windows: binomial terms below e^LOG_TAIL are dropped (each answer's y outside its window, the
  levels k outside [max lo, max hi], blockers at levels where they cannot matter); see
  ``error_bound``.
- Answers of equal count enter as one factor H^m. The sum over candidates is the derivative of the
  product with respect to a marker on each answer, carried dual-number style; answers worth nothing
  when they win (usually every wrong one) only block, so their product is formed once.
- The u-integral is Gauss-Legendre with enough nodes for the degree (min(#answers at k, N/k) - 1,
  lowered where more ties have mass below e^LOG_TAIL).
- Levels that a single answer alone can reach are its hypergeometric pmf (closed form).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.special import gammaln, roots_legendre

LOG_TAIL = -50.0  # binomial terms below e^-50 are dropped (see error_bound)
_CHUNK = 1 << 20  # complex entries per [groups, rows, roots] block


@dataclass(frozen=True)
class Groups:
    """One problem's answers grouped by sample count: answers of equal count win equally often."""

    counts: np.ndarray  # [G] distinct sample counts (> 0), ascending
    mult: np.ndarray  # [G] answers with that count
    weight: np.ndarray  # [G, Q] mean weight of the group's answers (what a win of one of them is worth)
    pool: int  # M: samples in the pool, null answers included


def answer_groups(counts: np.ndarray, weights: np.ndarray, pool: int) -> Groups:
    """Group answers (``counts[a]`` samples, worth ``weights[a]`` [Q] when chosen) by count."""
    present = counts > 0
    values, inverse, mult = np.unique(counts[present], return_inverse=True, return_counts=True)
    sums = np.zeros((len(values), weights.shape[1]))
    np.add.at(sums, inverse, weights[present])
    return Groups(values.astype(np.int64), mult.astype(np.int64), sums / mult[:, None], int(pool))


@lru_cache(maxsize=4)
def _log_factorials(size: int) -> np.ndarray:
    return gammaln(np.arange(size + 1) + 1.0)


@lru_cache(maxsize=256)
def _nodes(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [0, 1] (exact for polynomials of degree < 2n)."""
    x, w = roots_legendre(n)
    return (x + 1) / 2, w / 2


def error_bound(pool: int, n: int, answers: int) -> float:
    """A bound on |computed - exact| of one majority value (weights in [0, 1]).

    Every dropped term is below e^LOG_TAIL under the independent law: two binomial tails per
    answer, the levels outside the window, ties beyond each level's degree, the wrapped-around
    coefficients (4M + 3 terms in all), and each blocker at each level where it was taken as free
    (answers * N terms); each weighs at most its own size over P(Binomial(M, p) = N) >= 1 / (e
    sqrt(N)). This worst case is about 1e-15 at M = 10,000 with 10 answers, 5e-12 with 10,000.
    Floating-point rounding comes on top: log-factorial differences carry a relative error of about
    M * 1e-16 into every pmf (measured: 4e-12 at M = 20,100, N = 1; the all-N scheme shares it).
    """
    return float((4 * pool + 3 + answers * n) * np.exp(LOG_TAIL) * np.e * np.sqrt(n))


@dataclass(frozen=True)
class _Binomials:
    """Each group's Binomial(c, p) log-pmf on 0..c (flat, group g at offset[g]) and its window."""

    logpmf: np.ndarray
    offset: np.ndarray  # [G]
    lo: np.ndarray  # [G] first y with log pmf >= LOG_TAIL
    hi: np.ndarray  # [G] last such y


def _binomials(counts: np.ndarray, p: float, lf: np.ndarray) -> _Binomials:
    offset = np.concatenate([[0], np.cumsum(counts + 1)[:-1]])
    c = np.repeat(counts, counts + 1)
    y = np.arange(len(c)) - np.repeat(offset, counts + 1)
    logpmf = lf[c] - lf[y] - lf[c - y] + y * np.log(p) + (c - y) * np.log1p(-p)
    keep = logpmf >= LOG_TAIL
    lo = np.minimum.reduceat(np.where(keep, y, np.iinfo(np.int64).max), offset)
    hi = np.maximum.reduceat(np.where(keep, y, -1), offset)
    return _Binomials(logpmf, offset, lo, hi)


def _roots(pool: int, n: int, p: float, lf: np.ndarray) -> int:
    """L: how many roots of unity make the wrapped-around coefficients of degree N +- L negligible."""
    s = np.arange(pool + 1)
    logpmf = lf[pool] - lf[s] - lf[pool - s] + s * np.log(p) + (pool - s) * np.log1p(-p)
    inside = np.flatnonzero(logpmf >= LOG_TAIL)
    return int(max(n - inside[0], inside[-1] - n)) + 1


def _tie_degree(at_k: np.ndarray, members: np.ndarray, ks: np.ndarray, n: int) -> np.ndarray:
    """Per level, the number t of other answers tied at k beyond which ties are negligible.

    At most min(members - 1, N/k - 1) others can tie; and with s = sum_b P(Y_b = k), the mass of
    "the winner and t or more others at k" is at most s^(t+1)/t!, so t stops where that is below
    e^LOG_TAIL (the quadrature below is exact up to degree t; beyond it errs by at most that mass).
    """
    t = np.arange(1, 64)
    log_mass = (t[None, :] + 1) * np.log(np.maximum(at_k, 1e-300))[:, None] - gammaln(t + 1.0)[None, :]
    enough = np.argmax(np.append(log_mass < LOG_TAIL, np.ones((len(ks), 1), bool), axis=1), axis=1)
    return np.minimum(np.minimum(members - 1, n // ks - 1), np.where(enough < len(t), enough, 1 << 30))


def _rows(ks: np.ndarray, degree: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(level, u, quadrature weight) per row: each level k gets enough nodes for its tie degree."""
    n_nodes = degree // 2 + 1
    k_rows, u_rows, w_rows = [], [], []
    for count in np.unique(n_nodes):
        u, w = _nodes(int(count))
        sel = ks[n_nodes == count]
        k_rows.append(np.repeat(sel, count))
        u_rows.append(np.tile(u, len(sel)))
        w_rows.append(np.tile(w, len(sel)))
    k, u, w = np.concatenate(k_rows), np.concatenate(u_rows), np.concatenate(w_rows)
    order = np.argsort(k, kind="stable")
    return k[order], u[order], w[order]


@dataclass(frozen=True)
class _Grid:
    """The L roots of unity the polynomials are evaluated at (only j <= L/2: coefficients are real)."""

    size: int  # L
    table: np.ndarray  # [L] exp(2 pi i t / L)
    j: np.ndarray  # [L//2 + 1]

    def power(self, y: np.ndarray) -> np.ndarray:
        """omega_j^y for every j: [..., L//2 + 1] (exact angles: the exponent is reduced mod L)."""
        return self.table[(y[..., None] * self.j) % self.size]

    def coefficient(self, values: np.ndarray, n: int) -> np.ndarray:
        """[z^n] of the polynomials whose values at the roots are ``values`` [..., L//2 + 1]."""
        twice = np.where((self.j == 0) | (2 * self.j == self.size), 1.0, 2.0)
        return (values * self.power(np.array(-n)) * twice).real.sum(axis=-1) / self.size


@dataclass(frozen=True)
class _RowSet:
    """A chunk of rows (level k, tie variable u), sorted by level, with omega_j^k [R, L']."""

    k: np.ndarray
    u: np.ndarray
    omega: np.ndarray
    grid: _Grid


def _dense_factors(bins: _Binomials, groups: np.ndarray, rows: _RowSet, count: int) -> np.ndarray:
    """H of many groups at once on rows[:count], [G', count, L'] (1 on rows a group cannot reach)."""
    k, u = rows.k[:count], rows.u[:count]
    lo, hi = bins.lo[groups, None], bins.hi[groups, None]
    top = np.minimum(hi, k[-1]) - 1
    y = lo + np.arange(max(int((top - lo).max()) + 1, 1))
    inside = y <= top
    pmf = np.where(inside, np.exp(bins.logpmf[bins.offset[groups, None] + np.where(inside, y, lo)]), 0.0)
    cum = np.cumsum(pmf[..., None] * rows.grid.power(y), axis=1)
    reach, index = k <= hi, k - 1 - lo
    p_part = cum[np.arange(len(groups))[:, None], np.clip(index, 0, cum.shape[1] - 1)]
    p_part = np.where(((index >= 0) & reach)[..., None], p_part, 0.0)
    pmf_k = np.where(reach, np.exp(bins.logpmf[bins.offset[groups, None] + np.where(reach, k, lo)]), 0.0)
    return np.where(reach[..., None], p_part + (u[:, None] * rows.omega[:count]) * pmf_k[..., None], 1.0)


def _factor(bins: _Binomials, group: int, rows: _RowSet, count: int) -> tuple[np.ndarray, np.ndarray]:
    """One answer of the group on rows[:count] (all levels it can reach): H = P + u Q and Q, [count, L']."""
    k, u = rows.k[:count], rows.u[:count]
    lo, top = int(bins.lo[group]), min(int(bins.hi[group]), int(k[-1])) - 1
    y = np.arange(lo, max(top, lo) + 1)
    pmf = np.exp(bins.logpmf[bins.offset[group] + y]) * (y <= top)
    cum = np.cumsum(pmf[:, None] * rows.grid.power(y), axis=0)  # P for level y + 1
    index = k - 1 - lo
    p_part = cum[np.maximum(index, 0)]
    p_part[index < 0] = 0.0
    q_part = np.exp(bins.logpmf[bins.offset[group] + k])[:, None] * rows.omega[:count]
    return p_part + u[:, None] * q_part, q_part


def _split(rows: np.ndarray, roots: int) -> int:
    """How many of the blocking groups (most rows first) to multiply in one by one; the rest go in
    one dense block. One by one costs a fixed overhead per group, the block its full size."""
    ahead = np.concatenate([[0], np.cumsum(rows)]) * roots * 5 + np.arange(len(rows) + 1) * 20_000
    dense = (len(rows) - np.arange(len(rows) + 1)) * np.append(rows, 0) * roots * 8
    return int(np.argmin(ahead + dense))


def _blockers(bins: _Binomials, g: Groups, groups: np.ndarray, rows: _RowSet) -> np.ndarray:
    """[R, L']: prod over answers that are worth nothing when they win (they only block) of H^m."""
    reach = np.searchsorted(rows.k, bins.hi[groups], side="right")
    order = np.argsort(-reach, kind="stable")
    groups, reach = groups[order], reach[order]
    cut = _split(reach, len(rows.grid.j))
    value = np.ones(rows.omega.shape, dtype=complex)
    if cut < len(groups) and reach[cut]:
        top = int(reach[cut])
        h = _dense_factors(bins, groups[cut:], rows, top)
        mult = g.mult[groups[cut:]]
        many = mult >= 2
        if many.any():
            h[many] = np.power(h[many], mult[many][:, None, None])
        value[:top] = np.prod(h, axis=0)
    for a, count in zip(groups[:cut], reach[:cut]):
        if count:
            h, _ = _factor(bins, int(a), rows, int(count))
            value[:count] *= h if g.mult[a] == 1 else np.power(h, int(g.mult[a]))
    return value


def _products(g: Groups, bins: _Binomials, groups: np.ndarray, rows: _RowSet) -> np.ndarray:
    """[Q, R, L']: for the rows, the derivative of prod_g (H_g + t w_g Q_g)^m_g at t = 0: one
    marked answer (the candidate at level k, worth w_g) and the others at most k.

    Answers worth nothing (usually all but the right one) only block: their product is taken once;
    the few that are worth something are carried dual-number style, (V1, D1)(V2, D2) = (V1 V2,
    D1 V2 + V1 D2). A group enters only the rows whose level it can reach (a prefix: rows are
    sorted by level); elsewhere its factor is the free binomial's.
    """
    worth = g.weight[groups].any(axis=1)
    value = _blockers(bins, g, groups[~worth], rows)
    deriv = np.zeros((g.weight.shape[1],) + value.shape, dtype=complex)
    for a in groups[worth]:
        count = int(np.searchsorted(rows.k, bins.hi[a], side="right"))
        if not count:
            continue
        h, q = _factor(bins, int(a), rows, count)
        mult = int(g.mult[a])
        h_less = np.power(h, mult - 1) if mult > 1 else np.ones_like(h)
        h_all = h_less * h
        deriv[:, :count] = deriv[:, :count] * h_all + g.weight[a][:, None, None] * (value[:count] * mult * q * h_less)
        value[:count] *= h_all
    return deriv


def _prune_blockers(g: Groups, bins: _Binomials, blockers: np.ndarray, worth: np.ndarray,
                    ks: np.ndarray) -> _Binomials:
    """The windows with each blocker's top lowered to the last level k where it still matters:
    treating a blocker as free at k misses at most P(Y_b >= k) * sum_w P(Y_w = k) (w: the answers
    worth something, independent under the binomial law), dropped where below e^LOG_TAIL."""
    pmf = np.exp(bins.logpmf)
    surv = np.concatenate([np.cumsum(pmf[o : o + c + 1][::-1])[::-1] for o, c in zip(bins.offset, g.counts)])
    index = bins.offset[:, None] + np.minimum(ks[None, :], g.counts[:, None])
    tail = np.where(ks[None, :] <= g.counts[:, None], surv[index], 0.0)  # [G, K]: P(Y_g >= k)
    at_k = (g.mult[worth, None] * np.where(ks[None, :] <= g.counts[worth, None], pmf[index[worth]], 0.0)).sum(0)
    matters = np.log(np.maximum(tail[blockers] * at_k[None, :], 1e-300)) >= LOG_TAIL
    last = np.where(matters.any(axis=1), ks[len(ks) - 1 - np.argmax(matters[:, ::-1], axis=1)], ks[0] - 1)
    hi = bins.hi.copy()
    hi[blockers] = np.minimum(hi[blockers], last)
    return _Binomials(bins.logpmf, bins.offset, bins.lo, hi)


def _fourier_part(g: Groups, bins: _Binomials, ks: np.ndarray, degree: np.ndarray, n: int,
                  p: float, lf: np.ndarray) -> np.ndarray:
    """[Q]: sum over levels ks (each with >= 2 answers able to reach it) of the weighted win mass,
    times P(Binomial(M, p) = N): the u-quadrature and the free samples' (q + p omega)^F applied per
    row, then the coefficient of z^N read off the roots. Levels no answer worth something can
    reach add nothing and are skipped."""
    groups = np.flatnonzero(bins.hi >= ks[0])
    worth = g.weight[groups].any(axis=1)
    if not worth.any():
        return np.zeros(g.weight.shape[1])
    keep = ks <= bins.hi[groups[worth]].max()
    ks, degree = ks[keep], degree[keep]
    bins = _prune_blockers(g, bins, groups[~worth], groups[worth], ks)
    size = _roots(g.pool, n, p, lf)
    grid = _Grid(size, np.exp(2j * np.pi * np.arange(size) / size), np.arange(size // 2 + 1))
    k_rows, u_rows, w_rows = _rows(ks, degree)
    log_free_base = np.log((1 - p) + p * grid.power(np.array(1)))
    total = np.zeros((g.weight.shape[1], len(grid.j)), dtype=complex)
    step = max(_CHUNK // (len(grid.j) * min(len(groups), 16)), 1)
    for start in range(0, len(k_rows), step):
        k, u, w = (a[start : start + step] for a in (k_rows, u_rows, w_rows))
        deriv = _products(g, bins, groups, _RowSet(k, u, grid.power(k), grid))
        free = g.pool - ((k[None, :] <= bins.hi[groups, None]) * (g.mult * g.counts)[groups, None]).sum(axis=0)
        scale = w[:, None] * np.exp(free[:, None] * log_free_base[None, :])
        total += (deriv * scale).sum(axis=1)
    return grid.coefficient(total, n)


def _at_level(g: Groups, bins: _Binomials, ks: np.ndarray) -> np.ndarray:
    """[levels]: sum over answers of P(Y_b = k) under the independent law (the expected ties at k)."""
    able = np.flatnonzero(bins.hi >= ks[0])
    inside = (ks[None, :] >= bins.lo[able, None]) & (ks[None, :] <= bins.hi[able, None])
    index = bins.offset[able, None] + np.where(inside, ks[None, :], bins.lo[able, None])
    return (g.mult[able, None] * np.where(inside, np.exp(bins.logpmf[index]), 0.0)).sum(axis=0)


def majority_at(g: Groups, n: int) -> np.ndarray:
    """[Q]: expected weight of the majority winner of a uniform n-subset (ties split, nulls never win)."""
    m, out = g.pool, np.zeros(g.weight.shape[1])
    if not len(g.counts):
        return out
    if n >= m:  # everything drawn: the answers of the largest count share the win
        return g.weight[-1].copy()
    p, lf = n / m, _log_factorials(m + 1)
    bins = _binomials(g.counts, p, lf)
    k_lo, k_hi = max(1, int(bins.lo.max())), min(int(bins.hi.max()), n)
    if k_hi < k_lo:
        return out
    ks = np.arange(k_lo, k_hi + 1)
    able = bins.hi >= k_lo
    reach_count = np.bincount(np.minimum(bins.hi[able], k_hi) - k_lo, weights=g.mult[able], minlength=len(ks))
    members = np.cumsum(reach_count[::-1])[::-1].astype(np.int64)  # answers that can reach each k
    alone = members == 1  # a suffix of the levels: only the top answer can be drawn that often
    if alone.any():
        top = int(np.argmax(bins.hi))
        c, k = int(g.counts[top]), ks[alone]
        k = k[(n - k >= 0) & (n - k <= m - c)]
        log_hyp = lf[c] - lf[k] - lf[c - k] + lf[m - c] - lf[n - k] - lf[m - c - n + k]
        out += g.weight[top] * np.exp(log_hyp - (lf[m] - lf[n] - lf[m - n])).sum()
    if (~alone).any():
        log_pn = lf[m] - lf[n] - lf[m - n] + n * np.log(p) + (m - n) * np.log1p(-p)
        ks, members = ks[~alone], members[~alone]
        degree = _tie_degree(_at_level(g, bins, ks), members, ks, n)
        out += _fourier_part(g, bins, ks, degree, n, p, lf) * np.exp(-log_pn)
    return out
