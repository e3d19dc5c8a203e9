"""Result tables → fits → figures, for the language-model sweep.

Every ``fig_*`` function takes the tidy ``curves`` table (``results/curves.csv``) and returns
``(figure, data, numbers)``: the matplotlib figure, the DataFrame it plots (written beside it as CSV),
and the headline numbers it yields. Only ``write_figures`` writes files.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy.optimize import curve_fit  # noqa: E402

STYLE = {"figure.figsize": (6.4, 4.2), "axes.grid": True, "grid.alpha": 0.3, "font.size": 10,
         "axes.spines.top": False, "axes.spines.right": False, "legend.fontsize": 8}
RULE_LABELS = {"single": "single sample", "majority": "majority vote", "coverage": "coverage (pass@N, oracle)",
               "best_of_n:logprob": "best-of-N by generator log-prob",
               "weighted_vote:prob": "vote weighted by generator prob"}


def _label(rule: str) -> str:
    if rule in RULE_LABELS:
        return RULE_LABELS[rule]
    kind, _, scorer = rule.partition(":")
    name = {"best_of_n": "best-of-N", "weighted_vote": "vote weighted", "top_k_vote": "top-k vote"}.get(
        kind, kind.replace("_", "-"))
    return f"{name} by {scorer.upper() if scorer in ('orm', 'prm') else scorer}" if scorer else name


def _final(curves: pd.DataFrame, split: str = "test") -> pd.DataFrame:
    return curves[(curves["role"] == ("ood" if split == "ood" else "final")) & (curves["split"] == split)]


def _largest(frame: pd.DataFrame) -> str:
    return frame.loc[frame["params"].idxmax(), "generator"]


def fig_best_of_n(curves: pd.DataFrame, split: str = "test"):
    """Accuracy vs N per rule for the largest generator (Lightman Fig. 3; coverage as the ceiling)."""
    fin = _final(curves, split)
    gen = _largest(fin)
    data = fin[fin["generator"] == gen].sort_values(["rule", "n"])
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots()
        for rule, d in data.groupby("rule", sort=False):
            style = dict(ls="--", color="gray") if rule == "coverage" else {}
            ax.plot(d["n"], d["accuracy"] * 100, marker="o", ms=3, label=_label(rule), **style)
            ax.fill_between(d["n"], d["ci_low"] * 100, d["ci_high"] * 100, alpha=0.15, **({"color": "gray"} if style else {}))
        ax.set_xscale("log", base=2)
        ax.set_xlabel("N, samples per problem")
        ax.set_ylabel("accuracy (% of problems)")
        ax.set_title(f"Best-of-N on the {split} split — generator {gen} ({data['params'].iloc[0]:,} params)")
        ax.legend()
        fig.tight_layout()
    nmax = data["n"].max()
    at_max = data[data["n"] == nmax].set_index("rule")["accuracy"]
    return fig, data, {f"{split}_accuracy_at_n{nmax}": {r: round(float(a), 4) for r, a in at_max.items()}}


def _interp_log_params(single: pd.DataFrame, acc: float) -> tuple[float, bool]:
    """Parameters a single-sample model would need for ``acc`` (log-linear interpolation).

    Returns (params, is_lower_bound): beyond the largest model the value is the largest model's size,
    a lower bound."""
    s = single.sort_values("params")
    a, p = s["accuracy"].to_numpy(), np.log10(s["params"].to_numpy(dtype=float))
    if acc >= a.max():
        return float(10 ** p[np.argmax(a)]), True
    a_mono = np.maximum.accumulate(a)
    return float(10 ** np.interp(acc, a_mono, p)), False


def fig_model_size(curves: pd.DataFrame):
    """Accuracy vs generator parameters: single sample vs selection at the largest N (Cobbe's 30x)."""
    fin = _final(curves)
    nmax = int(fin["n"].max())
    single = fin[(fin["rule"] == "single") & (fin["n"] == 1)][["generator", "params", "accuracy", "ci_low", "ci_high"]]
    rows = [single.assign(rule="single", n=1)]
    numbers = {}
    largest = single.loc[single["params"].idxmax()]
    for rule in sorted(set(fin["rule"]) - {"single", "coverage"}):
        d = fin[(fin["rule"] == rule) & (fin["n"] == nmax)][["generator", "params", "accuracy", "ci_low", "ci_high"]]
        rows.append(d.assign(rule=rule, n=nmax))
        acc = float(d.loc[d["params"].idxmax(), "accuracy"])
        eq, lower = _interp_log_params(single, acc)
        numbers[rule] = {"accuracy": round(acc, 4), "equivalent_params": round(eq),
                         "size_multiplier": round(eq / float(largest["params"]), 2), "lower_bound": lower}
        if lower:  # beyond the family: an extrapolation of the top two sizes' log-linear trend, labelled so
            top = single.sort_values("params").tail(2)
            gain = float(np.diff(top["accuracy"])[0]) / float(np.diff(np.log10(top["params"].astype(float)))[0])
            if gain > 0:
                numbers[rule]["extrapolated_size_multiplier"] = round(
                    10 ** ((acc - float(largest["accuracy"])) / gain), 1)
    data = pd.concat(rows, ignore_index=True)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots()
        for rule, d in data.groupby("rule", sort=False):
            d = d.sort_values("params")
            ax.errorbar(d["params"], d["accuracy"] * 100,
                        yerr=[(d["accuracy"] - d["ci_low"]) * 100, (d["ci_high"] - d["accuracy"]) * 100],
                        marker="o", ms=4, capsize=2, label=_label(rule) + ("" if rule == "single" else f", N={nmax}"))
        ax.set_xscale("log")
        ax.set_xlabel("generator parameters P (non-embedding)")
        ax.set_ylabel("accuracy (% of test problems)")
        ax.set_title("Selection at N vs model size")
        ax.legend()
        fig.tight_layout()
    return fig, data, {"size_multiplier_by_rule": numbers}


def tradeoff_points(curves: pd.DataFrame, rule: str, targets: list[float]) -> pd.DataFrame:
    """For each (generator, checkpoint) and target accuracy: the least test FLOPs per problem reaching it."""
    d = curves[(curves["split"] == "test") & (curves["role"].isin(["final", "checkpoint"]))]
    # rule "any": the compute-optimal rule at each point (oracle coverage excluded)
    d = d[(d["rule"] != "coverage") & ((d["rule"] == rule) | (rule == "any") | (d["n"] == 1))]
    rows = []
    for (gen, tok), g in d.groupby(["generator", "checkpoint_tokens"]):
        g = g.sort_values("gen_flops_per_problem")
        for t in targets:
            hit = g[g["accuracy"] >= t]
            if len(hit):
                rows.append({"generator": gen, "checkpoint_tokens": tok, "params": g["params"].iloc[0],
                             "train_flops": g["train_flops"].iloc[0], "target_accuracy": t,
                             "test_flops_per_problem": float(hit["gen_flops_per_problem"].iloc[0]),
                             "n": int(hit["n"].iloc[0])})
    cols = ["generator", "checkpoint_tokens", "params", "train_flops", "target_accuracy",
            "test_flops_per_problem", "n"]
    pts = pd.DataFrame(rows, columns=cols)
    if pts.empty:
        return pts
    # Jones: for each target, the frontier = least test compute at each train compute, keeping only
    # points not dominated by a cheaper-to-train run.
    keep = []
    for t, g in pts.groupby("target_accuracy"):
        g = g.sort_values(["train_flops", "test_flops_per_problem"])
        best = np.inf
        for i, r in g.iterrows():
            if r["test_flops_per_problem"] < best:
                keep.append(i)
                best = r["test_flops_per_problem"]
    return pts.loc[keep].sort_values(["target_accuracy", "train_flops"]).reset_index(drop=True)


def fit_tradeoff(pts: pd.DataFrame) -> dict:
    """log10(test) = slope·log10(train) + intercept per target (shared slope), least squares."""
    usable = pts.groupby("target_accuracy").filter(lambda g: len(g) >= 2)
    if usable["target_accuracy"].nunique() < 1:
        return {"slope": None, "r2": None, "n_points": int(len(usable))}
    targets = sorted(usable["target_accuracy"].unique())
    x = np.log10(usable["train_flops"].to_numpy(float))
    y = np.log10(usable["test_flops_per_problem"].to_numpy(float))
    design = np.column_stack([x] + [(usable["target_accuracy"] == t).to_numpy(float) for t in targets])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    pred = design @ coef
    ss_res, ss_tot = ((y - pred) ** 2).sum(), ((y - y.mean()) ** 2).sum()
    slope = float(coef[0])
    return {"slope": round(slope, 3), "test_compute_saved_per_10x_train": round(10 ** (-slope), 2),
            "r2": round(float(1 - ss_res / ss_tot), 3) if ss_tot > 0 else None, "n_points": int(len(usable)),
            "targets": [float(t) for t in targets]}


def fig_train_test_tradeoff(curves: pd.DataFrame, rule: str = "any",
                            targets=(0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)):
    pts = tradeoff_points(curves, rule, list(targets))
    fit = fit_tradeoff(pts) if len(pts) else {"slope": None}
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots()
        for t, g in pts.groupby("target_accuracy"):
            line = ax.plot(g["train_flops"], g["test_flops_per_problem"], marker="o", ms=4,
                           label=f"accuracy ≥ {t:.0%}")[0]
            if fit.get("slope") is not None and len(g) >= 2:
                x = np.log10(g["train_flops"].to_numpy(float))
                off = np.mean(np.log10(g["test_flops_per_problem"].to_numpy(float)) - fit["slope"] * x)
                ax.plot(10 ** x, 10 ** (fit["slope"] * x + off), ls=":", color=line.get_color())
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("training compute (FLOPs, 6·P·tokens)")
        ax.set_ylabel("test compute per problem (FLOPs, 2·P·tokens)")
        k = fit.get("test_compute_saved_per_10x_train")
        ax.set_title(f"Train vs test compute ({'best rule' if rule == 'any' else _label(rule)}): 10× train "
                     f"saves {k:.3g}× test\n(fit on {fit['n_points']} frontier points, R² {fit['r2']})"
                     if k else "Train vs test compute")
        ax.legend()
        fig.tight_layout()
    return fig, pts, {"train_test_tradeoff": {"rule": rule, **fit}}


def _coverage_law(k, a, b):
    return np.exp(a * np.power(k, b))


def fig_coverage(curves: pd.DataFrame):
    """pass@k per generator with the fitted c(k) = exp(a·k^b) (Brown et al. 2024)."""
    cov = _final(curves)[lambda d: d["rule"] == "coverage"].sort_values(["params", "n"])
    fits, rows = {}, []
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots()
        for gen, g in cov.groupby("generator", sort=False):
            line = ax.plot(g["n"], g["accuracy"] * 100, marker="o", ms=3, label=f"{gen} ({g['params'].iloc[0]:,})")[0]
            k, c = g["n"].to_numpy(float), g["accuracy"].to_numpy(float)
            fit = {"a": None, "b": None}
            if (c > 0).all() and (c < 1).any():
                try:
                    (a, b), _ = curve_fit(_coverage_law, k, c, p0=(np.log(c[0]), 0.5), maxfev=20000)
                    fit = {"a": round(float(a), 4), "b": round(float(b), 4)}
                    kk = np.geomspace(k.min(), k.max(), 50)
                    ax.plot(kk, _coverage_law(kk, a, b) * 100, ls=":", color=line.get_color())
                except RuntimeError:
                    pass
            fits[gen] = fit
            rows.append(g.assign(fit_a=fit["a"], fit_b=fit["b"]))
        ax.set_xscale("log", base=2)
        ax.set_xlabel("k, samples per problem")
        ax.set_ylabel("coverage, pass@k (% of problems)")
        ax.set_title("Coverage with the fitted exp(a·k^b) law (dotted)")
        ax.legend(title="generator (params)")
        fig.tight_layout()
    return fig, pd.concat(rows, ignore_index=True), {"coverage_fit": fits}


def fig_compute_frontier(curves: pd.DataFrame):
    """Accuracy vs total inference FLOPs per problem for every (generator, rule), with the envelope."""
    d = _final(curves)[lambda x: x["rule"] != "coverage"].copy()
    d["total_flops_per_problem"] = d["gen_flops_per_problem"] + d["verify_flops_per_problem"]
    d = d.sort_values("total_flops_per_problem")
    env = d.assign(best=d["accuracy"].cummax())
    env = env[env["accuracy"] >= env["best"]]
    gens = list(d.sort_values("params")["generator"].unique())
    rules = sorted(d["rule"].unique())
    colors = dict(zip(gens, plt.cm.viridis(np.linspace(0, 0.9, len(gens)))))
    styles = dict(zip(rules, ["-", "--", "-.", ":", (0, (5, 1)), (0, (1, 1))] * 3))
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(7.5, 4.4))
        for (gen, rule), g in d.groupby(["generator", "rule"], sort=False):
            ax.plot(g["total_flops_per_problem"], g["accuracy"] * 100, marker=".", lw=1, alpha=0.8,
                    color=colors[gen], ls=styles[rule])
        for gen in gens:
            ax.plot([], [], color=colors[gen], lw=3, label=f"generator {gen}")
        for rule in rules:
            ax.plot([], [], color="gray", ls=styles[rule], label=_label(rule))
        ax.step(env["total_flops_per_problem"], env["accuracy"] * 100, where="post", color="k", lw=2,
                label="compute-optimal envelope")
        ax.set_xscale("log")
        ax.set_xlabel("inference FLOPs per problem (generation + verification)")
        ax.set_ylabel("accuracy (% of test problems)")
        ax.set_title("Compute frontier (color: generator, line style: rule)")
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
        fig.tight_layout()
    d["on_envelope"] = d.index.isin(env.index)
    return fig, d, {"frontier_points": int(len(env))}


