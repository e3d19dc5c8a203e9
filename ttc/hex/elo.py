"""Maximum-likelihood Elo from pairwise win counts (Jones 2021).

P(i beats j) = σ(r_i − r_j) with r in natural units; reported Elo = r · 400 / ln 10. Every pair
that played gets `pseudocount` extra games split evenly between wins and losses, so ratings stay
finite when one side won every game. One player is anchored at 0 (perfect play where available).
Standard errors come from the inverse Fisher information (games treated as independent).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

ELO_PER_NAT = 400.0 / np.log(10.0)


@dataclass(frozen=True)
class EloFit:
    elo: np.ndarray  # [players] Elo, anchor at 0
    se: np.ndarray  # [players] standard error in Elo (0 for the anchor)
    anchor: int


def fit_elo(first: np.ndarray, second: np.ndarray, first_wins: np.ndarray, games: np.ndarray,
            n_players: int, *, anchor: int = 0, pseudocount: float = 1.0) -> EloFit:
    """`first`, `second` `[P]` player indices of each pair; `first_wins`, `games` `[P]` counts."""
    first, second = np.asarray(first), np.asarray(second)
    wins = np.asarray(first_wins, float) + pseudocount / 2
    total = np.asarray(games, float) + pseudocount
    free = np.array([k for k in range(n_players) if k != anchor])

    def unpack(x):
        r = np.zeros(n_players)
        r[free] = x
        return r

    def nll(x):
        r = unpack(x)
        d = r[first] - r[second]
        # -[w log σ(d) + (n - w) log σ(-d)], written stably
        loss = wins * np.logaddexp(0, -d) + (total - wins) * np.logaddexp(0, d)
        resid = total / (1 + np.exp(-d)) - wins  # d loss / d d
        grad = np.zeros(n_players)
        np.add.at(grad, first, resid)
        np.add.at(grad, second, -resid)
        return loss.sum(), grad[free]

    def information(x):  # the Hessian of nll: the Fisher information of the logistic model
        r = unpack(x)
        p = 1 / (1 + np.exp(-(r[first] - r[second])))
        info = np.zeros((n_players, n_players))
        w = total * p * (1 - p)
        np.add.at(info, (first, first), w)
        np.add.at(info, (second, second), w)
        np.add.at(info, (first, second), -w)
        np.add.at(info, (second, first), -w)
        return info[np.ix_(free, free)]

    res = minimize(nll, np.zeros(n_players - 1), jac=True, method="L-BFGS-B",
                   options={"maxiter": 10_000, "gtol": 1e-9})
    x = res.x
    # L-BFGS stops on a small change of the loss, short of the optimum (gradient ~0.1): finish with
    # Newton steps on the exact Hessian, which converge quadratically on this convex problem
    for _ in range(50):
        grad = nll(x)[1]
        if np.abs(grad).max() < 1e-9 * max(1.0, total.sum()):
            break
        x = x - np.linalg.lstsq(information(x), grad, rcond=None)[0]
    r = unpack(x)
    cov = np.linalg.pinv(information(x))
    se = np.zeros(n_players)
    se[free] = np.sqrt(np.clip(np.diag(cov), 0, None))
    return EloFit(elo=r * ELO_PER_NAT, se=se * ELO_PER_NAT, anchor=anchor)
