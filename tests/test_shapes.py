"""analysis.shapes: the verdicts on hand-made summaries whose answers are known, and its command line."""

import copy
import json
from pathlib import Path

import pandas as pd
import pytest

from analysis.shapes import COLUMNS, VERDICTS, ShapesError, lm_tradeoff_shape, main, paper_shapes, shape_lines
from analysis.summary import render_markdown

RESULTS = Path(__file__).resolve().parents[1] / "results" / "summary.json"


def _gen(name: str, params: int, acc: float, apart: bool | None = True) -> dict:
    """A generator row as build_summary writes it: ``apart`` is its CI above the previous size's."""
    return {"generator": name, "params": params, "pass1_sampled": acc, "above_previous_beyond_ci": apart}


def _mult(gen: str, params: int, rule: str, m: float, ci: tuple[float, float], kind: str = "interpolated") -> dict:
    return {"generator": gen, "params": params, "rule": rule, "n": 256, "accuracy": 0.5, "multiplier": m,
            "ci": list(ci), "kind": kind}


def _gain(gen: str, params: int, scorer: str, n: int, acc: float, vs_maj: float, vs_orm: float | None = None,
          half: float = 0.01) -> dict:
    return {"generator": gen, "params": params, "split": "test", "scorer": scorer, "n": n, "accuracy": acc,
            "delta_vs_majority": vs_maj, "delta_ci": [vs_maj - half, vs_maj + half],
            "vs_orm": None if vs_orm is None else {"delta": vs_orm, "ci": [vs_orm - half, vs_orm + half]}}


def _summary() -> dict:
    """Every shape holds: five separated sizes over 125x, two verified sizes where PRM > ORM > majority
    with a widening gap and a declining ORM, both trade-offs falling."""
    gens = [_gen("a", 1_000, 0.10, None), _gen("b", 5_000, 0.25), _gen("c", 20_000, 0.40), _gen("d", 60_000, 0.52),
            _gen("e", 125_000, 0.65)]
    mult = [_mult(g, p, f"best_of_n:{k}", m, (m / 1.5, m * 2)) for g, p, k, m in
            [("b", 5_000, "orm", 3.0), ("b", 5_000, "prm", 4.0), ("c", 20_000, "orm", 2.0), ("c", 20_000, "prm", 2.5)]]
    gains = []
    for g, p in (("b", 5_000), ("c", 20_000)):
        for n, orm_acc, gap in ((16, 0.50, 0.02), (64, 0.49, 0.03), (256, 0.48, 0.05)):
            gains.append(_gain(g, p, "orm", n, orm_acc, 0.04))
            gains.append(_gain(g, p, "prm", n, orm_acc + gap, 0.04 + gap, vs_orm=gap))
        gains.append(_gain(g, p, "orm", 16, 0.3, 0.0) | {"split": "ood"})  # another split: ignored
    tt = {"slope": -0.6, "slope_ci": [-0.9, -0.3], "r2": 0.9, "n_points": 40, "n_crossings": 6,
          "test_compute_saved_per_10x_train": 4.0, "test_compute_saved_ci": [2.0, 8.0]}
    hex_ = {"hex_tradeoff_slope": -0.5, "hex_tradeoff_slope_se": 0.1, "hex_tradeoff_r2": 0.8,
            "hex_tradeoff_points": 50, "hex_test_compute_saved_per_10x_train": 3.2}
    return {"generators": gens, "size_multiplier": mult, "verifiers_vs_majority": gains,
            "train_test_tradeoff": tt, "hex": hex_}


def _verdicts(summary: dict) -> dict:
    return {s["shape"]: s["verdict"] for s in paper_shapes(summary)}


def _observed(summary: dict, shape: str) -> str:
    return next(s["observed"] for s in paper_shapes(summary) if s["shape"] == shape)


