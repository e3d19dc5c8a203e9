"""STaR (Zelikman et al. 2022): keep the generator's own solutions that reach the right answer, add
rationalized ones for the problems it failed, finetune the *original* model on them, repeat.

Rationalization samples again with the gold answer given as a hint in the prompt (``hint_prompt``)
and keeps a rationale that reaches it; that rationale is trained on under the problem's *plain*
prompt, never the hinted one. The ``process`` filter keeps only solutions the exact step checker
accepts, which removes the lucky right answers (right answer, wrong steps) the answer filter keeps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ttc.self_improve.rollouts import hint_prompt, rollouts
from ttc.tasks.base import Problem, Task
from ttc.tokenizer import Codec

FILTERS = ("answer", "process")


@dataclass(frozen=True)
class StarConfig:
    iterations: int = 3
    problems: int = 1000  # train problems sampled each iteration (the same ones every iteration, as in STaR)
    samples: int = 4  # K solutions per problem
    rationalize: bool = True  # sample the failed problems again with the answer as a hint
    filter: str = "answer"  # answer: right final answer | process: every step right (the exact checker)
    tokens: int = 200_000  # finetuning tokens of the first iteration
    growth: float = 1.2  # ... times this per later iteration (STaR: +20% training steps per iteration)
    seed: int = 0

    def validate(self) -> None:
        for key in ("iterations", "problems", "samples", "tokens"):
            if getattr(self, key) < 1:
                raise ValueError(f"star.{key}={getattr(self, key)} must be >= 1")
        if self.filter not in FILTERS:
            raise ValueError(f"star.filter={self.filter!r} is unknown; use one of {', '.join(FILTERS)}")
        if self.growth < 1:
            raise ValueError(f"star.growth={self.growth} must be >= 1")


def keep(frame: pd.DataFrame, by: str = "answer") -> pd.DataFrame:
    """The rows a STaR filter keeps: a right final answer (``answer``) or a right answer reached by
    right steps only (``process``)."""
    if by not in FILTERS:
        raise ValueError(f"unknown filter {by!r}; use one of {', '.join(FILTERS)}")
    return frame[frame["process_correct" if by == "process" else "is_correct"].astype(bool)]


def star_examples(model, codec: Codec, task: Task, problems: list[Problem], cfg: StarConfig, *, iteration: int,
                  max_new_tokens: int) -> tuple[list[tuple[str, str]], dict]:
    """One STaR iteration's training set from ``model``: (plain prompt, kept solution) pairs, and its
    counts (kept, rationalized, tokens sampled)."""
    seed = int(np.random.default_rng([cfg.seed, iteration]).integers(2**31))
    ro = rollouts(model, codec, task, problems, k=cfg.samples, seed=seed, max_new_tokens=max_new_tokens)
    kept = keep(ro.frame, cfg.filter)
    examples = [(p, t) for p, t in zip(kept["prompt"], kept["text"])]
    stats = {"sampled": len(ro.frame), "kept": len(kept), "problems_solved": int(kept["group"].nunique()),
             "rationalized": 0, "hint_sampled": 0, "hint_kept_rate": float("nan"),
             "sample_tokens": ro.sampled_tokens, "kept_lucky": int((kept["is_correct"] & ~kept["process_correct"]).sum())}
    if cfg.rationalize:
        failed = sorted(set(range(len(problems))) - set(kept["group"]))
        if failed:
            hard = [problems[i] for i in failed]
            hinted = rollouts(model, codec, task, hard, k=cfg.samples, seed=seed + 1, max_new_tokens=max_new_tokens,
                              prompts=[hint_prompt(p) for p in hard])
            found = keep(hinted.frame, cfg.filter)
            # trained under the plain prompt: the hint never reaches the training set
            examples += [(hard[g].prompt, t) for g, t in zip(found["group"], found["text"])]
            stats.update(rationalized=len(found), hint_sampled=len(hinted.frame),
                         hint_kept_rate=float(len(found) / len(hinted.frame)),
                         sample_tokens=stats["sample_tokens"] + hinted.sampled_tokens,
                         kept_lucky=stats["kept_lucky"] + int((found["is_correct"] & ~found["process_correct"]).sum()))
    return examples, stats


def example_draw(examples: list[tuple[str, str]]):
    """A ``ttc.train.Draw`` over a fixed training set: uniform with replacement."""
    if not examples:
        raise ValueError("STaR kept no solution: nothing to finetune on (sample more, or start from a better model)")

    def draw(rng: np.random.Generator, n: int) -> tuple[list[str], list[str]]:
        idx = rng.integers(len(examples), size=n)
        return [examples[i][0] for i in idx], [examples[i][1] for i in idx]
    return draw
