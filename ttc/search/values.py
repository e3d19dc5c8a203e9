"""Value functions of partial solutions: what a search uses to decide which prefix to extend.

Each value function scores a batch of nodes with per-step scores in [0, 1] (one per completed step;
a finished node's last step includes its answer) and says how many tokens it ran through a model:

* ``VerifierValue``: a trained ``ValueHeadLM`` (ttc's PRM trained on the exact checker's step labels
  or on Monte-Carlo rollout labels, or its ORM): the probability of each step given its prefix, read
  on the separator that closes the step (``ttc.verifiers.score``). The whole prefix is scored again
  at every depth (no KV cache kept), and the counts say so.
* ``LogprobValue``: the generator's own confidence, exp(mean log-prob per token) of each step. Free:
  recorded while the step was sampled.
* ``OracleValue``: the task's exact step checker (1 while every step is right, 0 from the first wrong
  one; the answer step by the final answer). It reads the gold answer, so it is a ceiling and the
  reference the tests check search against, never a test-time method.

``aggregate`` turns per-step scores into one value: ``prod`` (the probability that every step is
right), ``min`` (the weakest step) or ``last`` (the latest step's score), as in Snell et al. 2024.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ttc.search.tree import Node, step_separator
from ttc.tasks.base import Problem, Task
from ttc.tokenizer import Codec
from ttc.verifiers.labels import layout
from ttc.verifiers.score import score_layout

AGGREGATIONS = ("prod", "min", "last")


def aggregate(scores: Sequence[float], how: str) -> float:
    """One value from per-step scores (1.0 for a node with no step yet)."""
    if not len(scores):
        return 1.0
    if how == "prod":
        return float(np.prod(scores))
    if how == "min":
        return float(np.min(scores))
    if how == "last":
        return float(scores[-1])
    raise ValueError(f"unknown value aggregation {how!r}; use one of {', '.join(AGGREGATIONS)}")


class ValueFn(Protocol):
    name: str
    params: int  # P of the model it runs (ttc.compute convention); 0 when it runs none

    def score(self, problems: Sequence[Problem], nodes: Sequence[Node]) -> list[int]:
        """Set ``node.scores`` of each node; return the tokens run through a model for each."""
        ...


def prefix_text(text: str, sep: str) -> str:
    """The node's text without its last step (what its children share with their siblings)."""
    body = text[:-1] if text.endswith(sep) else text
    return text[: body.rfind(sep) + 1]


