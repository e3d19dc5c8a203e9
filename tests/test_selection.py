"""Hand-worked cases for each selection rule (what the rule chooses from one fixed subset)."""

import numpy as np
import pytest

from ttc.selection import NULL_ANSWER, RULES, Subset, aggregate_step_scores, top_k_vote

N = NULL_ANSWER


def sub(answers, scores=None, correct=None):
    answers = np.array(answers)
    scores = np.full(len(answers), np.nan) if scores is None else np.array(scores, dtype=float)
    correct = np.zeros(len(answers), bool) if correct is None else np.array(correct, bool)
    return Subset(answers, scores, correct)


def test_single_is_uniform_and_a_null_answer_chooses_nothing():
    # 4 samples, one null: each answered sample is drawn with 1/4; 1/4 of the time nothing is chosen
    assert np.allclose(RULES["single"](sub([0, 1, N, 1])), [0.25, 0.25, 0, 0.25])


def test_majority_splits_ties_between_answers_then_among_their_samples():
    # answers a a b b c: a and b tie with 2 votes -> 1/2 each, spread over their 2 samples -> 1/4
    assert np.allclose(RULES["majority"](sub([0, 0, 1, 1, 2])), [0.25, 0.25, 0.25, 0.25, 0])
    # nulls never win, even when they are the most common "answer"
    assert np.allclose(RULES["majority"](sub([N, N, N, 1])), [0, 0, 0, 1])
    # only nulls: nothing chosen
    assert RULES["majority"](sub([N, N])).sum() == 0


def test_best_of_n_takes_the_top_score_and_splits_ties():
    assert np.allclose(RULES["best_of_n"](sub([0, 1, 2], [0.1, 0.9, 0.5])), [0, 1, 0])
    assert np.allclose(RULES["best_of_n"](sub([0, 1, 2], [0.9, 0.9, 0.5])), [0.5, 0.5, 0])
    # a null answer with the best score is skipped
    assert np.allclose(RULES["best_of_n"](sub([N, 1, 2], [5.0, 0.2, 0.5])), [0, 0, 1])


def test_weighted_vote_sums_scores_per_answer():
    # a: 0.3 + 0.3 = 0.6 beats b: 0.5 although b holds the single best sample
    assert np.allclose(RULES["weighted_vote"](sub([0, 0, 1], [0.3, 0.3, 0.5])), [0.5, 0.5, 0])
    # a: 0.25 + 0.25 = 0.5 ties b: 0.5 (dyadic, exact in floating point)
    assert np.allclose(RULES["weighted_vote"](sub([0, 0, 1], [0.25, 0.25, 0.5])), [0.25, 0.25, 0.5])


def test_top_k_vote_votes_among_the_top_scored():
    s = sub([0, 1, 1, 0, 0], [0.9, 0.8, 0.7, 0.1, 0.2])
    # top-3 = {a .9, b .8, b .7}: b wins 2-1, its two samples 1/2 each (a has more votes overall)
    assert np.allclose(top_k_vote(s, k=3), [0, 0.5, 0.5, 0, 0])
    # top-1 is best-of-N
    assert np.allclose(top_k_vote(s, k=1), RULES["best_of_n"](s))
    # k >= subset size: plain majority (a has 3 votes)
    assert np.allclose(top_k_vote(s, k=9), RULES["majority"](s))


def test_top_k_vote_breaks_a_tie_at_the_cutoff_evenly():
    # top-2 of scores [.9 (a), .5 (b), .5 (a)]: the .9 is in; the second place is b or a, 1/2 each.
    # {a, b} ties 1-1 -> a-sample 1/2, b 1/2; {a, a} -> a wins, its 2 samples 1/2 each.
    # sample 0: (1/2 + 1/2)/2 = 1/2; sample 1: (1/2 + 0)/2 = 1/4; sample 2: (0 + 1/2)/2 = 1/4
    assert np.allclose(top_k_vote(sub([0, 1, 0], [0.9, 0.5, 0.5]), k=2), [0.5, 0.25, 0.25])


def test_coverage_is_an_oracle():
    s = sub([0, 1, 2, N], correct=[False, True, True, True])
    # the two correct answered samples share the choice; a correct null answer cannot be chosen
    assert np.allclose(RULES["coverage"](s), [0, 0.5, 0.5, 0])


@pytest.mark.parametrize(
    "how, expected", [("prod", 0.9 * 0.5 * 0.8), ("min", 0.5), ("last", 0.8), ("mean", 2.2 / 3)]
)
def test_prm_aggregations(how, expected):
    assert np.allclose(aggregate_step_scores([np.array([0.9, 0.5, 0.8])], how), [expected])
