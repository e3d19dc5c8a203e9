"""Exact Hex solver for small boards: memoised negamax on bitboards, plus a perfect player.

A position is a pair of bitmasks (Black stones, White stones) over cells `row * n + col`; the
side to move follows from the stone counts (Black moves first and stones alternate). The table
maps `black | white << n*n` to "the side to move wins". Solving 4×4 from the empty board takes a few
seconds; the table pickles to disk (see `experiment.py`) and keeps growing as positions are queried.
"""

from __future__ import annotations

import numpy as np

from .game import BLACK, WHITE


class HexSolver:
    def __init__(self, n: int, table: dict[int, bool] | None = None):
        self.n = n
        self.cells = n * n
        self.full = (1 << self.cells) - 1
        col0 = sum(1 << (r * n) for r in range(n))
        self.not_col0 = self.full & ~col0
        self.not_last = self.full & ~(col0 << (n - 1))
        self.top = (1 << n) - 1
        self.bottom = self.top << (n * (n - 1))
        self.left, self.right = col0, col0 << (n - 1)
        # Centre-first move order: central cells win or refute most often, so cut-offs come early.
        centre = (n - 1) / 2
        self.order = sorted(range(self.cells), key=lambda i: abs(i // n - centre) + abs(i % n - centre))
        self.table: dict[int, bool] = {} if table is None else table

    # --- bitboard geometry -------------------------------------------------------------------
    def _grow(self, m: int) -> int:
        n = self.n
        return (m | (m << n) | (m >> n) | ((m << 1) & self.not_col0) | ((m >> 1) & self.not_last)
                | ((m >> (n - 1)) & self.not_col0) | ((m << (n - 1)) & self.not_last)) & self.full

    def connected(self, stones: int, black: bool) -> bool:
        start, goal = (self.top, self.bottom) if black else (self.left, self.right)
        reach = stones & start
        while True:
            if reach & goal:
                return True
            grown = self._grow(reach) & stones
            if grown == reach:
                return False
            reach = grown

    def _reach(self, stones: int, edge: int) -> int:
        reach = stones & edge
        while True:
            grown = self._grow(reach) & stones
            if grown == reach:
                return reach
            reach = grown

    def winning_cells(self, stones: int, empty: int, black: bool) -> int:
        """Bitmask of the empty cells that would join this player's sides at once: a new chain must run
        from the start edge to the new stone and on from it to the goal edge."""
        start, goal = (self.top, self.bottom) if black else (self.left, self.right)
        from_start = self._grow(self._reach(stones, start)) | start
        from_goal = self._grow(self._reach(stones, goal)) | goal
        return empty & from_start & from_goal

    # --- solving ----------------------------------------------------------------------------
    def mover_wins(self, black: int, white: int) -> bool:
        """True when the side to move wins with perfect play (nobody has connected yet)."""
        key = black | (white << self.cells)
        hit = self.table.get(key)
        if hit is not None:
            return hit
        black_to_move = black.bit_count() == white.bit_count()
        mine, theirs = (black, white) if black_to_move else (white, black)
        empty = self.full & ~(black | white)
        if self.winning_cells(mine, empty, black_to_move):
            result = True
        else:
            # Two opponent threats cannot both be blocked; one must be.
            threats = self.winning_cells(theirs, empty, not black_to_move)
            if threats.bit_count() >= 2:
                result = False
            else:
                result = False
                for cell in self.order:
                    bit = 1 << cell
                    if empty & bit and (not threats or threats == bit):
                        child = (black | bit, white) if black_to_move else (black, white | bit)
                        if not self.mover_wins(*child):
                            result = True
                            break
        self.table[key] = result
        return result

    def move_values(self, black: int, white: int) -> dict[int, bool]:
        """Every legal move -> True if it wins for the mover."""
        black_to_move = (black).bit_count() == (white).bit_count()
        mine = black if black_to_move else white
        out = {}
        for cell in range(self.cells):
            bit = 1 << cell
            if (black | white) & bit:
                continue
            if self.connected(mine | bit, black_to_move):
                out[cell] = True
            else:
                child = (black | bit, white) if black_to_move else (black, white | bit)
                out[cell] = not self.mover_wins(*child)
        return out

    def winning_move(self, black: int, white: int, order: list[int]) -> int | None:
        """The first move in `order` that wins for the side to move, or None in a lost position.
        With `order` a random permutation this is a uniformly random winning move, found without
        solving every child."""
        black_to_move = black.bit_count() == white.bit_count()
        mine = black if black_to_move else white
        for cell in order:
            bit = 1 << cell
            if (black | white) & bit:
                continue
            child = (black | bit, white) if black_to_move else (black, white | bit)
            if self.connected(mine | bit, black_to_move) or not self.mover_wins(*child):
                return cell
        return None


def to_bitboards(board_row: np.ndarray) -> tuple[int, int]:
    """One `[n*n]` int8 board -> (black bits, white bits)."""
    black = sum(1 << int(i) for i in np.flatnonzero(board_row == BLACK))
    white = sum(1 << int(i) for i in np.flatnonzero(board_row == WHITE))
    return black, white


def perfect_agent(solver: HexSolver, when_lost):
    """An agent `(board [G, n*n], to_play [G], rng) -> actions [G]`: a uniformly random winning move
    where one exists; in lost positions the move of the agent `when_lost` (e.g. a strong network).
    A perfect player that moved at random once lost would rate weak agents above itself."""

    def act(board: np.ndarray, to_play: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        actions = np.full(board.shape[0], -1, np.int64)
        for g in range(board.shape[0]):
            move = solver.winning_move(*to_bitboards(board[g]), rng.permutation(solver.cells).tolist())
            if move is not None:
                actions[g] = move
        lost = actions < 0
        if lost.any():
            actions[lost] = when_lost(board[lost], to_play[lost], rng)
        return actions

    return act
