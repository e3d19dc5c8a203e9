"""Read a pool of samples (JSONL from any LLM run, or ttc's own parquet) into one tidy DataFrame.

One row per sample, sorted by (problem_id, sample_idx), with the columns the estimators read:
``problem_id``, ``sample_idx``, ``answer`` (str or None), ``is_correct`` (bool) and, when the pool
has them, ``process_correct`` (bool), ``score`` (float), ``step_scores`` (list of floats) and
``gen_tokens`` (int). ``score`` and ``step_scores`` are whichever source columns the caller names,
so a parquet pool with ``score_orm`` and ``step_scores_prm`` serves any verifier. The schema is in
docs/pool_schema.md. Every problem found is a ``PoolError`` whose message is one line naming the
place (file, line or row) and the fix.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa


class PoolError(ValueError):
    """A malformed pool or request; the message is one line that names the place and the fix."""


OPTIONAL_BOOLS = ("process_correct",)


def _type_name(value) -> str:
    return "null" if value is None else type(value).__name__


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_answer(value) -> bool:
    """A string, or a null (None, pandas' NA, or the NaN that pandas' str dtype uses)."""
    return (
        value is None
        or value is pd.NA
        or isinstance(value, str)
        or (isinstance(value, float) and math.isnan(value))
    )


def _check_step_scores(value, where: str, name: str) -> list[float]:
    if not isinstance(value, list | tuple | np.ndarray) or len(value) == 0:
        raise PoolError(f"{where}: '{name}' must be a non-empty list of numbers, got {_type_name(value)}")
    steps = list(value)
    if not all(_is_number(v) or isinstance(v, np.floating) for v in steps):
        raise PoolError(f"{where}: '{name}' must hold numbers only")
    try:
        steps = [float(v) for v in steps]
    except OverflowError:
        raise PoolError(f"{where}: '{name}' holds an integer too large for a float; scale the scores") from None
    if not all(math.isfinite(v) for v in steps):
        raise PoolError(f"{where}: '{name}' holds NaN or infinity; drop or fix that step score")
    return [float(v) for v in steps]


def _typed(value, kind: type, where: str, key: str):
    """An optional JSONL field checked against its kind (bool, int, float score, list of steps)."""
    if kind is bool and not isinstance(value, bool):
        raise PoolError(f"{where}: '{key}' must be true or false, got {_type_name(value)}")
    if kind is int and (not isinstance(value, int) or isinstance(value, bool)):
        raise PoolError(f"{where}: '{key}' must be an integer, got {_type_name(value)}")
    if kind is int and value < 0:
        raise PoolError(f"{where}: '{key}' is {value}; it counts from 0, so give a non-negative integer")
    if kind is float:
        if not _is_number(value):
            raise PoolError(f"{where}: '{key}' must be a number, got {_type_name(value)}")
        try:
            value = float(value)
        except OverflowError:
            raise PoolError(f"{where}: '{key}' is an integer too large for a float; scale the scores") from None
        if not math.isfinite(value):
            raise PoolError(f"{where}: '{key}' is {value}; scores must be finite numbers")
        return float(value)
    if kind is list:
        return _check_step_scores(value, where, key)
    return value


def _read_jsonl(path: Path, score: str, step_scores: str) -> pd.DataFrame:
    columns: dict[str, list] = {k: [] for k in ("problem_id", "answer", "is_correct")}
    optional = {"process_correct": bool, score: float, step_scores: list, "gen_tokens": int, "sample_idx": int}
    seen: dict[str, int] = {}  # optional field -> first line that had it
    with open(path, "rb") as f:
        for line_no, line in _lines(f, path):
            if not line.strip():
                continue
            where = f"{path}:{line_no}"
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise PoolError(f"{where}: bad JSON ({e.msg}); each line must be one JSON object") from None
            except (ValueError, RecursionError) as e:  # an integer of 4,300+ digits, or deep nesting
                what = "nested too deeply" if isinstance(e, RecursionError) else "an integer too long to read"
                raise PoolError(f"{where}: bad JSON ({what}); each line must be one flat JSON object") from None
            if not isinstance(rec, dict):
                raise PoolError(f"{where}: expected a JSON object per line, got {_type_name(rec)}")
            for key in ("problem_id", "answer", "is_correct"):
                if key not in rec:
                    raise PoolError(
                        f"{where}: missing field '{key}' (needed: problem_id, answer, is_correct)"
                    )
            pid, answer, correct = rec["problem_id"], rec["answer"], rec["is_correct"]
            if not isinstance(pid, str | int) or isinstance(pid, bool):
                raise PoolError(
                    f"{where}: 'problem_id' must be a string or an integer, got {_type_name(pid)}"
                )
            if answer is not None and not isinstance(answer, str):
                raise PoolError(f"{where}: 'answer' must be a string or null, got {_type_name(answer)}")
            if not isinstance(correct, bool):
                raise PoolError(f"{where}: 'is_correct' must be true or false, got {_type_name(correct)}")
            columns["problem_id"].append(str(pid))
            columns["answer"].append(answer)
            columns["is_correct"].append(correct)
            for key, kind in optional.items():
                if key in columns and key not in rec:
                    raise PoolError(f"{where}: missing '{key}' (line {seen[key]} has it; all lines or none)")
                if key not in rec:
                    continue
                if key not in columns:
                    if len(columns["answer"]) > 1:
                        raise PoolError(
                            f"{where}: '{key}' is here but not on earlier lines; all lines or none"
                        )
                    seen[key], columns[key] = line_no, []
                value = _typed(rec[key], kind, where, key)
                columns[key].append(value)
    frame = pd.DataFrame(columns).rename(columns={score: "score", step_scores: "step_scores"})
    if "sample_idx" in frame:  # given: kept, so a line written twice is caught as a duplicate below
        frame.insert(1, "sample_idx", frame.pop("sample_idx"))
        dup = frame.duplicated(["problem_id", "sample_idx"]).to_numpy()
        if dup.any():
            i = int(np.flatnonzero(dup)[0])
            raise PoolError(f"{path}: (problem_id={frame['problem_id'].iloc[i]}, sample_idx="
                            f"{frame['sample_idx'].iloc[i]}) appears twice; each sample once")
    else:  # numbered in file order; identical lines are separate samples (a sampler repeats itself)
        frame.insert(1, "sample_idx", frame.groupby("problem_id", sort=False).cumcount())
    return frame


def _lines(f, path: Path):
    """(line number, text) of a binary file's lines, with a one-line error for bytes that are not UTF-8."""
    for line_no, raw in enumerate(f, start=1):
        try:
            yield line_no, raw.decode("utf-8")
        except UnicodeDecodeError:
            raise PoolError(f"{path}:{line_no}: not UTF-8 text; a JSONL pool is UTF-8 JSON, one object per "
                            "line") from None
