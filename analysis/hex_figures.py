"""Hex figures: load the CSVs that `ttc.hex.experiment.run_hex` writes, fit, return Figures.

Each figure reads one CSV of `results/hex/`: `agents.csv` (Elo vs train compute, Elo vs test
compute), `iso_elo.csv` (the trade-off), `frontier.csv` (the compute frontier). Only
`write_figures` writes files (PNG + PDF under `figures/`).

    python analysis/hex_figures.py [results/hex]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import cm, colors
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from analysis import hex_fits as fits
from analysis.figure_cache import FORMATS, FigureCache, figure_key, save_figure


def load(results_dir: Path) -> dict[str, pd.DataFrame]:
    return {name: pd.read_csv(Path(results_dir) / f"{name}.csv") for name in ("agents", "iso_elo", "frontier")}


def _panels(boards, title: str) -> tuple[Figure, list]:
    fig = Figure(figsize=(4.2 * len(boards), 3.6), layout="constrained")
    axes = fig.subplots(1, len(boards), squeeze=False)[0]
    fig.suptitle(title)
    return fig, list(axes)


def _note_anchor(ax, g: pd.DataFrame) -> None:
    anchor = g["anchor"].iloc[0] if "anchor" in g else "perfect"
    ax.set_ylabel("Elo (perfect play = 0)" if anchor == "perfect" else "Elo (reference agent = 0)")


def elo_vs_train(agents: pd.DataFrame) -> Figure:
    """Per board: Elo against self-play compute, one line per node budget (best width at each point)."""
    boards = sorted(agents["board"].unique())
    fig, axes = _panels(boards, "Elo vs train-time compute, per test-time node budget")
    budgets = sorted(agents["nodes"].unique())
    cmap = cm.viridis(np.linspace(0, 0.9, len(budgets)))
    for ax, board in zip(axes, boards):
        g = agents[agents["board"] == board]
        for color, nodes in zip(cmap, budgets):
            h = g[g["nodes"] == nodes]
            best = h.loc[h.groupby("snapshot")["elo"].idxmax()].sort_values("train_flops")
            ax.plot(best["train_flops"], best["elo"], "o-", ms=3, color=color, label=f"{nodes} nodes")
        ax.set_xscale("log")
        ax.set_xlabel("self-play compute (FLOPs)")
        ax.set_title(f"{board}×{board}")
        _note_anchor(ax, g)
    axes[-1].legend(fontsize=7)
    return fig


def elo_vs_test(agents: pd.DataFrame) -> Figure:
    """Per board: Elo against test compute per move, one line per snapshot, coloured by train compute."""
    boards = sorted(agents["board"].unique())
    fig, axes = _panels(boards, "Elo vs test-time compute, per snapshot")
    norm = colors.LogNorm(agents["train_flops"].min(), agents["train_flops"].max())
    for ax, board in zip(axes, boards):
        g = agents[agents["board"] == board]
        for _, h in g.groupby(["width", "snapshot"]):
            h = h.sort_values("nodes")
            ax.plot(h["test_flops"], h["elo"], "-", lw=0.8, alpha=0.8, color=cm.plasma(norm(h["train_flops"].iloc[0])))
        ax.set_xscale("log")
        ax.set_xlabel("test compute per move (FLOPs)")
        ax.set_title(f"{board}×{board}")
        _note_anchor(ax, g)
    fig.colorbar(cm.ScalarMappable(norm, cm.plasma), ax=axes[-1], label="self-play compute (FLOPs)")
    return fig


def tradeoff(iso: pd.DataFrame) -> Figure:
    """Iso-Elo curves: least test compute reaching each Elo level against train compute (Pareto points
    over snapshots of all widths), with the pooled fit's slope."""
    boards = sorted(iso["board"].unique())
    fit = fits.fit_tradeoff(iso)
    fig, axes = _panels(boards, f"Train/test trade-off: slope {fit['slope']:.2f} (10× train saves "
                                f"{fit['k']:.1f}× test), R² {fit['r2']:.2f}")
    levels = sorted(iso["elo_level"].unique())
    norm = colors.Normalize(min(levels), max(levels))
    for ax, board in zip(axes, boards):
        g = iso[(iso["board"] == board) & iso["pareto"]]
        for level, h in g.groupby("elo_level"):
            h = h.sort_values("train_flops")
            color = cm.cividis(norm(level))
            ax.plot(h["train_flops"], h["test_flops"], "-", color=color, lw=1)
            free = h[~h["at_floor"]]
            ax.plot(free["train_flops"], free["test_flops"], "o", ms=3, color=color)
            if len(free) >= 2:  # the pooled slope drawn through this level's points
                x = np.log10(free["train_flops"].to_numpy())
                y0 = np.mean(np.log10(free["test_flops"].to_numpy()) - fit["slope"] * x)
                xs = np.array([x.min(), x.max()])
                ax.plot(10 ** xs, 10 ** (y0 + fit["slope"] * xs), "--", color=color, lw=0.7)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels collide on short ranges
        ax.set_xlabel("self-play compute (FLOPs)")
        ax.set_ylabel("least test compute per move (FLOPs)")
        ax.set_title(f"{board}×{board}")
    fig.colorbar(cm.ScalarMappable(norm, cm.cividis), ax=axes[-1], label="Elo level")
    return fig


