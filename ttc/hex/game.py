"""Batched Hex on an n×n rhombus, in numpy.

Cells are numbered row-major, `cell = row * n + col`. Cell (r, c) touches (r-1, c), (r-1, c+1),
(r, c-1), (r, c+1), (r+1, c-1) and (r+1, c). Black (+1) moves first and joins the top row to the
bottom row; White (-1) joins the left column to the right column. Hex has no draws.

Two symmetries are used throughout:
- transposing the board, (r, c) -> (c, r), keeps adjacency and swaps the two players' goals, so
  White's position seen transposed with colours negated is a Black position ("canonical view");
- rotating it by 180°, (r, c) -> (n-1-r, n-1-c), keeps adjacency and both goals (data augmentation).
"""

from __future__ import annotations

import functools

import numba
import numpy as np

BLACK = 1
WHITE = -1


@functools.cache
def transpose_perm(n: int) -> np.ndarray:
    """Index map of the transpose: `board[..., transpose_perm(n)]` is the transposed board. Involution.
    Cached and read-only."""
    perm = np.arange(n * n).reshape(n, n).T.ravel()
    perm.flags.writeable = False
    return perm


def rotate_perm(n: int) -> np.ndarray:
    """Index map of the 180° rotation (an involution)."""
    return np.arange(n * n)[::-1].copy()


def new_boards(batch: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Empty boards `[batch, n*n] int8` and Black to play `[batch] int8`."""
    return np.zeros((batch, n * n), np.int8), np.full(batch, BLACK, np.int8)


def _dilate(m: np.ndarray) -> np.ndarray:
    """Grow a `[B, n, n]` bool mask by one step along the six hex directions."""
    out = m.copy()
    out[:, 1:, :] |= m[:, :-1, :]
    out[:, :-1, :] |= m[:, 1:, :]
    out[:, :, 1:] |= m[:, :, :-1]
    out[:, :, :-1] |= m[:, :, 1:]
    out[:, 1:, :-1] |= m[:, :-1, 1:]  # (r-1, c+1) -> (r, c)
    out[:, :-1, 1:] |= m[:, 1:, :-1]  # (r+1, c-1) -> (r, c)
    return out


def connects_top_bottom(stones: np.ndarray) -> np.ndarray:
    """`[B, n, n]` bool stones -> `[B]` bool: does a chain of stones join row 0 to row n-1?"""
    reach = np.zeros_like(stones)
    reach[:, 0, :] = stones[:, 0, :]
    while True:
        grown = _dilate(reach) & stones
        if np.array_equal(grown, reach):
            return np.asarray(reach[:, -1, :].any(axis=1))
        reach = grown


def winner(board: np.ndarray) -> np.ndarray:
    """`[B, n*n]` boards -> `[B] int8`: BLACK, WHITE, or 0 while nobody has connected."""
    b = board.shape[0]
    n = round(np.sqrt(board.shape[1]))
    grid = board.reshape(b, n, n)
    out = np.zeros(b, np.int8)
    out[connects_top_bottom(grid == BLACK)] = BLACK
    out[connects_top_bottom((grid == WHITE).transpose(0, 2, 1))] = WHITE
    return out


def play(board: np.ndarray, to_play: np.ndarray, actions: np.ndarray):
    """Place each game's stone. Returns new `(board, to_play, won)`; `won[g]` is True when the mover
    of game g just connected its sides. Only the mover can have won, so only its chains are searched.
    Raises on an occupied cell."""
    b = board.shape[0]
    rows = np.arange(b)
    if (board[rows, actions] != 0).any():
        raise ValueError("move on an occupied cell")
    board = board.copy()
    board[rows, actions] = to_play
    n = round(np.sqrt(board.shape[1]))
    grid = board.reshape(b, n, n)
    mine = grid == to_play[:, None, None]
    # White's goal is Black's goal on the transposed board.
    mine = np.where((to_play == WHITE)[:, None, None], mine.transpose(0, 2, 1), mine)
    won = np.zeros(b, bool)
    enough = mine.sum(axis=(1, 2)) >= n  # a chain across needs n stones
    if enough.any():
        won[enough] = connects_top_bottom(mine[enough])
    return board, (-to_play).astype(np.int8), won


def legal_mask(board: np.ndarray) -> np.ndarray:
    return board == 0


def canonical_features(board: np.ndarray, to_play: np.ndarray) -> np.ndarray:
    """Network input `[B, 2*n*n] float32`: (own stones, opponent stones) seen as Black, i.e. White's
    boards transposed. Policies over canonical cells map back with `transpose_perm` for White."""
    return _canonical_features(board, to_play, transpose_perm(round(np.sqrt(board.shape[1]))))


def to_canonical_cells(values: np.ndarray, to_play: np.ndarray) -> np.ndarray:
    """Reorder `[B, n*n]` per-cell values into the canonical view (and back: the map is an involution)."""
    perm = transpose_perm(round(np.sqrt(values.shape[1])))
    return np.where((to_play == WHITE)[:, None], values[:, perm], values)


def random_openings(n_games: int, n: int, n_stones: int, rng: np.random.Generator):
    """Boards with `n_stones` random stones played alternately from Black, none of them winning.
    Returns `(board [G, n*n], to_play [G])`."""
    board, to_play = new_boards(n_games, n)
    for _ in range(n_stones):
        scores = rng.random(board.shape) + (board != 0) * 2.0  # occupied cells never minimal
        board, to_play, won = play(board, to_play, scores.argmin(axis=1))
        assert not won.any(), "an opening stone cannot win on n >= 2 with n_stones < n"
    return board, to_play


@numba.njit(cache=True, nogil=True)
def _canonical_features(board, to_play, perm):
    n_games, cells = board.shape
    out = np.zeros((n_games, 2 * cells), np.float32)
    for g in range(n_games):
        white = to_play[g] == WHITE
        for c in range(cells):
            v = board[g, perm[c]] if white else board[g, c]
            if v == to_play[g]:
                out[g, c] = 1.0
            elif v != 0:
                out[g, cells + c] = 1.0
    return out


@numba.njit(cache=True, nogil=True)
def masked_real_cell_logits(logits, board, to_play, perm):
    """Canonical-cell logits `[B, A]` -> real cells, occupied cells at -inf, each row's maximum
    subtracted (float32, the same operations as the numpy expression in `mcts.network_evaluator`)."""
    n_games, cells = board.shape
    out = np.empty((n_games, cells), np.float32)
    for g in range(n_games):
        white = to_play[g] == WHITE
        top = -np.inf
        for c in range(cells):
            v = logits[g, perm[c]] if white else logits[g, c]
            out[g, c] = v if board[g, c] == 0 else -np.inf
            if out[g, c] > top:
                top = out[g, c]
        for c in range(cells):
            out[g, c] = out[g, c] - np.float32(top)
    return out


def render(board_row: np.ndarray) -> str:
    """One board as text, rows indented like a rhombus (for tests and debugging)."""
    n = round(np.sqrt(board_row.shape[0]))
    sym = {0: ".", BLACK: "X", WHITE: "O"}
    return "\n".join(" " * r + " ".join(sym[int(v)] for v in board_row[r * n:(r + 1) * n]) for r in range(n))