def _read_parquet(path: Path, score: str, step_scores: str) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError, pa.ArrowException) as e:  # truncated or foreign files
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise PoolError(f"{path}: cannot read as parquet ({first}); is the file complete?") from None
    for key in ("problem_id", "answer", "is_correct"):
        if key not in frame.columns:
            raise PoolError(f"{path}: missing column '{key}' (needed: problem_id, answer, is_correct)")
    if "sample_idx" not in frame.columns:
        frame.insert(1, "sample_idx", frame.groupby("problem_id", sort=False).cumcount())

    def where(mask: np.ndarray) -> str:
        row = int(np.flatnonzero(mask)[0])
        return f"{path} row {row} (problem_id={frame['problem_id'].iloc[row]}, sample_idx={frame['sample_idx'].iloc[row]})"

    if frame["problem_id"].isna().any():
        raise PoolError(f"{where(frame['problem_id'].isna().to_numpy())}: 'problem_id' is null")
    idx = frame["sample_idx"]
    if not pd.api.types.is_integer_dtype(idx) or idx.isna().any():
        got = "nulls" if pd.api.types.is_integer_dtype(idx) else idx.dtype
        raise PoolError(f"{path}: column 'sample_idx' must be integers (no nulls), got {got}; number each "
                        "problem's samples 0, 1, ... or drop the column")
    for key in ("sample_idx", "gen_tokens"):
        counts = frame[key].to_numpy() if key in frame.columns and pd.api.types.is_integer_dtype(frame[key]) else None
        if counts is not None and (counts < 0).any():
            raise PoolError(f"{where(counts < 0)}: '{key}' is {counts[counts < 0][0]}; it counts from 0, so give a "
                            "non-negative integer")
    bad = ~frame["answer"].map(_is_answer).to_numpy()
    if bad.any():
        raise PoolError(f"{where(bad)}: 'answer' must be a string or null")
    for key in ("is_correct",) + OPTIONAL_BOOLS:
        if key in frame.columns and not pd.api.types.is_bool_dtype(frame[key]):
            raise PoolError(f"{path}: column '{key}' must be bool (no nulls), got {frame[key].dtype}")
        if key in frame.columns and frame[key].isna().any():  # a nullable "boolean" column passes the above
            raise PoolError(f"{where(frame[key].isna().to_numpy())}: '{key}' is null; give every sample "
                            "true or false")
    if score in frame.columns:
        values = frame[score]
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            raise PoolError(f"{path}: score column '{score}' must be numeric, got {values.dtype}")
        bad = ~np.isfinite(values.to_numpy(dtype=float))
        if bad.any():
            raise PoolError(f"{where(bad)}: '{score}' is NaN or infinite; scores must be finite numbers")
        frame["score"] = values.astype(float)
    if step_scores in frame.columns:
        steps = frame[step_scores]
        lists = steps.map(lambda v: isinstance(v, list | tuple | np.ndarray) and len(v) > 0).to_numpy()
        if not lists.all():
            raise PoolError(f"{where(~lists)}: '{step_scores}' must be a non-empty list of numbers")
        if any(np.asarray(v).dtype == bool for v in steps):
            raise PoolError(f"{path}: '{step_scores}' must hold numbers only, got booleans")
        try:
            flat = np.concatenate([np.asarray(v, dtype=float) for v in steps])
        except (TypeError, ValueError):
            raise PoolError(f"{path}: '{step_scores}' must hold numbers only") from None
        bad_row = np.repeat(np.arange(len(frame)), steps.map(len).to_numpy())[~np.isfinite(flat)]
        if len(bad_row):
            raise PoolError(
                f"{where(np.arange(len(frame)) == bad_row[0])}: '{step_scores}' holds NaN or "
                "infinity; drop or fix that step score"
            )
        frame["step_scores"] = steps
    dup = frame.duplicated(["problem_id", "sample_idx"]).to_numpy()
    if dup.any():
        raise PoolError(f"{where(dup)}: (problem_id, sample_idx) appears twice; each sample once")
    return frame


