"""Hex rules: adjacency, win detection on hand-drawn boards, symmetries, openings."""

import numpy as np
import pytest

from ttc.hex import game


def board_from(text: str) -> np.ndarray:
    """Rows of X (Black), O (White), . (empty) -> one `[n*n]` board."""
    sym = {"X": game.BLACK, "O": game.WHITE, ".": 0}
    return np.array([sym[c] for c in text.split()], np.int8)


@pytest.mark.parametrize(("text", "expected"), [
    # (0,1)-(1,0) touch: the short diagonal joins top to bottom.
    (". X\nX .", game.BLACK),
    # (0,0)-(1,1) do not touch (the long diagonal is not adjacent).
    ("X .\n. X", 0),
    # O at (1,0) and (0,1) touch and span both columns.
    (". O\nO .", game.WHITE),
    ("X . .\n. X .\n. . X", 0),
    (". . X\n. X .\nX . .", game.BLACK),
    ("O O O\n. . .\nX X X", game.WHITE),
    # A bent black chain: (0,2) -> (1,1) -> (1,0) -> (2,0).
    (". . X\nX X .\nX . .", game.BLACK),
    # White zig-zag (1,0)-(1,1)-(0,2): left to right.
    (". . O\nO O .\n. . .", game.WHITE),
])
def test_winner_on_hand_drawn_boards(text, expected):
    assert game.winner(board_from(text)[None])[0] == expected


def test_play_reports_only_the_movers_win_and_rejects_occupied_cells():
    board = board_from(". . .\nX X .\n. . .")[None]
    # Black plays (0,2)? (0,2) touches (1,1); then (2,0) is still missing: no win yet.
    b, to_play, won = game.play(board, np.array([game.BLACK], np.int8), np.array([2]))
    assert not won[0] and to_play[0] == game.WHITE
    b, _, won = game.play(b, np.array([game.BLACK], np.int8), np.array([6]))  # (2,0) touches (1,0)
    assert won[0]
    with pytest.raises(ValueError):
        game.play(b, np.array([game.WHITE], np.int8), np.array([6]))


def test_full_boards_have_exactly_one_winner_and_transpose_swaps_it():
    rng = np.random.default_rng(0)
    for n in (3, 4, 5, 7):
        boards = np.where(rng.random((200, n * n)) < 0.5, game.BLACK, game.WHITE).astype(np.int8)
        w = game.winner(boards)
        assert (w != 0).all()  # Hex cannot end in a draw
        swapped = -boards[:, game.transpose_perm(n)]
        np.testing.assert_array_equal(game.winner(swapped), -w)
        rotated = boards[:, game.rotate_perm(n)]
        np.testing.assert_array_equal(game.winner(rotated), w)


def test_canonical_features_show_white_as_black_on_the_transposed_board():
    board = board_from("X . .\n. O .\n. O .")
    white = game.canonical_features(board[None], np.array([game.WHITE], np.int8))[0]
    # White to move: own stones are the O's transposed, (1,1)->(1,1) and (2,1)->(1,2).
    own, opp = white[:9].reshape(3, 3), white[9:].reshape(3, 3)
    assert own[1, 1] == 1 and own[1, 2] == 1 and own.sum() == 2
    assert opp[0, 0] == 1 and opp.sum() == 1
    black = game.canonical_features(board[None], np.array([game.BLACK], np.int8))[0]
    assert black[0] == 1 and black[9 + 4] == 1 and black[9 + 7] == 1


def test_random_openings_alternate_colours():
    board, to_play = game.random_openings(50, 4, 2, np.random.default_rng(1))
    assert ((board == game.BLACK).sum(1) == 1).all() and ((board == game.WHITE).sum(1) == 1).all()
    assert (to_play == game.BLACK).all()
