"""Batched scoring: per-sample scores and per-step scores from a verifier or from the generator itself.

Sequences are sorted by length and run in batches trimmed to their longest member; every per-token
and per-segment quantity is a tensor operation over the batch (no per-sample Python loop in the
model path). Step scores are per-segment (see ``labels``): written steps, then the answer segment.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ttc.verifiers.heads import prediction_features
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
def score_layout(model, lay: Layout, *, batch_size: int = 256, share_prompts: bool = True
                 ) -> tuple[np.ndarray, list[np.ndarray]]:
    """A ValueHeadLM's (scores [S], step_scores: S arrays [n_segments]).

    step score = probability the segment is right given the prefix; score = their product = the
    value at the last solution token. ``share_prompts``: samples of one problem run their common prompt
    through the verifier once (``score_shared``); else every row runs whole. Same values either way, up
    to float rounding."""
    if share_prompts:
        dense, _ = shared_log_keep(model, lay, solution_starts(lay), batch_size=batch_size)
        step = segment_logs(torch.from_numpy(dense.cumsum(1)), torch.from_numpy(lay.seg_end)).numpy()
        step[np.arange(lay.seg_end.shape[1])[None, :] >= lay.n_segments[:, None]] = 0.0
        return np.exp(step.sum(1)), _split(np.exp(step), lay)
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


def solution_starts(lay: Layout) -> np.ndarray:
    """[S] the first solution token of each row (its length when it has none): the prompt's length."""
    has = lay.solution_mask.any(1)
    return np.where(has, lay.solution_mask.argmax(1), lay.lengths)


def segment_sums(log_keep: np.ndarray, seg_end: np.ndarray) -> np.ndarray:
    """[K] per-segment sums of a row's per-token log keep-probabilities (0 outside the solution)."""
    ends = np.cumsum(log_keep)[seg_end] if len(log_keep) else np.zeros(len(seg_end))
    return np.diff(np.concatenate([[0.0], ends]))


@torch.no_grad()
def score_shared(model, lay: Layout, prefix_len: np.ndarray, *, batch_size: int = 256
                 ) -> tuple[list[np.ndarray], list[int]]:
    """(per row: log keep-probability of every token [length], 0 outside the solution; tokens run per row).

    Rows whose first ``prefix_len`` tokens are equal (the samples of one problem: their prompt; a
    search's siblings: their common steps) form a group: the prefix runs through the verifier once and
    its KV cache serves every member's suffix. A group's prefix tokens are counted on its first row."""
    dense, used = shared_log_keep(model, lay, prefix_len, batch_size=batch_size)
    return [dense[i, :n] for i, n in enumerate(lay.lengths)], used.tolist()


@torch.no_grad()
def shared_log_keep(model, lay: Layout, prefix_len: np.ndarray, *, batch_size: int = 256
                    ) -> tuple[np.ndarray, np.ndarray]:
    """``score_shared`` as arrays: (log keep-probabilities [S, T], 0 outside the solution; tokens run [S])."""
    model.eval()
    groups: dict[bytes, list[int]] = {}
    for i in range(lay.input_ids.shape[0]):
        groups.setdefault(lay.input_ids[i, : prefix_len[i]].tobytes(), []).append(i)
    keys = list(groups)
    dense = np.zeros(lay.input_ids.shape, dtype=np.float64)
    at = 0
    while at < len(keys):  # batches of whole groups holding about 4 x batch_size rows
        batch: list[list[int]] = []
        rows = 0
        while at < len(keys) and (not batch or rows + len(groups[keys[at]]) <= 4 * batch_size):
            batch.append(groups[keys[at]])
            rows += len(batch[-1])
            at += 1
        _score_groups(model, lay, prefix_len, batch, batch_size, dense)
    dense[~lay.solution_mask] = 0.0  # only solution tokens carry a value
    used = lay.lengths - prefix_len
    first = np.array([g[0] for g in groups.values()], dtype=np.int64)
    used[first] += prefix_len[first]
    return dense, used


