"""Single cache files outside the keyed layout (the Hex cache's): JSON, ``.npz``, pickle and torch
files, each written by ``ttc.cache.atomic_write_bytes`` (a temporary file renamed into place, sealed
with a size + SHA-256 sidecar) and checked with ``ttc.cache.intact`` before it is trusted; and
``json_safe``, the JSON form of results (numpy scalars to Python, NaN to null)."""

from __future__ import annotations

import io
import json
import math
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from ttc.cache import atomic_write_bytes


def json_safe(obj: Any) -> Any:
    """JSON-safe copy: numpy scalars to Python, NaN/inf to None (strict JSON has no NaN)."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_json_file(path: Path, obj: Any, *, sealed: bool = True) -> None:
    """``json_safe(obj)`` as indented, key-sorted JSON; ``sealed=False`` for results files."""
    atomic_write_bytes(path, json.dumps(json_safe(obj), indent=1, sort_keys=True).encode(), sealed=sealed)


def read_json_file(path: Path) -> Any:
    return json.loads(path.read_text())


def write_npz(path: Path, arrays: dict[str, Any]) -> None:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue(), sealed=True)


def read_npz(path: Path) -> dict[str, Any]:
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def write_pickle(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL), sealed=True)


def read_pickle(path: Path) -> Any:
    return pickle.loads(path.read_bytes())


def write_torch(path: Path, obj: Any) -> None:
    import torch  # here, not at import: the cache serves torch-free readers (ttc.evaluate) too
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue(), sealed=True)


def read_torch(path: Path) -> Any:
    import torch
    return torch.load(path, weights_only=False)
