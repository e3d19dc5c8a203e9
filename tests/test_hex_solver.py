"""Exact solver: known openings, agreement with brute-force minimax, the perfect player's choices."""

import numpy as np

from ttc.hex import game
from ttc.hex.solver import HexSolver, perfect_agent, to_bitboards


def brute_force_mover_wins(board: np.ndarray, to_play: int, seen: dict | None = None) -> bool:
    """Plain minimax through `game.play` (no bitboards, no move ordering): an independent reference.
    ``seen`` remembers positions already decided (the same position reached by other move orders)."""
    seen = {} if seen is None else seen
    key = (board.tobytes(), to_play)
    if key not in seen:
        seen[key] = False
        for cell in np.flatnonzero(board == 0):
            b, t, won = game.play(board[None], np.array([to_play], np.int8), np.array([cell]))
            if won[0] or not brute_force_mover_wins(b[0], int(t[0]), seen):
                seen[key] = True
                break
    return seen[key]


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
        solver, seen = HexSolver(n), {}  # positions decided once per board size
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
            assert solver.mover_wins(*to_bitboards(b[0])) == brute_force_mover_wins(b[0], int(t[0]), seen)
            checked += 1
        assert checked >= 10


def test_perfect_player_picks_winning_moves_and_defers_when_lost():
    solver = HexSolver(3)
    rng = np.random.default_rng(0)
    # From the empty board, a random order gives each winning cell in turn.
    picks = {solver.winning_move(0, 0, rng.permutation(9).tolist()) for _ in range(60)}
    assert picks == {2, 3, 4, 5, 6}
    # Black to move after Black (0,0), White centre: lost (the brute force agrees), so no winning move
    # and the agent plays the fallback's move.
    black, white = 1 << 0, 1 << 4
    assert not brute_force_mover_wins(np.array([1, 0, 0, 0, -1, 0, 0, 0, 0], np.int8), game.BLACK)
    assert solver.winning_move(black, white, list(range(9))) is None
    agent = perfect_agent(solver, lambda board, to_play, rng: np.full(len(board), 8))
    board = np.array([[1, 0, 0, 0, -1, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0, 0, 0]], np.int8)
    actions = agent(board, np.array([game.BLACK, game.WHITE], np.int8), rng)
    assert actions[0] == 8  # lost: deferred
    assert solver.move_values(1, 0)[actions[1]]  # White wins after the (0,0) opening, and found a winner


def test_perfect_agent_beats_random_play():
    solver = HexSolver(3)
    agent = perfect_agent(solver, lambda board, to_play, rng: (board != 0).argmin(1))
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
