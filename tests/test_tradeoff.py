"""analysis.tradeoff: frontier interpolation by hand, Pareto filtering, and the shared-slope fit."""

import numpy as np
import pandas as pd
import pytest

from analysis.tradeoff import fit_tradeoff, frontier_points


def curve_rows(generator, tokens, train_flops, accuracies, flops, rule="majority", verify=0.0, **extra):
    """One checkpoint's rows at N=1,2,4 (test split); flops: gen FLOPs per problem at each N."""
    return [{"generator": generator, "checkpoint_tokens": tokens, "params": 100, "train_flops": train_flops,
             "split": "test", "role": extra.get("role", "checkpoint"), "rule": rule, "n": n, "accuracy": a,
             "gen_flops_per_problem": f, "verify_flops_per_problem": verify}
            for n, a, f in zip((1, 2, 4), accuracies, flops)]


def test_frontier_interpolates_log_linearly_between_bracketing_n():
    rows = curve_rows("a", 10, 1e9, [0.1, 0.3, 0.5], [100.0, 200.0, 400.0])
    rows += curve_rows("a", 20, 2e9, [0.2, 0.6, 0.7], [100.0, 200.0, 400.0], role="final")
    rows += curve_rows("a", 20, 2e9, [0.2, 0.99, 0.99], [100.0, 200.0, 400.0], rule="coverage")  # ignored
    rows += [dict(rows[0], split="ood", accuracy=1.0)]  # other splits ignored
    pts = frontier_points(pd.DataFrame(rows), [0.2, 0.4]).set_index(["target_accuracy", "checkpoint_tokens"])
    # checkpoint 10, target 0.2: halfway from 0.1 (N=1, 100) to 0.3 (N=2, 200) -> 100·2^0.5, N = 2^0.5
    # checkpoint 20 reaches 0.2 at N=1 (100 FLOPs): more train compute, less test compute -> kept
    assert pts.loc[(0.2, 10), "test_flops_per_problem"] == pytest.approx(100 * 2**0.5)
    assert pts.loc[(0.2, 10), "n_interp"] == pytest.approx(2**0.5)
    assert pts.loc[(0.2, 20), "test_flops_per_problem"] == pytest.approx(100.0)
    # target 0.4: checkpoint 10 halfway from 0.3 (200) to 0.5 (400) -> 200·2^0.5;
    # checkpoint 20 from 0.2 (100) to 0.6 (200), a half -> 100·2^0.5
    assert pts.loc[(0.4, 10), "test_flops_per_problem"] == pytest.approx(200 * 2**0.5)
    assert pts.loc[(0.4, 20), "test_flops_per_problem"] == pytest.approx(100 * 2**0.5)
    assert pts.loc[(0.4, 20), "n_interp"] == pytest.approx(2**0.5)
    assert list(pts.reset_index().columns) == ["target_accuracy", "checkpoint_tokens", "generator", "params",
                                               "train_flops", "test_flops_per_problem", "n_interp"]


def test_running_max_and_verifier_cost_and_best_rule():
    # the N=2 dip is replaced by the N=1 accuracy (running max): 0.3 is bracketed by N=2 (0.2) and N=4 (0.4)
    rows = curve_rows("a", 10, 1e9, [0.2, 0.1, 0.4], [100.0, 200.0, 400.0])
    # a verifier rule that pays 300 FLOPs for scoring: at N=1 it costs 400 and reaches 0.5
    rows += curve_rows("a", 10, 1e9, [0.5, 0.6, 0.7], [100.0, 200.0, 400.0], rule="best_of_n:orm", verify=300.0)
    curves = pd.DataFrame(rows)
    pts = frontier_points(curves, [0.3, 0.45]).set_index("target_accuracy")
    # points by cost: 100 (0.2), 200 (0.2 after the running max), 400 (the best of majority@4 0.4 and
    # orm@1 0.5: 0.5); 0.3 lies a third of the way from 0.2 to 0.5 -> 200·2^(1/3)
    assert pts.loc[0.3, "test_flops_per_problem"] == pytest.approx(200 * 2 ** (1 / 3))
    assert pts.loc[0.45, "test_flops_per_problem"] == pytest.approx(200 * 2 ** (0.25 / 0.3))
    assert frontier_points(curves, [0.5])["test_flops_per_problem"].iloc[0] == pytest.approx(400.0)
    only_majority = frontier_points(curves, [0.45], rule="majority")
    assert only_majority.empty
    no_verify_cost = frontier_points(curves.drop(columns="verify_flops_per_problem"), [0.45])
    assert no_verify_cost["test_flops_per_problem"].iloc[0] == pytest.approx(100.0)  # orm@1 would be free


