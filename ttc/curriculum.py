"""Curricula: stages of easier training data before a generator's main training run.

A stage is a token budget and overrides of the task's train-split spec, e.g. ``{tokens = 300_000, task =
{max_operand = 1}}``: the model is first trained on problems of that narrower distribution, stage after
stage, and only then on the task itself (``ttc.generators.ensure_generator``). On the registers task with
operands 1..9 (a three-way lookup: value, operation, operand) the result token sits at chance for the
first million tokens without one; widening the operands 1 → 1..3 → 1..9 removes that plateau
(docs/model_size.md, "Toward a task limited by capacity").

Each stage is a full run of the generator's own recipe at the stage's budget (warmup, schedule, decay;
no intermediate checkpoints). Its problems are the stage task's train split less every prompt of the
task's test and ood splits, so no held-out problem is ever trained on. The stages' tokens count in every
later checkpoint's ``tokens`` and ``train_flops`` (``Checkpoint.curriculum_tokens`` says how many).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import torch

from ttc.config import ConfigError, _merge
from ttc.tasks.base import Problem, Task
from ttc.tokenizer import Codec
from ttc.train import TrainConfig, fit, gold_texts


@dataclass(frozen=True)
class CurriculumStage:
    tokens: int  # the stage's training budget: non-pad tokens processed (prompt + solution)
    task: dict = field(default_factory=dict)  # fields of the task's train-split spec, e.g. {max_operand = 1}

    def validate(self, where: str = "curriculum stage") -> None:
        if isinstance(self.tokens, bool) or not isinstance(self.tokens, int) or self.tokens < 1:
            raise ValueError(f"{where}: tokens={self.tokens!r} must be an integer >= 1")
        if not isinstance(self.task, dict) or not self.task:
            raise ValueError(f"{where}: task={self.task!r} must be a non-empty table of the task's train-split "
                             "fields, e.g. {max_operand = 1}")


def parse_stages(value: Any, where: str) -> tuple[CurriculumStage, ...]:
    """A config list of stage tables ``[{tokens = N, task = {...}}, ...]`` as stages (ConfigError naming
    the fix when it is not one)."""
    if not isinstance(value, (list, tuple)) or not value:
        raise ConfigError(f"{where}={value!r} must be a non-empty list of stages, e.g. "
                          "[{tokens = 300000, task = {max_operand = 1}}]")
    stages = []
    for i, item in enumerate(value):
        here = f"{where}[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{here}={item!r} must be a table {{tokens = N, task = {{...}}}}")
        try:
            stage = _merge(CurriculumStage(tokens=0), item, here)
            stage.validate(here)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        stages.append(stage)
    return tuple(stages)


def stage_task(task: Task, stage: CurriculumStage) -> Task:
    """``task`` with its train split's spec overridden by ``stage.task`` (ValueError naming the field when
    the task has no such spec or the override is invalid)."""
    train = getattr(task, "train", None)
    if not (dataclasses.is_dataclass(task) and dataclasses.is_dataclass(train)):
        raise ValueError(f"task {getattr(task, 'name', task)!r} has no generated train split; a curriculum needs a "
                         "generated task (registers, arithmetic)")
    try:
        return replace(task, train=_merge(train, stage.task, "task"))
    except ConfigError as e:
        raise ValueError(str(e)) from None
    except ValueError as e:  # the task's own checks (e.g. ood must keep train's operations)
        raise ValueError(f"task {stage.task}: {e}") from None


def stage_problems(task: Task, stage: Task) -> list[Problem]:
    """The stage task's train problems less every prompt of ``task``'s test and ood splits."""
    held_out = {p.prompt for split in ("test", "ood") for p in task.problems(split)}
    return [p for p in stage.problems("train") if p.prompt not in held_out]


def train_curriculum(model: torch.nn.Module, task: Task, codec: Codec, cfg: TrainConfig,
                     stages: tuple[CurriculumStage, ...], *, progress: bool = False, desc: str = "train") -> int:
    """Train ``model`` on each stage in turn with ``cfg``'s recipe at the stage's budget; returns the
    non-pad tokens processed over all stages."""
    done = 0
    for i, stage in enumerate(stages):
        st = stage_task(task, stage)
        problems = stage_problems(task, st)
        if not problems:
            raise ValueError(f"curriculum stage {i}: every train problem of {stage.task} is a held-out prompt")
        infos = fit(model, codec, partial(gold_texts, st, problems),
                    replace(cfg, tokens=stage.tokens, n_checkpoints=1, checkpoint_decay=False),
                    progress=progress, desc=f"{desc} stage {i + 1}/{len(stages)}")
        done += infos[-1].tokens
    return done
