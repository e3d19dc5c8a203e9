"""The sweep's headline numbers (summary.json), computed from the result tables by fits alone.

Figures draw; they never produce a number the summary needs. Each fit here is a pure function of
the tidy tables (``results/curves.csv``, the per-problem values, the verifier-data sweep, the
self-improvement table); ``analysis/figures.py`` calls the same functions for what it plots, so a
figure and the summary cannot disagree, and dropping a figure drops no number.

``headline_numbers`` runs every fit and returns one dict; a fit whose data this run lacks is left
out and named, with the reason, under ``numbers_not_computed``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import curve_fit

from analysis.figure_cache import FigureCache, figure_key
from analysis.model_size import size_multipliers
from analysis.tradeoff import TARGETS, bootstrap_tradeoff, crossings, fit_tradeoff, frontier_points


class NoData(Exception):
    """A fit (or the figure that plots it) whose data this run does not have; the message says what is
    missing and how to get it."""


def need(condition, reason: str) -> None:
    if not condition:
        raise NoData(reason)


def final_rows(curves: pd.DataFrame, split: str = "test") -> pd.DataFrame:
    """The final checkpoints' rows of one split (the ood split's pools have role "ood")."""
    return curves[(curves["role"] == ("ood" if split == "ood" else "final")) & (curves["split"] == split)]


def largest(frame: pd.DataFrame) -> str:
    return frame.loc[frame["params"].idxmax(), "generator"]


# --- best-of-N at the largest N ----------------------------------------------------------------
def best_of_n_rows(curves: pd.DataFrame, split: str = "test") -> tuple[pd.DataFrame, list[str]]:
    """(rows of the verified generators, or of the largest when none is verified; those generators,
    smallest first). Verified: a rule reads a verifier, not the generator's own scores."""
    fin = final_rows(curves, split)
    need(len(fin), f"no {split} pool ({'the task has no ood split (file tasks: task.ood_path)' if split == 'ood' else 'pools.n_problems = 0'})")
    verified = fin[~fin["verifier"].isin(["none", "logprob", "prob"])] if "verifier" in fin else fin.iloc[:0]
    gens = list(verified.sort_values("params")["generator"].unique()) or [largest(fin)]
    return fin[fin["generator"].isin(gens)].sort_values(["params", "rule", "n"]), gens


def accuracy_at_largest_n(curves: pd.DataFrame, split: str = "test") -> dict:
    """{"<split>_accuracy_at_n<N>": {rule: accuracy}, "<split>_accuracy_generator": name} for the largest
    plotted generator (the largest verified one, else the largest) at its largest N."""
    data, gens = best_of_n_rows(curves, split)
    top = data[data["generator"] == gens[-1]]
    nmax = top["n"].max()
    at_max = top[top["n"] == nmax].set_index("rule")["accuracy"]
    return {f"{split}_accuracy_at_n{nmax}": {r: round(float(a), 4) for r, a in at_max.items()},
            f"{split}_accuracy_generator": str(gens[-1])}


# --- Cobbe's model-size multiplier -----------------------------------------------------------
MODEL_SIZE_RULES = ("majority", "best_of_n:orm", "best_of_n:prm", "weighted_vote:prm")


def shared_n(rows: pd.DataFrame) -> int:
    """The largest N that two or more generators' rows reach (the one generator's largest N if only
    one has rows): with pools of N = 256 for the largest size and 128 for the others, 128."""
    reach = sorted(rows.groupby("generator")["n"].max(), reverse=True)
    return int(reach[1] if len(reach) >= 2 else reach[0])