def test_pareto_drops_a_dominated_checkpoint():
    rows = curve_rows("a", 10, 1e9, [0.1, 0.3, 0.5], [100.0, 200.0, 400.0])
    rows += curve_rows("a", 20, 2e9, [0.05, 0.2, 0.5], [100.0, 200.0, 400.0])  # more training, no cheaper
    rows += curve_rows("b", 5, 4e9, [0.5, 0.6, 0.7], [1000.0, 2000.0, 4000.0])  # 0.3 at 1000 > 200
    rows += curve_rows("c", 5, 8e9, [0.35, 0.6, 0.7], [150.0, 300.0, 600.0])  # 150 < 200: kept
    pts = frontier_points(pd.DataFrame(rows), [0.3])
    assert pts["checkpoint_tokens"].tolist() == [10, 5] and pts["generator"].tolist() == ["a", "c"]
    assert pts["test_flops_per_problem"].tolist() == pytest.approx([200.0, 150.0])


def synthetic_points(slope, noise, seed=0, intercepts=(12.0, 13.0, 14.5), n_per=6):
    rng = np.random.default_rng(seed)
    rows = []
    for target, c in zip((0.2, 0.4, 0.6), intercepts):
        x = np.linspace(15, 19, n_per) + rng.uniform(-0.2, 0.2, n_per)
        y = slope * x + c + noise * rng.standard_normal(n_per)
        rows += [{"target_accuracy": target, "train_flops": 10**xi, "test_flops_per_problem": 10**yi}
                 for xi, yi in zip(x, y)]
    return pd.DataFrame(rows)


def test_noiseless_fit_is_exact():
    fit = fit_tradeoff(synthetic_points(-1.2, 0.0))
    assert fit["slope"] == pytest.approx(-1.2, abs=1e-9) and fit["slope_se"] == pytest.approx(0, abs=1e-9)
    assert fit["r2"] == pytest.approx(1.0) and fit["r2_within"] == pytest.approx(1.0)
    assert fit["intercepts"] == pytest.approx({0.2: 12.0, 0.4: 13.0, 0.6: 14.5})
    assert fit["test_compute_saved_per_10x_train"] == pytest.approx(10**1.2)
    assert fit["n_points"] == 18 and fit["n_targets"] == 3 and fit["reason"] is None


def test_noisy_fit_recovers_the_slope_and_its_ci_covers():
    fit = fit_tradeoff(synthetic_points(-1.2, 0.05, seed=3))
    low, high = fit["slope_ci"]
    assert low < -1.2 < high and fit["slope"] == pytest.approx(-1.2, abs=0.1)
    saved_low, saved_high = fit["test_compute_saved_ci"]
    assert saved_low < fit["test_compute_saved_per_10x_train"] < saved_high
    assert saved_low == pytest.approx(10 ** (-high)) and 0.9 < fit["r2_within"] <= fit["r2"] < 1
    covered = [fit_tradeoff(synthetic_points(-1.2, 0.2, seed=s))["slope_ci"] for s in range(200)]
    share = np.mean([lo < -1.2 < hi for lo, hi in covered])
    assert 0.9 < share < 0.99  # nominal 95%


def test_too_few_points_gives_no_slope_with_a_reason():
    pts = synthetic_points(-1.2, 0.0)
    two = pts.groupby("target_accuracy").head(1).iloc[:2].assign(target_accuracy=0.2)
    assert fit_tradeoff(two)["slope"] is None and "need >= 3 points" in fit_tradeoff(two)["reason"]
    singles = pts.groupby("target_accuracy").head(1)  # three targets, one point each
    assert fit_tradeoff(singles)["slope"] is None and fit_tradeoff(singles)["n_targets"] == 0
    same_train = pts.assign(train_flops=1e17)
    assert "does not vary" in fit_tradeoff(same_train)["reason"]
    assert fit_tradeoff(pts.iloc[:0])["slope"] is None


