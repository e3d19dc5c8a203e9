"""python -m ttc.evaluate end to end, and every malformed input it must refuse in one line."""

import json

import numpy as np
import pandas as pd
import pytest

from ttc.evaluate import RuleSpec, curves, curves_by_problem, main
from ttc.pool_io import PoolError, read_pool

# Two problems. p1: answers a a b (a right), p2: c d d (d right); scores make best-of-N differ.
ROWS = [
    {"problem_id": "p1", "answer": "a", "is_correct": True, "score": 0.9, "step_scores": [0.9, 0.5]},
    {"problem_id": "p1", "answer": "a", "is_correct": True, "score": 0.2, "step_scores": [0.4, 0.4]},
    {"problem_id": "p1", "answer": "b", "is_correct": False, "score": 0.5, "step_scores": [0.8, 0.9]},
    {"problem_id": 2, "answer": "c", "is_correct": False, "score": 0.7, "step_scores": [0.7, 0.1]},
    {"problem_id": 2, "answer": None, "is_correct": False, "score": 0.1, "step_scores": [0.2, 0.2]},
    {"problem_id": 2, "answer": "d", "is_correct": True, "score": 0.3, "step_scores": [0.6, 0.6]},
]


def write_jsonl(path, rows=ROWS, raw_lines=()):
    lines = [json.dumps(r) for r in rows] + list(raw_lines)
    path.write_text("\n".join(lines) + "\n")
    return path


def run(tmp_path, pool, *args):
    out = tmp_path / "curves.csv"
    return main([str(pool), "--out", str(out), *args]), out


def refused(tmp_path, capsys, pool, *args, says=()):
    rc, out = run(tmp_path, pool, *args)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.count("\n") == 1 and err.startswith("error: "), err  # exactly one line
    for word in says:
        assert word in err, err
    assert not out.exists() and not list(tmp_path.glob("*.tmp"))  # nothing written
    return err


# ---------------------------------------------------------------- end to end


def test_cli_on_jsonl_writes_exact_curves(tmp_path, capsys):
    pool = write_jsonl(tmp_path / "pool.jsonl")
    rc, out = run(
        tmp_path,
        pool,
        "--rules",
        "majority,best_of_n,coverage,weighted_vote,top_k_vote",
        "--n",
        "1-3",
        "--top-k",
        "2",
        "--trials",
        "50",
    )
    assert rc == 0, capsys.readouterr().err
    table = pd.read_csv(out).set_index(["rule", "n"])
    for col in ("accuracy", "ci_low", "ci_high", "n_problems", "se", "mc_se", "method"):
        assert col in table.columns
    # majority, N=2: p1 (a a b) right w.p. 2/3 (see test_estimators); p2 (c, null, d): {c,null} -> c,
    # {c,d} -> tie 1/2, {null,d} -> d: 1/2. Mean over problems (2/3 + 1/2)/2 = 7/12.
    assert table.loc[("majority", 2), "accuracy"] == pytest.approx(7 / 12, abs=1e-9)
    # best_of_n, N=3 takes the top score: p1 -> a (0.9, right); p2 -> c (0.7, wrong): 1/2
    assert table.loc[("best_of_n", 3), "accuracy"] == pytest.approx(0.5, abs=1e-9)
    # coverage, N=1 is the share of right answered samples: (2/3 + 1/3)/2 = 1/2
    assert table.loc[("coverage", 1), "accuracy"] == pytest.approx(0.5, abs=1e-9)
    assert set(table["method"]) == {"exact", "subsample"}
    assert (table.loc["majority", "mc_se"] == 0).all() and (table.loc["weighted_vote", "mc_se"] > 0).any()
    meta = json.loads((tmp_path / "curves.csv.json").read_text())
    assert meta["command"][:3] == ["python", "-m", "ttc.evaluate"] and len(meta["pool_sha256"]) == 64


