"""Hand-worked cases for each selection rule (what the rule chooses from one fixed subset)."""

import numpy as np
import pytest

from ttc.selection import NULL_ANSWER, REGISTRY, Subset, aggregate_step_scores, top_k_vote

N = NULL_ANSWER


def sub(answers, scores=None, correct=None):
    answers = np.array(answers)
    scores = np.full(len(answers), np.nan) if scores is None else np.array(scores, dtype=float)
    correct = np.zeros(len(answers), bool) if correct is None else np.array(correct, bool)
    return Subset(answers, scores, correct)


def test_single_is_uniform_and_a_null_answer_chooses_nothing():
    # 4 samples, one null: each answered sample is drawn with 1/4; 1/4 of the time nothing is chosen
    assert np.allclose(REGISTRY["single"].reference(sub([0, 1, N, 1])), [0.25, 0.25, 0, 0.25])


def test_majority_splits_ties_between_answers_then_among_their_samples():
    # answers a a b b c: a and b tie with 2 votes -> 1/2 each, spread over their 2 samples -> 1/4
    assert np.allclose(REGISTRY["majority"].reference(sub([0, 0, 1, 1, 2])), [0.25, 0.25, 0.25, 0.25, 0])
    # nulls never win, even when they are the most common "answer"
    assert np.allclose(REGISTRY["majority"].reference(sub([N, N, N, 1])), [0, 0, 0, 1])
    # only nulls: nothing chosen
    assert REGISTRY["majority"].reference(sub([N, N])).sum() == 0


def test_best_of_n_takes_the_top_score_and_splits_ties():
    assert np.allclose(REGISTRY["best_of_n"].reference(sub([0, 1, 2], [0.1, 0.9, 0.5])), [0, 1, 0])
    assert np.allclose(REGISTRY["best_of_n"].reference(sub([0, 1, 2], [0.9, 0.9, 0.5])), [0.5, 0.5, 0])
    # a null answer with the best score is skipped
    assert np.allclose(REGISTRY["best_of_n"].reference(sub([N, 1, 2], [5.0, 0.2, 0.5])), [0, 0, 1])


def test_weighted_vote_sums_scores_per_answer():
    # a: 0.3 + 0.3 = 0.6 beats b: 0.5 although b holds the single best sample
    assert np.allclose(REGISTRY["weighted_vote"].reference(sub([0, 0, 1], [0.3, 0.3, 0.5])), [0.5, 0.5, 0])
    # a: 0.25 + 0.25 = 0.5 ties b: 0.5 (dyadic, exact in floating point)
    assert np.allclose(REGISTRY["weighted_vote"].reference(sub([0, 0, 1], [0.25, 0.25, 0.5])), [0.25, 0.25, 0.5])


def test_top_k_vote_votes_among_the_top_scored():
    s = sub([0, 1, 1, 0, 0], [0.9, 0.8, 0.7, 0.1, 0.2])
    # top-3 = {a .9, b .8, b .7}: b wins 2-1, its two samples 1/2 each (a has more votes overall)
    assert np.allclose(top_k_vote(s, k=3), [0, 0.5, 0.5, 0, 0])
    # top-1 is best-of-N
    assert np.allclose(top_k_vote(s, k=1), REGISTRY["best_of_n"].reference(s))
    # k >= subset size: plain majority (a has 3 votes)
    assert np.allclose(top_k_vote(s, k=9), REGISTRY["majority"].reference(s))


def test_top_k_vote_breaks_a_tie_at_the_cutoff_evenly():
    # top-2 of scores [.9 (a), .5 (b), .5 (a)]: the .9 is in; the second place is b or a, 1/2 each.
    # {a, b} ties 1-1 -> a-sample 1/2, b 1/2; {a, a} -> a wins, its 2 samples 1/2 each.
    # sample 0: (1/2 + 1/2)/2 = 1/2; sample 1: (1/2 + 0)/2 = 1/4; sample 2: (0 + 1/2)/2 = 1/4
    assert np.allclose(top_k_vote(sub([0, 1, 0], [0.9, 0.5, 0.5]), k=2), [0.5, 0.25, 0.25])


