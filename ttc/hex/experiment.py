"""`run_hex`: train, evaluate and analyse the Hex train/test compute trade-off, with caching.

Stages and their cache keys (under `cache_dir/hex/`):
- `solver/`: the exact solver's table per board size (board size, solver version);
- `train/<key>/`: one directory per training run (board, width, depth, self-play and optimiser
  settings, snapshot grid, seed): a snapshot `.npz` + `.json` at each grid point and a checkpoint of
  the full training state, so a killed run resumes from its last snapshot;
- `games/<key>.json`: one file per tournament pair (both agents' identities, openings, games).
Fits and tables are cheap and always rebuilt from the cached pieces; the entry scripts write them
(`experiments/hex.py`, `experiments/sweep.py`) and draw the figures (`analysis/hex_figures.py`).
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ttc import cache, cache_files
from ttc.parallel import run_items, torch_threads

from . import selfplay, tournament
from .config import HexConfig
from .elo import fit_elo
from .mcts import mcts_agent
from .net import NetShape, to_numpy
from .solver import HexSolver, perfect_agent

VERSIONS = {"solver": 1, "train": 1, "games": 1}


def _key(stage: str, pieces: dict) -> str:
    """``<stage>-<hash>``: ``ttc.cache.content_key`` of the stage, its code version and what it depends on."""
    return f"{stage}-{cache.content_key(stage, VERSIONS[stage], pieces)}"


# --- stage: exact solver ---------------------------------------------------------------------
def _solver_path(n: int, cache_dir: str) -> Path:
    return Path(cache_dir) / "hex" / "solver" / f"{_key('solver', {'n': n})}.pkl"


@functools.cache  # one per worker process and board
def load_solver(n: int, cache_dir: str) -> HexSolver:
    path = _solver_path(n, cache_dir)
    if cache.intact(path):
        return HexSolver(n, cache_files.read_pickle(path))
    solver = HexSolver(n)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * n * n + 100))
    solver.move_values(0, 0)  # solves every position reached from the empty board's search
    cache_files.write_pickle(path, solver.table)
    return solver


def save_solver(n: int, cache_dir: str) -> None:
    """Merge this process's solved positions into the table on disk (a lost race only loses some)."""
    solver = load_solver(n, cache_dir)
    path = _solver_path(n, cache_dir)
    on_disk = cache_files.read_pickle(path) if cache.intact(path) else {}
    if len(solver.table) > len(on_disk):
        on_disk.update(solver.table)
        cache_files.write_pickle(path, on_disk)


# --- stage: training --------------------------------------------------------------------------
def run_key(cfg: HexConfig, board: int, width: int) -> str:
    b = cfg.board_sizes.index(board)
    return _key("train", {
        "board": board, "width": width, "depth": cfg.net_depth, "seed": cfg.seed,
        "settings": dataclasses.asdict(cfg.train_settings(board)),
        "max_train_flops": cfg.max_train_flops[b], "n_snapshots": cfg.n_snapshots,
        "max_selfplay_evals": cfg.max_selfplay_evals})


def _reachable(cfg: HexConfig, board: int, width: int) -> list[float]:
    shape = NetShape(board, width, cfg.net_depth)
    targets = selfplay.snapshot_targets(cfg.max_train_flops[cfg.board_sizes.index(board)], cfg.n_snapshots)
    return [t for t in targets if t / shape.forward_flops <= cfg.max_selfplay_evals]


def _run_done(cfg: HexConfig, board: int, width: int, run_dir: Path) -> bool:
    """Every snapshot of the run is on disk (a warm rerun only reads them)."""
    return all(_snapshot_ok(run_dir, k) for k in range(len(_reachable(cfg, board, width))))


def _snapshot_ok(run_dir: Path, k: int) -> bool:
    """Snapshot k's record and weights are on disk and undamaged."""
    return cache.intact(run_dir / f"snap-{k:02d}.json", run_dir / f"snap-{k:02d}.npz")