def model_size_table(curves: pd.DataFrame, per_problem: pd.DataFrame | None = None, *, n_boot: int = 2000
                     ) -> tuple[pd.DataFrame, pd.DataFrame, list[str], int]:
    """(single-sample and selected rows with their multipliers; the multipliers; the rules; N).

    P' is where the monotone single-sample curve of the family reaches a rule's accuracy at N
    (analysis.model_size), with a bootstrap CI over problems when per-problem values are given.
    Interpolated multipliers are measurements; those past the largest size are lower bounds.

    N is the largest that two or more sizes' selection rows reach (``shared_n``): one size alone at a
    larger N would give a single, bounded point, while the sizes at the shared N give a curve."""
    fin = final_rows(curves)
    need(fin["generator"].nunique() >= 2, "needs two or more generator sizes (generators.sizes)")
    rules = [r for r in MODEL_SIZE_RULES if r in set(fin["rule"])]
    nmax = shared_n(fin[fin["rule"].isin(rules)]) if rules else 1
    cols = ["generator", "params", "rule", "n", "accuracy", "ci_low", "ci_high", "se"]
    single = fin[(fin["rule"] == "single") & (fin["n"] == 1)][cols]
    picked = fin[fin["rule"].isin(rules) & (fin["n"] == nmax)][cols]
    pp = None
    if per_problem is not None and len(per_problem):
        pp = per_problem[(per_problem["role"] == "final") & (per_problem["split"] == "test")]
    mult = pd.DataFrame(columns=["generator", "params", "rule", "equivalent_params", "multiplier", "kind",
                                 "ci_low", "ci_high"])
    if len(picked) and single["generator"].nunique() >= 2:  # a curve needs two sizes
        mult = size_multipliers(pd.concat([single, picked]), rules=rules, n=nmax, per_problem=pp, n_boot=n_boot)
    mult = mult.rename(columns={"ci_low": "multiplier_ci_low", "ci_high": "multiplier_ci_high"})
    keep = ["generator", "rule", "equivalent_params", "multiplier", "kind", "multiplier_ci_low", "multiplier_ci_high"]
    data = pd.concat([single, picked], ignore_index=True).merge(mult[[c for c in keep if c in mult]],
                                                                 on=["generator", "rule"], how="left")
    return data, mult, rules, nmax


def size_multiplier_rows(mult: pd.DataFrame, nmax: int) -> list[dict]:
    """summary.json's ``size_multiplier``: one row per (generator, rule), rounded for reading."""
    return [{"generator": r["generator"], "params": int(r["params"]), "rule": r["rule"], "n": nmax,
             "accuracy": round(float(r["accuracy"]), 4), "multiplier": round(float(r["multiplier"]), 2),
             "ci": [round(float(r["multiplier_ci_low"]), 2), round(float(r["multiplier_ci_high"]), 2)],
             "kind": r["kind"], "equivalent_params": round(float(r["equivalent_params"]))}
            for _, r in mult.iterrows()]


def size_multiplier(curves: pd.DataFrame, per_problem: pd.DataFrame | None = None) -> dict:
    _, mult, _, nmax = model_size_table(curves, per_problem)
    return {"size_multiplier": size_multiplier_rows(mult, nmax)}


# --- Jones's train/test trade-off on the LM family ---------------------------------------------
def tradeoff_fit(curves: pd.DataFrame, rule: str = "any", targets=TARGETS) -> tuple[pd.DataFrame, dict]:
    """(iso-accuracy frontier points, the fit of log test FLOPs on log train FLOPs: analysis.tradeoff)."""
    known = np.isfinite(curves["train_flops"].to_numpy(float))  # external checkpoints: unknown unless given
    need(known.any(), "no checkpoint with known training FLOPs (set generators.train_flops for external ones)")
    pts = frontier_points(curves, list(targets), rule=rule)
    need(len(pts), "no accuracy target reached by two checkpoints (more checkpoints or sizes)")
    return pts, fit_tradeoff(pts)


def rounded_fit(fit: dict) -> dict:
    """The fit's headline numbers for summary.json (intercepts left out), rounded for reading."""
    digits = {"slope": 3, "slope_se": 3, "slope_ci": 3, "r2": 3, "r2_within": 3,
              "test_compute_saved_per_10x_train": 2, "test_compute_saved_ci": 2}
    out = {}
    for key, value in fit.items():
        if key == "intercepts":
            continue
        if key in digits and value is not None:
            value = [round(v, digits[key]) for v in value] if isinstance(value, list) else round(value, digits[key])
        out[key] = value
    return out


