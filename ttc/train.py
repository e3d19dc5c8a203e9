"""Training a generator from scratch on a task's train split (teacher-forced gold solutions).

Each step draws a batch of train problems and a *fresh random valid solution order* for each, so the
model sees the several correct ways of writing a solution. The loss covers the solution tokens and
EOS (prompts are random and carry nothing to predict). Budgets are in tokens, never seconds, so the
same config trains the same model on any machine; checkpoints are taken at geometric intervals of
training compute and handed to a callback (the caller decides where they are written).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from ttc.compute import flop_params, train_flops
from ttc.fast_llama import LeanLlamaLoss, is_supported
from ttc.progress import progress_bar
from ttc.tasks.base import Problem, Task
from ttc.tokenizer import Codec


@dataclass(frozen=True)
class TrainConfig:
    tokens: int = 1_500_000  # training budget: non-pad tokens processed (prompt + solution)
    batch_size: int = 16  # sequences per step: small batches = more steps per token, which these tiny
    # models need far more than big batches (measured: 3-4x faster to a given accuracy than 64)
    lr: float | None = None  # peak learning rate; None = the model shape's own (ttc.models.ModelSize.lr)
    min_lr_frac: float = 0.1  # decay floor, a fraction of the peak
    # "cosine": warmup then cosine decay over the whole budget; "wsd": warmup, constant peak, then a
    # cosine decay over the last ``decay_frac`` of the budget (warmup-stable-decay; measured: the long
    # peak phase shortens the loss plateau of these models, which a whole-budget cosine cuts short)
    schedule: str = "cosine"
    decay_frac: float = 0.2
    warmup_steps: int = 50
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    n_checkpoints: int = 5  # geometric: tokens/r**(n-1), ..., tokens/r, tokens
    checkpoint_ratio: float = 2.0  # r, the factor of training compute between checkpoints
    # "wsd" only: each intermediate checkpoint is a WSD run of its own budget, branched from the stable
    # phase at (1 - decay_frac) of that budget and decayed to it (Hägele et al. 2024), instead of the
    # main run's state at peak learning rate; costs decay_frac of every intermediate budget
    checkpoint_decay: bool = False
    # torch.compile the training loss (inductor), each batch right-padded to a multiple of COMPILE_WIDTH
    # tokens so that a few shapes cover every batch: the same loss up to float rounding (padding is after
    # every sequence and unlabelled), 1.2-1.5x the tokens/s of the eager path on one CPU thread, at ~30 s
    # of compiling per shape and process (docs/model_size.md); a different float path trains another draw
    compile: bool = False
    seed: int = 0

    def validate(self) -> None:
        for key in ("tokens", "batch_size", "n_checkpoints"):
            if getattr(self, key) < 1:
                raise ValueError(f"train.{key}={getattr(self, key)} must be >= 1")
        if self.lr is None:
            raise ValueError("train.lr is unset; resolve it from the model shape (GeneratorSpec) first")
        if not (0 < self.lr < 1):
            raise ValueError(f"train.lr={self.lr} must be in (0, 1)")
        if self.schedule not in ("cosine", "wsd"):
            raise ValueError(f"train.schedule={self.schedule!r} is unknown; use 'cosine' or 'wsd'")
        if not (0 < self.decay_frac <= 1):
            raise ValueError(f"train.decay_frac={self.decay_frac} must be in (0, 1]")
        if self.checkpoint_ratio <= 1:
            raise ValueError(f"train.checkpoint_ratio={self.checkpoint_ratio} must be > 1")
        if self.checkpoint_decay and self.schedule != "wsd":
            raise ValueError("train.checkpoint_decay needs train.schedule='wsd' (a cosine run has no stable phase "
                             "to branch from)")


@dataclass(frozen=True)
class CheckpointInfo:
    step: int
    tokens: int  # non-pad tokens processed so far
    params: int  # P: non-embedding parameters (ttc.compute)
    train_flops: float  # 6·P·tokens
    loss: float  # mean solution-token loss over the last 20 steps (nats/token)
    branch: bool = False  # a decay branch of its own budget (TrainConfig.checkpoint_decay)


def lr_schedule(cfg: TrainConfig, total_steps: int) -> Callable[[float], float]:
    """step -> learning rate: linear warmup, then a cosine from the peak to ``min_lr_frac`` x peak over
    the rest ("cosine") or over the last ``decay_frac`` of ``total_steps`` after a constant peak ("wsd")."""
    peak = cfg.lr
    if peak is None:
        raise ValueError("train.lr is unset; resolve it from the model shape (GeneratorSpec) first")

    start = decay_start(cfg, total_steps)

    def lr_at(step: float) -> float:
        if step < cfg.warmup_steps:
            return peak * (step + 1) / cfg.warmup_steps
        frac = min(1.0, max(0.0, (step - start) / max(1, total_steps - start)))
        return peak * (cfg.min_lr_frac + (1 - cfg.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * frac)))
    return lr_at


def decay_start(cfg: TrainConfig, total_steps: int) -> int:
    """The step at which the learning rate starts to decay: the end of warmup ("cosine"), or of the
    stable phase ("wsd")."""
    if cfg.schedule == "cosine":
        return cfg.warmup_steps
    return max(cfg.warmup_steps, round(total_steps * (1 - cfg.decay_frac)))


def checkpoint_schedule(total_tokens: int, n: int, ratio: float = 2.0) -> list[int]:
    """Token counts at which to checkpoint: geometric (factor ``ratio``), ending at the budget."""
    return sorted({max(1, round(total_tokens / ratio ** k)) for k in range(n)})


Texts = tuple[list[str], list[str]]  # (prompts, solutions) of one batch
Draw = Callable[[np.random.Generator, int], Texts]  # (rng, batch size) -> a batch of texts


def gold_texts(task: Task, problems: list[Problem], rng: np.random.Generator, batch_size: int) -> Texts:
    """A random batch of problems, each with a fresh random valid gold solution order."""
    idx = rng.integers(len(problems), size=batch_size)
    prompts = [problems[i].prompt for i in idx]
    sols = [task.gold_solution(problems[i], int(rng.integers(2**31))) for i in idx]
    return prompts, sols


def encode_batch(codec: Codec, prompts: list[str], solutions: list[str]
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """(input_ids, attention_mask, labels, non-pad tokens): right-padded prompt + solution + EOS, the
    labels covering the solution and EOS only."""
    p_ids = codec.encode_prompts(prompts)
    seqs = [np.concatenate([p, codec.encode_text(s), [codec.eos_id]]) for p, s in zip(p_ids, solutions)]
    width = max(len(s) for s in seqs)
    ids = np.full((len(seqs), width), codec.pad_id, dtype=np.int64)
    labels = np.full((len(seqs), width), -100, dtype=np.int64)
    mask = np.zeros((len(seqs), width), dtype=np.int64)
    for r, (p, s) in enumerate(zip(p_ids, seqs)):
        ids[r, : len(s)] = s
        mask[r, : len(s)] = 1
        labels[r, len(p): len(s)] = s[len(p):]
    return torch.from_numpy(ids), torch.from_numpy(mask), torch.from_numpy(labels), int(mask.sum())


def make_batch(task: Task, codec: Codec, problems: list[Problem], rng: np.random.Generator,
               batch_size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """(input_ids, attention_mask, labels, non-pad tokens) for a random batch with random gold orders."""
    return encode_batch(codec, *gold_texts(task, problems, rng, batch_size))


def train_generator(model: torch.nn.Module, task: Task, codec: Codec, cfg: TrainConfig, *,
                    on_checkpoint: Callable[[torch.nn.Module, CheckpointInfo], None],
                    progress: bool = False, desc: str = "train") -> list[CheckpointInfo]:
    """Train on the task's train split (gold solutions in random valid orders), checkpointing at
    ``checkpoint_schedule`` marks."""
    problems = task.problems("train")
    return fit(model, codec, lambda rng, n: gold_texts(task, problems, rng, n), cfg,
               on_checkpoint=on_checkpoint, progress=progress, desc=desc)


@dataclass
class _Run:
    """One training run's state: forked (deep-copied) for a checkpoint's decay branch."""
    model: torch.nn.Module
    opt: torch.optim.Optimizer
    rng: np.random.Generator
    cfg: TrainConfig
    step: int = 0
    tokens: int = 0
    recent: list[float] = field(default_factory=list)

    @classmethod
    def start(cls, model: torch.nn.Module, cfg: TrainConfig) -> _Run:
        decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
        no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                 {"params": no_decay, "weight_decay": 0.0}], lr=float(cfg.lr or 0.0),
                                betas=(0.9, 0.98), foreach=True)
        return cls(model, opt, np.random.default_rng(cfg.seed), cfg)

    def fork(self) -> _Run:
        twin = _Run.start(copy.deepcopy(self.model), self.cfg)
        twin.opt.load_state_dict(copy.deepcopy(self.opt.state_dict()))
        twin.rng, twin.step, twin.tokens, twin.recent = copy.deepcopy(self.rng), self.step, self.tokens, list(self.recent)
        return twin

    def train_until(self, draw: Draw, codec: Codec, lr_at: Callable[[float], float], bar, *,
                    tokens: int | None = None, step: int | None = None) -> None:
        """Steps until ``tokens`` non-pad tokens have been processed, or until step ``step``."""
        lean = LeanLlamaLoss(self.model) if is_supported(self.model) else None  # a third less overhead per step
        compiled = lean is not None and self.cfg.compile
        if lean is not None and compiled:
            lean = compiled_loss(lean)
        self.model.train()
        while (tokens is None or self.tokens < tokens) and (step is None or self.step < step):
            ids, mask, labels, n_tok = encode_batch(codec, *draw(self.rng, self.cfg.batch_size))
            if compiled:
                ids, labels = pad_width(ids, labels, codec.pad_id)
            for g in self.opt.param_groups:
                g["lr"] = lr_at(self.step)
            loss = lean(ids, labels) if lean else self.model(input_ids=ids, attention_mask=mask, labels=labels).loss
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip, foreach=True)
            self.opt.step()
            self.step, self.tokens = self.step + 1, self.tokens + n_tok
            self.recent = (self.recent + [loss.item()])[-20:]
            bar.update(n_tok)
            bar.set_postfix(loss=f"{np.mean(self.recent):.3f}", refresh=False)
        self.model.eval()

    def info(self, branch: bool) -> CheckpointInfo:
        params = flop_params(self.model)
        return CheckpointInfo(step=self.step, tokens=self.tokens, params=params, loss=float(np.mean(self.recent)),
                              train_flops=train_flops(params, self.tokens), branch=branch)


# TrainConfig fields added after keys were made, at the value that trains as before: left out of every key
# and hash holding a TrainConfig while they keep it (ttc.cache.without_new_defaults)
NEW_TRAIN_FIELDS = {"compile": False}
COMPILE_WIDTH = 32  # TrainConfig.compile pads each batch to a multiple of this many tokens


def pad_width(ids: torch.Tensor, labels: torch.Tensor, pad_id: int, multiple: int = COMPILE_WIDTH
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """``ids`` and ``labels`` right-padded (pad token, label -100) to a multiple of ``multiple`` columns."""
    extra = -ids.shape[1] % multiple
    if not extra:
        return ids, labels
    pad = torch.nn.functional.pad
    return pad(ids, (0, extra), value=pad_id), pad(labels, (0, extra), value=-100)


def compiled_loss(lean: LeanLlamaLoss):
    """``lean``'s loss under ``torch.compile`` with static shapes: its dense form (the LM head at every
    position, no data-dependent shape), one graph per padded width."""
    import torch._dynamo
    torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 16)
    return torch.compile(lean.dense_loss, dynamic=False)


def fit(model: torch.nn.Module, codec: Codec, draw: Draw, cfg: TrainConfig, *,
        on_checkpoint: Callable[[torch.nn.Module, CheckpointInfo], None] | None = None,
        progress: bool = False, desc: str = "train") -> list[CheckpointInfo]:
    """Teacher-forced training on the batches ``draw(rng, cfg.batch_size)`` returns, for ``cfg.tokens``
    non-pad tokens, AdamW and the ``cfg.schedule`` learning rate. From scratch (``train_generator``) or
    from a trained model (finetuning: ``ttc.self_improve``). Checkpoints at ``checkpoint_schedule``
    marks; with ``cfg.checkpoint_decay`` each intermediate one is its own decay branch (see TrainConfig)."""
    cfg.validate()
    torch.manual_seed(cfg.seed)
    # Steps are estimated from the mean sequence length; the budget itself is counted in tokens.
    probe = encode_batch(codec, *draw(np.random.default_rng(cfg.seed + 1), 256))[3] / 256

    def steps_for(tokens: int) -> int:
        return max(1, math.ceil(tokens / (probe * cfg.batch_size)))

    def schedule_for(tokens: int) -> Callable[[float], float]:
        return lr_schedule(replace(cfg, tokens=tokens), steps_for(tokens))

    marks = checkpoint_schedule(cfg.tokens, cfg.n_checkpoints, cfg.checkpoint_ratio)
    branched = marks[:-1] if cfg.checkpoint_decay else []
    run, lr_main = _Run.start(model, cfg), schedule_for(cfg.tokens)
    infos: list[CheckpointInfo] = []

    def emit(state: _Run, branch: bool) -> None:
        infos.append(state.info(branch))
        if on_checkpoint is not None:
            on_checkpoint(state.model, infos[-1])

    total = cfg.tokens + sum(round(m * cfg.decay_frac) for m in branched)
    bar = progress_bar(total=total, unit="tok", unit_scale=True, desc=desc, disable=not progress, leave=False)
    for budget in branched:  # leave the stable phase where a run of this budget would start its decay
        run.train_until(draw, codec, lr_main, bar, step=decay_start(cfg, steps_for(budget)))
        twin = run.fork()
        twin.train_until(draw, codec, schedule_for(budget), bar, tokens=budget)
        emit(twin, branch=True)
    for budget in marks[len(branched):]:
        run.train_until(draw, codec, lr_main, bar, tokens=budget)
        emit(run, branch=False)
    bar.close()
    model.eval()
    return infos