def _train_run(cfg: HexConfig, board: int, width: int, run_dir: Path) -> list[dict]:
    """Train one network, writing a snapshot at each grid point it reaches; returns their records."""
    shape = NetShape(board, width, cfg.net_depth)
    settings = cfg.train_settings(board)
    reachable = _reachable(cfg, board, width)
    records = []
    if not _run_done(cfg, board, width, run_dir):
        seed = cfg.seed + 1000 * board + width
        state = selfplay.init_state(shape, settings, seed)
        ckpt = run_dir / "checkpoint.pt"
        if cache.intact(ckpt):
            _restore(state, cache_files.read_torch(ckpt))
            first_missing = next(k for k in range(len(reachable)) if not _snapshot_ok(run_dir, k))
            if state.selfplay_flops() >= reachable[first_missing]:
                # the checkpoint is past a snapshot to rebuild (a damaged one): train again from the start,
                # which reproduces every snapshot exactly (training is deterministic)
                state = selfplay.init_state(shape, settings, seed)
    for k, target in enumerate(reachable):
        snap = run_dir / f"snap-{k:02d}.json"
        if not _snapshot_ok(run_dir, k):
            selfplay.advance(state, settings, target)
            cache_files.write_npz(run_dir / f"snap-{k:02d}.npz", to_numpy(state.net))
            cache_files.write_json_file(snap, {
                "board": board, "width": width, "snapshot": k, "target_flops": target, "train_flops": state.selfplay_flops(),
                "optimiser_flops": state.optimiser_flops(), "selfplay_evals": state.selfplay_evals,
                "generations": state.generations, "forward_flops": shape.forward_flops})
            cache_files.write_torch(run_dir / "checkpoint.pt", _checkpoint(state))
        records.append(cache_files.read_json_file(snap))
    return records


def _checkpoint(state: selfplay.TrainState) -> dict:
    return {"net": state.net.state_dict(), "optimizer": state.optimizer.state_dict(),
                "buffer_x": state.buffer_x, "buffer_pi": state.buffer_pi, "buffer_z": state.buffer_z,
                "rng": state.rng.bit_generator.state, "selfplay_evals": state.selfplay_evals,
                "optimiser_samples": state.optimiser_samples, "generations": state.generations}


def _restore(state: selfplay.TrainState, ckpt: dict) -> None:
    state.net.load_state_dict(ckpt["net"])
    state.optimizer.load_state_dict(ckpt["optimizer"])
    state.buffer_x, state.buffer_pi, state.buffer_z = ckpt["buffer_x"], ckpt["buffer_pi"], ckpt["buffer_z"]
    state.rng.bit_generator.state = ckpt["rng"]
    state.selfplay_evals, state.optimiser_samples = ckpt["selfplay_evals"], ckpt["optimiser_samples"]
    state.generations = ckpt["generations"]


# --- stage: tournament ------------------------------------------------------------------------
def _make_agent(cfg: HexConfig, board: int, spec: dict, cache_dir: str):
    if spec["run"] == "perfect":
        strong = mcts_agent(cache_files.read_npz(Path(spec["params"])), spec["when_lost_nodes"], c_puct=cfg.c_puct)
        return perfect_agent(load_solver(board, cache_dir), strong)
    params = cache_files.read_npz(Path(spec["params"]))
    return mcts_agent(params, spec["nodes"], c_puct=cfg.c_puct)


def _play_pairs(cfg: HexConfig, board: int, jobs: list[tuple[Path, dict, dict]], cache_dir: str) -> list:
    """Play a batch of pairs, writing each pair's result as soon as it is known."""
    openings = tournament.match_openings(board, cfg.eval_games_per_pair, cfg.eval_opening_stones,
                                         cfg.seed + board)
    out = []
    for path, a, b in jobs:
        rng = np.random.default_rng([cfg.seed, board, int(path.stem.split("-")[1][:8], 16)])  # per pair, from its key
        won = tournament.play_match(_make_agent(cfg, board, a, cache_dir), _make_agent(cfg, board, b, cache_dir),
                                    *openings, rng)
        result = {"first_wins": int(won.sum()), "games": int(won.size)}
        cache_files.write_json_file(path, result)
        out.append((path, result))
    if board <= cfg.solver_max_board:
        save_solver(board, cache_dir)
    return out


def _agent_identity(spec: dict) -> dict:
    keys = ("run", "snapshot", "nodes", "when_lost", "when_lost_nodes", "solver")
    return {k: spec[k] for k in keys if k in spec}


# --- orchestration ----------------------------------------------------------------------------
def _train_item(cfg: HexConfig, item: tuple[int, int, Path]) -> list[dict]:
    """One training run (``ttc.parallel.run_items`` calls ``fn(cfg, item)``)."""
    return _train_run(cfg, *item)


def _play_item(cfg: HexConfig, item: tuple[int, list[tuple[Path, dict, dict]], str]) -> list:
    """One chunk of tournament pairs on one board."""
    return _play_pairs(cfg, *item)