def test_cli_on_parquet_with_named_score_columns(tmp_path, capsys):
    frame = pd.DataFrame(ROWS).rename(columns={"score": "score_orm", "step_scores": "step_scores_prm"})
    frame["problem_id"] = frame["problem_id"].map(lambda p: 1 if p == "p1" else 2).astype("int64")
    frame["sample_idx"] = [0, 1, 2, 0, 1, 2]
    frame["process_correct"] = [False, True, False, False, False, True]
    frame["gen_tokens"], frame["gen_flops"], frame["logprob"] = 10, 2e3, -1.5
    path = tmp_path / "pool.parquet"
    frame.to_parquet(path)
    rc, out = run(tmp_path, path, "--rules", "best_of_n", "--n", "1,3", "--score", "score_orm")
    assert rc == 0, capsys.readouterr().err
    table = pd.read_csv(out)
    # N=3 picks p1's first sample: right but process-wrong -> false positive 1 on p1, 0 on p2
    assert table["false_positive_rate"].tolist() == pytest.approx([1 / 6, 0.5])
    assert table["accuracy"].tolist()[1] == pytest.approx(0.5)
    # PRM aggregate min: p1 -> b (0.8), wrong; p2 -> d (0.6), right
    rc, out = run(
        tmp_path,
        path,
        "--rules",
        "best_of_n",
        "--n",
        "3",
        "--step-scores",
        "step_scores_prm",
        "--prm-agg",
        "min",
    )
    assert rc == 0 and pd.read_csv(out)["accuracy"].tolist() == pytest.approx([0.5])


def test_skip_short_leaves_problems_out_of_the_n_they_cannot_hold(tmp_path, capsys):
    pool = write_jsonl(tmp_path / "pool.jsonl", ROWS[:5])  # problem 2 has only 2 samples
    rc, out = run(tmp_path, pool, "--rules", "majority", "--n", "1,3", "--skip-short")
    assert rc == 0, capsys.readouterr().err
    assert pd.read_csv(out)["n_problems"].tolist() == [2, 1]


def test_curves_library_call_with_labels():
    pool = read_pool_frame()
    table = curves(pool, [RuleSpec("best_of_n", label="orm"), "coverage"], [1, 2])
    assert table["rule"].tolist() == ["orm", "orm", "coverage", "coverage"]


def test_curves_checks_scores_of_a_frame_built_in_memory():
    frame = read_pool_frame()
    frame.at[2, "step_scores"] = []
    with pytest.raises(PoolError, match="NaN or infinite"):
        curves(frame, [RuleSpec("best_of_n", score="step_scores", prm_agg="min")], [1])
    with pytest.raises(PoolError, match="holds lists"):
        curves(frame, [RuleSpec("best_of_n", score="step_scores")], [1])


def synthetic_pool(n_problems=7, pool_size=6, seed=3):
    """Random answers from a few candidates per problem, with scores and process labels."""
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_problems):
        size = pool_size - (p % 3 == 2)  # some problems one sample short (for skip_short)
        for i in range(size):
            answer = str(rng.integers(0, 3)) if rng.random() > 0.1 else None
            right = answer == "0"
            rows.append({"problem_id": f"q{p}", "sample_idx": i, "answer": answer, "is_correct": right,
                         "process_correct": right and rng.random() > 0.3, "score": float(rng.random())})
    return pd.DataFrame(rows)


def test_curves_by_problem_averages_to_curves_exactly():
    pool = synthetic_pool()
    rules = ["single", "majority", RuleSpec("best_of_n", label="orm"), "coverage", "weighted_vote"]
    kwargs = {"trials": 30, "seed": 1, "skip_short": True}
    table = curves(pool, rules, [1, 2, 3, 6], **kwargs).set_index(["rule", "n"])
    by = curves_by_problem(pool, rules, [1, 2, 3, 6], **kwargs)
    assert list(by.columns) == ["rule", "n", "problem_id", "value", "false_positive"]
    assert not by["value"].isna().any()
    grouped = by.groupby(["rule", "n"], sort=False)
    for key, g in grouped:  # the same sum over problems in the same order as summarize
        assert g["value"].to_numpy().sum() / len(g) == table.loc[key, "accuracy"], key
        assert g["false_positive"].to_numpy().sum() / len(g) == table.loc[key, "false_positive_rate"], key
        assert len(g) == table.loc[key, "n_problems"]
    assert grouped.ngroups == len(table)
    # N=6 drops the problems with five samples
    assert set(by[by["n"] == 6]["problem_id"]) == {f"q{p}" for p in range(7) if p % 3 != 2}


def read_pool_frame():
    frame = pd.DataFrame(ROWS)
    frame["problem_id"] = frame["problem_id"].astype(str)
    frame["sample_idx"] = frame.groupby("problem_id").cumcount()
    return frame


# ---------------------------------------------------------------- malformed input


