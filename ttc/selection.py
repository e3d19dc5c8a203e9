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


# --------------------------------------------------------------------------- the rule registry
@dataclass(frozen=True)
class RuleInfo:
    """What the harness knows about one selection rule; adding a rule is one ``register_rule`` call.

    ``reference`` defines the rule (per-subset choice probabilities). ``fast_path`` names the vectorised
    Monte-Carlo path of ``ttc.subsampling`` that reproduces it ("vote": sum of weights per answer;
    "top_k": majority among the k top-scored; None: the generic path, which calls ``reference`` on every
    trial's subset). Rules with a closed form are also in ``ttc.estimators.EXACT`` (checked against the
    reference by tests/test_estimators.py); ``method`` says which estimator ``ttc.evaluate`` uses."""

    name: str
    reference: Rule
    label: str  # how figures and tables name it
    needs_score: bool = False  # reads a scorer's value (a pool column, or a verifier's score)
    fast_path: str | None = None  # "vote" | "top_k" | None
    params: tuple[str, ...] = ()  # keyword parameters of `reference` that RuleSpec sets (top_k_vote: k)

    @property
    def method(self) -> str:
        from ttc.estimators import EXACT  # estimators import this module

        return "exact" if self.name in EXACT else "subsample"

    def bound(self, *, top_k: int = 5) -> Rule:
        """``reference`` with its keyword parameters set."""
        fn: Callable[..., np.ndarray] = self.reference
        return partial(fn, k=top_k) if "k" in self.params else self.reference


REGISTRY: dict[str, RuleInfo] = {}


def register_rule(name: str, reference: Rule, *, label: str, needs_score: bool = False,
                  fast_path: str | None = None, params: tuple[str, ...] = ()) -> RuleInfo:
    """Add (or replace) a rule: it is then accepted by configs and ``ttc.evaluate`` and named in figures."""
    if ":" in name or not name:
        raise ValueError(f"rule name {name!r}: use a non-empty name without ':' (':' separates the scorer)")
    if fast_path not in (None, "vote", "top_k"):
        raise ValueError(f"rule {name!r}: fast_path must be None, 'vote' or 'top_k', got {fast_path!r}")
    REGISTRY[name] = info = RuleInfo(name, reference, label, needs_score, fast_path, params)
    return info


def rule_info(name: str) -> RuleInfo:
    """The registered rule ``name``; a ValueError naming the known rules otherwise."""
    if name not in REGISTRY:
        raise ValueError(f"unknown rule {name!r}; known rules: {', '.join(REGISTRY)}")
    return REGISTRY[name]


register_rule("single", single, label="single sample")
register_rule("majority", majority, label="majority vote", fast_path="vote")
register_rule("best_of_n", best_of_n, label="best-of-N", needs_score=True, fast_path="top_k")
register_rule("weighted_vote", weighted_vote, label="vote weighted", needs_score=True, fast_path="vote")
register_rule("top_k_vote", top_k_vote, label="top-k vote", needs_score=True, fast_path="top_k", params=("k",))
register_rule("coverage", coverage, label="coverage (pass@N, oracle)")


def with_params(name: str, *, top_k: int = 5) -> Rule:
    """The rule called ``name`` with its keyword parameters bound."""
    return rule_info(name).bound(top_k=top_k)


# --------------------------------------------------------------------------- one curve's rule
@dataclass(frozen=True)
class RuleSpec:
    """One curve: a registered rule and the pool column it reads as its score.

    ``parse("best_of_n:orm")`` is the config form: rule, then the scorer whose column ``score_<scorer>``
    it reads; the label (the ``rule`` value written to the tables) is the text itself."""

    rule: str  # a registered rule (REGISTRY)
    score: str = "score"  # column read as the score (floats; lists of step scores when prm_agg is set)
    prm_agg: str | None = None  # prod | min | last | mean: aggregate step scores into a score
    top_k: int = 5  # for top_k_vote
    label: str | None = None  # the `rule` value written out (default: rule)
    scorer: str | None = None  # the scorer named after ':' in the config form, if any

    @property
    def name(self) -> str:
        return self.label or self.rule

    @property
    def info(self) -> RuleInfo:
        return rule_info(self.rule)

    @classmethod
    def parse(cls, text: str) -> RuleSpec:
        """``rule`` or ``rule:scorer``; ValueError (one line) for an unknown rule or a scorer on a rule
        that reads none."""
        rule, sep, scorer = text.partition(":")
        info = rule_info(rule)
        if sep and not scorer:
            raise ValueError(f"rule {text!r}: name the scorer after ':' (e.g. {rule}:orm) or drop the ':'")
        if scorer and not info.needs_score:
            raise ValueError(f"rule {text!r}: {rule} reads no score; drop ':{scorer}'")
        return cls(rule, score=f"score_{scorer}" if scorer else "score", label=text, scorer=scorer or None)


def rule_label(text: str, scorer_labels: dict[str, str] | None = None) -> str:
    """A table's rule value (``rule`` or ``rule:scorer``) as figures name it, e.g. "best-of-N by ORM".
    Unregistered rules (an older table) are named after their text."""
    rule, _, scorer = text.partition(":")
    name = REGISTRY[rule].label if rule in REGISTRY else rule.replace("_", "-")
    if not scorer:
        return name
    return f"{name} by {(scorer_labels or {}).get(scorer, scorer)}"


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
