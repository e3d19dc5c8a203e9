"""Where a model's loss sits, token by token: the solution-token loss of a registers-task model split by
the role each token plays in a step.

A step ``x=3a1=7`` has a register name (``x``), the register's current value (``3``: copied from its
last step or the prompt), the operation and operand (``a1``: the register's next one in the prompt) and
the result (``7``: the operation's table applied to the value). Teacher-forced on gold solutions, the
mean loss per role says which part of the task a model has learnt: copying (value, operation, operand)
or computing (result). ``experiments/plateau_probe.py`` follows it along training (docs/model_size.md,
"Where the plateau was").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ttc.tasks.base import ANSWER_MARK, STEP_SEP
from ttc.tasks.registers import STEP_RE
from ttc.tokenizer import Codec
from ttc.train import encode_batch

ROLES = ("register", "value", "operation", "operand", "result", "syntax", "answer", "eos")
_GROUP_ROLES = ("register", "value", "operation", "operand", "result")  # STEP_RE's groups; the rest is syntax


def solution_roles(solution: str) -> list[str]:
    """The role of each character of a registers-task solution, then of the EOS token after it.

    >>> solution_roles("x=3a1=7#7")
    ['register', 'syntax', 'value', 'operation', 'operand', 'syntax', 'result', 'syntax', 'answer', 'eos']
    """
    body, mark, answer = solution.partition(ANSWER_MARK)
    roles: list[str] = []
    steps = body.split(STEP_SEP)
    for i, step in enumerate(steps):
        match = STEP_RE.match(step)
        if match is None:
            raise ValueError(f"{step!r} is not a registers-task step (x=3a1=7); probe gold solutions of that task")
        step_roles = ["syntax"] * len(step)
        for group, role in enumerate(_GROUP_ROLES, start=1):
            start, end = match.span(group)
            step_roles[start:end] = [role] * (end - start)
        roles += step_roles
        if i < len(steps) - 1 or mark:
            roles.append("syntax")  # the step separator, or the answer mark after the last step
    return roles + ["answer"] * len(answer) + ["eos"]


@torch.no_grad()
def role_losses(model, codec: Codec, prompts: Sequence[str], solutions: Sequence[str], *, batch: int = 256
                ) -> dict[str, tuple[float, float, int]]:
    """role -> (mean loss in nats/token, share of tokens the model ranks first, token count), teacher-forced
    on ``solutions`` (registers-task gold solutions) after ``prompts``."""
    nll: dict[str, list[float]] = {r: [] for r in ROLES}
    top: dict[str, list[bool]] = {r: [] for r in ROLES}
    was_training = model.training
    model.eval()
    for lo in range(0, len(prompts), batch):
        ss = solutions[lo: lo + batch]
        ids, mask, labels, _ = encode_batch(codec, list(prompts[lo: lo + batch]), list(ss))
        logp = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)
        for r, sol in enumerate(ss):
            pos = torch.nonzero(labels[r] != -100)[:, 0]  # the solution tokens and EOS
            target = labels[r, pos]
            row = logp[r, pos - 1]  # the logits at position t - 1 predict token t
            token_nll = -row.gather(-1, target[:, None])[:, 0]
            first = row.argmax(-1) == target
            for role, v, f in zip(solution_roles(sol), token_nll.tolist(), first.tolist()):
                nll[role].append(v)
                top[role].append(f)
    model.train(was_training)
    return {r: (float(np.mean(nll[r])), float(np.mean(top[r])), len(nll[r])) for r in ROLES if nll[r]}