@pytest.mark.parametrize(
    "bad_line, says",
    [
        ('{"problem_id": "p3", "answer": "a", "is_correct": tru', ["bad JSON", ":7"]),
        ("[1, 2]", ["JSON object", ":7"]),
        (
            '{"problem_id": "p3", "answer": "a", "score": 0.5, "step_scores": [1]}',
            ["missing field 'is_correct'"],
        ),
        (
            '{"problem_id": "p3", "answer": 5, "is_correct": true, "score": 0.5, "step_scores": [1]}',
            ["'answer' must be a string or null", ":7"],
        ),
        (
            '{"problem_id": "p3", "answer": "a", "is_correct": "yes", "score": 0.5, "step_scores": [1]}',
            ["'is_correct' must be true or false"],
        ),
        (
            '{"problem_id": [3], "answer": "a", "is_correct": true, "score": 0.5, "step_scores": [1]}',
            ["'problem_id' must be"],
        ),
        (
            '{"problem_id": "p3", "answer": "a", "is_correct": true, "score": "high", "step_scores": [1]}',
            ["'score' must be a number"],
        ),
        (
            '{"problem_id": "p3", "answer": "a", "is_correct": true, "score": NaN, "step_scores": [1]}',
            ["'score' is nan", ":7"],
        ),
        (
            '{"problem_id": "p3", "answer": "a", "is_correct": true, "score": 0.5, "step_scores": []}',
            ["non-empty list"],
        ),
        (
            '{"problem_id": "p3", "answer": "a", "is_correct": true, "score": 0.5, "step_scores": [NaN]}',
            ["NaN or infinity"],
        ),
        (
            '{"problem_id": "p3", "answer": "a", "is_correct": true, "step_scores": [1]}',
            ["missing 'score'", "line 1 has it"],
        ),
        (
            (
                '{"problem_id": "p3", "answer": "a", "is_correct": true, "score": 1, "step_scores": [1], '
                '"gen_tokens": 2.5}'
            ),
            ["'gen_tokens' is here but not on earlier lines"],
        ),
    ],
)
def test_malformed_jsonl_is_refused_naming_the_line(tmp_path, capsys, bad_line, says):
    pool = write_jsonl(tmp_path / "pool.jsonl", raw_lines=[bad_line])
    refused(tmp_path, capsys, pool, "--n", "1", says=says)


def test_wrong_type_of_an_optional_field(tmp_path, capsys):
    rows = [dict(r, gen_tokens=3) for r in ROWS]
    rows[2]["gen_tokens"] = 2.5
    refused(
        tmp_path,
        capsys,
        write_jsonl(tmp_path / "p.jsonl", rows),
        "--n",
        "1",
        says=["'gen_tokens' must be an integer", ":3"],
    )


@pytest.mark.parametrize("key", ["sample_idx", "gen_tokens"])
def test_a_negative_count_is_refused_naming_the_line(tmp_path, capsys, key):
    rows = [dict(r, **{key: i}) for i, r in enumerate(ROWS)]
    rows[1][key] = -1
    refused(tmp_path, capsys, write_jsonl(tmp_path / "p.jsonl", rows), "--n", "1",
            says=[f":2: '{key}' is -1", "non-negative"])


def test_too_few_samples_names_the_problems(tmp_path, capsys):
    pool = write_jsonl(tmp_path / "pool.jsonl", ROWS[:5])
    refused(tmp_path, capsys, pool, "--n", "1,3", says=["fewer than N=3", "2", "--skip-short"])
    refused(tmp_path, capsys, pool, "--n", "4", "--skip-short", says=["no problem has N=4"])


@pytest.mark.parametrize(
    "args, says",
    [
        (["--rules", "majority,best_of_three"], ["unknown rule 'best_of_three'", "known rules"]),
        (["--n", "1,two"], ["--n '1,two'"]),
        (["--n", "0,1"], ["positive"]),
        (["--rules", "best_of_n", "--score", "score_orm"], ["no column 'score_orm'", "available"]),
        (["--prm-agg", "median"], ["invalid choice"]),
        (["--trials", "1", "--rules", "weighted_vote"], ["--trials"]),
        (["--confidence", "95"], ["--confidence"]),
        (["--jobs", "0"], ["--jobs 0", "1 to 256"]),
        (["--jobs", "-2"], ["--jobs -2", "1 to 256"]),
        (["--jobs", "1000"], ["--jobs 1000", "1 to 256"]),
        (["--jobs", "two"], ["--jobs", "invalid int"]),
    ],
)
def test_bad_requests(tmp_path, capsys, args, says):
    refused(tmp_path, capsys, write_jsonl(tmp_path / "pool.jsonl"), *args, says=says)


