"""Verifier quality on its own: within-problem AUC, pooled AUC, step-level AUC, calibration.

Within-problem AUC is what best-of-N depends on: for each problem with both right and wrong samples,
the probability that a random right sample outscores a random wrong one (ties count 1/2), averaged
over those problems. Pooled AUC also rewards telling easy problems from hard ones, which best-of-N
cannot use (the issue's prototypes: pooled 0.85, within-problem 0.55).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata


def auc(scores, labels) -> float:
    """ROC AUC by the rank-sum formula (average ranks for ties); NaN without both classes."""
    scores, labels = np.asarray(scores, float), np.asarray(labels, bool)
    n_pos, n_neg = labels.sum(), (~labels).sum()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def within_problem_auc(scores, labels, problem_ids) -> tuple[float, int]:
    """(mean AUC over problems that have both classes, how many such problems)."""
    frame = pd.DataFrame({"s": np.asarray(scores, float), "y": np.asarray(labels, bool), "p": problem_ids})
    per = [auc(g["s"], g["y"]) for _, g in frame.groupby("p", sort=False)]
    per = [a for a in per if not np.isnan(a)]
    return (float(np.mean(per)) if per else float("nan")), len(per)


def step_auc(step_scores, step_correct) -> float:
    """AUC of per-step scores against exact step labels, up to and including the first wrong step.

    step_scores: S arrays (written steps first, extra trailing entries ignored); step_correct: S lists."""
    s, y = [], []
    for scores, flags in zip(step_scores, step_correct):
        flags = list(flags)
        upto = flags.index(False) + 1 if False in flags else len(flags)
        s.extend(np.asarray(scores, float)[:upto])
        y.extend(flags[:upto])
    return auc(s, y)


def calibration(probs, labels, *, bins: int = 10) -> tuple[float, pd.DataFrame]:
    """(expected calibration error, reliability table: bin, count, mean_prob, frac_positive)."""
    probs, labels = np.asarray(probs, float), np.asarray(labels, float)
    idx = np.clip((probs * bins).astype(int), 0, bins - 1)
    table = pd.DataFrame({"bin": idx, "p": probs, "y": labels}).groupby("bin").agg(
        count=("p", "size"), mean_prob=("p", "mean"), frac_positive=("y", "mean")).reset_index()
    ece = float((table["count"] * (table["mean_prob"] - table["frac_positive"]).abs()).sum() / max(1, len(probs)))
    return ece, table


def verifier_metrics(scores, step_scores, pool: pd.DataFrame, *, probabilities: bool = True) -> dict:
    """Every number logged with a verifier, from its scores on a judged pool."""
    w_auc, n_mixed = within_problem_auc(scores, pool["is_correct"], pool["problem_id"])
    w_auc_pc, _ = within_problem_auc(scores, pool["process_correct"], pool["problem_id"])
    out = {"within_problem_auc": w_auc, "within_problem_auc_process": w_auc_pc, "mixed_problems": n_mixed,
           "pooled_auc": auc(scores, pool["is_correct"]), "samples": int(len(pool))}
    if step_scores is not None:
        out["step_auc"] = step_auc(step_scores, pool["step_correct"])
    if probabilities:
        out["ece"] = calibration(scores, pool["is_correct"])[0]
    return out


def selection_table(pool: pd.DataFrame, scores: dict[str, np.ndarray], ns, *, z: float = 1.96,
                    versus: tuple[str, ...] = ()) -> pd.DataFrame:
    """Best-of-N accuracy of each scorer next to majority vote, exact over uniform N-subsets of the pool.

    One row per (scorer, n): accuracy with its 95% CI across problems, and the paired per-problem
    difference to majority@n with its CI (``delta``, ``delta_low``, ``delta_high``). Rows for
    'majority' and 'coverage' (pass@n) are included for reference. scores: name -> [S] in pool order.
    ``versus``: other scorers to compare each row with the same way (columns ``delta_vs_<name>``,
    ``..._low``, ``..._high``), e.g. the PRM against the ORM or a verifier against the free log-prob."""
    from ttc.estimators import EXACT, ProblemArrays

    ns = np.asarray(sorted(ns))
    order = np.lexsort((pool["sample_idx"].to_numpy(), pool["problem_id"].to_numpy()))
    sorted_pool = pool.iloc[order]
    bounds = np.flatnonzero(np.diff(sorted_pool["problem_id"].to_numpy())) + 1
    groups = np.split(np.arange(len(order)), bounds)

    def arrays(score):
        out = []
        for g in groups:
            sub = sorted_pool.iloc[g]
            ids = pd.factorize(sub["answer"].to_numpy(dtype=object), use_na_sentinel=True)[0].astype(np.int64)
            ok = sub["is_correct"].to_numpy(bool) & (ids >= 0)
            s = np.full(len(g), np.nan) if score is None else np.asarray(score, float)[order][g]
            out.append(ProblemArrays(ids, s, ok, ok[:, None].astype(float)))
        return out

    plain = arrays(None)
    per = {"majority": EXACT["majority"](plain, ns)[..., 0], "coverage": EXACT["coverage"](plain, ns)[..., 0]}
    for name, s in scores.items():
        per[name] = EXACT["best_of_n"](arrays(s), ns)[..., 0]
    rows = []
    n_prob = len(groups)
    def paired(d, j, prefix):  # mean per-problem difference and its normal interval
        m, se = d[:, j].mean(), d[:, j].std(ddof=1) / np.sqrt(n_prob)
        return {prefix: m, f"{prefix}_low": m - z * se, f"{prefix}_high": m + z * se}

    for name, v in per.items():
        for j, n in enumerate(ns):
            se = v[:, j].std(ddof=1) / np.sqrt(n_prob)
            row = {"scorer": name, "n": int(n), "accuracy": v[:, j].mean(), "ci_low": v[:, j].mean() - z * se,
                   "ci_high": v[:, j].mean() + z * se, **paired(v - per["majority"], j, "delta")}
            for other in versus:
                row |= paired(v - per[other], j, f"delta_vs_{other}") if other in per else {}
            rows.append(row)
    return pd.DataFrame(rows)
