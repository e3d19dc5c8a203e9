"""Weighted-vote subsampling: the blocked vote of ``ttc.subsampling`` against a sample-by-sample update.

Both run the same permutations (400 trials per problem) of the same pool and record the same prefix
lengths; the baseline updates every row's vote totals one sample at a time (the algorithm before the
blocked one: 256 vectorised steps of fancy-indexed updates), the blocked vote adds each block of
samples between recorded prefixes with one ``np.bincount`` per quantity and reads the leaders with a
segmented maximum. Prints seconds, the ratio, and the largest difference of the estimates.

    python benchmarks/bench_vote.py                      # 400 problems x 256 samples, 30 answers
    python benchmarks/bench_vote.py --problems 50 --samples 64   # smoke
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from ttc import subsampling
from ttc.problem_arrays import ProblemArrays
from ttc.selection import NULL_ANSWER


def sequential_vote_prefix(block, rows, slot_base, n_slots, n_meas, ts, record):
    """Baseline: one sample per row per step, totals updated with fancy indexing."""
    total, count = np.zeros(n_slots), np.zeros(n_slots)
    msum = np.zeros((n_slots, n_meas))
    lead = np.full(rows, -np.inf)
    tie_n, tie_sum = np.zeros(rows), np.zeros((rows, n_meas))
    want = set(ts)
    for t in range(max(ts) + 1):
        answers, scores, meas = (x[:, 0] for x in block(t, t + 1))
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
        if tie.any():
            stay, join = tie & was_leading, tie & ~was_leading
            old_mean = (msum[a[stay]] - meas[stay]) / np.maximum(before[stay], 1)[:, None]
            tie_sum[r[stay]] += new_mean[stay] - old_mean
            tie_n[r[join]] += 1
            tie_sum[r[join]] += new_mean[join]
        if t in want:
            record(t, tie_sum / np.maximum(tie_n, 1)[:, None])


def pool(n_problems: int, n_samples: int, n_answers: int, seed: int) -> list[ProblemArrays]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_problems):
        answers = rng.integers(-1, n_answers, size=n_samples)
        right = answers == 0
        meas = np.stack([right, right & (rng.random(n_samples) < 0.8)], 1).astype(float)
        out.append(ProblemArrays(answers, rng.random(n_samples), right, meas))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", type=int, default=400)
    ap.add_argument("--samples", type=int, default=256)
    ap.add_argument("--answers", type=int, default=30)
    ap.add_argument("--trials", type=int, default=400)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    problems = pool(args.problems, args.samples, args.answers, seed=0)
    ns = 2 ** np.arange(int(np.log2(args.samples)) + 1)
    print(f"# {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; {args.problems} problems x "
          f"{args.samples} samples, {args.answers} answers, {args.trials} trials, N = {list(map(int, ns))}; "
          f"median of {args.repeats}")
    blocked = subsampling._vote_prefix
    results, times = {}, {}
    for name, fn in (("sample by sample", sequential_vote_prefix), ("blocked (ttc)", blocked)):
        subsampling._vote_prefix = fn
        runs = []
        try:
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                results[name] = subsampling.subsample_values("weighted_vote", problems, ns, trials=args.trials)[0]
                runs.append(time.perf_counter() - t0)
        finally:
            subsampling._vote_prefix = blocked
        times[name] = float(np.median(runs))
    base = times["sample by sample"]
    print(f"{'method':<18} {'seconds':>8} {'ratio':>7}")
    for name, t in times.items():
        print(f"{name:<18} {t:8.2f} {base / t:6.2f}x")
    diff = np.nanmax(np.abs(results["sample by sample"] - results["blocked (ttc)"]))
    print(f"largest difference of the per-problem estimates: {diff:.1e}")


if __name__ == "__main__":
    main()
