"""Value functions of partial solutions: what a search uses to decide which prefix to extend.

Each value function scores a batch of nodes with per-step scores in [0, 1] (one per completed step;
a finished node's last step includes its answer) and says how many tokens it ran through a model:

* ``VerifierValue``: a trained ``ValueHeadLM`` (ttc's PRM trained on the exact checker's step labels
  or on Monte-Carlo rollout labels, or its ORM): the probability of each step given its prefix, read
  on the separator that closes the step (``ttc.verifiers.score``). The whole prefix is scored again
  at every depth (no KV cache kept), and the counts say so.
* ``LogprobValue``: the generator's own confidence, exp(mean log-prob per token) of each step. Free:
  recorded while the step was sampled.
* ``OracleValue``: the task's exact step checker (1 while every step is right, 0 from the first wrong
  one; the answer step by the final answer). It reads the gold answer, so it is a ceiling and the
  reference the tests check search against, never a test-time method.

``aggregate`` turns per-step scores into one value: ``prod`` (the probability that every step is
right), ``min`` (the weakest step) or ``last`` (the latest step's score), as in Snell et al. 2024.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from ttc.search.tree import Node, step_separator
from ttc.tasks.base import Problem, Task
from ttc.tokenizer import Codec
from ttc.verifiers.labels import layout
from ttc.verifiers.score import score_layout, score_shared, segment_sums

AGGREGATIONS = ("prod", "min", "last")


def aggregate(scores: Sequence[float], how: str) -> float:
    """One value from per-step scores (1.0 for a node with no step yet)."""
    if not len(scores):
        return 1.0
    if how == "prod":
        return float(np.prod(scores))
    if how == "min":
        return float(np.min(scores))
    if how == "last":
        return float(scores[-1])
    raise ValueError(f"unknown value aggregation {how!r}; use one of {', '.join(AGGREGATIONS)}")


class ValueFn(Protocol):
    name: str
    params: int  # P of the model it runs (ttc.compute convention); 0 when it runs none

    def score(self, problems: Sequence[Problem], nodes: Sequence[Node]) -> list[int]:
        """Set ``node.scores`` of each node; return the tokens run through a model for each."""
        ...


def prefix_text(text: str, sep: str) -> str:
    """The node's text without its last step (what its children share with their siblings)."""
    body = text[:-1] if text.endswith(sep) else text
    return text[: body.rfind(sep) + 1]


class VerifierValue:
    """A ``ValueHeadLM`` scoring every completed step of each prefix.

    Nodes that share a prefix (siblings: the text without their last step) are scored together: the
    prefix runs through the verifier once and its KV cache serves every sibling's last step, so a
    node costs its own step plus a share of its prefix (``shared_prefix=False``: every node's whole
    text, as ``score_layout`` on a pool). The counts returned are the tokens actually run."""

    def __init__(self, model, codec: Codec, task: Task, *, name: str, params: int, batch_size: int = 256,
                 shared_prefix: bool = True):
        self.model, self.codec, self.task = model, codec, task
        self.name, self.params, self.batch_size = name, params, batch_size
        self.shared_prefix = shared_prefix
        self.sep = step_separator(task)

    def score(self, problems: Sequence[Problem], nodes: Sequence[Node]) -> list[int]:
        if not nodes:
            return []
        lay = layout(self.task, self.codec, [p.prompt for p in problems], [n.text for n in nodes],
                     [n.finished for n in nodes])
        if self.shared_prefix:
            steps, used = self._shared(problems, nodes, lay)
        else:
            _, steps = score_layout(self.model, lay, batch_size=self.batch_size)
            used = [int(n) for n in lay.lengths]
        for node, s in zip(nodes, steps):
            # an open node's text ends with its separator: the segments after it are empty (score 1)
            node.scores = tuple(float(x) for x in (s if node.terminal else s[: node.depth]))
        return used

    def _shared(self, problems: Sequence[Problem], nodes: Sequence[Node], lay) -> tuple[list[np.ndarray], list[int]]:
        """Siblings share their text up to their last step: that prefix runs once (``score_shared``)."""
        prefix_len = np.zeros(len(nodes), dtype=np.int64)
        for i, (prob, node) in enumerate(zip(problems, nodes)):
            prompt_ids = self.codec.encode_prompts([prob.prompt])[0]
            ids = prompt_ids + self.codec.encode_text(prefix_text(node.text, self.sep)).tolist()
            # a tokenizer that merges across the cut: share the prompt only
            prefix_len[i] = len(ids) if np.array_equal(lay.input_ids[i, : len(ids)], ids) else len(prompt_ids)
        log_keep, used = score_shared(self.model, lay, prefix_len, batch_size=self.batch_size)
        steps = [np.exp(segment_sums(lk, lay.seg_end[i, : lay.n_segments[i]])) for i, lk in enumerate(log_keep)]
        return steps, used


class LogprobValue:
    """The generator's own per-step confidence: exp(step log-prob / step tokens)."""

    name, params = "logprob", 0

    def score(self, problems: Sequence[Problem], nodes: Sequence[Node]) -> list[int]:
        for node in nodes:
            node.scores = tuple(float(np.exp(lp / max(1, t))) for lp, t in zip(node.logprobs, node.step_tokens))
        return [0] * len(nodes)


class OracleValue:
    """The exact step checker (reads the gold answer: a ceiling, not a test-time method)."""

    name, params = "oracle", 0

    def __init__(self, task: Task):
        self.task = task

    def score(self, problems: Sequence[Problem], nodes: Sequence[Node]) -> list[int]:
        for prob, node in zip(problems, nodes):
            check = self.task.check_steps(prob, node.text)
            if check is None:
                raise ValueError(f"task {self.task.name!r} has no step checker: the oracle value needs one")
            flags = list(check.step_correct)[: node.depth]
            ok = 1.0
            scores = []
            for f in flags:
                ok = ok if f else 0.0
                scores.append(ok)
            if node.terminal:
                right = self.task.check_answer(prob, self.task.extract_answer(node.text))
                scores = scores[: node.depth - 1] + [ok * float(right) if scores else float(right)]
            node.scores = tuple(scores)
        return [0] * len(nodes)
