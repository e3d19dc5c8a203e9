"""Training a verifier: value-head BCE on the chosen labels plus the generator's own LM loss (Cobbe).

Pure: takes a model, a task and already built labels; returns losses. Data drawing, caching and
records live in ``ttc.verifiers.store``.

Losses (V_t = value after token t, p_k = probability of segment k given the prefix; see ``heads``):
- orm: BCE(V_t, outcome) at every solution token (Cobbe's token-level value function);
- prm / step labels: BCE(p_k, step label) for every labelled segment (up to the first wrong step);
- prm / mc labels: BCE(V at the end of segment k, rollout success fraction) (Snell's value targets);
- lm: next-token loss on fresh gold solutions of the train problems (the generator's original
  objective), weighted by ``lm_loss_weight``; it keeps the LM whose opinion the head reads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import Tensor

from ttc.tasks.base import Problem, Task
from ttc.tokenizer import Codec
from ttc.train import make_batch
from ttc.verifiers.labels import MASKED, Layout
from ttc.verifiers.score import segment_logs

KINDS = ("orm", "prm")
LABEL_SOURCES = {"orm": ("outcome",), "prm": ("step", "mc")}


@dataclass(frozen=True)
class VerifierSpec:
    kind: str = "prm"  # orm | prm
    label_source: str = ""  # orm: outcome; prm: step (exact checker) | mc (rollouts); "" = the first
    init_size: str | None = None  # size of the checkpoint the verifier starts from; None = the generator's
    samples_per_problem: int = 16  # K sampled solutions per training problem
    n_problems: int = 2000  # training problems (the first n of the train split)
    steps: int = 300  # optimiser steps
    batch_size: int = 64  # sampled solutions per step
    lr: float = 5e-4  # transformer
    head_lr: float = 3e-3  # value head
    lm_loss_weight: float = 1.0  # 0 turns the joint LM loss off
    # 0 = the LM-only control: the same gold-solution LM training with no verifier loss (the samples are
    # never read), i.e. the generator trained further on the verifier's gold stream; its head stays as built
    head_loss_weight: float = 1.0
    lm_batch_size: int = 16  # gold solutions per step for the LM loss
    mc_rollouts: int = 8  # M rollouts per step prefix (label_source = mc)
    head_width: int = 64
    use_features: bool = True  # feed the head the LM's per-token log-prob features
    # orm: "last" = BCE on the value at the last token only (the solution's score; every token still
    # gets a value, and a wrong solution must hold a bad token); "all" = on the value after every
    # solution token (Cobbe's token-level loss). With this product head "last" ranked better on both
    # generators measured (docs/verifiers.md), so it is the default.
    orm_tokens: str = "last"
    head_init: str = "likelihood"  # likelihood: start as a log-prob-gap scorer; flat: start indifferent
    n_val_problems: int = 200  # held-out train-split problems for the logged metrics
    # (problems, samples per problem) of the sampled train pool the data is cut from: the first n_problems
    # x samples_per_problem of it train, its last n_val_problems are held out. None = exactly
    # (n_problems + n_val_problems, samples_per_problem). A data sweep sets the largest point's pool, so
    # every point reuses one pool and is measured on the same held-out problems.
    pool: tuple[int, int] | None = None
    temperature: float = 1.0  # sampling of the training data
    max_new_tokens: int = 120
    seed: int = 0

    @property
    def pool_shape(self) -> tuple[int, int]:
        """(problems, samples per problem) of the train pool sampled for this spec."""
        if self.pool:
            return int(self.pool[0]), int(self.pool[1])
        return self.n_problems + self.n_val_problems, self.samples_per_problem

    @property
    def labels(self) -> str:
        return self.label_source or LABEL_SOURCES.get(self.kind, ("?",))[0]

    def validate(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"verifier.kind={self.kind!r}; use orm or prm")
        if self.labels not in LABEL_SOURCES[self.kind]:
            raise ValueError(f"verifier.label_source={self.label_source!r} does not fit kind={self.kind!r}; "
                             f"use one of {', '.join(LABEL_SOURCES[self.kind])}")
        for key in ("samples_per_problem", "n_problems", "steps", "batch_size", "mc_rollouts", "head_width",
                    "max_new_tokens", "lm_batch_size"):
            if getattr(self, key) < 1:
                raise ValueError(f"verifier.{key}={getattr(self, key)} must be >= 1")
        if self.pool is not None:
            if len(self.pool) != 2:
                raise ValueError(f"verifier.pool={self.pool!r}; use [problems, samples_per_problem] or leave it unset")
            n, k = self.pool
            if n < self.n_problems + self.n_val_problems or k < self.samples_per_problem:
                raise ValueError(f"verifier.pool={list(self.pool)} is smaller than the data it must hold: "
                                 f"n_problems + n_val_problems = {self.n_problems + self.n_val_problems} problems "
                                 f"x {self.samples_per_problem} samples; enlarge it or unset it")
        if self.orm_tokens not in ("all", "last"):
            raise ValueError(f"verifier.orm_tokens={self.orm_tokens!r}; use all or last")
        if not (0 < self.lr < 1 and 0 < self.head_lr < 1) or self.lm_loss_weight < 0:
            raise ValueError("verifier: lr and head_lr must be in (0, 1), lm_loss_weight >= 0")
        if self.head_loss_weight not in (0.0, 1.0):
            raise ValueError(f"verifier.head_loss_weight={self.head_loss_weight!r}; use 1 (a verifier) or 0 "
                             "(the LM-only control)")
        if self.head_loss_weight == 0 and self.lm_loss_weight == 0:
            raise ValueError("verifier: head_loss_weight = 0 and lm_loss_weight = 0 train nothing; set one of them")


MIN_DATA_STEPS = 20


def finetune_control(spec: VerifierSpec) -> VerifierSpec:
    """Cobbe's fine-tuning baseline at a verifier's training compute: ``spec``'s recipe (steps, learning
    rate, gold problems) with the verifier loss dropped and each step's ``batch_size`` sampled solutions
    replaced by as many more gold ones, started from the judged generator itself (``init_size`` unset):
    the generator fine-tuned on gold solutions for about the verifier's training tokens (and FLOPs, when
    the verifier too starts from the generator)."""
    return replace(spec, head_loss_weight=0.0, lm_batch_size=spec.batch_size + spec.lm_batch_size,
                   lm_loss_weight=1.0, init_size=None)


def data_point(spec: VerifierSpec, n_problems: int, samples_per_problem: int) -> VerifierSpec:
    """``spec`` trained on a smaller training set, for a verifier-data sweep (Cobbe 2021, Figure 5).

    The data are the first ``n_problems`` x ``samples_per_problem`` of ``spec``'s own train pool (so
    every point shares one pool and one held-out set), seen for one epoch: ``steps`` = one pass over
    the data, at least MIN_DATA_STEPS and at most ``spec.steps``; the full data gives ``spec`` itself. Compute thus grows with the data, as
    in Cobbe's sweep (fixed epochs per training set)."""
    n_pool, k_pool = spec.pool_shape
    if n_problems > spec.n_problems or samples_per_problem > k_pool:
        raise ValueError(f"verifier data point {n_problems} x {samples_per_problem} exceeds the verifier's own "
                         f"training data ({spec.n_problems} problems x {k_pool} samples); lower it or raise "
                         "verifiers.common.n_problems / samples_per_problem")
    if (n_problems, samples_per_problem) == (spec.n_problems, spec.samples_per_problem):
        return spec  # the full-data point is the verifier itself
    epoch = math.ceil(n_problems * samples_per_problem / spec.batch_size)
    return replace(spec, n_problems=n_problems, samples_per_problem=samples_per_problem, pool=(n_pool, k_pool),
                   steps=min(spec.steps, max(MIN_DATA_STEPS, epoch)))


