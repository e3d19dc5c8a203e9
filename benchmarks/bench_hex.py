"""Self-play throughput against the network's forward-pass limit, measured in one run.

    python benchmarks/bench_hex.py [--quick]  (output kept in benchmarks/results/hex.txt)

For each (board, width): the forward-pass limit is network evaluations per second on a batch of
the self-play batch size (torch, one thread, no search); self-play plays one generation of
games with 64-node PUCT and counts positions (moves played) and MCTS nodes (forward passes) per
second. The ratio says how much of the time the tree search's Python/numpy overhead takes. The
last column is the compiled tree kernels' speed-up over the same search written as whole-batch numpy
array operations (tests/hex_array_search.py, which plays the same moves bit for bit), both timed here.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

from ttc.environment import prepare_process

prepare_process()  # one BLAS thread, pinned kernel paths (ttc.environment); before numpy and torch load

import numpy as np  # noqa: E402
import torch  # noqa: E402

from ttc.hex import game, selfplay  # noqa: E402
from ttc.hex.net import NetShape, PolicyValueNet, make_forward, to_numpy  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from hex_array_search import array_search  # noqa: E402


def forward_limit(params, n: int, batch: int, seconds: float) -> float:
    """Forward passes per second on random canonical boards of `batch` positions."""
    forward = make_forward(params)
    board, to_play = game.random_openings(batch, n, 2, np.random.default_rng(0))
    x = game.canonical_features(board, to_play)
    forward(x)
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        forward(x)
        calls += 1
    return calls * batch / (time.perf_counter() - start)


def selfplay_rate(params, n: int, games: int, search=None) -> tuple[float, float]:
    """(positions/s, nodes/s) for one generation of 64-node self-play (with `search` in place of
    the library's search when given)."""
    settings = selfplay.TrainSettings(games_per_generation=games)
    compiled = selfplay.search
    selfplay.search = search or compiled
    try:
        rng = np.random.default_rng(0)
        selfplay.play_generation(params, n, settings, rng)  # warm-up (and compilation)
        start = time.perf_counter()
        x, _, _, n_evals = selfplay.play_generation(params, n, settings, rng)
        elapsed = time.perf_counter() - start
    finally:
        selfplay.search = compiled
    return len(x) / elapsed, n_evals / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cases = [(3, 16, 16), (4, 16, 128), (4, 64, 128), (5, 64, 256), (5, 256, 256)]
    if args.quick:
        cases = cases[1:3]
    print(f"# bench_hex  {platform.processor() or platform.machine()}  cpus={os.cpu_count()}  "
          f"torch={torch.__version__} threads=1  load={os.getloadavg()[0]:.1f}")
    print(f"{'board':>5} {'width':>5} {'FLOPs/fwd':>9} {'games':>5} {'fwd limit/s':>12} {'GFLOP/s':>7} "
          f"{'positions/s':>11} {'nodes/s':>9} {'nodes/limit':>11} {'array nodes/s':>13} {'speed-up':>8}")
    for n, width, games in cases:
        shape = NetShape(n, width)
        torch.manual_seed(0)
        params = to_numpy(PolicyValueNet(shape))
        limit = forward_limit(params, n, games, seconds=1.0)
        positions, nodes = selfplay_rate(params, n, games)
        _, array_nodes = selfplay_rate(params, n, games, search=array_search)
        print(f"{n:>5} {width:>5} {shape.forward_flops:>9} {games:>5} {limit:>12,.0f} "
              f"{limit * shape.forward_flops / 1e9:>7.2f} {positions:>11,.0f} {nodes:>9,.0f} {nodes / limit:>11.1%}"
              f" {array_nodes:>13,.0f} {nodes / array_nodes:>7.2f}x")


if __name__ == "__main__":
    main()
