"""Hex AlphaZero: the train-time vs test-time compute trade-off (Jones 2021), on a CPU.

`run_hex(HexConfig(...), cache_dir=...)` trains networks by self-play, plays tournaments between
(snapshot × node budget) agents and perfect play, fits Elo and the trade-off, and returns the tables
and headline numbers (a ``HexRun``); the entry scripts write them and draw the figures.
"""

from .config import HexConfig, HexConfigError
from .experiment import HexRun, run_hex

__all__ = ["HexConfig", "HexConfigError", "HexRun", "run_hex"]
