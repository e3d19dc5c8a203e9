"""Figures of the search stage (each with the CSV it draws) and the tables and numbers behind them.

- ``search_flops``: accuracy vs inference FLOPs per problem (generation + verification) for the largest
  searched generator: best-of-N, weighted vote and majority from its pool, every search strategy, and
  the compute-optimal mix (on the evaluation half);
- ``search_by_difficulty``: the same per difficulty bin (bin 1 = easiest);
- ``search_vs_larger``: a smaller generator with search against the larger generator's sampling;
- ``search_compute_optimal.csv`` / ``search_choices.csv``: the mix per budget and the method it chose per bin.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from analysis.figure_cache import FORMATS, FigureCache, figure_key, save_figure  # noqa: E402
from analysis.search import by_difficulty, compute_optimal, difficulty_bins, method_table, versus_larger  # noqa: E402

SHOWN_SAMPLING = {"best_of_n:prm": "best-of-N (PRM)", "weighted_vote:prm": "weighted vote (PRM)", "majority": "majority"}
FILES = ("search_flops", "search_by_difficulty", "search_vs_larger")


def _label(rule: str) -> str:
    if rule in SHOWN_SAMPLING:
        return SHOWN_SAMPLING[rule]
    return rule.removeprefix("search:").replace(":", " + ")


def _plot_methods(ax, methods: pd.DataFrame, acc_col: str = "accuracy") -> None:
    for rule, g in methods.groupby("rule", sort=True):
        if g["kind"].iloc[0] == "sampling" and rule not in SHOWN_SAMPLING:
            continue
        g = g.sort_values("flops")
        style = "-" if g["kind"].iloc[0] == "sampling" else "--"
        ax.plot(g["flops"], g[acc_col], style, marker="o", ms=3, label=_label(rule))
    ax.set_xscale("log")
    ax.set_xlabel("inference FLOPs per problem (generation + verification)")
    ax.grid(alpha=0.3)


def search_numbers(curves: pd.DataFrame, per_problem: pd.DataFrame, *, n_bins: int, confidence: float) -> dict:
    """Tables and headline numbers of the search stage, or {} when the run searched nothing."""
    searched = curves[curves["role"] == "search"]
    if searched.empty:
        return {}
    main = searched.sort_values("params")["generator"].iloc[-1]
    methods, values = method_table(curves, per_problem, main)
    bins = difficulty_bins(per_problem, main, np.asarray(values.columns), n_bins)
    budgets = sorted(searched[searched["generator"] == main]["n"].unique().tolist())
    mix, choices = compute_optimal(methods, values, bins, budgets, confidence=confidence)
    per_bin = by_difficulty(methods, values, bins)
    tables = {"methods": methods.assign(generator=main), "by_difficulty": per_bin.assign(generator=main),
              "compute_optimal": mix.assign(generator=main), "choices": choices.assign(generator=main)}
    small = [g for g in searched["generator"].unique() if g != main]
    if small:
        ms, vs = method_table(curves, per_problem, small[0])
        rule = sorted(searched[searched["generator"] == small[0]]["rule"].unique())[0]
        tables["vs_larger"] = versus_larger(ms, methods, vs, values, rule).assign(
            small_generator=small[0], large_generator=main, rule=rule)
    top = searched[searched["generator"] == main]
    nmax = int(top["n"].max())
    at = methods[methods["n"] == nmax].set_index("rule")
    numbers = {"generator": main, "n_problems": int(values.shape[1]), "budgets": budgets,
               f"accuracy_at_n{nmax}": {r: round(float(a), 4) for r, a in at["accuracy"].items()},
               f"flops_per_problem_at_n{nmax}": {r: float(f"{f:.4g}") for r, f in at["flops"].items()},
               "compute_optimal": [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}
                                   for r in mix.to_dict(orient="records")],
               "choices": choices.to_dict(orient="records"),
               "by_difficulty": _bin_rows(per_bin)}
    if "vs_larger" in tables:
        numbers["vs_larger"] = [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}
                                for r in tables["vs_larger"].to_dict(orient="records")]
    return {"numbers": numbers, "tables": tables}


def _bin_rows(per_bin: pd.DataFrame) -> list[dict]:
    """Per budget and difficulty bin: best-of-N (PRM), majority and the best search strategy there."""
    rows = []
    for (n, b), g in per_bin[per_bin["n"].isin(per_bin.loc[per_bin["kind"] == "search", "n"].unique())].groupby(["n", "bin"]):
        by = g.set_index("rule")["accuracy"]
        search = g[g["kind"] == "search"].sort_values(["accuracy", "flops"], ascending=[False, True]).iloc[0]
        rows.append({"n": int(n), "bin": int(b), "n_problems": int(g["n_problems"].iloc[0]),
                     "best_of_n_prm": round(float(by.get("best_of_n:prm", np.nan)), 4),
                     "majority": round(float(by.get("majority", np.nan)), 4),
                     "best_search": search["rule"], "best_search_accuracy": round(float(search["accuracy"]), 4)})
    return rows


def _draw(tables: dict, out_dir: Path, formats: tuple[str, ...]) -> list[Path]:
    written = []
    methods, mix = tables["methods"], tables["compute_optimal"]
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    _plot_methods(ax, methods)
    if len(mix):
        ax.plot(mix["mix_flops"], mix["mix_accuracy"], "k-", marker="s", lw=2, label="compute-optimal mix (eval half)")
        ax.plot(mix["best_of_n_flops"], mix["best_of_n_accuracy"], "k:", marker="s", mfc="none",
                label="best-of-N (PRM), eval half")
    ax.set_ylabel("test accuracy")
    ax.set_title(f"search vs sampling, generator {methods['generator'].iloc[0]} ({int(methods['n_problems'].iloc[0])} problems)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    data = {"search_flops": pd.concat([methods.assign(series="method"), mix.rename(
        columns={"mix_flops": "flops", "mix_accuracy": "accuracy"}).assign(series="compute_optimal", rule="mix")],
        ignore_index=True)}
    figs = {"search_flops": fig}
    per_bin = tables["by_difficulty"]
    bins = sorted(per_bin["bin"].unique())
    fig, axes = plt.subplots(1, len(bins), figsize=(3.0 * len(bins), 3.4), sharey=True, squeeze=False)
    for ax, b in zip(axes[0], bins):
        _plot_methods(ax, per_bin[per_bin["bin"] == b])
        tag = " (easiest)" if b == bins[0] else " (hardest)" if b == bins[-1] else ""
        n_bin = int(per_bin[per_bin["bin"] == b]["n_problems"].iloc[0])
        ax.set_title(f"bin {b}{tag}, {n_bin} problems", fontsize=9)
        ax.set_xlabel("FLOPs / problem", fontsize=8)
    axes[0][0].set_ylabel("accuracy")
    axes[0][-1].legend(fontsize=6)
    fig.tight_layout()
    figs["search_by_difficulty"], data["search_by_difficulty"] = fig, per_bin
    if "vs_larger" in tables:
        v = tables["vs_larger"]
        fig, ax = plt.subplots(figsize=(6.0, 4.2))
        ax.plot(v["small_flops"], v["small_accuracy"], "--o", label=f"{v['small_generator'].iloc[0]} + {_label(v['rule'].iloc[0])}")
        large = methods[methods["rule"].isin(SHOWN_SAMPLING)]
        for rule, g in large.groupby("rule"):
            g = g.sort_values("flops")
            ax.plot(g["flops"], g["accuracy"], "-", marker=".", label=f"{v['large_generator'].iloc[0]}: {_label(rule)}")
        ax.set_xscale("log")
        ax.set_xlabel("inference FLOPs per problem")
        ax.set_ylabel("test accuracy")
        ratio = v["large_params"].iloc[0] / v["small_params"].iloc[0]
        ax.set_title(f"smaller generator with search vs a {ratio:.1f}x larger one", fontsize=10)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        figs["search_vs_larger"], data["search_vs_larger"] = fig, v
    for name, fig in figs.items():
        written += save_figure(fig, out_dir, name, formats)
        plt.close(fig)
        data[name].to_csv(out_dir / f"{name}.csv", index=False)
        written.append(out_dir / f"{name}.csv")
    for name in ("compute_optimal", "choices"):
        path = out_dir / f"search_{name}.csv"
        tables[name].to_csv(path, index=False)
        written.append(path)
    return written


def write_search_figures(curves: pd.DataFrame, per_problem: pd.DataFrame, out_dir: Path, *, n_bins: int = 5,
                         confidence: float = 0.95, cache_dir: Path | None = None,
                         formats: tuple[str, ...] = FORMATS) -> list[str]:
    """Draw (or restore) the search figures under ``out_dir``; returns the file names ([] without search).
    The headline numbers are ``search_numbers``' (``analysis.headline`` puts them in the summary)."""
    searched = curves[curves["role"] == "search"] if "role" in curves else curves.iloc[:0]
    if searched.empty:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    keep = per_problem["generator"].isin(searched["generator"].unique())
    key = figure_key("search", curves[curves["generator"].isin(searched["generator"].unique())],
                     per_problem[keep], n_bins, confidence, list(formats))
    cache = FigureCache(cache_dir)
    stored = cache.restore(key, out_dir)
    if stored is not None:
        return stored["files"]
    result = search_numbers(curves, per_problem, n_bins=n_bins, confidence=confidence)
    written = _draw(result["tables"], out_dir, formats)
    cache.store(key, written)
    return [p.name for p in written]