def _score_groups(model, lay: Layout, prefix_len: np.ndarray, groups: list[list[int]], batch_size: int,
                  dense: np.ndarray) -> None:
    """One pass over the groups' prefixes (left padded, with cache), then their members' suffixes in
    chunks of ``batch_size`` rows of similar length (right padded); writes each member's per-token
    log keep-probabilities into its row of ``dense``."""
    dev = next(model.parameters()).device
    plen = np.array([prefix_len[g[0]] for g in groups], dtype=np.int64)
    width = int(plen.max())
    pad_left = np.arange(width)[None] >= (width - plen)[:, None]  # [G, width]: the prefix's slots
    firsts = np.array([g[0] for g in groups], dtype=np.int64)
    take = np.clip(np.arange(width)[None] - (width - plen)[:, None], 0, None)
    ids = torch.from_numpy(np.where(pad_left, lay.input_ids[firsts[:, None], take], 0)).to(dev)
    mask = torch.from_numpy(pad_left.astype(np.int64)).to(dev)
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    out = model.lm(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, output_hidden_states=True)
    prefix_logit = token_log_keep(model, out.hidden_states[-1], out.logits[:, :-1], ids[:, 1:])  # [G, width]
    prefix_cache = out.get("cache", None) or out.get("past_key_values", None)
    cache_kw = "cache" if "cache" in inspect.signature(model.lm.forward).parameters else "past_key_values"
    owner = np.concatenate([[g] * len(m) for g, m in enumerate(groups)]).astype(np.int64)
    members = np.concatenate(groups).astype(np.int64)
    # each member's prefix columns, read from its group's left-padded row
    own = np.arange(width)[None] < plen[owner][:, None]
    dense[members, :width] = np.where(own, prefix_logit[owner[:, None], np.clip(
        np.arange(width)[None] + (width - plen[owner])[:, None], None, width - 1)], 0.0)
    s_len = lay.lengths[members] - prefix_len[members]
    order = np.argsort(s_len, kind="stable")
    for c0 in range(0, len(order), batch_size):
        chunk = order[c0: c0 + batch_size]
        rows_g, rows_i = owner[chunk], members[chunk]
        s_width = max(1, int(s_len[chunk].max()))
        cols = prefix_len[rows_i][:, None] + np.arange(s_width)  # the suffix's columns in the layout
        valid = np.arange(s_width)[None] < s_len[chunk][:, None]
        s_ids_np = np.where(valid, lay.input_ids[rows_i[:, None], np.minimum(cols, lay.input_ids.shape[1] - 1)], 0)
        s_ids = torch.from_numpy(s_ids_np).to(dev)
        s_mask = torch.from_numpy(valid.astype(np.int64)).to(dev)
        sel = torch.from_numpy(rows_g).to(dev)
        cache = copy.deepcopy(prefix_cache)
        cache.batch_select_indices(sel)
        s_pos = mask[sel].sum(-1, keepdim=True) + torch.arange(s_width, device=dev)
        s_out = model.lm(input_ids=s_ids, attention_mask=torch.cat([mask[sel], s_mask], 1), position_ids=s_pos,
                         use_cache=True, output_hidden_states=True, **{cache_kw: cache})
        pred = torch.cat([out.logits[sel, -1:], s_out.logits[:, :-1]], 1)  # predicts each suffix token
        s_logit = token_log_keep(model, s_out.hidden_states[-1], pred, s_ids)
        r_idx = np.broadcast_to(rows_i[:, None], cols.shape)
        dense[r_idx[valid], cols[valid]] = s_logit[valid]


def token_log_keep(model, hidden: Tensor, pred_logits: Tensor, targets: Tensor) -> np.ndarray:
    """log sigmoid(a_t) per token of a ValueHeadLM (``ttc.verifiers.heads``): column t is token t of
    ``hidden``. For a prefix pass (pred = logits[:, :-1], targets = ids[:, 1:]) token 0 has no
    prediction and gets zero features; for a suffix pass every token's prediction is given."""
    feats = prediction_features(pred_logits, targets)
    if hidden.shape[1] == feats.shape[1] + 1:  # a prefix: token 0 has no prediction (features 0)
        feats = F.pad(feats, (0, 0, 1, 0))
    return F.logsigmoid(model.token_logits(hidden, feats)).double().cpu().numpy()
