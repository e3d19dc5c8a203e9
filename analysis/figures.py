"""Result tables → fits → figures, for the language-model sweep.

Every ``fig_*`` function takes the tidy ``curves`` table (``results/curves.csv``) and returns
``(figure, data)``: the matplotlib figure and the DataFrame it plots (written beside it as CSV). The
fits a figure shows come from ``analysis.headline``, which also builds the summary's numbers from them:
figures only draw. Only ``write_figures`` writes files.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from analysis.figure_cache import FORMATS, FigureCache, figure_key, save_figure  # noqa: E402
from analysis.headline import (  # noqa: E402
    NoData,
    best_of_n_rows,
    compute_frontier,
    coverage_law,
    coverage_law_fit,
    coverage_rows,
    final_rows,
    largest,
    model_size_table,
    need,
    tradeoff_fit,
)
from analysis.tradeoff import TARGETS, crossings  # noqa: E402
from ttc.selection import rule_label  # noqa: E402

STYLE = {"figure.figsize": (6.4, 4.2), "axes.grid": True, "grid.alpha": 0.3, "font.size": 10,
         "axes.spines.top": False, "axes.spines.right": False, "legend.fontsize": 8}
# how the sweep's scorers (the part of a rule after ':') are named in legends; rules are named by the registry
SCORER_LABELS = {"logprob": "generator log-prob", "prob": "generator prob", "orm": "ORM", "prm": "PRM"}


NotDrawn = NoData  # a figure whose data this run does not have (the message says what is missing)


def _label(rule: str) -> str:
    return rule_label(rule, SCORER_LABELS)


def fig_best_of_n(curves: pd.DataFrame, split: str = "test"):
    """Accuracy vs N per rule (Lightman Fig. 3; coverage as the ceiling): one panel per verified generator
    (those with verifier rules), the largest generator alone when none is verified."""
    data, gens = best_of_n_rows(curves, split)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(gens), figsize=(4.6 * len(gens) + 1.6, 4.2), sharey=True, squeeze=False)
        for ax, gen in zip(axes[0], gens):
            g = data[data["generator"] == gen]
            for rule, d in g.groupby("rule", sort=False):
                style = dict(ls="--", color="gray") if rule == "coverage" else {}
                ax.plot(d["n"], d["accuracy"] * 100, marker="o", ms=3, label=_label(rule), **style)
                ax.fill_between(d["n"], d["ci_low"] * 100, d["ci_high"] * 100, alpha=0.15,
                                **({"color": "gray"} if style else {}))
            ax.set_xscale("log", base=2)
            ax.set_xlabel("N, samples per problem")
            ax.set_title(f"{gen} ({g['params'].iloc[0]:,} params)")
        axes[0][0].set_ylabel(f"accuracy (% of {split} problems)")
        axes[0][-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
        fig.suptitle(f"Best-of-N on the {split} split")
        fig.tight_layout()
    return fig, data


def fig_model_size(curves: pd.DataFrame, per_problem: pd.DataFrame | None = None, *, n_boot: int = 2000):
    """Cobbe's figure and number: accuracy vs P for single sample and selection at the largest N of the
    verified sizes (left), and the model-size multiplier P'/P of each rule at each size (right): P' is
    where the monotone single-sample curve reaches the rule's accuracy (analysis.model_size), with a
    bootstrap CI over problems when per-problem values are given. Interpolated multipliers are
    measurements; those past the largest size are lower bounds (open markers)."""
    data, mult, rules, nmax = model_size_table(curves, per_problem, n_boot=n_boot)
    with plt.rc_context(STYLE):
        fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.2))
        colour = {rule: f"C{i}" for i, rule in enumerate(data["rule"].unique())}  # one colour per rule in both panels
        for rule, d in data.groupby("rule", sort=False):
            d = d.sort_values("params")
            ax.errorbar(d["params"], d["accuracy"] * 100,
                        yerr=[(d["accuracy"] - d["ci_low"]) * 100, (d["ci_high"] - d["accuracy"]) * 100],
                        marker="o", ms=4, capsize=2, color=colour[rule],
                        label=_label(rule) + ("" if rule == "single" else f", N={nmax}"))
        ax.set_xscale("log")
        ax.set_xlabel("generator parameters P (non-embedding)")
        ax.set_ylabel("accuracy (% of test problems)")
        ax.set_title("Selection vs model size (Cobbe Fig. 4)")
        ax.legend()
        for i, (rule, d) in enumerate(mult.groupby("rule", sort=False)):
            d = d.sort_values("params")
            x = d["params"].to_numpy(float) * 1.07 ** (i - len(rules) / 2)  # side by side
            y = d["multiplier"].to_numpy(float)
            err = np.abs(np.vstack([y - d["multiplier_ci_low"], d["multiplier_ci_high"] - y]))
            color = colour[rule]  # every multiplier rule is one of the left panel's
            bx.errorbar(x, y, yerr=np.nan_to_num(err), ls="none", capsize=2, color=color, label=_label(rule))
            lower = (d["kind"] == "lower_bound").to_numpy()
            bx.scatter(x[~lower], y[~lower], color=color, zorder=3)
            bx.scatter(x[lower], y[lower], facecolors="white", edgecolors=color, zorder=3)
        bx.axhline(1, color="gray", lw=0.8)
        bx.set_xscale("log")
        bx.set_yscale("log")
        bx.set_xlabel("generator parameters P")
        bx.set_ylabel("model-size multiplier P'/P")
        bx.set_title(f"Worth of selection at N={nmax} in model size\n(open: lower bound, past the largest size)")
        bx.legend()
        fig.tight_layout()
    return fig, data


def fig_train_test_tradeoff(curves: pd.DataFrame, saved_ci: list[float] | None = None, rule: str = "any",
                            targets=TARGETS):
    """Least test FLOPs per problem reaching each accuracy vs train FLOPs (Jones), via analysis.tradeoff:
    one colour per accuracy target (0.01 apart), the shared-slope fit dotted, and ``saved_ci`` (the
    headline's bootstrap CI of the saving, analysis.headline.train_test_tradeoff) in the title."""
    pts, fit = tradeoff_fit(curves, rule, targets)
    colours = matplotlib.colormaps["viridis"]
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots()
        for t, g in pts.groupby("target_accuracy"):
            colour = colours(float(t))
            ax.plot(g["train_flops"], g["test_flops_per_problem"], marker="o", ms=3, lw=0.8, color=colour)
            if fit["slope"] is not None and float(t) in fit["intercepts"]:
                x = np.log10(g["train_flops"].to_numpy(float))
                ax.plot(10 ** x, 10 ** (fit["slope"] * x + fit["intercepts"][float(t)]), ls=":", lw=0.8, color=colour)
        bar = fig.colorbar(matplotlib.cm.ScalarMappable(norm=matplotlib.colors.Normalize(0, 1), cmap=colours), ax=ax)
        bar.set_label("accuracy target (fraction of test problems)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("training compute (FLOPs, 6·P·tokens)")
        ax.set_ylabel("test compute per problem (FLOPs, 2·P·tokens, + verifier)")
        k = fit["test_compute_saved_per_10x_train"]
        r2 = "n/a" if fit["r2"] is None else f"{fit['r2']:.3f}"
        ci = f" [{saved_ci[0]:.3g}, {saved_ci[1]:.3g}]" if saved_ci else ""
        n_cross = len(crossings(pts))
        ax.set_title(f"Train vs test compute ({'best rule' if rule == 'any' else _label(rule)}): 10× train "
                     f"saves {k:.3g}×{ci} test\n({fit['n_points']} frontier points in {n_cross} crossings, "
                     f"R² {r2})" if k else "Train vs test compute", fontsize=9)
        fig.tight_layout()
    return fig, pts


def fig_coverage(curves: pd.DataFrame):
    """pass@k per generator with the fitted c(k) = exp(a·k^b) (Brown et al. 2024)."""
    cov = coverage_rows(curves)
    rows = []
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots()
        for gen, g in cov.groupby("generator", sort=False):
            line = ax.plot(g["n"], g["accuracy"] * 100, marker="o", ms=3, label=f"{gen} ({g['params'].iloc[0]:,})")[0]
            k, c = g["n"].to_numpy(float), g["accuracy"].to_numpy(float)
            ab = coverage_law_fit(k, c)
            fit = {"a": None, "b": None} if ab is None else {"a": round(ab[0], 4), "b": round(ab[1], 4)}
            if ab is not None:
                kk = np.geomspace(k.min(), k.max(), 50)
                ax.plot(kk, coverage_law(kk, *ab) * 100, ls=":", color=line.get_color())
            rows.append(g.assign(fit_a=fit["a"], fit_b=fit["b"]))
        ax.set_xscale("log", base=2)
        ax.set_xlabel("k, samples per problem")
        ax.set_ylabel("coverage, pass@k (% of problems)")
        ax.set_title("Coverage with the fitted exp(a·k^b) law (dotted)")
        ax.legend(title="generator (params)")
        fig.tight_layout()
    return fig, pd.concat(rows, ignore_index=True)


def fig_compute_frontier(curves: pd.DataFrame):
    """Accuracy vs total inference FLOPs per problem for every (generator, rule), with the envelope."""
    d = compute_frontier(curves)
    env = d[d["on_envelope"]]
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
    return fig, d


def fig_false_positives(curves: pd.DataFrame):
    """Share of chosen answers that are right with a wrong process, per rule, vs N (largest generator)."""
    fin = final_rows(curves)
    need(len(fin) and "false_positive_rate" in fin, "no test pool with process labels")
    gen = largest(fin)
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
    return fig, d


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
    return fig, data


def ticks_1_2_5(axis) -> None:
    """Labelled ticks at 1, 2 and 5 x 10^k on a log axis ("2e11"), unlabelled minor ticks between: a
    range of one or two decades gets several readable labels instead of one."""
    axis.set_major_locator(matplotlib.ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(matplotlib.ticker.FuncFormatter(
        lambda x, _: f"{x / 10 ** np.floor(np.log10(x)):.0f}e{int(np.floor(np.log10(x)))}" if x > 0 else ""))
    axis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def fig_learning_curves(curves: pd.DataFrame):
    """Single-sample test accuracy of every checkpoint vs its training compute, one line per size: is
    the family past its plateau, and does accuracy grow smoothly with training compute?"""
    d = curves[(curves["split"] == "test") & curves["role"].isin(["checkpoint", "final"])
               & (curves["rule"] == "single") & (curves["n"] == 1)]
    need(len(d), "no single-sample rows (eval.rules lacks 'single')")
    d = d.sort_values(["params", "train_flops"])[["generator", "params", "checkpoint_tokens", "train_flops",
                                                   "final", "accuracy", "ci_low", "ci_high"]]
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots()
        for gen, g in d.groupby("generator", sort=False):
            ax.errorbar(g["train_flops"], g["accuracy"] * 100, yerr=[(g["accuracy"] - g["ci_low"]) * 100,
                        (g["ci_high"] - g["accuracy"]) * 100], marker="o", ms=3, capsize=2,
                        label=f"{gen} ({g['params'].iloc[0]:,})")
        ax.set_xscale("log")
        ticks_1_2_5(ax.xaxis)
        ax.set_xlabel("training compute (FLOPs, 6·P·tokens)")
        ax.set_ylabel("single-sample accuracy (% of test problems)")
        ax.set_title("Learning curves: every checkpoint of every size")
        ax.legend(title="generator (P)")
        fig.tight_layout()
    return fig, d.reset_index(drop=True)


FIGURES = {
    "learning_curves": fig_learning_curves,
    "best_of_n": lambda c: fig_best_of_n(c, "test"),
    "ood": lambda c: fig_best_of_n(c, "ood"),
    "model_size": fig_model_size,
    "train_test_tradeoff": fig_train_test_tradeoff,
    "coverage": fig_coverage,
    "compute_frontier": fig_compute_frontier,
    "false_positives": fig_false_positives,
}


def write_figures(curves: pd.DataFrame, out_dir: Path, verifier_data: pd.DataFrame | None = None,
                  per_problem: pd.DataFrame | None = None, cache_dir: Path | None = None,
                  self_improve: pd.DataFrame | None = None, formats: tuple[str, ...] = FORMATS,
                  numbers: dict | None = None) -> dict[str, str]:
    """Every figure in ``formats`` (PNG + PDF by default) with its CSV under out_dir; returns the figures
    not drawn, each with the reason (the headline numbers are ``analysis.headline``'s, not the figures').

    With ``cache_dir``, a set drawn before from the same tables by the same code is copied from
    there instead of drawn (``analysis.figure_cache``). ``numbers``: the headline numbers
    (analysis.headline.headline_numbers) of the same tables, for the CIs a figure shows without
    recomputing them."""
    out_dir.mkdir(parents=True, exist_ok=True)
    makers = dict(FIGURES)
    makers["model_size"] = lambda c: fig_model_size(c, per_problem)
    saved_ci = (numbers or {}).get("train_test_tradeoff", {}).get("bootstrap_saved_ci")
    makers["train_test_tradeoff"] = lambda c: fig_train_test_tradeoff(c, saved_ci)
    if verifier_data is not None and len(verifier_data):
        makers["verifier_data"] = lambda _: fig_verifier_data(verifier_data)
    if self_improve is not None and len(self_improve):
        from analysis import self_improve as si
        makers["self_improve"] = lambda _: si.fig_self_improve(self_improve)
        makers["reward_hacking"] = lambda _: _drawn_or_not(si.fig_reward_hacking, self_improve)
        makers["self_improve_pass_at_n"] = lambda c: _drawn_or_not(si.fig_self_improve_pass_at_n, c, self_improve)
    cache = FigureCache(cache_dir)
    key = figure_key("lm", sorted(makers), list(formats), curves, per_problem if per_problem is not None else "none",
                     verifier_data if verifier_data is not None else "none",
                     self_improve if self_improve is not None else "none")
    stored = cache.restore(key, out_dir)
    not_drawn: dict[str, str] | None = stored["numbers"].get("figures_not_drawn", {}) if stored is not None else None
    if not_drawn is None:
        written, not_drawn = [], {}
        for name, make in makers.items():
            try:
                fig, data = make(curves)
            except NotDrawn as why:  # this run lacks the figure's data: say so instead of failing
                not_drawn[name] = str(why)
                continue
            written += save_figure(fig, out_dir, name, formats)  # same figure, same bytes
            plt.close(fig)
            data.to_csv(out_dir / f"{name}.csv", index=False)
            written.append(out_dir / f"{name}.csv")
        cache.store(key, written, {"figures_not_drawn": not_drawn})
    for stale in out_dir.iterdir():  # a figure (or format) this run no longer makes is removed
        if stale.suffix in (".png", ".pdf", ".svg", ".csv") and (
                stale.stem not in makers or stale.stem in not_drawn or stale.suffix[1:] not in (*formats, "csv")):
            stale.unlink()
    return not_drawn


def _drawn_or_not(make, *args):
    """``make(*args)``, its missing data reported as NotDrawn (the figure is then skipped with the reason)."""
    from analysis.self_improve import NoSelfImprove
    try:
        return make(*args)
    except NoSelfImprove as why:
        raise NotDrawn(str(why)) from None
