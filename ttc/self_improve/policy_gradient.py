"""Policy-gradient fine-tuning of a generator against an exact, outcome or process reward.

The estimator is REINFORCE with a group baseline (RLOO, Ahmadian et al. 2024; GRPO's group mean,
Shao et al. 2024, without its std scaling): each problem gets a group of G samples, and a sample's
advantage is its reward minus the mean reward of the *other* G - 1 samples of its group, which keeps
the gradient unbiased. A KL penalty to the starting model (the k3 estimator, Schulman 2020) anchors the
policy. Process rewards (a PRM's per-step scores) follow DeepSeekMath's process supervision: every
step reward is normalised over the group's steps and a token's advantage is the sum of the normalised
rewards of its step and the steps after it.

One update per batch (on-policy), so the importance ratio is 1 and no clipping is needed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

REWARDS = ("exact", "orm", "prm")


@dataclass(frozen=True)
class RLConfig:
    reward: str = "exact"  # exact (the answer checker) | orm | prm (the generator's own trained verifiers)
    steps: int = 60  # policy updates
    problems_per_step: int = 16  # train problems per update (a fresh slice each step)
    group: int = 8  # G samples per problem
    lr: float = 1e-4  # constant after a short warmup
    warmup_steps: int = 5
    kl: float = 0.05  # beta of the KL penalty to the start model
    grad_clip: float = 1.0
    temperature: float = 1.0
    eval_every: int = 20  # evaluate (and cache the state) every this many updates
    seed: int = 0

    def validate(self) -> None:
        if self.reward not in REWARDS:
            raise ValueError(f"rl.reward={self.reward!r} is unknown; use one of {', '.join(REWARDS)}")
        for key in ("steps", "problems_per_step", "eval_every"):
            if getattr(self, key) < 1:
                raise ValueError(f"rl.{key}={getattr(self, key)} must be >= 1")
        if self.group < 2:
            raise ValueError(f"rl.group={self.group} must be >= 2 (the baseline is the rest of the group)")
        if not 0 < self.lr < 1:
            raise ValueError(f"rl.lr={self.lr} must be in (0, 1)")
        if self.kl < 0 or self.temperature <= 0:
            raise ValueError("rl.kl must be >= 0 and rl.temperature > 0")


def rloo_advantages(rewards: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """[S] reward minus the mean reward of the other samples of the same group (leave-one-out)."""
    rewards = np.asarray(rewards, dtype=np.float64)
    codes, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    if counts.min() < 2:
        raise ValueError("rloo_advantages: every group needs at least 2 samples")
    totals = np.bincount(inverse, weights=rewards, minlength=len(codes))
    n = counts[inverse]
    return rewards - (totals[inverse] - rewards) / (n - 1)


def process_advantages(step_rewards: list[np.ndarray], groups: np.ndarray) -> list[np.ndarray]:
    """Per-step advantages from per-step rewards: each reward normalised by the mean and std of all step
    rewards in its group, then summed from that step to the last (a step is credited with what follows it)."""
    groups = np.asarray(groups)
    out: list[np.ndarray] = [np.zeros(0)] * len(step_rewards)
    for g in np.unique(groups):
        rows = np.flatnonzero(groups == g)
        pooled = np.concatenate([np.asarray(step_rewards[r], dtype=np.float64) for r in rows])
        mu, sd = pooled.mean(), pooled.std()
        for r in rows:
            z = (np.asarray(step_rewards[r], dtype=np.float64) - mu) / (sd + 1e-6)
            out[r] = np.cumsum(z[::-1])[::-1]
    return out


def pg_loss(logp: Tensor, advantages: Tensor, ref_logp: Tensor | None = None, kl: float = 0.0) -> Tensor:
    """Mean over tokens of -advantage * log pi(token) + kl * k3(pi || ref).

    ``logp``: log-probabilities of the sampled tokens under the policy (with autograd), ``advantages``
    their advantages (constants), ``ref_logp`` their log-probabilities under the reference model. k3 =
    exp(ref - logp) - (ref - logp) - 1 is an unbiased, non-negative per-token KL estimate."""
    loss = -(advantages.detach() * logp)
    if ref_logp is not None and kl > 0:
        d = ref_logp.detach() - logp
        loss = loss + kl * (torch.exp(d) - d - 1)
    return loss.mean()


def token_advantages(seq_adv: np.ndarray | None, step_adv: list[np.ndarray] | None, seg_end: np.ndarray,
                     n_segments: np.ndarray, solution_start: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Advantages of every scored token, in the row-major order of a right-padded batch: a sequence-level
    advantage repeated over the sample's tokens, or per-step ones spread over each step's tokens
    (``seg_end``: a layout's token position of each segment's last token, ``ttc.verifiers.labels``)."""
    out = []
    for r in range(len(lengths)):
        n_tok = int(lengths[r] - solution_start[r])
        if step_adv is None:
            assert seq_adv is not None
            out.append(np.full(n_tok, seq_adv[r]))
            continue
        adv = np.zeros(n_tok)
        ends = seg_end[r, : n_segments[r]] - solution_start[r]
        lo = 0
        for j, end in enumerate(ends):
            hi = int(end) + 1
            if hi > lo:
                adv[lo:hi] = step_adv[r][j]
                lo = hi
        out.append(adv)
    return np.concatenate(out) if out else np.zeros(0)
