"""The on-disk cache: content-addressed, atomic, and never trusting a damaged entry.

Every cached artefact lives at ``<root>/<kind>/<key>`` where ``key`` is a hash of everything that
determines it (``content_key``). Writes go to a temporary sibling and are renamed into place, so a
kill at any moment leaves either the old state or the complete new entry. Reads verify every byte
before trusting an entry and treat any failure as a miss: the entry is deleted and rebuilt.
- A single-file entry (a parquet frame, a JSON record) has a ``<name>.sha256`` sidecar with its
  size and checksum, written before the file is renamed into place (a kill between the two leaves a
  mismatch, i.e. a miss). A frame's stored key and row count are checked too.
- A directory entry (a checkpoint, a verifier) has a completion marker, written last, holding the size
  and SHA-256 of every file and a checksum of the marker itself.
Entries written before these checks existed are verified as far as they can be and sealed on first read.

Several processes may share one cache (two users, or the workers of a distributed backend):
``Cache.lock`` is a per-entry file lock that builders hold while they check and build, so a second
process waits for an entry being built and then reads it instead of computing it again; a complete
directory entry is never deleted or replaced under a reader.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from filelock import FileLock

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


def without_new_defaults(fields: dict, newer: dict) -> dict:
    """``fields`` (a nested dict, e.g. ``asdict`` of a spec) less every field that ``newer`` names at its
    value there, recursively: a field added after keys were made (``newer`` maps it to the value that
    reproduces the old behaviour) stays out of the key while it holds that value, so every key made
    before it existed stays valid. A non-empty dict in ``newer`` names fields of a nested table; an empty
    one is the old value of a dict-valued field. Returns a new dict; ``fields`` is left alone."""
    out = dict(fields)
    for name, old in newer.items():
        if isinstance(old, dict) and old and isinstance(out.get(name), dict):  # a nested table of fields
            out[name] = without_new_defaults(out[name], old)
        elif name in out and out[name] == old:
            del out[name]
    return out


class Cache:
    def __init__(self, root: Path | str):
        self.root = Path(root)

    def path(self, kind: str, key: str, suffix: str = "") -> Path:
        return self.root / kind / f"{key}{suffix}"

    def lock(self, kind: str, key: str) -> FileLock:
        """An inter-process lock for one entry (``with cache.lock(kind, key): ...``); re-entrant in a
        process. Hold it while checking for and building an entry."""
        path = (self.root / kind / ".locks" / f"{key}.lock").resolve()
        if path not in _LOCKS:  # one object per path: a second FileLock on it would wait for ourselves
            path.parent.mkdir(parents=True, exist_ok=True)
            _LOCKS[path] = FileLock(path)
        return _LOCKS[path]

    # ---- data frames (parquet) ------------------------------------------------------------------
    def read_frame(self, kind: str, key: str) -> pd.DataFrame | None:
        """The cached frame, or None on a miss or on any sign of damage (the file is then removed)."""
        def parse(path: Path) -> pd.DataFrame:
            table = pq.read_table(path)
            meta = json.loads((table.schema.metadata or {})[META_KEY])
            if meta["key"] != key or meta["rows"] != table.num_rows:
                raise ValueError("metadata does not match")
            return table.to_pandas()

        return _read_sealed(self.path(kind, key, ".parquet"), parse)

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
            _publish_sealed(Path(tmp), path)
        finally:
            Path(tmp).unlink(missing_ok=True)
        return path

    def frame(self, kind: str, key: str, build: Callable[[], pd.DataFrame],
              extra_meta: dict | None = None) -> tuple[pd.DataFrame, bool]:
        """(frame, hit): read the cached frame or build, write and return it (under the entry's lock, so
        concurrent processes build it once)."""
        cached = self.read_frame(kind, key)
        if cached is not None:
            return cached, True
        with self.lock(kind, key):
            cached = self.read_frame(kind, key)  # built by another process while we waited
            if cached is not None:
                return cached, True
            frame = build()
            self.write_frame(kind, key, frame, extra_meta)
            return self.read_frame(kind, key), False

    # ---- directories (checkpoints) --------------------------------------------------------------
    def dir_ready(self, kind: str, key: str) -> Path | None:
        """The entry's directory if it is complete and undamaged (every file of its manifest present
        with its size and checksum), else None; a damaged or half-written directory is removed."""
        path = self.path(kind, key)
        try:
            marker = json.loads((path / DONE_MARK).read_text())
            if marker.get("key") != key:
                raise ValueError("marker of another entry")
            stored = marker.pop("marker_sha256", None)
            if stored is not None and stored != _json_digest(marker):
                raise ValueError("damaged marker")
            if "files" not in marker:  # written before manifests: record what is there now
                marker["files"] = _manifest(path)
            if not _verify(path, marker["files"]):
                raise ValueError("a file is missing or damaged")
            if stored is None:  # written before marker checksums: sealed now
                _write_json_atomic(path / DONE_MARK, {**marker, "marker_sha256": _json_digest(marker)})
            return path
        except (OSError, ValueError, TypeError, AttributeError, KeyError):
            if path.exists():
                _discard(path)  # never trusted: rebuilt by the caller
            return None

    def write_dir(self, kind: str, key: str, fill: Callable[[Path], dict]) -> Path:
        """Fill a temporary directory, mark it complete with its manifest, and rename it into place.
        If another process published the entry meanwhile, its copy is kept and ours dropped."""
        path = self.path(kind, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{key}.", suffix=".tmp"))
        try:
            record = fill(tmp)
            marker = {"key": key, **(record or {}), "files": _manifest(tmp)}
            (tmp / DONE_MARK).write_text(json.dumps({**marker, "marker_sha256": _json_digest(marker)}, indent=1))
            with self.lock(kind, key):
                if self.dir_ready(kind, key) is None:  # (removes a damaged one)
                    os.replace(tmp, path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return path

    def dir_record(self, kind: str, key: str) -> dict:
        record = json.loads((self.path(kind, key) / DONE_MARK).read_text())
        record.pop("marker_sha256", None)
        return record

    # ---- JSON records -----------------------------------------------------------------------------
    def write_json(self, kind: str, key: str, obj: Any) -> Path:
        """A JSON entry ``<kind>/<key>.json``, sealed and renamed into place."""
        path = self.path(kind, key, ".json")
        atomic_write_bytes(path, json.dumps(obj, indent=1).encode(), sealed=True)
        return path

    def read_json(self, kind: str, key: str) -> Any:
        """The JSON entry, or None on a miss or any sign of damage (the file is then removed)."""
        return _read_sealed(self.path(kind, key, ".json"), lambda p: json.loads(p.read_text()))


_LOCKS: dict[Path, FileLock] = {}
_VERIFIED: dict[Path, tuple] = {}  # entry -> (sizes, mtimes) when checksummed in this process


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _manifest(root: Path) -> dict:
    """{relative path: {size, sha256}} of every file under root except the marker."""
    return {str(p.relative_to(root)): {"size": p.stat().st_size, "sha256": _file_digest(p)}
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != DONE_MARK}


def _verify(root: Path, files: dict) -> bool:
    try:  # what a file's change would touch: size and modification time of every file
        stamp: tuple = tuple((rel, (root / rel).stat().st_size, (root / rel).stat().st_mtime_ns) for rel in sorted(files))
    except OSError:
        return False
    stamp += ((DONE_MARK, (root / DONE_MARK).stat().st_mtime_ns),)
    if _VERIFIED.get(root) == stamp:
        return True  # checksummed already in this process, and untouched since
    for rel, want in files.items():
        p = root / rel
        if not p.is_file() or p.stat().st_size != want["size"] or _file_digest(p) != want["sha256"]:
            return False
    _VERIFIED[root] = stamp
    return True


def _json_digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _seal(path: Path, sidecar: Path | None = None) -> None:
    """Write ``path``'s size and SHA-256 into its sidecar (atomically)."""
    _write_json_atomic(sidecar or _sidecar(path), {"size": path.stat().st_size, "sha256": _file_digest(path)})


