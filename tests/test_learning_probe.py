"""The loss split by token role: roles line up with the characters, and the split adds up to the loss."""

import numpy as np
import pytest
import torch

from ttc.learning_probe import ROLES, role_losses, solution_roles
from ttc.models import ModelSize, build_model
from ttc.tasks.registers import RegistersSpec, RegistersTask
from ttc.tokenizer import Codec, build_char_tokenizer
from ttc.train import encode_batch


def test_solution_roles_name_every_character_and_the_eos():
    sol = "x=3a1=7;y=5-2=3#7,3"
    roles = solution_roles(sol)
    assert len(roles) == len(sol) + 1 and roles[-1] == "eos"
    picked = {role: "".join(c for c, r in zip(sol, roles) if r == role) for role in ROLES if role != "eos"}
    assert picked["register"] == "xy" and picked["value"] == "35" and picked["operation"] == "a-"
    assert picked["operand"] == "12" and picked["result"] == "73" and picked["answer"] == "7,3"
    assert picked["syntax"] == "".join(c for c in sol[: sol.index("#") + 1] if c in "=;#")
    with pytest.raises(ValueError, match="not a registers-task step"):
        solution_roles("x=3a=7#7")


def test_role_losses_add_up_to_the_teacher_forced_loss():
    task = RegistersTask(train=RegistersSpec(max_steps=4, max_operand=1, n_tables=3, op_zipf=1.0),
                         ood=RegistersSpec(min_steps=4, max_steps=4, max_operand=1, n_tables=3, op_zipf=1.0),
                         n_train=50, n_test=20, n_ood=5)
    tokenizer = build_char_tokenizer()
    codec = Codec.of(tokenizer)
    model = build_model(ModelSize("t", hidden=8, layers=1, heads=2, mlp=16), tokenizer, seed=0)
    problems = task.problems("test")
    prompts = [p.prompt for p in problems]
    golds = [task.gold_solution(p, i) for i, p in enumerate(problems)]
    split = role_losses(model, codec, prompts, golds, batch=7)  # batches of uneven widths
    assert sum(n for _, _, n in split.values()) == sum(len(g) + 1 for g in golds)
    ids, mask, labels, _ = encode_batch(codec, prompts, golds)
    with torch.no_grad():
        whole = model(input_ids=ids, attention_mask=mask, labels=labels).loss.item()
    mean = sum(nll * n for nll, _, n in split.values()) / sum(n for _, _, n in split.values())
    assert mean == pytest.approx(whole, rel=1e-5)
    assert all(0 <= top1 <= 1 for _, top1, _ in split.values()) and np.isfinite(list(v[0] for v in split.values())).all()


TINY = """
[task]
n_train = 200
n_test = 10
n_ood = 4
[task.train]
max_steps = 4
max_operand = 1
n_tables = 3
op_zipf = 1.0
[task.ood]
min_steps = 4
max_steps = 4
max_operand = 1
n_tables = 3
op_zipf = 1.0
[generators]
sizes = ["t1"]
custom = {t1 = {hidden = 8, layers = 1, heads = 2, mlp = 16}}
[generators.train]
tokens = 4000
warmup_steps = 5
schedule = "wsd"
[pools]
max_new_tokens = 40
"""


def test_plateau_probe_writes_one_row_per_checkpoint_and_role(tmp_path, capsys):
    from experiments import plateau_probe
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY)
    out = tmp_path / "probe.csv"
    assert plateau_probe.main(["t1", "--config", str(cfg), "--checkpoints", "3", "--problems", "10",
                               "--csv", str(out)]) == 0
    import pandas as pd
    table = pd.read_csv(out)
    assert table["tokens"].nunique() == 3 and table.groupby("tokens")["role"].nunique().eq(len(ROLES)).all()
    assert table["final"].sum() == len(ROLES) and table["accuracy"].between(0, 1).all()
    assert len(capsys.readouterr().out.strip().splitlines()) == 3
    for argv, word in ((["zz", "--config", str(cfg)], "not in the config"),
                       (["t1", "--config", str(cfg), "--problems", "11"], "task.n_test"),
                       (["t1", "--config", str(cfg), "--set", "generators.train.tokens=0"], "tokens")):
        assert plateau_probe.main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert word in err and len(err.splitlines()) == 1


def test_plateau_probe_curriculum_trains_its_stages_first_and_records_them(tmp_path, capsys):
    from experiments import plateau_probe
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY)
    out = tmp_path / "probe.csv"
    wider = ["--set", "task.train.max_operand=3", "task.ood.max_operand=3"]
    assert plateau_probe.main(["t1", "--config", str(cfg), "--checkpoints", "2", "--problems", "10", *wider,
                               "--curriculum", "1:1500", "2:1000", "--csv", str(out)]) == 0
    import pandas as pd
    table = pd.read_csv(out)
    assert set(table["curriculum"]) == {"max_operand=1:1500 max_operand=2:1000"}
    before = table["curriculum_tokens"].iloc[0]
    assert set(table["curriculum_tokens"]) == {before} and before >= 2500  # tokens processed: the budgets, a batch over
    assert table["tokens"].max() >= 4000  # the probed run's own budget, counted apart from the stages
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and "curriculum max_operand=1:1500 max_operand=2:1000" in lines[0]
    # the config's own curriculum of the size is the same stages: the same rows
    staged = ["--set", "task.train.max_operand=3", "task.ood.max_operand=3", "generators.curriculum={t1=["
              "{tokens=1500,task={max_operand=1}},{tokens=1000,task={max_operand=2}}]}"]
    assert plateau_probe.main(["t1", "--config", str(cfg), "--checkpoints", "2", "--problems", "10", *staged,
                               "--csv", str(tmp_path / "staged.csv")]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "staged.csv"), table)
    # without a curriculum the columns say so
    assert plateau_probe.main(["t1", "--config", str(cfg), "--checkpoints", "1", "--problems", "5",
                               "--csv", str(out)]) == 0
    plain = pd.read_csv(out, keep_default_na=False)
    assert set(plain["curriculum"]) == {""} and set(plain["curriculum_tokens"]) == {0}
    capsys.readouterr()
    for stage in ("1", "0:100", "10:100", "1:0", "a:b"):
        assert plateau_probe.main(["t1", "--config", str(cfg), "--problems", "5", "--curriculum", stage]) == 2
        err = capsys.readouterr().err.strip()
        assert "--curriculum stage" in err and len(err.splitlines()) == 1


def test_plateau_probe_refuses_bad_input_as_error_lines_before_training(tmp_path, capsys):
    from experiments import plateau_probe
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY)
    (tmp_path / "file").write_text("x")
    before = sorted(tmp_path.rglob("*"))
    for argv, word in ((["t1", "--config", str(tmp_path / "none.toml")], "not found"),
                       (["t1", "--config", str(cfg), "--checkpoints", "0"], "--checkpoints=0"),
                       (["t1", "--config", str(cfg), "--seed", "-1"], "--seed=-1"),
                       (["t1", "--config", str(cfg), "--csv", str(tmp_path)], "is a folder"),
                       (["t1", "--config", str(cfg), "--csv", str(tmp_path / "file" / "x.csv")], "does not exist")):
        assert plateau_probe.main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and word in err, err
    assert sorted(tmp_path.rglob("*")) == before
