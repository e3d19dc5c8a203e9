"""Hex figures: load the CSVs that `ttc.hex.experiment.run_hex` writes, fit, return Figures.

Each figure reads one CSV of `results/hex/`: `agents.csv` (Elo vs train compute, Elo vs test
compute), `iso_elo.csv` (the trade-off), `frontier.csv` (the compute frontier). Only
`write_figures` writes files (PNG + PDF under `figures/`).

    python -m analysis.hex_figures [results/hex]

A folder without those CSVs, or a CSV lacking a column the figures read, holding empty cells,
non-numbers or non-positive compute, is refused with a one-line ``error: ...`` (exit 2) before any
figure is written.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import cm, colors
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from analysis import hex_fits as fits
from analysis.figure_cache import FORMATS, FigureCache, figure_key, save_figure
from analysis.table_io import check_cells, read_csv_table
from ttc.config import OneLineParser

# Per table: the columns the figures read (numbers unless named in BOOLEAN) and whether it may have no rows.
COLUMNS = {"agents": (("board", "width", "snapshot", "nodes", "train_flops", "test_flops", "elo"), False),
           "iso_elo": (("board", "elo_level", "train_flops", "test_flops", "at_floor", "pareto"), True),
           "frontier": (("board", "train_flops", "elo", "elo_se"), True)}
BOOLEAN = ("at_floor", "pareto")
POSITIVE = ("nodes", "train_flops", "test_flops")  # drawn and fitted on log scales


class HexFiguresError(ValueError):
    """Unusable input; the message is one line naming the problem and the fix."""


def _checked(table: pd.DataFrame, path: Path, columns: Sequence[str], may_be_empty: bool) -> pd.DataFrame:
    if table.empty and may_be_empty:  # a run with no iso-Elo points or no frontier writes a table without rows
        return table
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise HexFiguresError(f"{path} lacks column(s) {', '.join(missing)}; pass the CSVs a Hex run wrote "
                              "(python experiments/hex.py)")
    if table.empty:
        raise HexFiguresError(f"{path} has no rows; pass the CSVs of a finished Hex run (python experiments/hex.py)")
    flags = [c for c in columns if c in BOOLEAN]
    check_cells(table, str(path), HexFiguresError, texts=flags, numbers=[c for c in columns if c not in BOOLEAN])
    words = [c for c in flags if not pd.api.types.is_bool_dtype(table[c])]
    if words:
        raise HexFiguresError(f"{path} column(s) {', '.join(words)} hold values other than True/False; give booleans")
    low = [c for c in columns if c in POSITIVE and table[c].le(0).any()]
    if low:
        raise HexFiguresError(f"{path} has {', '.join(low)} <= 0; compute is positive (it is drawn on a log scale)")
    return table


def load(results_dir: Path) -> dict[str, pd.DataFrame]:
    """The three tables the figures read, checked (HexFiguresError names the first problem)."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise HexFiguresError(f"{results_dir} is not a folder; pass the folder a Hex run wrote, e.g. results/hex")
    out = {}
    for name, (columns, may_be_empty) in COLUMNS.items():
        path = results_dir / f"{name}.csv"
        if not path.is_file():
            raise HexFiguresError(f"{path} does not exist; pass the folder a Hex run wrote, e.g. results/hex")
        table = read_csv_table(path, HexFiguresError, "rerun python experiments/hex.py to write it again")
        out[name] = _checked(table, path, columns, may_be_empty)
    return out


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
    return _figures(load(results_dir))


def _figures(data: dict[str, pd.DataFrame]) -> dict[str, Figure]:
    agents, iso, front = data["agents"], data["iso_elo"], data["frontier"]
    out = {"hex_elo_vs_train": elo_vs_train(agents), "hex_elo_vs_test": elo_vs_test(agents)}
    if len(iso) and iso["pareto"].any():
        out["hex_tradeoff"] = tradeoff(iso)
    anchor = agents["anchor"] if "anchor" in agents else pd.Series("perfect", index=agents.index)  # as _note_anchor
    solved = agents.loc[anchor == "perfect", "board"].unique()
    if len(front) and front["board"].isin(solved).any():
        out["hex_frontier"] = frontier(front[front["board"].isin(solved)])
    return out


def write_figures(results_dir: Path, cache_dir: Path | None = None, formats: tuple[str, ...] = FORMATS) -> list[Path]:
    """Every figure in ``formats`` (PNG + PDF by default) under ``results_dir/figures``; with ``cache_dir``, a set drawn before
    from the same CSVs by the same code is copied from there (``analysis.figure_cache``)."""
    results_dir = Path(results_dir)
    data = load(results_dir)  # checked before anything is written
    out_dir = results_dir / "figures"
    if out_dir.exists() and not out_dir.is_dir():
        raise HexFiguresError(f"{out_dir} is a file; move it away so the figures can be written there")
    out_dir.mkdir(parents=True, exist_ok=True)
    cache = FigureCache(cache_dir)
    key = figure_key("hex", list(formats), *(results_dir / f"{name}.csv" for name in ("agents", "iso_elo", "frontier")))
    stored = cache.restore(key, out_dir)
    if stored is not None:
        return [out_dir / name for name in stored["files"]]
    paths = []
    for name, fig in _figures(data).items():
        paths += save_figure(fig, out_dir, name, formats)
    cache.store(key, paths)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """The CLI: draw every figure of a Hex results folder under its figures/; exit 2 on bad input."""
    ap = OneLineParser(prog="python -m analysis.hex_figures", description=__doc__.splitlines()[0])
    ap.add_argument("results", type=Path, nargs="?", default=Path("results/hex"),
                    help="the folder a Hex run wrote (agents.csv, iso_elo.csv, frontier.csv); default results/hex")
    args = ap.parse_args(argv)
    try:
        paths = write_figures(args.results)
    except HexFiguresError as why:
        print(f"error: {str(why).splitlines()[0]}", file=sys.stderr)
        return 2
    for p in paths:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
