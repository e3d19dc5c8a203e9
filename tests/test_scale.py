"""Large-pool paths: decided weighted votes, permutation prefixes, streaming reads and --jobs."""

import numpy as np

from ttc.estimators import ProblemArrays, subsample_values
from ttc.subsampling import _prefixes
from ttc.vote_bounds import decided_votes


def dominated_pool(rng, m=150):
    """A leader with most of the score mass, two rivals, nulls; measures vary within an answer."""
    answers = rng.choice([0, 1, 2, -1], size=m, p=[0.7, 0.12, 0.12, 0.06])
    scores = np.where(answers == 0, rng.uniform(0.6, 1.0, m), rng.uniform(0.0, 0.5, m))
    correct = answers == 0
    measures = np.stack([correct, correct & (rng.random(m) < 0.3)], axis=1).astype(float)
    return ProblemArrays(answers, scores, correct, measures)


def test_decided_votes_take_the_leaders_pool_mean_and_match_sampling(monkeypatch):
    # Where the Serfling bound decides the vote, the value is the leader's pool mean measure with
    # variance 0; sampling the same N without the shortcut agrees within 3 standard errors.
    rng = np.random.default_rng(0)
    problems = [dominated_pool(rng) for _ in range(3)]
    ns = np.array([1, 5, 20, 40, 100, 149, 150])
    decided, value = decided_votes(problems[0], ns)
    assert decided[-1] and not decided[0] and decided[4]  # N = M, N = 1 (a rival may be drawn), N = 100
    leader = problems[0].answer_ids == 0
    assert np.allclose(value[4], problems[0].measures[leader].mean(axis=0), atol=1e-15)
    fast_mean, fast_var = subsample_values("weighted_vote", problems, ns, trials=400, seed=1)
    monkeypatch.setattr("ttc.vote_bounds.EPS", -1.0)  # nothing decided but N = M
    mean, var = subsample_values("weighted_vote", problems, ns, trials=400, seed=1)
    exact = fast_var == 0
    assert exact.sum() >= 6 and (var[exact[:, :-1].nonzero()[0], exact[:, :-1].nonzero()[1]] > 0).any()
    assert np.all(np.abs(fast_mean - mean) <= 3 * np.sqrt(var) + 1e-12)
    assert np.array_equal(fast_mean[~exact], mean[~exact])  # undecided N: the same permutations


def test_permutation_prefixes_are_uniform_samples_without_replacement():
    # large pools draw prefixes from first occurrences of i.i.d. draws: no repeats in a row, every
    # sample equally likely at every position (chi-square over 2,000 rows: 5 sigma)
    rng = np.random.default_rng(3)
    m, trials, length = 5000, 2000, 60
    rows = _prefixes(rng, m, trials, length)
    assert rows.shape == (trials, length) and rows.dtype == np.int32
    assert all(len(np.unique(r)) == length for r in rows)
    for column in (rows[:, 0], rows[:, -1], rows.ravel()):
        counts = np.bincount(column // 50, minlength=m // 50)  # 100 bins of 50 samples
        expected = len(column) / (m // 50)
        chi2 = ((counts - expected) ** 2 / expected).sum()
        assert abs(chi2 - 99) < 5 * np.sqrt(2 * 99), chi2


def test_jobs_give_the_same_curves_as_one_process(tmp_path):
    # problems spread over 2 worker processes: every value, exact or subsampled, is identical
    import json

    from ttc.evaluate import main

    rng = np.random.default_rng(4)
    lines = []
    for problem in range(7):
        for _ in range(int(rng.integers(20, 40))):
            answer = None if rng.random() < 0.1 else str(int(rng.integers(0, 4)))
            lines.append(json.dumps({"problem_id": f"q{problem}", "answer": answer,
                                     "is_correct": answer == "0", "score": float(rng.random())}))
    pool = tmp_path / "pool.jsonl"
    pool.write_text("\n".join(lines) + "\n")
    rules = "majority,weighted_vote"
    outs = []
    for jobs in ("1", "2"):
        out = tmp_path / f"c{jobs}.csv"
        assert main([str(pool), "--out", str(out), "--rules", rules, "--n", "1,2,5,20", "--trials", "50",
                     "--jobs", jobs]) == 0
        outs.append(out.read_text())
    assert outs[0] == outs[1] and "subsample" in outs[0]