def test_rule_that_needs_a_score_when_there_is_none(tmp_path, capsys):
    rows = [{k: v for k, v in r.items() if k not in ("score", "step_scores")} for r in ROWS]
    pool = write_jsonl(tmp_path / "pool.jsonl", rows)
    refused(
        tmp_path,
        capsys,
        pool,
        "--rules",
        "majority,weighted_vote",
        "--n",
        "1",
        says=["'weighted_vote' needs a score", "--score"],
    )
    refused(
        tmp_path,
        capsys,
        pool,
        "--rules",
        "best_of_n",
        "--prm-agg",
        "prod",
        "--n",
        "1",
        says=["no 'step_scores' column"],
    )


def test_weighted_vote_refuses_negative_scores(tmp_path, capsys):
    rows = [dict(r, score=-1.0) for r in ROWS]
    refused(
        tmp_path,
        capsys,
        write_jsonl(tmp_path / "p.jsonl", rows),
        "--rules",
        "weighted_vote",
        "--n",
        "1",
        says=["scores >= 0"],
    )


def test_missing_file_unknown_format_and_missing_output_folder(tmp_path, capsys):
    refused(tmp_path, capsys, tmp_path / "nope.jsonl", says=["no such file"])
    (tmp_path / "pool.csv").write_text("problem_id,answer\n")
    refused(tmp_path, capsys, tmp_path / "pool.csv", says=["unknown pool format"])
    pool = write_jsonl(tmp_path / "pool.jsonl")
    rc = main([str(pool), "--out", str(tmp_path / "no" / "c.csv")])
    assert rc == 2 and "does not exist" in capsys.readouterr().err


def test_malformed_parquet(tmp_path, capsys):
    good = read_pool_frame()
    cases = {
        "truncated": None,
        "no_is_correct": good.drop(columns="is_correct"),
        "nan_score": good.assign(score=[0.1, np.nan, 0.3, 0.4, 0.5, 0.6]),
        "int_correct": good.assign(is_correct=good["is_correct"].astype(int)),
        "duplicate": good.assign(sample_idx=0),
        "number_answer": good.assign(answer=[1, 2, 3, 4, 5, 6]),
    }
    says = {
        "truncated": "cannot read as parquet",
        "no_is_correct": "missing column 'is_correct'",
        "nan_score": "row 1 (problem_id=p1, sample_idx=1): 'score' is NaN",
        "int_correct": "must be bool",
        "duplicate": "appears twice",
        "number_answer": "'answer' must be a string or null",
    }
    for name, frame in cases.items():
        path = tmp_path / f"{name}.parquet"
        if frame is None:
            good.to_parquet(path)
            path.write_bytes(path.read_bytes()[:100])
        else:
            frame.to_parquet(path)
        refused(tmp_path, capsys, path, "--n", "1", says=[says[name]])


def test_read_pool_raises_pool_error_for_library_callers(tmp_path):
    with pytest.raises(PoolError, match="no such file"):
        read_pool(tmp_path / "missing.parquet")


# ---------------------------------------------------------------- inputs that used to raise tracebacks


@pytest.mark.parametrize(
    "bad_line, says",
    [
        ('{"problem_id": "p3", "answer": "a", "is_correct": true, "score": 1' + "0" * 400
         + ', "step_scores": [1]}', ["too large for a float", ":7"]),
        ('{"problem_id": "p3", "answer": "a", "is_correct": true, "score": 0.5, "step_scores": [1' + "0" * 400
         + "]}", ["too large for a float"]),
    ],
)
def test_huge_integer_scores_are_refused(tmp_path, capsys, bad_line, says):
    refused(tmp_path, capsys, write_jsonl(tmp_path / "pool.jsonl", raw_lines=[bad_line]), "--n", "1", says=says)


def test_non_utf8_and_binary_pools_are_refused(tmp_path, capsys):
    pool = write_jsonl(tmp_path / "pool.jsonl")
    pool.write_bytes(pool.read_bytes() + b'{"problem_id": "p\xe9", "answer": "a", "is_correct": true}\n')
    refused(tmp_path, capsys, pool, "--n", "1", says=["not UTF-8", ":7"])
    binary = tmp_path / "bin.jsonl"
    binary.write_bytes(bytes(range(256)) * 4)
    refused(tmp_path, capsys, binary, "--n", "1", says=["bin.jsonl:1"])  # its first line is not JSON
    binary.write_bytes(bytes(range(128, 256)) * 4)
    refused(tmp_path, capsys, binary, "--n", "1", says=["not UTF-8", "bin.jsonl:1"])


