"""AlphaZero self-play training of one policy-value network on one board size.

A generation plays `games_per_generation` games at once from a random first stone (without it,
skill peaks and then declines with more training), each move searched with `selfplay_nodes` nodes
and Dirichlet noise at the root, the move sampled in proportion to the root visits. The optimiser then
takes `sample_reuse × new positions / batch_size` Adam steps on a replay buffer of recent positions
(random 180° rotations as augmentation).

Compute in FLOPs, by ``ttc.compute``'s convention (P = the net's multiplied weights), as Jones 2021:
- self-play compute = network forward passes in self-play × 2·P (the train-time compute axis of
  every figure);
- optimiser compute = positions through the optimiser × 6·P (forward + backward), recorded
  alongside but not added to the axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ttc.compute import inference_flops, train_flops

from . import game
from .mcts import network_evaluator, search
from .net import NetShape, PolicyValueNet, to_numpy


@dataclass(frozen=True)
class TrainSettings:
    selfplay_nodes: int = 64
    games_per_generation: int = 128
    c_puct: float = 1.5
    dirichlet_eps: float = 0.25  # alpha = 10 / cells, as Jones
    lr: float = 3e-3
    weight_decay: float = 1e-4
    batch_size: int = 256
    sample_reuse: float = 4.0  # optimiser samples per new self-play position
    buffer_positions: int = 20_000


@dataclass
class TrainState:
    net: PolicyValueNet
    optimizer: torch.optim.Optimizer
    buffer_x: np.ndarray  # [P, 2*cells] canonical features
    buffer_pi: np.ndarray  # [P, cells] canonical visit distribution
    buffer_z: np.ndarray  # [P] final result for the side to move, ±1
    rng: np.random.Generator
    selfplay_evals: int = 0  # forward passes spent in self-play
    optimiser_samples: int = 0  # positions through the optimiser
    generations: int = 0

    def selfplay_flops(self) -> int:
        return int(inference_flops(self.net.shape.flop_params, self.selfplay_evals))

    def optimiser_flops(self) -> int:
        return int(train_flops(self.net.shape.flop_params, self.optimiser_samples))


def init_state(shape: NetShape, settings: TrainSettings, seed: int) -> TrainState:
    torch.manual_seed(seed)
    net = PolicyValueNet(shape)
    opt = torch.optim.Adam(net.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    cells = shape.board_size ** 2
    return TrainState(net, opt, np.zeros((0, 2 * cells), np.float32), np.zeros((0, cells), np.float32),
                      np.zeros(0, np.float32), np.random.default_rng(seed))


def play_generation(params: dict[str, np.ndarray], n: int, settings: TrainSettings,
                    rng: np.random.Generator):
    """Self-play one batch of games. Returns `(x, pi, z, n_evaluations)`, positions in canonical view."""
    evaluate = network_evaluator(params)
    n_games = settings.games_per_generation
    board, to_play = game.random_openings(n_games, n, 1, rng)
    xs, pis, movers, game_ids = [], [], [], []
    winners = np.zeros(n_games, np.int8)
    live = np.arange(n_games)
    n_evals = 0
    while live.size:
        b, p = board[live], to_play[live]
        res = search(b, p, evaluate, settings.selfplay_nodes, c_puct=settings.c_puct, rng=rng,
                     dirichlet_alpha=10.0 / n ** 2, dirichlet_eps=settings.dirichlet_eps)
        n_evals += res.n_evaluations
        pi = res.visits / res.visits.sum(axis=1, keepdims=True)
        action = (pi.cumsum(axis=1) < rng.random((live.size, 1))).sum(axis=1)
        action = np.minimum(action, n * n - 1)
        action = np.where(b[np.arange(live.size), action] == 0, action, pi.argmax(axis=1))  # float edge case
        xs.append(game.canonical_features(b, p))
        pis.append(game.to_canonical_cells(pi, p).astype(np.float32))
        movers.append(p)
        game_ids.append(live)
        board[live], to_play[live], won = game.play(b, p, action)
        winners[live[won]] = p[won]
        live = live[~won]
    mover, game_id = np.concatenate(movers), np.concatenate(game_ids)
    z = np.where(winners[game_id] == mover, 1.0, -1.0).astype(np.float32)
    return np.concatenate(xs), np.concatenate(pis), z, n_evals


def _train_steps(state: TrainState, n_steps: int, batch_size: int) -> None:
    net, cells = state.net, state.net.shape.board_size ** 2
    for _ in range(n_steps):
        idx = state.rng.integers(len(state.buffer_z), size=batch_size)
        x, pi, z = state.buffer_x[idx], state.buffer_pi[idx], state.buffer_z[idx]
        flip = state.rng.random(batch_size) < 0.5  # 180° rotation reverses the cell order
        x = np.where(flip[:, None], np.concatenate([x[:, cells - 1::-1], x[:, :cells - 1:-1]], 1), x)
        pi = np.where(flip[:, None], pi[:, ::-1], pi)
        tx, tpi, tz = torch.from_numpy(x), torch.from_numpy(np.ascontiguousarray(pi)), torch.from_numpy(z)
        logits, v = net(tx)
        occupied = (tx[:, :cells] + tx[:, cells:]) > 0
        logp = torch.log_softmax(logits.masked_fill(occupied, -1e9), dim=1)
        loss = -(tpi * logp).sum(1).mean() + ((v - tz) ** 2).mean()
        state.optimizer.zero_grad()
        loss.backward()
        state.optimizer.step()
    state.optimiser_samples += n_steps * batch_size


def advance(state: TrainState, settings: TrainSettings, target_selfplay_flops: float) -> TrainState:
    """Run generations (self-play, then optimiser steps) until self-play compute reaches the target."""
    n = state.net.shape.board_size
    while state.selfplay_flops() < target_selfplay_flops:
        x, pi, z, n_evals = play_generation(to_numpy(state.net), n, settings, state.rng)
        keep = settings.buffer_positions
        state.buffer_x = np.concatenate([state.buffer_x, x])[-keep:]
        state.buffer_pi = np.concatenate([state.buffer_pi, pi])[-keep:]
        state.buffer_z = np.concatenate([state.buffer_z, z])[-keep:]
        state.selfplay_evals += n_evals
        state.generations += 1
        n_steps = int(np.ceil(settings.sample_reuse * len(z) / settings.batch_size))
        _train_steps(state, n_steps, settings.batch_size)
    return state


def snapshot_targets(max_flops: float, n_snapshots: int) -> list[float]:
    """Self-play compute at which snapshots are taken: `max_flops / √2^k`, k = n_snapshots-1 .. 0."""
    return [max_flops * 2.0 ** (-k / 2) for k in range(n_snapshots - 1, -1, -1)]