def train_test_tradeoff(curves: pd.DataFrame, per_problem: pd.DataFrame | None = None, rule: str = "any",
                        confidence: float = 0.95) -> dict:
    """The fit (analysis.tradeoff.fit_tradeoff), its crossings, and with per-problem values the CI that
    counts: the bootstrap over problems (bootstrap_slope_ci, bootstrap_saved_ci)."""
    pts, fit = tradeoff_fit(curves, rule)
    out = {"rule": rule, **rounded_fit(fit), "crossings": crossings(pts)}
    out["n_crossings"] = len(out["crossings"])
    boot = {"reason": "no per-problem values"}
    if per_problem is not None and fit["slope"] is not None:
        boot = bootstrap_tradeoff(curves, per_problem, rule=rule, confidence=confidence)
    ci, saved = boot.get("slope_ci"), boot.get("test_compute_saved_ci")
    out.update(bootstrap_slope_ci=[round(v, 3) for v in ci] if ci else None,
               bootstrap_saved_ci=[round(v, 2) for v in saved] if saved else None,
               bootstrap_share_defined=boot.get("share_defined"), bootstrap_n=boot.get("n_boot"),
               bootstrap_reason=boot.get("reason"))
    return {"train_test_tradeoff": out}


# --- coverage law, compute frontier, verifier data -------------------------------------------
def coverage_law(k, a, b):
    return np.exp(a * np.power(k, b))


def coverage_rows(curves: pd.DataFrame) -> pd.DataFrame:
    cov = final_rows(curves)[lambda d: d["rule"] == "coverage"].sort_values(["params", "n"])
    need(len(cov), "no 'coverage' rule in eval.rules")
    return cov


def coverage_law_fit(k: np.ndarray, c: np.ndarray) -> tuple[float, float] | None:
    """(a, b) of c(k) = exp(a·k^b) (Brown et al. 2024) by least squares; None when it cannot be fitted
    (coverage 0 somewhere, 1 everywhere, or no convergence)."""
    if not ((c > 0).all() and (c < 1).any()):
        return None
    try:
        (a, b), _ = curve_fit(coverage_law, k, c, p0=(np.log(c[0]), 0.5), maxfev=20000)
    except RuntimeError:
        return None
    return float(a), float(b)


def coverage_fits(curves: pd.DataFrame) -> dict:
    fits = {}
    for gen, g in coverage_rows(curves).groupby("generator", sort=False):
        ab = coverage_law_fit(g["n"].to_numpy(float), g["accuracy"].to_numpy(float))
        fits[gen] = {"a": None, "b": None} if ab is None else {"a": round(ab[0], 4), "b": round(ab[1], 4)}
    return {"coverage_fit": fits}


def compute_frontier(curves: pd.DataFrame) -> pd.DataFrame:
    """Every final test (generator, rule, N) point with its total inference FLOPs per problem, sorted by
    them, and whether it lies on the compute-optimal envelope (``on_envelope``)."""
    d = final_rows(curves)[lambda x: x["rule"] != "coverage"].copy()
    need(len(d), "no test pool")
    d["total_flops_per_problem"] = d["gen_flops_per_problem"] + d["verify_flops_per_problem"]
    d = d.sort_values("total_flops_per_problem")
    env = d.assign(best=d["accuracy"].cummax())
    d["on_envelope"] = d.index.isin(env[env["accuracy"] >= env["best"]].index)
    return d


def frontier_point_count(curves: pd.DataFrame) -> dict:
    return {"frontier_points": int(compute_frontier(curves)["on_envelope"].sum())}


def verifier_data_best(data: pd.DataFrame | None) -> dict:
    """The best verifier rule at the largest N over the verifier-data sweep (Cobbe Fig. 5)."""
    need(data is not None and len(data), "no verifier-data sweep (verifiers.data_problems; full.toml has one)")
    assert data is not None
    nmax = int(data["n"].max())
    ver = data[(data["verifier"] != "none") & (data["n"] == nmax)]
    best = ver.loc[ver["accuracy"].idxmax()] if len(ver) else None
    return {"verifier_data_best": None if best is None else
            {"rule": best["rule"], "train_samples": int(best["train_samples"]),
             "accuracy": round(float(best["accuracy"]), 4)}}