def test_coverage_is_an_oracle():
    s = sub([0, 1, 2, N], correct=[False, True, True, True])
    # the two correct answered samples share the choice; a correct null answer cannot be chosen
    assert np.allclose(REGISTRY["coverage"].reference(s), [0, 0.5, 0.5, 0])


@pytest.mark.parametrize(
    "how, expected", [("prod", 0.9 * 0.5 * 0.8), ("min", 0.5), ("last", 0.8), ("mean", 2.2 / 3)]
)
def test_prm_aggregations(how, expected):
    assert np.allclose(aggregate_step_scores([np.array([0.9, 0.5, 0.8])], how), [expected])


@pytest.fixture
def worst_of_n():
    """A rule registered the one way a rule is added: lowest-scored sample (no closed form, no fast path)."""
    from ttc.selection import best_of_n, register_rule

    def rule(s):
        return best_of_n(Subset(s.answer_ids, -s.scores, s.is_correct))

    yield register_rule("worst_of_n", rule, label="worst-of-N", needs_score=True)
    del REGISTRY["worst_of_n"]


def test_a_registered_rule_reaches_configs_curves_and_figures(worst_of_n):
    import pandas as pd

    from analysis.figures import _label, fig_best_of_n
    from ttc.config import load_config
    from ttc.evaluate import curves
    from ttc.sweep_config import SweepConfig

    assert worst_of_n.method == "subsample" and worst_of_n.fast_path is None
    # the config accepts it with a scorer, and parses it once into a typed spec
    cfg = load_config(SweepConfig, None, ['eval.rules=["single", "worst_of_n:prob"]'])
    cfg.validate()
    assert [(r.rule, r.score, r.scorer) for r in cfg.eval.rule_specs] == [
        ("single", "score", None), ("worst_of_n", "score_prob", "prob")]
    # curves estimate it (generic Monte-Carlo path) and agree with best-of-N on the negated score (exact)
    rng = np.random.default_rng(0)
    pool = pd.DataFrame({"problem_id": np.repeat(np.arange(30), 6), "sample_idx": np.tile(np.arange(6), 30),
                         "answer": rng.integers(0, 3, 180).astype(str), "score_prob": rng.random(180)})
    pool["is_correct"] = pool["answer"] == "0"
    pool["minus"] = -pool["score_prob"]
    from ttc.selection import RuleSpec
    table = curves(pool, ["worst_of_n:prob", RuleSpec("best_of_n", score="minus", label="exact")], [1, 2, 4],
                   trials=400).set_index(["rule", "n"])
    for n in (1, 2, 4):
        got, want = table.loc[("worst_of_n:prob", n)], table.loc[("exact", n)]
        assert got["method"] == "subsample" and want["method"] == "exact"
        assert abs(got["accuracy"] - want["accuracy"]) < 0.02, n  # 400 trials x 30 problems: MC SE ~ 0.005
    # figures name it from the registry
    assert _label("worst_of_n:orm") == "worst-of-N by ORM"
    frame = table.reset_index().assign(role="final", split="test", generator="g", params=1000, verifier="prob")
    fig, data = fig_best_of_n(frame)
    legend = [t.get_text() for t in fig.axes[-1].get_legend().get_texts()]
    assert "worst-of-N by generator prob" in legend


def test_bad_rule_texts_are_refused_with_the_fix():
    from ttc.selection import RuleSpec, register_rule
    with pytest.raises(ValueError, match="unknown rule 'best_of'; known rules: single"):
        RuleSpec.parse("best_of:orm")
    with pytest.raises(ValueError, match="reads no score"):
        RuleSpec.parse("majority:orm")
    with pytest.raises(ValueError, match="name the scorer"):
        RuleSpec.parse("best_of_n:")
    with pytest.raises(ValueError, match="without ':'"):
        register_rule("a:b", REGISTRY["single"].reference, label="x")