# --- the bootstrap over problems and the crossings -------------------------------------------------
def family(p_of, n_problems, seed=0):
    """A two-size family (a: 100 P, b: 400 P) with two checkpoints each, at N = 1, 2, 4, 8, and its
    per-problem values: problem i is solved by a (checkpoint, N) when u_i < its true accuracy p_of(gen,
    checkpoint, N), so a hard problem is hard for all (paired, as in a real sweep)."""
    u = np.random.default_rng(seed).uniform(size=n_problems)
    rows, values = [], []
    for gen, params in (("a", 100), ("b", 400)):
        for tokens in (1000, 2000):
            for n in (1, 2, 4, 8):
                v = (u < p_of(gen, tokens, n)).astype(float)
                rows.append({"generator": gen, "checkpoint_tokens": tokens, "params": params,
                             "train_flops": 6.0 * params * tokens, "split": "test",
                             "role": "final" if tokens == 2000 else "checkpoint", "rule": "majority", "n": n,
                             "accuracy": v.mean(), "gen_flops_per_problem": 2.0 * params * 10 * n})
                values.append(pd.DataFrame({"generator": gen, "checkpoint_tokens": tokens, "split": "test",
                                            "role": rows[-1]["role"], "rule": "majority", "n": n,
                                            "problem_id": np.arange(n_problems), "value": v}))
    return pd.DataFrame(rows), pd.concat(values, ignore_index=True)


def true_accuracy(gen, tokens, n):
    """Accuracy rises by 0.1 per doubling of N and with training; b is 0.15 better than a."""
    return 0.2 + 0.1 * np.log2(n) + 0.1 * (tokens == 2000) + 0.15 * (gen == "b")


def test_bootstrap_contains_the_estimate_and_shrinks_with_more_problems():
    from analysis.tradeoff import bootstrap_tradeoff
    widths = []
    for n_problems in (200, 3200):
        curves, per_problem = family(true_accuracy, n_problems, seed=1)
        fit = fit_tradeoff(frontier_points(curves))
        boot = bootstrap_tradeoff(curves, per_problem, n_boot=300, seed=0)
        low, high = boot["slope_ci"]
        assert boot["reason"] is None and boot["share_defined"] > 0.9
        assert low <= fit["slope"] <= high and low < boot["slope_median"] < high
        assert boot["test_compute_saved_ci"] == pytest.approx([10 ** -high, 10 ** -low])
        widths.append(high - low)
    assert widths[1] < 0.5 * widths[0]  # ~1/sqrt(16) of it, for a smooth statistic
    again = bootstrap_tradeoff(*family(true_accuracy, 200, seed=1), n_boot=300, seed=0)
    assert again["slope_ci"] == pytest.approx(bootstrap_tradeoff(*family(true_accuracy, 200, seed=1), n_boot=300,
                                                                  seed=0)["slope_ci"])


def test_bootstrap_of_problem_free_values_is_the_point_estimate():
    """Every problem's value equal to the row's accuracy: each replicate reproduces the data exactly."""
    from analysis.tradeoff import bootstrap_tradeoff
    curves, per_problem = family(true_accuracy, 50)
    per_problem["value"] = per_problem.groupby(["generator", "checkpoint_tokens", "n"])["value"].transform("mean")
    slope = fit_tradeoff(frontier_points(curves))["slope"]
    boot = bootstrap_tradeoff(curves, per_problem, n_boot=20)
    assert boot["slope_ci"] == pytest.approx([slope, slope]) and boot["share_defined"] == 1.0


def test_bootstrap_names_what_is_missing():
    from analysis.tradeoff import bootstrap_tradeoff
    curves, per_problem = family(true_accuracy, 50)
    finals_only = per_problem[per_problem["role"] == "final"]
    assert "missing for 8 of 16" in bootstrap_tradeoff(curves, finals_only, n_boot=5)["reason"]
    shifted = per_problem.assign(value=per_problem["value"] * 0.5)
    assert "do not average" in bootstrap_tradeoff(curves, shifted, n_boot=5)["reason"]
    assert bootstrap_tradeoff(curves, shifted, n_boot=5)["slope_ci"] is None


def test_crossings_group_consecutive_targets_with_the_same_checkpoints():
    from analysis.tradeoff import crossings
    pts = pd.DataFrame({"generator": ["a", "b", "a", "b", "b", "c", "c"],
                        "checkpoint_tokens": [1, 1, 1, 1, 1, 1, 1],
                        "train_flops": [1.0, 2.0, 1.0, 2.0, 2.0, 3.0, 3.0],
                        "target_accuracy": [0.1, 0.1, 0.2, 0.2, 0.3, 0.3, 0.4]})
    assert crossings(pts) == [{"checkpoints": ["a@1", "b@1"], "targets": [0.1, 0.2]},
                              {"checkpoints": ["b@1", "c@1"], "targets": [0.3, 0.3]}]  # 0.4: one point
