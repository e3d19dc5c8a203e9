"""Public reward models as scorers beside ttc's own ORM/PRM: four adapters with exact mechanisms.

Each adapter loads a local Hugging Face directory through ``from_pretrained`` (nothing is
downloaded) and turns (question, solution steps) into per-step probabilities and one score:

- ``math_shepherd`` (Wang et al. 2024): a causal LM. The input is ``question + " " + step_1 + " ки\\n"
  + step_2 + " ки\\n" ...``; at every step tag the step's score is softmax over the logits of the
  "+" and "-" tokens, P("+"). Tag and label tokens are configurable and must each be one token.
- ``token_classification`` (Qwen2.5-Math-PRM style): a token-classification model. The steps are
  joined by the separator token (``<extra_0>``, one after every step) inside the tokenizer's chat
  template (system prompt, user = question, assistant = the joined steps); the step's score is the
  label-1 probability (softmax over the two labels) at each separator.
- ``value_head``: a causal LM with a scalar value head in TRL's layout (``v_head.summary.weight``
  and ``.bias`` stored with the LM's weights); the input is ``question + "\\n" + solution`` and the
  step's score is sigmoid(value) at the last token of each step.
- ``outcome``: a sequence-classification model (an ORM); the input is the chat template (user =
  question, assistant = solution) when the tokenizer has one, else ``question + "\\n" + solution``.
  The score is sigmoid(logit) for one label, the label-1 probability for two. No step scores.

Step scores become one score by ``aggregation`` (prod, min, last, mean: ``ttc.selection``). Every
scored token is counted: FLOPs = 2·P·tokens with the reward model's non-embedding P.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

KINDS = ("math_shepherd", "token_classification", "value_head", "outcome")


@dataclass(frozen=True)
class RewardModelSpec:
    kind: str
    path: str
    aggregation: str = "min"  # how step scores become the score (PRMs): prod | min | last | mean
    step_tag: str = "ки"  # math_shepherd: the tag after each step
    good_token: str = "+"
    bad_token: str = "-"
    separator: str = "<extra_0>"  # token_classification: the token after each step
    system_prompt: str = "Please reason step by step, and put your final answer within \\boxed{}."
    batch_size: int = 8
    max_length: int = 4096  # longer inputs are refused with a one-line error, never silently cut
    dtype: str = ""  # "" (the checkpoint's), float32, bfloat16, float16
    trust_remote_code: bool = False  # a checkpoint with its own modelling code (e.g. the real Qwen PRM)

    def validate(self, key: str = "reward_models") -> None:
        from ttc.selection import PRM_AGGREGATIONS
        if self.kind not in KINDS:
            raise ValueError(f"{key}.kind={self.kind!r} is unknown; use one of {', '.join(KINDS)}")
        if self.aggregation not in PRM_AGGREGATIONS:
            raise ValueError(f"{key}.aggregation={self.aggregation!r}; use one of {', '.join(PRM_AGGREGATIONS)}")
        if self.batch_size < 1 or self.max_length < 8:
            raise ValueError(f"{key}: batch_size must be >= 1 and max_length >= 8")
        if self.dtype not in ("", "float32", "bfloat16", "float16"):
            raise ValueError(f"{key}.dtype={self.dtype!r}; use float32, bfloat16, float16 or leave it empty")


@dataclass
class Scored:
    scores: np.ndarray  # [samples]
    step_scores: list[np.ndarray]  # per sample, one probability per step ([] for outcome models)
    tokens: np.ndarray  # [samples] tokens the reward model processed


class RewardModel:
    """A loaded adapter: ``score(questions, steps)`` for batches of solutions."""

    def __init__(self, spec: RewardModelSpec, model: Any, tokenizer: Any, v_head: torch.nn.Linear | None = None):
        self.spec, self.model, self.tokenizer, self.v_head = spec, model, tokenizer, v_head
        from ttc.compute import flop_params
        self.params = flop_params(model)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
        if spec.kind == "math_shepherd":
            self.tag_id = self._one_token(spec.step_tag, "step_tag")
            self.label_ids = [self._one_token(spec.good_token, "good_token"), self._one_token(spec.bad_token, "bad_token")]
        if spec.kind == "token_classification":
            self.sep_id = self._one_token(spec.separator, "separator")

    def _one_token(self, text: str, name: str) -> int:
        ids = self.tokenizer.encode(text, add_special_tokens=False)
        if len(ids) != 1:
            raise ValueError(f"reward model {self.spec.path}: {name}={text!r} is {len(ids)} tokens of its "
                             "tokenizer, must be exactly one; set the token this model was trained with")
        return int(ids[0])

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    # -- inputs: token ids and the positions whose outputs are the step scores

    def encode(self, question: str, steps: Sequence[str]) -> tuple[list[int], list[int]]:
        """(input ids, score positions) of one solution, per this adapter's convention."""
        s, tok = self.spec, self.tokenizer
        if s.kind == "math_shepherd":
            text = question + " " + "".join(f"{step} {s.step_tag}\n" for step in steps)
            ids = tok.encode(text)
            return ids, [i for i, t in enumerate(ids) if t == self.tag_id]
        if s.kind == "token_classification":
            messages = [{"role": "system", "content": s.system_prompt}, {"role": "user", "content": question},
                        {"role": "assistant", "content": "".join(step + s.separator for step in steps)}]
            text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
            ids = tok.encode(text, add_special_tokens=False)
            return ids, [i for i, t in enumerate(ids) if t == self.sep_id]
        if s.kind == "value_head":
            head, ends, pos = question + "\n", [], len(question) + 1
            for step in steps:  # the solution is the steps joined by newlines
                pos += len(step)
                ends.append(pos)
                pos += 1
            enc = tok(head + "\n".join(steps), return_offsets_mapping=True)
            offsets = enc["offset_mapping"]
            # a step's score is read at the last token that starts before the step's end
            return list(enc["input_ids"]), [max(i for i, (a, _) in enumerate(offsets) if a < e) for e in ends]
        solution = "\n".join(steps)
        if getattr(tok, "chat_template", None):
            messages = [{"role": "user", "content": question}, {"role": "assistant", "content": solution}]
            ids = tok.encode(tok.apply_chat_template(messages, tokenize=False), add_special_tokens=False)
        else:
            ids = tok.encode(question + "\n" + solution)
        return ids, [len(ids) - 1]

    # -- forward

    def _step_probs(self, out: Any, hidden_last: torch.Tensor | None) -> torch.Tensor:
        """[batch, time] probability each position's output gives (read only at score positions)."""
        kind = self.spec.kind
        if kind == "math_shepherd":
            return torch.softmax(out.logits[..., self.label_ids].float(), dim=-1)[..., 0]
        if kind == "token_classification":
            logits = out.logits if hasattr(out, "logits") else out[0]
            return torch.softmax(logits.float(), dim=-1)[..., 1]
        assert hidden_last is not None and self.v_head is not None
        return torch.sigmoid(self.v_head(hidden_last.float()).squeeze(-1))

    @torch.no_grad()
    def _batch(self, encoded: list[tuple[list[int], list[int]]]) -> list[np.ndarray]:
        width = max(len(ids) for ids, _ in encoded)
        ids = torch.full((len(encoded), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(encoded), width), dtype=torch.long)
        for row, (seq, _) in enumerate(encoded):  # right padding: positions stay those of the encoding
            ids[row, : len(seq)] = torch.tensor(seq)
            mask[row, : len(seq)] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        if self.spec.kind == "outcome":
            logits = self.model(input_ids=ids, attention_mask=mask).logits.float()
            probs = torch.sigmoid(logits[:, 0]) if logits.shape[-1] == 1 else torch.softmax(logits, -1)[:, 1]
            return [np.array([p]) for p in probs.cpu().numpy()]
        want_hidden = self.spec.kind == "value_head"
        out = self.model(input_ids=ids, attention_mask=mask, output_hidden_states=want_hidden)
        table = self._step_probs(out, out.hidden_states[-1] if want_hidden else None).cpu().numpy()
        return [table[row, positions].astype(np.float64) for row, (_, positions) in enumerate(encoded)]

    def score(self, questions: Sequence[str], steps: Sequence[Sequence[str]]) -> Scored:
        """Scores of each (question, steps) solution; batches by length so padding stays small."""
        from ttc.selection import aggregate_step_scores
        encoded = [self.encode(q, s) for q, s in zip(questions, steps)]
        for ids, _ in encoded:
            if len(ids) > self.spec.max_length:
                raise ValueError(f"reward model {self.spec.path}: an input of {len(ids)} tokens exceeds "
                                 f"max_length={self.spec.max_length}; raise reward_models.<name>.max_length")
        order = np.argsort([len(ids) for ids, _ in encoded], kind="stable")
        per_step: list[np.ndarray] = [np.zeros(0)] * len(encoded)
        for lo in range(0, len(order), self.spec.batch_size):
            rows = order[lo : lo + self.spec.batch_size]
            for row, probs in zip(rows, self._batch([encoded[r] for r in rows])):
                per_step[row] = probs
        tokens = np.array([len(ids) for ids, _ in encoded], dtype=np.int64)
        if self.spec.kind == "outcome":
            return Scored(np.array([p[0] for p in per_step]), [np.zeros(0)] * len(encoded), tokens)
        # a solution with no step (an empty text) gets the lowest score, 0, not NaN
        scores = np.nan_to_num(aggregate_step_scores(per_step, self.spec.aggregation), nan=0.0)
        return Scored(scores, per_step, tokens)


