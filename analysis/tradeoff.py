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


# accuracy targets, 0.01 apart: finer than a 320-problem accuracy's standard error (0.02-0.03), so the
# fit does not depend on where the targets fall between two checkpoints' crossings; neighbouring
# targets share their checkpoints, which is why the CI that counts comes from the bootstrap
TARGETS = tuple(round(0.01 * k, 2) for k in range(1, 100))


def _reach(cost: np.ndarray, accuracy: np.ndarray, n: np.ndarray, targets: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """(least test FLOPs, fractional N) at which one checkpoint reaches each target; NaN where it does not.

    cost [points]: test FLOPs per problem; accuracy: fraction of problems; n: samples per problem;
    targets: accuracies. Points are sorted by cost (at equal cost the more accurate first) and accuracy
    replaced by its running maximum (a cheaper point can always be used instead), so accuracy is
    monotone in log10(cost); of two points with equal cost, the N reported is the more accurate one's
    (the first in input order if they tie on accuracy too). Between the
    two points that bracket a target it is linear in log10(cost); N is interpolated the same way in
    log10(N). A target reached at the cheapest point gives that point (no extrapolation).
    """
    order = np.lexsort((-accuracy, cost))
    cost, best, n = cost[order], np.maximum.accumulate(accuracy[order]), n[order]
    # first point with running max >= target; 1e-9 of slack so that an accuracy equal to a target
    # (96/320 = 0.3) reaches it however its mean was rounded
    hi = np.searchsorted(best, targets - 1e-9, side="left")
    reached = hi < len(best)
    hi = np.minimum(hi, len(best) - 1)
    lo = np.maximum(hi - 1, 0)
    exact = (hi == 0) | (cost[hi] == cost[lo])
    span = best[hi] - best[lo]
    frac = np.clip(np.divide(targets - best[lo], span, out=np.ones(len(targets)), where=~exact & (span > 0)), 0, 1)
    log_cost = np.log10(cost[lo]) + frac * (np.log10(cost[hi]) - np.log10(cost[lo]))
    log_n = np.log10(n[lo]) + frac * (np.log10(n[hi]) - np.log10(n[lo]))
    return np.where(reached, 10**log_cost, np.nan), np.where(reached, 10**log_n, np.nan)


def _pareto_mask(target: np.ndarray, train: np.ndarray, test: np.ndarray) -> np.ndarray:
    """Per target, the points with strictly less test compute than every point with less train compute.

    At equal train compute only the least test compute is a candidate (the others are dominated); of
    points with equal train and equal test compute, only the first in input order is kept.
    """
    keep = np.zeros(len(target), dtype=bool)
    order = np.lexsort((test, train, target))
    t, tr, te = target[order], train[order], test[order]
    starts = np.flatnonzero(np.r_[True, t[1:] != t[:-1]])
    for a, b in zip(starts, np.r_[starts[1:], len(t)]):
        first_of_train = np.r_[True, tr[a + 1:b] != tr[a:b - 1]]
        best_before = np.minimum.accumulate(np.r_[np.inf, te[a:b - 1]])
        keep[order[a:b]] = first_of_train & (te[a:b] < best_before)
    return keep


class _Checkpoints:
    """The curves rows the frontier reads, grouped by checkpoint, so that accuracies can be swapped in
    (a bootstrap replicate) without regrouping."""

    def __init__(self, curves: pd.DataFrame, rule: str, test_flops: str):
        d = curves[(curves["split"] == "test") & curves["role"].isin(["final", "checkpoint"])
                   & np.isfinite(curves["train_flops"].to_numpy(float))]  # external checkpoints: unknown
        d = d[(d["rule"] != "coverage") & ((d["rule"] == rule) | (rule == "any"))].reset_index(drop=True)
        cost = d[test_flops].to_numpy(float)
        if "verify_flops_per_problem" in d.columns:
            cost = cost + d["verify_flops_per_problem"].fillna(0.0).to_numpy(float)
        self.rows, self.cost, self.n = d, cost, d["n"].to_numpy(float)
        self.groups = [(key, g.index.to_numpy()) for key, g in d.groupby(["generator", "checkpoint_tokens"], sort=True)]

    def points(self, accuracy: np.ndarray, targets: np.ndarray) -> tuple[list, np.ndarray, np.ndarray, np.ndarray]:
        """(checkpoint (generator, tokens) per point, target, test FLOPs, fractional N) of every
        (checkpoint, target) reached, before the Pareto filter; accuracy: one value per row."""
        keys, tgt, test, n_interp = [], [], [], []
        for key, idx in self.groups:
            flops, n = _reach(self.cost[idx], accuracy[idx], self.n[idx], targets)
            ok = np.isfinite(flops)
            keys += [key] * int(ok.sum())
            tgt.append(targets[ok])
            test.append(flops[ok])
            n_interp.append(n[ok])
        return keys, *(np.concatenate([np.zeros(0), *parts]) for parts in (tgt, test, n_interp))

    def train_flops(self) -> dict:
        first = self.rows.groupby(["generator", "checkpoint_tokens"], sort=True).first()
        return {key: (first.loc[key, "params"], float(first.loc[key, "train_flops"])) for key in first.index}


def frontier_points(
    curves: pd.DataFrame,
    targets: Sequence[float] = TARGETS,
    *,
    rule: str = "any",
    test_flops: str = "gen_flops_per_problem",
) -> pd.DataFrame:
    """The train/test compute frontier: one row per (target accuracy, frontier checkpoint).

    curves: the curves table (results/curves.csv): generator, checkpoint_tokens, params, train_flops
    (FLOPs), split, role, rule, n, accuracy (fraction) and the ``test_flops`` column (FLOPs per
    problem); test-split rows of roles final and checkpoint with known train FLOPs are used, coverage
    (an oracle) never.
    Test compute = ``test_flops`` + ``verify_flops_per_problem`` when that column exists (a verifier
    rule pays for scoring). rule "any": every rule's points of a checkpoint together (the best rule
    at each compute); otherwise that rule's only. targets: accuracies in [0, 1]. Columns: COLUMNS,
    test_flops_per_problem in FLOPs per problem and n_interp the fractional N (see _reach).
    """
    ck = _Checkpoints(curves, rule, test_flops)
    keys, tgt, test, n_interp = ck.points(ck.rows["accuracy"].to_numpy(float), np.asarray(targets, float))
    info = ck.train_flops()
    train = np.array([info[k][1] for k in keys], float)
    keep = _pareto_mask(tgt, train, test)
    rows = [(k[0], k[1], info[k][0], tr, float(t), float(te), float(n))
            for k, tr, t, te, n, kept in zip(keys, train, tgt, test, n_interp, keep) if kept]
    points = pd.DataFrame(rows, columns=COLUMNS)
    return points.sort_values(["target_accuracy", "train_flops"]).reset_index(drop=True)


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


def _within_slope(groups: np.ndarray, x: np.ndarray, y: np.ndarray) -> float | None:
    """The shared slope of y on x with one intercept per group (the within estimator, equal to the
    OLS slope of fit_tradeoff); None when x does not vary within any group with >= 2 points."""
    _, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    use = counts[inverse] >= 2
    if use.sum() < 3:
        return None
    inverse, x, y = inverse[use], x[use], y[use]
    size = np.bincount(inverse)
    xw = x - (np.bincount(inverse, x) / np.maximum(size, 1))[inverse]
    yw = y - (np.bincount(inverse, y) / np.maximum(size, 1))[inverse]
    sxx = float(xw @ xw)
    return float(xw @ yw) / sxx if sxx > 1e-24 else None


def _per_problem_matrix(rows: pd.DataFrame, per_problem: pd.DataFrame) -> np.ndarray | str:
    """[curves row, problem] values of the frontier's rows (the same test problems for every
    checkpoint, so a bootstrap resamples them paired), or the reason they cannot be had."""
    pp = per_problem[(per_problem["split"] == "test") & per_problem["role"].isin(["final", "checkpoint"])]
    keys = ["generator", "checkpoint_tokens", "rule", "n"]
    wide = pp.pivot_table(index=keys, columns="problem_id", values="value", aggfunc="first")
    matrix = wide.reindex(pd.MultiIndex.from_frame(rows[keys])).to_numpy(float)
    if not len(rows) or np.isnan(matrix).any():
        missing = int(np.isnan(matrix).any(axis=1).sum()) if len(rows) else 0
        return (f"per-problem values missing for {missing} of {len(rows)} curves rows (checkpoints' values "
                "are in curves_by_problem.parquet from this version on; rerun the sweep)")
    if np.abs(matrix.mean(axis=1) - rows["accuracy"].to_numpy(float)).max() > 1e-6:
        return "per-problem values do not average to the curves' accuracies (tables from different runs?)"
    return matrix


def bootstrap_tradeoff(curves: pd.DataFrame, per_problem: pd.DataFrame, targets: Sequence[float] = TARGETS, *,
                       rule: str = "any", test_flops: str = "gen_flops_per_problem", n_boot: int = 1000,
                       seed: int = 0, confidence: float = 0.95) -> dict:
    """A CI for the trade-off slope from resampling test problems (paired across checkpoints).

    Each replicate draws the test problems with replacement, recomputes every curves row's accuracy
    as the mean of its per-problem values (per_problem: results/curves_by_problem.parquet, columns
    generator, checkpoint_tokens, split, role, rule, n, problem_id, value), then the frontier and the
    shared slope. Neighbouring accuracy targets share their checkpoints, so the t-based CI of
    fit_tradeoff, which counts them as independent, is too narrow; this one carries the noise of the
    measured accuracies through the frontier's selection. Test FLOPs per problem are held at their
    means. Returns slope_ci (percentile), slope_median, test_compute_saved_ci, n_boot, share_defined
    (replicates with a slope) and reason (None, or why there is no CI).
    """
    ck = _Checkpoints(curves, rule, test_flops)
    out = {"slope_ci": None, "slope_median": None, "test_compute_saved_ci": None, "n_boot": n_boot,
           "share_defined": None, "confidence": confidence, "reason": None}
    matrix = _per_problem_matrix(ck.rows, per_problem)
    if isinstance(matrix, str):
        out["reason"] = matrix
        return out
    n_problems = matrix.shape[1]
    counts = np.random.default_rng(seed).multinomial(n_problems, np.full(n_problems, 1 / n_problems), size=n_boot)
    accuracy = matrix @ counts.T / n_problems  # [row, replicate]
    info = ck.train_flops()
    grid = np.asarray(targets, float)
    slopes = []
    for b in range(n_boot):
        keys, tgt, test, _ = ck.points(accuracy[:, b], grid)
        train = np.array([info[k][1] for k in keys], float)
        keep = _pareto_mask(tgt, train, test)
        slope = _within_slope(tgt[keep], np.log10(train[keep]), np.log10(test[keep]))
        if slope is not None:
            slopes.append(slope)
    out["share_defined"] = len(slopes) / n_boot if n_boot else 0.0
    if len(slopes) < max(0.5 * n_boot, 2):
        out["reason"] = f"a slope in only {len(slopes)} of {n_boot} replicates"
        return out
    low, high = np.quantile(slopes, [0.5 - confidence / 2, 0.5 + confidence / 2])
    out.update(slope_ci=[float(low), float(high)], slope_median=float(np.median(slopes)),
               test_compute_saved_ci=[float(10 ** -high), float(10 ** -low)])
    return out


def crossings(points: pd.DataFrame) -> list[dict]:
    """The frontier's distinct checkpoint sets: consecutive targets (with >= 2 points) whose frontier
    holds the same checkpoints are one crossing, the independent pieces of evidence a fit rests on.
    Each: checkpoints ("generator@tokens", by train FLOPs) and the targets' range [low, high]. Targets
    with fewer than two points are skipped first, so a crossing may span such a target."""
    usable = points.groupby("target_accuracy").filter(lambda g: len(g) >= 2)
    out: list[dict] = []
    for target, g in usable.sort_values(["target_accuracy", "train_flops"]).groupby("target_accuracy", sort=True):
        names = [f"{gen}@{tok}" for gen, tok in zip(g["generator"], g["checkpoint_tokens"])]
        if out and out[-1]["checkpoints"] == names:
            out[-1]["targets"][1] = float(target)
        else:
            out.append({"checkpoints": names, "targets": [float(target), float(target)]})
    return out
