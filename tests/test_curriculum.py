"""ttc.curriculum: stages of easier data before a generator's own training, as the sweep trains them."""

from dataclasses import replace

import pytest
import torch

from ttc.cache import Cache
from ttc.config import ConfigError, load_config
from ttc.curriculum import CurriculumStage, parse_stages, stage_problems, stage_task, train_curriculum
from ttc.generators import GeneratorSpec, ensure_generator, generator_key, load_checkpoint
from ttc.models import ModelSize, build_model
from ttc.tasks.registers import RegistersSpec, RegistersTask
from ttc.tokenizer import Codec, build_char_tokenizer
from ttc.train import TrainConfig, train_generator

TINY = ModelSize("t", hidden=16, layers=1, heads=2, mlp=32)
TRAIN = TrainConfig(tokens=3000, batch_size=8, lr=1e-2, schedule="wsd", warmup_steps=5, n_checkpoints=2, seed=4)
# the task: operands 1..3; its curriculum: operand 1 first (a narrower distribution of the same task)
TASK = RegistersTask(train=RegistersSpec(max_steps=4, max_operand=3), ood=RegistersSpec(min_steps=4, max_steps=4,
                     max_operand=3), n_train=200, n_test=20, n_ood=10)
STAGES = (CurriculumStage(tokens=1500, task={"max_operand": 1}),)


def test_a_generator_with_a_curriculum_is_the_stages_then_its_own_run(tmp_path):
    """Same weights as training the stage by hand and then the task; every checkpoint counts the stages'
    tokens in its tokens and FLOPs, and the curriculum is in the generator's key."""
    records = ensure_generator(Cache(tmp_path), TASK, GeneratorSpec(TINY, TRAIN, curriculum=STAGES))
    tok = build_char_tokenizer()
    codec = Codec.of(tok)
    model = build_model(TINY, tok, seed=TRAIN.seed)
    before = train_curriculum(model, TASK, codec, TRAIN, STAGES)
    assert before >= 1500
    infos = train_generator(model, TASK, codec, TRAIN, on_checkpoint=lambda m, i: None)
    assert [r.tokens for r in records] == [before + i.tokens for i in infos]
    assert all(r.curriculum_tokens == before for r in records)
    assert all(r.train_flops == pytest.approx(6 * r.params * r.tokens) for r in records)
    saved, _ = load_checkpoint(records[-1].path)
    assert all(torch.equal(saved.state_dict()[k], v) for k, v in model.state_dict().items())
    # without the stage, another model; and the key changes with the curriculum only when there is one
    plain = build_model(TINY, tok, seed=TRAIN.seed)
    train_generator(plain, TASK, codec, TRAIN, on_checkpoint=lambda m, i: None)
    assert not all(torch.equal(plain.state_dict()[k], v) for k, v in model.state_dict().items())
    keys = {generator_key(TASK, GeneratorSpec(TINY, TRAIN, curriculum=c)) for c in ((), STAGES)}
    assert len(keys) == 2 and generator_key(TASK, GeneratorSpec(TINY, TRAIN)) in keys


def test_a_stage_never_trains_on_a_held_out_prompt():
    # two registers, two steps, operand 1, no tables: few enough prompts that the stage's own train split
    # holds some of the task's test and ood prompts, which the stage must drop
    task = RegistersTask(train=RegistersSpec(min_steps=2, max_steps=3, max_operand=3, max_ops_per_register=2),
                         ood=RegistersSpec(min_steps=2, max_steps=2, max_operand=3, max_ops_per_register=2),
                         n_train=300, n_test=200, n_ood=100)
    stage = stage_task(task, CurriculumStage(tokens=10, task={"max_operand": 1, "max_steps": 2}))
    held_out = {p.prompt for split in ("test", "ood") for p in task.problems(split)}
    raw = [p.prompt for p in stage.problems("train")]
    kept = [p.prompt for p in stage_problems(task, stage)]
    assert set(raw) & held_out  # the case the filter is for
    assert not set(kept) & held_out and set(kept) == set(raw) - held_out


def test_stage_task_overrides_the_train_split_only():
    stage = stage_task(TASK, STAGES[0])
    assert stage.train == replace(TASK.train, max_operand=1) and stage.ood == TASK.ood
    with pytest.raises(ValueError, match="max_operand=12"):
        stage_task(TASK, CurriculumStage(tokens=10, task={"max_operand": 12}))
    with pytest.raises(ValueError, match="unknown config key 'task.max_operands'"):
        stage_task(TASK, CurriculumStage(tokens=10, task={"max_operands": 1}))


@pytest.mark.parametrize("value, word", [
    (5, "non-empty list"), ([], "non-empty list"), ([3], "must be a table"), ([{"tokens": 0, "task": {"a": 1}}], "tokens=0"),
    ([{"tokens": 10}], "non-empty table"), ([{"tokens": 10, "task": {"max_operand": 1}, "seed": 1}], "unknown config key"),
    ([{"tokens": "10", "task": {"max_operand": 1}}], "integer"),
])
def test_parse_stages_names_the_fix(value, word):
    with pytest.raises(ConfigError, match=word):
        parse_stages(value, "generators.curriculum.m")


def test_the_sweep_config_reads_validates_and_hashes_curricula():
    from ttc.sweep import generator_spec, train_cost
    from ttc.sweep_config import SweepConfig
    base = load_config(SweepConfig, None, ["generators.sizes=['xs', 's']"])
    stages = "generators.curriculum={s=[{tokens=1000, task={max_operand=1}}, {tokens=2000, task={max_operand=3}}]}"
    cfg = load_config(SweepConfig, None, ["generators.sizes=['xs', 's']", stages])
    cfg.validate()
    assert generator_spec(cfg, "s").curriculum == (CurriculumStage(1000, {"max_operand": 1}),
                                                   CurriculumStage(2000, {"max_operand": 3}))
    assert generator_spec(cfg, "xs").curriculum == () == generator_spec(base, "s").curriculum
    assert train_cost(cfg, "s") > train_cost(base, "s") and train_cost(cfg, "xs") == train_cost(base, "xs")
    assert cfg.results_hash() != base.results_hash()
    assert load_config(SweepConfig, None, ["generators.sizes=['xs', 's']", "generators.curriculum={}"]
                       ).results_hash() == base.results_hash()
    for bad, word in [("{zz=[{tokens=1, task={max_operand=1}}]}", "not a size ttc trains"),
                      ("{s=[{tokens=10, task={max_operand=10}}]}", r"generators\.curriculum\.s\[0\]: task .*max_operand=10 must be")]:
        with pytest.raises(ConfigError, match=word):
            load_config(SweepConfig, None, ["generators.sizes=['xs', 's']", f"generators.curriculum={bad}"]).validate()


def test_the_committed_results_are_the_default_configs():
    """results/ holds the default run: its config hash is the default config's (a field added to the config
    at a value that changes nothing, as the curriculum was, must leave the hash alone)."""
    import json
    from pathlib import Path

    from ttc.sweep_config import SweepConfig
    repo = Path(__file__).resolve().parents[1]
    committed = json.loads((repo / "results" / "summary.json").read_text())["config_hash"]
    assert load_config(SweepConfig, repo / "experiments" / "configs" / "default.toml").results_hash() == committed
