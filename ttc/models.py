"""The generator family: small decoder-only Llama transformers built with ``transformers``.

A ``ModelSize`` names a shape; ``build_model`` turns it into a ``LlamaForCausalLM`` with random
weights for a given tokenizer. Sizes are chosen to span > 100x in P (see ``ttc.compute``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:  # imported where a model is built: the Llama modelling code takes seconds to import
    from transformers import LlamaForCausalLM


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class ModelSize:
    name: str
    hidden: int
    layers: int
    heads: int
    mlp: int  # SwiGLU inner width
    max_len: int = 256  # positions
    lr: float = 2e-3  # peak learning rate that trains this shape fastest (wider shapes need less)
    # standard deviation of the initial weights (linear layers and embeddings); None = transformers'
    # default initializer_range (0.02 at every width)
    init_std: float | None = None

    def validate(self) -> None:
        for key in ("hidden", "layers", "heads", "mlp", "max_len"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"model {self.name!r}: {key}={value!r} must be an integer")
        if not _is_number(self.lr) or not self.lr > 0:
            raise ValueError(f"model {self.name!r}: lr={self.lr!r} must be a number > 0")
        if self.init_std is not None and (not _is_number(self.init_std) or not 0 < self.init_std <= 1):
            raise ValueError(f"model {self.name!r}: init_std={self.init_std!r} must be a number in (0, 1]")
        if self.hidden % self.heads:
            raise ValueError(f"model {self.name!r}: hidden={self.hidden} is not divisible by heads={self.heads}; "
                             "pick heads dividing hidden")
        if min(self.hidden, self.layers, self.heads, self.mlp, self.max_len) < 1:
            raise ValueError(f"model {self.name!r}: every dimension must be >= 1")


# The default family; P (non-embedding) is printed by benchmarks/bench_training.py.
# Peak learning rates were measured on the default task (tables of operations, docs/model_size.md):
# the smallest shapes learn fastest at the highest rates they tolerate. Initial weights are drawn with
# standard deviation 1/sqrt(hidden) (rounded to 3 decimals): transformers' fixed 0.02 starts these narrow
# shapes near the saddle at zero; measured over five seeds per size, the scaled draw gives seed means
# monotone in P and twice the share of size-ordered families (docs/model_size.md, "The initial scale").
def unit_scale(hidden: int) -> float:
    """1/sqrt(hidden), rounded to 3 decimals: the family's initial-weight standard deviation."""
    return round(hidden ** -0.5, 3)


FAMILY: dict[str, ModelSize] = {
    "xs": ModelSize("xs", hidden=16, layers=2, heads=2, mlp=40, lr=5e-3, init_std=unit_scale(16)),
    "xs2": ModelSize("xs2", hidden=24, layers=2, heads=2, mlp=64, lr=4.5e-3, init_std=unit_scale(24)),
    "s": ModelSize("s", hidden=32, layers=3, heads=2, mlp=96, lr=4e-3, init_std=unit_scale(32)),
    "m": ModelSize("m", hidden=64, layers=3, heads=4, mlp=160, lr=2.5e-3, init_std=unit_scale(64)),
    # measured: at 2e-3 this shape sat on its loss plateau past 1M tokens; at 1e-3 it reached 80% greedy at 1M
    "l": ModelSize("l", hidden=128, layers=4, heads=4, mlp=320, lr=1.2e-3, init_std=unit_scale(128)),
    # for full.toml / bigger machines
    "xl": ModelSize("xl", hidden=192, layers=5, heads=6, mlp=512, lr=7e-4, init_std=unit_scale(192)),
}


def build_model(size: ModelSize, tokenizer, *, seed: int) -> LlamaForCausalLM:
    from transformers import LlamaConfig, LlamaForCausalLM
    size.validate()
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=size.hidden, intermediate_size=size.mlp,
        num_hidden_layers=size.layers, num_attention_heads=size.heads, num_key_value_heads=size.heads,
        max_position_embeddings=size.max_len, rms_norm_eps=1e-5, tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, attention_bias=False, mlp_bias=False,
    )
    if size.init_std is not None:  # read by the weights' initialisation in LlamaForCausalLM(config)
        config.initializer_range = float(size.init_std)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    return model
