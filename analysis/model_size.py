"""Cobbe's "a verifier is worth k× model size": the horizontal distance between curves.

    python -m analysis.model_size CURVES.csv [--per-problem FILE] [--rules r1,r2] [--n N]
        [--split test] [--confidence 0.95] [--n-boot 2000] [--seed 0] [--out FILE.csv]

Input ``curves``: one row per (generator, rule, n) with columns ``generator, params, rule, n,
accuracy`` (params: P, the generator's non-embedding parameter count; accuracy: fraction of problems
in [0, 1]) and optionally ``split``, ``role`` (filtered by ``final_test_curves``) and ``se`` (standard
error of accuracy, for the parametric bootstrap). The single-sample curve is the ``rule == "single"``,
``n == 1`` rows, one per generator, sorted by params and made monotone non-decreasing by isotonic
regression (pool-adjacent-violators, equal weights); it is interpolated linearly in log10(P).

For a selection rule's accuracy a at N on generator P: P' = the least params at which the monotone
single-sample curve reaches a (on a flat segment, its left end), multiplier = P'/P. ``kind``:
``interpolated`` (a within the curve's range), ``lower_bound`` (a above its maximum: the multiplier
is at least P_max/P, which is what is reported), ``upper_bound`` (a below its minimum: at most P_min/P).

The CLI applies the same role/split filter to the per-problem table (columns ``generator, rule, n,
problem_id, value``: ``ttc.evaluate.curves_by_problem`` per generator, with a generator column).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

REQUIRED = ("generator", "params", "rule", "n", "accuracy")
PER_PROBLEM = ("generator", "rule", "n", "problem_id", "value")
EXCLUDED = ("single", "coverage")  # not selection rules: the baseline and the oracle ceiling
KINDS = {-1: "upper_bound", 0: "interpolated", 1: "lower_bound"}
OUTPUT = ["generator", "params", "rule", "n", "accuracy", "single_accuracy", "equivalent_params",
          "multiplier", "kind", "ci_low", "ci_high", "ci_method", "boot_lower_bound_share"]


class ModelSizeError(ValueError):
    """Unusable input; the message is one line naming the problem and the fix."""


def final_test_curves(curves: pd.DataFrame, split: str = "test") -> pd.DataFrame:
    """Rows with role == "final" and split == ``split``, each filter applied only if its column exists."""
    keep = np.ones(len(curves), dtype=bool)
    if "role" in curves.columns:
        keep &= (curves["role"] == "final").to_numpy()
    if "split" in curves.columns:
        keep &= (curves["split"] == split).to_numpy()
    return curves[keep]


def pava(y: np.ndarray) -> np.ndarray:
    """Isotonic (non-decreasing) least-squares fit of the sequence y, equal weights.

    Pool-adjacent-violators: scan left to right keeping blocks (mean, size); while the last block's
    mean is below the one before it, merge the two. Same units as y.
    """
    means: list[float] = []
    sizes: list[int] = []
    for value in np.asarray(y, dtype=float):
        means.append(float(value))
        sizes.append(1)
        while len(means) > 1 and means[-2] > means[-1]:
            size = sizes[-2] + sizes[-1]
            means[-2] = (means[-2] * sizes[-2] + means[-1] * sizes[-1]) / size
            sizes[-2] = size
            del means[-1], sizes[-1]
    return np.repeat(means, sizes)


def equivalent_log_params(
    log_params: np.ndarray, curve: np.ndarray, accuracy: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """log10 of the least params at which a monotone curve reaches each accuracy, and its kind.

    log_params [G]: log10(P), increasing. curve [..., G]: non-decreasing accuracies at log_params.
    accuracy [..., T]: queried accuracies (same leading shape as curve). Returns (log10 P' [..., T],
    kind [..., T]: 0 interpolated, 1 lower bound (above the curve: log10 P_max), -1 upper bound (below
    it: log10 P_min)). Linear in log10(P) between points; on a flat segment, its left end.
    """
    below = curve[..., None, :] < accuracy[..., None]  # [..., T, G]
    k = below.sum(axis=-1)  # the first point reaching the accuracy (curve is sorted)
    g = len(log_params)
    lo, hi = np.clip(k - 1, 0, g - 1), np.clip(k, 0, g - 1)
    y_lo, y_hi = np.take_along_axis(curve, lo, axis=-1), np.take_along_axis(curve, hi, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(y_hi > y_lo, (accuracy - y_lo) / (y_hi - y_lo), 0.0)
    log_equiv = log_params[lo] + frac * (log_params[hi] - log_params[lo])
    kind = np.where(k == g, 1, np.where((k == 0) & (accuracy < curve[..., :1]), -1, 0))
    log_equiv = np.where(k == 0, log_params[0], np.where(k == g, log_params[-1], log_equiv))
    return log_equiv, kind


def _check(
    curves: pd.DataFrame, rules: Sequence[str] | None, n: int | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(single rows sorted by params, target rows): validated, or ModelSizeError."""
    missing = [c for c in REQUIRED if c not in curves.columns]
    if missing:
        raise ModelSizeError(f"curves lack column(s) {', '.join(missing)}; need {', '.join(REQUIRED)}")
    for col in ("params", "n", "accuracy"):
        if not pd.api.types.is_numeric_dtype(curves[col]):
            raise ModelSizeError(f"column '{col}' is not numeric; write numbers there")
    for col in ("params", "n", "accuracy"):
        bad = ~np.isfinite(curves[col].to_numpy(dtype=float))
        if bad.any():
            row = curves[bad].iloc[0]
            raise ModelSizeError(f"column '{col}' has a missing or infinite value (generator {row['generator']}, "
                                 f"rule {row['rule']}); fill it or drop that row")
    if not (curves["params"] > 0).all():
        raise ModelSizeError("column 'params' has values <= 0; params must be positive parameter counts")
    if not curves["accuracy"].between(0, 1).all():
        worst = curves["accuracy"].iloc[int(np.argmax(np.abs(curves["accuracy"].to_numpy(float) - 0.5)))]
        raise ModelSizeError(f"column 'accuracy' has {worst:g}, outside [0, 1]; write fractions "
                             "(divide percentages by 100)")
    single = curves[(curves["rule"] == "single") & (curves["n"] == 1)].sort_values("params")
    if single.empty:
        raise ModelSizeError("no single-sample rows (rule == 'single', n == 1); add them to the curves")
    if single["generator"].duplicated().any():
        dup = single.loc[single["generator"].duplicated(), "generator"].iloc[0]
        raise ModelSizeError(f"generator '{dup}' has several single-sample rows; keep one checkpoint and "
                             "split per generator (see --split / final_test_curves)")
    if len(single) < 2:
        raise ModelSizeError(f"{len(single)} generator with a single-sample row; need at least 2 sizes")
    if single["params"].duplicated().any():
        raise ModelSizeError("two generators have the same params; the single-sample curve needs distinct sizes")
    known = sorted(set(curves["rule"]) - set(EXCLUDED))
    rules = known if rules is None else list(rules)
    unknown = [r for r in rules if r not in known]
    if unknown:
        raise ModelSizeError(f"unknown rule '{unknown[0]}'; rules in the curves: {', '.join(known) or 'none'}")
    if not rules:
        raise ModelSizeError("no selection rule in the curves besides single/coverage; add one")
    parts = []
    for rule in rules:
        rows = curves[(curves["rule"] == rule) & curves["generator"].isin(single["generator"])]
        if rows.empty:
            raise ModelSizeError(f"rule '{rule}' has no rows for a generator with a single-sample row; "
                                 "add that generator's single-sample row or drop the rule")
        at = int(rows["n"].max()) if n is None else n
        if not (rows["n"] == at).any():
            raise ModelSizeError(f"rule '{rule}' has no rows at N={at}; its N: "
                                 f"{', '.join(map(str, sorted(rows['n'].unique())))}; pick one with --n")
        parts.append(rows[rows["n"] == at])
    targets = pd.concat(parts, ignore_index=True)
    if targets.duplicated(["generator", "rule", "n"]).any():
        raise ModelSizeError("several rows per (generator, rule, n); keep one checkpoint and split per generator")
    return single.reset_index(drop=True), targets