class VerifierValue:
    """A ``ValueHeadLM`` scoring every completed step of each prefix.

    Nodes that share a prefix (siblings: the text without their last step) are scored together: the
    prefix runs through the verifier once and its KV cache serves every sibling's last step, so a
    node costs its own step plus a share of its prefix (``shared_prefix=False``: every node's whole
    text, as ``score_layout`` on a pool). The counts returned are the tokens actually run."""

    def __init__(self, model, codec: Codec, task: Task, *, name: str, params: int, batch_size: int = 256,
                 shared_prefix: bool = True):
        self.model, self.codec, self.task = model, codec, task
        self.name, self.params, self.batch_size = name, params, batch_size
        self.shared_prefix = shared_prefix
        self.sep = step_separator(task)

    def score(self, problems: Sequence[Problem], nodes: Sequence[Node]) -> list[int]:
        if not nodes:
            return []
        lay = layout(self.task, self.codec, [p.prompt for p in problems], [n.text for n in nodes],
                     [n.finished for n in nodes])
        if self.shared_prefix:
            steps, used = self._shared(problems, nodes, lay)
        else:
            _, steps = score_layout(self.model, lay, batch_size=self.batch_size)
            used = [int(n) for n in lay.lengths]
        for node, s in zip(nodes, steps):
            # an open node's text ends with its separator: the segments after it are empty (score 1)
            node.scores = tuple(float(x) for x in (s if node.terminal else s[: node.depth]))
        return used

    @torch.no_grad()
    def _shared(self, problems: Sequence[Problem], nodes: Sequence[Node], lay) -> tuple[list[np.ndarray], list[int]]:
        self.model.eval()
        groups: dict[tuple[str, str], list[int]] = {}
        prefix_ids: dict[tuple[str, str], list[int]] = {}  # token ids of each group's shared prefix
        for i, (prob, node) in enumerate(zip(problems, nodes)):
            shared = prefix_text(node.text, self.sep)
            prompt_ids = self.codec.encode_prompts([prob.prompt])[0]
            ids = prompt_ids + self.codec.encode_text(shared).tolist()
            if not np.array_equal(lay.input_ids[i, : len(ids)], ids):  # a tokenizer that merges across the cut
                shared, ids = "", prompt_ids
            groups.setdefault((prob.prompt, shared), []).append(i)
            prefix_ids[(prob.prompt, shared)] = ids
        keys = list(groups)
        log_keep = [np.zeros(0)] * len(nodes)  # per node: log keep-probability of every token
        used = [0] * len(nodes)
        at = 0
        while at < len(keys):  # batches of groups holding about batch_size children
            batch: list[tuple[str, str]] = []
            rows = 0
            while at < len(keys) and (not batch or rows + len(groups[keys[at]]) <= self.batch_size):
                batch.append(keys[at])
                rows += len(groups[keys[at]])
                at += 1
            self._score_batch(batch, groups, [prefix_ids[k] for k in batch], lay, log_keep, used)
        seg = lay.seg_end
        steps = []
        for i, lk in enumerate(log_keep):
            cum = np.cumsum(lk)
            ends = cum[seg[i, : lay.n_segments[i]]]
            steps.append(np.exp(np.diff(np.concatenate([[0.0], ends]))))
        return steps, used

    def _score_batch(self, batch, groups, prefix_ids: list[list[int]], lay, log_keep, used) -> None:
        """One verifier pass over a batch's prefixes (left padded, with cache), one over their children."""
        vm, dev = self.model, next(self.model.parameters()).device
        width = max(len(x) for x in prefix_ids)
        ids = torch.full((len(batch), width), self.codec.pad_id, dtype=torch.long)
        mask = torch.zeros(len(batch), width, dtype=torch.long)
        for g, x in enumerate(prefix_ids):
            ids[g, width - len(x):] = torch.as_tensor(x)
            mask[g, width - len(x):] = 1
        ids, mask = ids.to(dev), mask.to(dev)
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        out = vm.lm(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, output_hidden_states=True)
        prefix_logit = self._token_logit(out.hidden_states[-1], out.logits[:, :-1], ids[:, 1:])
        # children: each row continues its group's prefix with its own suffix (right padded)
        owner, suffixes, members = [], [], []
        for g, key in enumerate(batch):
            for i in groups[key]:
                full = lay.input_ids[i, : lay.lengths[i]]
                owner.append(g)
                suffixes.append(full[len(prefix_ids[g]):])
                members.append(i)
        s_width = max(1, max(len(x) for x in suffixes))
        s_ids = torch.full((len(members), s_width), self.codec.pad_id, dtype=torch.long)
        s_mask = torch.zeros(len(members), s_width, dtype=torch.long)
        for r, x in enumerate(suffixes):
            s_ids[r, : len(x)] = torch.from_numpy(np.asarray(x, dtype=np.int64))
            s_mask[r, : len(x)] = 1
        s_ids, s_mask = s_ids.to(dev), s_mask.to(dev)
        rows = torch.tensor(owner, device=dev)
        cache = out.get("cache", None) or out.get("past_key_values", None)
        cache.batch_select_indices(rows)
        s_pos = mask[rows].sum(-1, keepdim=True) + torch.arange(s_width, device=dev)
        cache_kw = "cache" if "cache" in inspect.signature(vm.lm.forward).parameters else "past_key_values"
        s_out = vm.lm(input_ids=s_ids, attention_mask=torch.cat([mask[rows], s_mask], 1), position_ids=s_pos,
                      use_cache=True, output_hidden_states=True, **{cache_kw: cache})
        pred = torch.cat([out.logits[rows, -1:], s_out.logits[:, :-1]], 1)  # predicts each suffix token
        s_logit = self._token_logit(s_out.hidden_states[-1], pred, s_ids)
        seen = set()
        for r, (g, i) in enumerate(zip(owner, members)):
            start = int(np.argmax(lay.solution_mask[i])) if lay.solution_mask[i].any() else lay.lengths[i]
            n_prefix, n_suffix = len(prefix_ids[g]), len(suffixes[r])
            pl = prefix_logit[g, width - n_prefix:]  # token t's logit (t >= 1 of the prefix)
            lk = np.zeros(n_prefix + n_suffix)
            lk[: n_prefix] = pl[:n_prefix]
            lk[n_prefix:] = s_logit[r, :n_suffix]
            lk[:start] = 0.0  # only solution tokens carry a value
            log_keep[i] = lk
            used[i] = n_suffix + (0 if g in seen else n_prefix)
            seen.add(g)

    def _token_logit(self, hidden: Tensor, pred_logits: Tensor, targets: Tensor) -> np.ndarray:
        """log sigmoid(a_t) per token (``ttc.verifiers.heads``): column t is token t of ``hidden``. For a
        prefix pass (pred = logits[:, :-1], targets = ids[:, 1:]) token 0 has no prediction and gets
        zero features; for a suffix pass every token's prediction is given."""
        vm = self.model
        logp = torch.log_softmax(pred_logits.float(), -1)
        written = logp.gather(-1, targets[..., None])[..., 0]
        feats = torch.stack([written, written - logp.max(-1).values, -(logp.exp() * logp).sum(-1)], -1).clamp(min=-20.0)
        if hidden.shape[1] == feats.shape[1] + 1:  # a prefix: token 0 has no prediction (features 0)
            feats = F.pad(feats, (0, 0, 1, 0))
        if not vm.use_features:
            feats = torch.zeros_like(feats)
        feats = feats.to(hidden.dtype)
        a = (vm.head(torch.cat([hidden, feats], -1)) + vm.skip(feats))[..., 0].float()
        return F.logsigmoid(a).double().cpu().numpy()


class LogprobValue:
    """The generator's own per-step confidence: exp(step log-prob / step tokens)."""

    name, params = "logprob", 0

    def score(self, problems: Sequence[Problem], nodes: Sequence[Node]) -> list[int]:
        for node in nodes:
            node.scores = tuple(float(np.exp(lp / max(1, t))) for lp, t in zip(node.logprobs, node.step_tokens))
        return [0] * len(nodes)


class OracleValue:
    """The exact step checker (reads the gold answer: a ceiling, not a test-time method)."""

    name, params = "oracle", 0

    def __init__(self, task: Task):
        self.task = task

    def score(self, problems: Sequence[Problem], nodes: Sequence[Node]) -> list[int]:
        for prob, node in zip(problems, nodes):
            check = self.task.check_steps(prob, node.text)
            if check is None:
                raise ValueError(f"task {self.task.name!r} has no step checker: the oracle value needs one")
            flags = list(check.step_correct)[: node.depth]
            ok = 1.0
            scores = []
            for f in flags:
                ok = ok if f else 0.0
                scores.append(ok)
            if node.terminal:
                right = self.task.check_answer(prob, self.task.extract_answer(node.text))
                scores = scores[: node.depth - 1] + [ok * float(right) if scores else float(right)]
            node.scores = tuple(scores)
        return [0] * len(nodes)
