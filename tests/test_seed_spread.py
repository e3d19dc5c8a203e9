"""ttc.seed_spread on the tiny family: one row per size and seed, seeds differ, reruns reproduce."""

import json
import re

import numpy as np
import pandas as pd
import pytest

from analysis.seed_spread import SeedSpreadError, family_draws, main, size_table
from tests.test_sweep import TINY
from ttc.config import load_config
from ttc.seed_spread import COLUMNS, seed_spread
from ttc.sweep_config import SweepConfig


def test_seed_spread_table(tmp_path):
    path, tmp = tmp_path / "tiny.toml", tmp_path
    path.write_text(TINY)
    cfg = load_config(SweepConfig, path, [f'run.cache_dir="{tmp / "cache"}"', "run.progress=false"])
    name = cfg.generators.sizes[0]
    table = seed_spread(cfg, [name], [0, 1], n_samples=2)
    assert list(table.columns) == COLUMNS and table["seed"].tolist() == [0, 1]
    assert table["n_samples"].eq(2).all() and table["n_problems"].eq(cfg.pools.n_problems).all()
    assert (table["ci_low"] <= table["pass1"]).all() and (table["pass1"] <= table["ci_high"]).all()
    assert table["final_loss"].iloc[0] != table["final_loss"].iloc[1]  # another seed, another model
    assert (table["train_flops"] == 6 * table["params"] * table["tokens"]).all()
    pd.testing.assert_frame_equal(seed_spread(cfg, [name], [0, 1], n_samples=2), table)  # cached: the same
    with pytest.raises(ValueError, match="not among generators.sizes"):
        seed_spread(cfg, ["nope"], [0])
    # the initial weights' seed apart from the data order's: init 1 + data 1 is seed 1's run again
    same = seed_spread(cfg, [name], [1], n_samples=2, init_seed=1)
    assert same["final_loss"].iloc[0] == table["final_loss"].iloc[1] and same["init_seed"].tolist() == [1]
    mixed = seed_spread(cfg, [name], [0], n_samples=2, init_seed=1)  # seed 1's weights, seed 0's data
    assert mixed["final_loss"].iloc[0] not in set(table["final_loss"]) and table["init_seed"].tolist() == [0, 1]


def test_generator_keys_without_an_init_seed_are_the_keys_from_before_it():
    from dataclasses import asdict, replace

    from ttc.cache import content_key
    from ttc.generators import DEFAULT_CHARS, TRAINER_VERSION, GeneratorSpec, generator_key, training_view
    from ttc.models import FAMILY
    from ttc.tasks.registers import RegistersTask
    from ttc.train import TrainConfig
    shape = replace(FAMILY["xs"], init_std=None)  # a shape from before init_std existed
    task, spec = RegistersTask(n_train=20, n_test=5, n_ood=5), GeneratorSpec(shape, TrainConfig()).resolved()
    old = asdict(spec)
    del old["init_seed"], old["size"]["init_std"], old["train"]["compile"], old["curriculum"]  # newer than the key
    assert generator_key(task, spec) == content_key("generator", TRAINER_VERSION, training_view(task), old, DEFAULT_CHARS)
    assert generator_key(task, GeneratorSpec(shape, TrainConfig(), init_seed=0)) != generator_key(task, spec)
    scaled = GeneratorSpec(replace(shape, init_std=0.25), TrainConfig())
    assert generator_key(task, scaled) != generator_key(task, spec)


@pytest.mark.parametrize("args, says", [(["--sizes", "nope"], "not among generators.sizes"),
                                        (["--samples", "0"], "--samples must be >= 1"),
                                        (["--seeds", "-1"], "non-negative"),
                                        (["--set", "pools.n_problems=-1"], "n_problems")])
