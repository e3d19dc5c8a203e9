"""HexConfig through the one config loader (ttc.config): bad keys and types fail in one line, exit code 2."""

from pathlib import Path

import pytest

from experiments import hex as hex_script
from experiments.hex import HexFile
from ttc.config import ConfigError, load_config
from ttc.sweep_config import SweepConfig

REPO = Path(__file__).resolve().parents[1]


def _load(tmp_path, text: str, overrides=()):
    path = tmp_path / "hex.toml"
    path.write_text(text)
    return load_config(HexFile, path, overrides).hex


def test_tables_coerce_lists_and_ints(tmp_path):
    cfg = _load(tmp_path, "[hex]\nboard_sizes = [3]\nmax_train_flops = [1_000_000]\ngames_per_generation = [16]\nlr = 1\n")
    assert cfg.board_sizes == (3,) and cfg.max_train_flops == (1e6,) and cfg.lr == 1.0
    assert isinstance(cfg.max_train_flops[0], float) and isinstance(cfg.lr, float)


@pytest.mark.parametrize("bad, says", [
    ("boards = [3]", "unknown config key 'hex.boards'"), ('n_snapshots = "12"', "hex.n_snapshots: expected an integer"),
    ("n_jobs = 1.5", "hex.n_jobs: expected an integer"), ("seed = true", "hex.seed: expected an integer"),
    ("board_sizes = 3", "hex.board_sizes: expected a list"),
    ("board_sizes = [3, 4, 5]", "max_train_flops needs one value per board size"),
    ("eval_games_per_pair = 7", "eval_games_per_pair must be even"),
    ("n_jobs = 0", "n_jobs=0; use a worker count >= 1"), ("n_jobs = -2", "n_jobs=-2")])
def test_bad_keys_and_types_raise_one_line(tmp_path, bad, says):
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, f"[hex]\n{bad}\n")
    assert "\n" not in str(err.value) and says in str(err.value), str(err.value)


def test_overrides_use_toml_values():
    cfg = load_config(HexFile, None, ["hex.test_nodes=[1, 8, 64]", "hex.lr=1e-3", "hex.seed=3"]).hex
    assert cfg.test_nodes == (1, 8, 64) and cfg.lr == 1e-3 and cfg.seed == 3
    with pytest.raises(ConfigError, match="hex.nope"):
        load_config(HexFile, None, ["hex.nope=1"])


def test_the_sweep_holds_the_same_typed_config():
    cfg = load_config(SweepConfig, REPO / "experiments" / "configs" / "default.toml", ["hex.seed=4"])
    assert cfg.hex.seed == 4 and cfg.hex.eval_games_per_pair == 24 and cfg.hex.board_sizes == (3, 4)


def test_entry_script_exits_2_on_a_bad_key(capsys):
    assert hex_script.main(["--set", "nope=1"]) == 2  # in-process: the same main() the script's exit code comes from
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nope" in err


def test_shipped_configs_parse():
    for name in ("hex_default.toml", "hex_full.toml"):
        cfg = load_config(HexFile, REPO / "experiments" / "configs" / name).hex
        assert len(cfg.max_train_flops) == len(cfg.board_sizes)


def test_entry_script_refuses_unusable_folders_before_the_run(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    for flag in ("--cache-dir", "--results-dir"):
        for path, says in ((tmp_path / "file", "is a file"), (tmp_path / "file" / "sub", "lies under the file")):
            other = "--results-dir" if flag == "--cache-dir" else "--cache-dir"
            assert hex_script.main([flag, str(path), other, str(tmp_path / "other"), "--quiet"]) == 2
            err = capsys.readouterr().err
            assert err.startswith(f"error: {flag} ") and err.count("\n") == 1 and says in err, err
    assert [p.name for p in tmp_path.iterdir()] == ["file"]
