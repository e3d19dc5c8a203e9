"""Exact solver: known openings, agreement with brute-force minimax, the perfect player's choices."""

import numpy as np

from ttc.hex import game
from ttc.hex.solver import HexSolver, perfect_agent, to_bitboards


def brute_force_mover_wins(board: np.ndarray, to_play: int) -> bool:
    """Plain minimax through `game.play` (no memo, no bitboards): an independent reference."""
    for cell in np.flatnonzero(board == 0):
        b, t, won = game.play(board[None], np.array([to_play], np.int8), np.array([cell]))
        if won[0] or not brute_force_mover_wins(b[0], int(t[0])):
            return True
    return False


def winning_first_moves(n):
    values = HexSolver(n).move_values(0, 0)
    return sorted(c for c, v in values.items() if v)


def test_known_winning_openings():
    assert winning_first_moves(2) == [1, 2]  # the short diagonal of 2×2
    # 3×3: the short diagonal (0,2), (1,1), (2,0) and the two edge cells (1,0), (1,2).
    assert winning_first_moves(3) == [2, 3, 4, 5, 6]
    # 4×4: exactly the short diagonal wins.
    assert winning_first_moves(4) == [3, 6, 9, 12]


def test_agrees_with_brute_force_on_random_positions():
    rng = np.random.default_rng(0)
    for n, stones in ((3, 3), (3, 4), (4, 9), (4, 10)):
        solver = HexSolver(n)
        board, to_play = game.random_openings(40, n, 0, rng)
        checked = 0
        for g in range(40):
            b, t = board[g:g + 1], to_play[g:g + 1]
            ok = True
            for _ in range(stones):
                cell = rng.choice(np.flatnonzero(b[0] == 0))
                b, t, won = game.play(b, t, np.array([cell]))
                ok &= not won[0]
            if not ok:
                continue
            assert solver.mover_wins(*to_bitboards(b[0])) == brute_force_mover_wins(b[0], int(t[0]))
            checked += 1
        assert checked >= 10


def test_perfect_player_wins_won_positions_and_resists_in_lost_ones():
    solver = HexSolver(3)
    # Black to move on an empty 3×3 board: every choice must be a winning cell.
    assert sorted(solver.perfect_moves(0, 0)) == [2, 3, 4, 5, 6]
    # Black on (0,0) is a losing opening: White to move and wins.
    assert solver.mover_wins(1, 0)
    # Black to move after White took the centre: lost for Black (hand-checked by the brute force).
    black, white = 1 << 0, 1 << 4
    assert not solver.mover_wins(black, white) and not brute_force_mover_wins(
        np.array([1, 0, 0, 0, -1, 0, 0, 0, 0], np.int8), game.BLACK)
    choices = solver.perfect_moves(black, white)
    replies = {c: sum(solver.move_values(black | 1 << c, white).values()) for c in range(9) if c not in (0, 4)}
    assert set(choices) == {c for c, r in replies.items() if r == min(replies.values())}


def test_perfect_agent_beats_random_play():
    solver = HexSolver(3)
    agent = perfect_agent(solver)
    rng = np.random.default_rng(0)
    board, to_play = game.new_boards(20, 3)
    # Perfect Black from the empty board always wins against uniformly random White.
    live = np.arange(20)
    while live.size:
        if to_play[live[0]] == game.BLACK:
            act = agent(board[live], to_play[live], rng)
        else:
            act = np.array([rng.choice(np.flatnonzero(board[g] == 0)) for g in live])
        board[live], to_play[live], won = game.play(board[live], to_play[live], act)
        assert (to_play[live[won]] == game.WHITE).all()  # the mover (Black) won
        live = live[~won]