def test_seed_spread_script_refuses_bad_input_in_one_line(args, says, tmp_path, capsys):
    from experiments import seed_spread as script
    out = tmp_path / "out"
    assert script.main([*args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and len(err.splitlines()) == 1 and not out.exists()


def test_seed_spread_script_writes_the_table_the_draws_and_the_figure(tmp_path):
    from experiments import seed_spread as script
    path, out = tmp_path / "tiny.toml", tmp_path / "out"
    path.write_text(TINY)
    args = ["--config", str(path), "--set", f'run.cache_dir="{tmp_path / "cache"}"', "--set", "run.progress=false",
            "--sizes", "t1", "t2", "--seeds", "0", "1", "--samples", "2", "--out", str(out)]
    assert script.main(args) == 0
    table = pd.read_csv(out / "seed_spread.csv")
    record = json.loads((out / "seed_spread.json").read_text())
    assert table["generator"].tolist() == ["t1", "t1", "t2", "t2"] and record["command"].endswith(str(out))
    assert record["family_draws"]["n_draws"] == 4 and record["family_draws"]["sizes"] == ["t1", "t2"]
    assert record["family_draws"] == family_draws(table)
    assert (out / "seed_spread.png").read_bytes()[:4] == b"\x89PNG"


def _table() -> pd.DataFrame:
    """Three sizes of two seeds each: eight families, hand-counted below."""
    rows = [("a", 100, 0, 0.10, 0.5), ("a", 100, 1, 0.30, 0.4), ("b", 1000, 0, 0.20, 0.3), ("b", 1000, 1, 0.40, 0.6),
            ("c", 10000, 0, 0.50, 0.2), ("c", 10000, 1, 0.80, 0.1)]
    return pd.DataFrame([{"generator": g, "params": p, "seed": s, "pass1": a, "ci_low": a - 0.01, "ci_high": a + 0.01,
                          "final_loss": loss} for g, p, s, a, loss in rows])


def test_a_ci_past_zero_or_one_is_a_wald_interval_near_the_ends_and_is_read():
    t = _table().assign(ci_low=lambda t: t["pass1"] - 0.15, ci_high=lambda t: t["pass1"] + 0.25)  # a: -0.05, c: 1.05
    assert family_draws(t)["n_draws"] == 8


def test_family_draws_count_the_families_by_hand():
    # families (a, b, c): monotone unless a 0.3 > b 0.2; 2 of 4 (a, b) pairs rise and every c is above b
    draws = family_draws(_table(), z=1.96)
    assert draws["n_draws"] == 8 and draws["monotone_share"] == pytest.approx(6 / 8)
    assert draws["separated_share"] == pytest.approx(6 / 8)  # SEs ~0.005: every rise of 0.1 is beyond them
    # the bars: smallest >= 5% (both a), largest in [45%, 75%] (c 0.5 only): 3 monotone (a, b) pairs x 1
    assert draws["bars_share"] == pytest.approx(3 / 8)
    # best of 2 by final loss: a keeps seed 1 (0.3), b seed 0 (0.2), c seed 1 (0.8): one family, not monotone
    best = family_draws(_table(), restarts=2)
    assert best["n_draws"] == 1 and best["monotone_share"] == 0 and best["means"] == pytest.approx([0.3, 0.2, 0.8])


@pytest.mark.parametrize("change, message", [
    (lambda t: t.assign(pass1=100 * t["pass1"], ci_low=100 * t["ci_low"], ci_high=100 * t["ci_high"]),
     "pass1 outside [0, 1] or a CI bound far outside it; they are fractions of test problems (percent? divide by 100)"),
    (lambda t: t.assign(ci_low=100 * t["ci_low"], ci_high=100 * t["ci_high"]), "a CI bound far outside it"),
    (lambda t: t.assign(pass1=t["pass1"].where(t.index != 2)), "empty or NaN cells in ['pass1']"),
    (lambda t: t.assign(generator=t["generator"].where(t.index != 2)), "empty or NaN cells in ['generator']"),
    (lambda t: t.assign(ci_high=t["ci_high"].where(t.index != 2, np.inf)), "infinite values"),
    (lambda t: t.assign(pass1=t["pass1"].astype(str).where(t.index != 2, "n/a")), "column(s) ['pass1'] hold non-numbers"),
    (lambda t: t.assign(params=-t["params"]), "params <= 0"),
    (lambda t: t.assign(params=t["params"].where(t["generator"] != "b", 100)), "two generators have the same params"),
    (lambda t: t.assign(ci_low=t["ci_high"], ci_high=t["ci_low"]), "ci_low above ci_high"),
])
def test_unusable_tables_are_named(change, message):
    with pytest.raises(SeedSpreadError, match=re.escape(message)):
        family_draws(change(_table()))
    with pytest.raises(SeedSpreadError):
        size_table(change(_table()))


def _csv(folder, content: str | bytes | pd.DataFrame):
    path = folder / "t.csv"
    if isinstance(content, pd.DataFrame):
        content.to_csv(path, index=False)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


@pytest.mark.parametrize("content, args, message", [
    ("", [], "is empty; pass a seed table"),
    (b"\xff\xfe\x00", [], "is not a CSV table"),
    (_table().assign(pass1=lambda t: 100 * t["pass1"]), [], "percent? divide by 100"),
    (_table(), ["--z", "inf"], "--z=inf must be a finite"),
    (_table(), ["--figure", "{d}/no/f.png"], "folder {d}/no does not exist"),
    (_table(), ["--figure", "{d}/f.jpgx"], "cannot draw .jpgx"),
    (_table(), ["--figure", "{d}"], "is a folder"),
])
def test_the_command_line_refuses_bad_input_in_one_line_and_writes_nothing(tmp_path, capsys, content, args, message):
    path = _csv(tmp_path, content)
    before = sorted(tmp_path.parent.iterdir())
    assert main([str(path), *(a.format(d=tmp_path) for a in args)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message.format(d=tmp_path) in err, err
    assert sorted(tmp_path.iterdir()) == [path] and sorted(tmp_path.parent.iterdir()) == before


@pytest.mark.parametrize("args, says", [(["--seeds", "0", "0"], "--seeds 0 0 repeats a value"),
                                        (["--sizes", "t1", "t1"], "--sizes t1 t1 repeats a value"),
                                        (["--out", "{d}/file"], "is a file"),
                                        (["--out", "{d}/file/sub"], "lies under the file"),
                                        (["--set", 'run.cache_dir="{d}/file"'], "run.cache_dir")])
def test_seed_spread_script_refuses_repeats_and_unusable_folders_before_training(args, says, tmp_path, capsys):
    from experiments import seed_spread as script
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    (tmp_path / "file").write_text("x")
    before = sorted(tmp_path.rglob("*"))
    argv = ["--config", str(path), "--set", f'run.cache_dir="{tmp_path / "cache"}"', "--out", str(tmp_path / "out"),
            *[a.format(d=tmp_path) for a in args]]
    assert script.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and says in err, err
    assert sorted(tmp_path.rglob("*")) == before
