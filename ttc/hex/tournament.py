"""Matches between agents and the pairing schedule of the evaluation tournament.

An agent is any function `(board [G, n*n], to_play [G], rng) -> actions [G]`. A match plays every
opening twice with colours swapped, so two identical players score exactly one half.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import game

Agent = Callable[[np.ndarray, np.ndarray, np.random.Generator], np.ndarray]


def match_openings(n: int, n_games: int, n_stones: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`n_games` (even) openings: `n_games / 2` random ones, each twice. Returns
    `(board [G, n*n], to_play [G], first_is_black [G])`."""
    rng = np.random.default_rng(seed)
    board, to_play = game.random_openings(n_games // 2, n, n_stones, rng)
    first_is_black = np.tile([True, False], n_games // 2)
    return np.repeat(board, 2, axis=0), np.repeat(to_play, 2), first_is_black


def play_match(first: Agent, second: Agent, board: np.ndarray, to_play: np.ndarray,
               first_is_black: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Play all games to the end, each player moving in all its games at once. `[G]` bool: first won."""
    board, to_play = board.copy(), to_play.copy()
    first_won = np.zeros(board.shape[0], bool)
    live = np.arange(board.shape[0])
    while live.size:
        first_moves = (to_play[live] == game.BLACK) == first_is_black[live]
        actions = np.empty(live.size, np.int64)
        for agent, mask in ((first, first_moves), (second, ~first_moves)):
            if mask.any():
                actions[mask] = agent(board[live[mask]], to_play[live[mask]], rng)
        board[live], to_play[live], won = game.play(board[live], to_play[live], actions)
        first_won[live[won]] = first_moves[won]
        live = live[~won]
    return first_won


@dataclass(frozen=True)
class AgentSpec:
    """One evaluated player: a training run's snapshot searched with `nodes` nodes, or the reference."""
    run: str  # training-run key, or "reference"
    width: int  # network width (0 for the reference)
    snapshot: int  # index on the snapshot grid (-1 for the reference)
    nodes: int


def schedule_pairs(agents: list[AgentSpec], *, reference_min_nodes: int = 1) -> list[tuple[int, int]]:
    """Pairs (i, j) of indices into `agents`, chosen so that most pairs are close in strength and the
    comparison graph is connected: every agent with at least `reference_min_nodes` nodes vs the
    reference (index 0; perfect play is slow to query); the same snapshot at adjacent
    node budgets; adjacent snapshots of one run at the same budget; adjacent widths at the same
    grid snapshot and budget."""
    assert agents[0].run == "reference"
    index = {(a.width, a.snapshot, a.nodes): k for k, a in enumerate(agents)}
    budgets = sorted({a.nodes for a in agents[1:]})
    widths = sorted({a.width for a in agents[1:]})
    snapshots = {w: sorted({a.snapshot for a in agents[1:] if a.width == w}) for w in widths}
    pairs = []
    for k, a in enumerate(agents[1:], start=1):
        if a.nodes >= reference_min_nodes:
            pairs.append((k, 0))
        neighbours = []
        b = budgets.index(a.nodes)
        if b + 1 < len(budgets):
            neighbours.append((a.width, a.snapshot, budgets[b + 1]))
        s = snapshots[a.width].index(a.snapshot)
        if s + 1 < len(snapshots[a.width]):
            neighbours.append((a.width, snapshots[a.width][s + 1], a.nodes))
        w = widths.index(a.width)
        if w + 1 < len(widths):
            neighbours.append((widths[w + 1], a.snapshot, a.nodes))
        pairs += [(k, index[key]) for key in neighbours if key in index]
    return pairs
