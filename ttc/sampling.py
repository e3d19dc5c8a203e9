"""Draw K samples per prompt from a causal LM, fast, with per-sample reproducible randomness.

``sample`` runs prompts in groups sorted by length; each distinct prompt is run through the model
once and its KV cache serves all its samples. Two engines share one driver loop:

* ``LlamaForCausalLM`` (default RoPE, no biases) goes through ``ttc.fast_llama.LeanLlama``;
* any other Hugging Face causal LM goes through its own forward with a KV cache (``_HFEngine``).

Randomness. Sample k of prompt i draws step t's token by inverse-CDF sampling with the uniform
``splitmix64(key(seed, i, k) + t)``, a counter-based stream. So a (prompt, sample) stream does not
depend on ``max_batch``, on the other prompts, on ``n_samples`` (the first K' samples of a K-sample
run are the K'-sample run), or on the engine -- up to floating-point rounding of the logits, which
may differ with batch composition and can flip a token only when a uniform lands within ~1e-6 of a
CDF boundary. ``i`` is the position in the ``prompts`` argument, so a reordered or sliced prompt
list gets different streams.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ttc.fast_llama import LeanLlama, is_supported

__all__ = ["Samples", "sample", "sequence_logprobs"]

# Rows are compacted away once the alive fraction of the batch falls below this.
_COMPACT_BELOW = 0.875


@dataclass(frozen=True)
class Samples:
    prompt_index: np.ndarray   # [S] int64, which prompt each sample continues
    sample_index: np.ndarray   # [S] int64, 0..K-1 within its prompt
    tokens: list[np.ndarray]   # S arrays of generated token ids, EOS excluded
    finished: np.ndarray       # [S] bool, True iff EOS was produced before max_new_tokens ran out
    logprob: np.ndarray        # [S] float64, sum of untempered log p(token), EOS included when produced
    gen_tokens: np.ndarray     # [S] int64, tokens generated (EOS counted)
    prompt_tokens_processed: int  # prompt tokens run through the model (each prompt once)


# -- counter-based randomness (splitmix64 in wrapping int64 arithmetic) -------------------------------
def _i64(x: int) -> int:
    return x - (1 << 64) if x >= 1 << 63 else x


_GAMMA = _i64(0x9E3779B97F4A7C15)
_GAMMA2 = _i64(2 * 0x9E3779B97F4A7C15 % (1 << 64))
_MIX1 = _i64(0xBF58476D1CE4E5B9)
_MIX2 = _i64(0x94D049BB133111EB)


def _shr(z: Tensor, n: int) -> Tensor:
    """Logical right shift of int64 bits (torch's >> is arithmetic)."""
    return (z >> n) & ((1 << (64 - n)) - 1)


def _mix(z: Tensor) -> Tensor:
    z = (z ^ _shr(z, 30)) * _MIX1
    z = (z ^ _shr(z, 27)) * _MIX2
    return z ^ _shr(z, 31)


def stream_keys(seed: int, prompt_index: Tensor, sample_index: Tensor) -> Tensor:
    """[B] int64 key of each (prompt, sample) stream."""
    h = _mix(torch.full_like(prompt_index, _i64(seed % (1 << 64))) + _GAMMA)
    h = _mix(h ^ _mix(prompt_index + _GAMMA))
    return _mix(h ^ _mix(sample_index + _GAMMA2))


def stream_uniforms(keys: Tensor, step: int) -> Tensor:
    """[B] float64 uniforms in [0, 1) for generation step ``step`` of each stream."""
    z = _mix(keys + _i64(((step + 1) * 0x9E3779B97F4A7C15) % (1 << 64)))
    return _shr(z, 11).double() * 2.0 ** -53


def _pick(logits: Tensor, keys: Tensor, step: int, temperature: float) -> tuple[Tensor, Tensor]:
    """Next tokens [B] and their untempered log-probs [B] (float64)."""
    logp = torch.log_softmax(logits.float(), -1)
    if temperature == 0:
        tokens = logp.argmax(-1)
    else:
        probs = logp.exp() if temperature == 1 else torch.softmax(logits.float() / temperature, -1)
        cdf = probs.double().cumsum(-1)
        u = stream_uniforms(keys, step) * cdf[:, -1]
        # right=True never lands on a zero-probability token.
        tokens = torch.searchsorted(cdf, u[:, None], right=True)[:, 0].clamp_(max=logits.shape[-1] - 1)
    return tokens, logp.gather(1, tokens[:, None])[:, 0].double()


# -- engines: prefill(prompts) -> (logits, handle); start/step/compact as in LeanLlama ---------------
class _LeanEngine:
    def __init__(self, model):
        self.lean = LeanLlama(model)
        self.device = self.lean.device

    def prefill(self, prompts: list[Sequence[int]]):
        lengths = torch.tensor([len(p) for p in prompts], device=self.device)
        tokens = torch.zeros(len(prompts), int(lengths.max()), dtype=torch.long)
        for i, p in enumerate(prompts):
            tokens[i, :len(p)] = torch.as_tensor(p)
        logits, k, v = self.lean.prefill(tokens.to(self.device), lengths)
        return logits, (k, v, lengths)

    def start(self, handle, row_prefix: Tensor, max_steps: int):
        k, v, lengths = handle
        return self.lean.start(k, v, lengths, row_prefix, max_steps)

    def step(self, state, tokens: Tensor) -> Tensor:
        return self.lean.step(state, tokens)

    def compact(self, state, keep: Tensor) -> None:
        self.lean.compact(state, keep)


@dataclass
class _HFState:
    cache: Any  # the model's KV cache object
    mask: Tensor      # [B, P + steps] attention mask (prompts left-padded)
    pos0: Tensor      # [B] position of generated token 0
    steps: int = 0


class _HFEngine:
    """Any ``transformers`` causal LM, through its own forward and KV cache."""

    def __init__(self, model):
        self.model = model
        self.device = next(model.parameters()).device
        params = inspect.signature(model.forward).parameters
        self.cache_kw = "cache" if "cache" in params else "past_key_values"

    def _forward(self, tokens: Tensor, mask: Tensor, positions: Tensor, cache=None):
        kwargs = {self.cache_kw: cache} if cache is not None else {}
        out = self.model(input_ids=tokens, attention_mask=mask, position_ids=positions, use_cache=True,
                         **kwargs)
        new_cache = out.get("cache", None)
        if new_cache is None:
            new_cache = out.get("past_key_values", None)
        return out.logits[:, -1], new_cache

    def prefill(self, prompts: list[Sequence[int]]):
        lengths = [len(p) for p in prompts]
        width = max(lengths)
        tokens = torch.zeros(len(prompts), width, dtype=torch.long)
        mask = torch.zeros(len(prompts), width, dtype=torch.long)
        for i, p in enumerate(prompts):
            tokens[i, width - len(p):] = torch.as_tensor(p)
            mask[i, width - len(p):] = 1
        tokens, mask = tokens.to(self.device), mask.to(self.device)
        positions = (mask.cumsum(-1) - 1).clamp_(min=0)
        logits, cache = self._forward(tokens, mask, positions)
        return logits, (cache, mask, torch.tensor(lengths, device=self.device))

    def start(self, handle, row_prefix: Tensor, max_steps: int) -> _HFState:
        cache, mask, lengths = handle
        cache = copy.deepcopy(cache)  # the prompt cache may serve several sample blocks
        cache.batch_select_indices(row_prefix)
        return _HFState(cache, mask[row_prefix], lengths[row_prefix])

    def step(self, state: _HFState, tokens: Tensor) -> Tensor:
        state.mask = torch.cat([state.mask, state.mask.new_ones(state.mask.shape[0], 1)], 1)
        positions = (state.pos0 + state.steps)[:, None]
        logits, state.cache = self._forward(tokens[:, None], state.mask, positions, state.cache)
        state.steps += 1
        return logits

    def compact(self, state: _HFState, keep: Tensor) -> None:
        state.cache.batch_select_indices(keep)
        state.mask, state.pos0 = state.mask[keep], state.pos0[keep]


# -- the driver ---------------------------------------------------------------------------------------
def _run_block(engine, handle, prefill_logits: Tensor, row_prefix: Tensor, keys: Tensor, *,
               temperature: float, max_new_tokens: int, stops: Tensor):
    """Generates for rows continuing prefix slots ``row_prefix`` [B] until a token with ``stops[token]``
    (EOS and any stop token). Returns token ids [B, max_new_tokens] (junk after the stop), log-prob
    sums [B] and generated counts [B]."""
    device = keys.device
    n_rows = row_prefix.shape[0]
    out = torch.full((n_rows, max_new_tokens), -1, dtype=torch.long, device=device)
    logprob = torch.zeros(n_rows, dtype=torch.float64, device=device)
    n_gen = torch.zeros(n_rows, dtype=torch.long, device=device)
    row_ids = torch.arange(n_rows, device=device)   # original row of each active row
    alive = torch.ones(n_rows, dtype=torch.bool, device=device)
    state = engine.start(handle, row_prefix, max_new_tokens - 1)
    logits = prefill_logits[row_prefix]
    for step in range(max_new_tokens):
        tokens, lp = _pick(logits, keys, step, temperature)
        out[row_ids, step] = tokens
        logprob[row_ids] += torch.where(alive, lp, 0.0)
        n_gen[row_ids] += alive
        alive &= ~stops[tokens]
        if step == max_new_tokens - 1:
            break
        n_alive = int(alive.sum())
        if n_alive == 0:
            break
        if n_alive < _COMPACT_BELOW * alive.shape[0]:
            keep = alive.nonzero()[:, 0]
            engine.compact(state, keep)
            row_ids, keys, tokens, alive = row_ids[keep], keys[keep], tokens[keep], alive[keep]
        logits = engine.step(state, tokens)
    return out, logprob, n_gen


def sample(model, prompts: Sequence[Sequence[int]], *, n_samples: int, temperature: float = 1.0,
           max_new_tokens: int, eos_token_id: int, seed: int, max_batch: int = 1024,
           progress: bool = False, engine: str = "auto", stop_token_ids: Sequence[int] = ()) -> Samples:
    """Draws ``n_samples`` continuations of each prompt (temperature 0: greedy).

    A continuation ends at EOS (excluded from ``tokens``; ``finished`` is True), at any token of
    ``stop_token_ids`` (kept as the last token; ``finished`` False: how step-level search draws one
    reasoning step), or after ``max_new_tokens``.

    ``max_batch`` bounds the rows decoded together: max_batch // n_samples prompts at a time, or
    one prompt split into blocks of max_batch samples. ``engine``: "auto" (lean Llama forward when
    supported, else the model's own forward), "lean" or "hf". The model's device and dtype are used;
    the model is put in eval mode for the call and its training flag restored afterwards.
    """
    _check_sample_args(prompts, n_samples, temperature, max_new_tokens, max_batch, engine)
    use_lean = engine == "lean" or (engine == "auto" and is_supported(model))
    runner = _LeanEngine(model) if use_lean else _HFEngine(model)
    stops = _stop_table(model, eos_token_id, stop_token_ids, runner.device)
    n, k = len(prompts), n_samples
    drawn = _Drawn.empty(n * k)
    order = sorted(range(n), key=lambda i: len(prompts[i]))  # similar lengths share a group
    group, block = max(1, max_batch // k), min(k, max_batch)
    was_training = model.training
    model.eval()
    bar = None
    if progress:
        from ttc.progress import progress_bar
        bar = progress_bar(total=n * k, unit="sample")
    try:
        with torch.inference_mode():
            for g0 in range(0, n, group):
                members = order[g0:g0 + group]
                prefill_logits, handle = runner.prefill([prompts[i] for i in members])
                member_index = torch.tensor(members, device=runner.device)
                for k0 in range(0, k, block):
                    k1 = min(k, k0 + block)
                    row_prefix = torch.arange(len(members), device=runner.device).repeat_interleave(k1 - k0)
                    sample_ids = torch.arange(k0, k1, device=runner.device).repeat(len(members))
                    keys = stream_keys(seed, member_index[row_prefix], sample_ids)
                    out, lp, gen = _run_block(runner, handle, prefill_logits, row_prefix, keys,
                                              temperature=temperature, max_new_tokens=max_new_tokens,
                                              stops=stops)
                    slots = (np.asarray(members)[:, None] * k + np.arange(k0, k1)).reshape(-1)
                    drawn.put(slots, out, lp, gen, eos_token_id)
                    if bar is not None:
                        bar.update(len(slots))
    finally:
        model.train(was_training)
        if bar is not None:
            bar.close()
    return Samples(
        prompt_index=np.repeat(np.arange(n, dtype=np.int64), k),
        sample_index=np.tile(np.arange(k, dtype=np.int64), n),
        tokens=drawn.tokens, finished=drawn.finished, logprob=drawn.logprob, gen_tokens=drawn.n_gen,
        prompt_tokens_processed=int(sum(len(p) for p in prompts)),
    )


def _check_sample_args(prompts: Sequence[Sequence[int]], n_samples: int, temperature: float, max_new_tokens: int,
                       max_batch: int, engine: str) -> None:
    """sample's arguments, each bad one a ValueError naming it."""
    if n_samples < 1 or max_new_tokens < 1 or max_batch < 1 or temperature < 0:
        raise ValueError("need n_samples >= 1, max_new_tokens >= 1, max_batch >= 1, temperature >= 0")
    if any(len(p) == 0 for p in prompts):
        raise ValueError("every prompt needs at least one token")
    if engine not in ("auto", "lean", "hf"):
        raise ValueError(f"engine must be 'auto', 'lean' or 'hf', not {engine!r}")


def _stop_table(model, eos_token_id: int, stop_token_ids: Sequence[int], device) -> Tensor:
    """[vocab] bool: the tokens that end a continuation (EOS unless -1, and the stop tokens)."""
    vocab = int(model.get_output_embeddings().weight.shape[0])
    ends = [*([] if eos_token_id == -1 else [eos_token_id]), *stop_token_ids]  # -1: no EOS (fixed length)
    if any(not 0 <= t < vocab for t in ends):
        raise ValueError(f"eos_token_id and stop_token_ids must be token ids in 0..{vocab - 1} (eos_token_id -1: none)")
    stops = torch.zeros(vocab, dtype=torch.bool, device=device)
    stops[ends] = True
    return stops


@dataclass
class _Drawn:
    """The continuations drawn so far, by slot (prompt * k + sample)."""
    tokens: list[np.ndarray]
    logprob: np.ndarray
    n_gen: np.ndarray
    finished: np.ndarray

    @classmethod
    def empty(cls, n: int) -> _Drawn:
        return cls([np.zeros(0, dtype=np.int64)] * n, np.zeros(n), np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool))

    def put(self, slots: np.ndarray, out: Tensor, logprob: Tensor, gen: Tensor, eos_token_id: int) -> None:
        """One block's rows (``_run_block``'s outputs) into their slots; EOS is cut from the tokens."""
        ids, n_gen = out.cpu().numpy(), gen.cpu().numpy()
        ended = ids[np.arange(len(n_gen)), n_gen - 1] == eos_token_id  # n_gen >= 1 always
        self.logprob[slots], self.n_gen[slots], self.finished[slots] = logprob.cpu().numpy(), n_gen, ended
        for slot, row, length in zip(slots, ids, n_gen - ended):
            self.tokens[slot] = row[:length].copy()


def sequence_logprobs(model, prompts: Sequence[Sequence[int]], completions: Sequence[Sequence[int]], *,
                      batch_size: int = 64) -> list[np.ndarray]:
    """Per-token log-probs (float64) of each completion given its prompt, teacher-forced through the
    model's own forward, batched by length (right padding, so causal attention needs no mask)."""
    if len(prompts) != len(completions):
        raise ValueError("prompts and completions differ in length")
    if any(len(p) == 0 for p in prompts):
        raise ValueError("every prompt needs at least one token")
    device = next(model.parameters()).device
    result: list[np.ndarray] = [np.zeros(0)] * len(prompts)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]) + len(completions[i]))
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for b0 in range(0, len(order), batch_size):
                batch = order[b0:b0 + batch_size]
                seqs = [list(prompts[i]) + list(completions[i]) for i in batch]
                width = max(len(s) for s in seqs)
                tokens = torch.zeros(len(batch), width, dtype=torch.long)
                mask = torch.zeros(len(batch), width, dtype=torch.long)
                for j, s in enumerate(seqs):
                    tokens[j, :len(s)] = torch.as_tensor(s)
                    mask[j, :len(s)] = 1
                logits = model(input_ids=tokens.to(device), attention_mask=mask.to(device)).logits
                logp = torch.log_softmax(logits.float(), -1)
                for j, i in enumerate(batch):
                    start, length = len(prompts[i]), len(completions[i])
                    targets = tokens[j, start:start + length].to(device)
                    rows = logp[j, start - 1:start - 1 + length]
                    result[i] = rows.gather(1, targets[:, None])[:, 0].double().cpu().numpy()
    finally:
        model.train(was_training)
    return result
