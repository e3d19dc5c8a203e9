"""Partial solutions and how they grow: search nodes, exact compute counts, batched one-step expansion.

A *step* is what the task separates with its step separator (``;`` for the built-in tasks): the
generator continues a partial solution until it writes the separator (the step is complete, the node
stays open), EOS (the solution is finished), or ``max_step_tokens`` / ``max_tokens`` run out (the
node is closed unfinished). Every expansion of every live node of every problem at one depth is one
``ttc.sampling.sample`` call: each distinct prefix (prompt + partial solution) is run through the
model once and its KV cache serves all its M children, so a prefix's prefill is counted once per
expansion. The cache is not kept from one depth to the next: the next expansion prefills the grown
prefix again, and the counts say so (``prefill_tokens``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ttc.sampling import sample
from ttc.tasks.base import STEP_SEP, Problem, Task
from ttc.tokenizer import Codec


@dataclass
class Node:
    """A partial (or finished) solution of one problem."""

    text: str  # the solution so far (prompt excluded)
    depth: int  # completed steps written (a finished node's answer step included)
    terminal: bool = False  # no further steps: finished, or out of tokens
    finished: bool = False  # EOS was written
    tokens: int = 0  # solution tokens (EOS excluded)
    parent: int = -1  # index of the parent in its problem's node list; -1 for the root
    logprobs: tuple[float, ...] = ()  # generator log-probability of each step (nats; EOS included)
    step_tokens: tuple[int, ...] = ()  # tokens of each step (EOS counted)
    scores: tuple[float, ...] | None = None  # the value function's per-step scores, once scored
    children: list[int] = field(default_factory=list)
    visits: int = 0  # MCTS statistics
    value_sum: float = 0.0


@dataclass
class Spend:
    """Exact work done for one problem: every token through the generator and the value function."""

    prefill_tokens: int = 0  # prefix tokens (prompt + partial solution) run through the generator
    gen_tokens: int = 0  # tokens generated (EOS counted)
    value_tokens: int = 0  # tokens run through the value function (prompt + prefix, per scored prefix)
    value_calls: int = 0  # prefixes scored
    expansions: int = 0  # nodes expanded (one prefill each)
    steps_drawn: int = 0  # children drawn

    def add(self, other: Spend) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


def step_separator(task: Task) -> str:
    """The task's step separator (``step_separator`` attribute, else the built-in tasks' ``;``)."""
    return str(getattr(task, "step_separator", STEP_SEP))


def stream_seed(seed: int, *salt: int) -> int:
    """A 63-bit seed for one expansion round, derived from the run's seed."""
    return int(np.random.SeedSequence([seed, *salt]).generate_state(2, np.uint64)[0] >> np.uint64(1))


class Expander:
    """Draws one step for many nodes at once, counting every token per problem."""

    def __init__(self, model, codec: Codec, task: Task, problems: Sequence[Problem], *, temperature: float,
                 max_step_tokens: int, max_tokens: int, seed: int, max_batch: int = 1024):
        sep = codec.encode_text(step_separator(task))
        if len(sep) != 1:
            raise ValueError(f"the step separator {step_separator(task)!r} must be one token of the tokenizer")
        self.model, self.codec, self.task = model, codec, task
        self.stop_id = int(sep[0])
        self.prompt_ids = codec.encode_prompts([p.prompt for p in problems])
        self.temperature, self.max_step_tokens, self.max_tokens = temperature, max_step_tokens, max_tokens
        self.seed, self.max_batch, self.rounds = seed, max_batch, 0
        self.spend = [Spend() for _ in problems]

    def root(self) -> Node:
        return Node(text="", depth=0)

    def expand(self, requests: Sequence[tuple[int, Node]], m: int, *, temperature: float | None = None) -> list[list[Node]]:
        """``m`` children of each (problem index, node), in request order (one sampling call)."""
        if not requests:
            return []
        if any(node.terminal for _, node in requests):
            raise ValueError("cannot expand a terminal node")
        prompts = [self.prompt_ids[p] + self.codec.encode_text(node.text).tolist() for p, node in requests]
        t = self.temperature if temperature is None else temperature
        out = sample(self.model, prompts, n_samples=m, temperature=t, max_new_tokens=self.max_step_tokens,
                     eos_token_id=self.codec.eos_id, seed=stream_seed(self.seed, self.rounds),
                     max_batch=self.max_batch, stop_token_ids=[self.stop_id])
        self.rounds += 1
        children: list[list[Node]] = []
        for r, (p, node) in enumerate(requests):
            spend = self.spend[p]
            spend.prefill_tokens += len(prompts[r])
            spend.expansions += 1
            kids = []
            for j in range(r * m, (r + 1) * m):
                ids = out.tokens[j]
                fin = bool(out.finished[j])
                step_done = fin or (len(ids) > 0 and int(ids[-1]) == self.stop_id)
                tokens = node.tokens + len(ids)
                spend.gen_tokens += int(out.gen_tokens[j])
                spend.steps_drawn += 1
                kids.append(Node(text=node.text + self.codec.decode(ids), depth=node.depth + 1,
                                 terminal=fin or not step_done or tokens >= self.max_tokens, finished=fin,
                                 tokens=tokens, logprobs=node.logprobs + (float(out.logprob[j]),),
                                 step_tokens=node.step_tokens + (int(out.gen_tokens[j]),)))
            children.append(kids)
        return children

    def complete(self, requests: Sequence[tuple[int, Node]]) -> list[Node]:
        """Greedy rollouts of open nodes to a terminal node (a fallback when a budget ends mid-search)."""
        current = list(requests)
        while True:
            todo = [i for i, (_, n) in enumerate(current) if not n.terminal]
            if not todo:
                return [n for _, n in current]
            kids = self.expand([current[i] for i in todo], 1, temperature=0.0)
            for i, (kid,) in zip(todo, kids):
                current[i] = (current[i][0], kid)
