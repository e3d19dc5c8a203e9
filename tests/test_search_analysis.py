"""The search analysis on hand-made tables: difficulty bins, the iso-accuracy FLOPs, the compute-optimal
mix (a method best on one kind of problem is chosen there, on held-out problems), and the comparison
with a larger generator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.search import _needed_flops, compute_optimal, difficulty_bins, method_table, versus_larger


def test_needed_flops_interpolates_in_log_flops_and_labels_bounds():
    curve = pd.DataFrame({"flops": [1e8, 1e9, 1e10], "accuracy": [0.5, 0.6, 0.55]})  # envelope: .5 .6 .6
    need, kind = _needed_flops(0.55, curve)
    assert kind == "interpolated" and need == pytest.approx(10 ** 8.5)
    assert _needed_flops(0.7, curve) == (1e10, "lower_bound")
    assert _needed_flops(0.4, curve) == (1e8, "upper_bound")


def test_difficulty_bins_are_equal_sized_and_ordered_easiest_first():
    ids = np.arange(20)
    pp = pd.DataFrame({"generator": "g", "role": "final", "split": "test", "rule": "single", "n": 1,
                       "problem_id": ids, "value": np.linspace(1, 0, 20)})
    bins = difficulty_bins(pp, "g", ids, 5)
    assert bins.value_counts().tolist() == [4] * 5
    assert bins[0] == 1 and bins[19] == 5


def synthetic(n_problems=40):
    """Two methods at budget 4: 'search:a:prm' solves the easy half only, best-of-N the hard half only."""
    ids = np.arange(n_problems)
    easy = ids < n_problems // 2
    rows = [("single", 1, np.where(easy, 0.9, 0.1)), ("best_of_n:prm", 1, np.where(easy, 0.9, 0.1)),
            ("best_of_n:prm", 4, np.where(easy, 0.0, 1.0)), ("best_of_n:prm", 16, np.where(easy, 0.5, 1.0)),
            ("majority", 4, np.where(easy, 0.0, 0.0)), ("search:a:prm", 4, np.where(easy, 1.0, 0.0))]
    pp = pd.concat([pd.DataFrame({"generator": "g", "role": "search" if r.startswith("search") else "final",
                                  "split": "test", "rule": r, "n": n, "problem_id": ids, "value": v})
                    for r, n, v in rows], ignore_index=True)
    flops = {("single", 1): 1e8, ("best_of_n:prm", 1): 1e8, ("best_of_n:prm", 4): 4e8, ("best_of_n:prm", 16): 16e8,
             ("majority", 4): 4e8, ("search:a:prm", 4): 2e8}
    curves = pd.DataFrame([{"generator": "g", "split": "test", "role": "search" if r.startswith("search") else "final",
                            "rule": r, "n": n, "gen_flops_per_problem": f, "verify_flops_per_problem": 0.0,
                            "params": 1000} for (r, n), f in flops.items()])
    return curves, pp


def test_compute_optimal_picks_the_best_method_per_bin_on_held_out_problems():
    curves, pp = synthetic()
    methods, values = method_table(curves, pp, "g")
    assert set(methods["kind"]) == {"sampling", "search"}
    bins = difficulty_bins(pp, "g", np.asarray(values.columns), 2)
    mix, choices = compute_optimal(methods, values, bins, [4], n_boot=200)
    assert dict(zip(choices["bin"], choices["rule"])) == {1: "search:a:prm", 2: "best_of_n:prm"}
    r = mix.iloc[0]
    assert r["mix_accuracy"] == 1.0 and r["best_of_n_accuracy"] == 0.5 and r["accuracy_gain"] == 0.5
    assert r["mix_flops"] == pytest.approx(3e8)  # half the problems at 2e8, half at 4e8
    # best-of-N never reaches 100% (its envelope tops out at 75% at N = 16): the saving is a lower bound
    assert r["saving_kind"] == "lower_bound" and r["compute_saving"] == pytest.approx(16e8 / 3e8)
    assert r["eval_problems"] + r["selection_problems"] == 40


def test_versus_larger_matches_flops_and_never_extrapolates():
    curves, pp = synthetic()
    big = curves.assign(generator="G", params=8000)
    pp_big = pp.assign(generator="G")
    ms, vs = method_table(curves, pp, "g")
    ml, vl = method_table(big, pp_big, "G")
    table = versus_larger(ms, ml, vs, vl, "search:a:prm")
    r = table.iloc[0]
    assert r["small_flops"] == 2e8 and r["small_accuracy"] == 0.5 and r["large_params"] == 8000
    # at 2e8 FLOPs the larger one's best sampling rule is interpolated between its 1e8 and 4e8 points
    assert r["large_best_at_same_flops"] == pytest.approx(0.5) and r["large_single_accuracy"] == pytest.approx(0.5)


def test_vectorised_needed_flops_equals_the_scalar_one():
    """The bootstrap's all-at-once FLOPs (inside, beyond and below a curve, flat steps) equal the scalar
    function's, replicate by replicate."""
    from analysis.search import _needed_flops, _needed_flops_many
    rng = np.random.default_rng(3)
    flops = np.array([4e8, 1e8, 1.6e9, 6.4e9])  # unsorted, as a methods table may give them
    curves = np.round(rng.uniform(0.3, 0.8, size=(300, 4)), 2)  # rounding makes flat steps and ties
    accs = np.concatenate([rng.uniform(0.2, 0.9, 296), curves[:4, 1]])  # some exactly at a point
    many = _needed_flops_many(accs, flops, curves)
    for b in range(len(accs)):
        one, _ = _needed_flops(float(accs[b]), pd.DataFrame({"flops": flops, "accuracy": curves[b]}))
        assert many[b] == pytest.approx(one, rel=1e-12), b
