"""Accuracy at every N for every selection rule, from one pool: ``python -m ttc.evaluate``.

    python -m ttc.evaluate POOL.jsonl --rules majority,best_of_n,weighted_vote,coverage \\
        --n 1,2,4,8 --out curves.csv

Library entry points: ``curves(pool_frame, rules, ns)`` -> tidy DataFrame, one row per (rule, n);
``curves_by_problem(pool_frame, rules, ns)`` -> the per-problem values ``curves`` averages, one row
per (rule, n, problem_id). Both run the same estimation (``_estimate``).
The CLI is the only place that prints or writes; it writes the CSV (and ``<out>.json`` with the
command line and options) atomically, and only after every check has passed. Any malformed input
is one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

import ttc
from ttc.cache import atomic_write_text
from ttc.estimators import ProblemArrays, summarize
from ttc.evaluate_jobs import MAX_JOBS, estimate
from ttc.pool_io import PoolError, read_pool
from ttc.selection import PRM_AGGREGATIONS, REGISTRY, RuleSpec, aggregate_step_scores


def _rule_spec(rule: str | RuleSpec) -> RuleSpec:
    """A RuleSpec as given, or parsed from ``rule`` / ``rule:scorer`` (which reads column score_<scorer>)."""
    if isinstance(rule, RuleSpec):
        return rule
    try:
        return RuleSpec.parse(rule)
    except ValueError as err:
        raise PoolError(str(err)) from None


def _problem_arrays(pool: pd.DataFrame) -> tuple[list[ProblemArrays], list[str], list]:
    """Per-problem arrays without scores, the measures (accuracy and, if known, false positives) and
    the problem ids, in the same (sorted) order as the arrays."""
    process = "process_correct" in pool.columns and bool(pool["process_correct"].notna().all())
    measures = ["accuracy"] + (["false_positive_rate"] if process else [])
    problems, ids = [], []
    for problem_id, group in pool.groupby("problem_id", sort=True):
        ids.append(problem_id)
        answer_ids = pd.factorize(group["answer"].to_numpy(dtype=object), use_na_sentinel=True)[0]
        correct = group["is_correct"].to_numpy(dtype=bool) & (answer_ids >= 0)
        cols = [correct]
        if process:
            cols.append(correct & ~group["process_correct"].to_numpy(dtype=bool))
        problems.append(
            ProblemArrays(
                answer_ids.astype(np.int64),
                np.full(len(group), np.nan),
                correct,
                np.stack(cols, axis=1).astype(float),
            )
        )
    return problems, measures, ids


def _scores(pool: pd.DataFrame, spec: RuleSpec) -> np.ndarray:
    if spec.score not in pool.columns:
        raise PoolError(
            f"rule '{spec.rule}' needs a score but the pool has no '{spec.score}' column; "
            "pass --score COLUMN, or --step-scores COLUMN with --prm-agg prod|min|last|mean"
        )
    if spec.prm_agg is not None:
        if spec.prm_agg not in PRM_AGGREGATIONS:
            raise PoolError(f"unknown --prm-agg '{spec.prm_agg}'; use one of {', '.join(PRM_AGGREGATIONS)}")
        values = aggregate_step_scores(list(pool[spec.score]), spec.prm_agg)
    elif pool[spec.score].dtype == object:
        raise PoolError(f"column '{spec.score}' holds lists; choose --prm-agg to aggregate step scores")
    else:
        values = pool[spec.score].to_numpy(dtype=float)
    if not np.isfinite(values).all():
        raise PoolError(f"column '{spec.score}' gives NaN or infinite scores; scores must be finite")
    if spec.rule == "weighted_vote" and values.min() < 0:
        raise PoolError(
            f"weighted_vote sums scores per answer and needs scores >= 0, but '{spec.score}' has "
            f"{values.min():.4g}; use a probability-like score (e.g. a verifier's, or exp(logprob))"
        )
    return values


def check_request(pool: pd.DataFrame, rules: Sequence[RuleSpec], ns: Sequence[int] | np.ndarray,
                  skip_short: bool) -> None:
    """Every check that can fail before estimating (raises PoolError, one line)."""
    for spec in rules:
        if spec.rule not in REGISTRY:
            raise PoolError(f"unknown rule '{spec.rule}'; known rules: {', '.join(REGISTRY)}")
        if spec.rule == "top_k_vote" and spec.top_k < 1:
            raise PoolError(f"top_k_vote needs k >= 1, got {spec.top_k}")
    if not len(ns) or min(ns) < 1:
        raise PoolError("--n needs positive sample counts, e.g. --n 1,2,4,8")
    sizes = pool.groupby("problem_id").size()
    short = sizes[sizes < max(ns)]
    if len(short) and not skip_short:
        shown = ", ".join(str(p) for p in short.index[:5]) + (" ..." if len(short) > 5 else "")
        raise PoolError(
            f"{len(short)} problem(s) have fewer than N={max(ns)} samples ({shown}; smallest pool "
            f"{sizes.min()}); lower --n or pass --skip-short to leave them out of those N"
        )
    if sizes.max() < max(ns):
        raise PoolError(f"no problem has N={max(ns)} samples (largest pool {sizes.max()}); lower --n")


@dataclass(frozen=True)
class _Estimate:
    """One rule's per-problem estimates: values and mc_var are [problems, len(ns), measures]."""

    spec: RuleSpec
    values: np.ndarray  # expected measure (fraction in [0, 1]); NaN where N exceeds a problem's pool
    mc_var: np.ndarray | None  # Monte-Carlo variance of values (None for exact rules)
    method: str  # exact | subsample


