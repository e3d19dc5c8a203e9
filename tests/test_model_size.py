"""analysis.model_size: the model-size multiplier on curves whose answer is known by hand."""

import numpy as np
import pandas as pd
import pytest

from analysis.model_size import (
    ModelSizeError,
    equivalent_log_params,
    final_test_curves,
    main,
    pava,
    size_multipliers,
)

PARAMS = [1e3, 1e4, 1e5, 1e6]
GENS = ["xs", "s", "m", "l"]


def make_curves(single, verified, rule="orm", n=8, se=None):
    """single accuracies per generator (PARAMS order) plus {generator: accuracy} for one rule at n."""
    rows = [{"generator": g, "params": p, "rule": "single", "n": 1, "accuracy": a}
            for g, p, a in zip(GENS, PARAMS, single)]
    rows += [{"generator": g, "params": PARAMS[GENS.index(g)], "rule": rule, "n": n, "accuracy": a}
             for g, a in verified.items()]
    frame = pd.DataFrame(rows)
    if se is not None:
        frame["se"] = se
    return frame


def row(table, generator, rule="orm"):
    return table.set_index(["generator", "rule"]).loc[(generator, rule)]


# ---------------------------------------------------------------- point estimates


def test_interpolated_multiplier_is_exact():
    table = size_multipliers(make_curves([0.1, 0.2, 0.3, 0.4], {"xs": 0.25}))
    r = row(table, "xs")
    assert r["kind"] == "interpolated" and r["n"] == 8
    assert r["equivalent_params"] == pytest.approx(10**4.5, rel=1e-12)
    assert r["multiplier"] == pytest.approx(10**1.5, rel=1e-12)
    assert r["single_accuracy"] == 0.1 and r["ci_method"] == "none" and np.isnan(r["ci_low"])


def test_bounds_beyond_the_single_sample_curve():
    table = size_multipliers(make_curves([0.1, 0.2, 0.3, 0.4], {"xs": 0.5, "s": 0.05, "m": 0.4}))
    above, below, top = row(table, "xs"), row(table, "s"), row(table, "m")
    assert above["kind"] == "lower_bound" and above["multiplier"] == pytest.approx(1e3)  # >= P_max / P
    assert below["kind"] == "upper_bound" and below["multiplier"] == pytest.approx(0.1)  # <= P_min / P
    assert top["kind"] == "interpolated" and top["equivalent_params"] == pytest.approx(1e6)  # reaches the max


def test_pava_pools_adjacent_violators():
    assert pava(np.array([0.1, 0.3, 0.2, 0.4])) == pytest.approx([0.1, 0.25, 0.25, 0.4])
    assert pava(np.array([3.0, 1.0, 2.0])) == pytest.approx([2, 2, 2])
    assert pava(np.array([1.0, 3.0, 2.0, 2.0, 5.0])) == pytest.approx([1, 7 / 3, 7 / 3, 7 / 3, 5])
    assert pava(np.array([0.1, 0.2])) == pytest.approx([0.1, 0.2])


def test_non_monotone_single_curve_is_pooled_then_interpolated():
    curves = make_curves([0.1, 0.3, 0.2, 0.4], {"xs": 0.25, "s": 0.3, "m": 0.2})
    table = size_multipliers(curves)
    # pooled curve 0.1, 0.25, 0.25, 0.4: 0.25 is first reached at P=1e4 (the flat segment's left end)
    assert row(table, "xs")["equivalent_params"] == pytest.approx(1e4)
    # 0.3 lies a third of the way from 0.25 (1e5) to 0.4 (1e6)
    assert row(table, "s")["equivalent_params"] == pytest.approx(10 ** (5 + 1 / 3))
    assert row(table, "s")["multiplier"] == pytest.approx(10 ** (1 + 1 / 3))
    # 0.2 between 0.1 (1e3) and 0.25 (1e4): two thirds of a decade
    assert row(table, "m")["equivalent_params"] == pytest.approx(10 ** (3 + 2 / 3))


def test_equivalent_log_params_broadcasts_over_resamples():
    log_p = np.array([3.0, 4.0, 5.0])
    curve = np.array([[0.1, 0.2, 0.3], [0.2, 0.2, 0.4]])
    acc = np.array([[0.15, 0.35], [0.2, 0.1]])
    log_equiv, kind = equivalent_log_params(log_p, curve, acc)
    np.testing.assert_allclose(log_equiv, [[3.5, 5.0], [3.0, 3.0]])
    assert kind.tolist() == [[0, 1], [0, -1]]


