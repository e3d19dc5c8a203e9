"""Content-addressed cache files for the Hex experiment: keys hash what a stage depends on; every
write goes to a temporary file, is sealed with a size + SHA-256 sidecar (``ttc.cache``, as the LM
cache's files) and is moved into place, so a killed run never leaves half a file behind; ``intact``
is the one "is it there and undamaged" check (a damaged file is removed and rebuilt)."""

from __future__ import annotations

import hashlib
import io
import json
import pickle
from pathlib import Path

import numpy as np
import torch

from ttc.cache import atomic_write_bytes as _atomic_write_bytes
from ttc.cache import intact as _intact


def content_key(stage: str, version: int, pieces: dict) -> str:
    """Short hash of a stage name, its code version and the JSON of everything it depends on."""
    blob = json.dumps({"stage": stage, "version": version, **pieces}, sort_keys=True, default=str)
    return f"{stage}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


def atomic_write_bytes(path: Path, data: bytes, *, sealed: bool = True) -> None:
    """``ttc.cache.atomic_write_bytes``, sealed by default (cache files); results files pass ``sealed=False``."""
    _atomic_write_bytes(path, data, sealed=sealed)


def intact(*paths: Path) -> bool:
    """Every file exists and its checksum holds (each damaged one is removed)."""
    return all([_intact(p) for p in paths])  # a list: every damaged file is removed, not just the first


def json_safe(obj):
    """JSON-safe copy: numpy scalars to Python, NaN/inf to None (strict JSON has no NaN)."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def write_json(path: Path, obj, *, sealed: bool = True) -> None:
    atomic_write_bytes(path, json.dumps(json_safe(obj), indent=1, sort_keys=True).encode(), sealed=sealed)


def read_json(path: Path):
    return json.loads(path.read_text())


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as allow_pickle
    atomic_write_bytes(path, buf.getvalue())


def read_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def write_pickle(path: Path, obj) -> None:
    atomic_write_bytes(path, pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))


def read_pickle(path: Path):
    return pickle.loads(path.read_bytes())


def write_torch(path: Path, obj) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def read_torch(path: Path):
    return torch.load(path, weights_only=False)
