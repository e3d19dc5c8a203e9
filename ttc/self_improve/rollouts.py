"""Sampling a generator on a set of problems and judging every sample exactly: the raw material of
STaR's filter, of the policy-gradient batches and of every evaluation in ``ttc.self_improve``.

Unlike a pool (``ttc.pools``) a rollout batch is not cached: it is drawn from a model that changes
between calls. It keeps the sampled token ids, which the policy gradient scores again with autograd.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ttc.pools import judge
from ttc.sampling import sample
from ttc.tasks.base import Problem, Task
from ttc.tokenizer import Codec


@dataclass(frozen=True)
class Rollouts:
    """``k`` samples of each of ``problems``, judged; row order = problem-major (``group`` = problem index)."""

    frame: pd.DataFrame  # group, problem_id, prompt, text, answer, is_correct, process_correct, step_correct, ...
    tokens: list[np.ndarray]  # the sampled token ids of each row (EOS excluded)
    prompt_ids: list[list[int]]  # encoded prompt of each group
    sampled_tokens: int  # prompt tokens (once per problem) + generated tokens: what sampling ran through

    @property
    def groups(self) -> np.ndarray:
        return self.frame["group"].to_numpy()


def hint_prompt(problem: Problem) -> str:
    """STaR's rationalization prompt: the problem with its gold answer given as a hint. The registers
    task's ``x=3:+4;y=5:-1?`` becomes ``x=3:+4;y=5:-1|7,4?`` (the answer before the closing ``?``); any
    other prompt gets `` |<answer>`` appended. Never a training prompt: rationales found with it are
    trained on under the plain prompt (``ttc.self_improve.star``)."""
    if problem.prompt.endswith("?"):
        return f"{problem.prompt[:-1]}|{problem.answer}?"
    return f"{problem.prompt} |{problem.answer}"


def rollouts(model, codec: Codec, task: Task, problems: Sequence[Problem], *, k: int, seed: int,
             max_new_tokens: int, temperature: float = 1.0, prompts: Sequence[str] | None = None) -> Rollouts:
    """``k`` samples of each problem at ``temperature`` (prompts: the problems' own unless given, e.g.
    ``hint_prompt``), judged against the problems' gold answers and step checker."""
    texts_in = [p.prompt for p in problems] if prompts is None else list(prompts)
    if len(texts_in) != len(problems):
        raise ValueError("rollouts: give one prompt per problem")
    prompt_ids = codec.encode_prompts(texts_in)
    out = sample(model, prompt_ids, n_samples=k, temperature=temperature, max_new_tokens=max_new_tokens,
                 eos_token_id=codec.eos_id, seed=seed)
    texts = [codec.decode(t) for t in out.tokens]
    group = np.asarray(out.prompt_index, dtype=np.int64)
    frame = pd.DataFrame({"group": group, "problem_id": [problems[g].problem_id for g in group],
                          "prompt": [problems[g].prompt for g in group], "text": texts,
                          "finished": np.asarray(out.finished, dtype=bool),
                          "gen_tokens": np.asarray(out.gen_tokens, dtype=np.int64),
                          "prompt_tokens": np.array([len(prompt_ids[g]) for g in group], dtype=np.int64)})
    judged = judge(task, list(problems), group, texts)
    for key, values in judged.items():
        frame[key] = values
    # a task without a step checker has no process-correctness: it counts as the answer's
    frame["process_correct"] = [ok if pc is None else bool(pc) for ok, pc in zip(frame["is_correct"],
                                                                                frame["process_correct"])]
    return Rollouts(frame=frame, tokens=list(out.tokens), prompt_ids=prompt_ids,
                    sampled_tokens=int(out.prompt_tokens_processed + out.gen_tokens.sum()))
