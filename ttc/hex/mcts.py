"""Batched PUCT Monte-Carlo tree search over many Hex games at once.

Every game owns a tree of at most `n_nodes` nodes held in `[B, n_nodes, ...]` arrays. A search with a
budget of `n_nodes` evaluates the root and runs `n_nodes - 1` simulations; each simulation descends by

    a* = argmax_a  Q(s, a) + c_puct * P(s, a) * sqrt(max(N(s), 1)) / (1 + N(s, a))

(Q of an unvisited edge is 0, values lie in [-1, 1]; the max(., 1) makes the first descent follow
the prior), then adds one leaf, evaluates it with the network (or scores a finished game as -1 for
the side to move) and backs the value up with alternating signs. One node plays the prior's argmax.

An evaluator is any function `(board [B, A] int8, to_play [B] int8) -> (prior [B, A], value [B])`
with the prior a distribution over legal cells and the value for the side to move.

Speed: per simulation, descent, expansion (with the win check) and backup are one compiled pass each
over the games (numba kernels at the end of this file) and the network evaluates all new leaves in
one batch, so the Python overhead per simulation is a handful of calls whatever the tree depth.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numba
import numpy as np

from . import game
from .net import make_forward

njit = numba.njit(cache=True, nogil=True)

Evaluator = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class SearchResult:
    visits: np.ndarray  # [B, A] root edge visit counts
    prior: np.ndarray  # [B, A] root prior (after noise, if any)
    root_value: np.ndarray  # [B] network value of the root, side to move
    q: np.ndarray  # [B, A] mean root edge values (0 where unvisited)
    n_evaluations: int  # network forward passes, summed over games (terminal leaves cost none)


def network_evaluator(params: dict[str, np.ndarray]) -> Evaluator:
    forward = make_forward(params)
    perm = game.transpose_perm(round(np.sqrt(params[f"b{len(params) // 2 - 1}"].shape[0] - 1)))

    def evaluate(board: np.ndarray, to_play: np.ndarray):
        logits, value = forward(game.canonical_features(board, to_play))
        # back to real cells, occupied ones at -inf, minus each row's maximum
        prior = np.exp(game.masked_real_cell_logits(logits, board, to_play, perm))
        return prior / prior.sum(axis=1, keepdims=True), value

    return evaluate


@dataclass
class Trees:
    """One search tree per game, at most `n_nodes` nodes each, in `[B, n_nodes, ...]` arrays; node 0 is
    the root. Edge statistics are from the parent's point of view."""
    boards: np.ndarray  # [B, n_nodes, A] int8 position at each node
    players: np.ndarray  # [B, n_nodes] int8 side to move
    terminal: np.ndarray  # [B, n_nodes] bool: the side to move at this node has lost
    children: np.ndarray  # [B, n_nodes, A] int32 child node of each edge, -1 while unexpanded
    prior: np.ndarray  # [B, n_nodes, A] float32
    visits: np.ndarray  # [B, n_nodes, A] int32
    value_sum: np.ndarray  # [B, n_nodes, A] float32
    size: np.ndarray  # [B] int64 nodes in use
    root_value: np.ndarray  # [B] network value of each root
    n_evaluations: int  # forward passes so far

    @classmethod
    def rooted(cls, board: np.ndarray, to_play: np.ndarray, evaluate: Evaluator, n_nodes: int,
               rng: np.random.Generator | None, dirichlet_alpha: float, dirichlet_eps: float) -> Trees:
        """Trees holding only their evaluated roots (Dirichlet noise mixed into the root prior when
        `dirichlet_eps > 0`)."""
        n_games, n_cells = board.shape
        trees = cls(np.zeros((n_games, n_nodes, n_cells), np.int8), np.zeros((n_games, n_nodes), np.int8),
                    np.zeros((n_games, n_nodes), bool), np.full((n_games, n_nodes, n_cells), -1, np.int32),
                    np.zeros((n_games, n_nodes, n_cells), np.float32), np.zeros((n_games, n_nodes, n_cells), np.int32),
                    np.zeros((n_games, n_nodes, n_cells), np.float32), np.ones(n_games, np.int64),
                    np.zeros(n_games), n_games)
        trees.boards[:, 0], trees.players[:, 0] = board, to_play
        root_prior, trees.root_value = evaluate(board, to_play)
        if dirichlet_eps > 0:
            if rng is None:
                raise ValueError("root noise (dirichlet_eps > 0) needs rng")
            noise = rng.gamma(dirichlet_alpha, size=root_prior.shape) * (board == 0)
            noise /= noise.sum(axis=1, keepdims=True)
            root_prior = (1 - dirichlet_eps) * root_prior + dirichlet_eps * noise
        trees.prior[:, 0] = root_prior
        return trees

    def result(self) -> SearchResult:
        v, w = self.visits[:, 0], self.value_sum[:, 0]
        return SearchResult(visits=v, prior=self.prior[:, 0], root_value=self.root_value,
                            q=np.where(v > 0, w / np.maximum(v, 1), 0.0), n_evaluations=self.n_evaluations)


