"""End to end on a tiny config: results, figures, headline keys, caching, exact resume."""

import json

import numpy as np
import torch

from experiments.hex import write_hex_results
from ttc.hex import HexConfig, experiment, run_hex, selfplay
from ttc.hex.net import NetShape

TINY = HexConfig(board_sizes=(3,), net_widths=(8, 16), max_train_flops=(1.6e7,), n_snapshots=3,
                 games_per_generation=(16,), selfplay_nodes=8, test_nodes=(1, 4), frontier_nodes=4,
                 eval_games_per_pair=8, n_jobs=1, batch_size=64)


def cache_intact(path) -> bool:
    from ttc.cache import intact
    return intact(path)


def _run(cache, results):
    """run_hex, then the tables written as the entry scripts write them; the headline numbers."""
    return write_hex_results(results, TINY, run_hex(TINY, cache_dir=cache, progress=False))


def test_run_hex_end_to_end_and_cached_rerun(tmp_path):
    cache, results = tmp_path / "cache", tmp_path / "results"
    summary = _run(cache, results)
    for name in ("snapshots", "games", "agents", "iso_elo", "frontier"):
        assert (results / f"{name}.csv").exists()
    import pandas as pd
    agents, games = pd.read_csv(results / "agents.csv"), pd.read_csv(results / "games.csv")
    snaps = pd.read_csv(results / "snapshots.csv")
    # the headline values are the tables' own, not placeholders
    assert summary["hex_median_elo_se"] == agents["elo_se"].median() > 0
    assert len(agents) == len(snaps) * len(TINY.test_nodes) and set(agents["nodes"]) == set(TINY.test_nodes)
    assert (games["games"] == TINY.eval_games_per_pair).all()
    within = summary["hex_train_flops_within_100_elo_of_perfect"]["3x3"]
    assert snaps["train_flops"].min() * (1 - 1e-9) <= within <= snaps["train_flops"].max() * (1 + 1e-9)
    # this tiny grid reaches no iso-Elo level twice: the trade-off says so (no points, no number)
    assert summary["hex_tradeoff_points"] == 0 and np.isnan(summary["hex_test_compute_saved_per_10x_train"])
    from analysis.hex_figures import write_figures  # the entry scripts draw them from the CSVs
    write_figures(results)
    assert (results / "figures" / "hex_elo_vs_test.png").exists()
    assert (results / "figures" / "hex_elo_vs_train.pdf").exists()
    assert json.loads((results / "summary.json").read_text())["hex_frontier_nodes"] == 4
    # A rerun finds every snapshot and game in the cache and gives the same numbers.
    stamps = {p: p.stat().st_mtime_ns for p in (cache / "hex").rglob("*.json")}
    again = _run(cache, results)
    assert {p: p.stat().st_mtime_ns for p in (cache / "hex").rglob("*.json")} == stamps
    assert again["hex_median_elo_se"] == summary["hex_median_elo_se"]
    # One bit flipped in one file of every kind (solver table, snapshot record and weights, training
    # checkpoint, game result): each is detected, rebuilt, and the tables come out byte for byte the same.
    tables = {name: (results / f"{name}.csv").read_bytes() for name in ("snapshots", "games", "agents")}
    # an early snapshot damaged behind an intact later checkpoint: trained again from the start, same tables
    snap0 = sorted((cache / "hex").rglob("snap-00.npz"))[0]
    snap0.write_bytes(snap0.read_bytes()[:-1] + bytes([snap0.read_bytes()[-1] ^ 1]))
    _run(cache, results)
    for name, data in tables.items():
        assert (results / f"{name}.csv").read_bytes() == data, name
    kinds = {}
    for f in sorted((cache / "hex").rglob("*")):
        if f.is_file() and not f.name.endswith(".sha256"):
            kind = ("snap" + f.suffix if f.name.startswith("snap-") else f.suffix if f.suffix == ".pkl"
                    else f.parent.name + f.suffix if f.parent.name == "games" else f.name)
            kinds.setdefault(kind, f)
    assert {".pkl", "snap.json", "snap.npz", "checkpoint.pt", "games.json"} <= set(kinds), sorted(kinds)
    flipped = {}
    for f in kinds.values():
        data = bytearray(f.read_bytes())
        data[len(data) // 2] ^= 0x10
        f.write_bytes(bytes(data))
        flipped[f] = bytes(data)
    _run(cache, results)
    for name, data in tables.items():
        assert (results / f"{name}.csv").read_bytes() == data, name
    for f, bad in flipped.items():
        assert f.read_bytes() != bad and cache_intact(f), f  # rebuilt, and sealed again


def test_training_resumes_exactly_from_a_checkpoint():
    torch.set_num_threads(1)
    shape, settings = NetShape(3, 8), selfplay.TrainSettings(selfplay_nodes=8, games_per_generation=8,
                                                             batch_size=32)
    straight = selfplay.advance(selfplay.init_state(shape, settings, 0), settings, 8e6)
    first = selfplay.advance(selfplay.init_state(shape, settings, 0), settings, 4e6)
    resumed = selfplay.init_state(shape, settings, 0)
    experiment._restore(resumed, experiment._checkpoint(first))
    resumed = selfplay.advance(resumed, settings, 8e6)
    assert resumed.selfplay_evals == straight.selfplay_evals
    for a, b in zip(resumed.net.parameters(), straight.net.parameters()):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
