"""Fits on the Hex agents table: iso-Elo trade-off, compute frontier, change-point model (Jones 2021),
and ``hex_results``, the tables and headline numbers the entry scripts write from a ``ttc.hex.HexRun``.

The agents table has one row per (board, width, snapshot, nodes) with columns `board`, `width`,
`snapshot`, `nodes`, `train_flops` (self-play compute of the snapshot), `test_flops` (nodes × FLOPs per
forward pass, per move) and `elo` (perfect play = 0 where solved).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from ttc.hex import HexConfig, HexRun

TABLES = ("snapshots", "games", "agents", "iso_elo", "frontier")  # each written as results/hex/<name>.csv


def iso_elo(agents: pd.DataFrame, levels: np.ndarray) -> pd.DataFrame:
    """For each snapshot and Elo level, the least test compute reaching that level: the first node
    budget whose Elo is at or above it, interpolated linearly in log nodes from the budget below.
    `at_floor` marks levels already reached with one node (test compute cannot fall further)."""
    rows = []
    for (board, width, snapshot), g in agents.groupby(["board", "width", "snapshot"]):
        g = g.sort_values("nodes")
        nodes, elo = g["nodes"].to_numpy(float), g["elo"].to_numpy()
        flops_per_node = g["test_flops"].iloc[0] / g["nodes"].iloc[0]
        for level in levels:
            above = np.flatnonzero(elo >= level)
            if above.size == 0:
                continue
            k = above[0]
            if k == 0:
                log_nodes = np.log10(nodes[0])
            else:
                frac = (level - elo[k - 1]) / (elo[k] - elo[k - 1])
                log_nodes = np.log10(nodes[k - 1]) + frac * (np.log10(nodes[k]) - np.log10(nodes[k - 1]))
            rows.append({"board": board, "width": width, "snapshot": snapshot, "elo_level": level,
                             "train_flops": g["train_flops"].iloc[0], "nodes_needed": 10 ** log_nodes,
                             "test_flops": 10 ** log_nodes * flops_per_node, "at_floor": k == 0})
    out = pd.DataFrame(rows)
    if out.empty:
        return out.assign(pareto=pd.Series(dtype=bool))
    out["pareto"] = _pareto(out)
    return out


def _pareto(iso: pd.DataFrame) -> np.ndarray:
    """Per (board, level): points no other point beats on both train and test compute. Of points with
    equal train and equal test compute, only the first in input order is kept."""
    keep = np.zeros(len(iso), bool)
    for _, g in iso.groupby(["board", "elo_level"]):
        g = g.sort_values(["train_flops", "test_flops"])
        best = np.inf
        for idx, test in zip(g.index, g["test_flops"]):
            if test < best:
                keep[iso.index.get_loc(idx)] = True
                best = test
    return keep


def fit_tradeoff(iso: pd.DataFrame) -> dict:
    """Least squares, Jones's form with one intercept per board:
    log10 test = slope · log10 train + b · Elo + c_board, on Pareto points above the one-node floor.
    "10× train compute saves k× test compute" with k = 10^(−slope). The slope is NaN where log train
    compute is a combination of the other columns (not identified); elo_coef is NaN where the Elo level
    is (one level per board: the intercepts absorb it). slope_se has n_points − rank(design) degrees of
    freedom."""
    pts = iso[iso["pareto"] & ~iso["at_floor"]]
    boards = sorted(int(b) for b in pts["board"].unique())
    none = {"slope": np.nan, "k": np.nan, "r2": np.nan, "n_points": len(pts), "boards": boards}
    if len(pts) < len(boards) + 3:
        return none
    y = np.log10(pts["test_flops"].to_numpy())
    cols = [np.log10(pts["train_flops"].to_numpy()), pts["elo_level"].to_numpy()]
    cols += [(pts["board"] == b).to_numpy(float) for b in boards]
    x = np.stack(cols, axis=1)
    rank = int(np.linalg.matrix_rank(x))
    if np.linalg.matrix_rank(x[:, 1:]) == rank:
        return none
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    resid = y - x @ coef
    r2 = 1 - (resid ** 2).sum() / ((y - y.mean()) ** 2).sum()
    dof = len(y) - rank  # >= 1: at least len(boards) + 3 points against at most len(boards) + 2 columns
    cov = np.linalg.pinv(x.T @ x) * (resid ** 2).sum() / dof
    elo_identified = np.linalg.matrix_rank(np.delete(x, 1, axis=1)) < rank
    return {"slope": float(coef[0]), "slope_se": float(np.sqrt(cov[0, 0])), "k": float(10 ** -coef[0]),
                "elo_coef": float(coef[1]) if elo_identified else np.nan, "r2": float(r2), "n_points": len(y),
                "boards": boards}


def frontier(agents: pd.DataFrame, nodes: int) -> pd.DataFrame:
    """Elo at a fixed test-time node budget against self-play compute: the best width at each point
    of the shared snapshot grid (Jones's frontier is the best over network sizes at each compute)."""
    sub = agents[agents["nodes"] == nodes]
    idx = sub.groupby(["board", "snapshot"])["elo"].idxmax()
    return sub.loc[idx, ["board", "snapshot", "width", "train_flops", "elo", "elo_se"]].reset_index(drop=True)


def changepoint_model(params: np.ndarray, log_c: np.ndarray, board: np.ndarray) -> np.ndarray:
    """Elo = min(0, max(m·log10 C + m_b·B + c, m_fb·B + c_f))."""
    m, m_b, c, m_fb, c_f = params
    return np.minimum(0.0, np.maximum(m * log_c + m_b * board + c, m_fb * board + c_f))


def fit_changepoint(front: pd.DataFrame) -> dict:
    """Fit the change-point model jointly over boards (least squares). Returns the slope (Elo per
    decade), each board's compute for perfect play (where the rising line meets 0) and its ratio
    per board-size step."""
    boards = front["board"].to_numpy(float)
    log_c = np.log10(front["train_flops"].to_numpy())
    elo = front["elo"].to_numpy()
    if len(np.unique(boards)) < 2 or len(elo) < 6:
        return {}
    # Start from least squares on the rising part (strictly between the floor and perfect play).
    rising = (elo > elo.min() + 50) & (elo < -50)
    if rising.sum() < 3:
        rising = np.ones_like(elo, bool)
    x = np.stack([log_c[rising], boards[rising], np.ones(rising.sum())], axis=1)
    (m0, mb0, c0), *_ = np.linalg.lstsq(x, elo[rising], rcond=None)
    x0 = np.array([m0, mb0, c0, 0.0, elo.min()])
    fit = least_squares(lambda p: changepoint_model(p, log_c, boards) - elo, x0)
    m, m_b, c, m_fb, c_f = fit.x
    perfect = {int(b): float(10 ** (-(m_b * b + c) / m)) for b in np.unique(boards)}
    return {"elo_per_decade": float(m), "m_board": float(m_b), "intercept": float(c), "floor_board": float(m_fb),
                "floor_intercept": float(c_f), "perfect_play_flops": perfect,
                "perfect_play_ratio_per_board_step": float(10 ** (-m_b / m))}


def compute_within(front: pd.DataFrame, margin: float = 100.0) -> dict[int, float | None]:
    """Per board, the least self-play compute whose frontier Elo is within `margin` of perfect
    play (interpolated in log compute), None when never reached."""
    out: dict[int, float | None] = {}
    for board, g in front.groupby("board"):
        g = g.sort_values("train_flops")
        logc, elo = np.log10(g["train_flops"].to_numpy()), g["elo"].to_numpy()
        hit = np.flatnonzero(elo >= -margin)
        if hit.size == 0:
            out[int(board)] = None
        elif hit[0] == 0:
            out[int(board)] = float(10 ** logc[0])
        else:
            k = hit[0]
            frac = (-margin - elo[k - 1]) / (elo[k] - elo[k - 1])
            out[int(board)] = float(10 ** (logc[k - 1] + frac * (logc[k] - logc[k - 1])))
    return out


def hex_results(cfg: HexConfig, run: HexRun) -> tuple[dict[str, pd.DataFrame], dict]:
    """(tables in ``TABLES`` order, headline numbers keyed ``hex_*``) from a run's snapshots, games
    and fitted agents: the trade-off on the solved boards (each board's own beside it), the frontier
    at ``cfg.frontier_nodes`` and the change-point fit on it."""
    snaps, agents = run.tables["snapshots"], run.tables["agents"]
    levels = np.arange(-cfg.elo_level_step * np.floor(-agents["elo"].min() / cfg.elo_level_step), 0.0 + 1e-9,
                       cfg.elo_level_step)
    levels = levels[levels < 0]
    solved = agents.loc[agents["anchor"] == "perfect", "board"].unique()
    iso = iso_elo(agents, levels)
    trade = fit_tradeoff(iso[iso["board"].isin(solved)]) if len(iso) else {}
    per_board = {int(b): fit_tradeoff(g) for b, g in iso.groupby("board")}
    front = frontier(agents, cfg.frontier_nodes)
    solved_front = front[front["board"].isin(solved)]
    changepoint = fit_changepoint(solved_front)
    within = compute_within(solved_front)
    summary = {
        "hex_test_compute_saved_per_10x_train": trade.get("k"),
        "hex_tradeoff_slope": trade.get("slope"),
        "hex_tradeoff_slope_se": trade.get("slope_se"),
        "hex_tradeoff_r2": trade.get("r2"),
        "hex_tradeoff_points": trade.get("n_points"),
        "hex_tradeoff_board_sizes": trade.get("boards"),
        "hex_tradeoff_per_board": {str(b): {k: v for k, v in t.items() if k != "boards"}
                                   for b, t in per_board.items()},
        "hex_train_flops_within_100_elo_of_perfect": {f"{b}x{b}": v for b, v in within.items()},
        "hex_elo_per_decade_train_compute": changepoint.get("elo_per_decade"),
        "hex_perfect_play_flops_fit": {f"{b}x{b}": v for b, v in changepoint.get("perfect_play_flops", {}).items()},
        "hex_perfect_play_compute_ratio_per_board_step": changepoint.get("perfect_play_ratio_per_board_step"),
        "hex_frontier_nodes": cfg.frontier_nodes,
        "hex_median_elo_se": float(agents["elo_se"].median()),
        "hex_optimiser_to_selfplay_flops": float((snaps["optimiser_flops"] / snaps["train_flops"]).median()),
        "hex_changepoint_fit": changepoint,
    }
    tables = {"snapshots": snaps, "games": run.tables["games"], "agents": agents, "iso_elo": iso, "frontier": front}
    return tables, summary