def test_default_rules_and_n_and_filters():
    curves = pd.concat([make_curves([0.1, 0.2, 0.3, 0.4], {"xs": 0.2}, n=4),
                        make_curves([0.1, 0.2, 0.3, 0.4], {"xs": 0.25}, n=8).query("rule != 'single'"),
                        make_curves([0.1, 0.2, 0.3, 0.4], {"xs": 0.9}, rule="coverage").query("rule != 'single'")])
    table = size_multipliers(curves)
    assert table[["rule", "n"]].values.tolist() == [["orm", 8]]  # coverage excluded, largest N
    assert size_multipliers(curves, n=4)["equivalent_params"].iloc[0] == pytest.approx(1e4)
    frame = curves.assign(split="test", role="final")
    frame = pd.concat([frame, frame.assign(split="ood"), frame.assign(role="checkpoint")])
    assert len(final_test_curves(frame)) == len(curves)
    assert len(final_test_curves(frame, "ood")) == len(curves)


@pytest.mark.parametrize(
    "curves, kwargs, says",
    [
        (make_curves([0.1, 0.2, 0.3, 0.4], {"xs": 0.2}).drop(columns="params"), {}, "params"),
        (make_curves([0.1, 0.2, 0.3, 0.4], {"xs": 0.2}).query("rule != 'single'"), {}, "single-sample"),
        (make_curves([0.1, 0.2, 0.3, 0.4], {"xs": 0.2}).iloc[3:], {}, "at least 2"),
        (make_curves([0.1, 0.2, 0.3, 0.4], {"xs": 0.2}), {"rules": ["prm"]}, "unknown rule 'prm'"),
        (make_curves([0.1, 0.2, 0.3, 0.4], {"xs": 0.2}), {"n": 3}, "no rows at N=3"),
        # a missing value must not become a multiplier: NaN single accuracy once gave xs 0.1x "interpolated"
        (make_curves([np.nan, 0.2, 0.3, 0.4], {"xs": 0.2}), {}, "'accuracy' has a missing .*generator xs, rule single"),
        (make_curves([0.1, 0.2, 0.3, 0.4], {"xs": np.nan}), {}, "'accuracy' has a missing .*generator xs, rule orm"),
        (make_curves([0.1, 0.2, 0.3, 0.4], {"xs": 0.2}).assign(params=[1e3, np.inf, 1e5, 1e6, 1e3]), {},
         "'params' has a missing or infinite"),
        (make_curves([10, 20, 30, 40], {"xs": 25}), {}, "has 40, outside \\[0, 1\\]; .* percentages by 100"),
    ],
)
def test_bad_input_raises_one_line(curves, kwargs, says):
    with pytest.raises(ModelSizeError, match=says) as err:
        size_multipliers(curves, **kwargs)
    assert "\n" not in str(err.value)


# ---------------------------------------------------------------- uncertainty


def per_problem_table(n_problems, seed=0, single=(0.1, 0.2, 0.3, 0.4), verified=0.25):
    """0/1 values per problem drawn at the given rates; the curves are their exact means."""
    rng = np.random.default_rng(seed)
    ids = np.arange(n_problems)
    parts = [pd.DataFrame({"generator": g, "rule": "single", "n": 1, "problem_id": ids,
                           "value": (rng.random(n_problems) < a).astype(float)}) for g, a in zip(GENS, single)]
    parts.append(pd.DataFrame({"generator": "xs", "rule": "orm", "n": 8, "problem_id": ids,
                               "value": (rng.random(n_problems) < verified).astype(float)}))
    per_problem = pd.concat(parts, ignore_index=True)
    curves = per_problem.groupby(["generator", "rule", "n"], as_index=False)["value"].mean()
    curves = curves.rename(columns={"value": "accuracy"})
    curves["params"] = curves["generator"].map(dict(zip(GENS, PARAMS)))
    return curves, per_problem


def test_bootstrap_over_problems_covers_shrinks_and_is_seeded():
    widths = []
    for n_problems in (200, 3200):
        curves, per_problem = per_problem_table(n_problems)
        r = row(size_multipliers(curves, per_problem=per_problem, n_boot=500, seed=1), "xs")
        assert r["ci_method"] == "bootstrap_problems" and r["kind"] == "interpolated"
        assert r["ci_low"] <= r["multiplier"] <= r["ci_high"]
        assert 0 <= r["boot_lower_bound_share"] < 0.05
        widths.append(np.log10(r["ci_high"] / r["ci_low"]))
    assert widths[1] < widths[0] / 2  # 16x the problems: about a quarter of the width
    curves, per_problem = per_problem_table(200)
    runs = [size_multipliers(curves, per_problem=per_problem, n_boot=300, seed=s) for s in (7, 7, 8)]
    pd.testing.assert_frame_equal(runs[0], runs[1])
    assert runs[0]["ci_low"].iloc[0] != runs[2]["ci_low"].iloc[0]


def test_bootstrap_reports_the_lower_bound_share():
    curves, per_problem = per_problem_table(400, verified=0.4)  # about the largest model's accuracy
    r = row(size_multipliers(curves, per_problem=per_problem, n_boot=500), "xs")
    assert 0.1 < r["boot_lower_bound_share"] < 0.9
    assert r["ci_high"] == pytest.approx(1e3)  # the bound P_max / P