def read_pool(path: str | Path, *, score: str = "score", step_scores: str = "step_scores") -> pd.DataFrame:
    """The tidy pool at ``path`` (``.jsonl`` or ``.parquet``); ``score``/``step_scores`` name the
    source columns that play those roles. Raises PoolError (one line) on anything malformed."""
    path = Path(path)
    if path.is_dir():
        raise PoolError(f"{path} is a folder; give the pool file (.jsonl or .parquet)")
    if not path.is_file():
        raise PoolError(f"{path}: no such file")
    if path.suffix == ".parquet":
        frame = _read_parquet(path, score, step_scores)
    elif path.suffix in (".jsonl", ".json"):
        frame = _read_jsonl(path, score, step_scores)
    else:
        raise PoolError(f"{path}: unknown pool format '{path.suffix}'; use .jsonl or .parquet")
    if frame.empty:
        raise PoolError(f"{path}: the pool holds no samples")
    for name, wanted in (("score", score), ("step_scores", step_scores)):
        if wanted != name and name not in frame.columns:
            available = ", ".join(
                c for c in frame.columns if c.startswith(("score", "step_scores", "logprob"))
            )
            raise PoolError(
                f"{path}: no column '{wanted}' for --{name.replace('_', '-')}; "
                f"available: {available or 'none'}"
            )
    return frame.sort_values(["problem_id", "sample_idx"], kind="stable").reset_index(drop=True)
