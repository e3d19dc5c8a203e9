"""A lean pure-torch forward for Hugging Face ``LlamaForCausalLM``, built for sampling many
continuations of each prompt.

The weights are read (not copied, except where fused) from the HF model, so the two always agree.
Compared with ``model.generate()`` it saves in four places:

* per-step Python overhead: fused QKV and gate/up matrices, RoPE tables computed once, a static
  KV cache, no masks or cache objects rebuilt per step;
* the prompt is run once per distinct prompt (``prefill``), not once per sample;
* attention to the shared prompt is computed per *prompt*, not per sample: the queries of all the
  samples of one prompt form one matrix that multiplies that prompt's keys once (the idea of
  Hydragen / cascade attention). Prompts are most of the context here, so this removes most of
  the KV reads of a decode step;
* attention to each sample's own suffix multiplies all heads at once, with the queries laid on a
  block diagonal, instead of a batched matmul of [1, D] x [D, s] slivers (4x faster at D = 8).

Decode state layout (``DecodeState``): rows are the active samples, sorted by prefix slot (the
prompt they continue). For the shared-prompt matmul the rows are placed in a ``[n_prefix, k_max]``
grid (the rows themselves while no row has finished); rows that finished are dropped by ``compact``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeGuard

import torch
import torch.nn.functional as F
from torch import Tensor

if TYPE_CHECKING:  # imported where needed: a model at hand means the Llama code is loaded already
    from transformers import LlamaForCausalLM


def is_supported(model) -> TypeGuard[LlamaForCausalLM]:
    """True iff ``model`` is a plain Llama that ``LeanLlama`` reproduces exactly."""
    from transformers import LlamaForCausalLM
    if not isinstance(model, LlamaForCausalLM):
        return False
    c = model.config
    rope = getattr(c, "rope_parameters", None) or getattr(c, "rope_scaling", None) or {}
    rope_type = rope.get("rope_type", rope.get("type", "default"))
    return (rope_type == "default" and c.hidden_act == "silu" and not c.attention_bias
            and not getattr(c, "mlp_bias", False))


@dataclass
class DecodeState:
    """Mutable KV cache for one block of samples. L layers, H kv heads, g query heads per kv head,
    D head dim. The prompt cache is head-major, so that for each kv head the queries of one prompt's
    samples form one matrix; the per-row suffix cache is row-major."""
    prefix_k: Tensor      # [L, H, n_prefix, P, D] prompt keys (after RoPE), right-padded
    prefix_v: Tensor      # [L, H, n_prefix, P, D]
    prefix_bias: Tensor   # [n_prefix, P] 0 on prompt slots, -inf on padding
    prefix_len: Tensor    # [n_prefix] int64 prompt lengths
    suffix_k: Tensor      # [L, rows_max, T, H * D] keys of generated tokens, slot s = step s
    suffix_v: Tensor      # [L, rows_max, T, H * D]
    q_diag: Tensor        # [rows_max, H, g, H, D] zero but for the block diagonal (see ``step``)
    row_prefix: Tensor    # [B] int64 prefix slot of each active row (sorted)
    grid_index: Tensor    # [B] int64 row's place in the [n_prefix * k_max] grid of prompt queries
    k_max: int            # most active rows sharing one prefix slot
    dense: bool           # every prefix slot has k_max rows: the grid is the rows themselves
    row_bias: Tensor      # [B, 1, P] prefix_bias gathered per row
    row_pos0: Tensor      # [B] int64 position of generated token 0 (= prompt length)
    steps: int = 0        # generated tokens already written to the suffix cache


class LeanLlama:
    """Inference-only forward of a ``LlamaForCausalLM`` (default RoPE, SwiGLU, RMSNorm, no biases)."""

    def __init__(self, model: LlamaForCausalLM):
        if not is_supported(model):
            raise ValueError("LeanLlama supports LlamaForCausalLM with default RoPE, silu and no biases")
        c = model.config
        self.n_heads: int = c.num_attention_heads
        self.n_kv: int = c.num_key_value_heads or c.num_attention_heads  # None: no grouping (HF's default)
        self.head_dim: int = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
        self.group = self.n_heads // self.n_kv
        self.eps = c.rms_norm_eps
        self.scale = self.head_dim ** -0.5
        rope = getattr(c, "rope_parameters", None) or {}
        self.rope_theta = float(rope.get("rope_theta", getattr(c, "rope_theta", 10000.0)))
        m = model.model
        self.embed = m.embed_tokens.weight
        self.device, self.dtype = self.embed.device, self.embed.dtype
        with torch.no_grad():
            self.layers = [(
                layer.input_layernorm.weight,
                torch.cat([layer.self_attn.q_proj.weight, layer.self_attn.k_proj.weight,
                           layer.self_attn.v_proj.weight]),
                layer.self_attn.o_proj.weight,
                layer.post_attention_layernorm.weight,
                torch.cat([layer.mlp.gate_proj.weight, layer.mlp.up_proj.weight]),
                layer.mlp.down_proj.weight,
            ) for layer in m.layers]
        self.norm = m.norm.weight
        self.lm_head = model.lm_head.weight
        self._rope_len = 0
        self._ensure_rope(c.max_position_embeddings)

    # -- pieces ---------------------------------------------------------------------------------
    def _ensure_rope(self, length: int) -> None:
        if length <= self._rope_len:
            return
        d = self.head_dim
        inv_freq = 1.0 / (self.rope_theta ** (torch.arange(0, d, 2, dtype=torch.float) / d))
        freqs = torch.arange(length, dtype=torch.float)[:, None] * inv_freq
        emb = torch.cat([freqs, freqs], -1)
        half = d // 2
        # rotate_half(x) * sin == roll(x, half) * signed_sin, which saves a cat per call.
        signed_sin = torch.cat([-emb[:, :half].sin(), emb[:, half:].sin()], -1)
        self.cos = emb.cos().to(self.device, self.dtype)  # [positions, D]
        self.signed_sin = signed_sin.to(self.device, self.dtype)
        self._rope_len = length

    def _rms(self, x: Tensor, w: Tensor) -> Tensor:
        x32 = x.float()
        return w * (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)).to(x.dtype)

    def _rope(self, x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        return x * cos + x.roll(self.head_dim // 2, -1) * sin

    def _mlp(self, x: Tensor, layer) -> Tensor:
        _, _, _, ln2, w_gate_up, w_down = layer
        gate, up = F.linear(self._rms(x, ln2), w_gate_up).chunk(2, -1)
        return F.linear(F.silu(gate) * up, w_down)

    def _logits(self, x: Tensor) -> Tensor:
        return F.linear(self._rms(x, self.norm), self.lm_head)

    # -- whole prompts --------------------------------------------------------------------------
    @torch.inference_mode()
    def forward(self, tokens: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Causal forward of right-padded ``tokens`` [n, P] (padding only ever sees itself, since
        attention is causal). Returns hidden states [n, P, hidden] before the final norm, and the
        RoPE'd keys and values [L, n, H, P, D]."""
        n, length = tokens.shape
        self._ensure_rope(length)
        cos, sin = self.cos[:length], self.signed_sin[:length]
        nh, nkv, d = self.n_heads, self.n_kv, self.head_dim
        x = F.embedding(tokens, self.embed)
        ks, vs = [], []
        for layer in self.layers:
            ln1, w_qkv, w_o = layer[:3]
            qkv = F.linear(self._rms(x, ln1), w_qkv).view(n, length, nh + 2 * nkv, d).transpose(1, 2)
            qk = self._rope(qkv[:, :nh + nkv], cos, sin)
            q, k, v = qk[:, :nh], qk[:, nh:], qkv[:, nh + nkv:]
            ks.append(k)
            vs.append(v)
            if self.group > 1:
                k, v = k.repeat_interleave(self.group, 1), v.repeat_interleave(self.group, 1)
            attn = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=self.scale)
            x = x + F.linear(attn.transpose(1, 2).reshape(n, length, nh * d), w_o)
            x = x + self._mlp(x, layer)
        return x, torch.stack(ks), torch.stack(vs)

    @torch.inference_mode()
    def logits(self, tokens: Tensor) -> Tensor:
        """Logits [n, P, V] of right-padded ``tokens`` [n, P]."""
        return self._logits(self.forward(tokens)[0])

    # -- sampling -------------------------------------------------------------------------------
    @torch.inference_mode()
    def prefill(self, tokens: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Runs right-padded prompts [n, P] with ``lengths`` [n]. Returns next-token logits [n, V]
        and the prompt keys/values [L, n, H, P, D]."""
        hidden, k, v = self.forward(tokens)
        last = hidden[torch.arange(tokens.shape[0], device=tokens.device), lengths - 1]
        return self._logits(last), k, v

    def start(self, prefix_k: Tensor, prefix_v: Tensor, prefix_len: Tensor, row_prefix: Tensor,
              max_steps: int) -> DecodeState:
        """A decode state for rows continuing prefix slots ``row_prefix`` [B] (sorted), from
        ``prefill``'s keys/values [L, n_prefix, H, P, D], with room for ``max_steps`` tokens."""
        n_layers, n_prefix, _, length, _ = prefix_k.shape
        device = prefix_k.device
        self._ensure_rope(length + max_steps + 1)
        bias = torch.zeros(n_prefix, length, device=device, dtype=self.dtype)
        bias.masked_fill_(torch.arange(length, device=device)[None] >= prefix_len[:, None], float("-inf"))
        rows, nkv, d = row_prefix.shape[0], self.n_kv, self.head_dim
        shape = (n_layers, rows, max(max_steps, 1), nkv * d)
        state = DecodeState(prefix_k.transpose(1, 2).contiguous(), prefix_v.transpose(1, 2).contiguous(),
                            bias, prefix_len, torch.empty(shape, device=device, dtype=self.dtype),
                            torch.empty(shape, device=device, dtype=self.dtype),
                            torch.zeros(rows, nkv, self.group, nkv, d, device=device, dtype=self.dtype),
                            row_prefix, row_prefix, 0, True, bias, prefix_len)
        self._regrid(state, row_prefix)
        return state

    def _regrid(self, state: DecodeState, row_prefix: Tensor) -> None:
        n_prefix = state.prefix_k.shape[2]
        counts = torch.bincount(row_prefix, minlength=n_prefix)
        first = torch.cumsum(counts, 0) - counts
        rank = torch.arange(row_prefix.shape[0], device=row_prefix.device) - first[row_prefix]
        state.row_prefix = row_prefix
        state.k_max = int(counts.max())
        state.dense = state.k_max * n_prefix == row_prefix.shape[0]
        state.grid_index = row_prefix * state.k_max + rank
        state.row_bias = state.prefix_bias[row_prefix][:, None]
        state.row_pos0 = state.prefix_len[row_prefix]

    def compact(self, state: DecodeState, keep: Tensor) -> None:
        """Keeps only rows ``keep`` [B'] (int64 indices, increasing) and drops prefix slots that no
        kept row uses."""
        s = state.steps
        if s:
            for cache in (state.suffix_k, state.suffix_v):
                cache[:, :keep.shape[0], :s] = cache[:, keep, :s]
        row_prefix = state.row_prefix[keep]
        used = torch.unique_consecutive(row_prefix)
        n_prefix = state.prefix_k.shape[2]
        if used.shape[0] < n_prefix:
            remap = torch.full((n_prefix,), -1, dtype=torch.long, device=used.device)
            remap[used] = torch.arange(used.shape[0], device=used.device)
            state.prefix_k, state.prefix_v = state.prefix_k[:, :, used], state.prefix_v[:, :, used]
            state.prefix_bias, state.prefix_len = state.prefix_bias[used], state.prefix_len[used]
            row_prefix = remap[row_prefix]
        self._regrid(state, row_prefix)

    @torch.inference_mode()
    def step(self, state: DecodeState, tokens: Tensor) -> Tensor:
        """Feeds one token per active row ([B] int64) and returns next-token logits [B, V]."""
        b, s = tokens.shape[0], state.steps
        nh, nkv, d, g = self.n_heads, self.n_kv, self.head_dim, self.group
        n_prefix, length, k_max = state.prefix_k.shape[2], state.prefix_k.shape[3], state.k_max
        pos = state.row_pos0 + s
        cos, sin = self.cos[pos][:, None], self.signed_sin[pos][:, None]  # [B, 1, D]
        if not state.dense:  # rows scattered into a [n_prefix * k_max] grid with holes
            q_grid = tokens.new_zeros((nkv, n_prefix * k_max, g, d), dtype=self.dtype)
            p_grid = tokens.new_zeros((nkv, n_prefix * k_max, g, length), dtype=self.dtype)
        # Own suffix: per row, a [g, D] x [D, s+1] product per kv head is far too small for a
        # batched matmul, so all heads go at once: [H * g, H * D] x [H * D, s+1] with the queries
        # on the block diagonal (H-fold redundant FLOPs, but one matrix per row instead of H).
        q_diag = state.q_diag[:b]
        q_on_diag = q_diag.diagonal(dim1=1, dim2=3)                              # [B, g, D, H] view
        x = F.embedding(tokens, self.embed)
        for i, layer in enumerate(self.layers):
            ln1, w_qkv, w_o = layer[:3]
            qkv = F.linear(self._rms(x, ln1), w_qkv).view(b, nh + 2 * nkv, d)
            qk = self._rope(qkv[:, :nh + nkv], cos, sin)
            state.suffix_k[i, :b, s] = qk[:, nh:].reshape(b, nkv * d)
            state.suffix_v[i, :b, s] = qkv[:, nh + nkv:].reshape(b, nkv * d)
            q = (qk[:, :nh] * self.scale).view(b, nkv, g, d)
            # Shared prompt: one [k_max * g, D] x [D, P] matmul per (kv head, prompt).
            if state.dense:
                q_grid = q.transpose(0, 1).contiguous()
            else:
                q_grid.index_copy_(1, state.grid_index, q.transpose(0, 1))
            scores_p = q_grid.view(nkv, n_prefix, k_max * g, d) @ state.prefix_k[i].transpose(-1, -2)
            scores_p = scores_p.view(nkv, n_prefix * k_max, g, length)
            if not state.dense:
                scores_p = scores_p.index_select(1, state.grid_index)
            q_on_diag.copy_(q.permute(0, 2, 3, 1))
            scores_s = q_diag.view(b, nh, nkv * d) @ state.suffix_k[i, :b, :s + 1].transpose(1, 2)
            scores_s = scores_s.view(b, nkv, g, s + 1).transpose(0, 1)            # [H, B, g, s+1]
            probs = torch.softmax(torch.cat([scores_p + state.row_bias, scores_s], -1), -1)
            if state.dense:
                p_grid = probs[..., :length]
            else:
                p_grid.index_copy_(1, state.grid_index, probs[..., :length])
            out_p = p_grid.reshape(nkv, n_prefix, k_max * g, length) @ state.prefix_v[i]
            out_p = out_p.view(nkv, n_prefix * k_max, g, d)
            if not state.dense:
                out_p = out_p.index_select(1, state.grid_index)
            probs_s = probs[..., length:].transpose(0, 1).reshape(b, nh, s + 1)
            out_s = (probs_s @ state.suffix_v[i, :b, :s + 1]).view(b, nkv, g, nkv, d)
            attn = out_p.transpose(0, 1) + out_s.diagonal(dim1=1, dim2=3).permute(0, 3, 1, 2)
            x = x + F.linear(attn.reshape(b, nh * d), w_o)
            x = x + self._mlp(x, layer)
        state.steps = s + 1
        return self._logits(x)


class LeanLlamaLoss:
    """The training twin of ``LeanLlama``: the causal-LM loss of a ``LlamaForCausalLM`` computed from
    its live parameters (autograd flows into the HF model, which stays the artefact that is saved).

    Equal to ``model(input_ids, attention_mask, labels).loss`` for right-padded batches (padding
    follows every real token, so causal attention alone keeps it out of sight), at a fraction of the
    per-step overhead that dominates tiny models: no mask tensors, RoPE tables built once, fused QKV
    and gate/up matmuls, and the LM head applied only where a label is scored.
    """

    def __init__(self, model: LlamaForCausalLM):
        if not is_supported(model):
            raise ValueError("LeanLlamaLoss supports LlamaForCausalLM with default RoPE, silu and no biases")
        self.model = model
        self._rope = LeanLlama.__new__(LeanLlama)  # only its RoPE/RMS helpers (no weight copies)
        c = model.config
        r = self._rope
        r.head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
        rope = getattr(c, "rope_parameters", None) or {}
        r.rope_theta = float(rope.get("rope_theta", getattr(c, "rope_theta", 10000.0)))
        r.eps, r.device, r.dtype, r._rope_len = c.rms_norm_eps, model.device, model.dtype, 0
        r._ensure_rope(c.max_position_embeddings)
        self.n_heads: int = c.num_attention_heads
        self.n_kv: int = c.num_key_value_heads or c.num_attention_heads
        self.group, self.scale = self.n_heads // self.n_kv, r.head_dim ** -0.5

    def __call__(self, input_ids: Tensor, labels: Tensor) -> Tensor:
        """Mean next-token cross-entropy over positions whose label (shifted by one) is not -100."""
        logits, target = self._scored_logits(input_ids, labels)
        return F.cross_entropy(logits, target)

    def token_logprobs(self, input_ids: Tensor, labels: Tensor) -> Tensor:
        """log p(label) at every scored position (label not -100), row-major, with autograd: what a
        policy gradient weights by each token's advantage."""
        logits, target = self._scored_logits(input_ids, labels)
        return -F.cross_entropy(logits, target, reduction="none")

    def dense_loss(self, input_ids: Tensor, labels: Tensor) -> Tensor:
        """``self(input_ids, labels)`` with the LM head applied at every position and the unlabelled ones
        ignored by the loss: no shape depends on the data, which ``torch.compile`` needs (train.compile)."""
        r, m = self._rope, self.model.model
        hidden = r._rms(self._body(input_ids)[:, :-1], m.norm.weight)
        logits = F.linear(hidden, self.model.lm_head.weight)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=-100)

    def _scored_logits(self, input_ids: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        """(logits [n_scored, vocab], targets [n_scored]) at the positions whose label is not -100."""
        x = self._body(input_ids)
        target = labels[:, 1:]
        scored = target != -100
        hidden = self._rope._rms(x[:, :-1][scored], self.model.model.norm.weight)
        return F.linear(hidden, self.model.lm_head.weight), target[scored]

    def _body(self, input_ids: Tensor) -> Tensor:
        """The residual stream after the last layer, [n, length, hidden] (before the final norm)."""
        r, m = self._rope, self.model.model
        n, length = input_ids.shape
        cos, sin = r.cos[:length], r.signed_sin[:length]
        nh, nkv, d = self.n_heads, self.n_kv, r.head_dim
        x = m.embed_tokens(input_ids)
        for layer in m.layers:
            a, mlp = layer.self_attn, layer.mlp
            w_qkv = torch.cat([a.q_proj.weight, a.k_proj.weight, a.v_proj.weight])
            qkv = F.linear(r._rms(x, layer.input_layernorm.weight), w_qkv)
            qkv = qkv.view(n, length, nh + 2 * nkv, d).transpose(1, 2)
            qk = r._rope(qkv[:, :nh + nkv], cos, sin)
            q, k, v = qk[:, :nh], qk[:, nh:], qkv[:, nh + nkv:]
            if self.group > 1:
                k, v = k.repeat_interleave(self.group, 1), v.repeat_interleave(self.group, 1)
            attn = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=self.scale)
            x = x + F.linear(attn.transpose(1, 2).reshape(n, length, nh * d), a.o_proj.weight)
            gate, up = F.linear(r._rms(x, layer.post_attention_layernorm.weight),
                                torch.cat([mlp.gate_proj.weight, mlp.up_proj.weight])).chunk(2, -1)
            x = x + F.linear(F.silu(gate) * up, mlp.down_proj.weight)
        return x
