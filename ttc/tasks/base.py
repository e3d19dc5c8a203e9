"""The task abstraction: problems by split, answer extraction, exact answer and step checking.

A task turns a seed into problems (prompt text + gold answer) and judges sampled solutions. Every
task answers the same questions about a solution text, so pools, verifiers and selection rules never
need to know which task produced them:

- ``extract_answer(text)`` → canonical answer string, or ``INVALID`` (None) when there is none;
- ``check_answer(problem, answer)`` → bool;
- ``check_steps(problem, text)`` → per-step correctness and the first wrong step (or None when the task
  has no step checker, e.g. a real dataset);
- ``step_ends(text)`` → character offsets where each step ends (where a PRM reads its score).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

INVALID: None = None  # the explicit "no answer could be extracted" marker
SPLITS = ("train", "test", "ood")


class TaskSpecError(ValueError):
    """A task was asked for with impossible parameters; the message names the parameter and the fix."""


def require(ok: bool, message: str) -> None:
    """Raise ``TaskSpecError(message)`` unless ``ok`` (spec validation reads as a list of requirements)."""
    if not ok:
        raise TaskSpecError(message)


@dataclass(frozen=True)
class Problem:
    problem_id: int
    prompt: str  # the text the generator continues
    answer: str  # canonical gold answer
    n_steps: int  # steps in a minimal correct solution
    meta: dict = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class StepCheck:
    step_correct: tuple[bool, ...]  # one entry per written step
    first_wrong_step: int  # index into step_correct, -1 when every step is correct
    complete: bool  # every quantity the answer needs was derived by a correct step

    @property
    def all_correct(self) -> bool:
        return self.first_wrong_step == -1


@runtime_checkable
class Task(Protocol):
    name: str

    def problems(self, split: str) -> list[Problem]: ...

    def extract_answer(self, text: str) -> str | None: ...

    def check_answer(self, problem: Problem, answer: str | None) -> bool: ...

    def check_steps(self, problem: Problem, text: str) -> StepCheck | None: ...

    def step_ends(self, text: str) -> list[int]: ...

    def gold_solution(self, problem: Problem, seed: int) -> str: ...

    def spec_dict(self) -> dict: ...


def check_split(split: str) -> None:
    if split not in SPLITS:
        raise TaskSpecError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")


def process_correct(is_correct: bool, check: StepCheck | None) -> bool | None:
    """Right answer reached by an all-correct, complete derivation (None when steps can't be checked)."""
    if check is None:
        return None
    return bool(is_correct and check.all_correct and check.complete and len(check.step_correct) > 0)


def lucky_share(is_correct: Sequence[bool], is_process_correct: Sequence[bool]) -> float:
    """Share of right answers whose reasoning was wrong ("right answer, wrong process")."""
    right = [p for c, p in zip(is_correct, is_process_correct) if c]
    return float("nan") if not right else 1.0 - sum(right) / len(right)


STEP_SEP, ANSWER_MARK = ";", "#"  # the built-in tasks' step separator and final-answer marker


class GeneratedTask:
    """What the built-in generated tasks share: seeded splits, the ``#a,b`` answer, ``;``-separated steps.

    A subclass is a frozen dataclass with fields ``train``, ``ood`` (specs with ``modulus``),
    ``n_train``, ``n_test``, ``n_ood``, ``seed``, ``name``; it defines ``n_answers`` and
    ``make_problem(spec, rng, problem_id)``.
    """

    if TYPE_CHECKING:  # the subclass's dataclass fields
        name: str
        train: Any
        ood: Any
        n_train: int
        n_test: int
        n_ood: int
        seed: int

    @property
    def n_answers(self) -> int:
        raise NotImplementedError

    def make_problem(self, spec, rng: np.random.Generator, problem_id: int) -> Problem:
        raise NotImplementedError

    def problems(self, split: str) -> list[Problem]:
        """The split's problems, generated once per task object (frozen tasks: the result never changes)."""
        check_split(split)
        memo = self.__dict__.setdefault("_problems", {})
        if split not in memo:
            memo[split] = self._generate(split)
        return memo[split]

    def _generate(self, split: str) -> list[Problem]:
        spec = self.ood if split == "ood" else self.train
        count = {"train": self.n_train, "test": self.n_test, "ood": self.n_ood}[split]
        # Each split has its own stream; held-out prompts that also occur in train are dropped, and no
        # prompt repeats within a split.
        rng = np.random.default_rng([self.seed, {"train": 0, "test": 1, "ood": 2}[split]])
        seen = set() if split == "train" else {p.prompt for p in self.problems("train")}
        out: list[Problem] = []
        while len(out) < count:
            prob = self.make_problem(spec, rng, len(out))
            if prob.prompt not in seen:
                seen.add(prob.prompt)
                out.append(prob)
        return out

    # bump when generation code changes the problems a spec produces (spec_dict, and so every cache key
    # built on it, changes with it)
    generation_version: int = 1

    def spec_dict(self) -> dict:
        return {"name": self.name, "generation_version": self.generation_version, "train": asdict(self.train), "ood": asdict(self.ood), "n_train": self.n_train,
                "n_test": self.n_test, "n_ood": self.n_ood, "seed": self.seed}

    def extract_answer(self, text: str) -> str | None:
        if text.count(ANSWER_MARK) != 1:
            return INVALID
        parts = text.split(ANSWER_MARK, 1)[1].split(",")
        if len(parts) != self.n_answers or not all(p.isdigit() and len(p) <= 6 for p in parts):
            return INVALID
        values = [int(p) for p in parts]
        if any(v >= self.train.modulus for v in values):
            return INVALID
        return ",".join(str(v) for v in values)

    def check_answer(self, problem: Problem, answer: str | None) -> bool:
        return answer is not None and answer == problem.answer

    def step_texts(self, text: str) -> list[str]:
        body = text.split(ANSWER_MARK, 1)[0]
        return body.split(STEP_SEP) if body else []

    def step_ends(self, text: str) -> list[int]:
        """Offset (exclusive) of each step's last character; a PRM reads its score there."""
        ends, pos = [], 0
        for step in self.step_texts(text):
            pos += len(step)
            ends.append(pos)
            pos += 1  # the separator
        return ends