def frontier(front: pd.DataFrame) -> Figure:
    """Best Elo over widths against self-play compute per board, with the change-point fit."""
    fig = Figure(figsize=(5.5, 4), layout="constrained")
    ax = fig.subplots()
    fit = fits.fit_changepoint(front)
    boards = sorted(front["board"].unique())
    for color, board in zip(cm.tab10(np.arange(len(boards))), boards):
        g = front[front["board"] == board].sort_values("train_flops")
        ax.errorbar(g["train_flops"], g["elo"], yerr=g["elo_se"], fmt="o", ms=3, color=color,
                    label=f"{board}×{board}")
        if fit:
            xs = np.linspace(np.log10(g["train_flops"].min()), np.log10(g["train_flops"].max()), 100)
            params = [fit[k] for k in ("elo_per_decade", "m_board", "intercept", "floor_board", "floor_intercept")]
            ax.plot(10 ** xs, fits.changepoint_model(np.array(params), xs, np.full_like(xs, board)), "-",
                    color=color, lw=1)
    title = "Elo frontier (best width)"
    if fit:
        title += f": {fit['elo_per_decade']:.0f} Elo/decade, ×{fit['perfect_play_ratio_per_board_step']:.1f}/board step"
    ax.set_title(title, fontsize=9)
    ax.set_xscale("log")
    ax.set_xlabel("self-play compute (FLOPs)")
    ax.set_ylabel("Elo (perfect play = 0)")
    ax.legend(fontsize=8)
    return fig


def make_figures(results_dir: Path) -> dict[str, Figure]:
    data = load(results_dir)
    agents, iso, front = data["agents"], data["iso_elo"], data["frontier"]
    out = {"hex_elo_vs_train": elo_vs_train(agents), "hex_elo_vs_test": elo_vs_test(agents)}
    if len(iso) and iso["pareto"].any():
        out["hex_tradeoff"] = tradeoff(iso)
    solved = agents.loc[agents["anchor"] == "perfect", "board"].unique()
    if front["board"].isin(solved).any():
        out["hex_frontier"] = frontier(front[front["board"].isin(solved)])
    return out


def write_figures(results_dir: Path, cache_dir: Path | None = None, formats: tuple[str, ...] = FORMATS) -> list[Path]:
    """Every figure in ``formats`` (PNG + PDF by default) under ``results_dir/figures``; with ``cache_dir``, a set drawn before
    from the same CSVs by the same code is copied from there (``analysis.figure_cache``)."""
    results_dir = Path(results_dir)
    out_dir = results_dir / "figures"
    out_dir.mkdir(parents=True, exist_ok=True)
    cache = FigureCache(cache_dir)
    key = figure_key("hex", list(formats), *(results_dir / f"{name}.csv" for name in ("agents", "iso_elo", "frontier")))
    stored = cache.restore(key, out_dir)
    if stored is not None:
        return [out_dir / name for name in stored["files"]]
    paths = []
    for name, fig in make_figures(results_dir).items():
        paths += save_figure(fig, out_dir, name, formats)
    cache.store(key, paths)
    return paths


if __name__ == "__main__":
    for p in write_figures(Path(sys.argv[1] if len(sys.argv) > 1 else "results/hex")):
        print(p)
