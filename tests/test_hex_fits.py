"""Iso-Elo trade-off and frontier fits on synthetic agents with a known answer."""

import numpy as np
import pandas as pd
import pytest

from analysis import hex_fits as fits


def synthetic_agents(a=200.0, b=300.0, widths=(8, 16)):
    """Elo = a·log10(train) + b·log10(nodes) - 2400: iso-Elo lines have slope -a/b."""
    rows = []
    for w in widths:
        for s, train in enumerate(10 ** np.arange(6, 10.01, 0.5)):
            for nodes in (1, 4, 16, 64, 256):
                elo = a * np.log10(train) + b * np.log10(nodes) - 2400
                rows.append({"board": 3, "width": w, "snapshot": s, "nodes": nodes, "train_flops": train,
                                 "test_flops": nodes * 100.0 * w, "elo": elo, "elo_se": 10.0})
    return pd.DataFrame(rows)


def test_iso_elo_interpolates_in_log_nodes_and_marks_the_floor():
    agents = synthetic_agents()
    iso = fits.iso_elo(agents, np.array([-600.0]))
    # train 1e8: Elo(nodes) = 1600 + 300·log10(nodes) - 2400, = -600 at log10(nodes) = 2/3.
    row = iso[(iso["width"] == 8) & (iso["train_flops"] == 1e8)].iloc[0]
    assert row["nodes_needed"] == pytest.approx(10 ** (2 / 3))
    assert not row["at_floor"]
    floor = iso[(iso["width"] == 8) & (iso["train_flops"] == 1e9)].iloc[0]  # -600 at one node already
    assert floor["at_floor"] and floor["nodes_needed"] == 1


def test_tradeoff_fit_recovers_the_slope():
    agents = synthetic_agents()
    iso = fits.iso_elo(agents, np.arange(-1000.0, -99.0, 100.0))
    # Width 8 is 2× cheaper per node at equal Elo, so only its points are on the Pareto frontier.
    assert set(iso.loc[iso["pareto"], "width"]) == {8}
    fit = fits.fit_tradeoff(iso)
    assert fit["slope"] == pytest.approx(-200 / 300, abs=1e-9)
    assert fit["k"] == pytest.approx(10 ** (2 / 3))
    assert fit["r2"] == pytest.approx(1.0)


def test_changepoint_fit_and_compute_within_margin():
    rows = []
    m, m_b, c = 400.0, -500.0, -2000.0  # perfect play at log10 C = (2000 + 500·B)/400: 8.75 and 10
    for board in (3, 4, 5):
        for logc in np.arange(6, 12.01, 0.25):
            elo = min(0.0, max(m * logc + m_b * board + c, -1500.0))
            rows.append({"board": board, "train_flops": 10 ** logc, "elo": elo})
    front = pd.DataFrame(rows)
    fit = fits.fit_changepoint(front)
    assert fit["elo_per_decade"] == pytest.approx(400, rel=0.02)
    assert fit["perfect_play_ratio_per_board_step"] == pytest.approx(10 ** 1.25, rel=0.05)
    within = fits.compute_within(front)
    assert np.log10(within[3]) == pytest.approx(8.75 - 100 / 400)


def test_tradeoff_fit_counts_the_design_rank_and_flags_an_unidentified_slope():
    # one board, one Elo level: the Elo column duplicates the board intercept, so the design has rank 2
    iso = pd.DataFrame({"board": 3, "elo_level": -500.0, "train_flops": [1e6, 1e7, 1e8, 1e9],
                        "test_flops": [1e5, 2e4, 5e3, 8e2], "at_floor": False, "pareto": True})
    x, y = np.log10(iso["train_flops"].to_numpy()), np.log10(iso["test_flops"].to_numpy())
    slope, intercept = np.polyfit(x, y, 1)
    resid = y - (slope * x + intercept)
    se = np.sqrt(resid @ resid / (4 - 2) / ((x - x.mean()) ** 2).sum())  # textbook: n - 2 dof
    fit = fits.fit_tradeoff(iso)
    assert fit["slope"] == pytest.approx(slope) and fit["slope_se"] == pytest.approx(se)
    assert np.isnan(fit["elo_coef"])
    # one train compute at every level: the slope is not identified
    same_train = iso.assign(train_flops=1e6, elo_level=[-500.0, -400.0, -300.0, -200.0])
    assert np.isnan(fits.fit_tradeoff(same_train)["slope"])
