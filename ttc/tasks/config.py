"""The ``[task]`` table of a sweep config: which task, its split sizes and spec overrides, or the local
files of a real task (GSM8K, MATH). ``TaskConfig.build()`` makes the task object."""

from __future__ import annotations

from dataclasses import dataclass, field

from ttc.config import ConfigError, _merge
from ttc.tasks import TASKS

FILE_TASKS = ("gsm8k", "math")  # real tasks read from local files (ttc.tasks.mathdata)


@dataclass(frozen=True)
class TaskConfig:
    name: str = "registers"  # a key of ttc.tasks.TASKS
    n_train: int = 20_000
    n_test: int = 400
    n_ood: int = 200
    seed: int = 0
    train: dict = field(default_factory=dict)  # spec fields overriding the task's train/test defaults
    ood: dict = field(default_factory=dict)  # spec fields overriding the task's ood defaults
    # real tasks read from local JSONL files (name = "gsm8k" or "math"; ttc.tasks.mathdata)
    path: str = ""  # the test split
    train_path: str = ""  # solved examples for few-shot prompts
    ood_path: str = ""  # an optional out-of-distribution split
    prompt: str = "auto"  # auto | plain | fewshot | chat
    fewshot: int = 0
    tokenizer: str = ""  # a local checkpoint whose chat template renders chat prompts

    def build(self):
        if self.name in FILE_TASKS:
            from ttc.tasks.mathdata import MathDataTask
            return MathDataTask(kind=self.name, path=self.path, train_path=self.train_path, ood_path=self.ood_path,
                                prompt=self.prompt, fewshot=self.fewshot, tokenizer=self.tokenizer, n_test=self.n_test)
        if self.path or self.train_path or self.ood_path or self.tokenizer:
            raise ConfigError(f"task.path/train_path/ood_path/tokenizer are for file tasks ({', '.join(FILE_TASKS)}); "
                              f"task.name={self.name!r} generates its problems: drop them")
        if self.name not in TASKS:
            raise ConfigError(f"task.name={self.name!r} is unknown; use one of {', '.join([*TASKS, *FILE_TASKS])}")
        task_cls, spec_cls = TASKS[self.name]
        default = task_cls()
        train = _merge(default.train, self.train, "task.train")
        ood = _merge(default.ood, self.ood, "task.ood")
        return task_cls(train=train, ood=ood, n_train=self.n_train, n_test=self.n_test, n_ood=self.n_ood,
                        seed=self.seed)