@dataclass(frozen=True)
class HexRun:
    """What one Hex run measures: its tables (``snapshots``, ``games``, ``agents``, each a CSV of
    results/hex/) and the wall seconds of its stages (cached stages ~0: a run log's, never a result's).
    The fits on them (iso-Elo trade-off, frontier, change point) and the headline numbers are
    ``analysis.hex_fits.hex_results``'s."""

    tables: dict[str, pd.DataFrame]
    stage_seconds: dict[str, float]


def run_hex(config: HexConfig, *, cache_dir: Path, progress: bool = True) -> HexRun:
    """Train every (board, width) run, play the tournaments, fit each agent's Elo. The entry scripts fit
    the trade-off (analysis/hex_fits.py), write the tables (experiments/hex.py) and draw the figures
    (analysis/hex_figures.py)."""
    with torch_threads(1):  # one torch thread per process, workers included (run_items(threads=1)); the caller's back after
        return _run(config, Path(cache_dir), progress)


def _run(config: HexConfig, cache_dir: Path, progress: bool) -> HexRun:
    cfg, root = config, cache_dir / "hex"
    start = time.time()
    for n in cfg.board_sizes:  # solvers first, in this process: workers then read them from disk
        if n <= cfg.solver_max_board:
            load_solver(n, str(cache_dir))
    seconds = {"solver": time.time() - start}
    snaps = _train_stage(cfg, root, progress)
    seconds["train"] = time.time() - start - sum(seconds.values())
    pairs = _tournament_pairs(cfg, root, snaps)
    _play_stage(cfg, pairs, cache_dir, progress)
    seconds["games"] = time.time() - start - sum(seconds.values())
    games, agents = _elo_stage(cfg, snaps, pairs)
    seconds["elo"] = time.time() - start - sum(seconds.values())
    return HexRun({"snapshots": snaps, "games": games, "agents": agents}, {k: round(v, 1) for k, v in seconds.items()})


def _train_stage(cfg: HexConfig, root: Path, progress: bool) -> pd.DataFrame:
    """Train every (board, width) run, longest first (wall time goes with the forward passes); one row
    per distinct snapshot (board, width, snapshot, compute, ...) with its run key."""
    def evals(nw):
        flops = cfg.max_train_flops[cfg.board_sizes.index(nw[0])]
        return min(flops / NetShape(nw[0], nw[1], cfg.net_depth).forward_flops, cfg.max_selfplay_evals)

    runs = sorted(((n, w) for n in cfg.board_sizes for w in cfg.net_widths), key=evals, reverse=True)
    items = [(n, w, root / "train" / run_key(cfg, n, w)) for n, w in runs]
    done = run_items(_train_item, cfg, items, "hex train", n_jobs=cfg.n_jobs, progress=progress, threads=1,
                     cached=lambda it: _run_done(cfg, *it), label=lambda it: f"{it[0]}x{it[0]}/w{it[1]}")
    snaps = pd.DataFrame([r for recs in done for r in recs])
    snaps["run"] = [run_key(cfg, n, w) for n, w in zip(snaps["board"], snaps["width"])]
    # A generation can overshoot several grid points: keep the first snapshot of each state.
    snaps = snaps.sort_values(["board", "width", "snapshot"])
    return snaps[~snaps.duplicated(["board", "width", "selfplay_evals"])].reset_index(drop=True)


@dataclass(frozen=True)
class Pair:
    """One tournament pair: board, the two agents' indices into `specs` (the board's agents, reference
    first) and the cache file of its result."""
    board: int
    first: int
    second: int
    path: Path
    specs: list


def _board_agents(cfg: HexConfig, root: Path, sub: pd.DataFrame, n: int) -> list[dict]:
    """The board's agents, the reference first: every snapshot at every test-time node budget."""
    top = sub[sub["width"] == sub["width"].max()].iloc[-1]  # the strongest network: widest run, last snapshot
    top_params = str(root / "train" / top["run"] / f"snap-{int(top['snapshot']):02d}.npz")
    if n <= cfg.solver_max_board:  # perfect play; in lost positions, the strongest network's move
        ref = {"run": "perfect", "snapshot": -1, "nodes": 0, "width": 0, "solver": VERSIONS["solver"],
               "when_lost": f"{top['run']}/{int(top['snapshot'])}", "when_lost_nodes": cfg.when_lost_nodes,
               "params": top_params}
    else:  # the strongest network, searched harder
        ref = {"run": top["run"], "snapshot": int(top["snapshot"]), "nodes": cfg.reference_nodes, "width": 0,
               "params": top_params}
    return [ref] + [{"run": r["run"], "snapshot": int(r["snapshot"]), "nodes": int(m), "width": int(r["width"]),
                     "params": str(root / "train" / r["run"] / f"snap-{int(r['snapshot']):02d}.npz")}
                    for _, r in sub.iterrows() for m in cfg.test_nodes]


