"""Batched PUCT: visit counts on a hand-worked tree, forced wins, batching, noise."""

import numpy as np
import pytest

from ttc.hex import game, mcts
from ttc.hex.solver import HexSolver, to_bitboards


def hand_tree_evaluator(board, to_play):
    """2×2 root: Black (0,0), White (1,1), Black to move; cells 1 and 2 empty.
    Root prior: 0.75 on cell 1 (loses: White then fills cell 2 and joins left to right),
    0.25 on cell 2 (wins at once: (0,0)-(1,0) joins top to bottom). Non-root nodes: uniform prior,
    value +0.5 for the side to move."""
    prior = (board == 0).astype(float)
    prior /= prior.sum(1, keepdims=True)
    value = np.full(len(board), 0.5)
    root = (board != 0).sum(1) == 2
    prior[root] = [0, 0.75, 0.25, 0]
    value[root] = 0.0
    return prior, value


ROOT = np.array([[1, 0, 0, -1]], np.int8)


@pytest.mark.parametrize(("n_nodes", "visits", "q_cell1"), [
    # sim 1: U = 1.5·P (N(s)=0 counts as 1) -> cell 1; its child scores 0.5 for White, so Q(1) = -0.5.
    # sim 2: cell 1: -0.5 + 1.5·0.75·1/2 = 0.06 < cell 2: 1.5·0.25 = 0.375 -> cell 2, a win: Q(2) = +1.
    # sims 3-9: cell 2 keeps 1 + 0.375·√N/(1+N2) above cell 1's -0.5 + 1.125·√N/2 while N <= 8.
    (2, {1: 1, 2: 0}, -0.5),
    (3, {1: 1, 2: 1}, -0.5),
    (10, {1: 1, 2: 8}, -0.5),
    # sim 10 (N = 9): cell 1 scores -0.5 + 1.125·3/2 = 1.19 > cell 2's 1 + 0.375·3/9 = 1.125. Under it,
    # White's only move (cell 2) wins, so the backed-up value for Black is -1: Q(1) = (-0.5 - 1)/2.
    (11, {1: 2, 2: 8}, -0.75),
])
def test_visit_counts_follow_puct_on_a_hand_worked_tree(n_nodes, visits, q_cell1):
    res = mcts.search(ROOT, np.array([game.BLACK], np.int8), hand_tree_evaluator, n_nodes, c_puct=1.5)
    assert res.visits[0].tolist() == [0, visits[1], visits[2], 0]
    assert res.q[0, 1] == pytest.approx(q_cell1)
    assert res.n_evaluations == 2  # the root and cell 1's child; terminal leaves cost nothing


def test_one_node_plays_the_prior():
    res = mcts.search(ROOT, np.array([game.BLACK], np.int8), hand_tree_evaluator, 1)
    assert res.visits.sum() == 0 and mcts.best_action(res)[0] == 1


def uniform_exact(solver):
    """Uniform prior, exact value from the solver (the strongest possible value function)."""
    def evaluate(board, to_play):
        prior = (board == 0) / (board == 0).sum(1, keepdims=True)
        value = np.array([1.0 if solver.mover_wins(*to_bitboards(b)) else -1.0 for b in board])
        return prior, value
    return evaluate


def uniform_rollout(rng):
    """Uniform prior, value = result of one uniformly random playout."""
    def evaluate(board, to_play):
        b, t = board.copy(), to_play.copy()
        result = np.zeros(len(b))
        live = np.arange(len(b))
        while live.size:
            act = (rng.random(b[live].shape) + (b[live] != 0) * 2).argmin(1)
            b[live], t[live], won = game.play(b[live], t[live], act)
            result[live[won]] = np.where(t[live[won]] == to_play[live[won]], -1.0, 1.0)  # mover won
            live = live[~won]
        prior = (board == 0) / (board == 0).sum(1, keepdims=True)
        return prior, result
    return evaluate


def positions_with_unique_win(n, count, seed):
    solver, rng = HexSolver(n), np.random.default_rng(seed)
    found = []
    while len(found) < count:
        b, t = game.new_boards(1, n)
        for _ in range(int(rng.integers(2, n * n - 3))):
            b, t, won = game.play(b, t, rng.choice(np.flatnonzero(b[0] == 0), size=1))
        if won[0]:
            continue
        values = solver.move_values(*to_bitboards(b[0]))
        wins = [c for c, v in values.items() if v]
        if len(wins) == 1 and len(values) >= 4:
            found.append((b[0], t[0], wins[0]))
    return solver, found


