"""Compiled weighted vote over permutation prefixes, for large pools (``ttc.subsampling``).

Two kernels, each one pass over the samples of every trial:

- ``prefix_orders``: the first L samples of ``trials`` uniform permutations of M, by a partial
  Fisher-Yates shuffle driven by a stream of random 32-bit words (drawn by numpy's Generator, so
  each problem keeps its own seeded stream). Position i swaps in a uniform integer of [i, M), from
  Lemire's multiply-shift with rejection: exactly uniform, no modulo bias. The shuffled array is
  not reset between trials: whatever its arrangement, fresh draws give a uniform ordered sample
  independent of the earlier trials, so the trials are i.i.d.
- ``vote_on_orders``: the weighted vote (scores >= 0, nulls never chosen) on every recorded prefix
  of each order. Totals only grow, so the leaders (the answers whose total equals the largest) are
  kept up to date sample by sample; at a recorded prefix the value is the mean over the tied
  leaders of their drawn samples' mean measures (the even split of a tie, as ``ttc.selection``),
  as the answer's pool mean plus its drawn samples' mean deviation (only answers whose measures
  vary are tallied: usually the right answer alone).

Cost: O(L) per trial, independent of the number of answers (an answer's tallies are reset when a
trial first draws it).
"""

from __future__ import annotations

import numba
import numpy as np

njit = numba.njit(cache=True, nogil=True)

_LOW = np.uint64(0xFFFFFFFF)
_SHIFT = np.uint64(32)


@njit
def _bounded(bits, pos, k):
    """(uniform integer in [0, k), next position in bits); -1 when bits run out. Lemire (2019)."""
    kk = np.uint64(k)
    if pos >= len(bits):
        return -1, pos
    product = np.uint64(bits[pos]) * kk
    pos += 1
    low = product & _LOW
    if low < kk:
        threshold = (np.uint64(1) << _SHIFT) % kk  # 2^32 mod k: the values to reject
        while low < threshold:
            if pos >= len(bits):
                return -1, pos
            product = np.uint64(bits[pos]) * kk
            pos += 1
            low = product & _LOW
    return np.int64(product >> _SHIFT), pos


@njit
def prefix_orders(m, lengths, bits):
    """([trials, max length] int32 orders, ok): row t holds the first lengths[t] samples of a
    uniform permutation (the rest is unset); ok is False when ``bits`` ran out (draw more, redo)."""
    perm = np.arange(m).astype(np.int32)
    out = np.zeros((len(lengths), max(lengths.max(), 0)), np.int32)
    pos = 0
    for t in range(len(lengths)):
        for i in range(lengths[t]):
            j, pos = _bounded(bits, pos, m - i)
            if j < 0:
                return out, False
            j += i
            swap = perm[j]
            perm[j] = perm[i]
            perm[i] = swap
            out[t, i] = swap
    return out, True


@njit
def _record(values, t, e, leaders, n_leaders, base, count, msum):
    """values[t, e] = mean over the leaders of their drawn samples' mean measures (0 if none):
    the answer's pool mean plus its drawn samples' mean deviation from it."""
    for q in range(values.shape[2]):
        acc = 0.0
        for i in range(n_leaders):
            a = leaders[i]
            acc += base[a, q] + (msum[a, q] / count[a] if count[a] else 0.0)
        values[t, e, q] = acc / n_leaders if n_leaders else 0.0


@njit
def vote_on_orders(orders, answers, scores, dev, varies, base, ends, counts):
    """[trials, len(ends), Q]: the weighted vote's value on the first ends[e] samples of each order,
    for the trials t < counts[e] (0 elsewhere; ``ends`` ascending, row t's order at least as long
    as its largest such end). base [answers, Q]: each answer's pool mean measure; dev [samples, Q]:
    each sample's measure less its answer's mean; varies [samples]: whether the sample's answer has
    measures that vary (only those samples are tallied)."""
    trials, n_answers, n_meas = orders.shape[0], base.shape[0], base.shape[1]
    values = np.zeros((trials, len(ends), n_meas))
    total, count = np.zeros(n_answers), np.zeros(n_answers)
    msum = np.zeros((n_answers, n_meas))
    stamp = np.full(n_answers, -1, np.int64)  # the trial whose tallies total/count/msum hold
    mark = np.zeros(n_answers, np.int64)  # == epoch: the answer is among the current leaders
    leaders = np.empty(n_answers, np.int64)
    epoch = 0
    for t in range(trials):
        row = orders[t]
        top, n_leaders, epoch, done = -np.inf, 0, epoch + 1, 0
        for e in range(len(ends)):
            if t >= counts[e]:
                continue
            for i in range(done, ends[e]):
                j = row[i]
                a = answers[j]
                if a < 0:
                    continue
                if stamp[a] != t:
                    stamp[a], total[a], count[a] = t, 0.0, 0.0
                    msum[a, :] = 0.0
                x = total[a] + scores[j]
                total[a] = x
                if varies[j]:
                    count[a] += 1
                    for q in range(n_meas):
                        msum[a, q] += dev[j, q]
                if x >= top:
                    if x > top:  # a new strict leader: the only one
                        top, epoch, n_leaders = x, epoch + 1, 0
                    if mark[a] != epoch:
                        mark[a], leaders[n_leaders], n_leaders = epoch, a, n_leaders + 1
            done = ends[e]
            _record(values, t, e, leaders, n_leaders, base, count, msum)
    return values
