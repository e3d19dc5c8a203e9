"""A content-addressed cache of drawn figures, so a warm rerun copies them instead of redrawing.

Drawing the figures (matplotlib layout, text metrics, PDF output) is most of a warm rerun's time.
A set of figures is a pure function of its input tables, the code under ``analysis/`` and the
matplotlib version, so ``figure_key`` hashes exactly those; ``FigureCache.restore`` copies a stored
set (files and headline numbers) into the output folder, and ``FigureCache.store`` keeps a freshly
drawn one. A stored set is written to a temporary folder and renamed, so a crash never leaves a
partial entry; an entry whose manifest or files are missing or unreadable counts as absent.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import matplotlib
import pandas as pd

from ttc.cache import atomic_write_bytes
from ttc.selection import REGISTRY

ANALYSIS_DIR = Path(__file__).resolve().parent
MANIFEST = "manifest.json"


def _code_digest() -> str:
    """Every source file of analysis/ (a change to any figure code redraws every figure), and the rule
    names the legends take from the rule registry."""
    h = hashlib.sha256(matplotlib.__version__.encode())
    h.update(json.dumps({name: info.label for name, info in REGISTRY.items()}).encode())
    for path in sorted(ANALYSIS_DIR.glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


# Each format's options that keep its bytes a pure function of the figure (no creation dates).
_SAVE_OPTIONS: dict[str, dict] = {"png": {"dpi": 150}, "pdf": {"metadata": {"CreationDate": None}},
                                  "svg": {"metadata": {"Date": None}}}
SAVE_FORMATS = tuple(_SAVE_OPTIONS)  # every format a figure can be saved in
FORMATS = ("png", "pdf")  # the default set (run.figure_formats)


def save_figure(fig, out_dir: Path, name: str, formats: tuple[str, ...] = FORMATS) -> list[Path]:
    """``fig`` saved as ``out_dir/name.<format>`` for each format; returns the paths."""
    paths = []
    for ext in formats:
        path = out_dir / f"{name}.{ext}"
        fig.savefig(path, **_SAVE_OPTIONS[ext])
        paths.append(path)
    return paths


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def figure_key(name: str, *inputs) -> str:
    """A key over the figure set's name, its inputs (DataFrames, files, or JSON-able values) and the
    code that draws it."""
    h = hashlib.sha256(name.encode())
    h.update(_code_digest().encode())
    for item in inputs:
        if isinstance(item, pd.DataFrame):
            h.update(json.dumps([list(map(str, item.columns)), [str(t) for t in item.dtypes]]).encode())
            h.update(pd.util.hash_pandas_object(item, index=False).to_numpy().tobytes())
        elif isinstance(item, Path):
            h.update(item.name.encode())
            h.update(item.read_bytes() if item.exists() else b"<missing>")
        else:
            h.update(json.dumps(item, sort_keys=True, default=str).encode())
    return h.hexdigest()[:20]


class FigureCache:
    """Stored figure sets under ``root/<key>/``; ``root=None`` disables the cache."""

    def __init__(self, root: Path | None):
        self.root = Path(root) if root is not None else None

    def restore(self, key: str, out_dir: Path) -> dict | None:
        """Copy the stored set into out_dir and return its manifest (``files``: names, ``numbers``),
        or None when it is not stored."""
        if self.root is None:
            return None
        entry = self.root / key
        try:
            manifest = json.loads((entry / MANIFEST).read_text())
            stored = manifest.pop("manifest_sha256")
            files = [entry / f for f in manifest["files"]]
            if stored != _digest(json.dumps(manifest, sort_keys=True).encode()) or not all(
                    f.is_file() and _digest(f.read_bytes()) == manifest["sha256"][f.name] for f in files):
                raise ValueError("a damaged figure entry")
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            shutil.rmtree(entry, ignore_errors=True)  # drawn again, then stored afresh
            return None
        out_dir.mkdir(parents=True, exist_ok=True)
        for f in files:  # each copy lands under a temporary name first, then replaces the old file
            atomic_write_bytes(out_dir / f.name, f.read_bytes())
        return {"files": list(manifest["files"]), "numbers": manifest.get("numbers", {})}

    def read_numbers(self, key: str) -> dict | None:
        """The numbers stored under ``key`` (an entry of numbers alone), or None."""
        if self.root is None:
            return None
        stored = self.restore(key, self.root / key)
        return None if stored is None else stored["numbers"]

    def store(self, key: str, files: list[Path], numbers: dict | None = None) -> None:
        """Keep copies of ``files`` (already written) and the numbers under ``key``."""
        if self.root is None:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        entry = self.root / key
        if (entry / MANIFEST).is_file():
            return
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=self.root))
        try:
            for f in files:
                shutil.copyfile(f, tmp / f.name)
            manifest = json.loads(json.dumps({"files": [f.name for f in files], "numbers": numbers or {},
                                              "sha256": {f.name: _digest(f.read_bytes()) for f in files}},
                                             default=float))
            manifest["manifest_sha256"] = _digest(json.dumps(manifest, sort_keys=True).encode())
            (tmp / MANIFEST).write_text(json.dumps(manifest))
            if entry.exists():  # a damaged entry (no manifest) is replaced
                shutil.rmtree(entry, ignore_errors=True)
            os.replace(tmp, entry)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            if not (entry / MANIFEST).is_file():
                raise