def _estimate(
    pool: pd.DataFrame,
    rules: Sequence[str | RuleSpec],
    ns: Sequence[int],
    *,
    trials: int,
    seed: int,
    skip_short: bool,
    jobs: int = 1,
) -> tuple[np.ndarray, list, list[str], list[_Estimate]]:
    """The one estimation path of curves and curves_by_problem.

    Returns (sorted distinct ns, problem ids in row order, measure names, one _Estimate per rule).
    """
    specs = [_rule_spec(r) for r in rules]
    ns_arr = np.array(sorted({int(n) for n in ns}))
    check_request(pool, specs, ns_arr, skip_short)
    pool = pool.sort_values(["problem_id", "sample_idx"], kind="stable")
    scored = {spec: _scores(pool, spec) for spec in specs if REGISTRY[spec.rule].needs_score}
    base, measures, ids = _problem_arrays(pool)
    bounds = np.cumsum([0] + [len(p.answer_ids) for p in base])
    estimates = []
    for spec in specs:
        problems = base
        if spec in scored:
            problems = [replace(p, scores=scored[spec][a:b]) for p, a, b in zip(base, bounds, bounds[1:])]
        exact = spec.info.method == "exact"  # the registry says which estimator a rule has
        # k >= N keeps every sample of the subset: the same values as k = max N, without k-wide arrays
        top_k = min(spec.top_k, int(ns_arr.max()))
        values, mc_var = estimate(spec.rule, exact, problems, ns_arr, trials=trials, seed=seed,
                                  top_k=top_k, jobs=jobs)
        estimates.append(_Estimate(spec, values, mc_var, "exact" if exact else "subsample"))
    return ns_arr, ids, measures, estimates


def curves(
    pool: pd.DataFrame,
    rules: Sequence[str | RuleSpec],
    ns: Sequence[int],
    *,
    trials: int = 400,
    seed: int = 0,
    confidence: float = 0.95,
    bootstrap: int = 0,
    skip_short: bool = False,
    jobs: int = 1,
) -> pd.DataFrame:
    """One row per (rule, n): accuracy with its SE and CI across problems, and more.

    pool: tidy samples as from ttc.pool_io.read_pool (problem_id, sample_idx, answer, is_correct,
    optional process_correct and score columns). Exact rules (single, majority, best_of_n, coverage)
    are expectations over uniformly random N-subsets; the others are estimated from ``trials``
    seeded permutations per problem, with ``mc_se`` their Monte-Carlo standard error. With
    skip_short, a problem enters only the N its pool can hold (see n_problems). Accuracies and
    rates are fractions of problems in [0, 1].
    """
    est = _estimate(pool, rules, ns, trials=trials, seed=seed, skip_short=skip_short, jobs=jobs)
    return _summary_table(est, confidence=confidence, bootstrap=bootstrap, seed=seed)


