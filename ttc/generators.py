"""Generators as cached artefacts: train once, checkpoint along the way, load like any HF checkpoint.

A trained generator is a list of ``Checkpoint`` records, each a standard Hugging Face directory
(``config.json``, weights, tokenizer files) that ``AutoModelForCausalLM.from_pretrained`` loads, plus
``ttc_checkpoint.json`` with its training tokens and FLOPs. ttc's own checkpoints and a user's real
checkpoint go through the same ``load_checkpoint``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.utils import logging as hf_logging

from ttc.cache import Cache, content_key, discard_file, without_new_defaults
from ttc.compute import train_flops
from ttc.curriculum import CurriculumStage, train_curriculum
from ttc.models import ModelSize, build_model
from ttc.pools import PoolSpec, cached_pool
from ttc.tasks.base import Task
from ttc.tokenizer import DEFAULT_CHARS, Codec, build_char_tokenizer
from ttc.train import NEW_TRAIN_FIELDS, CheckpointInfo, TrainConfig, train_generator

CKPT_META = "ttc_checkpoint.json"
TRAINER_VERSION = 2  # bump when training code changes what a config produces (2: lean loss, foreach AdamW)


@dataclass(frozen=True)
class GeneratorSpec:
    size: ModelSize
    train: TrainConfig
    init_seed: int | None = None  # the initial weights' seed; None = train.seed (which also orders the data)
    # stages of easier data trained before ``train`` (ttc.curriculum); () = none
    curriculum: tuple[CurriculumStage, ...] = ()

    def resolved(self) -> GeneratorSpec:
        """The spec with the learning rate filled in from the shape when the train config leaves it unset."""
        return self if self.train.lr is not None else replace(self, train=replace(self.train, lr=self.size.lr))


@dataclass(frozen=True)
class Checkpoint:
    generator: str  # size name
    key: str  # content key of this checkpoint (cache directory name)
    path: str
    params: int  # P, non-embedding (ttc.compute)
    tokens: int  # training tokens processed, a curriculum's included
    train_flops: float  # 6·P·tokens
    step: int
    loss: float
    final: bool  # the end of the training budget
    branch: bool = False  # a decay branch of its own budget (train.checkpoint_decay), not the main run's state
    curriculum_tokens: int = 0  # of ``tokens``, those of the curriculum's stages before the main run


# Checkpoint fields added after keys were made, at their old value: left out of keys holding a record
NEW_CHECKPOINT_FIELDS = {"curriculum_tokens": 0}


def training_view(task: Task) -> dict:
    """The part of a task's spec that training reads (not the test/ood splits)."""
    return {k: v for k, v in task.spec_dict().items() if k not in ("ood", "n_test", "n_ood")}


def generator_key(task: Task, spec: GeneratorSpec) -> str:
    spec = spec.resolved()
    # the key of every generator trained before init_seed, init_std and the newer TrainConfig fields existed
    fields = without_new_defaults(asdict(spec), {"init_seed": None, "size": {"init_std": None},
                                                 "train": NEW_TRAIN_FIELDS, "curriculum": ()})
    return content_key("generator", TRAINER_VERSION, training_view(task), fields, DEFAULT_CHARS)


def read_records(cache: Cache, generator_key: str) -> list[Checkpoint]:
    """A cached generator's checkpoint records, their paths re-rooted at ``cache`` (so a cache
    directory can be moved or copied)."""
    rows = cache.read_json("generators", generator_key)
    if not isinstance(rows, list):
        raise ValueError(f"generator {generator_key}: its record is missing or damaged")
    return [Checkpoint(**{**r, "path": str(cache.path("checkpoints", r["key"]))}) for r in rows]


