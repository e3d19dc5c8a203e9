"""Results written as a unit: every output of a run is built in a staging folder, then moved in.

A run that fails anywhere before ``publish`` leaves the previous ``results/`` untouched; publishing
moves file by file with ``os.replace`` (each move atomic), then removes the outputs of the managed
set that this run no longer makes. Files of ``results/`` outside the managed set (its README) stay.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def staging(dest: Path):
    """A fresh folder beside ``dest`` (same file system, so moves are renames); removed on exit."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{dest.name}-staging-", dir=dest.parent))
    try:
        yield stage
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def publish(stage: Path, dest: Path, managed: list[str]) -> list[Path]:
    """Move every file under ``stage`` to the same place under ``dest``; then delete each path in
    ``managed`` (files, or folders whose every file is the run's) that the staged set does not hold.
    Returns the published paths."""
    new = sorted(p for p in stage.rglob("*") if p.is_file())
    rel = {p.relative_to(stage) for p in new}
    published = []
    for p in new:
        target = dest / p.relative_to(stage)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(p, target)
        published.append(target)
    for name in managed:
        path = dest / name
        olds = [path] if path.is_file() else sorted(q for q in path.rglob("*") if q.is_file()) if path.is_dir() else []
        for old in olds:
            if old.relative_to(dest) not in rel:
                old.unlink()
    return published