def curves_and_problems(
    pool: pd.DataFrame,
    rules: Sequence[str | RuleSpec],
    ns: Sequence[int],
    *,
    trials: int = 400,
    seed: int = 0,
    confidence: float = 0.95,
    bootstrap: int = 0,
    skip_short: bool = False,
    jobs: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(``curves(...)``, ``curves_by_problem(...)``) from one estimation (half the work of both calls)."""
    est = _estimate(pool, rules, ns, trials=trials, seed=seed, skip_short=skip_short, jobs=jobs)
    return _summary_table(est, confidence=confidence, bootstrap=bootstrap, seed=seed), _problem_table(est)


def _summary_table(estimated, *, confidence: float, bootstrap: int, seed: int) -> pd.DataFrame:
    ns_arr, _, measures, estimates = estimated
    rows = []
    for est in estimates:
        s = summarize(est.values, est.mc_var, confidence=confidence, bootstrap=bootstrap, seed=seed)
        frame = pd.DataFrame(
            {
                "rule": est.spec.name,
                "n": ns_arr,
                "accuracy": s.mean[:, 0],
                "ci_low": s.ci_low[:, 0],
                "ci_high": s.ci_high[:, 0],
                "n_problems": s.n_problems,
                "se": s.se[:, 0],
                "mc_se": s.mc_se[:, 0],
                "method": est.method,
            }
        )
        if "false_positive_rate" in measures:
            frame["false_positive_rate"], frame["false_positive_se"] = s.mean[:, 1], s.se[:, 1]
        rows.append(frame)
    return pd.concat(rows, ignore_index=True)


def curves_by_problem(
    pool: pd.DataFrame,
    rules: Sequence[str | RuleSpec],
    ns: Sequence[int],
    *,
    trials: int = 400,
    seed: int = 0,
    skip_short: bool = False,
    jobs: int = 1,
) -> pd.DataFrame:
    """One row per (rule, n, problem_id): the values ``curves`` averages into ``accuracy``.

    value: the rule's expected correctness at N on that problem (a probability in [0, 1], exact or
    the mean of ``trials`` seeded permutations, the same numbers as ``curves`` with the same
    arguments). false_positive (only when the pool has process_correct): the probability that the
    chosen answer is right but reached by a wrong process. A problem whose pool is smaller than N
    (possible with skip_short) has no row at that N. Rows are ordered by rule (as given), n, problem_id.
    """
    return _problem_table(_estimate(pool, rules, ns, trials=trials, seed=seed, skip_short=skip_short,
                                    jobs=jobs))


def _problem_table(estimated) -> pd.DataFrame:
    ns_arr, ids, measures, estimates = estimated
    n_problems, n_ns = len(ids), len(ns_arr)
    problem_ids = pd.Series(ids).to_numpy()
    frames = []
    for est in estimates:
        values = est.values.transpose(1, 0, 2).reshape(n_ns * n_problems, -1)  # n-major, problem-minor
        frame = pd.DataFrame(
            {
                "rule": est.spec.name,
                "n": np.repeat(ns_arr, n_problems),
                "problem_id": np.tile(problem_ids, n_ns),
                "value": values[:, 0],
            }
        )
        if "false_positive_rate" in measures:
            frame["false_positive"] = values[:, 1]
        frames.append(frame[~np.isnan(values[:, 0])])
    return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------- command line


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2 (argparse's own usage block is two+)
        raise PoolError(f"{message}; see python -m ttc.evaluate --help")


def _parse_ns(text: str) -> list[int]:
    ns = []
    for part in text.split(","):
        lo, dash, hi = part.partition("-")
        try:
            first, top = int(lo), int(hi) if dash else int(lo)
        except ValueError:
            raise PoolError(f"--n '{text}' is not a list of counts; write e.g. 1,2,4,8 or 1-64") from None
        if top > MAX_N:
            raise PoolError(f"--n '{text}': N = {top:,} is beyond {MAX_N:,}; no pool is that large")
        if top < first:
            raise PoolError(f"--n '{text}': the range {part.strip()} is empty; write it low-high, e.g. 1-64")
        ns += list(range(first, top + 1)) if dash else [first]
    return ns


MAX_N = 10_000_000  # samples per problem
MAX_BOOTSTRAP = 100_000
MAX_TRIALS = 100_000  # permutations per problem


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m ttc.evaluate", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("pool", help="pool of samples: .jsonl (see docs/pool_schema.md) or ttc .parquet")
    parser.add_argument(
        "--rules",
        default="majority,best_of_n,weighted_vote,coverage",
        help=f"comma-separated, from: {', '.join(REGISTRY)}",
    )
    parser.add_argument("--n", default="1,2,4,8", help="sample counts: 1,2,4,8 or ranges like 1-64")
    parser.add_argument("--out", required=True, help="CSV to write (and <out>.json with the options)")
    parser.add_argument("--score", default="score", help="column that plays 'score' (default: score)")
    parser.add_argument("--step-scores", default="step_scores", help="column of per-step scores")
    parser.add_argument(
        "--prm-agg",
        choices=sorted(PRM_AGGREGATIONS),
        default=None,
        help="score = this aggregate of the step scores instead of the score column",
    )
    parser.add_argument("--top-k", type=int, default=5, help="k for top_k_vote (default 5)")
    parser.add_argument("--trials", type=int, default=400, help="permutations per problem (subsampling)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--confidence", type=float, default=0.95)
    parser.add_argument("--bootstrap", type=int, default=0, help="bootstrap resamples for the CI (0: normal)")
    parser.add_argument("--jobs", type=int, default=1, help="processes to spread problems over (results "
                        "are identical to --jobs 1)")
    parser.add_argument(
        "--skip-short",
        action="store_true",
        help="leave a problem out of the N its pool cannot hold, instead of failing",
    )
    return parser


def _check_args(args: argparse.Namespace) -> list[str]:
    """The options' checks that need no pool (PoolError, one line); returns the rule names."""
    out = Path(args.out)
    if not out.parent.is_dir():
        raise PoolError(f"--out {out}: folder {out.parent} does not exist; create it first")
    if out.is_dir():
        raise PoolError(f"--out {out} is a folder; name the CSV file to write")
    if not os.access(out.parent, os.W_OK | os.X_OK):
        raise PoolError(f"--out {out}: folder {out.parent} is not writable; write elsewhere")
    meta = out.with_name(out.name + ".json")
    if meta.is_dir():
        raise PoolError(f"--out {out}: {meta} (where the options go) is a folder; move it or name another CSV")
    pool = Path(args.pool)
    for written in (out, meta):
        if pool.is_file() and written.exists() and os.path.samefile(written, pool):
            raise PoolError(f"--out {out} would overwrite the pool {pool}; name another CSV")
    rule_names = [r.strip() for r in args.rules.split(",") if r.strip()]
    if not rule_names:
        raise PoolError("--rules is empty; name at least one, e.g. --rules majority,best_of_n,coverage")
    if args.bootstrap > MAX_BOOTSTRAP:
        raise PoolError(f"--bootstrap {args.bootstrap:,}: at most {MAX_BOOTSTRAP:,} resamples (10,000 give "
                        "a stable 95% interval)")
    if not 1 <= args.jobs <= MAX_JOBS:
        raise PoolError(f"--jobs {args.jobs}: use 1 to {MAX_JOBS} processes (e.g. --jobs {os.cpu_count() or 1})")
    if args.trials < 2:
        raise PoolError(f"--trials {args.trials}: need at least 2 for a Monte-Carlo error")
    if args.trials > MAX_TRIALS:
        raise PoolError(f"--trials {args.trials:,}: at most {MAX_TRIALS:,} permutations per problem (400 give "
                        "a Monte-Carlo error near 0.025 per problem)")
    if args.seed < 0:
        raise PoolError(f"--seed {args.seed}: the seed must be >= 0")
    if not 0 < args.confidence < 1 or args.bootstrap < 0:
        raise PoolError("--confidence must lie in (0, 1) and --bootstrap be >= 0")
    return rule_names


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = parser.parse_args(argv)
        out = Path(args.out)
        rule_names = _check_args(args)
        pool = read_pool(args.pool, score=args.score, step_scores=args.step_scores)
        score_col, agg = ("step_scores", args.prm_agg) if args.prm_agg else ("score", None)
        specs = [RuleSpec(r, score=score_col, prm_agg=agg, top_k=args.top_k) for r in rule_names]
        table = curves(
            pool,
            specs,
            _parse_ns(args.n),
            trials=args.trials,
            seed=args.seed,
            confidence=args.confidence,
            bootstrap=args.bootstrap,
            skip_short=args.skip_short,
            jobs=args.jobs,
        )
    except PoolError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    meta = {
        "command": ["python", "-m", "ttc.evaluate", *argv],
        "options": vars(args),
        "pool_sha256": hashlib.sha256(Path(args.pool).read_bytes()).hexdigest(),
        "ttc_version": ttc.__version__,
    }
    atomic_write_text(out, table.to_csv(index=False, float_format="%.10g"))
    atomic_write_text(out.with_name(out.name + ".json"), json.dumps(meta, indent=2) + "\n")
    print(f"wrote {out} ({len(table)} rows, {int(table['n_problems'].max())} problems)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