def checkpoint_pool(cache: Cache, checkpoint: Checkpoint, task: Task, spec: PoolSpec, *, model=None,
                    progress: bool = False, device: str = "cpu", dtype: str = "", engine: str = "ttc") -> pd.DataFrame:
    """``checkpoint``'s judged pool for ``spec`` (ttc.pools.cached_pool): read from the cache, or sampled
    with ``model`` (loaded from the checkpoint on ``device`` in ``dtype`` only on a miss) and the caller's
    torch threads. ``engine="vllm"`` samples with vLLM (``ttc.vllm_backend``). Dtype and engine are part of an
    external checkpoint's key (``ttc.external``), so pools of different engines or dtypes never mix."""
    codec = Codec.of(AutoTokenizer.from_pretrained(checkpoint.path))  # cheap, unlike the model
    torch_dtype = getattr(torch, dtype) if dtype else None
    if model is not None:
        load = lambda: model  # noqa: E731
    elif engine == "vllm":
        from ttc.vllm_backend import VllmGenerator
        load = lambda: VllmGenerator(checkpoint.path, seed=spec.seed, dtype=dtype, device=device)  # noqa: E731
    else:
        load = lambda: load_checkpoint(checkpoint.path, device=device, dtype=torch_dtype)[0]  # noqa: E731
    return cached_pool(cache, checkpoint.key, load, codec, task, spec, progress=progress)[0]


def load_checkpoint(path: str | Path, *, device: str | torch.device = "cpu", dtype=None):
    """(model, codec) from any Hugging Face causal-LM directory, ttc's or a real one."""
    hf_logging.disable_progress_bar()  # a local load needs no "Loading weights" bar between ours
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype) if dtype else \
        AutoModelForCausalLM.from_pretrained(path)
    model.to(device).eval()  # type: ignore[arg-type]  # transformers' stub of .to
    return model, Codec.of(AutoTokenizer.from_pretrained(path))


def generator_cached(cache: Cache, task: Task, spec: GeneratorSpec) -> bool:
    """Whether ``spec``'s generator has finished training in ``cache`` (``ensure_generator`` would read it)."""
    return cache.path("generators", generator_key(task, spec), ".json").exists()


def ensure_generator(cache: Cache, task: Task, spec: GeneratorSpec, *, progress: bool = False) -> list[Checkpoint]:
    """Train (or read from the cache) one generator; returns its checkpoints, smallest compute first."""
    spec = spec.resolved()
    gkey = generator_key(task, spec)
    with cache.lock("generators", gkey):  # another process training it: wait, then read its result
        return _ensure_generator(cache, task, spec, gkey, progress)


def _ensure_generator(cache: Cache, task: Task, spec: GeneratorSpec, gkey: str, progress: bool) -> list[Checkpoint]:
    done = cache.path("generators", gkey, ".json")
    if done.exists():
        try:
            stored = read_records(cache, gkey)
            if all(cache.dir_ready("checkpoints", r.key) for r in stored):
                return stored
        except (ValueError, TypeError, KeyError):
            pass
        discard_file(done)  # damaged or incomplete: retrain (deterministic, same result)

    hf_logging.disable_progress_bar()  # no per-shard bars inside our own progress bars
    tokenizer = build_char_tokenizer()
    model = build_model(spec.size, tokenizer, seed=spec.train.seed if spec.init_seed is None else spec.init_seed)
    records: list[Checkpoint] = []
    codec = Codec.of(tokenizer)
    before = train_curriculum(model, task, codec, spec.train, spec.curriculum, progress=progress,
                              desc=f"train {spec.size.name}") if spec.curriculum else 0

    def save(m: Any, info: CheckpointInfo) -> None:  # a transformers model
        info = replace(info, tokens=before + info.tokens, train_flops=train_flops(info.params, before + info.tokens))
        ckey = f"{gkey}-{info.tokens}"

        def fill(d: Path) -> dict:
            m.save_pretrained(d)
            tokenizer.save_pretrained(d)
            meta = {"generator": spec.size.name, **asdict(info), "curriculum_tokens": before,
                    "task": training_view(task), "size": asdict(spec.size), "train": asdict(spec.train),
                    "curriculum": [asdict(stage) for stage in spec.curriculum],
                    "params_convention": "P = all parameters except the input token embedding"}
            (d / CKPT_META).write_text(json.dumps(meta, indent=1))
            return {"tokens": info.tokens}

        path = cache.write_dir("checkpoints", ckey, fill)
        records.append(Checkpoint(generator=spec.size.name, key=ckey, path=str(path), params=info.params,
                                  tokens=info.tokens, train_flops=info.train_flops, step=info.step,
                                  loss=info.loss, final=False, branch=info.branch, curriculum_tokens=before))

    train_generator(model, task, codec, spec.train, on_checkpoint=save, progress=progress,
                    desc=f"train {spec.size.name}")
    records[-1] = Checkpoint(**{**asdict(records[-1]), "final": True})
    cache.write_json("generators", gkey, [asdict(r) for r in records])
    return records
