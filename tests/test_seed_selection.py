"""Selection over seeds: ttc.seed_selection on the tiny family, analysis.seed_selection on hand tables."""

import json

import numpy as np
import pandas as pd
import pytest

from analysis.model_size import ModelSizeError
from analysis.seed_selection import fig_seed_selection, paired_gaps, seed_means, seed_multipliers
from tests.test_sweep import TINY


def _selection(acc: dict[str, dict[str, list[float]]], params: dict[str, int], n: int = 8) -> pd.DataFrame:
    rows = [{"generator": g, "params": params[g], "seed": k, "rule": rule, "n": 1 if rule == "single" else n,
             "accuracy": a} for g, rules in acc.items() for rule, accs in rules.items() for k, a in enumerate(accs)]
    return pd.DataFrame(rows)


PARAMS = {"a": 100, "b": 1000, "c": 10000}


def test_multiplier_is_read_on_the_seed_means():
    sel = _selection({"b": {"single": [0.2, 0.4], "best_of_n:prm": [0.4, 0.6], "majority": [0.3, 0.5]}}, PARAMS)
    single = pd.DataFrame({"generator": ["a", "a", "c", "c", "c"], "params": [100, 100, 10000, 10000, 10000],
                           "seed": [0, 1, 0, 1, 2], "pass1": [0.1, 0.1, 0.6, 0.7, 0.8]})
    out = seed_multipliers(sel, single, n_boot=500).set_index("rule")
    # curve 0.1 (P=100), 0.3 (1000), 0.7 (10000); PRM 0.5 is halfway from 0.3 to 0.7 in log P: P' = 10^3.5
    assert out.loc["best_of_n:prm", "multiplier"] == pytest.approx(10**3.5 / 1000)
    assert out.loc["majority", "multiplier"] == pytest.approx(10**3.25 / 1000)
    assert (out["kind"] == "interpolated").all() and out["n_seeds"].eq(2).all()
    assert out.loc["best_of_n:prm", "accuracy_se"] == pytest.approx(np.std([0.4, 0.6], ddof=1) / np.sqrt(2))
    assert (out["ci_low"] <= out["multiplier"]).all() and (out["multiplier"] <= out["ci_high"]).all()
    means = seed_means(sel, single)
    assert means.set_index(["generator", "rule"]).loc[("c", "single"), "accuracy"] == pytest.approx(0.7)
    above = _selection({"b": {"single": [0.2, 0.4], "best_of_n:prm": [0.9, 0.9]}}, PARAMS)
    assert seed_multipliers(above, single, n_boot=50)["kind"].tolist() == ["lower_bound"]


def test_paired_gaps_are_per_seed_differences():
    sel = _selection({"b": {"best_of_n:prm": [0.5, 0.6, 0.4], "best_of_n:orm": [0.4, 0.6, 0.5],
                            "majority": [0.3, 0.5, 0.2]}}, PARAMS)
    gaps = paired_gaps(sel).set_index(["a", "b"])
    d = np.array([0.1, 0.0, -0.1])
    assert gaps.loc[("best_of_n:prm", "best_of_n:orm"), "gap"] == pytest.approx(d.mean(), abs=1e-12)
    assert gaps.loc[("best_of_n:prm", "best_of_n:orm"), "se"] == pytest.approx(d.std(ddof=1) / np.sqrt(3))
    assert gaps.loc[("best_of_n:prm", "best_of_n:orm"), "seeds_a_ahead"] == 1
    assert ("weighted_vote:prm", "majority") not in gaps.index  # absent rules are skipped


def test_bad_tables_are_named():
    sel = _selection({"b": {"single": [0.2], "majority": [0.3]}}, PARAMS)
    with pytest.raises(ModelSizeError, match="one size only"):
        seed_multipliers(sel)
    with pytest.raises(ModelSizeError, match="lacks column"):
        seed_multipliers(sel.drop(columns="seed"))
    with pytest.raises(ModelSizeError, match="repeats"):
        seed_multipliers(pd.concat([sel, sel]))


def test_seed_selection_script_on_the_tiny_family(tmp_path, capsys):
    from experiments import seed_selection as script
    from ttc.seed_selection import COLUMNS
    path, out = tmp_path / "tiny.toml", tmp_path / "out"
    path.write_text(TINY)
    base = ["--config", str(path), "--set", f'run.cache_dir="{tmp_path / "cache"}"', "--set", "run.progress=false"]
    assert script.main([*base, "--sizes", "nope", "--out", str(out)]) == 2
    assert "not among generators.sizes" in capsys.readouterr().err and not out.exists()
    args = [*base, "--sizes", "t1", "t2", "--seeds", "0", "1", "--samples", "2", "--out", str(out)]
    assert script.main(args) == 0
    table = pd.read_csv(out / "seed_selection.csv")
    assert list(table.columns) == COLUMNS and set(table["seed"]) == {0, 1} and set(table["n"]) == {1, 2}
    assert {"single", "majority", "best_of_n:prm"} <= set(table["rule"]) and "best_of_n:orm" not in set(table["rule"])
    mult = pd.read_csv(out / "seed_multiplier.csv")
    assert set(mult["generator"]) == {"t1", "t2"} and mult["ci_method"].eq("bootstrap_seeds").all()
    assert json.loads((out / "seed_selection.json").read_text())["seeds"] == [0, 1]
    assert (out / "seed_selection.png").read_bytes()[:4] == b"\x89PNG"
    first = (out / "seed_selection.csv").read_bytes()
    assert script.main(args) == 0 and (out / "seed_selection.csv").read_bytes() == first  # cached, the same
    fig, data = fig_seed_selection(table)
    assert set(data["rule"]) >= {"single", "best_of_n:prm"}
