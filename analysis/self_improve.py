"""Self-improvement figures and numbers from ``results/self_improve.csv`` (one row per run and
segment, ``ttc.sweep_self_improve``) and the improved generators' curves (role ``self_improve``).

- ``fig_self_improve``: test accuracy (pass@1 at T=1, 95% CI) per method vs iteration and vs the
  extra FLOPs spent on it (sampling + training + KL reference + verifier scoring);
- ``fig_reward_hacking``: for RL on a learned reward, the verifier's mean score of the policy's samples
  (the proxy reward it climbs) next to their exact accuracy and process-correctness (Gao et al. 2022);
- ``fig_self_improve_pass_at_n``: pass@N (coverage) and majority@N of the start and each improved
  generator, from their N=64 pools: does self-improvement raise pass@1 at the cost of coverage?
- ``self_improve_numbers``: per method the final accuracy, its paired change with CI, SFT's accuracy
  at equal extra FLOPs, and the equivalent model size on the family's single-sample curve.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from analysis.model_size import equivalent_log_params, final_test_curves, pava  # noqa: E402

STYLE = {"figure.figsize": (10.5, 4.2), "axes.grid": True, "grid.alpha": 0.3, "font.size": 10,
         "axes.spines.top": False, "axes.spines.right": False, "legend.fontsize": 8}


METHOD_ORDER = ("sft", "star", "star_no_rationalize", "star_process", "rl_exact", "rl_orm", "rl_prm")


def color(method: str) -> str:
    """One colour per method in every self-improvement figure (the start is black)."""
    if method not in METHOD_ORDER:
        return "grey"
    return plt.get_cmap("tab10")(METHOD_ORDER.index(method))


class NoSelfImprove(Exception):
    """The run has no self-improvement data (self_improve.generator is unset)."""


def _need(table: pd.DataFrame | None) -> pd.DataFrame:
    if table is None or not len(table):
        raise NoSelfImprove("no self-improvement runs (set self_improve.generator)")
    return table


def fig_self_improve(table: pd.DataFrame):
    t = _need(table).sort_values(["method", "iteration"])
    with plt.rc_context(STYLE):
        fig, (a, b) = plt.subplots(1, 2)
        for method, g in t.groupby("method", sort=False):
            err = np.vstack([g["test_accuracy"] - g["ci_low"], g["ci_high"] - g["test_accuracy"]]) * 100
            a.errorbar(g["iteration"], g["test_accuracy"] * 100, yerr=err, marker="o", ms=3, capsize=2, label=method,
                       color=color(method), alpha=0.85)
            b.plot(g["extra_flops"].clip(lower=1e9), g["test_accuracy"] * 100, marker="o", ms=3, label=method,
                   color=color(method))
        a.set_xlabel("iteration (STaR iteration, SFT budget, RL evaluation); 0 = the start")
        a.set_ylabel("test accuracy, pass@1 at T=1 (%)")
        b.set_xscale("log")
        b.set_xlabel("extra FLOPs (sampling + training + reference + verifier; 0 shown at 1e9)")
        gen = t["generator"].iloc[0]
        a.set_title(f"Self-improvement of generator {gen}")
        b.set_title("... against the compute spent")
        a.legend()
        fig.tight_layout()
    return fig, t.drop(columns=[c for c in t.columns if c.startswith("hint_") and t[c].isna().all()])


def fig_reward_hacking(table: pd.DataFrame):
    t = _need(table)
    rl = t[(t["kind"] == "rl") & t["method"].isin(["rl_orm", "rl_prm"])].sort_values(["method", "iteration"])
    if not len(rl):
        raise NoSelfImprove("no RL run on a learned reward (methods rl_orm / rl_prm)")
    rows = []
    for method, g in rl.groupby("method", sort=False):
        proxy = f"proxy_{method.removeprefix('rl_')}"
        rows.append(g.assign(proxy_reward=g[proxy])[["method", "iteration", "steps", "extra_flops", "proxy_reward",
                                                     "test_accuracy", "process_correct", "false_positive_rate"]])
    d = pd.concat(rows, ignore_index=True)
    d["steps"] = d["steps"].fillna(0)
    with plt.rc_context({**STYLE, "figure.figsize": (6.4 * len(rows) / 1.3, 4.2)}):
        fig, axes = plt.subplots(1, len(rows), squeeze=False)
        for ax, (method, g) in zip(axes[0], d.groupby("method", sort=False)):
            ax.plot(g["steps"], g["proxy_reward"] * 100, marker="o", label="proxy: verifier's mean score")
            ax.plot(g["steps"], g["test_accuracy"] * 100, marker="s", label="exact: right answer")
            ax.plot(g["steps"], g["process_correct"] * 100, marker="^", label="exact: right process")
            ax.set_xlabel("policy updates")
            ax.set_ylabel("% of the policy's test samples")
            ax.set_title(f"{method}: proxy vs exact reward")
            ax.legend()
        fig.tight_layout()
    return fig, d


def fig_self_improve_pass_at_n(curves: pd.DataFrame, table: pd.DataFrame):
    t = _need(table)
    gen = t["generator"].iloc[0]
    c = curves[(curves["split"] == "test") & curves["rule"].isin(["coverage", "majority", "single"])]
    start = c[(c["generator"] == gen) & (c["role"] == "final")]
    improved = c[c["role"] == "self_improve"]
    if not len(improved):
        raise NoSelfImprove("no pools of the improved generators")
    n_max = int(improved["n"].max())
    d = pd.concat([start[start["n"] <= n_max], improved], ignore_index=True)
    with plt.rc_context(STYLE):
        fig, (a, b) = plt.subplots(1, 2)
        for name, g in d.groupby("generator", sort=False):
            style = {"lw": 2.5, "color": "black"} if name == gen else {"color": color(name.split("+", 1)[-1])}
            cov = g[g["rule"] == "coverage"].sort_values("n")
            maj = g[g["rule"] == "majority"].sort_values("n")
            a.plot(cov["n"], cov["accuracy"] * 100, marker="o", ms=3, label=name, **style)
            b.plot(maj["n"], maj["accuracy"] * 100, marker="o", ms=3, label=name, **style)
        for ax, what in ((a, "pass@N (coverage)"), (b, "majority@N")):
            ax.set_xscale("log", base=2)
            ax.set_xlabel("N, samples per problem")
            ax.set_ylabel(f"{what} (%)")
            ax.set_title(what)
        a.legend()
        fig.tight_layout()
    return fig, d


def _family_curve(curves: pd.DataFrame) -> tuple[np.ndarray, np.ndarray] | None:
    s = final_test_curves(curves)
    s = s[(s["rule"] == "single") & (s["n"] == 1)].groupby("params")["accuracy"].mean().sort_index()
    if len(s) < 2:
        return None
    return np.log10(s.index.to_numpy(float)), pava(s.to_numpy(float))


def self_improve_numbers(table: pd.DataFrame | None, curves: pd.DataFrame) -> dict:
    """Per method: final test accuracy [CI], paired change vs the start [CI], SFT's accuracy at the same
    extra FLOPs (linear in log FLOPs between SFT's budgets; None outside them) and the equivalent size
    P'/P on the family's monotone single-sample curve (``interpolated`` or a bound), read at the improved
    generator's pass@1 on its own test pool (the estimate the family's points are made of)."""
    if table is None or not len(table):
        return {}
    family = _family_curve(curves)
    sft = table[table["method"] == "sft"].sort_values("extra_flops")
    sft = sft[sft["extra_flops"] > 0]
    out = {}
    for method, g in table.groupby("method", sort=False):
        last = g.sort_values("iteration").iloc[-1]
        row = {"iterations": int(last["iteration"]), "start_accuracy": float(g.sort_values("iteration")["test_accuracy"].iloc[0]),
               "accuracy": float(last["test_accuracy"]), "ci": [float(last["ci_low"]), float(last["ci_high"])],
               "delta_vs_start": float(last["delta_vs_start"]),
               "delta_ci": [float(last["delta_ci_low"]), float(last["delta_ci_high"])],
               "extra_flops": float(last["extra_flops"]), "false_positive_rate": float(last["false_positive_rate"]),
               "process_correct": float(last["process_correct"]), "eval_problems": int(last["eval_problems"]),
               "eval_samples": int(last["eval_samples"])}
        if method != "sft" and len(sft) >= 2:
            x = np.log10(sft["extra_flops"].to_numpy(float))
            q = np.log10(max(row["extra_flops"], 1.0))
            row["sft_at_equal_flops"] = float(np.interp(q, x, sft["test_accuracy"])) if x[0] <= q <= x[-1] else None
        pool = curves[(curves["role"] == "self_improve") & (curves["generator"] == f"{last['generator']}+{method}")
                      & (curves["rule"] == "single") & (curves["n"] == 1) & (curves["split"] == "test")]
        if len(pool):  # the N=64 pool's pass@1: the estimate the family's curve is made of
            row["pool_accuracy"] = float(pool["accuracy"].iloc[0])
        if family is not None:
            log_p, curve = family
            acc = row.get("pool_accuracy", row["accuracy"])
            log_eq, kind = equivalent_log_params(log_p, curve, np.array([acc]))
            p = float(last["params"])
            row["equivalent_size_multiplier"] = float(10 ** log_eq[0] / p)
            row["equivalent_size_kind"] = {0: "interpolated", 1: "lower_bound", -1: "upper_bound"}[int(kind[0])]
        out[method] = row
    return out


IMPROVED_SEARCH_ROLE = "self_improve_search"  # ttc.sweep_search.IMPROVED_ROLE (curves.csv's role)


def self_improve_search_numbers(curves: pd.DataFrame, per_problem: pd.DataFrame | None,
                                confidence: float = 0.95) -> dict:
    """Step-level search of the improved generators and of their start (``search.improved``), on the
    same problems: per search rule, each generator's accuracy at each budget N and its paired change
    from the start's [normal CI over problems]. {} when the run searched no improved generator."""
    from ttc.self_improve.evaluate import paired_delta
    rows = curves[curves["role"] == IMPROVED_SEARCH_ROLE]
    if rows.empty or per_problem is None:
        return {}
    values = per_problem[per_problem["role"] == IMPROVED_SEARCH_ROLE]
    starts = [g for g in rows["generator"].unique() if "+" not in g]  # improved ones are "<start>+<method>"
    out: dict = {}
    for rule, r in rows.groupby("rule", sort=False):
        start = starts[0] if starts else None
        entry: dict = {"start": start, "n_problems": int(r["n_problems"].max()), "accuracy": {}, "change": {}}
        for (gen, n), g in r.groupby(["generator", "n"], sort=False):
            entry["accuracy"].setdefault(gen, {})[str(int(n))] = round(float(g["accuracy"].iloc[0]), 4)
            if start is None or gen == start:
                continue
            v = values[(values["rule"] == rule) & (values["n"] == n)]
            a = v[v["generator"] == gen].set_index("problem_id")["value"]
            b = v[v["generator"] == start].set_index("problem_id")["value"]
            both = pd.concat([a, b], axis=1, join="inner")  # the problems both were searched on
            if len(both) > 1:
                change = paired_delta(both.iloc[:, 0].to_numpy(), both.iloc[:, 1].to_numpy(), confidence)
                entry["change"].setdefault(gen, {})[str(int(n))] = [round(x, 4) for x in change]
        out[rule] = entry
    return {"self_improve_search": out}
