"""Every entry command's own usage errors (a bad type, an unknown or missing argument) are one line on
stderr naming the command's --help, and exit code 2, before anything runs."""

import importlib

import pytest

COMMANDS = [("experiments.sweep", "main", ["--bogus"], "unrecognized arguments: --bogus"),
            ("experiments.hex", "main", ["--bogus"], "unrecognized arguments"),
            ("experiments.seed_spread", "main", ["--seeds", "x"], "argument --seeds: invalid int value: 'x'"),
            ("experiments.seed_selection", "main", ["--seeds", "x"], "argument --seeds: invalid int value"),
            ("experiments.verifiers", "cli", ["--trials", "two"], "argument --trials: invalid int value"),
            ("experiments.plateau_probe", "main", ["--tokens", "many"], "argument --tokens"),
            ("analysis.seed_spread", "main", [], "the following arguments are required: table"),
            ("analysis.seed_selection", "main", [], "the following arguments are required"),
            ("analysis.hex_figures", "main", ["a", "b"], "unrecognized arguments: b")]


@pytest.mark.parametrize("module, entry, argv, says", COMMANDS)
def test_usage_errors_are_one_line_and_exit_2(capsys, module, entry, argv, says):
    with pytest.raises(SystemExit) as done:
        getattr(importlib.import_module(module), entry)(argv)
    assert done.value.code == 2
    err = capsys.readouterr().err
    prog = module.replace(".", "/") + ".py" if module.startswith("experiments") else module
    assert err.count("\n") == 1 and err.startswith("error: ") and says in err, err
    assert err.rstrip().endswith(f"{prog} --help"), err
