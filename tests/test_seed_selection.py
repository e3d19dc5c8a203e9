"""Selection over seeds: ttc.seed_selection on the tiny family, analysis.seed_selection on hand tables."""

import json
import re

import numpy as np
import pandas as pd
import pytest

from analysis.model_size import ModelSizeError
from analysis.seed_selection import fig_seed_selection, main, paired_gaps, seed_means, seed_multipliers
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


def _two_ns() -> pd.DataFrame:
    """Sizes a and b judged by the ORM, a up to N = 4 and b up to N = 8; c only single-sample."""
    sel = _selection({"a": {"single": [0.1, 0.1]}, "b": {"single": [0.3, 0.3]}, "c": {"single": [0.7, 0.7]}}, PARAMS)
    more = [{"generator": g, "params": PARAMS[g], "seed": k, "rule": "best_of_n:orm", "n": n, "accuracy": acc}
            for g, ns in (("a", (4,)), ("b", (4, 8))) for n in ns for k in range(2)
            for acc in [0.3 if n == 4 else 0.5]]
    return pd.concat([sel, pd.DataFrame(more)], ignore_index=True)


def test_the_default_n_is_one_every_size_reaches_and_the_figure_names_it():
    out = seed_multipliers(_two_ns(), n_boot=20)
    assert out["generator"].tolist() == ["a", "b"] and out["n"].eq(4).all()  # a is not dropped at b's N = 8
    assert out.set_index("generator").loc["a", "multiplier"] == pytest.approx(10.0)  # 0.3 is b's single at 1000
    fig, data = fig_seed_selection(_two_ns(), multipliers=out)
    assert "at N=4" in fig.axes[0].get_title() and set(data.loc[data["rule"] == "best_of_n:orm", "n"]) == {4}
    with pytest.raises(ModelSizeError, match=r"at N=8 \(a has no best_of_n:orm rows there\).*the largest is 4"):
        seed_multipliers(_two_ns(), n=8, n_boot=20)  # an explicit N that a lacks is named, not a silent drop


def _rows(table: pd.DataFrame, mask, **values) -> pd.DataFrame:
    table = table.copy()
    for col, value in values.items():
        table[col] = table[col].astype(object)
        table.loc[mask(table), col] = value
    return table.infer_objects()


SINGLE = pd.DataFrame({"generator": ["a", "a", "c", "c"], "params": [100, 100, 10000, 10000], "seed": [0, 1, 0, 1],
                       "pass1": [0.1, 0.1, 0.6, 0.7]})


@pytest.mark.parametrize("selection, single, message", [
    (lambda s: s.assign(accuracy=100 * s["accuracy"]), None, "selection table has accuracy outside [0, 1]"),
    (lambda s: _rows(s, lambda t: t.index == 1, accuracy=np.nan), None, "empty or NaN cells in accuracy"),
    (lambda s: _rows(s, lambda t: t.index == 1, generator=np.nan), None, "empty or NaN cells in generator"),
    (lambda s: _rows(s, lambda t: t.index == 1, accuracy=np.inf), None, "infinite values"),
    (lambda s: _rows(s, lambda t: t.index == 1, accuracy="0.3"), None, "column(s) accuracy hold non-numbers"),
    (lambda s: _rows(s, lambda t: t.index == 1, n="8"), None, "column(s) n hold non-numbers"),
    (lambda s: _rows(s, lambda t: t["rule"] != "single", n=0), None, "n < 1"),
    (lambda s: s, lambda t: t.assign(pass1=100 * t["pass1"]), "seed table has pass1 outside [0, 1]"),
    (lambda s: s, lambda t: _rows(t, lambda x: x.index == 3, pass1=np.nan), "seed table has empty or NaN cells in pass1"),
    (lambda s: s, lambda t: pd.concat([t, t.iloc[-1:]]), "seed table repeats a (generator, seed) pair"),
    (lambda s: s, lambda t: t.iloc[:0], "seed table has no rows"),
])
def test_unusable_values_are_named(selection, single, message):
    sel = _selection({"b": {"single": [0.2, 0.4], "majority": [0.3, 0.5]}}, PARAMS)
    with pytest.raises(ModelSizeError, match=re.escape(message)):
        seed_multipliers(selection(sel), single(SINGLE) if single else SINGLE, n_boot=10)


def _write(folder, content: str | pd.DataFrame, name: str = "sel.csv"):
    path = folder / name
    if isinstance(content, pd.DataFrame):
        content.to_csv(path, index=False)
    else:
        path.write_text(content)
    return path


@pytest.mark.parametrize("content, args, message", [
    ("", [], "is empty; pass a table such as results/seed_selection.csv"),
    ("sel", ["--single", "{d}/empty.csv"], "empty.csv is empty"),
    ("sel", ["--seed", "-1"], "--seed=-1 must be >= 0"),
    ("sel", ["--out", "{d}/no/m.csv"], "folder {d}/no does not exist"),
    ("sel", ["--out", "{d}"], "is a folder"),
    ("sel", ["--out", "{d}/m.csv", "--figure", "{d}/f.jpgx"], "cannot draw .jpgx"),
    ("sel", ["--out", "{d}/m.csv", "--figure", "{d}/no/f.png"], "folder {d}/no does not exist"),
])
def test_the_command_line_refuses_bad_input_in_one_line_and_writes_nothing(tmp_path, capsys, content, args, message):
    sel = _selection({"b": {"single": [0.2, 0.4], "majority": [0.3, 0.5]}}, PARAMS)
    path = _write(tmp_path, sel if content == "sel" else content)
    _write(tmp_path, "", "empty.csv")
    single = ["--single", str(_write(tmp_path, SINGLE, "single.csv"))] if "--single" not in args else []
    before = sorted(tmp_path.iterdir())
    assert main([str(path), *single, "--n-boot", "10", *(a.format(d=tmp_path) for a in args)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message.format(d=tmp_path) in err, err
    assert sorted(tmp_path.iterdir()) == before  # no multiplier table without its figure


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


@pytest.mark.parametrize("args, says", [
    (["--seeds", "0", "0"], "--seeds 0 0 repeats a value"), (["--sizes", "t1", "t1"], "--sizes t1 t1 repeats a value"),
    (["--out", "{d}/file"], "is a file"), (["--set", 'run.cache_dir="{d}/file"'], "run.cache_dir"),
    (["--sizes", "t1"], "one size and no seed table"),
    (["--sizes", "t1", "--single", "{d}/t1.csv"], "one size and no seed table"),
    (["--single", "{d}/wrong.csv"], "lacks column(s) generator, params, seed, pass1"),
    (["--single", "{d}/file"], "is not a CSV table")])
def test_seed_selection_script_refuses_before_training_what_would_fail_after(args, says, tmp_path, capsys):
    from experiments import seed_selection as script
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    (tmp_path / "file").write_bytes(b"\xff\xfe\x00bin")
    (tmp_path / "wrong.csv").write_text("a,b\n1,2\n")
    (tmp_path / "t1.csv").write_text("generator,params,seed,pass1\nt1,100,0,0.5\n")
    before = sorted(tmp_path.rglob("*"))
    argv = ["--config", str(path), "--set", f'run.cache_dir="{tmp_path / "cache"}"', "--out", str(tmp_path / "out"),
            "--sizes", "t1", "t2", *[a.format(d=tmp_path) for a in args]]
    assert script.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and says in err, err
    assert sorted(tmp_path.rglob("*")) == before