def _value_head(path: Path, hidden: int) -> torch.nn.Linear:
    """TRL's value head (``v_head.summary.weight`` [1, hidden] and ``.bias``) from the weight files."""
    from safetensors.torch import load_file
    tensors: dict[str, torch.Tensor] = {}
    for f in sorted(path.glob("*.safetensors")):
        tensors |= {k: v for k, v in load_file(str(f)).items() if "v_head" in k}
    for f in sorted(path.glob("*.bin")):
        tensors |= {k: v for k, v in torch.load(f, map_location="cpu", weights_only=True).items() if "v_head" in k}
    weight = next((v for k, v in tensors.items() if k.endswith("summary.weight")), None)
    bias = next((v for k, v in tensors.items() if k.endswith("summary.bias")), None)
    if weight is None:
        raise ValueError(f"reward model {path}: no v_head.summary.weight in its weight files; a value_head "
                         "model stores its head in TRL's layout (v_head.summary.weight / .bias)")
    head = torch.nn.Linear(hidden, 1, bias=bias is not None)
    head.weight.data.copy_(weight.reshape(1, hidden).float())
    if bias is not None:
        head.bias.data.copy_(bias.reshape(1).float())
    return head


def load_reward_model(spec: RewardModelSpec, *, device: str = "cpu", key: str = "reward_models") -> RewardModel:
    """The adapter for ``spec``, loaded from its local directory (one-line errors for a bad path)."""
    import transformers
    from transformers.utils import logging as hf_logging

    from ttc.external import check_model_dir
    spec.validate(key)
    path = check_model_dir(spec.path, f"{key}.path")
    hf_logging.disable_progress_bar()
    auto = {"math_shepherd": transformers.AutoModelForCausalLM, "value_head": transformers.AutoModelForCausalLM,
            "token_classification": transformers.AutoModelForTokenClassification,
            "outcome": transformers.AutoModelForSequenceClassification}[spec.kind]
    kwargs: dict[str, Any] = {"trust_remote_code": spec.trust_remote_code}
    if spec.dtype:
        kwargs["dtype"] = getattr(torch, spec.dtype)  # validated: float32, bfloat16 or float16
    if spec.kind == "token_classification" and spec.trust_remote_code:
        auto = transformers.AutoModel  # the real Qwen PRM registers its head as AutoModel in remote code
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # a value-head checkpoint's v_head.* keys are "unused" by the LM: expected
    try:
        model = auto.from_pretrained(str(path), **kwargs).to(device).eval()
    finally:
        hf_logging.set_verbosity(verbosity)
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(path), trust_remote_code=spec.trust_remote_code)
    v_head = _value_head(path, model.config.hidden_size).to(device) if spec.kind == "value_head" else None
    return RewardModel(spec, model, tokenizer, v_head)
