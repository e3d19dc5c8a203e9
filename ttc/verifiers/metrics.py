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