def _sealed_ok(path: Path) -> bool:
    """False when the sidecar disagrees with the file (a missing sidecar: an older entry, not refused)."""
    side = _sidecar(path)
    if not side.exists():
        return True
    st = path.stat()
    stamp = (st.st_size, st.st_mtime_ns, side.stat().st_mtime_ns)
    if _VERIFIED.get(path) == stamp:
        return True
    want = json.loads(side.read_text())
    ok = want["size"] == st.st_size and want["sha256"] == _file_digest(path)
    if ok:
        _VERIFIED[path] = stamp
    return ok


def _publish_sealed(tmp: Path, path: Path) -> None:
    """Seal a complete temporary file under ``path``'s sidecar, then rename it into place."""
    _seal(tmp, sidecar=_sidecar(path))
    os.replace(tmp, path)


def _read_sealed(path: Path, parse: Callable[[Path], Any]) -> Any:
    """``parse(path)`` of a single-file entry whose checksum holds, or None on a miss or any sign of
    damage (unreadable, undecodable, a checksum or sidecar that disagrees: the entry is removed). An
    entry from before the checksums is sealed once it parses."""
    if not path.exists():
        return None
    try:
        if not _sealed_ok(path):
            raise ValueError("checksum does not match")
        value = parse(path)
        if not _sidecar(path).exists():
            _seal(path)
        return value
    except Exception:
        discard_file(path)
        return None