def test_a_folder_given_as_the_pool(tmp_path, capsys):
    (tmp_path / "pools.jsonl").mkdir()
    refused(tmp_path, capsys, tmp_path / "pools.jsonl", "--n", "1", says=["is a folder"])


@pytest.mark.parametrize(
    "args, says",
    [
        (["--rules", ""], ["--rules is empty"]),
        (["--rules", " , "], ["--rules is empty"]),
        (["--n", "1-1000000000"], ["beyond 10,000,000"]),
        (["--bootstrap", "1000000000"], ["at most 100,000"]),
    ],
)
def test_requests_that_used_to_crash_or_hang(tmp_path, capsys, args, says):
    refused(tmp_path, capsys, write_jsonl(tmp_path / "pool.jsonl"), *args, says=says)


def test_out_in_a_read_only_folder(tmp_path, capsys):
    import os
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as root: permissions are not enforced")
        rc = main([str(write_jsonl(tmp_path / "pool.jsonl")), "--out", str(locked / "c.csv")])
        assert rc == 2 and "not writable" in capsys.readouterr().err
    finally:
        locked.chmod(0o700)


def test_sample_idx_is_read_and_a_duplicated_line_refused(tmp_path, capsys):
    rows = [dict(r, sample_idx=i) for i, r in enumerate(ROWS)]
    rc, out = run(tmp_path, write_jsonl(tmp_path / "pool.jsonl", rows), "--n", "1")
    assert rc == 0
    from ttc.pool_io import read_pool
    assert read_pool(tmp_path / "pool.jsonl")["sample_idx"].tolist() == [3, 4, 5, 0, 1, 2]  # "2" < "p1"
    out.unlink()
    (tmp_path / "curves.csv.json").unlink()
    refused(tmp_path, capsys, write_jsonl(tmp_path / "dup.jsonl", rows + rows[:1]), "--n", "1",
            says=["appears twice"])


def test_the_bad_inputs_table_in_docs_is_current():
    # docs/bad_inputs.md lists every tested bad input; regenerate with `python docs/bad_inputs.py`
    import runpy
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    table = runpy.run_path(str(root / "docs" / "bad_inputs.py"))["table"]()
    assert (root / "docs" / "bad_inputs.md").read_text() == table
    assert int(table.split(" rows.")[0].split()[-1]) >= 40


# ---------------------------------------------------------------- inputs found by probing the command


@pytest.mark.parametrize(
    "bad_line, says",
    [
        ('{"problem_id": "p3", "answer": "a", "is_correct": true, "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
         ["nested too deeply", ":7"]),
        ('{"problem_id": ' + "9" * 5000 + ', "answer": "a", "is_correct": true}', ["integer too long", ":7"]),
    ],
    ids=["deep_nesting", "5000_digit_integer"],
)
def test_json_the_decoder_cannot_hold_is_one_line(tmp_path, capsys, bad_line, says):
    refused(tmp_path, capsys, write_jsonl(tmp_path / "pool.jsonl", raw_lines=[bad_line]), "--n", "1", says=says)


@pytest.mark.parametrize(
    "args, says",
    [
        (["--n", "1-"], ["--n '1-'", "1-64"]),  # was read as N=1
        (["--n", "3-2"], ["range 3-2 is empty"]),
        (["--n", "1", "--seed", "-1"], ["--seed -1", ">= 0"]),  # was a traceback from the random generator
        (["--n", "1", "--trials", str(10**12), "--rules", "weighted_vote"], ["at most 100,000"]),  # MemoryError
    ],
)
def test_option_values_found_by_probing(tmp_path, capsys, args, says):
    refused(tmp_path, capsys, write_jsonl(tmp_path / "pool.jsonl"), *args, says=says)


def test_a_top_k_beyond_every_n_is_top_k_at_the_largest_n(tmp_path, capsys):
    pool = write_jsonl(tmp_path / "pool.jsonl")
    tables = []
    for k in ("3", str(10**11)):  # the second used to allocate k-wide arrays (a MemoryError)
        rc, out = run(tmp_path, pool, "--rules", "top_k_vote,majority", "--n", "1-3", "--top-k", k, "--trials", "50")
        assert rc == 0, capsys.readouterr().err
        tables.append(out.read_text())
    assert tables[0] == tables[1]
    table = pd.read_csv(out).set_index(["rule", "n"])  # k >= N keeps the whole subset: the majority vote
    assert table.loc[("top_k_vote", 3), "accuracy"] == pytest.approx(table.loc[("majority", 3), "accuracy"])


