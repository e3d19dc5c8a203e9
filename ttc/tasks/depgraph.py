"""The embedded default task: dependency-graph arithmetic ("depgraph"), in the spirit of iGSM.

A problem defines named quantities, some given (``c=5``) and some derived from two others
(``b=a+c``), listed in shuffled order, and asks for one or more target quantities. A solution derives
the needed quantities one per step, in any order where each step's operands are already known, copying
the definition, the operand values and the result modulo ``modulus``::

    prompt:    c=5,e=d+a,a=3,b=c+a,d=b-c,x=a+c,f=b+d?e,f:
    solution:  b=c+a=5+3=8;d=b-c=8-5=3;e=d+a=3+3=6;f=b+d=8+3=1#6,1

Why this design (see the core-pipeline issue): several valid orders give several correct strings per
problem; only + and - are used, so a single wrong step always changes every target that depends on it
(no x*0 collapses), which keeps "lucky" right answers rare; asking for ``n_targets`` quantities makes
the answer space ``modulus ** n_targets`` while each step stays a one-digit lookup; unneeded
("distractor") quantities make the model plan, and a wrong step on one of them is a measurable
"right answer, wrong process".

A step is correct iff it derives a quantity the question defines, not derived before, restating its
definition, whose operands are given or derived earlier in the solution, copying the operands' true
values and applying the question's operation with the right result. (Restating the definition turns
each value lookup into a one-hop copy, which small models learn far faster than the two-hop
"find b's definition, then its operands' values" of the bare ``b=5+3=8`` format.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ttc.tasks.base import ANSWER_MARK, STEP_SEP, GeneratedTask, Problem, StepCheck, TaskSpecError, require

NAMES = "abcdefghijklmnopqrstuvwxyz"
OPS = "+-"
PROMPT_END, DEF_SEP, QUESTION_MARK = ":", ",", "?"
_STEP_RE = re.compile(r"^([a-z])=([a-z])([+\-])([a-z])=(\d+)([+\-])(\d+)=(\d+)$")


@dataclass(frozen=True)
class DepGraphSpec:
    """Difficulty knobs of the depgraph task (one split's distribution)."""

    min_steps: int = 2  # needed derived quantities = steps of a minimal solution
    max_steps: int = 6
    n_targets: int = 2  # quantities asked for; answer space = modulus ** n_targets
    modulus: int = 10  # values live in [0, modulus)
    min_distractors: int = 0  # derived quantities no target depends on
    max_distractors: int = 2
    min_givens: int = 2  # given constants
    max_givens: int = 4
    ops: str = "+-"

    def validate(self) -> None:
        require(self.modulus >= 2, f"modulus={self.modulus} must be >= 2")
        require(self.n_targets >= 1, f"n_targets={self.n_targets} must be >= 1")
        require(1 <= self.min_steps <= self.max_steps, f"need 1 <= min_steps <= max_steps, got "
             f"{self.min_steps}..{self.max_steps}")
        require(self.min_steps >= self.n_targets, f"min_steps={self.min_steps} must be >= n_targets="
             f"{self.n_targets} (each target is a derived quantity)")
        require(0 <= self.min_distractors <= self.max_distractors,
             f"need 0 <= min_distractors <= max_distractors, got {self.min_distractors}..{self.max_distractors}")
        require(2 <= self.min_givens <= self.max_givens,
             f"need 2 <= min_givens <= max_givens, got {self.min_givens}..{self.max_givens}")
        require(self.ops != "" and set(self.ops) <= set(OPS), f"ops={self.ops!r}: use a non-empty subset of {OPS!r}")
        total = self.max_steps + self.max_distractors + self.max_givens
        require(total <= len(NAMES), f"max_steps + max_distractors + max_givens = {total} exceeds the "
             f"{len(NAMES)} available names; lower one of them")


@dataclass(frozen=True)
class DepGraphTask(GeneratedTask):
    """Problems for every split, generated deterministically from ``seed``."""

    train: DepGraphSpec = DepGraphSpec()
    ood: DepGraphSpec = DepGraphSpec(min_distractors=3, max_distractors=5, max_givens=5)
    n_train: int = 20_000
    n_test: int = 500
    n_ood: int = 500
    seed: int = 0
    name: str = "depgraph"

    def __post_init__(self) -> None:
        self.train.validate()
        self.ood.validate()
        if self.ood.n_targets != self.train.n_targets or self.ood.modulus != self.train.modulus:
            raise TaskSpecError("ood must keep train's n_targets and modulus (it changes difficulty, not format)")
        for key in ("n_train", "n_test", "n_ood"):
            if getattr(self, key) < 1:
                raise TaskSpecError(f"{key}={getattr(self, key)} must be >= 1")

    @property
    def n_answers(self) -> int:
        return self.train.n_targets

    def make_problem(self, spec, rng: np.random.Generator, problem_id: int) -> Problem:
        return _make_problem(spec, rng, problem_id)

    def check_steps(self, problem: Problem, text: str) -> StepCheck:
        defs: dict[str, tuple] = problem.meta["defs"]
        values: dict[str, int] = problem.meta["values"]
        known = {n for n, d in defs.items() if d[0] == "given"}
        derived: set[str] = set()
        flags: list[bool] = []
        for step in self.step_texts(text):
            match = _STEP_RE.match(step)
            ok = match is not None
            if match is not None:
                name, a, op, b, x, op2, y, r = match.groups()
                d = defs.get(name)
                ok = (d is not None and d[0] == "derived" and name not in derived
                      and (a, op, b) == d[1:] and op2 == op and a in known and b in known
                      and int(x) == values[d[1]] and int(y) == values[d[3]] and int(r) == values[name])
                if ok:
                    derived.add(name)
                    known.add(name)
            flags.append(ok)
        first = next((i for i, f in enumerate(flags) if not f), -1)
        complete = set(problem.meta["needed"]) <= derived
        return StepCheck(step_correct=tuple(flags), first_wrong_step=first, complete=complete)

    def gold_solution(self, problem: Problem, seed: int) -> str:
        """A correct solution in a uniformly random valid order (seeded)."""
        rng = np.random.default_rng(seed)
        defs, values = problem.meta["defs"], problem.meta["values"]
        todo = list(problem.meta["needed"])
        known = {n for n, d in defs.items() if d[0] == "given"}
        steps = []
        while todo:
            ready = [n for n in todo if defs[n][1] in known and defs[n][3] in known]
            name = ready[rng.integers(len(ready))]
            _, a, op, b = defs[name]
            steps.append(f"{name}={a}{op}{b}={values[a]}{op}{values[b]}={values[name]}")
            known.add(name)
            todo.remove(name)
        return STEP_SEP.join(steps) + ANSWER_MARK + problem.answer

    def with_sizes(self, **sizes: Any) -> DepGraphTask:
        return replace(self, **sizes)


def _make_problem(spec: DepGraphSpec, rng: np.random.Generator, problem_id: int) -> Problem:
    m = spec.modulus
    while True:
        n_steps = int(rng.integers(spec.min_steps, spec.max_steps + 1))
        n_givens = int(rng.integers(spec.min_givens, spec.max_givens + 1))
        n_distract = int(rng.integers(spec.min_distractors, spec.max_distractors + 1))
        nodes: list[tuple] = [("given",)] * n_givens  # index-based graph first, names later
        consumed = [False] * n_givens
        for _ in range(n_steps):
            # Two distinct operands (x-x would hide errors in x); prefer operands nobody uses yet, so
            # the needed quantities form one connected problem.
            w = np.array([3.0 if not c else 1.0 for c in consumed])
            a, b = rng.choice(len(nodes), size=2, replace=False, p=w / w.sum())
            nodes.append(("derived", int(a), spec.ops[rng.integers(len(spec.ops))], int(b)))
            consumed[a] = consumed[b] = True
            consumed.append(False)
        sinks = [i for i in range(n_givens, len(nodes)) if not consumed[i]]
        if len(sinks) != spec.n_targets:
            continue  # every derived quantity must feed a target: reject and redraw
        for _ in range(n_distract):
            a, b = rng.choice(len(nodes), size=2, replace=False)
            nodes.append(("derived", int(a), spec.ops[rng.integers(len(spec.ops))], int(b)))
        break
    names = list(rng.permutation(list(NAMES))[: len(nodes)])
    vals: list[int] = []
    for node in nodes:
        if node[0] == "given":
            vals.append(int(rng.integers(m)))
        else:
            x, y = vals[node[1]], vals[node[3]]
            vals.append((x + y) % m if node[2] == "+" else (x - y) % m)
    defs: dict[str, tuple] = {names[i]: (("given", vals[i]) if n[0] == "given" else ("derived", names[n[1]], n[2], names[n[3]]))
            for i, n in enumerate(nodes)}
    values = {names[i]: vals[i] for i in range(len(nodes))}
    targets = [names[i] for i in rng.permutation(sinks)]
    needed = [names[i] for i in range(n_givens, n_givens + n_steps)]
    order = rng.permutation(len(nodes))
    statement = DEF_SEP.join(
        f"{names[i]}={vals[i]}" if nodes[i][0] == "given"
        else f"{names[i]}={defs[names[i]][1]}{defs[names[i]][2]}{defs[names[i]][3]}" for i in order)
    prompt = f"{statement}{QUESTION_MARK}{','.join(targets)}{PROMPT_END}"
    answer = ",".join(str(values[t]) for t in targets)
    meta = {"defs": defs, "values": values, "targets": targets, "needed": needed, "n_distractors": n_distract}
    return Problem(problem_id=problem_id, prompt=prompt, answer=answer, n_steps=n_steps, meta=meta)