def _tournament_pairs(cfg: HexConfig, root: Path, snaps: pd.DataFrame) -> list[Pair]:
    """Every board's scheduled pairs (tournament.schedule_pairs), each keyed by both agents' identities
    and the evaluation settings."""
    pairs = []
    for n in cfg.board_sizes:
        specs = _board_agents(cfg, root, snaps[snaps["board"] == n], n)
        agent_specs = [tournament.AgentSpec("reference", 0, -1, 0)] + [
            tournament.AgentSpec(s["run"], s["width"], s["snapshot"], s["nodes"]) for s in specs[1:]]
        for i, j in tournament.schedule_pairs(agent_specs, reference_min_nodes=cfg.reference_min_nodes):
            key = _key("games", {
                "board": n, "a": _agent_identity(specs[i]), "b": _agent_identity(specs[j]),
                "games": cfg.eval_games_per_pair, "stones": cfg.eval_opening_stones, "seed": cfg.seed,
                "c_puct": cfg.c_puct})
            pairs.append(Pair(n, i, j, root / "games" / f"{key}.json", specs))
    return pairs


def _play_stage(cfg: HexConfig, pairs: list[Pair], cache_dir: Path, progress: bool) -> None:
    """Play the pairs not yet cached, the costliest first, in 8 chunks per worker and board."""
    pair_jobs: dict[int, list[tuple[Path, dict, dict]]] = {}
    for p in pairs:
        if not cache.intact(p.path):
            pair_jobs.setdefault(p.board, []).append((p.path, p.specs[p.first], p.specs[p.second]))
    items = []
    for n, jobs in pair_jobs.items():
        jobs.sort(key=lambda job: -(job[1]["nodes"] + job[2]["nodes"]))
        n_chunks = max(1, min(len(jobs), 8 * cfg.n_jobs))
        items += [(n, jobs[c::n_chunks], str(cache_dir)) for c in range(n_chunks)]
    run_items(_play_item, cfg, items, "hex games", n_jobs=cfg.n_jobs, progress=progress, threads=1,
              label=lambda it: f"{it[0]}x{it[0]}/{len(it[1])} pairs")


def _elo_stage(cfg: HexConfig, snaps: pd.DataFrame, pairs: list[Pair]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(games, agents) tables: every pair's result, and each agent's Elo per board anchored on the
    reference (index 0), with its compute."""
    game_rows, agent_rows = [], []
    for n in cfg.board_sizes:
        board_pairs = [p for p in pairs if p.board == n]
        specs = board_pairs[0].specs
        res = [cache_files.read_json_file(p.path) for p in board_pairs]
        first, second = np.array([p.first for p in board_pairs]), np.array([p.second for p in board_pairs])
        wins, games = np.array([r["first_wins"] for r in res]), np.array([r["games"] for r in res])
        elo = fit_elo(first, second, wins, games, len(specs), anchor=0, pseudocount=cfg.elo_pseudocount)
        for p, r in zip(board_pairs, res):
            game_rows.append(dict(board=n, first=_label(specs[p.first]), second=_label(specs[p.second]), **r))
        for k, s in enumerate(specs[1:], start=1):
            snap = snaps[(snaps["run"] == s["run"]) & (snaps["snapshot"] == s["snapshot"])].iloc[0]
            agent_rows.append({
                "board": n, "width": s["width"], "snapshot": s["snapshot"], "nodes": s["nodes"],
                "train_flops": snap["train_flops"], "optimiser_flops": snap["optimiser_flops"],
                "forward_flops": snap["forward_flops"], "test_flops": s["nodes"] * snap["forward_flops"],
                "elo": elo.elo[k], "elo_se": elo.se[k],
                "anchor": "perfect" if n <= cfg.solver_max_board else "reference"})
    return pd.DataFrame(game_rows), pd.DataFrame(agent_rows)


def _label(spec: dict) -> str:
    return "perfect" if spec["run"] == "perfect" else f"w{spec['width']}/s{spec['snapshot']}/n{spec['nodes']}"
