"""Checkpoints ttc did not train: a local Hugging Face directory as a ``Checkpoint`` record.

A real model (a Qwen or Llama checkpoint on disk) enters the sweep beside or instead of the trained
family (``generators.checkpoints = {name = "path"}``): it is never trained, its pools, scores and
curves are cached like any other, and its cache key is its *content*, not its path:

- ``checkpoint_digest(path)``: SHA-256 over ``config.json``, the tokenizer files, and for every weight
  file its name, size and the SHA-256 of its first and last MiB. Hashing all of a 15 GB model would
  take a minute per run; head, tail and size catch a replaced or re-downloaded file, which is what
  matters for a cache (a file edited in the middle with the same size would not be seen: stated).
- ``model_params(path)``: P, the non-embedding parameters (``ttc.compute.flop_params``), counted on a
  model built on the meta device from ``config.json`` (no weights read).

Nothing is ever downloaded: a path that is not a local directory with a ``config.json`` is a one-line
error naming the config key to set.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ttc.generators import Checkpoint

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json",
                   "merges.txt", "tokenizer.model", "chat_template.jinja")
_EDGE = 1 << 20


class CheckpointPathError(ValueError):
    """A configured checkpoint path is not a usable local model directory; the message names the key."""


def check_model_dir(path: str, key: str) -> Path:
    """``path`` as a local model directory (``config.json`` inside), or CheckpointPathError naming ``key``."""
    p = Path(path).expanduser()
    if not path:
        raise CheckpointPathError(f"{key} is not set; give a local model directory (nothing is downloaded)")
    if not p.is_dir():
        raise CheckpointPathError(f"{key}={path!r}: no such directory; give a local Hugging Face model "
                                  "directory (nothing is downloaded)")
    if not (p / "config.json").is_file():
        raise CheckpointPathError(f"{key}={path!r} has no config.json; give the directory save_pretrained wrote")
    return p


def _file_digest(path: Path) -> str:
    size = path.stat().st_size
    h = hashlib.sha256(f"{path.name}:{size}".encode())
    with open(path, "rb") as f:
        h.update(f.read(_EDGE))
        if size > 2 * _EDGE:
            f.seek(size - _EDGE)
            h.update(f.read(_EDGE))
        else:
            h.update(f.read())
    return h.hexdigest()


def checkpoint_digest(path: str | Path) -> str:
    """Content digest of a model directory (see the module docstring)."""
    p = Path(path)
    h = hashlib.sha256()
    for name in ("config.json", *TOKENIZER_FILES):
        if (p / name).is_file():
            h.update(name.encode() + b"\0" + (p / name).read_bytes())
    weights = sorted(f for f in p.iterdir() if f.suffix in WEIGHT_SUFFIXES)
    if not weights:
        raise CheckpointPathError(f"{p} holds no weight files ({', '.join(WEIGHT_SUFFIXES)})")
    for f in weights:
        h.update(_file_digest(f).encode())
    return h.hexdigest()


def model_params(path: str | Path) -> int:
    """P (non-embedding parameters) of the causal LM in ``path``, from its config alone."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from ttc.compute import flop_params
    config = AutoConfig.from_pretrained(str(path))
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return flop_params(model)


def external_checkpoint(name: str, path: str, *, train_flops: float = float("nan"), dtype: str = "",
                        engine: str = "ttc", device: str = "cpu", key: str = "generators.checkpoints") -> Checkpoint:
    """The ``Checkpoint`` record of a model ttc did not train (final, training tokens unknown: 0). Its key
    is the directory's content digest, the dtype it is sampled in (bf16 samples differ from fp32) and,
    for vLLM, the engine and whether requests are seeded (GPU) or not (CPU: ``ttc.vllm_backend``)."""
    p = check_model_dir(path, f"{key}.{name}")
    digest = checkpoint_digest(p)
    meta = p / "ttc_checkpoint.json"  # one of ttc's own checkpoints, moved: its training record holds
    tokens, flops = 0, train_flops
    if meta.is_file():
        info = json.loads(meta.read_text())
        tokens, flops = int(info.get("tokens", 0)), float(info.get("train_flops", train_flops))
    suffix = (f"-{dtype}" if dtype else "") + (f"-vllm-{'gpu' if device != 'cpu' else 'cpu'}" if engine == "vllm" else "")
    return Checkpoint(generator=name, key=f"external-{digest[:24]}{suffix}", path=str(p.resolve()),
                      params=model_params(p), tokens=tokens, train_flops=flops, step=0, loss=float("nan"),
                      final=True)
