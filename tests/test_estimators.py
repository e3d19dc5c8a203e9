"""Estimators against brute-force enumeration of every N-subset, and hand-worked values."""

import itertools
from math import comb

import numpy as np
import pytest

from ttc.estimators import (
    EXACT,
    ProblemArrays,
    best_of_n_probs,
    majority_win_probs,
    pass_at_k,
    rank_weights,
    subsample_values,
    summarize,
)
from ttc.selection import NULL_ANSWER, REGISTRY, Subset, with_params

N = NULL_ANSWER


def problem(answers, scores=None, correct=None, process=None):
    """Correctness defaults to 'answer 0 is right'; process_correct to every other right sample."""
    answers = np.array(answers)
    correct = (answers == 0) if correct is None else np.array(correct, bool)
    correct &= answers != N
    process = (np.arange(len(answers)) % 2 == 0) if process is None else np.array(process, bool)
    scores = np.zeros(len(answers)) if scores is None else np.array(scores, dtype=float)
    measures = np.stack([correct, correct & ~process], axis=1).astype(float)  # accuracy, false positive
    return ProblemArrays(answers, scores, correct, measures)


def brute_force(rule, prob: ProblemArrays, n: int) -> np.ndarray:
    """[measures]: mean over all C(M, n) subsets of the rule's expected measure."""
    total = 0.0
    for idx in itertools.combinations(range(len(prob.answer_ids)), n):
        idx = list(idx)
        chosen = rule(Subset(prob.answer_ids[idx], prob.scores[idx], prob.is_correct[idx]))
        total = total + chosen @ prob.measures[idx]
    return total / comb(len(prob.answer_ids), n)