def search(board: np.ndarray, to_play: np.ndarray, evaluate: Evaluator, n_nodes: int, *,
           c_puct: float = 1.5, rng: np.random.Generator | None = None,
           dirichlet_alpha: float = 0.0, dirichlet_eps: float = 0.0) -> SearchResult:
    """Search from `B` non-terminal roots. Root Dirichlet noise mixes in when `dirichlet_eps > 0`."""
    n_games, n_cells = board.shape
    t = Trees.rooted(board, to_play, evaluate, n_nodes, rng, dirichlet_alpha, dirichlet_eps)
    size = t.size
    # Flat [B * n_nodes, A] views: one integer index per (game, node) is cheaper than two.
    flat_prior, flat_visits = t.prior.reshape(-1, n_cells), t.visits.reshape(-1, n_cells)
    flat_value, flat_boards = t.value_sum.reshape(-1, n_cells), t.boards.reshape(-1, n_cells)
    flat_children, flat_terminal = t.children.reshape(-1, n_cells), t.terminal.reshape(-1)
    flat_players = t.players.reshape(-1)
    board_side = round(np.sqrt(n_cells))
    base = np.arange(n_games) * n_nodes  # flat slot of each game's root
    path_slot = np.zeros((n_games, n_nodes), np.int64)  # a path is at most n_nodes edges long
    path_action = np.zeros((n_games, n_nodes), np.int64)
    depth_of_leaf = np.zeros(n_games, np.int64)
    leaf_slot = np.zeros(n_games, np.int64)
    leaf_action = np.zeros(n_games, np.int64)
    for _ in range(n_nodes - 1):
        _descend(flat_visits, flat_value, flat_prior, flat_boards, flat_children, flat_terminal, base, n_nodes,
                 c_puct, path_slot, path_action, depth_of_leaf, leaf_slot, leaf_action)

        # Expand new leaves (revisited terminal leaves keep their value -1) and evaluate the open ones.
        leaf_value = np.full(n_games, -1.0, np.float32)  # finished game: the side to move lost
        open_games = np.empty(n_games, np.int64)
        n_open = _expand(flat_boards, flat_players, flat_children, flat_terminal, size, leaf_slot, leaf_action,
                         n_nodes, board_side, open_games)
        if n_open:
            g = open_games[:n_open]
            rows = g * n_nodes + size[g] - 1
            pr, v = evaluate(flat_boards[rows], flat_players[rows])
            flat_prior[rows] = pr
            leaf_value[g] = v
            t.n_evaluations += n_open
        _backup(flat_visits, flat_value, path_slot, path_action, depth_of_leaf, leaf_value)

    return t.result()


def best_action(result: SearchResult) -> np.ndarray:
    """Most-visited root move, ties (and the visit-free one-node search) broken by the prior."""
    return (result.visits + 0.5 * result.prior).argmax(axis=1)