def test_every_shape_holds_on_a_summary_built_to_show_them():
    shapes = paper_shapes(_summary())
    assert [list(s) for s in shapes] == [COLUMNS] * 8
    assert {s["verdict"] for s in shapes} == {"holds"}
    assert "5 sizes over 125× P" in shapes[0]["observed"]
    assert "steps +15.0, +15.0, +12.0, +13.0 points, CIs apart at 4 of 4" in shapes[0]["observed"]
    assert "ahead at 6 of 6, CI above 0 at 6" in _observed(_summary(), "prm_above_orm")
    assert "b +2.0 → +5.0" in _observed(_summary(), "prm_gap_widens")


@pytest.mark.parametrize("change, failure", [
    (lambda s: s["generators"].pop(), "4 sizes over 60×"),
    (lambda s: s["generators"][0].update(pass1_sampled=0.04), "smallest at 4.0%"),
    (lambda s: s["generators"][-1].update(pass1_sampled=0.80), "largest at 80.0%"),
    (lambda s: s["generators"][2].update(above_previous_beyond_ci=False), "c's CI not above b's"),
])
def test_the_family_bar_is_all_or_nothing_and_names_what_failed(change, failure):
    s = _summary()
    change(s)
    assert _verdicts(s)["family"] == "does not hold"
    assert failure in _observed(s, "family")


def test_a_lower_bound_or_a_ci_reaching_one_is_not_a_measured_multiplier():
    s = _summary()
    s["size_multiplier"][1].update(kind="lower_bound")  # b's PRM past the largest size
    assert _verdicts(s)["verifier_vs_model_size"] == "partly"
    assert "≥ 4.00×" in _observed(s, "verifier_vs_model_size")
    s["size_multiplier"][2].update(ci=[0.9, 3.0])  # c's ORM CI reaches below 1
    assert _verdicts(s)["verifier_vs_model_size"] == "does not hold"
    assert "measured above 1× at 0 of 2 (none)" in _observed(s, "verifier_vs_model_size")


def test_orderings_count_where_they_hold():
    s = _summary()
    for r in s["verifiers_vs_majority"]:
        if r["generator"] == "c" and r["scorer"] == "prm" and r["n"] == 256:  # c's PRM falls behind at N = 256
            r["vs_orm"] = {"delta": -0.01, "ci": [-0.03, 0.01]}
        if r["generator"] == "b" and r["scorer"] == "orm":  # b's ORM ties majority, rising with N
            r.update(delta_vs_majority=0.0, delta_ci=[-0.01, 0.01], accuracy=0.4 + r["n"] / 1000)
    v = _verdicts(s)
    assert v["prm_above_orm"] == "partly" and "ahead at 5 of 6" in _observed(s, "prm_above_orm")
    assert v["prm_gap_widens"] == "partly" and "c +2.0 → -1.0" in _observed(s, "prm_gap_widens")
    assert v["orm_above_majority"] == "partly" and "above at 3 of 6" in _observed(s, "orm_above_majority")
    assert v["orm_declines_at_large_n"] == "partly"
    assert "b 65.6% at N = 256, its best" in _observed(s, "orm_declines_at_large_n")


def test_a_flat_or_rising_tradeoff_does_not_hold_and_few_points_do_not_either():
    s = _summary()
    s["train_test_tradeoff"]["slope_ci"] = [-0.9, 0.1]
    s["hex"]["hex_tradeoff_slope_se"] = 0.3  # -0.5 + 1.96 * 0.3 > 0
    v = _verdicts(s)
    assert v["lm_train_test_tradeoff"] == v["hex_train_test_tradeoff"] == "does not hold"
    s = _summary()
    s["train_test_tradeoff"]["n_points"] = 9
    assert _verdicts(s)["lm_train_test_tradeoff"] == "does not hold"
    s["train_test_tradeoff"]["bootstrap_slope_ci"] = [-0.8, -0.4]  # the bootstrap CI, when there, is the one used
    assert "bootstrap CI [-0.8, -0.4]" in _observed(s, "lm_train_test_tradeoff")
    lone = {"slope": -0.5, "r2": 0.5, "n_points": 30}  # a fit without a CI cannot show the slope below 0
    assert lm_tradeoff_shape(lone)["verdict"] == "does not hold"
    assert "saves ? test; slope -0.5 (no CI)" in lm_tradeoff_shape(lone)["observed"]


