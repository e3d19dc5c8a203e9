"""Selection rules: given the N samples drawn for one problem, which one is chosen.

Every rule has one signature, ``rule(subset) -> probs``: ``probs[i]`` is the probability that sample
``i`` of the subset is the chosen one, as the expectation over a uniform tie-break (ties are split
evenly). A sample whose answer is null takes part in the subset but is never chosen and never wins a
vote; the probabilities then sum to less than one and the missing mass means "chose nothing", which
counts as wrong. Vote rules choose an answer; the chosen *sample* is a uniformly random one of the
subset's samples with that answer (so process-level measures of the chosen sample are defined).

These functions define what each rule means and are the reference the fast estimators in
``ttc.estimators`` are tested against; they are not what the estimators call at scale.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

NULL_ANSWER = -1  # answer id of a sample whose final answer could not be extracted


@dataclass(frozen=True)
class Subset:
    """The samples one problem drew for one N."""

    answer_ids: np.ndarray  # [n] int64: index of the sample's distinct answer, NULL_ANSWER if none
    scores: np.ndarray  # [n] float64: the scorer's value (higher is better); NaN if there is no scorer
    is_correct: np.ndarray  # [n] bool: read only by the oracle (coverage)


Rule = Callable[[Subset], np.ndarray]  # -> [n] float64 probability that each sample is chosen


def _valid(sub: Subset) -> np.ndarray:
    return sub.answer_ids != NULL_ANSWER


def single(sub: Subset) -> np.ndarray:
    """One sample, drawn uniformly; a null answer means nothing was chosen."""
    n = len(sub.answer_ids)
    return np.where(_valid(sub), 1.0 / n, 0.0)


def _split_among(winners: np.ndarray, answer_ids: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Each winning answer gets 1/len(winners), spread uniformly over its samples."""
    probs = np.zeros(len(answer_ids))
    for answer in winners:
        members = valid & (answer_ids == answer)
        probs[members] = 1.0 / (len(winners) * members.sum())
    return probs


def _vote(sub: Subset, weights: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Sum ``weights`` per distinct answer over the samples in ``mask``; the largest sum wins."""
    if not mask.any():
        return np.zeros(len(sub.answer_ids))
    answers = np.unique(sub.answer_ids[mask])
    totals = np.array([weights[mask & (sub.answer_ids == a)].sum() for a in answers])
    return _split_among(answers[totals == totals.max()], sub.answer_ids, mask)


def majority(sub: Subset) -> np.ndarray:
    """Self-consistency (Wang et al. 2022): the most frequent answer wins."""
    return _vote(sub, np.ones(len(sub.answer_ids)), _valid(sub))


def weighted_vote(sub: Subset) -> np.ndarray:
    """Snell et al. 2024 / search-and-learn: the answer with the largest sum of scores wins."""
    return _vote(sub, sub.scores, _valid(sub))


def best_of_n(sub: Subset) -> np.ndarray:
    """The top-scored sample (Cobbe 2021, Lightman 2023)."""
    valid = _valid(sub)
    probs = np.zeros(len(sub.answer_ids))
    if valid.any():
        top = valid & (sub.scores == sub.scores[valid].max())
        probs[top] = 1.0 / top.sum()
    return probs


def top_k_vote(sub: Subset, *, k: int = 5) -> np.ndarray:
    """Cobbe 2021: majority vote among the k top-scored samples.

    When the k-th place is tied, every way of breaking the tie is enumerated (exact, exponential in
    the size of the tie; fine for a reference).
    """
    valid_idx = np.flatnonzero(_valid(sub))
    n = len(sub.answer_ids)
    if len(valid_idx) <= k:
        return majority(sub)
    order = valid_idx[np.argsort(-sub.scores[valid_idx], kind="stable")]
    cutoff = sub.scores[order[k - 1]]
    sure = order[sub.scores[order] > cutoff]
    tied = order[sub.scores[order] == cutoff]
    choices = list(itertools.combinations(tied, k - len(sure)))
    probs = np.zeros(n)
    for chosen in choices:
        mask = np.zeros(n, dtype=bool)
        mask[sure] = True
        mask[list(chosen)] = True
        probs += _vote(sub, np.ones(n), mask)
    return probs / len(choices)


def coverage(sub: Subset) -> np.ndarray:
    """Oracle (pass@N): a correct sample if there is one. Equals best-of-N with score = is_correct."""
    return best_of_n(Subset(sub.answer_ids, sub.is_correct.astype(float), sub.is_correct))


RULES: dict[str, Rule] = {
    "single": single,
    "majority": majority,
    "best_of_n": best_of_n,
    "weighted_vote": weighted_vote,
    "top_k_vote": top_k_vote,
    "coverage": coverage,
}
NEEDS_SCORE = frozenset({"best_of_n", "weighted_vote", "top_k_vote"})


def with_params(name: str, *, top_k: int = 5) -> Rule:
    """The rule called ``name`` with its keyword parameters bound."""
    return partial(top_k_vote, k=top_k) if name == "top_k_vote" else RULES[name]


# PRM aggregations (Lightman 2023, Table 4): a solution's score from its per-step scores.
PRM_AGGREGATIONS: dict[str, Callable[[np.ndarray], float]] = {
    "prod": lambda steps: float(np.prod(steps)),  # P(every step correct); Lightman's default
    "min": lambda steps: float(np.min(steps)),
    "last": lambda steps: float(steps[-1]),
    "mean": lambda steps: float(np.mean(steps)),
}


def aggregate_step_scores(step_scores: list[np.ndarray], how: str) -> np.ndarray:
    """[samples] solution scores from per-step scores (1-D arrays); NaN for an empty one."""
    agg = PRM_AGGREGATIONS[how]
    return np.array([agg(np.asarray(s, dtype=float)) if len(s) else np.nan for s in step_scores], dtype=float)
