"""Hex AlphaZero: the train-time vs test-time compute trade-off (Jones 2021), on a CPU.

`run_hex(HexConfig(...), cache_dir=..., results_dir=...)` trains networks by self-play, plays
tournaments between (snapshot × node budget) agents and perfect play, fits Elo, and writes the
trade-off CSVs, figures and headline numbers.
"""

from .config import HexConfig, HexConfigError
from .experiment import run_hex

__all__ = ["HexConfig", "HexConfigError", "run_hex"]