def test_out_that_would_overwrite_the_pool_is_refused(tmp_path, capsys):
    pool = write_jsonl(tmp_path / "pool.jsonl")
    before = pool.read_bytes()
    assert main([str(pool), "--n", "1", "--out", str(pool)]) == 2  # used to replace the pool by the CSV
    assert "would overwrite the pool" in capsys.readouterr().err and pool.read_bytes() == before
    meta_named = write_jsonl(tmp_path / "c.csv.json")  # the options file <out>.json is the pool
    assert main([str(meta_named), "--n", "1", "--out", str(tmp_path / "c.csv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "would overwrite the pool" in err
    assert meta_named.read_bytes() == before and not (tmp_path / "c.csv").exists()


def test_a_folder_where_the_options_file_goes(tmp_path, capsys):
    (tmp_path / "curves.csv.json").mkdir()  # the CSV used to be written, then a traceback
    refused(tmp_path, capsys, write_jsonl(tmp_path / "pool.jsonl"), "--n", "1", says=["curves.csv.json", "folder"])


NULLABLE = pd.array([True, None, False, False, False, True], dtype="boolean")


@pytest.mark.parametrize(  # nullable columns pass a dtype test: a traceback, or process_correct silently dropped
    "column, values, says",
    [
        ("is_correct", NULLABLE, "row 1 (problem_id=p1, sample_idx=1): 'is_correct' is null"),
        ("process_correct", NULLABLE, "'process_correct' is null"),
        ("sample_idx", [0.0, 1.5, 2.0, 0.0, 1.0, 2.0], "'sample_idx' must be integers"),
        ("sample_idx", pd.array([0, None, 2, 0, 1, 2], dtype="Int64"), "'sample_idx' must be integers (no nulls)"),
        ("step_scores", [[True]] * 6, "'step_scores' must hold numbers only"),
        ("sample_idx", [0, -1, 2, 0, 1, 2], "row 1 (problem_id=p1, sample_idx=-1): 'sample_idx' is -1"),
        ("gen_tokens", [3, 3, -4, 3, 3, 3], "'gen_tokens' is -4; it counts from 0"),
    ],
    ids=["null_is_correct", "null_process_correct", "float_sample_idx", "null_sample_idx", "bool_step_scores",
         "negative_sample_idx", "negative_gen_tokens"],
)
def test_parquet_nulls_and_types_found_by_probing(tmp_path, capsys, column, values, says):
    path = tmp_path / "pool.parquet"
    read_pool_frame().assign(**{column: values}).to_parquet(path)
    refused(tmp_path, capsys, path, "--n", "1", "--rules", "best_of_n", "--prm-agg", "prod", says=[says])


def test_parquet_nullable_bools_without_nulls_are_read(tmp_path, capsys):
    good = read_pool_frame()
    path = tmp_path / "pool.parquet"
    good.assign(is_correct=good["is_correct"].astype("boolean")).to_parquet(path)
    rc, out = run(tmp_path, path, "--n", "1", "--rules", "coverage")
    assert rc == 0, capsys.readouterr().err
    assert pd.read_csv(out)["accuracy"].tolist() == pytest.approx([0.5])


def test_jobs_give_the_same_majority_on_a_pool_of_large_and_small_problems(tmp_path, capsys):
    # problems of 1,000+ samples run the per-N majority scheme only when every problem of the batch
    # does; a worker that got only large problems used to run it alone and differ in the last bits
    rng = np.random.default_rng(2)
    rows = []
    for pid, size in (("a", 1000), ("b", 1000), ("c", 12)):
        for answer in rng.choice(["w", "x", "y", "z", None], size=size, p=[0.3, 0.28, 0.2, 0.12, 0.1]):
            rows.append({"problem_id": pid, "answer": answer, "is_correct": answer == "w"})
    pool = write_jsonl(tmp_path / "pool.jsonl", rows)
    ns = [1, 2, 5, 12]
    by_problem = [curves_by_problem(read_pool(pool), ["majority"], ns, skip_short=True, jobs=j) for j in (1, 2)]
    assert by_problem[0]["value"].tolist() == by_problem[1]["value"].tolist()  # bit for bit
    written = []
    for jobs in ("1", "2"):
        rc, out = run(tmp_path, pool, "--rules", "majority", "--n", ",".join(map(str, ns)), "--skip-short",
                      "--jobs", jobs)
        assert rc == 0, capsys.readouterr().err
        written.append(out.read_bytes())
    assert written[0] == written[1]
