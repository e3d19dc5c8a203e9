"""HexConfig from dicts and the command line: bad keys and types fail in one line, exit code 2."""

import sys
from pathlib import Path

import pytest

from ttc.hex import HexConfig, HexConfigError

REPO = Path(__file__).resolve().parents[1]


def test_from_dict_coerces_lists_and_ints():
    cfg = HexConfig.from_dict({"board_sizes": [3], "max_train_macs": [1_000_000], "games_per_generation": [16],
                               "lr": 1})
    assert cfg.board_sizes == (3,) and cfg.max_train_macs == (1e6,) and cfg.lr == 1.0


@pytest.mark.parametrize("bad", [{"boards": [3]}, {"n_snapshots": "12"}, {"n_jobs": 1.5}, {"seed": True},
                                 {"board_sizes": 3}, {"board_sizes": [3, 4, 5]}])
def test_bad_keys_and_types_raise_one_line(bad):
    with pytest.raises(HexConfigError) as err:
        HexConfig.from_dict(bad)
    assert "\n" not in str(err.value)


def test_overrides_use_toml_values():
    cfg = HexConfig().with_overrides(["test_nodes=[1, 8, 64]", "lr=1e-3", "seed=3"])
    assert cfg.test_nodes == (1, 8, 64) and cfg.lr == 1e-3 and cfg.seed == 3
    with pytest.raises(HexConfigError):
        HexConfig().with_overrides(["nope=1"])


def test_entry_script_exits_2_on_a_bad_key(capsys):
    sys.path.insert(0, str(REPO))
    from experiments import hex as hex_script  # in-process: the same main() the script's exit code comes from
    assert hex_script.main(["--set", "nope=1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nope" in err


def test_shipped_configs_parse():
    import tomllib
    for name in ("hex_default.toml", "hex_full.toml"):
        HexConfig.from_dict(tomllib.loads((REPO / "experiments" / "configs" / name).read_text())["hex"])
