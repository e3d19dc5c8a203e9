"""Search vs sampling on one compute axis: the tables, Snell's compute-optimal mix, and the figures.

Inputs are the sweep's own files: ``curves.csv`` (role ``search`` rows and the pools' rows),
``curves_by_problem.parquet`` (per-problem values; a search row's value is 0/1, a sampling rule's
the exact expected accuracy of N samples) and ``search.csv`` (one row per problem and search cell).
Every comparison is on the problems the search ran on. FLOPs per problem are inference FLOPs,
generation + verification (2·P per token, P = non-embedding parameters of the generator and of the
verifier); the sampling rules' FLOPs are their curves' (means over the pool's problems).

Compute-optimal (Snell et al. 2024, their Sec. 3/5): problems are binned by difficulty, the quantiles of
the generator's own pass@1 (bin 1 = easiest); each problem goes to one of two halves (alternating
within its bin, by problem id); on the *selection* half the best method per bin and budget is chosen
among best-of-N and the weighted vote (PRM), majority and every search strategy at that budget (ties:
the cheaper); the chosen mix
is scored on the *evaluation* half against best-of-N there. The saving is the ratio of the FLOPs
best-of-N needs to reach the mix's accuracy (log-FLOPs interpolation on its monotone envelope) to
the mix's own FLOPs, with a bootstrap CI over evaluation problems (the selection is held fixed).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SAMPLING_RULES = ("best_of_n:prm", "weighted_vote:prm", "majority", "best_of_n:orm", "single")
BASELINE = "best_of_n:prm"
# what the compute-optimal mix chooses among at each budget, beside every search strategy (Snell's set:
# PRM-based best-of-N and weighted vote; majority as the verifier-free option)
MIX_SAMPLING = ("best_of_n:prm", "weighted_vote:prm", "majority")


def _flops(curves: pd.DataFrame) -> pd.Series:
    return curves["gen_flops_per_problem"] + curves["verify_flops_per_problem"]


def method_table(curves: pd.DataFrame, per_problem: pd.DataFrame, generator: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(methods, values): one row per (rule, n) of ``generator`` -- sampling rules from its final test
    pool and its search cells -- with FLOPs per problem; and the per-problem values [method x problem]
    on the problems its search ran on."""
    search = per_problem[(per_problem["role"] == "search") & (per_problem["generator"] == generator)]
    ids = np.sort(search["problem_id"].unique())
    pool = per_problem[(per_problem["role"] == "final") & (per_problem["split"] == "test")
                       & (per_problem["generator"] == generator) & per_problem["rule"].isin(SAMPLING_RULES)
                       & per_problem["problem_id"].isin(ids)]
    values = pd.concat([pool, search]).pivot_table(index=["rule", "n"], columns="problem_id", values="value")
    c = curves[(curves["generator"] == generator) & (curves["split"] == "test") & curves["role"].isin(["final", "search"])]
    c = c.assign(flops=_flops(c), kind=np.where(c["role"] == "search", "search", "sampling")).set_index(["rule", "n"])
    methods = c.loc[c.index.intersection(values.index), ["kind", "flops", "params"]].reset_index()
    methods["accuracy"] = [float(values.loc[(r, n)].mean()) for r, n in zip(methods["rule"], methods["n"])]
    methods["n_problems"] = len(ids)
    return methods.sort_values(["kind", "rule", "n"]).reset_index(drop=True), values[ids]


