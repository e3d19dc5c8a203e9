"""The array-operation version of the batched PUCT search (see ttc/hex/mcts.py for the rule).

Used by tests/test_hex_mcts.py (the compiled search must match it exactly) and by
benchmarks/bench_hex.py (the baseline of its speed-up column).
"""

from __future__ import annotations

import numpy as np

from ttc.hex import game
from ttc.hex.mcts import Evaluator, SearchResult, Trees


def array_search(board: np.ndarray, to_play: np.ndarray, evaluate: Evaluator, n_nodes: int, *,
           c_puct: float = 1.5, rng: np.random.Generator | None = None,
           dirichlet_alpha: float = 0.0, dirichlet_eps: float = 0.0) -> SearchResult:
    """`ttc.hex.mcts.search` as whole-batch numpy array operations, one per depth: what the compiled tree
    kernels replaced, kept as their reference (same moves, bit for bit) and as the benchmark's baseline."""
    n_games, n_cells = board.shape
    games = np.arange(n_games)
    t = Trees.rooted(board, to_play, evaluate, n_nodes, rng, dirichlet_alpha, dirichlet_eps)  # same roots
    boards, players, terminal, children = t.boards, t.players, t.terminal, t.children
    prior, visits, value_sum, size = t.prior, t.visits, t.value_sum, t.size

    # Flat [B * n_nodes, A] views: one integer index per (game, node) is cheaper than two.
    flat_prior, flat_visits = prior.reshape(-1, n_cells), visits.reshape(-1, n_cells)
    flat_value, flat_boards = value_sum.reshape(-1, n_cells), boards.reshape(-1, n_cells)
    flat_children, flat_terminal = children.reshape(-1, n_cells), terminal.reshape(-1)
    base = games * n_nodes
    for _ in range(n_nodes - 1):
        # Descend until an unexpanded edge or a finished game.
        slot = base.copy()  # flat (game, node) index of each game's current node
        live = games
        path = []  # per depth: (games, flat slots, actions)
        depth_of_leaf = np.zeros(n_games, np.int64)
        leaf_slot = np.zeros(n_games, np.int64)
        leaf_action = np.zeros(n_games, np.int64)
        depth = 0
        while live.size:
            sl = slot[live]
            n_sa = flat_visits[sl]
            q = flat_value[sl] / np.maximum(n_sa, 1)  # 0 where unvisited
            u = c_puct * flat_prior[sl] * np.sqrt(np.maximum(n_sa.sum(axis=1), 1))[:, None] / (1 + n_sa)
            score = np.where(flat_boards[sl] == 0, q + u, -np.inf)
            action = score.argmax(axis=1)
            path.append((live, sl, action))
            child = flat_children[sl, action]
            child_slot = live * n_nodes + child
            stop = (child < 0) | flat_terminal[np.where(child < 0, sl, child_slot)]
            done = live[stop]
            depth_of_leaf[done] = depth + 1
            leaf_slot[done], leaf_action[done] = sl[stop], action[stop]
            slot[live[~stop]] = child_slot[~stop]
            live = live[~stop]
            depth += 1

        # Expand new leaves; revisited terminal leaves keep their value.
        leaf = flat_children[leaf_slot, leaf_action]
        leaf_value = np.full(n_games, -1.0, np.float32)  # finished game: the side to move lost
        new = np.flatnonzero(leaf < 0)
        if new.size:
            idx = size[new]
            size[new] += 1
            parent = leaf_slot[new]
            flat_children[parent, leaf_action[new]] = idx
            b, p, won = game.play(flat_boards[parent], players.reshape(-1)[parent], leaf_action[new])
            boards[new, idx], players[new, idx], terminal[new, idx] = b, p, won
            open_ = ~won
            if open_.any():
                pr, v = evaluate(b[open_], p[open_])
                prior[new[open_], idx[open_]] = pr
                leaf_value[new[open_]] = v
                t.n_evaluations += int(open_.sum())

        # Back up: the edge leaving depth d sees the leaf value with sign (-1)^(leaf depth - d).
        for d, (g, sl, action) in enumerate(path):
            sign = np.where((depth_of_leaf[g] - d) % 2 == 1, -1.0, 1.0)
            flat_visits[sl, action] += 1
            flat_value[sl, action] += sign * leaf_value[g]

    return t.result()
