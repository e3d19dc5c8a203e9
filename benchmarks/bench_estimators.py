"""Every curve (every rule, every N from 1 to M) for a synthetic 500 x 1,860 pool, against a
reference loop in the style of PRM800K's eval (shuffle, take the first N, arg-max, 400 trials).

    python benchmarks/bench_estimators.py            # the full run (a few minutes on 2 cores)
    python benchmarks/bench_estimators.py --problems 40 --samples 300 --ref-problems 5   # smoke

The reference loop is pure Python like PRM800K's eval.py; over all 1,860 N it would take days,
so it runs on a subset of problems and N (all 400 trials) and its time is extrapolated linearly in
problems x N, which the output states. Errors are of the problem-averaged accuracy (the plotted
quantity), against the exact value over the same problems.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections import Counter

import numpy as np

from ttc.estimators import EXACT, ProblemArrays, subsample_values


def synthetic_pool(n_problems: int, n_samples: int, seed: int) -> list[ProblemArrays]:
    """MATH-like pools: per-problem difficulty, a Zipf tail of wrong answers, 5% null answers,
    ORM-like scores in (0, 1) that favour right answers, 80% of right answers process-correct."""
    rng = np.random.default_rng(seed)
    problems = []
    for _ in range(n_problems):
        p_right = rng.beta(0.7, 0.7)
        zipf = np.arange(1, 2001) ** -rng.uniform(0.6, 2.0)  # few common wrong answers + singletons
        answers = 1 + rng.choice(2000, size=n_samples, p=zipf / zipf.sum())
        right = rng.random(n_samples) < p_right
        answers[right] = 0
        answers[rng.random(n_samples) < 0.05] = -1
        right &= answers == 0
        _, ids = np.unique(answers[answers >= 0], return_inverse=True)
        answer_ids = np.full(n_samples, -1)
        answer_ids[answers >= 0] = ids
        scores = 1 / (1 + np.exp(-(rng.normal(size=n_samples) + 1.5 * right)))
        process_ok = right & (rng.random(n_samples) < 0.8)
        measures = np.stack([right, right & ~process_ok], axis=1).astype(float)
        problems.append(ProblemArrays(answer_ids, scores, right, measures))
    return problems


def reference_loop(problems, ns, rule: str, trials: int, seed: int) -> np.ndarray:
    """PRM800K eval.py's loop: per trial, N and problem, shuffle the pool, keep the first N, drop
    null answers, choose (arg-max score, or the most common answer), record correctness."""
    random.seed(seed)
    pools = [
        [(int(a), float(s), bool(c)) for a, s, c in zip(p.answer_ids, p.scores, p.is_correct)]
        for p in problems
    ]
    acc = np.zeros((trials, len(ns)))
    for t in range(trials):
        for j, n in enumerate(ns):
            right = 0
            for pool in pools:
                pool = list(pool)
                random.shuffle(pool)
                sub = [x for x in pool[:n] if x[0] >= 0]
                if not sub:
                    continue
                if rule == "best_of_n":
                    right += max(sub, key=lambda x: x[1])[2]
                else:
                    winner = Counter(x[0] for x in sub).most_common(1)[0][0]
                    right += next(x[2] for x in sub if x[0] == winner)
            acc[t, j] = right / len(pools)
    return acc.mean(axis=0)


def timed(fn):
    """(result, (wall seconds, CPU seconds of this process)); CPU time is what load cannot inflate."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, np.array([time.perf_counter() - wall, time.process_time() - cpu])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", type=int, default=500)
    parser.add_argument("--samples", type=int, default=1860)
    parser.add_argument("--trials", type=int, default=400)
    parser.add_argument("--ref-problems", type=int, default=10, help="problems the reference loop runs on")
    parser.add_argument("--ref-ns", type=int, default=8, help="evenly spaced N the reference loop runs on")
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    load_start = os.getloadavg()[0]
    problems = synthetic_pool(args.problems, args.samples, args.seed)
    ns = np.arange(1, args.samples + 1)
    exact, t_exact = {}, {}
    for rule in ("single", "best_of_n", "coverage", "majority"):
        values, t_exact[rule] = timed(lambda rule=rule: EXACT[rule](problems, ns))
        exact[rule] = values[:, :, 0].mean(axis=0)  # [ns] accuracy
    sub, t_sub, mc = {}, {}, {}
    for rule in ("best_of_n", "majority", "weighted_vote", "top_k_vote"):
        (values, var), t_sub[rule] = timed(
            lambda rule=rule: subsample_values(
                rule, problems, ns, trials=args.trials, seed=args.seed, top_k=args.top_k
            )
        )
        sub[rule] = values[:, :, 0].mean(axis=0)
        mc[rule] = np.sqrt(var[:, :, 0].sum(axis=0)).max() / len(problems)

    ref_ns = np.unique(np.linspace(1, args.samples, args.ref_ns).round().astype(int))
    ref_probs = problems[: args.ref_problems]
    scale = (args.problems / len(ref_probs)) * (len(ns) / len(ref_ns))
    ref, t_ref = {}, {}
    for rule in ("best_of_n", "majority"):
        acc, t = timed(lambda rule=rule: reference_loop(ref_probs, ref_ns, rule, args.trials, args.seed))
        exact_sub = EXACT[rule](ref_probs, ref_ns)[:, :, 0].mean(axis=0)
        ref[rule], t_ref[rule] = np.abs(acc - exact_sub).max(), t * scale

    print(
        f"machine: {os.cpu_count()} cores; 1-min load average {load_start:.1f} at start, "
        f"{os.getloadavg()[0]:.1f} at end; other jobs share the cores, so ratios use CPU time"
    )
    print(
        f"pool: {args.problems} problems x {args.samples} samples (synthetic, seed {args.seed}); "
        f"every N from 1 to {args.samples}; {args.trials} trials for subsampling; top-k k={args.top_k}"
    )
    print(
        f"reference loop: ran on {len(ref_probs)} problems x {len(ref_ns)} N ({', '.join(map(str, ref_ns))}) "
        f"x {args.trials} trials; time extrapolated x{scale:.0f} to all problems and N"
    )
    header = (
        f"{'method':<44} {'rule':<14} {'wall (s)':>11} {'CPU (s)':>11} {'ratio (CPU)':>12} "
        f"{'max abs error vs exact':>24}"
    )
    print(header)
    print("-" * len(header))

    def row(method, rule, seconds, ratio, err):
        ratio_s = f"{ratio[1]:,.0f}x" if ratio is not None else "-"
        print(f"{method:<44} {rule:<14} {seconds[0]:>11,.2f} {seconds[1]:>11,.2f} {ratio_s:>12} {err:>24}")

    for rule in ("best_of_n", "majority"):
        row(
            "reference loop, PRM800K style (extrapolated)",
            rule,
            t_ref[rule],
            np.ones(2),
            f"{ref[rule]:.4f} (on its subset)",
        )
    for rule in ("single", "best_of_n", "coverage", "majority"):
        ratio = t_ref[rule] / t_exact[rule] if rule in t_ref else None
        row(
            "exact" + (" (counting)" if rule == "majority" else " (closed form)"),
            rule,
            t_exact[rule],
            ratio,
            "0 (is exact)",
        )
    for rule in ("best_of_n", "majority", "weighted_vote", "top_k_vote"):
        ratio = t_ref[rule] / t_sub[rule] if rule in t_ref else None
        err = f"{np.abs(sub[rule] - exact[rule]).max():.4f}" if rule in exact else "no exact value"
        row(
            f"prefix subsampling, {args.trials} trials",
            rule,
            t_sub[rule],
            ratio,
            f"{err} (mc_se<={mc[rule]:.4f})",
        )
    exact_total = sum(t_exact[r] for r in ("best_of_n", "majority"))
    row("exact path: best_of_n + majority", "", exact_total, sum(t_ref.values()) / exact_total, "0")
    row(
        "exact path: all exact rules",
        "",
        sum(t_exact.values()),
        sum(t_ref.values()) / sum(t_exact.values()),
        "0",
    )


if __name__ == "__main__":
    main()
