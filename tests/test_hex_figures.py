"""analysis.hex_figures: the figures drawn from a Hex results folder, and bad folders refused in one line."""

import shutil
from pathlib import Path

import pandas as pd
import pytest

from analysis.hex_figures import HexFiguresError, load, main, write_figures

RESULTS = Path(__file__).resolve().parents[1] / "results" / "hex"


def _folder(tmp_path: Path) -> Path:
    """A copy of the committed Hex tables (agents, iso_elo, frontier)."""
    folder = tmp_path / "hex"
    folder.mkdir()
    for name in ("agents", "iso_elo", "frontier"):
        shutil.copy(RESULTS / f"{name}.csv", folder)
    return folder


def _edit(name: str, change):
    def edit(folder: Path) -> None:
        path = folder / f"{name}.csv"
        change(pd.read_csv(path)).to_csv(path, index=False)
    return edit


def _write(name: str, content: str):
    def edit(folder: Path) -> None:
        (folder / f"{name}.csv").write_text(content)
    return edit


def test_a_run_without_iso_elo_points_or_frontier_draws_the_elo_figures(tmp_path):
    folder = _folder(tmp_path)
    agents = pd.read_csv(folder / "agents.csv")
    agents[agents["board"] == 3].drop(columns="anchor").to_csv(folder / "agents.csv", index=False)  # older: no anchor
    (folder / "iso_elo.csv").write_text("pareto\n")  # what a run with no iso-Elo points writes
    (folder / "frontier.csv").write_text("board,snapshot,width,train_flops,elo,elo_se\n")
    paths = write_figures(folder, formats=("png",))
    assert [p.name for p in paths] == ["hex_elo_vs_train.png", "hex_elo_vs_test.png"]


@pytest.mark.parametrize("edit, message", [
    (lambda d: (d / "agents.csv").unlink(), "agents.csv does not exist; pass the folder a Hex run wrote"),
    (_write("agents", ""), "agents.csv is empty"),
    (lambda d: (d / "agents.csv").write_bytes(b"\xff\xfe\x00"), "agents.csv is not a CSV table"),
    (_write("agents", "board,width,snapshot,nodes,train_flops,test_flops,elo\n"), "agents.csv has no rows"),
    (_edit("agents", lambda t: t.drop(columns="elo")), "agents.csv lacks column(s) elo"),
    (_edit("agents", lambda t: t.assign(elo=t["elo"].where(t.index != 3))), "empty or NaN cells in elo"),
    (_edit("agents", lambda t: t.assign(elo=t["elo"].astype(str).where(t.index != 3, "abc"))),
     "column(s) elo hold non-numbers"),
    (_edit("agents", lambda t: t.assign(train_flops=t["train_flops"].where(t.index != 3, 0))), "train_flops <= 0"),
    (_edit("agents", lambda t: t.assign(test_flops=t["test_flops"].where(t.index != 3, float("inf")))),
     "infinite values in test_flops"),
    (_write("iso_elo", ""), "iso_elo.csv is empty"),
    (_edit("iso_elo", lambda t: t.drop(columns="pareto")), "iso_elo.csv lacks column(s) pareto"),
    (_edit("iso_elo", lambda t: t.assign(pareto=t["pareto"].astype(str).where(t.index != 3, "maybe"))),
     "pareto hold values other than True/False"),
    (_edit("frontier", lambda t: t.drop(columns="elo_se")), "frontier.csv lacks column(s) elo_se"),
    (lambda d: (d / "figures").write_text("not a folder"), "figures is a file"),
])
def test_bad_folders_are_one_line_errors_and_write_nothing(tmp_path, capsys, edit, message):
    folder = _folder(tmp_path)
    edit(folder)
    before = sorted(folder.iterdir())
    assert main([str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert sorted(folder.iterdir()) == before  # no figures/ folder left behind


def test_a_missing_folder_or_a_file_is_not_a_results_folder(tmp_path, capsys):
    assert main([str(tmp_path / "none")]) == 2
    assert "is not a folder; pass the folder a Hex run wrote" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()
    assert main([str(RESULTS / "agents.csv")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    with pytest.raises(HexFiguresError, match="does not exist"):
        load(tmp_path)