def self_improvement(table: pd.DataFrame | None, curves: pd.DataFrame) -> dict:
    from analysis.self_improve import self_improve_numbers
    need(table is not None and len(table), "no self-improvement stage (self_improve.generator is unset)")
    return {"self_improve": self_improve_numbers(table, curves)}


def self_improve_search(curves: pd.DataFrame, per_problem: pd.DataFrame | None, confidence: float) -> dict:
    """Search of the improved generators against their start (search.improved); {} when not run."""
    from analysis.self_improve import self_improve_search_numbers
    return self_improve_search_numbers(curves, per_problem, confidence)


# --- all of them ---------------------------------------------------------------------------------
def search(curves: pd.DataFrame, per_problem: pd.DataFrame | None, n_bins: int, confidence: float) -> dict:
    """The search stage's numbers (analysis.search_figures.search_numbers); {} when nothing was searched."""
    from analysis.search_figures import search_numbers
    if per_problem is None or "role" not in curves or not (curves["role"] == "search").any():
        return {"search": {}}
    return {"search": search_numbers(curves, per_problem, n_bins=n_bins, confidence=confidence)["numbers"]}


def headline_numbers(curves: pd.DataFrame, *, per_problem: pd.DataFrame | None = None,
                     verifier_data: pd.DataFrame | None = None, self_improve: pd.DataFrame | None = None,
                     search_bins: int = 5, confidence: float = 0.95, cache_dir: Path | None = None) -> dict:
    """Every headline number of the sweep, from the tables alone. With ``cache_dir``, numbers computed
    before from the same tables by the same code are read back (a warm rerun)."""
    cache = FigureCache(cache_dir)
    key = figure_key("numbers", curves, per_problem if per_problem is not None else "none",
                     verifier_data if verifier_data is not None else "none",
                     self_improve if self_improve is not None else "none", search_bins, confidence)
    stored = cache.read_numbers(key)
    if stored is not None:
        return stored
    from analysis.finetune_control import NoControl, finetune_control_rows
    from analysis.self_improve import NoSelfImprove
    fits = {
        "test_accuracy": lambda: accuracy_at_largest_n(curves, "test"),
        "ood_accuracy": lambda: accuracy_at_largest_n(curves, "ood"),
        "size_multiplier": lambda: size_multiplier(curves, per_problem),
        "train_test_tradeoff": lambda: train_test_tradeoff(curves, per_problem, confidence=confidence),
        "coverage_fit": lambda: coverage_fits(curves),
        "frontier_points": lambda: frontier_point_count(curves),
        "verifier_data_best": lambda: verifier_data_best(verifier_data),
        "self_improve": lambda: self_improvement(self_improve, curves),
        "self_improve_search": lambda: self_improve_search(curves, per_problem, confidence),
        "search": lambda: search(curves, per_problem, search_bins, confidence),
        "verifier_vs_finetune": lambda: {"verifier_vs_finetune": finetune_control_rows(
            curves, per_problem if per_problem is not None else pd.DataFrame(
                columns=["generator", "role", "split", "rule", "n", "problem_id", "value"]), confidence=confidence)},
    }
    numbers: dict = {}
    missing: dict = {}
    for name, fit in fits.items():
        try:
            numbers.update(fit())
        except (NoData, NoSelfImprove, NoControl) as why:
            missing[name] = str(why)
    if missing:
        numbers["numbers_not_computed"] = missing
    numbers = json.loads(json.dumps(numbers, default=_plain))  # what a stored set returns, too
    cache.store(key, [], numbers)
    return numbers


def _plain(value):
    """numpy scalars and arrays as JSON values."""
    return value.tolist() if hasattr(value, "tolist") else float(value)