def test_a_run_without_verifiers_tradeoff_or_hex_says_not_measured():
    s = {"generators": _summary()["generators"], "train_test_tradeoff": {"slope": None, "reason": "too few points"}}
    v = _verdicts(s)
    assert v["family"] == "holds"
    assert [v[k] for k in v if k != "family"] == ["not measured"] * 7
    assert _observed(s, "lm_train_test_tradeoff") == "too few points"
    assert _verdicts({"generators": []})["family"] == "not measured"
    with pytest.raises(ShapesError, match="not a sweep summary"):
        paper_shapes({"curves": []})


def test_summary_markdown_opens_with_the_shapes_when_the_summary_has_them():
    s = _summary()
    lines = shape_lines(paper_shapes(s))
    assert lines[0].startswith("## Shapes in this run") and lines[-1] == ""
    assert sum(line.startswith("| ") and line.endswith("** |") for line in lines) == 8
    assert shape_lines([]) == []


def test_the_committed_summary_reads_back_through_the_command_line(tmp_path, capsys):
    out = tmp_path / "shapes.csv"
    assert main([str(RESULTS), "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert list(table.columns) == COLUMNS and len(table) == 8
    assert set(table["verdict"]) <= set(VERDICTS)
    committed = json.loads(RESULTS.read_text())
    assert committed["shapes"] == table.fillna("").to_dict(orient="records")  # the sweep wrote the same rows
    assert "## Shapes in this run" in render_markdown(committed)
    assert "family" in capsys.readouterr().out
    # a summary the shapes cannot read (the sweep then keeps its results and says why)
    unjudged = {**committed, "shapes": [], "shapes_not_judged": "'generators' row 0 lacks params"}
    text = render_markdown(unjudged)
    assert "## Shapes in this run" not in text and "Shapes not judged: 'generators' row 0 lacks params" in text


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "none.json", "no such file"),
    (lambda d: (d / "bad.json").write_text("{") and d / "bad.json", "not JSON"),
    (lambda d: (d / "list.json").write_text("[1]") and d / "list.json", "not a sweep summary: the JSON is a list"),
    (lambda d: (d / "null.json").write_text("null") and d / "null.json", "the JSON is null, not an object"),
    (lambda d: (d / "empty.json").touch() or d / "empty.json", "not JSON"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, make, message):
    assert main([str(make(tmp_path))]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert main([str(RESULTS), "--out", str(tmp_path / "no" / "x.csv")]) == 2
    assert "folder does not exist" in capsys.readouterr().err


def test_a_hex_fit_without_a_slope_is_not_measured_and_one_without_an_se_does_not_hold():
    s = _summary()  # too few points: hex_fits writes NaN for the slope, k and R², and no SE
    s["hex"].update(hex_tradeoff_slope=float("nan"), hex_tradeoff_slope_se=None, hex_tradeoff_r2=float("nan"),
                    hex_test_compute_saved_per_10x_train=float("nan"), hex_tradeoff_points=4)
    assert _verdicts(s)["hex_train_test_tradeoff"] == "not measured"
    assert _observed(s, "hex_train_test_tradeoff") == "no Hex trade-off fit (4 points)"
    s = _summary()
    del s["hex"]["hex_tradeoff_slope_se"]  # a slope without its SE cannot show it below 0 by 1.96 SE
    assert _verdicts(s)["hex_train_test_tradeoff"] == "does not hold"
    assert "slope -0.500 (no SE)" in _observed(s, "hex_train_test_tradeoff")
    s = _summary()
    s["hex"].update(hex_tradeoff_r2=None, hex_test_compute_saved_per_10x_train=None)
    assert _verdicts(s)["hex_train_test_tradeoff"] == "holds"
    assert _observed(s, "hex_train_test_tradeoff").startswith("10× train saves ?× test; slope -0.500 ± 0.100 (SE), R² ?")
    s = _summary()
    s["train_test_tradeoff"].update(slope=float("nan"), reason="no fit")
    assert _verdicts(s)["lm_train_test_tradeoff"] == "not measured"


def _edit(change) -> dict:
    s = _summary()
    change(s)
    return s


@pytest.mark.parametrize("change, message", [
    (lambda s: [g.update(pass1_sampled=g["pass1_sampled"] * 100) for g in s["generators"]],
     "'generators' row 0 has pass1_sampled 10.0 outside [0, 1]"),
    (lambda s: s["generators"][1].update(params=float("nan")), "'generators' row 1 has a non-numeric or non-finite params"),
    (lambda s: s["generators"][1].update(pass1_sampled=float("inf")), "non-finite pass1_sampled"),
    (lambda s: s["generators"][1].update(params="5000"), "non-numeric or non-finite params ('5000')"),
    (lambda s: s["generators"][0].update(params=0), "params 0; a size's parameter count is positive"),
    (lambda s: s["generators"][0].pop("params"), "'generators' row 0 lacks params"),
    (lambda s: s["generators"].append(dict(s["generators"][0])), "'generators' repeats the row {'generator': 'a'}"),
    (lambda s: s.update(generators={"a": 1}), "'generators' is not a list of row objects"),
    (lambda s: s["size_multiplier"][0].update(ci=None), "'size_multiplier' row 0 has ci None"),
    (lambda s: s["size_multiplier"][0].pop("kind"), "'size_multiplier' row 0 lacks kind"),
    (lambda s: s["verifiers_vs_majority"][0].pop("split"), "'verifiers_vs_majority' row 0 lacks split"),
    (lambda s: s["verifiers_vs_majority"][0].update(accuracy=50.0), "accuracy 50.0 outside [0, 1]"),
    (lambda s: s["verifiers_vs_majority"][0].update(delta_vs_majority=4.0), "delta_vs_majority 4.0 outside [-1, 1]"),
    (lambda s: s["verifiers_vs_majority"][1].update(vs_orm={"delta": 0.1}), "row 1 has vs_orm ci None"),
    (lambda s: s["verifiers_vs_majority"].append(dict(s["verifiers_vs_majority"][0])), "'verifiers_vs_majority' repeats"),
    (lambda s: s.update(train_test_tradeoff=[1]), "'train_test_tradeoff' is a list, not an object"),
    (lambda s: s["train_test_tradeoff"].update(slope_ci="[-1, 0]"), "slope_ci '[-1, 0]'; a CI is a list"),
    (lambda s: s.update(hex=[1]), "'hex' is a list, not an object"),
    (lambda s: s["hex"].update(hex_tradeoff_slope_se="0.1"), "hex_tradeoff_slope_se '0.1', not a number"),
])
def test_malformed_summaries_are_one_line_errors_and_write_nothing(tmp_path, capsys, change, message):
    path, out = tmp_path / "summary.json", tmp_path / "shapes.csv"
    path.write_text(json.dumps(_edit(change)))
    assert main([str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert not out.exists()


def test_a_folder_is_named_as_a_folder(tmp_path, capsys):
    assert main([str(tmp_path)]) == 2
    assert "is a folder; pass a sweep's summary.json" in capsys.readouterr().err
    assert main([str(RESULTS), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--out" in err and "is a folder" in err
    assert list(tmp_path.iterdir()) == []


def test_the_input_summary_is_not_changed():
    s = _summary()
    before = copy.deepcopy(s)
    paper_shapes(s)
    assert s == before
