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
    """(mean AUC over problems that have both classes, how many such problems).

    One sort for all problems: within each problem, tied scores share their average rank, as in
    ``auc``; the rank-sum formula then runs per problem with ``np.bincount``."""
    s, y = np.asarray(scores, float), np.asarray(labels, bool)
    p = pd.factorize(np.asarray(problem_ids))[0]
    if not len(s):
        return float("nan"), 0
    order = np.lexsort((s, p))
    s, y, p = s[order], y[order], p[order]
    pos = np.arange(len(s), dtype=float)
    new_group = np.r_[True, p[1:] != p[:-1]]
    group_start = np.maximum.accumulate(np.where(new_group, pos, 0))
    new_tie = new_group | np.r_[True, s[1:] != s[:-1]]
    tie_id = np.cumsum(new_tie) - 1
    tie_start, tie_end = np.flatnonzero(new_tie), np.r_[np.flatnonzero(new_tie)[1:], len(s)]
    rank = (tie_start + tie_end + 1)[tie_id] / 2 - group_start  # 1-based average rank in the problem
    n_pos = np.bincount(p, weights=y)
    n_neg = np.bincount(p) - n_pos
    rank_sum = np.bincount(p, weights=np.where(y, rank, 0.0))
    mixed = (n_pos > 0) & (n_neg > 0)
    if not mixed.any():
        return float("nan"), 0
    per = (rank_sum[mixed] - n_pos[mixed] * (n_pos[mixed] + 1) / 2) / (n_pos[mixed] * n_neg[mixed])
    return float(per.mean()), int(mixed.sum())


def step_auc(step_scores, step_correct) -> float:
    """AUC of per-step scores against exact step labels, up to and including the first wrong step.

    step_scores: S arrays (written steps first, extra trailing entries ignored); step_correct: S lists."""
    flags = [np.asarray(f, bool) for f in step_correct]
    if not flags:
        return float("nan")
    lengths = np.array([len(f) for f in flags])
    y = np.concatenate(flags)
    s = np.concatenate([np.asarray(sc, float)[:n] for sc, n in zip(step_scores, lengths)])
    sample = np.repeat(np.arange(len(flags)), lengths)
    wrong = (~y).astype(np.int64)
    wrong_before = np.cumsum(wrong) - wrong
    wrong_before -= np.r_[0, np.cumsum(wrong)][np.r_[0, np.cumsum(lengths)[:-1]]][sample]
    keep = wrong_before == 0  # every step before the first wrong one, and that wrong step
    return auc(s[keep], y[keep])


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
    ``..._low``, ``..._high``), e.g. the PRM against the ORM or a verifier against the free log-prob.

    The per-problem values are those of the curves (``ttc.evaluate.curves_by_problem``, the one
    estimation path), so this table's best-of-N equals curves.csv's."""
    from ttc.evaluate import curves_by_problem
    from ttc.selection import RuleSpec

    ns = sorted(int(n) for n in ns)
    frame = pool[["problem_id", "sample_idx", "answer", "is_correct"]].assign(
        **{f"_score_{i}": np.asarray(s, float) for i, s in enumerate(scores.values())})
    rules = {"majority": RuleSpec.parse("majority"), "coverage": RuleSpec.parse("coverage")}
    rules |= {name: RuleSpec("best_of_n", score=f"_score_{i}", label=f"_best_of_n_{i}") for i, name in enumerate(scores)}
    values = curves_by_problem(frame, list(rules.values()), ns)
    per = {name: values[values["rule"] == spec.name].pivot(index="problem_id", columns="n", values="value")
           .reindex(columns=ns).to_numpy() for name, spec in rules.items()}
    n_prob = per["majority"].shape[0]

    def paired(d, j, prefix):  # mean per-problem difference and its normal interval
        m, se = d[:, j].mean(), d[:, j].std(ddof=1) / np.sqrt(n_prob)
        return {prefix: m, f"{prefix}_low": m - z * se, f"{prefix}_high": m + z * se}

    rows = []
    for name, v in per.items():
        for j, n in enumerate(ns):
            se = v[:, j].std(ddof=1) / np.sqrt(n_prob)
            row = {"scorer": name, "n": int(n), "accuracy": v[:, j].mean(), "ci_low": v[:, j].mean() - z * se,
                   "ci_high": v[:, j].mean() + z * se, **paired(v - per["majority"], j, "delta")}
            for other in versus:
                row |= paired(v - per[other], j, f"delta_vs_{other}") if other in per else {}
            rows.append(row)
    return pd.DataFrame(rows)