def fig_false_positives(curves: pd.DataFrame):
    """Share of chosen answers that are right with a wrong process, per rule, vs N (largest generator)."""
    fin = _final(curves)
    gen = _largest(fin)
    d = fin[(fin["generator"] == gen) & (fin["rule"] != "coverage")].sort_values(["rule", "n"])
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots()
        for rule, g in d.groupby("rule", sort=False):
            ax.plot(g["n"], g["false_positive_rate"] * 100, marker="o", ms=3, label=_label(rule))
        ax.set_xscale("log", base=2)
        ax.set_xlabel("N, samples per problem")
        ax.set_ylabel("right answer, wrong process (% of problems)")
        ax.set_title(f"False positives of the chosen answers — generator {gen}")
        ax.legend()
        fig.tight_layout()
    return fig, d, {}


def fig_verifier_data(data: pd.DataFrame):
    """Verifier selection vs verifier training data, against majority and single sample (Cobbe Fig. 5).

    One panel per rule family (best-of-N, weighted vote) at the largest N; x = training problems, one
    line per verifier and samples per problem (each point retrained on the first problems x samples)."""
    nmax = int(data["n"].max())
    ver = data[(data["verifier"] != "none") & (data["n"] == nmax)].sort_values("train_problems")
    families = sorted(ver["rule"].str.partition(":")[0].unique())
    with plt.rc_context(STYLE):
        panels = max(1, len(families))
        fig, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 4.2), sharey=True, squeeze=False)
        colours = {v: f"C{i}" for i, v in enumerate(sorted(ver["verifier"].unique()))}
        samples = sorted(ver["samples_per_problem"].unique(), reverse=True)
        styles = dict(zip(samples, ["-", "--", ":", "-."] * 4))
        for ax, family in zip(axes[0], families):
            lines = ver[ver["rule"].str.startswith(family + ":")].groupby(["verifier", "samples_per_problem"])
            for (v, k), g in lines:
                ax.errorbar(g["train_problems"], g["accuracy"] * 100,
                            yerr=[(g["accuracy"] - g["ci_low"]) * 100, (g["ci_high"] - g["accuracy"]) * 100],
                            color=colours[v], ls=styles[k], marker="o", ms=4, capsize=2,
                            label=f"{v.upper()}, {int(k)} samples/problem")
            for rule, ls in (("majority", "--"), ("single", ":")):
                b = data[(data["rule"] == rule) & (data["n"] == (nmax if rule == "majority" else data["n"].min()))]
                if len(b):
                    ax.axhline(float(b["accuracy"].iloc[0]) * 100, color="gray", ls=ls,
                               label=_label(rule) + (f", N={nmax}" if rule == "majority" else ""))
            ax.set_xscale("log")
            ticks = sorted(ver["train_problems"].unique())
            ax.set_xticks(ticks, [f"{int(t):,}" for t in ticks])
            ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
            ax.set_xlabel("verifier training problems")
            ax.set_title(f"{_label(family)} by the verifier, N={nmax}")
            ax.legend()
        axes[0][0].set_ylabel("accuracy (% of test problems)")
        fig.suptitle(f"Verifier training data vs selection — generator {data['generator'].iloc[0]}")
        fig.tight_layout()
    best = ver.loc[ver["accuracy"].idxmax()] if len(ver) else None
    return fig, data, {"verifier_data_best": None if best is None else
                       {"rule": best["rule"], "train_samples": int(best["train_samples"]),
                        "accuracy": round(float(best["accuracy"]), 4)}}


FIGURES = {
    "best_of_n": lambda c: fig_best_of_n(c, "test"),
    "ood": lambda c: fig_best_of_n(c, "ood"),
    "model_size": fig_model_size,
    "train_test_tradeoff": fig_train_test_tradeoff,
    "coverage": fig_coverage,
    "compute_frontier": fig_compute_frontier,
    "false_positives": fig_false_positives,
}


def write_figures(curves: pd.DataFrame, out_dir: Path, verifier_data: pd.DataFrame | None = None) -> dict:
    """Every figure as PNG + PDF with its CSV under out_dir; returns the headline numbers."""
    out_dir.mkdir(parents=True, exist_ok=True)
    numbers: dict = {}
    makers = dict(FIGURES)
    if verifier_data is not None and len(verifier_data):
        makers["verifier_data"] = lambda _: fig_verifier_data(verifier_data)
    for name, make in makers.items():
        fig, data, nums = make(curves)
        fig.savefig(out_dir / f"{name}.png", dpi=150)
        fig.savefig(out_dir / f"{name}.pdf", metadata={"CreationDate": None})  # same figure, same bytes
        plt.close(fig)
        data.to_csv(out_dir / f"{name}.csv", index=False)
        numbers.update(nums)
    return numbers
