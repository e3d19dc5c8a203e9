"""Writes docs/bad_inputs.md from the parameter lists of the bad-input tests: python docs/bad_inputs.py"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def table() -> str:
    """The markdown table of every tested bad input."""
    rows = []

    def params(path, fname):
        tree = ast.parse(open(ROOT / path).read())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == fname:
                for d in node.decorator_list:
                    if isinstance(d, ast.Call) and getattr(d.func, "attr", "") == "parametrize":
                        return ast.literal_eval(d.args[1])
        raise KeyError(fname)

    for ov, word in params("tests/test_sweep.py", "test_bad_configs_rejected_before_anything_runs"):
        rows.append(
            ("sweep", f"`--set {ov}`", word, "test_sweep.py::test_bad_configs_rejected_before_anything_runs")
        )
    for ov, word in params("tests/test_real_tasks.py", "test_real_config_bad_paths_are_one_line_errors"):
        rows.append(("sweep (real task)", f"`--set {ov}`", word,
                     "test_real_tasks.py::test_real_config_bad_paths_are_one_line_errors"))
    for line, says in params("tests/test_evaluate.py", "test_malformed_jsonl_is_refused_naming_the_line"):
        short = line if len(line) < 70 else line[:67] + "…"
        rows.append(
            (
                "evaluate",
                f"JSONL line `{short}`",
                "; ".join(says),
                "test_evaluate.py::test_malformed_jsonl_is_refused_naming_the_line",
            )
        )
    for fn in ("test_bad_requests", "test_requests_that_used_to_crash_or_hang"):
        for args, says in params("tests/test_evaluate.py", fn):
            rows.append(
                (
                    "evaluate",
                    "`" + " ".join(repr(a) if a.strip() != a or not a else a for a in args) + "`",
                    "; ".join(says),
                    f"test_evaluate.py::{fn}",
                )
            )
    rows += [
        (
            "sweep",
            "`--config` a missing file / invalid TOML / a folder / Latin-1 bytes",
            "not found / not valid TOML / not a file / not UTF-8",
            "test_sweep.py::test_config_file_errors",
        ),
        (
            "sweep",
            "`run.results_dir` or `run.cache_dir` a file, under a file, or read-only",
            "is a file / lies under the file / cannot be written",
            "test_sweep.py::test_unusable_output_folders_rejected_before_anything_runs",
        ),
        (
            "evaluate",
            "a score or step score with 401 digits",
            "too large for a float",
            "test_evaluate.py::test_huge_integer_scores_are_refused",
        ),
        (
            "evaluate",
            "a non-UTF-8 line; a binary file",
            "not UTF-8 (the line named)",
            "test_evaluate.py::test_non_utf8_and_binary_pools_are_refused",
        ),
        (
            "evaluate",
            "a folder as the pool",
            "is a folder",
            "test_evaluate.py::test_a_folder_given_as_the_pool",
        ),
        (
            "evaluate",
            "`--out` in a read-only folder",
            "not writable",
            "test_evaluate.py::test_out_in_a_read_only_folder",
        ),
        (
            "evaluate",
            "a repeated (`problem_id`, `sample_idx`)",
            "appears twice",
            "test_evaluate.py::test_sample_idx_is_read_and_a_duplicated_line_refused",
        ),
        (
            "evaluate",
            "a problem with fewer than N samples; no problem with N",
            "fewer than N / no problem has N",
            "test_evaluate.py::test_too_few_samples_names_the_problems",
        ),
        (
            "evaluate",
            "a rule that needs a score when the pool has none",
            "needs a score",
            "test_evaluate.py::test_rule_that_needs_a_score_when_there_is_none",
        ),
        (
            "evaluate",
            "negative scores with `weighted_vote`",
            "scores >= 0",
            "test_evaluate.py::test_weighted_vote_refuses_negative_scores",
        ),
    ]

    def esc(t):
        return t.replace("|", "\\|")

    out = [
        "# Bad inputs: each one a one-line error and exit code 2, nothing written",
        "",
        "Every row is checked by the test named beside it: the command exits with code 2, prints one line on",
        "stderr that contains the words shown, and writes nothing (no results folder, no output CSV). The",
        "sweep rows are `python experiments/sweep.py --set KEY=VALUE` over a valid config; the evaluate rows",
        "are `python -m ttc.evaluate POOL --out CSV ...`. The table is generated from the tests' parameter",
        "lists; rows that bundle several inputs count once.",
        "",
        f"{len(rows)} rows.",
        "",
        "| tool | input | the message says | test |",
        "|---|---|---|---|",
    ]
    for tool, inp, says, test in rows:
        out.append(f"| {tool} | {esc(inp)} | {esc(says)} | `{test}` |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    (ROOT / "docs" / "bad_inputs.md").write_text(table())