def test_finds_the_only_winning_move_with_exact_values():
    solver, found = positions_with_unique_win(4, 12, seed=0)
    board = np.stack([f[0] for f in found])
    to_play = np.array([f[1] for f in found], np.int8)
    res = mcts.search(board, to_play, uniform_exact(solver), 64)
    np.testing.assert_array_equal(mcts.best_action(res), [f[2] for f in found])


def test_finds_forced_wins_with_random_rollouts():
    _, found = positions_with_unique_win(3, 12, seed=1)
    board = np.stack([f[0] for f in found])
    to_play = np.array([f[1] for f in found], np.int8)
    res = mcts.search(board, to_play, uniform_rollout(np.random.default_rng(2)), 200)
    hits = (mcts.best_action(res) == [f[2] for f in found]).mean()
    assert hits >= 11 / 12


def test_batched_search_equals_one_game_at_a_time():
    solver, found = positions_with_unique_win(4, 6, seed=3)
    board = np.stack([f[0] for f in found])
    to_play = np.array([f[1] for f in found], np.int8)
    evaluate = uniform_exact(solver)
    together = mcts.search(board, to_play, evaluate, 40)
    for g in range(len(found)):
        alone = mcts.search(board[g:g + 1], to_play[g:g + 1], evaluate, 40)
        np.testing.assert_array_equal(alone.visits[0], together.visits[g])


def test_root_noise_keeps_a_distribution_over_legal_cells():
    board, to_play = game.random_openings(8, 4, 3, np.random.default_rng(0))
    res = mcts.search(board, to_play, uniform_rollout(np.random.default_rng(0)), 2,
                      rng=np.random.default_rng(1), dirichlet_alpha=0.6, dirichlet_eps=0.25)
    np.testing.assert_allclose(res.prior.sum(1), 1.0, rtol=1e-6)
    assert (res.prior[board != 0] == 0).all()
    assert not np.allclose(res.prior[board == 0], 1 / 13)  # the noise moved it off uniform


@pytest.mark.parametrize("n,width,nodes", [(2, 8, 12), (3, 8, 200), (4, 16, 64), (5, 8, 33)])
def test_compiled_search_matches_the_array_version_bit_for_bit(n, width, nodes):
    """The compiled tree kernels play the same search as whole-batch array operations: same visits,
    priors, values, Q and forward-pass count (3×3 with 200 nodes revisits finished games often)."""
    import torch
    from hex_array_search import array_search

    from ttc.hex.net import NetShape, PolicyValueNet, to_numpy
    torch.manual_seed(n)
    evaluate = mcts.network_evaluator(to_numpy(PolicyValueNet(NetShape(n, width))))
    rng = np.random.default_rng(n)
    board, to_play = game.random_openings(24, n, n - 1, rng)
    for noise in (0.0, 0.25):
        kw = dict(c_puct=1.5 + noise, dirichlet_alpha=0.5, dirichlet_eps=noise)
        fast = mcts.search(board, to_play, evaluate, nodes, rng=np.random.default_rng(7), **kw)
        slow = array_search(board, to_play, evaluate, nodes, rng=np.random.default_rng(7), **kw)
        for field in ("visits", "prior", "root_value", "q"):
            np.testing.assert_array_equal(getattr(fast, field), getattr(slow, field), err_msg=field)
        assert fast.n_evaluations == slow.n_evaluations
        assert fast.visits.sum() == 24 * (nodes - 1)


def test_compiled_board_kernels_match_their_array_expressions():
    rng = np.random.default_rng(0)
    for n in (2, 3, 4, 5, 7):
        board, to_play = game.random_openings(50, n, n - 1, rng)
        to_play = np.where(rng.random(50) < 0.5, to_play, -to_play).astype(np.int8)  # both sides
        perm = np.arange(n * n).reshape(n, n).T.ravel()
        view = np.where((to_play == game.WHITE)[:, None], board[:, perm], board) * to_play[:, None]
        expected = np.concatenate([view == 1, view == -1], axis=1).astype(np.float32)
        np.testing.assert_array_equal(game.canonical_features(board, to_play), expected)
        logits = rng.standard_normal((50, n * n + 1)).astype(np.float32)[:, :-1]  # a strided view, as a head's
        real = np.where((to_play == game.WHITE)[:, None], logits[:, perm], logits)
        real = np.where(board == 0, real, -np.inf).astype(np.float32)
        real -= real.max(axis=1, keepdims=True)
        got = game.masked_real_cell_logits(logits, board, to_play, game.transpose_perm(n))
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, real)
