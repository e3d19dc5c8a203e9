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

from dataclasses import dataclass, field
from typing import Protocol, Sequence, runtime_checkable

INVALID: None = None  # the explicit "no answer could be extracted" marker
SPLITS = ("train", "test", "ood")


class TaskSpecError(ValueError):
    """A task was asked for with impossible parameters; the message names the parameter and the fix."""


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
