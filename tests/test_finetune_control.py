"""analysis.finetune_control on hand-made curves: the rows read the right cells, the differences are
paired by problem, and a run without a control says so."""

import numpy as np
import pandas as pd
import pytest

from analysis.finetune_control import NoControl, finetune_control_lines, finetune_control_rows


def _tables():
    # generator g (final pool) and its control g+ft (finetune_control pool), 4 test problems, N in {1, 4}
    values = {  # (generator, role, rule, n) -> per-problem values
        ("g", "final", "majority", 1): [1, 0, 0, 0], ("g", "final", "majority", 4): [1, 1, 0, 0],
        ("g", "final", "best_of_n:prm", 4): [1, 1, 1, 0], ("g", "final", "best_of_n:orm", 4): [1, 1, 0, 0],
        ("g+ft", "finetune_control", "majority", 1): [1, 1, 0, 0],
        ("g+ft", "finetune_control", "majority", 4): [1, 1, 1, 1],
        ("g+ft", "finetune_control", "best_of_n:logprob", 4): [1, 1, 1, 0],
        ("g+ft", "finetune_control", "best_of_n:prm", 4): [1, 1, 0, 1],
    }
    per = pd.DataFrame([{"generator": g, "role": role, "split": "test", "rule": rule, "n": n, "problem_id": i,
                         "value": float(v)} for (g, role, rule, n), vs in values.items() for i, v in enumerate(vs)])
    curves = per.groupby(["generator", "role", "split", "rule", "n"], as_index=False)["value"].mean()
    curves = curves.rename(columns={"value": "accuracy"}).assign(
        params=100, train_flops=lambda d: np.where(d["generator"] == "g", 1e9, 1.5e9))
    return curves, per


def test_rows_read_the_cells_and_pair_by_problem():
    curves, per = _tables()
    rows = {r["n"]: r for r in finetune_control_rows(curves, per)}
    assert set(rows) == {1, 4}  # only the N both pools have
    r = rows[4]
    assert (r["generator"], r["control"], r["extra_train_flops"]) == ("g", "g+ft", pytest.approx(5e8))
    assert (r["majority"], r["best_of_n_orm"], r["best_of_n_prm"]) == (0.5, 0.5, 0.75)
    assert (r["ft_single"], r["ft_majority"], r["ft_best_of_n_logprob"], r["ft_best_of_n_prm"]) == (0.5, 1.0, 0.75, 0.75)
    # control majority@4 - PRM best-of-4 per problem: 0, 0, 0, 1 -> mean 0.25, SD (ddof 1) 0.5, SE 0.5 / 2
    d = r["ft_majority_minus_prm"]
    assert d["delta"] == pytest.approx(0.25) and d["ci"][0] == pytest.approx(0.25 - 1.96 * 0.5 / 2, abs=1e-3)
    # control single - PRM best-of-4: 0, 0, -1, 0 -> -0.25
    assert r["ft_single_minus_prm"]["delta"] == pytest.approx(-0.25)
    assert rows[1]["best_of_n_prm"] is None and rows[1]["ft_majority_minus_prm"]["delta"] is None  # no PRM at N=1
    text = "\n".join(finetune_control_lines(list(rows.values())))
    assert "| g | 5.00e+08 | 4 | 50.0% | 50.0% / 75.0% | 50.0% | 100.0% | +25.0 [" in text


def test_a_run_without_a_control_says_how_to_get_one():
    curves, per = _tables()
    with pytest.raises(NoControl, match="verifiers.finetune_control is off") as why:
        finetune_control_rows(curves[curves["role"] == "final"], per)
    section = finetune_control_lines([], str(why.value))
    assert section[1].startswith("## Verifier vs fine-tuning") and "lm_only_flops" in section[-1]
    assert finetune_control_lines([]) == []  # nothing to say: no section
