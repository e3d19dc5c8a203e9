"""Tiny random Hugging Face checkpoints built and saved locally, loaded back through ``from_pretrained``
exactly as a real one would be (no hub, no downloads).

- ``word_tokenizer``: a word-level fast tokenizer (whitespace and punctuation split) with the tokens
  reward models need (the Math-Shepherd tag ``ки``, ``+``/``-``, Qwen's ``<extra_0>``) and a chat
  template, so every adapter's convention can be reproduced by hand in a test.
- ``char_tokenizer``: ttc's char-level tokenizer over printable ASCII (GSM8K/MATH text fits it).
- ``save_llama(kind, tokenizer, path)``: a 2-layer Llama of each head kind a reward model adapter loads.
"""

from __future__ import annotations

import string
from pathlib import Path

import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import (
    LlamaConfig,
    LlamaForCausalLM,
    LlamaForSequenceClassification,
    LlamaForTokenClassification,
    PreTrainedTokenizerFast,
)
from transformers.utils import logging as hf_logging

from ttc.tokenizer import build_char_tokenizer

hf_logging.disable_progress_bar()  # no "Writing model shards" bars in test output

CHAT_TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
                 "{% if add_generation_prompt %}<|assistant|>{% endif %}")
SPECIAL = ["<pad>", "<s>", "</s>", "<unk>", "<extra_0>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]
WORDS = (["ки", "+", "-", "=", ".", ",", "?", "#", "\\", "{", "}", "$", ":"] + list(string.ascii_lowercase)
         + list(string.digits) + ["step", "so", "the", "answer", "is", "what", "plus", "minus", "boxed"])


def word_tokenizer(chat: bool = True) -> PreTrainedTokenizerFast:
    vocab = {t: i for i, t in enumerate(SPECIAL + WORDS)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()  # \w+ and single punctuation runs; spaces dropped
    tok = PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                  unk_token="<unk>", additional_special_tokens=SPECIAL[4:])
    if chat:
        tok.chat_template = CHAT_TEMPLATE
    return tok


def char_tokenizer() -> PreTrainedTokenizerFast:
    chars = string.digits + string.ascii_letters + "".join(c for c in string.punctuation) + " \n"
    return build_char_tokenizer(chars)


def _config(tokenizer, **extra) -> LlamaConfig:
    return LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=1024,
                       pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                       eos_token_id=tokenizer.eos_token_id, **extra)


def save_llama(kind: str, tokenizer, path: Path, seed: int = 0) -> Path:
    """A tiny random model of ``kind`` (causal | token_classification | outcome | value_head) saved at ``path``."""
    torch.manual_seed(seed)
    if kind in ("causal", "value_head"):
        model = LlamaForCausalLM(_config(tokenizer))
    elif kind == "token_classification":
        model = LlamaForTokenClassification(_config(tokenizer, num_labels=2))
    elif kind == "outcome":
        model = LlamaForSequenceClassification(_config(tokenizer, num_labels=1))
    else:
        raise ValueError(kind)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    if kind == "value_head":  # TRL's layout: the head's tensors stored with the LM's weights
        from safetensors.torch import load_file, save_file
        weights = load_file(str(path / "model.safetensors"))
        weights["v_head.summary.weight"] = torch.randn(1, model.config.hidden_size)
        weights["v_head.summary.bias"] = torch.randn(1)
        save_file(weights, str(path / "model.safetensors"), metadata={"format": "pt"})
    return path


GSM8K_SAMPLE = Path(__file__).resolve().parent / "data" / "gsm8k_sample.jsonl"

SWEEP_CONFIG = """
[task]
name = "gsm8k"
path = "{data}"
train_path = "{data}"
prompt = "fewshot"
fewshot = {fewshot}
[generators]
sizes = ["tiny"]
checkpoints = {{tiny = "{models}/causal"}}
[pools]
n_problems = 6
n_samples = {samples}
max_new_tokens = {max_new_tokens}
[verifiers]
kinds = []
[reward_models]
rm = {{kind = "outcome", path = "{models}/outcome"}}
vh = {{kind = "value_head", path = "{models}/value_head", aggregation = "min"}}
[eval]
ns = {ns}
n_trials = 20
rules = ["single", "majority", "best_of_n:logprob", "best_of_n:rm", "best_of_n:vh", "weighted_vote:vh", "coverage"]
[run]
device = "{device}"
hex = false
progress = false
n_jobs = 1
eval_jobs = 1
"""


def gsm8k_sweep(root: Path, *, samples: int = 4, ns=(1, 2, 4), max_new_tokens: int = 16, fewshot: int = 1,
                device: str = "cpu") -> Path:
    """A tiny GSM8K-format sweep config at ``root/gsm.toml``: a char-level Llama generator and two reward
    models (outcome, value head) built under ``root/models``, the GSM8K sample of tests/data."""
    tok = char_tokenizer()
    for kind, seed in (("causal", 0), ("outcome", 1), ("value_head", 2)):
        save_llama(kind, tok, root / "models" / kind, seed=seed)
    config = root / "gsm.toml"
    config.write_text(SWEEP_CONFIG.format(data=GSM8K_SAMPLE, models=root / "models", samples=samples,
                                          ns=list(ns), max_new_tokens=max_new_tokens, fewshot=fewshot, device=device))
    return config
