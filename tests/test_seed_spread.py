"""ttc.seed_spread on the tiny family: one row per size and seed, seeds differ, reruns reproduce."""

import pandas as pd
import pytest

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