def curve_multipliers(
    log_params: np.ndarray, curve_acc: np.ndarray, target_acc: np.ndarray, target_log_params: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(multiplier, kind, equivalent params), each [..., T], for accuracies target_acc [..., T] of
    generators with log10 params target_log_params [T], against raw single-sample accuracies
    curve_acc [..., G] (made isotonic here) at log_params [G]."""
    curve = np.apply_along_axis(pava, -1, curve_acc) if curve_acc.ndim > 1 else pava(curve_acc)
    log_equiv, kind = equivalent_log_params(log_params, curve, target_acc)
    return 10.0 ** (log_equiv - target_log_params), kind, 10.0**log_equiv


def _bootstrap_problems(
    per_problem: pd.DataFrame,
    single: pd.DataFrame,
    targets: pd.DataFrame,
    n_boot: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """[n_boot, G] single and [n_boot, T] target accuracies, problems resampled jointly (paired)."""
    missing = [c for c in PER_PROBLEM if c not in per_problem.columns]
    if missing:
        raise ModelSizeError(f"per-problem table lacks column(s) {', '.join(missing)}; need {', '.join(PER_PROBLEM)}")
    if per_problem.duplicated(["generator", "rule", "n", "problem_id"]).any():
        raise ModelSizeError("per-problem table has several rows per (generator, rule, n, problem_id); "
                             "keep one checkpoint and split per generator")
    wide = per_problem.pivot_table(index="problem_id", columns=["generator", "rule", "n"], values="value")
    keys = [(g, "single", 1) for g in single["generator"]]
    keys += list(targets[["generator", "rule", "n"]].itertuples(index=False, name=None))
    absent = [k for k in keys if k not in wide.columns]
    if absent:
        raise ModelSizeError(f"per-problem table has no values for generator {absent[0][0]}, rule "
                             f"{absent[0][1]}, n {absent[0][2]}; write it with curves_by_problem")
    values = wide[keys].to_numpy(dtype=float)  # [problems, G + T]
    present = ~np.isnan(values)
    point = np.concatenate([single["accuracy"].to_numpy(float), targets["accuracy"].to_numpy(float)])
    off = np.flatnonzero(np.abs(np.nanmean(values, axis=0) - point) > 1e-6)
    if len(off):
        g, r, k = keys[off[0]]
        raise ModelSizeError(f"per-problem mean differs from the curves' accuracy for generator {g}, rule {r}, "
                             f"n {k}; pass the per-problem table of the same run and split")
    m = len(values)
    counts = rng.multinomial(m, np.full(m, 1.0 / m), size=n_boot).astype(float)  # [n_boot, problems]
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = (counts @ np.where(present, values, 0.0)) / (counts @ present)
    g = len(single)
    return acc[:, :g], acc[:, g:]


def _normal_draws(rows: pd.DataFrame, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """[n_boot, rows]: accuracy + se * standard normal, independent per point (fractions)."""
    return rng.normal(rows["accuracy"].to_numpy(float), rows["se"].to_numpy(float), (n_boot, len(rows)))


def size_multipliers(
    curves: pd.DataFrame,
    *,
    rules: Sequence[str] | None = None,
    n: int | None = None,
    per_problem: pd.DataFrame | None = None,
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per (generator, rule, n): the model-size multiplier of a selection rule at N.

    curves: see the module docstring (already filtered to one checkpoint and split per generator).
    rules: default every rule but single/coverage; n: default each rule's largest N present.
    per_problem (generator, rule, n, problem_id, value): percentile CI from ``n_boot`` resamples of
    problem ids with replacement, shared by all generators and rules (paired), recomputing the single
    curve, its isotonic fit and every multiplier (ci_method "bootstrap_problems"). Without it, a
    ``se`` column gives independent normal draws per point ("normal_se"); neither: NaN CI ("none").
    boot_lower_bound_share: share of resamples in which the multiplier was only a lower bound.
    Outputs: equivalent_params in parameters, multiplier = equivalent_params / params (unitless).
    """
    if not 0 < confidence < 1 or n_boot < 1:
        raise ModelSizeError(f"need 0 < confidence < 1 and n_boot >= 1, got {confidence} and {n_boot}")
    single, targets = _check(curves, rules, n)
    log_params = np.log10(single["params"].to_numpy(dtype=float))
    target_log_params = np.log10(targets["params"].to_numpy(dtype=float))
    mult, kind, equiv = curve_multipliers(log_params, single["accuracy"].to_numpy(float),
                                     targets["accuracy"].to_numpy(float), target_log_params)
    rng = np.random.default_rng(seed)
    if per_problem is not None:
        method = "bootstrap_problems"
        boot_single, boot_target = _bootstrap_problems(per_problem, single, targets, n_boot, rng)
    elif "se" in curves.columns and single["se"].notna().all() and targets["se"].notna().all():
        method = "normal_se"
        boot_single, boot_target = _normal_draws(single, n_boot, rng), _normal_draws(targets, n_boot, rng)
    else:
        method = None
    out = targets[["generator", "params", "rule", "n", "accuracy"]].copy()
    out["single_accuracy"] = out["generator"].map(single.set_index("generator")["accuracy"])
    out["equivalent_params"], out["multiplier"], out["kind"] = equiv, mult, [KINDS[k] for k in kind]
    if method is None:
        out["ci_low"] = out["ci_high"] = out["boot_lower_bound_share"] = np.nan
        out["ci_method"] = "none"
        return out[OUTPUT]
    boot_mult, boot_kind, _ = curve_multipliers(log_params, boot_single, boot_target, target_log_params)
    alpha = (1 - confidence) / 2
    out["ci_low"], out["ci_high"] = np.nanquantile(boot_mult, [alpha, 1 - alpha], axis=0)
    out["ci_method"] = method
    out["boot_lower_bound_share"] = (boot_kind == 1).mean(axis=0)
    return out[OUTPUT]


# ---------------------------------------------------------------- command line


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2
        raise ModelSizeError(f"{message}; see python -m analysis.model_size --help")


def _read_table(path: str, what: str) -> pd.DataFrame:
    """A .csv, .csv.gz or .parquet table, or ModelSizeError naming the file."""
    file = Path(path)
    if not file.is_file():
        raise ModelSizeError(f"{what} {path}: no such file; pass an existing .csv, .csv.gz or .parquet")
    try:
        if file.name.endswith(".parquet"):
            return pd.read_parquet(file)
        if file.name.endswith((".csv", ".csv.gz")):
            return pd.read_csv(file)
    except Exception as e:  # noqa: BLE001 - any reader failure becomes one line
        raise ModelSizeError(f"{what} {path}: cannot read ({type(e).__name__}: {str(e).splitlines()[0]})") from None
    raise ModelSizeError(f"{what} {path}: unknown format; use .csv, .csv.gz or .parquet")


def main(argv: Sequence[str] | None = None) -> int:
    """The CLI: print the multiplier table, optionally write it as CSV; exit 2 on bad input."""
    parser = _Parser(prog="python -m analysis.model_size", description=__doc__.split("\n\n")[0])
    parser.add_argument("curves", help="curves table (.csv/.csv.gz/.parquet), e.g. results/curves.csv")
    parser.add_argument("--per-problem", help="per-problem values for the paired bootstrap over problems")
    parser.add_argument("--rules", help="comma-separated rules (default: all but single, coverage)")
    parser.add_argument("--n", type=int, help="N for every rule (default: each rule's largest)")
    parser.add_argument("--split", default="test", help="split kept when the table has one (default test)")
    parser.add_argument("--confidence", type=float, default=0.95)
    parser.add_argument("--n-boot", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="CSV to write")
    try:
        args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
        if args.out and not Path(args.out).parent.is_dir():
            raise ModelSizeError(f"--out {args.out}: folder does not exist; create it first")
        curves = final_test_curves(_read_table(args.curves, "curves"), args.split)
        per_problem = None
        if args.per_problem:
            per_problem = final_test_curves(_read_table(args.per_problem, "--per-problem"), args.split)
        rules = [r.strip() for r in args.rules.split(",") if r.strip()] if args.rules else None
        table = size_multipliers(curves, rules=rules, n=args.n, per_problem=per_problem,
                                 confidence=args.confidence, n_boot=args.n_boot, seed=args.seed)
    except ModelSizeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    with pd.option_context("display.width", 200, "display.max_columns", None):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if args.out:
        table.to_csv(args.out, index=False, float_format="%.10g")
        print(f"wrote {args.out} ({len(table)} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