def difficulty_bins(per_problem: pd.DataFrame, generator: str, ids: np.ndarray, n_bins: int) -> pd.Series:
    """problem_id -> bin 1 (easiest) .. n_bins: equal-size bins of the generator's pass@1 (one sample
    from its final test pool, exact over the pool), ties broken by problem id."""
    single = per_problem[(per_problem["role"] == "final") & (per_problem["split"] == "test")
                         & (per_problem["generator"] == generator) & (per_problem["rule"] == "single")
                         & (per_problem["n"] == 1) & per_problem["problem_id"].isin(ids)]
    pass1 = single.set_index("problem_id")["value"].reindex(ids)
    order = sorted(ids, key=lambda i: (-pass1[i], i))
    return pd.Series({pid: 1 + (rank * n_bins) // len(order) for rank, pid in enumerate(order)}, name="bin")


def by_difficulty(methods: pd.DataFrame, values: pd.DataFrame, bins: pd.Series) -> pd.DataFrame:
    """Accuracy of every method in every difficulty bin (all searched problems)."""
    rows = []
    for b in sorted(bins.unique()):
        cols = bins.index[bins == b]
        for _, m in methods.iterrows():
            v = values.loc[(m["rule"], m["n"]), cols]
            rows.append({"bin": int(b), "rule": m["rule"], "n": int(m["n"]), "kind": m["kind"], "flops": m["flops"],
                         "accuracy": float(v.mean()), "se": float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else 0.0,
                         "n_problems": len(v)})
    return pd.DataFrame(rows)


def _needed_flops(acc: float, curve: pd.DataFrame) -> tuple[float, str]:
    """FLOPs the (flops, accuracy) curve needs to reach ``acc`` on its monotone envelope, and whether
    that is interpolated, a lower bound (beyond the curve) or an upper bound (below its first point)."""
    curve = curve.sort_values("flops")
    f, a = curve["flops"].to_numpy(float), np.maximum.accumulate(curve["accuracy"].to_numpy(float))
    if acc > a[-1]:
        return float(f[-1]), "lower_bound"
    if acc <= a[0]:
        return float(f[0]), "upper_bound"
    j = int(np.argmax(a >= acc))
    if a[j] == a[j - 1]:
        return float(f[j]), "interpolated"
    t = (acc - a[j - 1]) / (a[j] - a[j - 1])
    return float(np.exp(np.log(f[j - 1]) + t * (np.log(f[j]) - np.log(f[j - 1])))), "interpolated"


def _needed_flops_many(accs: np.ndarray, flops: np.ndarray, curves: np.ndarray) -> np.ndarray:
    """``_needed_flops`` of each accuracy ``accs[b]`` on its own curve ``curves[b]`` (accuracy at each of
    ``flops``), all at once: what a bootstrap of the saving needs (only the FLOPs; the kinds are not
    used there)."""
    order = np.argsort(flops, kind="stable")
    f, a = flops[order], np.maximum.accumulate(curves[:, order], axis=1)
    rows = np.arange(len(accs))
    j = np.clip(np.argmax(a >= accs[:, None], axis=1), 1, len(f) - 1)
    lo, hi = a[rows, j - 1], a[rows, j]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):  # rows np.where drops below
        t = (accs - lo) / (hi - lo)
        inside = np.exp(np.log(f[j - 1]) + t * (np.log(f[j]) - np.log(f[j - 1])))
    out = np.where(hi == lo, f[j], inside)
    out = np.where(accs <= a[:, 0], f[0], out)
    return np.where(accs > a[:, -1], f[-1], out)


def compute_optimal(methods: pd.DataFrame, values: pd.DataFrame, bins: pd.Series, budgets: list[int], *,
                    baseline: str = BASELINE, n_boot: int = 1000, seed: int = 0,
                    confidence: float = 0.95) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per budget: the mix on the evaluation half vs best-of-N, saving with CI; per budget and bin: the
    method chosen on the selection half)."""
    ids = np.asarray(values.columns)
    halves = pd.Series({pid: rank % 2 for b in sorted(bins.unique())
                        for rank, pid in enumerate(sorted(bins.index[bins == b]))})
    select, evaluate = ids[halves.reindex(ids).to_numpy() == 0], ids[halves.reindex(ids).to_numpy() == 1]
    flops = methods.set_index(["rule", "n"])["flops"]
    base = methods[methods["rule"] == baseline][["n", "flops"]]
    base_vals = values.loc[[(baseline, n) for n in base["n"]]].to_numpy(float)  # [N values, problems]
    eval_pos = np.searchsorted(ids, evaluate)
    rng = np.random.default_rng(seed)
    boot = rng.integers(0, len(evaluate), size=(n_boot, len(evaluate)))
    lo_q, hi_q = (1 - confidence) / 2, (1 + confidence) / 2
    rows, choices = [], []
    for n in budgets:
        candidates = [k for k in flops.index if k[1] == n and (k[0] in MIX_SAMPLING or k[0].startswith("search:"))]
        if not candidates:
            continue
        chosen = {}
        for b in sorted(bins.unique()):
            sel = [pid for pid in select if bins[pid] == b]
            scores = sorted(((float(values.loc[k, sel].mean()), -float(flops[k]), k) for k in candidates), reverse=True)
            chosen[b] = scores[0][2]
            choices.append({"n": n, "bin": int(b), "rule": chosen[b][0], "selection_accuracy": scores[0][0],
                            "selection_problems": len(sel)})
        pick = [chosen[bins[pid]] for pid in evaluate]
        mix_vals = np.array([values.loc[k, pid] for k, pid in zip(pick, evaluate)], dtype=float)
        mix_flops = np.array([flops[k] for k in pick])
        base_at_n = values.loc[(baseline, n), evaluate].to_numpy(float) if (baseline, n) in values.index else None

        def saving(idx, mix_vals=mix_vals, mix_flops=mix_flops):
            curve = pd.DataFrame({"flops": base["flops"].to_numpy(float), "accuracy": base_vals[:, eval_pos[idx]].mean(1)})
            need, kind = _needed_flops(float(mix_vals[idx].mean()), curve)
            return need / float(mix_flops[idx].mean()), kind

        ratio, kind = saving(np.arange(len(evaluate)))
        boot_curves = base_vals[:, eval_pos[boot]].mean(2).T  # [n_boot, N values]
        ratios = _needed_flops_many(mix_vals[boot].mean(1), base["flops"].to_numpy(float), boot_curves) \
            / mix_flops[boot].mean(1)
        diffs = (mix_vals - base_at_n)[boot].mean(1) if base_at_n is not None else np.full(n_boot, np.nan)
        rows.append({"n": n, "mix_accuracy": float(mix_vals.mean()), "mix_flops": float(mix_flops.mean()),
                     "best_of_n_accuracy": float(base_at_n.mean()) if base_at_n is not None else np.nan,
                     "best_of_n_flops": float(flops.get((baseline, n), np.nan)),
                     "accuracy_gain": float((mix_vals - base_at_n).mean()) if base_at_n is not None else np.nan,
                     "accuracy_gain_ci_low": float(np.quantile(diffs, lo_q)), "accuracy_gain_ci_high": float(np.quantile(diffs, hi_q)),
                     "compute_saving": ratio, "saving_ci_low": float(np.quantile(ratios, lo_q)),
                     "saving_ci_high": float(np.quantile(ratios, hi_q)), "saving_kind": kind,
                     "eval_problems": len(evaluate), "selection_problems": len(select)})
    return pd.DataFrame(rows), pd.DataFrame(choices)


def versus_larger(methods_small: pd.DataFrame, methods_large: pd.DataFrame, small_values: pd.DataFrame,
                  large_values: pd.DataFrame, rule: str) -> pd.DataFrame:
    """A smaller generator with search (``rule``) against the larger one's sampling at the same inference
    FLOPs: the larger's best sampling accuracy (max over its rules, each interpolated in log FLOPs,
    never beyond its own points) on the same problems."""
    ids = np.intersect1d(small_values.columns, large_values.columns)
    rows = []
    for _, m in methods_small[methods_small["rule"] == rule].iterrows():
        acc = float(small_values.loc[(m["rule"], m["n"]), ids].mean())
        best, best_rule = np.nan, None
        for r, g in methods_large[methods_large["kind"] == "sampling"].groupby("rule"):
            g = g.sort_values("flops")
            f = g["flops"].to_numpy(float)
            a = np.array([float(large_values.loc[(r, n), ids].mean()) for n in g["n"]])
            if m["flops"] < f[0]:
                continue
            at = float(np.interp(np.log(m["flops"]), np.log(f), a))
            if np.isnan(best) or at > best:
                best, best_rule = at, r
        single = float(large_values.loc[("single", 1), ids].mean()) if ("single", 1) in large_values.index else np.nan
        rows.append({"n": int(m["n"]), "small_flops": float(m["flops"]), "small_accuracy": acc,
                     "small_params": int(m["params"]), "large_params": int(methods_large["params"].iloc[0]),
                     "large_single_accuracy": single,
                     "large_single_flops": float(methods_large[(methods_large["rule"] == "single")
                                                               & (methods_large["n"] == 1)]["flops"].iloc[0]),
                     "large_best_at_same_flops": best, "large_best_rule": best_rule, "n_problems": len(ids)})
    return pd.DataFrame(rows)
