"""Hex AlphaZero: the train-time vs test-time compute trade-off (Jones 2021), on a CPU.

`run_hex(HexConfig(...), cache_dir=...)` trains networks by self-play, plays tournaments between
(snapshot × node budget) agents and perfect play, fits each agent's Elo and returns the tables (a
``HexRun``); ``analysis.hex_fits`` fits the trade-off on them, the entry scripts write the results
and draw the figures.
"""

from .config import HexConfig, HexConfigError
from .experiment import HexRun, run_hex

__all__ = ["HexConfig", "HexConfigError", "HexRun", "run_hex"]
