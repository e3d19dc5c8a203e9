"""Jones's train/test compute trade-off on the language-model family.

``frontier_points``: for each target accuracy, the least test compute per problem each checkpoint
needs to reach it, interpolated between measured N, kept only where it beats every cheaper-to-train
checkpoint (the frontier). ``fit_tradeoff``: log10(test FLOPs) = slope · log10(train FLOPs) +
intercept per target, one shared slope. FLOPs follow ttc/compute.py: training 6·P·tokens, inference
2·P per token processed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import t as student_t

COLUMNS = ["generator", "checkpoint_tokens", "params", "train_flops", "target_accuracy",
           "test_flops_per_problem", "n_interp"]


def _reach(cost: np.ndarray, accuracy: np.ndarray, n: np.ndarray, target: float) -> tuple[float, float] | None:
    """(least test FLOPs, fractional N) at which a checkpoint reaches ``target``, or None.

    cost [points]: test FLOPs per problem; accuracy: fraction of problems; n: samples per problem.
    Points are sorted by cost and accuracy replaced by its running maximum (a cheaper point can
    always be used instead), so accuracy is monotone in log10(cost). Between the two points that
    bracket the target it is linear in log10(cost); N is interpolated the same way in log10(N).
    A target reached at the cheapest point gives that point (no extrapolation).
    """
    order = np.lexsort((-accuracy, cost))
    cost, best, n = cost[order], np.maximum.accumulate(accuracy[order]), n[order]
    hi = int(np.searchsorted(best, target, side="left"))  # first point with running max >= target
    if hi == len(best):
        return None
    if hi == 0 or cost[hi] == cost[hi - 1]:
        return float(cost[hi]), float(n[hi])
    frac = (target - best[hi - 1]) / (best[hi] - best[hi - 1])
    log_cost = np.log10(cost[hi - 1]) + frac * (np.log10(cost[hi]) - np.log10(cost[hi - 1]))
    log_n = np.log10(n[hi - 1]) + frac * (np.log10(n[hi]) - np.log10(n[hi - 1]))
    return float(10**log_cost), float(10**log_n)


def _pareto(points: pd.DataFrame) -> pd.DataFrame:
    """Per target, the points with strictly less test compute than every point with less train compute.

    At equal train compute only the least test compute is a candidate (the others are dominated).
    """
    keep = []
    for _, g in points.groupby("target_accuracy", sort=True):
        g = g.sort_values(["train_flops", "test_flops_per_problem"], kind="stable")
        g = g[~g["train_flops"].duplicated()]
        best_before = np.minimum.accumulate(np.r_[np.inf, g["test_flops_per_problem"].to_numpy()[:-1]])
        keep.append(g[g["test_flops_per_problem"].to_numpy() < best_before])
    return pd.concat(keep) if keep else points.iloc[:0]


def frontier_points(
    curves: pd.DataFrame,
    targets: Sequence[float],
    *,
    rule: str = "any",
    test_flops: str = "gen_flops_per_problem",
) -> pd.DataFrame:
    """The train/test compute frontier: one row per (target accuracy, frontier checkpoint).

    curves: the curves table (results/curves.csv): generator, checkpoint_tokens, params, train_flops
    (FLOPs), split, role, rule, n, accuracy (fraction) and the ``test_flops`` column (FLOPs per
    problem); test-split rows of roles final and checkpoint are used, coverage (an oracle) never.
    Test compute = ``test_flops`` + ``verify_flops_per_problem`` when that column exists (a verifier
    rule pays for scoring). rule "any": every rule's points of a checkpoint together (the best rule
    at each compute); otherwise that rule's only. targets: accuracies in [0, 1]. Columns: COLUMNS,
    test_flops_per_problem in FLOPs per problem and n_interp the fractional N (see _reach).
    """
    d = curves[(curves["split"] == "test") & curves["role"].isin(["final", "checkpoint"])]
    d = d[(d["rule"] != "coverage") & ((d["rule"] == rule) | (rule == "any"))]
    cost = d[test_flops].to_numpy(float)
    if "verify_flops_per_problem" in d.columns:
        cost = cost + d["verify_flops_per_problem"].fillna(0.0).to_numpy(float)
    d = d.assign(_cost=cost)
    rows = []
    for (gen, tokens), g in d.groupby(["generator", "checkpoint_tokens"], sort=True):
        arrays = (g["_cost"].to_numpy(float), g["accuracy"].to_numpy(float), g["n"].to_numpy(float))
        for target in targets:
            reached = _reach(*arrays, float(target))
            if reached is not None:
                rows.append((gen, tokens, g["params"].iloc[0], float(g["train_flops"].iloc[0]), float(target),
                             *reached))
    points = pd.DataFrame(rows, columns=COLUMNS)
    return _pareto(points).sort_values(["target_accuracy", "train_flops"]).reset_index(drop=True)


def fit_tradeoff(points: pd.DataFrame, confidence: float = 0.95) -> dict:
    """Shared-slope OLS: log10(test FLOPs per problem) = slope · log10(train FLOPs) + intercept_target.

    Uses targets with at least 2 points. Returns slope (decades of test compute per decade of train
    compute), slope_se, slope_ci (t-based, n_points - 1 - n_targets degrees of freedom), r2 (of the
    full model with its per-target intercepts, against the grand mean), r2_within (the share of the
    within-target variance the slope explains), intercepts {target: log10 FLOPs}, n_points, n_targets,
    targets, test_compute_saved_per_10x_train = 10**(-slope) (unitless factor) with its CI
    (test_compute_saved_ci, from slope_ci) and reason (None, or why slope is None).
    """
    usable = points.groupby("target_accuracy").filter(lambda g: len(g) >= 2)
    targets = sorted(usable["target_accuracy"].unique())
    out = {"slope": None, "slope_se": None, "slope_ci": None, "r2": None, "r2_within": None,
           "intercepts": {}, "n_points": len(usable), "n_targets": len(targets),
           "targets": [float(t) for t in targets], "confidence": confidence,
           "test_compute_saved_per_10x_train": None, "test_compute_saved_ci": None, "reason": None}
    if not targets or len(usable) < 3:
        out["reason"] = (f"{len(usable)} frontier point(s) in {len(targets)} target(s) with >= 2 points; "
                         "need >= 3 points and a target with >= 2")
        return out
    x = np.log10(usable["train_flops"].to_numpy(float))
    y = np.log10(usable["test_flops_per_problem"].to_numpy(float))
    groups = usable["target_accuracy"].to_numpy()
    dummies = (groups[:, None] == np.array(targets)[None, :]).astype(float)
    x_within = x - dummies @ (dummies.T @ x / dummies.sum(axis=0))
    if not np.any(np.abs(x_within) > 1e-12):
        out["reason"] = "train compute does not vary within any target; the slope is not identified"
        return out
    design = np.column_stack([x, dummies])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ coef
    dof = len(y) - design.shape[1]  # >= 1: every target has >= 2 points and there are >= 3
    ss_res = float(resid @ resid)
    ss_tot = float(((y - y.mean()) ** 2).sum())
    y_within = y - dummies @ (dummies.T @ y / dummies.sum(axis=0))
    ss_within = float(y_within @ y_within)
    slope = float(coef[0])
    se = float(np.sqrt(ss_res / dof / (x_within @ x_within)))  # (X'X)^-1 [0, 0] = 1 / within SS of x
    half = float(student_t.ppf(0.5 + confidence / 2, dof)) * se
    out.update(
        slope=slope, slope_se=se, slope_ci=[slope - half, slope + half],
        r2=1 - ss_res / ss_tot if ss_tot > 0 else None,
        r2_within=1 - ss_res / ss_within if ss_within > 0 else None,
        intercepts={float(t): float(c) for t, c in zip(targets, coef[1:])},
        test_compute_saved_per_10x_train=10 ** (-slope),
        test_compute_saved_ci=[10 ** (-(slope + half)), 10 ** (-(slope - half))],
    )
    return out