def random_problems(seed, count=12, max_size=8):
    """Small pools with ties in scores, null answers and all-null stretches."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        m = int(rng.integers(1, max_size + 1))
        answers = rng.integers(0, rng.integers(1, 4), size=m)
        answers[rng.random(m) < 0.25] = N
        scores = rng.integers(0, 4, size=m) / 4  # few distinct values -> ties; dyadic -> exact sums
        out.append(problem(answers, scores, process=rng.random(m) < 0.5))
    out.append(problem([N, N, N]))  # every subset is all-null
    out.append(problem([N, N, 0, 1], [0.5, 0.5, 0.25, 0.25]))
    return out


# ---------------------------------------------------------------- hand-worked


def test_pass_at_k_closed_form():
    # 5 samples, 2 right, k=2: 1 - C(3,2)/C(5,2) = 1 - 3/10
    assert pass_at_k(5, 2, 2) == pytest.approx(0.7, abs=1e-15)
    assert pass_at_k(5, 4, 2) == 1.0  # fewer than k wrong samples: some right one is always drawn
    assert pass_at_k(5, 0, 3) == 0.0


def test_rank_weights_are_order_statistics():
    # M=4, N=2: rank r is the best of the pair with C(3-r, 1)/C(4, 2) = [3, 2, 1, 0]/6
    assert np.allclose(rank_weights(4, np.array([2])), [[3 / 6, 2 / 6, 1 / 6, 0]], atol=1e-15)
    assert np.allclose(rank_weights(5, np.arange(1, 6)).sum(axis=1), 1.0, atol=1e-14)


def test_best_of_n_ties_and_nulls_by_hand():
    # scores [1, 1, 0], N=2: {0,1} tie -> 1/2 each; {0,2} -> 0; {1,2} -> 1: P = [1/2, 1/2, 0]
    assert np.allclose(best_of_n_probs(np.array([1.0, 1, 0]), np.ones(3, bool), [2]), [[0.5, 0.5, 0]])
    # sample 0 is null with the best score: {0,1} -> 1, {0,2} -> 2, {1,2} -> 1: P = [0, 2/3, 1/3]
    probs = best_of_n_probs(np.array([5.0, 1, 0]), np.array([False, True, True]), [2])
    assert np.allclose(probs, [[0, 2 / 3, 1 / 3]])


def test_majority_by_hand():
    # a a b, N=2: {a,a} -> a; {a,b} twice -> tie 1/2: P(a) = (1 + 1/2 + 1/2)/3 = 2/3, P(b) = 1/3
    assert np.allclose(majority_win_probs(np.array([0, 0, 1]), [2]), [[2 / 3, 1 / 3]], atol=1e-15)
    # null null a, N=2: {null,null} chooses nothing (wrong); the two others contain a -> 2/3
    assert np.allclose(majority_win_probs(np.array([N, N, 0]), [2]), [[2 / 3]], atol=1e-15)
    # a a a b b, N=5: everything drawn, a wins
    assert np.allclose(majority_win_probs(np.array([0, 0, 0, 1, 1]), [5]), [[1, 0]], atol=1e-15)


def test_false_positive_rate_comes_with_the_same_probabilities():
    # a a b with a right; the first a is process-wrong. Majority at N=2 chooses a w.p. 2/3, each of
    # its samples w.p. 1/3, so accuracy 2/3 and false-positive rate 1/3.
    prob = problem([0, 0, 1], process=[False, True, False])
    assert np.allclose(EXACT["majority"]([prob], np.array([2]))[0, 0], [2 / 3, 1 / 3], atol=1e-15)


# ---------------------------------------------------------------- brute force


@pytest.mark.parametrize("rule", ["single", "majority", "best_of_n", "coverage"])
def test_exact_rules_equal_brute_force(rule):
    problems = random_problems(seed=1)
    max_m = max(len(p.answer_ids) for p in problems)
    ns = np.arange(1, max_m + 1)
    got = EXACT[rule](problems, ns)
    for p, prob in enumerate(problems):
        for j, n in enumerate(ns):
            if n > len(prob.answer_ids):
                assert np.isnan(got[p, j]).all()
            else:
                assert np.allclose(got[p, j], brute_force(REGISTRY[rule].reference, prob, n), atol=1e-12, rtol=0)


def test_per_sample_and_per_answer_probabilities_equal_brute_force():
    for prob in random_problems(seed=2):
        m, valid = len(prob.answer_ids), prob.answer_ids != N
        answers = np.unique(prob.answer_ids[valid])
        for n in range(1, m + 1):
            best = np.zeros(m)
            wins = np.zeros(len(answers))
            for idx in itertools.combinations(range(m), n):
                idx = list(idx)
                s = Subset(prob.answer_ids[idx], prob.scores[idx], prob.is_correct[idx])
                best[idx] += REGISTRY["best_of_n"].reference(s)
                chosen = REGISTRY["majority"].reference(s)
                wins += [chosen[prob.answer_ids[idx] == a].sum() for a in answers]
            assert np.allclose(best_of_n_probs(prob.scores, valid, [n])[0], best / comb(m, n), atol=1e-12)
            if len(answers):
                got = majority_win_probs(prob.answer_ids, [n])[0, answers]  # columns are answer ids
                assert np.allclose(got, wins / comb(m, n), atol=1e-12)


def test_majority_exact_on_a_larger_pool_with_many_ties():
    # 14 samples over 6 answers and nulls: many tie patterns; still enumerable (3432 subsets at N=7)
    prob = problem([0, 0, 0, 1, 1, 1, 2, 2, 3, 3, 4, 5, N, N])
    for n in (2, 5, 7, 12):
        assert np.allclose(
            EXACT["majority"]([prob], np.array([n]))[0, 0],
            brute_force(REGISTRY["majority"].reference, prob, n),
            atol=1e-12,
        )


@pytest.mark.parametrize("rule", ["weighted_vote", "top_k_vote", "majority", "best_of_n"])
def test_subsampling_within_three_standard_errors(rule):
    problems = random_problems(seed=3, count=6)
    ns = np.arange(1, 9)
    mean, var = subsample_values(rule, problems, ns, trials=400, seed=0, top_k=2)
    rule_fn = with_params(rule, top_k=2)
    for p, prob in enumerate(problems):
        for j, n in enumerate(ns):
            if n > len(prob.answer_ids):
                assert np.isnan(mean[p, j]).all()
                continue
            want = brute_force(rule_fn, prob, n)
            assert np.all(np.abs(mean[p, j] - want) <= 3 * np.sqrt(var[p, j]) + 1e-12), (p, n)


@pytest.mark.parametrize("rule", ["weighted_vote", "majority"])
def test_vote_prefix_equals_the_rule_on_every_prefix_of_the_same_permutations(rule):
    # the blocked vote (bincount between recorded prefixes) against the reference rule called on
    # each prefix: equal trial by trial, ties and zero scores included
    from ttc.subsampling import _generic_prefix, _run_prefix

    problems = [p for p in random_problems(seed=5, count=20, max_size=40) if len(p.answer_ids) == 3]
    problems += [problem([0, 1, N], [0.0, 0.0, 0.5]), problem([1, 1, 0], [0.25, 0.25, 0.5])]
    rng = np.random.default_rng(0)
    perms = [np.stack([rng.permutation(3) for _ in range(7)]).astype(np.int32) for _ in problems]
    fast, slow = {}, {}
    _run_prefix(rule, problems, perms, 1, [0, 1, 2], lambda t, v: fast.setdefault(t, v.copy()))
    _generic_prefix(REGISTRY[rule].reference, problems, perms, [1, 2, 3], lambda j, v: slow.setdefault(j, v.copy()))
    for j in range(3):
        assert np.allclose(fast[j], slow[j].reshape(fast[j].shape), atol=1e-12), j


def test_generic_subsampling_path_agrees_with_the_exact_value():
    # coverage has no prefix implementation: the slow path calls the rule on each prefix
    prob = problem([0, 1, 1, N, 0, 2])
    mean, var = subsample_values("coverage", [prob], np.array([1, 3]), trials=400, seed=0)
    exact = EXACT["coverage"]([prob], np.array([1, 3]))
    assert np.all(np.abs(mean - exact) <= 3 * np.sqrt(var) + 1e-12)


def test_subsampling_is_seeded_and_independent_of_batching():
    problems = random_problems(seed=4, count=5)
    a = subsample_values("weighted_vote", problems, np.array([1, 2, 3]), trials=50, seed=7)[0]
    b = subsample_values("weighted_vote", problems[:2], np.array([1, 2, 3]), trials=50, seed=7)[0]
    assert np.array_equal(a[:2], b, equal_nan=True)


# ---------------------------------------------------------------- across problems


def test_summarize_standard_error_by_hand():
    # two problems, accuracies 0 and 1 at one N: mean 1/2, sd 0.7071, se = sd/sqrt(2) = 1/2
    values = np.array([[[0.0]], [[1.0]]])
    s = summarize(values, confidence=0.95)
    assert s.mean[0, 0] == 0.5 and s.se[0, 0] == pytest.approx(0.5)
    assert s.ci_low[0, 0] == 0.0 and s.ci_high[0, 0] == 1.0  # 0.5 -+ 0.98, clipped to [0, 1]
    assert s.n_problems[0] == 2 and s.mc_se[0, 0] == 0


def test_summarize_skips_problems_too_short_and_bootstraps():
    values = np.array([[[1.0], [np.nan]], [[0.0], [0.5]], [[1.0], [0.5]]])
    s = summarize(values, np.full(values.shape, 0.01), bootstrap=200, seed=0)
    assert s.n_problems.tolist() == [3, 2]
    assert s.mean[1, 0] == 0.5 and s.ci_low[1, 0] == s.ci_high[1, 0] == 0.5
    assert s.mc_se[1, 0] == pytest.approx(np.sqrt(0.02) / 2)


def test_majority_truncation_changes_nothing_measurable(monkeypatch):
    # Dropping hypergeometric terms below e^-40 is the one approximation; against no cut at all,
    # on 300-sample pools with a long tail of answers, the curves agree to 1e-13.
    rng = np.random.default_rng(5)
    problems = [problem(np.minimum(rng.zipf(1.6, size=300), 40) - 1) for _ in range(3)]
    ns = np.arange(1, 301)
    cut = EXACT["majority"](problems, ns)
    monkeypatch.setattr("ttc.estimators.LOG_EPS", -np.inf)
    assert np.abs(EXACT["majority"](problems, ns) - cut).max() < 1e-13


# ---------------------------------------------------------------- majority at scale (ttc.majority)


def _tied_pool(rng, m, n_answers):
    """Many answers of equal counts (heavy ties) and 10% nulls."""
    base = np.repeat(np.arange(n_answers), rng.integers(1, 2 * m // n_answers, size=n_answers))[:m]
    ids = np.concatenate([base, rng.integers(0, n_answers, size=m - len(base))])
    ids[rng.random(m) < 0.1] = N
    return ids


def test_per_n_majority_equals_the_all_n_scheme_on_medium_pools():
    # the two exact schemes are independent derivations; on 300-450-sample pools with 40 answers of
    # repeated counts, 10% nulls and ties everywhere, they agree to 1e-10 at every requested N
    rng = np.random.default_rng(11)
    for m, n_answers in ((300, 40), (450, 12)):
        ids = _tied_pool(rng, m, n_answers)
        ns = np.unique(np.round(np.logspace(0, np.log10(m), 15)).astype(int))
        new, old = majority_win_probs(ids, ns, scheme="per_n"), majority_win_probs(ids, ns, scheme="all_n")
        assert new.shape == old.shape and np.abs(new - old).max() < 1e-10
        assert np.allclose(new.sum(axis=1)[-1], 1.0)  # N = M: someone wins (nulls are 10%, not all)


def test_per_n_majority_windows_change_nothing_measurable(monkeypatch):
    # the e^-50 windows, tie degrees and root count are the one approximation: against none at all
    # (every term kept, L past the whole pool) the values agree to 1e-13
    from ttc.estimators import majority_problem

    rng = np.random.default_rng(12)
    problems = [problem(np.minimum(rng.zipf(1.6, size=300), 40) - 1) for _ in range(2)]
    ns = np.array([3, 17, 60, 150, 299])
    cut = np.stack([majority_problem(p, ns) for p in problems])
    monkeypatch.setattr("ttc.majority.LOG_TAIL", -np.inf)
    assert np.abs(np.stack([majority_problem(p, ns) for p in problems]) - cut).max() < 1e-13


def test_per_n_majority_equals_brute_force_on_small_pools():
    # small pools run the all-N scheme by default; the per-N one is held to brute force here too,
    # per answer (every answer's win probability) and per measure (accuracy, false positives)
    from ttc.estimators import majority_problem

    for prob in random_problems(seed=6, count=20):
        m, valid = len(prob.answer_ids), prob.answer_ids != N
        ns = np.arange(1, m + 1)
        got = majority_problem(prob, ns)
        want = np.stack([brute_force(REGISTRY["majority"].reference, prob, n) for n in ns])
        assert np.allclose(got, want, atol=1e-12, rtol=0)
        if valid.any():
            probs = majority_win_probs(prob.answer_ids, ns, scheme="per_n")
            assert np.allclose(probs, majority_win_probs(prob.answer_ids, ns, scheme="all_n"), atol=1e-12)
