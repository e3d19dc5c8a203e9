"""Self-improvement runs: SFT on gold solutions, STaR and policy-gradient RL from one generator
checkpoint, each a cached, resumable sequence of segments.

A run is cut into segments (an SFT budget, a STaR iteration, ``rl.eval_every`` policy updates); each
ends with an evaluation on the test split and is cached as its own directory: the model, the history
so far and (RL) the optimizer state. A run killed mid-segment resumes from its last finished segment,
and every segment draws its randomness from (seed, segment), so a resumed run equals an uninterrupted
one. Compute is counted per run in FLOPs with P = the generator's non-embedding parameters: sampling
2P per token, training 6P per token, the KL reference 2P per token, a verifier's scoring 2P_v per token.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch

from ttc.cache import Cache, content_key, without_new_defaults
from ttc.compute import flop_params
from ttc.fast_llama import LeanLlamaLoss, is_supported
from ttc.self_improve.evaluate import evaluate, paired_delta, score_rollouts
from ttc.self_improve.policy_gradient import (
    RLConfig,
    pg_loss,
    process_advantages,
    rloo_advantages,
    token_advantages,
)
from ttc.self_improve.rollouts import rollouts
from ttc.self_improve.star import StarConfig, example_draw, star_examples
from ttc.tasks.base import Task
from ttc.tokenizer import Codec
from ttc.train import NEW_TRAIN_FIELDS, TrainConfig, fit, gold_texts

RUN_VERSION = 1  # bump when a run's code changes what a spec produces
STATE = "ttc_self_improve.json"
OPTIMIZER = "optimizer.pt"

# method name -> (kind, overrides of that kind's config): the default run's methods
METHODS: dict[str, tuple[str, dict]] = {
    "sft": ("sft", {}),
    "star": ("star", {}),
    "star_no_rationalize": ("star", {"rationalize": False}),
    "star_process": ("star", {"filter": "process"}),
    "rl_exact": ("rl", {"reward": "exact"}),
    "rl_orm": ("rl", {"reward": "orm"}),
    "rl_prm": ("rl", {"reward": "prm"}),
}


@dataclass(frozen=True)
class RunSpec:
    """One self-improvement run from one checkpoint: what the cache key hashes."""

    method: str  # a name in METHODS (its label in tables and figures)
    kind: str  # sft | star | rl
    star: StarConfig = StarConfig()
    rl: RLConfig = RLConfig()
    finetune: TrainConfig = TrainConfig(tokens=200_000, lr=1e-3, warmup_steps=20, n_checkpoints=1)  # STaR, SFT
    # SFT: cumulative token budgets; each segment continues the previous one's model for the difference
    # (a warm restart of the finetuning schedule), so every budget is a finished, annealed finetune
    sft_tokens: tuple[int, ...] = (150_000, 300_000, 600_000, 1_200_000)
    eval_problems: int = 400
    eval_samples: int = 4
    max_new_tokens: int = 64
    confidence: float = 0.95
    seed: int = 0

    @classmethod
    def of(cls, method: str, *, star: dict | None = None, rl: dict | None = None, finetune: dict | None = None,
           **common) -> RunSpec:
        """The spec of a registered method with the given config tables (the method's overrides win)."""
        star, rl, finetune = star or {}, rl or {}, finetune or {}
        if method not in METHODS:
            raise ValueError(f"self_improve: unknown method {method!r}; use any of {', '.join(METHODS)}")
        kind, over = METHODS[method]
        base = cls(method=method, kind=kind)
        for name, table, known in (("star", star, base.star), ("rl", rl, base.rl), ("finetune", finetune, base.finetune)):
            unknown = sorted(set(table) - {f.name for f in fields(known)})
            if unknown:
                raise ValueError(f"{name}: unknown key {unknown[0]!r}; use any of {', '.join(f.name for f in fields(known))}")
        spec = replace(base, star=replace(base.star, **{**star, **(over if kind == "star" else {})}),
                       rl=replace(base.rl, **{**rl, **(over if kind == "rl" else {})}),
                       finetune=replace(base.finetune, **finetune), **common)
        spec.validate()
        return spec

    def validate(self) -> None:
        self.star.validate()
        self.rl.validate()
        self.finetune.validate()
        if self.eval_problems < 1 or self.eval_samples < 1 or self.max_new_tokens < 1:
            raise ValueError("self_improve: eval_problems, eval_samples and max_new_tokens must be >= 1")
        if not self.sft_tokens or min(self.sft_tokens) < 1 or list(self.sft_tokens) != sorted(set(self.sft_tokens)):
            raise ValueError("self_improve.sft_tokens must list increasing cumulative token budgets >= 1")

    @property
    def n_segments(self) -> int:
        if self.kind == "sft":
            return len(self.sft_tokens)
        if self.kind == "star":
            return self.star.iterations
        return -(-self.rl.steps // self.rl.eval_every)

    def uses(self) -> str | None:
        """The verifier kind whose reward this run trains on (None: the exact checker or gold data)."""
        return self.rl.reward if self.kind == "rl" and self.rl.reward != "exact" else None


@dataclass
class RunState:
    """What a run carries from one segment to the next."""

    history: list[dict] = field(default_factory=list)
    counters: dict = field(default_factory=lambda: {"sample_tokens": 0, "train_tokens": 0, "ref_tokens": 0,
                                                    "verify_tokens": 0, "verify_flops": 0.0})


def run_key(base_key: str, task: Task, spec: RunSpec, verifier_keys: dict[str, str]) -> str:
    """The run's cache key: the start, the task, the verifiers and the part of the spec its kind reads
    (an RL run does not change when the STaR settings do)."""
    unread = {"sft": ("star", "rl"), "star": ("rl", "sft_tokens"), "rl": ("star", "sft_tokens", "finetune")}[spec.kind]
    view = without_new_defaults({k: v for k, v in asdict(spec).items() if k not in unread},
                                {"finetune": NEW_TRAIN_FIELDS})  # the key of every run before those fields
    return content_key("self-improve", RUN_VERSION, base_key, task.spec_dict(), view,
                       {k: verifier_keys[k] for k in sorted(verifier_keys)})


def segment_key(run: str, i: int) -> str:
    """The cache key of segment ``i`` of the run keyed ``run``."""
    return f"{run}-{i}"


def finished(cache: Cache, base_key: str, task: Task, spec: RunSpec, verifier_keys: dict[str, str]) -> bool:
    """True when the run's last segment is cached (the run reads, computes nothing)."""
    key = run_key(base_key, task, spec, verifier_keys)
    return cache.dir_ready("self-improve", segment_key(key, spec.n_segments - 1)) is not None


def run(cache: Cache, base_path: str, base_key: str, task: Task, spec: RunSpec, *, verifiers: dict | None = None,
        progress: bool = False, on_segment: Callable[[int], None] | None = None) -> tuple[list[dict], Path]:
    """(history rows, directory of the final model) of one run, resumed from its cached segments.

    ``verifiers``: kind -> ``VerifierRecord`` of the base generator's ORM/PRM (the RL rewards, and the
    proxy scores every evaluation reports). ``on_segment(i)`` is called before segment i is computed."""
    from ttc.generators import load_checkpoint
    from ttc.verifiers import load_verifier
    verifiers = verifiers or {}
    key = run_key(base_key, task, spec, {k: r.key for k, r in verifiers.items()})
    seg_key = lambda i: segment_key(key, i)  # noqa: E731
    done = next((i for i in reversed(range(spec.n_segments)) if cache.dir_ready("self-improve", seg_key(i))), -1)
    if done == spec.n_segments - 1:  # finished: its history is all a caller needs (no model is loaded)
        path = cache.path("self-improve", seg_key(done))
        return json.loads((path / STATE).read_text())["history"], path
    start, codec = load_checkpoint(base_path)
    start.requires_grad_(False)
    loaded = {k: (*load_verifier(r), r.score_flops_per_token) for k, r in verifiers.items()}  # model, codec, 2P_v
    state, policy, opt_state = RunState(), None, None
    if done >= 0:
        path = cache.path("self-improve", seg_key(done))
        saved = json.loads((path / STATE).read_text())
        state = RunState(history=saved["history"], counters={**RunState().counters, **saved["counters"]})
        policy = load_checkpoint(path)[0]  # STaR samples from the last model; SFT and RL continue it
        opt_state = torch.load(path / OPTIMIZER, weights_only=True) if (path / OPTIMIZER).exists() else None
    if not state.history:  # the start, measured once for every run that shares its evaluation settings
        ekey = content_key("self-improve-start", RUN_VERSION, base_key, task.spec_dict(),
                           [spec.eval_problems, spec.eval_samples, spec.seed, spec.max_new_tokens, spec.confidence],
                           {k: r.key for k, r in sorted(verifiers.items())})
        with cache.lock("self-improve-start", ekey):
            measured = cache.read_json("self-improve-start", ekey)
            if measured is None:
                measured = _evaluate(start, codec, task, spec, loaded)
                cache.write_json("self-improve-start", ekey, measured)
        state.history.append(_row(spec, -1, state, flop_params(start), {}, measured))
    for i in range(done + 1, spec.n_segments):
        if on_segment is not None:
            on_segment(i)
        model, opt, stats = _segment(spec, i, start, policy, opt_state, codec, task, state, loaded)
        state.history.append(_row(spec, i, state, flop_params(start), stats, _evaluate(model, codec, task, spec, loaded)))

        def fill(d: Path, model=model, opt=opt, i=i) -> dict:
            model.save_pretrained(d)
            codec.tokenizer.save_pretrained(d)
            (d / STATE).write_text(json.dumps({"history": state.history, "counters": state.counters,
                                               "spec": asdict(spec), "base": base_key}, indent=1, default=float))
            if opt is not None:
                torch.save(opt.state_dict(), d / OPTIMIZER)
            return {"segment": i}

        cache.write_dir("self-improve", seg_key(i), fill)
        policy, opt_state = model, (opt.state_dict() if opt is not None else None)
    return state.history, cache.path("self-improve", seg_key(spec.n_segments - 1))


def _evaluate(model, codec: Codec, task: Task, spec: RunSpec, loaded: dict) -> dict:
    return evaluate(model, codec, task, n_problems=spec.eval_problems, k=spec.eval_samples,
                    seed=spec.seed + 7919, max_new_tokens=spec.max_new_tokens,
                    verifiers={k: v[:2] for k, v in loaded.items()},
                    confidence=spec.confidence)


def _row(spec: RunSpec, segment: int, state: RunState, params: int, stats: dict, measured: dict) -> dict:
    """One history row: the counters and FLOPs so far, the segment's statistics, its evaluation and its
    paired difference to the start's (same problems, same sampling seed)."""
    start = state.history[0]["per_problem"] if state.history else measured["per_problem"]
    delta = paired_delta(measured["per_problem"], start, spec.confidence)
    measured = {**measured, "delta_vs_start": delta[0], "delta_ci_low": delta[1], "delta_ci_high": delta[2]}
    c = state.counters
    flops = {"sample_flops": 2.0 * params * c["sample_tokens"], "train_flops": 6.0 * params * c["train_tokens"],
             "ref_flops": 2.0 * params * c["ref_tokens"], "verify_flops": c["verify_flops"]}
    return {"method": spec.method, "kind": spec.kind, "segment": segment,
            "iteration": segment + 1, **{k: c[k] for k in ("sample_tokens", "train_tokens", "ref_tokens", "verify_tokens")},
            **flops, "extra_flops": sum(flops.values()), **stats, **measured}


def _segment(spec: RunSpec, i: int, start, policy, opt_state, codec: Codec, task: Task, state: RunState,
             loaded: dict):
    """Compute segment ``i``: (model after it, optimizer or None, its statistics); updates ``state.counters``."""
    c = state.counters
    train = task.problems("train")
    if spec.kind == "sft":
        model = (policy if policy is not None else copy.deepcopy(start)).requires_grad_(True)
        cfg = replace(spec.finetune, tokens=spec.sft_tokens[i] - (spec.sft_tokens[i - 1] if i else 0), seed=spec.seed + i)
        info = fit(model, codec, lambda rng, n: gold_texts(task, train, rng, n), cfg)[-1]
        c["train_tokens"] += info.tokens
        return model, None, {"train_loss": info.loss, "budget_tokens": spec.sft_tokens[i]}
    if spec.kind == "star":
        sampler = policy if policy is not None else start  # iteration i samples from iteration i - 1's model
        examples, stats = star_examples(sampler, codec, task, train[: spec.star.problems], spec.star, iteration=i,
                                        max_new_tokens=spec.max_new_tokens)
        model = copy.deepcopy(start).requires_grad_(True)  # STaR: always from the original checkpoint
        tokens = int(round(spec.star.tokens * spec.star.growth ** i))
        c["sample_tokens"] += stats["sample_tokens"]
        loss = float("nan")
        if examples:  # nothing kept: the iteration leaves the original model as it is
            info = fit(model, codec, example_draw(examples), replace(spec.finetune, tokens=tokens, seed=spec.seed + i))[-1]
            c["train_tokens"] += info.tokens
            loss = info.loss
        model.eval()
        return model, None, {**{k: v for k, v in stats.items() if k != "sample_tokens"},
                             "train_examples": len(examples), "train_loss": loss}
    return _rl_segment(spec, i, start, policy, opt_state, codec, task, state, loaded)


def _token_logprobs(model) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]:
    """(ids, mask, labels) -> log p of every labelled token (row-major), with autograd: the lean forward
    (its RoPE tables built once, the weights read live at each call) or the model's own."""
    if is_supported(model):
        lean = LeanLlamaLoss(model)
        return lambda ids, mask, labels: lean.token_logprobs(ids, labels)

    def hf(ids: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        logp = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits[:, :-1].float(), -1)
        target = labels[:, 1:]
        scored = target != -100
        return logp[scored].gather(-1, target[scored][:, None])[:, 0]
    return hf


def _rl_rewards(kind: str, reward_model, task: Task, ro, scored_tokens: int, counters: dict):
    """(reward per rollout, sequence advantages or None, per-step advantages or None) of one RL step:
    the exact answer check with leave-one-out baselines, or the learned verifier's scores (the ORM's
    per sequence, the PRM's per step), whose scoring compute is added to ``counters``."""
    if kind == "exact":
        reward = ro.frame["is_correct"].to_numpy(float)
        return reward, rloo_advantages(reward, ro.groups), None
    vmodel, vcodec, per_token = reward_model
    scores, steps = score_rollouts(vmodel, vcodec, task, ro)
    counters["verify_tokens"] += scored_tokens
    counters["verify_flops"] += per_token * scored_tokens
    reward = np.asarray(scores, dtype=float)
    if kind == "prm":
        return reward, None, process_advantages([np.asarray(s, dtype=float) for s in steps], ro.groups)
    return reward, rloo_advantages(reward, ro.groups), None


def _rl_segment(spec: RunSpec, i: int, start, policy, opt_state, codec: Codec, task: Task, state: RunState,
                loaded: dict):
    from ttc.verifiers.labels import layout
    cfg, c = spec.rl, state.counters
    model = policy if policy is not None else copy.deepcopy(start).requires_grad_(True)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.98), weight_decay=0.0, foreach=True)
    if opt_state is not None:
        opt.load_state_dict(opt_state)
    train = task.problems("train")
    reward_model = loaded.get(cfg.reward) if cfg.reward != "exact" else None
    if cfg.reward != "exact" and reward_model is None:
        raise ValueError(f"rl.reward={cfg.reward!r} needs the generator's {cfg.reward} verifier; train it "
                         "(verifiers.kinds and verifiers.judge) or use reward='exact'")
    policy_logp, ref_logp_of = _token_logprobs(model), _token_logprobs(start)
    rewards, exact = [], []
    first, last = i * cfg.eval_every, min(cfg.steps, (i + 1) * cfg.eval_every)
    for step in range(first, last):
        lo = (step * cfg.problems_per_step) % len(train)
        batch = [train[(lo + j) % len(train)] for j in range(cfg.problems_per_step)]
        seed = int(np.random.default_rng([cfg.seed, step]).integers(2**31))
        ro = rollouts(model, codec, task, batch, k=cfg.group, seed=seed, max_new_tokens=spec.max_new_tokens,
                      temperature=cfg.temperature)
        f = ro.frame
        lay = layout(task, codec, list(f["prompt"]), list(f["text"]), list(f["finished"]))
        reward, seq_adv, step_adv = _rl_rewards(cfg.reward, reward_model, task, ro, int(lay.lengths.sum()), c)
        ids, mask = torch.from_numpy(lay.input_ids), torch.from_numpy(lay.attention_mask)
        labels = torch.where(torch.from_numpy(lay.solution_mask), ids, torch.full_like(ids, -100))
        starts = lay.solution_mask.argmax(1)
        adv = torch.from_numpy(token_advantages(seq_adv, step_adv, lay.seg_end, lay.n_segments, starts,
                                                lay.lengths)).float()
        with torch.no_grad():
            ref_logp = ref_logp_of(ids, mask, labels)
        for g in opt.param_groups:
            g["lr"] = cfg.lr * min(1.0, (step + 1) / cfg.warmup_steps)
        loss = pg_loss(policy_logp(ids, mask, labels), adv, ref_logp, cfg.kl)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip, foreach=True)
        opt.step()
        n_tok = int(lay.lengths.sum())
        c["sample_tokens"] += ro.sampled_tokens
        c["train_tokens"] += n_tok
        c["ref_tokens"] += n_tok
        rewards.append(float(reward.mean()))
        exact.append(float(f["is_correct"].mean()))
    model.eval()
    return model, opt, {"steps": last, "train_reward": float(np.mean(rewards)), "train_exact": float(np.mean(exact))}
