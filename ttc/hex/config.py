"""`HexConfig`: every knob of the Hex experiment, defaults in code.

Built from TOML (a `[hex]` table) and `--set` overrides by the one config loader, `ttc.config.load_config`,
as a field of the sweep's config or of `experiments/hex.py`'s file; a bad combination raises
`HexConfigError` (a ValueError the loader turns into a one-line `ConfigError`)."""

from __future__ import annotations

from dataclasses import dataclass

from .selfplay import TrainSettings


class HexConfigError(ValueError):
    """A bad key or value in a Hex config; the message is one line."""


@dataclass(frozen=True)
class HexConfig:
    # Boards and networks. Per-board tuples line up with `board_sizes`.
    board_sizes: tuple[int, ...] = (3, 4)
    net_widths: tuple[int, ...] = (8, 16, 32, 64)
    net_depth: int = 2
    max_train_flops: tuple[float, ...] = (2e8, 3e10)  # self-play FLOPs of each board's last snapshot
    n_snapshots: int = 15  # at max_train_flops / √2^k, k = 0..n-1
    max_selfplay_evals: int = 4_000_000  # per run; small nets stop early (wall-clock guard)
    games_per_generation: tuple[int, ...] = (16, 128)
    # Self-play and optimiser
    selfplay_nodes: int = 64
    c_puct: float = 1.5
    dirichlet_eps: float = 0.25
    lr: float = 3e-3
    weight_decay: float = 1e-4
    batch_size: int = 256
    sample_reuse: float = 4.0
    buffer_positions: int = 20_000
    # Evaluation
    test_nodes: tuple[int, ...] = (1, 4, 16, 64, 256)
    eval_games_per_pair: int = 96
    eval_opening_stones: int = 2
    solver_max_board: int = 4  # larger boards are anchored on `reference_nodes` of the best snapshot
    reference_nodes: int = 1024
    reference_min_nodes: int = 64  # agents with fewer nodes reach the reference through others
    when_lost_nodes: int = 64  # perfect play in lost positions: the strongest network with this search
    elo_pseudocount: float = 1.0
    elo_level_step: float = 100.0
    frontier_nodes: int = 1  # test-time nodes of the Elo-vs-train-compute frontier and its fit
    # Execution
    seed: int = 0
    n_jobs: int = 2

    def __post_init__(self):
        for name in ("max_train_flops", "games_per_generation"):
            if len(getattr(self, name)) != len(self.board_sizes):
                raise HexConfigError(f"hex config: {name} needs one value per board size {self.board_sizes}")
        if any(n < 2 for n in self.board_sizes) or self.eval_opening_stones >= min(self.board_sizes):
            raise HexConfigError("hex config: boards need n >= 2 and fewer opening stones than n")
        if self.eval_games_per_pair % 2 or 1 not in self.test_nodes or self.frontier_nodes not in self.test_nodes:
            raise HexConfigError("hex config: eval_games_per_pair must be even; test_nodes must hold 1 "
                                 "and frontier_nodes")
        if self.n_jobs == 0 or self.n_jobs < -1:
            raise HexConfigError(f"hex config: n_jobs={self.n_jobs}; use a worker count >= 1 (or -1 for every core)")

    def train_settings(self, board: int) -> TrainSettings:
        return TrainSettings(
            selfplay_nodes=self.selfplay_nodes,
            games_per_generation=self.games_per_generation[self.board_sizes.index(board)],
            c_puct=self.c_puct, dirichlet_eps=self.dirichlet_eps, lr=self.lr,
            weight_decay=self.weight_decay, batch_size=self.batch_size, sample_reuse=self.sample_reuse,
            buffer_positions=self.buffer_positions)
