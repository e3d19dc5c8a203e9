"""Reading a researcher's CSV and checking where an analysis command will write, before it writes.

Each command raises its own error class (one line naming the problem and the fix), so both helpers
take it as ``error``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd


def read_csv_table(path: Path, error: type[Exception], fix: str) -> pd.DataFrame:
    """``path`` read as CSV; ``error`` naming why it cannot be (empty, not CSV, not text), ending in ``fix``."""
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise error(f"{path} is empty; {fix}") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as why:
        raise error(f"{path} is not a CSV table ({str(why).splitlines()[0]}); {fix}") from None


def check_output_path(path: Path, flag: str, error: type[Exception], *, figure: bool = False) -> None:
    """``error`` unless ``path`` names a file in an existing folder (and, for a figure, a format matplotlib is
    asked to draw: the suffix, png when there is none)."""
    if path.is_dir():
        example = path / ("figure.png" if figure else "out.csv")
        raise error(f"{flag} {path} is a folder; pass a file such as {example}")
    if not path.parent.is_dir():
        raise error(f"{flag} {path}: folder {path.parent} does not exist; create it first")
    from analysis.figure_cache import SAVE_FORMATS  # here: reading a table needs no matplotlib
    ext = path.suffix.lstrip(".") or "png"
    if figure and ext not in SAVE_FORMATS:
        raise error(f"{flag} {path}: cannot draw .{ext}; end the name in one of "
                    f"{', '.join('.' + e for e in SAVE_FORMATS)}")


def check_cells(table: pd.DataFrame, name: str, error: type[Exception], *, numbers: Sequence[str],
                texts: Sequence[str] = ()) -> None:
    """``error`` naming the first problem of ``table`` (called ``name``): an empty cell in ``texts`` or
    ``numbers``, then a non-number (booleans included) or an infinite value in ``numbers``."""
    empty = [c for c in (*texts, *numbers) if table[c].isna().any()]
    if empty:
        raise error(f"{name} has empty or NaN cells in {', '.join(empty)}; fill them or drop those rows")
    words = [c for c in numbers if not pd.api.types.is_numeric_dtype(table[c]) or pd.api.types.is_bool_dtype(table[c])]
    if words:
        raise error(f"{name} column(s) {', '.join(words)} hold non-numbers; give numbers")
    infinite = [c for c in numbers if not np.isfinite(table[c].to_numpy(float)).all()]
    if infinite:
        raise error(f"{name} has infinite values in {', '.join(infinite)}; give finite numbers")
