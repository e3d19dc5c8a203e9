"""Progress bars that suit where they are shown: live on a terminal, sparse in a log file.

On a terminal a bar redraws as often as tqdm likes. When stderr is a file or a pipe (a batch job,
CI), every bar redraws at most once per ``TTC_PROGRESS_SECONDS`` (default 30) seconds and in ASCII,
so a long run's log stays a few kilobytes instead of megabytes of redraws.
"""

from __future__ import annotations

import os
import sys

from tqdm.auto import tqdm


def _interactive() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def progress_bar(*args, **kwargs) -> tqdm:
    """``tqdm(*args, **kwargs)``, with a long redraw interval when stderr is not a terminal."""
    if not _interactive():
        kwargs.setdefault("mininterval", float(os.environ.get("TTC_PROGRESS_SECONDS", 30)))
        kwargs.setdefault("ascii", True)
    return tqdm(*args, **kwargs)
