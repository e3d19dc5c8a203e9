"""The verifier network: a causal LM (initialised from a generator checkpoint) with a value head.

Why this head. The issue's prototypes put a linear head on the LM's hidden states and found it never
learned to *check* a step: within-problem AUC ~0.55, while the generator's own log-probability ranked
best. So the head here is given what an LM already knows about each written token -- its own
log-probability, its gap to the most likely token and the entropy there (Cobbe's verifier shares the
LM; we just hand its LM head's opinion to the value head explicitly) -- and the value is built as a
product over tokens:

    value_t = prod_{s <= t, s in solution} sigmoid(a_s),   a_s = MLP([h_s ; f_s]) + w . f_s + b   # [B, T]

``sigmoid(a_s)`` is the probability that token ``s`` keeps the solution on track; a step's
probability is the product over its tokens, and the solution's value the product over steps (the
PRM "product of step probabilities" of Lightman 2023 falls out as the value at the last token).
The features are detached: the value head learns to read the LM, the LM loss keeps the LM an LM.
``init="likelihood"`` starts from ``a_s = gap_s + 5`` (a log-probability-gap scorer, about as good a
ranker as the generator's log-probability); ``"flat"`` starts from "every token is fine". Measured on
one generator, the flat start with 150 steps ranked worse than the log-probability (docs/verifiers.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from transformers import AutoModelForCausalLM

HEAD_FILE, HEAD_CONFIG = "value_head.pt", "value_head.json"
N_FEATURES = 3  # log p(token), log p(token) - max log p, entropy (nats)
HEAD_INITS = ("likelihood", "flat")


@dataclass(frozen=True)
class VerifierOutput:
    lm_logits: Tensor  # [B, T, V] next-token logits (the LM loss reads these)
    token_logit: Tensor  # [B, T] a_t: logit that token t keeps the solution on track
    log_value: Tensor  # [B, T] sum of logsigmoid(a_s) over solution tokens s <= t (0 before the solution)


def prediction_features(pred_logits: Tensor, targets: Tensor) -> Tensor:
    """[B, T, 3] features of each written token ``targets`` [B, T] from the LM's logits that predicted it:
    its log-prob, the gap to the most likely token's, the entropy (each clamped at -20)."""
    logp = torch.log_softmax(pred_logits.float(), -1)
    written = logp.gather(-1, targets[..., None])[..., 0]
    gap = written - logp.max(-1).values
    entropy = -(logp.exp() * logp).sum(-1)
    return torch.stack([written, gap, entropy], -1).clamp(min=-20.0)


def token_features(lm_logits: Tensor, input_ids: Tensor) -> Tensor:
    """[B, T, 3] features of each token t from the LM's prediction at t-1 (zeros at t = 0)."""
    return F.pad(prediction_features(lm_logits[:, :-1], input_ids[:, 1:]), (0, 0, 1, 0))


class ValueHeadLM(nn.Module):
    """``lm``: any Hugging Face causal LM exposing hidden states; ``width``: the head's hidden width."""

    lm: Any  # a transformers causal LM (its config and save_pretrained are used)

    def __init__(self, lm: nn.Module, *, width: int = 64, use_features: bool = True, init: str = "likelihood"):
        super().__init__()
        if init not in HEAD_INITS:
            raise ValueError(f"value head init={init!r}; use one of {', '.join(HEAD_INITS)}")
        self.lm = lm
        self.use_features, self.width, self.init = use_features, width, init
        d = self.lm.config.hidden_size
        first, out = nn.Linear(d + N_FEATURES, width), nn.Linear(width, 1)  # in this order: the init draws
        self.head = nn.Sequential(first, nn.SiLU(), out)
        self.skip = nn.Linear(N_FEATURES, 1)  # a linear path from the features, so "likelihood" can start there
        with torch.no_grad():
            out.weight.mul_(0.1)
            out.bias.zero_()
            self.skip.weight.zero_()
            if init == "likelihood":  # a_t = gap_t + 5: tokens the LM would not have written cost the most
                self.skip.weight[0, 1] = 1.0
                self.skip.bias.fill_(5.0)
            else:  # "flat": every token ~fine (value ~0.9 over ~40 tokens), nothing preferred
                self.skip.bias.fill_(6.0)

    def forward(self, input_ids: Tensor, attention_mask: Tensor, solution_mask: Tensor) -> VerifierOutput:
        """input_ids/attention_mask [B, T] (right padded); solution_mask [B, T] bool: scored tokens."""
        out = self.lm(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
        hidden = out.hidden_states[-1]  # [B, T, d] (after the final norm)
        token_logit = self.token_logits(hidden, token_features(out.logits.detach(), input_ids))
        log_keep = F.logsigmoid(token_logit) * solution_mask
        return VerifierOutput(out.logits, token_logit, log_keep.cumsum(-1))

    def token_logits(self, hidden: Tensor, feats: Tensor) -> Tensor:
        """a_t [B, T] (float32) from the LM's last hidden states [B, T, d] and the token features
        [B, T, 3] (``token_features``; ignored when ``use_features`` is off)."""
        if not self.use_features:
            feats = torch.zeros_like(feats)
        feats = feats.to(hidden.dtype)
        return (self.head(torch.cat([hidden, feats], -1)) + self.skip(feats))[..., 0].float()

    def save(self, path: Path | str, tokenizer=None) -> None:
        path = Path(path)
        self.lm.save_pretrained(path)
        if tokenizer is not None:
            tokenizer.save_pretrained(path)
        torch.save({k: v for k, v in self.state_dict().items() if not k.startswith("lm.")}, path / HEAD_FILE)
        (path / HEAD_CONFIG).write_text(json.dumps({"width": self.width, "use_features": self.use_features,
                                                    "init": self.init}))

    @classmethod
    def load(cls, path: Path | str) -> ValueHeadLM:
        path = Path(path)
        cfg = json.loads((path / HEAD_CONFIG).read_text())
        model = cls(AutoModelForCausalLM.from_pretrained(path), **cfg)
        missing = model.load_state_dict(torch.load(path / HEAD_FILE, weights_only=True), strict=False).missing_keys
        assert all(k.startswith("lm.") for k in missing), missing
        return model.eval()
