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
        log_keep, _ = score_shared(model, lay, solution_starts(lay), batch_size=batch_size)
        step = np.stack([segment_sums(lk, lay.seg_end[i]) for i, lk in enumerate(log_keep)]) if len(log_keep) \
            else np.zeros(lay.seg_end.shape)
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
    model.eval()
    groups: dict[bytes, list[int]] = {}
    for i in range(lay.input_ids.shape[0]):
        groups.setdefault(lay.input_ids[i, : prefix_len[i]].tobytes(), []).append(i)
    keys = list(groups)
    log_keep = [np.zeros(0)] * lay.input_ids.shape[0]
    used = [0] * lay.input_ids.shape[0]
    at = 0
    while at < len(keys):  # batches of whole groups holding about 4 x batch_size rows
        batch: list[list[int]] = []
        rows = 0
        while at < len(keys) and (not batch or rows + len(groups[keys[at]]) <= 4 * batch_size):
            batch.append(groups[keys[at]])
            rows += len(batch[-1])
            at += 1
        _score_groups(model, lay, prefix_len, batch, batch_size, log_keep, used)
    return log_keep, used


def _score_groups(model, lay: Layout, prefix_len: np.ndarray, groups: list[list[int]], batch_size: int,
                  log_keep: list[np.ndarray], used: list[int]) -> None:
    """One pass over the groups' prefixes (left padded, with cache), then their members' suffixes in
    chunks of ``batch_size`` rows of similar length (right padded)."""
    dev = next(model.parameters()).device
    plen = [int(prefix_len[g[0]]) for g in groups]
    width = max(plen)
    ids = torch.full((len(groups), width), 0, dtype=torch.long)
    mask = torch.zeros(len(groups), width, dtype=torch.long)
    for g, (group, n) in enumerate(zip(groups, plen)):
        ids[g, width - n:] = torch.from_numpy(lay.input_ids[group[0], :n])
        mask[g, width - n:] = 1
    ids, mask = ids.to(dev), mask.to(dev)
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    out = model.lm(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, output_hidden_states=True)
    prefix_logit = token_log_keep(model, out.hidden_states[-1], out.logits[:, :-1], ids[:, 1:])
    prefix_cache = out.get("cache", None) or out.get("past_key_values", None)
    cache_kw = "cache" if "cache" in inspect.signature(model.lm.forward).parameters else "past_key_values"
    owner = np.concatenate([[g] * len(m) for g, m in enumerate(groups)]).astype(np.int64)
    members = np.concatenate(groups).astype(np.int64)
    s_len = lay.lengths[members] - prefix_len[members]
    order = np.argsort(s_len, kind="stable")
    for c0 in range(0, len(order), batch_size):
        chunk = order[c0: c0 + batch_size]
        rows_g, rows_i = owner[chunk], members[chunk]
        s_width = max(1, int(s_len[chunk].max()))
        s_ids = torch.zeros((len(chunk), s_width), dtype=torch.long)
        s_mask = torch.zeros((len(chunk), s_width), dtype=torch.long)
        for r, i in enumerate(rows_i):
            n = int(s_len[chunk[r]])
            s_ids[r, :n] = torch.from_numpy(lay.input_ids[i, prefix_len[i]: prefix_len[i] + n])
            s_mask[r, :n] = 1
        s_ids, s_mask = s_ids.to(dev), s_mask.to(dev)
        sel = torch.from_numpy(rows_g).to(dev)
        cache = copy.deepcopy(prefix_cache)
        cache.batch_select_indices(sel)
        s_pos = mask[sel].sum(-1, keepdim=True) + torch.arange(s_width, device=dev)
        s_out = model.lm(input_ids=s_ids, attention_mask=torch.cat([mask[sel], s_mask], 1), position_ids=s_pos,
                         use_cache=True, output_hidden_states=True, **{cache_kw: cache})
        pred = torch.cat([out.logits[sel, -1:], s_out.logits[:, :-1]], 1)  # predicts each suffix token
        s_logit = token_log_keep(model, s_out.hidden_states[-1], pred, s_ids)
        for r, i in enumerate(rows_i):
            g, n_p, n_s = int(rows_g[r]), plen[rows_g[r]], int(s_len[chunk[r]])
            lk = np.concatenate([prefix_logit[g, width - n_p:], s_logit[r, :n_s]])
            lk[~lay.solution_mask[i, : n_p + n_s]] = 0.0  # only solution tokens carry a value
            log_keep[i] = lk
    for g, members_g in enumerate(groups):
        for j, i in enumerate(members_g):
            used[i] = int(lay.lengths[i] - prefix_len[i]) + (plen[g] if j == 0 else 0)


def token_log_keep(model, hidden: Tensor, pred_logits: Tensor, targets: Tensor) -> np.ndarray:
    """log sigmoid(a_t) per token of a ValueHeadLM (``ttc.verifiers.heads``): column t is token t of
    ``hidden``. For a prefix pass (pred = logits[:, :-1], targets = ids[:, 1:]) token 0 has no
    prediction and gets zero features; for a suffix pass every token's prediction is given."""
    feats = prediction_features(pred_logits, targets)
    if hidden.shape[1] == feats.shape[1] + 1:  # a prefix: token 0 has no prediction (features 0)
        feats = F.pad(feats, (0, 0, 1, 0))
    return F.logsigmoid(model.token_logits(hidden, feats)).double().cpu().numpy()