def test_normal_se_bootstrap_and_missing_per_problem_values():
    curves = make_curves([0.1, 0.2, 0.3, 0.4], {"xs": 0.25}, se=0.01)
    r = row(size_multipliers(curves, n_boot=400), "xs")
    assert r["ci_method"] == "normal_se" and r["ci_low"] < 10**1.5 < r["ci_high"]
    _, per_problem = per_problem_table(50)
    with pytest.raises(ModelSizeError, match="no values for generator xs, rule orm, n 8"):
        size_multipliers(curves, per_problem=per_problem[per_problem["rule"] == "single"])
    with pytest.raises(ModelSizeError, match="differs from the curves' accuracy for generator xs"):
        size_multipliers(curves, per_problem=per_problem)  # hand-made curves, another run's problems
    with pytest.raises(ModelSizeError, match="several rows per"):
        size_multipliers(curves, per_problem=pd.concat([per_problem, per_problem]))


# ---------------------------------------------------------------- command line


def refused(capsys, argv, says):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and says in err, err


def test_cli_refuses_bad_input_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out.csv"
    good = tmp_path / "curves.csv"
    make_curves([0.1, 0.2, 0.3, 0.4], {"xs": 0.25}).to_csv(good, index=False)
    refused(capsys, [str(tmp_path / "nope.csv"), "--out", str(out)], "no such file")
    make_curves([0.1, 0.2, 0.3, 0.4], {"xs": 0.25}).drop(columns="accuracy").to_csv(tmp_path / "a.csv")
    refused(capsys, [str(tmp_path / "a.csv"), "--out", str(out)], "accuracy")
    make_curves([0.1, 0.2, 0.3, 0.4], {"xs": 0.25}).query("rule != 'single'").to_csv(tmp_path / "b.csv")
    refused(capsys, [str(tmp_path / "b.csv"), "--out", str(out)], "no single-sample rows")
    make_curves([0.1, 0.2, 0.3, 0.4], {"l": 0.25}).iloc[3:].to_csv(tmp_path / "c.csv")
    refused(capsys, [str(tmp_path / "c.csv"), "--out", str(out)], "need at least 2")
    refused(capsys, [str(good), "--rules", "prm", "--out", str(out)], "unknown rule 'prm'")
    refused(capsys, [str(good), "--n-boot", "many"], "--n-boot")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    refused(capsys, [str(good), "--per-problem", str(tmp_path / "bad.parquet")], "cannot read")
    refused(capsys, [str(good), "--out", str(tmp_path / "no" / "x.csv")], "folder does not exist")
    assert not out.exists()


@pytest.mark.parametrize("suffix", [".csv.gz", ".parquet"])
def test_cli_writes_the_table(tmp_path, capsys, suffix):
    curves, per_problem = per_problem_table(100)
    curves.assign(split="test", role="final").to_csv(tmp_path / "curves.csv", index=False)
    pp = tmp_path / f"pp{suffix}"
    per_problem.to_parquet(pp) if suffix == ".parquet" else per_problem.to_csv(pp, index=False)
    out = tmp_path / "out.csv"
    argv = [str(tmp_path / "curves.csv"), "--per-problem", str(pp), "--n-boot", "200", "--out", str(out)]
    assert main(argv) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "multiplier" in printed and "bootstrap_problems" in printed
    table = pd.read_csv(out)
    assert table.columns.tolist()[:4] == ["generator", "params", "rule", "n"] and len(table) == 1
    assert table["ci_method"].iloc[0] == "bootstrap_problems"


def test_the_headline_multiplier_is_taken_at_the_largest_n_two_sizes_share():
    from analysis.headline import model_size_table, shared_n
    rows = [{"generator": g, "params": p, "rule": "single", "n": 1, "accuracy": a}
            for g, p, a in zip(GENS, PARAMS, [0.1, 0.2, 0.3, 0.4])]
    for g, n_max in (("s", 128), ("m", 128), ("l", 256)):  # xs has no selection rows (no pool beyond N = 1)
        rows += [{"generator": g, "params": PARAMS[GENS.index(g)], "rule": "majority", "n": n,
                  "accuracy": 0.05 + 0.1 * GENS.index(g) + 0.01 * np.log2(n)} for n in (1, 16, 128, 256) if n <= n_max]
    curves = pd.DataFrame(rows).assign(role="final", split="test", ci_low=0.0, ci_high=1.0, se=0.01)
    assert shared_n(curves[curves["rule"] == "majority"]) == 128
    assert shared_n(curves[(curves["rule"] == "majority") & (curves["generator"] == "l")]) == 256
    _, mult, _, n = model_size_table(curves)
    assert n == 128 and set(mult["generator"]) == {"s", "m", "l"}
    # s's majority at 128 (0.05 + 0.1 + 0.07 = 0.22) sits between s (0.2) and m (0.3) on the single curve
    assert float(mult.set_index("generator").loc["s", "equivalent_params"]) == pytest.approx(10 ** 4.2, rel=1e-9)
