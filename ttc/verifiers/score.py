"""Batched scoring: per-sample scores and per-step scores from a verifier or from the generator itself.

Sequences are sorted by length and run in batches trimmed to their longest member; every per-token
and per-segment quantity is a tensor operation over the batch (no per-sample Python loop in the
model path). Step scores are per-segment (see ``labels``): written steps, then the answer segment.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor

from ttc.verifiers.labels import Layout


def segment_logs(cum: Tensor, seg_end: Tensor) -> Tensor:
    """[B, K] per-segment sums from a running sum ``cum`` [B, T] that is 0 before the solution."""
    at_end = cum.gather(1, seg_end)
    return at_end - torch.cat([torch.zeros_like(at_end[:, :1]), at_end[:, :-1]], 1)


def batches(lay: Layout, batch_size: int) -> Iterator[tuple[np.ndarray, tuple[Tensor, Tensor, Tensor, Tensor]]]:
    """(rows, tensors trimmed to the batch's width) in order of length (similar lengths together)."""
    order = np.argsort(lay.lengths, kind="stable")
    for b0 in range(0, len(order), batch_size):
        rows = order[b0: b0 + batch_size]
        width = int(lay.lengths[rows].max())
        yield rows, (torch.from_numpy(lay.input_ids[rows, :width]), torch.from_numpy(lay.attention_mask[rows, :width]),
                     torch.from_numpy(lay.solution_mask[rows, :width]), torch.from_numpy(lay.seg_end[rows]))


def _split(step: np.ndarray, lay: Layout) -> list[np.ndarray]:
    return [row[:n] for row, n in zip(step, lay.n_segments)]


@torch.no_grad()
def score_layout(model, lay: Layout, *, batch_size: int = 256) -> tuple[np.ndarray, list[np.ndarray]]:
    """A ValueHeadLM's (scores [S], step_scores: S arrays [n_segments]).

    step score = probability the segment is right given the prefix; score = their product = the
    value at the last solution token."""
    model.eval()
    log_step = np.zeros(lay.seg_end.shape)
    for rows, (ids, mask, sol, ends) in batches(lay, batch_size):
        out = model(ids, mask, sol)
        log_step[rows] = segment_logs(out.log_value, ends).double().numpy()
    log_step[np.arange(lay.seg_end.shape[1])[None, :] >= lay.n_segments[:, None]] = 0.0
    return np.exp(log_step.sum(1)), _split(np.exp(log_step), lay)


@torch.no_grad()
def lm_step_logprobs(lm, lay: Layout, *, batch_size: int = 256) -> list[np.ndarray]:
    """Per-segment log-probability (nats) of each sample under a causal LM: S arrays [n_segments].

    Their sum is the sequence log-probability (the pool's ``logprob`` for the generator)."""
    lm.eval()
    log_step = np.zeros(lay.seg_end.shape)
    for rows, (ids, mask, sol, ends) in batches(lay, batch_size):
        logp = torch.log_softmax(lm(input_ids=ids, attention_mask=mask).logits[:, :-1].float(), -1)
        written = torch.nn.functional.pad(logp.gather(-1, ids[:, 1:, None])[..., 0], (1, 0)) * sol
        log_step[rows] = segment_logs(written.cumsum(-1), ends).double().numpy()
    return _split(log_step, lay)