def _log1mexp(x: Tensor) -> Tensor:
    """log(1 - exp(x)) for x < 0, stable at both ends."""
    x = x.clamp(max=-1e-6)
    return torch.where(x > -0.6931, torch.log(-torch.expm1(x)), torch.log1p(-torch.exp(x)))


def _bce_log(log_p: Tensor, target: Tensor) -> Tensor:
    return -(target * log_p + (1 - target) * _log1mexp(log_p))


def verifier_loss(out, kind: str, labels: str, sol: Tensor, ends: Tensor, targets: Tensor,
                  seg_tokens: Tensor, *, orm_tokens: str = "all") -> Tensor:
    """targets: [B] outcome labels (orm) or [B, K] segment labels with MASKED (prm)."""
    if kind == "orm" and orm_tokens == "last":  # log_value stays flat after the solution: column -1 is the end
        return _bce_log(out.log_value[:, -1], targets).mean()
    if kind == "orm":
        per_token = _bce_log(out.log_value, targets[:, None].expand_as(out.log_value)) * sol
        return (per_token.sum(1) / sol.sum(1).clamp(min=1)).mean()
    log_v = out.log_value.gather(1, ends)  # [B, K] value at each segment end
    log_p = segment_logs(out.log_value, ends) if labels == "step" else log_v
    use = (targets != MASKED) & (seg_tokens > 0)
    return (_bce_log(log_p, targets.clamp(min=0)) * use).sum() / use.sum().clamp(min=1)


