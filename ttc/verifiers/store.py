"""Verifiers as cached artefacts: ``ensure_verifier`` trains once, ``score_pool`` scores a judged pool.

A verifier directory is a Hugging Face checkpoint (``save_pretrained`` of its LM, the tokenizer) plus
``value_head.pt``/``value_head.json`` and ``ttc_verifier.json`` (the record below: spec, data sizes,
label source, training and scoring FLOPs, held-out metrics). The key hashes the task, the generator
checkpoint whose samples it learns from, the checkpoint it starts from and the spec.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from ttc.cache import Cache, content_key, without_new_defaults
from ttc.compute import flop_params, inference_flops, train_flops
from ttc.generators import Checkpoint, checkpoint_pool, load_checkpoint
from ttc.pools import PoolSpec
from ttc.tasks.base import Task
from ttc.tokenizer import Codec
from ttc.verifiers.heads import ValueHeadLM
from ttc.verifiers.labels import layout, mc_labels, outcome_labels, sampling_rollout, step_labels
from ttc.verifiers.metrics import verifier_metrics
from ttc.verifiers.score import lm_step_logprobs, score_layout
from ttc.verifiers.train import VerifierSpec, train_verifier

VERIFIER_VERSION = 3  # bump when training or scoring code changes what a spec produces (3: prompt-shared
# scoring, which moves scores by float rounding, ~1e-5 relative; every key built on a verifier's changes with it)
RECORD_FILE = "ttc_verifier.json"


@dataclass(frozen=True)
class VerifierRecord:
    key: str
    path: str
    kind: str  # orm | prm
    label_source: str  # outcome | step | mc
    generator: str  # key of the generator checkpoint whose samples it was trained on
    init: str  # key of the checkpoint it started from
    params: int  # P of the verifier (ttc.compute convention)
    train_samples: int  # sampled solutions in the training set
    train_tokens: int  # tokens processed in training (verifier batches + LM batches)
    train_flops: float  # 6·P·train_tokens
    data_flops: float  # generator FLOPs spent sampling the training set (and MC rollouts)
    score_flops_per_token: float  # 2·P: scoring cost per token scored (prompt + solution)
    train_seconds: float
    metrics: dict = field(default_factory=dict)  # held-out (train-split problems after the training ones)
    spec: dict = field(default_factory=dict)


def verifier_key(task: Task, generator: Checkpoint, init: Checkpoint, spec: VerifierSpec) -> str:
    fields = without_new_defaults(asdict(spec), {"head_loss_weight": 1.0})  # keys from before the LM-only control
    return content_key("verifier", VERIFIER_VERSION, task.spec_dict(), generator.key, init.key, fields)


def _prompts(task: Task, split: str, problem_ids) -> list[str]:
    by_id = {p.problem_id: p for p in task.problems(split)}
    return [by_id[int(i)].prompt for i in problem_ids]


def pool_layout(task: Task, codec, pool: pd.DataFrame, split: str):
    return layout(task, codec, _prompts(task, split, pool["problem_id"]), list(pool["text"]), list(pool["finished"]))


def _targets(spec: VerifierSpec, task, pool, lay, problems, generator, codec) -> tuple[np.ndarray, float]:
    """(labels for the spec's label source, generator FLOPs spent on MC rollouts)."""
    K = lay.seg_end.shape[1]
    if spec.labels == "outcome":
        return outcome_labels(pool["is_correct"]), 0.0
    if spec.labels == "step":
        return step_labels(pool["step_correct"], pool["is_correct"], K), 0.0
    by_id = {p.problem_id: p for p in problems}
    rollout = sampling_rollout(generator, codec, max_new_tokens=spec.max_new_tokens, seed=spec.seed + 1)
    t = mc_labels(task, [by_id[int(i)] for i in pool["problem_id"]], list(pool["text"]), list(pool["is_correct"]),
                  K, rollout, m=spec.mc_rollouts)
    rollout_tokens = spec.mc_rollouts * (pool["n_steps"].sum() * (spec.max_new_tokens // 2 + lay.lengths.mean()))
    return t, inference_flops(flop_params(generator), int(rollout_tokens))  # rough: half the budget per rollout


def verifier_pool(cache: Cache, task: Task, generator: Checkpoint, spec: VerifierSpec, *, gen_model=None,
                  progress: bool = False) -> pd.DataFrame:
    """The judged train-split pool ``spec`` cuts its training and held-out data from (sampled once, cached).

    Call it before training several verifiers of one generator in parallel, so they do not all sample it."""
    n_pool, k_pool = spec.pool_shape
    return checkpoint_pool(cache, generator, task, PoolSpec(split="train", n_problems=n_pool, n_samples=k_pool,
                                                            temperature=spec.temperature,
                                                            max_new_tokens=spec.max_new_tokens, seed=spec.seed),
                           model=gen_model, progress=progress)


def ensure_verifier(cache: Cache, task: Task, generator: Checkpoint, spec: VerifierSpec, *,
                    init_checkpoint: Checkpoint | None = None, progress: bool = False) -> VerifierRecord:
    """Train (or read from the cache) a verifier of ``generator``'s samples; see VerifierSpec."""
    spec.validate()
    init = init_checkpoint or generator
    if spec.init_size is not None and init.generator != spec.init_size:
        raise ValueError(f"verifier.init_size={spec.init_size!r} but the init checkpoint is a {init.generator!r}; "
                         "pass init_checkpoint= of that size")
    key = verifier_key(task, generator, init, spec)
    with cache.lock("verifiers", key):  # another process training it: wait, then read its result
        return _ensure_verifier(cache, task, generator, init, spec, key, progress)


def _ensure_verifier(cache: Cache, task: Task, generator: Checkpoint, init: Checkpoint, spec: VerifierSpec,
                     key: str, progress: bool) -> VerifierRecord:
    if (path := cache.dir_ready("verifiers", key)) is not None:
        return VerifierRecord(**{**json.loads((path / RECORD_FILE).read_text()), "path": str(path)})  # movable cache

    t0 = time.perf_counter()
    gen_model, codec = load_checkpoint(generator.path)
    n_pool = spec.pool_shape[0]
    pool = verifier_pool(cache, task, generator, spec, gen_model=gen_model, progress=progress)
    train_pool = pool[(pool["problem_id"] < spec.n_problems)
                      & (pool["sample_idx"] < spec.samples_per_problem)].reset_index(drop=True)
    val_pool = pool[pool["problem_id"] >= n_pool - spec.n_val_problems].reset_index(drop=True)
    problems = task.problems("train")
    lay = pool_layout(task, codec, train_pool, "train")
    targets, rollout_flops = _targets(spec, task, train_pool, lay, problems, gen_model, codec)

    with torch.random.fork_rng():  # the head's initial weights depend on the spec's seed only
        torch.manual_seed(spec.seed)
        model = ValueHeadLM(AutoModelForCausalLM.from_pretrained(init.path), width=spec.head_width,
                            use_features=spec.use_features, init=spec.head_init)
    log = train_verifier(model, task, codec, spec, lay, targets, problems[: spec.n_problems], progress=progress)
    train_seconds = time.perf_counter() - t0

    metrics = {}
    if len(val_pool):
        scores, steps = score_layout(model, pool_layout(task, codec, val_pool, "train"))
        metrics = verifier_metrics(scores, steps, val_pool)
        metrics["generator_logprob_within_problem_auc"] = verifier_metrics(
            val_pool["logprob"].to_numpy(), None, val_pool, probabilities=False)["within_problem_auc"]
    P = flop_params(model.lm)  # the head adds (d + 3)·width + width + 1 parameters: < 1% of P
    record = dict(kind=spec.kind, label_source=spec.labels, generator=generator.key, init=init.key, params=P,
                  train_samples=int(len(train_pool)), train_tokens=log["train_tokens"],
                  train_flops=train_flops(P, log["train_tokens"]),
                  data_flops=float(train_pool["gen_flops"].sum()) + rollout_flops,
                  score_flops_per_token=inference_flops(P, 1), train_seconds=train_seconds,
                  metrics={**metrics, **{k: v for k, v in log.items() if k != "train_tokens"}}, spec=asdict(spec))

    def fill(d):
        model.save(d, codec.tokenizer)
        (d / RECORD_FILE).write_text(json.dumps({"key": key, "path": str(cache.path("verifiers", key)), **record},
                                                indent=1))
        return {"kind": spec.kind}

    path = cache.write_dir("verifiers", key, fill)
    return VerifierRecord(key=key, path=str(path), **record)


def verifier_lm_checkpoint(generator: Checkpoint, verifier: VerifierRecord, suffix: str = "") -> Checkpoint:
    """A verifier's language model as a checkpoint to sample from (its directory is a Hugging Face causal LM):
    the generator plus the verifier's training, named ``<generator>+<suffix>`` (default: ``+<kind>-lm``) and
    keyed apart from both, so its pools are cached under their own key."""
    return Checkpoint(generator=f"{generator.generator}+{suffix or verifier.kind + '-lm'}",
                      key=content_key("verifier-lm", verifier.key), path=verifier.path, params=verifier.params,
                      tokens=generator.tokens + verifier.train_tokens,
                      train_flops=generator.train_flops + verifier.train_flops, step=generator.step,
                      loss=float("nan"), final=True)


def load_verifier(record: VerifierRecord | str):
    """(ValueHeadLM, Codec) from a record or a verifier directory."""
    path = record.path if isinstance(record, VerifierRecord) else record
    return ValueHeadLM.load(path), Codec.of(AutoTokenizer.from_pretrained(path))


def score_pool(verifier: VerifierRecord | str, pool: pd.DataFrame, task: Task, *, split: str = "test",
               batch_size: int = 256) -> tuple[np.ndarray, list[np.ndarray]]:
    """(scores [S] in pool row order, step_scores: S arrays [written steps + 1 answer segment]).

    score = product of step scores = the value at the last token. Reads only problem_id, text and
    finished from the pool (never its labels). Cost: 2·P_verifier per token of prompt + solution."""
    model, codec = load_verifier(verifier)
    unique, inverse = _distinct(pool)
    scores, steps = score_layout(model, pool_layout(task, codec, unique, split), batch_size=batch_size)
    return scores[inverse], [steps[i] for i in inverse]


def _distinct(pool: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """(distinct (problem, text, finished) rows, index of each pool row among them).

    A strong generator repeats itself (the l generator's 64 samples of a problem hold ~35 distinct
    strings), and a deterministic scorer gives equal rows equal scores: each is scored once."""
    keys = pool[["problem_id", "text", "finished"]]
    codes = pd.factorize(pd.MultiIndex.from_frame(keys))[0]
    first = np.unique(codes, return_index=True)[1]
    return keys.iloc[first].reset_index(drop=True), codes


def _lm_steps(lm, codec, pool: pd.DataFrame, task: Task, split: str) -> list[np.ndarray]:
    unique, inverse = _distinct(pool)
    steps = lm_step_logprobs(lm, pool_layout(task, codec, unique, split))
    return [steps[i] for i in inverse]


def generator_step_logprobs(checkpoint: Checkpoint | str, pool: pd.DataFrame, task: Task, *,
                            split: str = "test") -> list[np.ndarray]:
    """The generator's own log-probability of each segment (nats); their sum is the pool's logprob."""
    model, codec = load_checkpoint(checkpoint.path if isinstance(checkpoint, Checkpoint) else checkpoint)
    return _lm_steps(model, codec, pool, task, split)


def verifier_lm_step_logprobs(verifier: VerifierRecord | str, pool: pd.DataFrame, task: Task, *,
                              split: str = "test") -> list[np.ndarray]:
    """The log-probability of each segment (nats) under the verifier's own language model, without its head.

    A verifier trained with the joint LM loss is also a language model trained further on gold solutions;
    ranking by this likelihood separates what that further training buys from what the value head adds."""
    model, codec = load_verifier(verifier)
    return _lm_steps(model.lm, codec, pool, task, split)


def scoring_flops(verifier: VerifierRecord, pool: pd.DataFrame) -> np.ndarray:
    """[S] FLOPs to score each sample: 2·P·(prompt + solution tokens)."""
    return verifier.score_flops_per_token * (pool["prompt_tokens"].to_numpy() + pool["gen_tokens"].to_numpy())