def atomic_write_bytes(path: Path, data: bytes, *, sealed: bool = False) -> None:
    """The one atomic write: ``data`` goes to a unique temporary sibling that is renamed over ``path``
    (a reader sees the old file or the new one, never half of one; the temporary file is removed if the
    write fails). ``sealed`` adds the size + SHA-256 sidecar that ``intact`` checks (cache files
    outside the keyed layout, e.g. the Hex cache's); results files go without one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask's permissions, as open() gives
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        if sealed:
            _publish_sealed(tmp, path)
        else:
            os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """``atomic_write_bytes`` of UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))


def intact(*paths: Path) -> bool:
    """True iff every file exists and its checksum holds; each damaged file (or sidecar) is removed, so
    the caller rebuilds it. A file from before the checksums is sealed on first check."""
    return all([_intact_one(p) for p in paths])  # a list: every damaged file is removed, not just the first


def _intact_one(path: Path) -> bool:
    if not path.exists():
        return False
    try:
        if _sealed_ok(path):
            if not _sidecar(path).exists():
                _seal(path)
            return True
    except (OSError, ValueError, KeyError, TypeError):
        pass
    discard_file(path)
    return False


STALE_AFTER_S = 24 * 3600  # a temporary untouched this long belongs to a process that died writing it
TEMP_SUFFIXES = (".tmp", ".trash")  # the hidden names of this module's writes (and the figure cache's)


def remove_stale_temporaries(root: Path, *, older_than_s: float = STALE_AFTER_S, prefix: str = ".",
                             suffixes: tuple[str, ...] = TEMP_SUFFIXES, recursive: bool = True) -> int:
    """Delete the temporaries a killed process left under ``root`` (only in ``root`` itself unless
    ``recursive``): files and folders named ``<prefix>…<suffix>`` that nothing has written to for
    ``older_than_s`` (a folder counts as written when any file in it was). A live writer touches its
    temporary within seconds, so one a day old is an orphan; a younger one may be another process's
    write in progress and is left alone. Returns how many were removed."""
    root = Path(root)
    if not root.is_dir():
        return 0
    entries = (p for p in (root.rglob(f"{prefix}*") if recursive else root.glob(f"{prefix}*"))
               if p.name.endswith(suffixes))
    cutoff = time.time() - older_than_s
    removed = 0
    for path in sorted(entries, key=lambda p: len(p.parts)):  # outer first: an orphan folder goes whole
        try:
            if _last_written(path) >= cutoff:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            removed += 1
        except OSError:  # gone meanwhile (inside an orphan folder removed above), or not ours to remove
            continue
    return removed


def _last_written(path: Path) -> float:
    """The latest modification time of ``path`` and, for a folder, of everything in it."""
    stamps = [path.lstat().st_mtime]
    if path.is_dir() and not path.is_symlink():
        stamps += [q.lstat().st_mtime for q in path.rglob("*")]
    return max(stamps)


def discard_file(path: Path) -> None:
    """Remove a single-file entry and its sidecar."""
    path.unlink(missing_ok=True)
    _sidecar(path).unlink(missing_ok=True)


def _write_json_atomic(path: Path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=1))


def _discard(path: Path) -> None:
    """Move a directory aside (one rename, so no reader sees it half deleted), then delete it."""
    trash = path.with_name(f".{path.name}.{os.getpid()}.trash")
    try:
        os.replace(path, trash)
    except OSError:
        return
    shutil.rmtree(trash, ignore_errors=True)


def unusable_dir(path: Path) -> str | None:
    """Why ``path`` cannot hold a run's output folder, or None (checked without creating anything)."""
    if path.exists() and not path.is_dir():
        return "is a file; give a folder"
    existing = path
    while not existing.exists():  # the folder is created later: its nearest existing parent must allow it
        existing = existing.parent
    if not existing.is_dir():
        return f"lies under the file {str(existing)!r}; give a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"cannot be written ({str(existing)!r} is read-only); give a writable folder"
    return None
