"""ttc.seed_spread on the tiny family: one row per size and seed, seeds differ, reruns reproduce."""

import json

import pandas as pd
import pytest

from analysis.seed_spread import family_draws
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
