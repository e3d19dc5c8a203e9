"""Compute accounting: one convention used everywhere.

P is the number of parameters a token's forward pass multiplies by: every parameter except the input
token embedding (a table lookup, not a matmul). For ttc's untied char-level models this includes the
LM head. FLOPs follow Kaplan et al.: a forward pass costs 2·P FLOPs per token, training 6·P FLOPs per
token (forward + backward). Attention's context-dependent FLOPs (2·n_layers·context·d per token) are
not counted, as in the papers; for ttc's ~100-token sequences they are < 10% of 2·P.
"""

from __future__ import annotations

import torch


def flop_params(model: torch.nn.Module) -> int:
    """P: parameters excluding the input token embedding (the convention used for every FLOP count)."""
    total = sum(p.numel() for p in model.parameters())
    emb = model.get_input_embeddings().weight  # type: ignore[operator]  # a transformers model
    tied = any(p is emb for n, p in model.named_parameters() if "lm_head" in n)
    return int(total - (0 if tied else emb.numel()))


def train_flops(params: int, tokens: int) -> float:
    """6·P·tokens: forward + backward over the tokens processed."""
    return 6.0 * params * tokens


def inference_flops(params: int, tokens: int) -> float:
    """2·P·tokens: one forward pass over the tokens processed (prompt or generated or scored)."""
    return 2.0 * params * tokens
