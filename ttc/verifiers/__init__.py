"""Verifiers trained by ttc: outcome (ORM, Cobbe 2021) and process (PRM, Lightman 2023) reward models.

    record = ensure_verifier(cache, task, generator_checkpoint, VerifierSpec(kind="prm"))
    scores, step_scores = score_pool(record, test_pool, task)        # [S], S arrays

``SCORERS`` holds the free scorers (read from a pool's own columns, no extra model): every verifier
must beat them. Labels are never read at scoring time.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from ttc.verifiers.heads import ValueHeadLM
from ttc.verifiers.metrics import auc, calibration, step_auc, verifier_metrics, within_problem_auc
from ttc.verifiers.store import (
    VerifierRecord,
    ensure_verifier,
    generator_step_logprobs,
    load_verifier,
    score_pool,
    scoring_flops,
    verifier_lm_checkpoint,
    verifier_lm_step_logprobs,
    verifier_pool,
)
from ttc.verifiers.train import VerifierSpec, data_point, finetune_control

SCORERS: dict[str, Callable[[pd.DataFrame], np.ndarray]] = {
    # the generator's own log-probability of the sample (nats): free, recorded while sampling
    "logprob": lambda pool: pool["logprob"].to_numpy(dtype=float),
    # per generated token: does not favour short samples
    "logprob_per_token": lambda pool: pool["logprob"].to_numpy(dtype=float) / np.maximum(1, pool["gen_tokens"]),
}

__all__ = ["SCORERS", "ValueHeadLM", "VerifierRecord", "VerifierSpec", "auc", "calibration", "data_point", "ensure_verifier",
           "finetune_control", "generator_step_logprobs", "load_verifier", "score_pool", "scoring_flops", "step_auc",
           "verifier_lm_checkpoint", "verifier_lm_step_logprobs", "verifier_metrics", "verifier_pool",
           "within_problem_auc"]
