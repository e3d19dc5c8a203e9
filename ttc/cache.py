"""The on-disk cache: content-addressed, atomic, and never trusting a damaged entry.

Every cached artefact lives at ``<root>/<kind>/<key>`` where ``key`` is a hash of everything that
determines it (``content_key``). Writes go to a temporary sibling and are renamed into place, so a
kill at any moment leaves either the old state or the complete new entry. Reads verify what they
can (parquet footer and metadata, row count, stored key, a completion marker for directories) and
treat any failure as a miss: the entry is deleted and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

DONE_MARK = "_TTC_COMPLETE.json"  # written last into a cached directory
META_KEY = b"ttc"  # parquet schema metadata entry holding the key and row count


def _canonical(obj: Any) -> Any:
    if is_dataclass(obj) and not isinstance(obj, type):
        return _canonical(asdict(obj))
    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    if isinstance(obj, float):
        return repr(obj)  # exact, and 1.0 != 1
    if isinstance(obj, Path):
        return str(obj)
    return obj


def content_key(*parts: Any, length: int = 16) -> str:
    """A stable hex hash of JSON-able parts (dataclasses, dicts, lists, scalars)."""
    blob = json.dumps(_canonical(list(parts)), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


class Cache:
    def __init__(self, root: Path | str):
        self.root = Path(root)

    def path(self, kind: str, key: str, suffix: str = "") -> Path:
        return self.root / kind / f"{key}{suffix}"

    # ---- data frames (parquet) ------------------------------------------------------------------
    def read_frame(self, kind: str, key: str) -> pd.DataFrame | None:
        """The cached frame, or None on a miss or on any sign of damage (the file is then removed)."""
        path = self.path(kind, key, ".parquet")
        if not path.exists():
            return None
        try:
            table = pq.read_table(path)
            meta = json.loads((table.schema.metadata or {})[META_KEY])
            if meta["key"] != key or meta["rows"] != table.num_rows:
                raise ValueError("metadata does not match")
            return table.to_pandas()
        except Exception:
            path.unlink(missing_ok=True)
            return None

    def write_frame(self, kind: str, key: str, frame: pd.DataFrame, extra_meta: dict | None = None) -> Path:
        path = self.path(kind, key, ".parquet")
        path.parent.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        meta = {"key": key, "rows": table.num_rows, **(extra_meta or {})}
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), META_KEY: json.dumps(meta)})
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{key}.", suffix=".tmp")
        os.close(fd)
        try:
            pq.write_table(table, tmp)
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
        return path

    def frame(self, kind: str, key: str, build: Callable[[], pd.DataFrame],
              extra_meta: dict | None = None) -> tuple[pd.DataFrame, bool]:
        """(frame, hit): read the cached frame or build, write and return it."""
        cached = self.read_frame(kind, key)
        if cached is not None:
            return cached, True
        frame = build()
        self.write_frame(kind, key, frame, extra_meta)
        return self.read_frame(kind, key), False

    # ---- directories (checkpoints) --------------------------------------------------------------
    def dir_ready(self, kind: str, key: str) -> Path | None:
        path = self.path(kind, key)
        if (path / DONE_MARK).exists():
            return path
        if path.exists():
            shutil.rmtree(path, ignore_errors=True)  # a half-written directory is never trusted
        return None

    def write_dir(self, kind: str, key: str, fill: Callable[[Path], dict]) -> Path:
        """Fill a temporary directory, mark it complete, and rename it into place."""
        path = self.path(kind, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{key}.", suffix=".tmp"))
        try:
            record = fill(tmp)
            (tmp / DONE_MARK).write_text(json.dumps({"key": key, **(record or {})}, indent=1))
            if path.exists():
                shutil.rmtree(path)
            os.replace(tmp, path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return path

    def dir_record(self, kind: str, key: str) -> dict:
        return json.loads((self.path(kind, key) / DONE_MARK).read_text())