def mcts_agent(params: dict[str, np.ndarray], n_nodes: int, *, c_puct: float = 1.5):
    """A deterministic evaluation agent `(board, to_play, rng) -> actions`: no noise, best move."""
    evaluate = network_evaluator(params)

    def act(board: np.ndarray, to_play: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return best_action(search(board, to_play, evaluate, n_nodes, c_puct=c_puct))

    return act


# --- tree kernels (compiled: one pass over the games instead of a dozen array operations per depth) ----
# The arithmetic matches numpy's promotion rules exactly (float32 priors and value sums, float64 scores),
# so a compiled search plays the same moves as the array version it replaced (tests/test_hex_mcts.py).
@njit
def _descend(visits, value_sum, prior, boards, children, terminal, base, n_nodes, c_puct,
             path_slot, path_action, depth_of_leaf, leaf_slot, leaf_action):
    """Per game, follow the PUCT argmax from the root until an unexpanded edge or a finished game;
    record the path's (flat slot, action) pairs, its length and the leaf edge."""
    n_cells = visits.shape[1]
    c32 = np.float32(c_puct)
    for g in range(base.shape[0]):
        slot = base[g]
        depth = 0
        while True:
            total = 0
            for a in range(n_cells):
                total += visits[slot, a]
            sq = np.sqrt(np.float64(max(total, 1)))
            best, best_a = -np.inf, 0
            for a in range(n_cells):
                if boards[slot, a] != 0:
                    continue
                n_sa = visits[slot, a]
                q = np.float64(value_sum[slot, a]) / np.float64(max(n_sa, 1))
                u = np.float64(c32 * prior[slot, a]) * sq / np.float64(1 + n_sa)
                if q + u > best:
                    best, best_a = q + u, a
            path_slot[g, depth] = slot
            path_action[g, depth] = best_a
            depth += 1
            child = children[slot, best_a]
            if child < 0 or terminal[g * n_nodes + child]:
                break
            slot = g * n_nodes + child
        depth_of_leaf[g] = depth
        leaf_slot[g] = slot
        leaf_action[g] = best_a


@njit
def _backup(visits, value_sum, path_slot, path_action, depth_of_leaf, leaf_value):
    """The edge leaving depth d sees the leaf value with sign (-1)^(leaf depth - d)."""
    for g in range(depth_of_leaf.shape[0]):
        v = np.float64(leaf_value[g])
        for d in range(depth_of_leaf[g]):
            sign = -1.0 if (depth_of_leaf[g] - d) % 2 == 1 else 1.0
            s, a = path_slot[g, d], path_action[g, d]
            visits[s, a] += 1
            value_sum[s, a] = np.float32(np.float64(value_sum[s, a]) + sign * v)


@njit
def _expand(boards, players, children, terminal, size, leaf_slot, leaf_action, n_nodes, n, open_games):
    """Add each game's new leaf (where its leaf edge has no child yet): the parent's board plus the
    move, the other side to play, and whether the move connected the mover's sides (`game.play`'s
    rule). Writes the games whose new leaf is open into `open_games`; returns their count."""
    n_open = 0
    stack = np.empty(n * n, np.int64)
    seen = np.zeros(n * n, np.bool_)
    for g in range(leaf_slot.shape[0]):
        parent, action = leaf_slot[g], leaf_action[g]
        if children[parent, action] >= 0:
            continue  # a finished game revisited
        idx = size[g]
        size[g] += 1
        children[parent, action] = idx
        slot = g * n_nodes + idx
        mover = players[parent]
        boards[slot, :] = boards[parent, :]
        boards[slot, action] = mover
        players[slot] = -mover
        won = _connects(boards[slot], mover, n, stack, seen)
        terminal[slot] = won
        if not won:
            open_games[n_open] = g
            n_open += 1
    return n_open


@njit
def _connects(board, player, n, stack, seen):
    """Does `player` (BLACK: top row to bottom row; WHITE: left column to right column) connect?"""
    seen[:] = False
    top = 0
    for i in range(n):
        cell = i if player == 1 else i * n  # the start edge
        if board[cell] == player:
            seen[cell] = True
            stack[top] = cell
            top += 1
    while top:
        top -= 1
        cell = stack[top]
        r, c = cell // n, cell % n
        if (r if player == 1 else c) == n - 1:
            return True
        for dr, dc in ((-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0)):
            rr, cc = r + dr, c + dc
            if 0 <= rr < n and 0 <= cc < n:
                nb = rr * n + cc
                if not seen[nb] and board[nb] == player:
                    seen[nb] = True
                    stack[top] = nb
                    top += 1
    return False
