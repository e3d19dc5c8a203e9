"""One problem's pool in the arrays every estimator reads (``ttc.estimators``, ``ttc.subsampling``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ProblemArrays:
    """One problem's pool, as the estimators read it."""

    answer_ids: np.ndarray  # [samples] int64, 0..answers-1, NULL_ANSWER where none was extracted
    scores: np.ndarray  # [samples] float64, NaN when the rule reads no score
    is_correct: np.ndarray  # [samples] bool
    measures: np.ndarray  # [samples, measures] float64, 0 for null answers