def train_verifier(model, task: Task, codec: Codec, spec: VerifierSpec, lay: Layout, targets: np.ndarray,
                   gold_problems: list[Problem], *, progress: bool = False) -> dict:
    """Trains ``model`` (a ValueHeadLM) in place; returns loss traces and tokens processed."""
    spec.validate()
    rng = np.random.default_rng(spec.seed)
    torch.manual_seed(spec.seed)
    head = list(model.head.parameters()) + list(model.skip.parameters())
    body = [p for p in model.lm.parameters()]
    opt = torch.optim.AdamW([{"params": body, "lr": spec.lr, "weight_decay": 0.0},
                             {"params": head, "lr": spec.head_lr, "weight_decay": 0.0}], betas=(0.9, 0.98))
    base = [spec.lr, spec.head_lr]
    warm = max(1, spec.steps // 10)
    S = lay.input_ids.shape[0]
    order = np.concatenate([rng.permutation(S) for _ in range(math.ceil(spec.steps * spec.batch_size / S))])
    tokens, v_trace, lm_trace = 0, [], []
    model.train()
    bar = None
    if progress:
        from ttc.progress import progress_bar
        bar = progress_bar(total=spec.steps, desc=f"train {spec.kind}/{spec.labels}", leave=False)
    for step in range(spec.steps):
        scale = min(1.0, (step + 1) / warm) * 0.5 * (1 + math.cos(math.pi * step / spec.steps))
        for g, lr in zip(opt.param_groups, base):
            g["lr"] = lr * scale
        loss = torch.zeros(())
        if spec.head_loss_weight > 0:
            rows = order[step * spec.batch_size: (step + 1) * spec.batch_size]
            width = int(lay.lengths[rows].max())
            sol = torch.from_numpy(lay.solution_mask[rows, :width])
            out = model(torch.from_numpy(lay.input_ids[rows, :width]),
                        torch.from_numpy(lay.attention_mask[rows, :width]), sol)
            loss = verifier_loss(out, spec.kind, spec.labels, sol, torch.from_numpy(lay.seg_end[rows]),
                                 torch.from_numpy(targets[rows]).float(), torch.from_numpy(lay.seg_tokens[rows]),
                                 orm_tokens=spec.orm_tokens)
            v_trace.append(loss.item())
            tokens += int(lay.attention_mask[rows].sum())
        if spec.lm_loss_weight > 0:
            ids, mask, lab, n_tok = make_batch(task, codec, gold_problems, rng, spec.lm_batch_size)
            lm_loss = model.lm(input_ids=ids, attention_mask=mask, labels=lab).loss
            loss = loss + spec.lm_loss_weight * lm_loss
            lm_trace.append(lm_loss.item())
            tokens += n_tok
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{np.mean((v_trace or lm_trace)[-20:]):.3f}")
    if bar is not None:
        bar.close()
    model.eval()
    first, last = (float(np.mean(v_trace[:20])), float(np.mean(v_trace[-20:]))) if v_trace else (None, None)
    return {"verifier_loss_first": first, "verifier_loss_last": last,
            "lm_loss_last": float(np.mean(lm_trace[-20:])) if lm_trace else None, "train_tokens": tokens}
