"""Verifier tests: hand-worked labels and layout, MC labels against a known success rate, value-head
shapes, save/load, batch scoring = one-by-one scoring, metrics vs brute force, a tiny end to end."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from ttc.cache import Cache
from ttc.generators import GeneratorSpec, ensure_generator
from ttc.models import FAMILY, build_model
from ttc.tasks.registers import RegistersSpec, RegistersTask
from ttc.tokenizer import Codec, build_char_tokenizer
from ttc.train import TrainConfig
from ttc.verifiers import (
    ValueHeadLM,
    VerifierSpec,
    auc,
    calibration,
    data_point,
    ensure_verifier,
    score_pool,
    step_auc,
    within_problem_auc,
)
from ttc.verifiers.labels import MASKED, layout, layout_rows, mc_labels, step_labels
from ttc.verifiers.score import score_layout

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tiny_hf import word_tokenizer  # noqa: E402

TASK = RegistersTask(train=RegistersSpec(max_steps=4), ood=RegistersSpec(min_steps=5, max_steps=5), n_train=200,
                     n_test=20, n_ood=5)
CODEC = Codec.of(build_char_tokenizer())
PROMPT = "x=3:+4-2+7;y=5:-1+3?"
GOLD = "x=3+4=7;y=5-1=4;x=7-2=5;y=4+3=7;x=5+7=2#2,7"


def problem():
    from ttc.tasks.base import Problem
    return Problem(0, PROMPT, "2,7", 5, meta={"start": {"x": 3, "y": 5}, "ops": {
        "x": [("+", 4), ("-", 2), ("+", 7)], "y": [("-", 1), ("+", 3)]}, "final": {"x": 2, "y": 7}})


def test_step_labels_hand_worked():
    p = problem()
    wrong_step = GOLD.replace("y=5-1=4", "y=5-1=3")  # step 1 wrong, the answer still right (lucky)
    wrong_answer = GOLD.replace("#2,7", "#2,8")  # every step right, answer miscopied
    short = "x=3+4=7;y=5-1=4#7,4"  # right steps, incomplete: the answer is wrong
    texts = [GOLD, wrong_step, wrong_answer, short]
    flags = [TASK.check_steps(p, t).step_correct for t in texts]
    ok = [TASK.check_answer(p, TASK.extract_answer(t)) for t in texts]
    assert ok == [True, True, False, False]  # the ORM would label the lucky one right
    labels = step_labels(flags, ok, K=6)
    m = MASKED
    np.testing.assert_array_equal(labels, [
        [1, 1, 1, 1, 1, 1],  # 5 steps + the answer segment
        [1, 0, m, m, m, m],  # up to and including the first wrong step
        [1, 1, 1, 1, 1, 0],  # steps right, the answer segment wrong
        [1, 1, 0, m, m, m],  # 2 right steps, then a wrong answer
    ])


def test_layout_positions_hand_worked():
    lay = layout(TASK, CODEC, [PROMPT, PROMPT], [GOLD, "x=3+4"], [True, False])
    start = len(PROMPT) + 1  # BOS
    # separators of steps 0..4 at chars 7, 15, 23, 31, 39 ('#'); EOS at char len(GOLD)
    np.testing.assert_array_equal(lay.seg_end[0], start + np.array([7, 15, 23, 31, 39, len(GOLD)]))
    np.testing.assert_array_equal(lay.seg_tokens[0], [8, 8, 8, 8, 8, 4])  # answer: "2,7" + EOS
    # truncated sample: its only step runs to the last token; the answer segment is empty
    np.testing.assert_array_equal(lay.seg_end[1][:2], [start + 4, start + 4])
    np.testing.assert_array_equal(lay.n_segments, [6, 2])
    np.testing.assert_array_equal(lay.seg_tokens[1][:2], [5, 0])
    assert lay.solution_mask[0].sum() == len(GOLD) + 1 and lay.solution_mask[1].sum() == 5
    assert CODEC.decode(lay.input_ids[0, lay.seg_end[0][:5]]) == ";;;;#"


def test_mc_labels_match_known_success_rate():
    """A toy generator finishes any prefix correctly with probability q(k) = 0.9 - 0.2 k (k = steps
    written): the labels must match q within 3 standard errors."""
    p, m = problem(), 400
    rng = np.random.default_rng(0)

    def rollout(problems, prefixes, n):
        out = []
        for prefix in prefixes:
            q = 0.9 - 0.2 * prefix.count(";")
            out.append([GOLD if rng.random() < q else GOLD.replace("#2,7", "#0,0") for _ in range(n)])
        return out

    labels = mc_labels(TASK, [p], [GOLD], [True], K=6, rollout=rollout, m=m)[0]
    q = np.array([0.9 - 0.2 * (k + 1) if k < 4 else 0.9 - 0.2 * 4 for k in range(5)])  # step 4 ends with '#'
    se = np.sqrt(q * (1 - q) / m)
    assert np.all(np.abs(labels[:5] - q) <= 3 * se + 1e-9), (labels, q)
    assert labels[5] == 1.0  # the answer segment: the sample's own correctness


def tiny_verifier(seed=0):
    tok = build_char_tokenizer()
    return ValueHeadLM(build_model(FAMILY["xs"], tok, seed=seed), width=8), tok


def test_value_head_shapes_and_monotone_value():
    model, _ = tiny_verifier()
    lay = layout(TASK, CODEC, [PROMPT] * 3, [GOLD, "x=3+4=7;", "x"], [True, False, True])
    out = model(torch.from_numpy(lay.input_ids), torch.from_numpy(lay.attention_mask),
                torch.from_numpy(lay.solution_mask))
    B, T = lay.input_ids.shape
    assert out.lm_logits.shape == (B, T, len(CODEC.tokenizer)) and out.token_logit.shape == (B, T)
    assert out.log_value.shape == (B, T)
    lv = out.log_value.detach().numpy()
    assert np.all(lv[:, : len(PROMPT) + 1] == 0)  # nothing before the solution
    assert np.all(np.diff(lv, axis=1) <= 1e-7)  # a product of probabilities only falls
    scores, steps = score_layout(model, lay)
    assert scores.shape == (3,) and [len(s) for s in steps] == list(lay.n_segments)
    np.testing.assert_allclose([np.prod(s) for s in steps], scores, rtol=1e-6)


def test_batch_scoring_equals_one_by_one():
    model, _ = tiny_verifier(seed=1)
    texts = [GOLD, "x=3+4=7;y=5-1", "y=5-1=4;x=3+4=7#1,1", GOLD.replace("=7;y", "=8;y")]
    fin = [True, False, True, True]
    together = score_layout(model, layout(TASK, CODEC, [PROMPT] * 4, texts, fin), batch_size=3)
    for i in range(4):
        alone = score_layout(model, layout(TASK, CODEC, [PROMPT], [texts[i]], [fin[i]]))
        np.testing.assert_allclose(alone[0][0], together[0][i], rtol=1e-5)
        np.testing.assert_allclose(alone[1][0], together[1][i], rtol=1e-5)


def test_prompt_shared_scoring_equals_whole_rows():
    """Samples of one problem share their prompt's pass (score_shared): the same scores and step scores
    as running every row whole, for groups split over chunks, an empty unfinished row and two prompts."""
    model, _ = tiny_verifier(seed=3)
    with torch.no_grad():
        model.head[2].weight.normal_()  # make the head matter
    other = "x=1:+2;y=4:-3?"
    prompts = [PROMPT] * 5 + [other] * 3
    texts = [GOLD, "x=3+4=7;y=5-1", "", "y=5-1=4;x=3+4=7#1,1", GOLD.replace("=7;y", "=8;y"), "x=1+2=3;y=4-3=1#3,1",
             "y=4-3=1;", "x"]
    fin = [True, False, False, True, True, True, False, True]
    lay = layout(TASK, CODEC, prompts, texts, fin)
    whole = score_layout(model, lay, share_prompts=False)
    for batch_size in (2, 3, 256):
        shared = score_layout(model, lay, batch_size=batch_size)
        np.testing.assert_allclose(shared[0], whole[0], rtol=1e-5)
        for a, b in zip(shared[1], whole[1]):
            np.testing.assert_allclose(a, b, rtol=1e-5)
    assert not np.allclose(whole[0], whole[0][0])  # the rows do differ


def test_save_load_round_trip(tmp_path):
    model, tok = tiny_verifier(seed=2)
    with torch.no_grad():
        model.head[2].weight.normal_()  # make the head matter
    model.save(tmp_path, tok)
    again = ValueHeadLM.load(tmp_path)
    lay = layout(TASK, CODEC, [PROMPT, PROMPT], [GOLD, "x=3+4=8;"], [True, False])
    a, b = score_layout(model, lay), score_layout(again, lay)
    np.testing.assert_array_equal(a[0], b[0])


def test_auc_hand_worked_and_within_problem_vs_brute_force():
    assert auc([0.9, 0.8, 0.1], [1, 0, 0]) == 1.0
    assert auc([0.5, 0.5, 0.1, 0.7], [1, 0, 0, 0]) == pytest.approx((1 + 0.5 + 0) / 3)  # tie = 1/2
    rng = np.random.default_rng(0)
    scores, labels, pids = rng.integers(0, 5, 60).astype(float), rng.random(60) < 0.4, np.repeat(np.arange(6), 10)
    brute = []
    for p in range(6):
        s, y = scores[pids == p], labels[pids == p]
        pairs = [(a, b) for a, b in itertools.product(s[y], s[~y])]
        if pairs:
            brute.append(np.mean([1.0 if a > b else 0.5 if a == b else 0.0 for a, b in pairs]))
    got, n = within_problem_auc(scores, labels, pids)
    assert n == len(brute) and got == pytest.approx(np.mean(brute))
    # step AUC stops at the first wrong step: the 0.99 after it is never read
    assert step_auc([[0.9, 0.2, 0.99], [0.8, 0.7]], [[True, False, False], [True, True]]) == 1.0
    ece, table = calibration([0.05, 0.05, 0.95, 0.95], [0, 0, 1, 1])
    assert ece == pytest.approx(0.05) and list(table["count"]) == [2, 2]


@pytest.mark.parametrize("kind,source", [("orm", ""), ("prm", "step"), ("prm", "mc")])
def test_end_to_end_tiny(tmp_path, kind, source):
    cache = Cache(tmp_path)
    gen = ensure_generator(cache, TASK, GeneratorSpec(FAMILY["xs"], TrainConfig(tokens=3000, n_checkpoints=1)))[-1]
    spec = VerifierSpec(kind=kind, label_source=source, n_problems=6, samples_per_problem=3, steps=3,
                        batch_size=4, n_val_problems=4, mc_rollouts=2, max_new_tokens=24, lm_batch_size=2)
    rec = ensure_verifier(cache, TASK, gen, spec)
    assert rec.train_samples == 18 and rec.train_flops == 6 * rec.params * rec.train_tokens
    assert rec.label_source == (source or "outcome")
    assert rec.metrics["samples"] == 4 * 3  # held-out problems x samples per problem
    w_auc = rec.metrics["within_problem_auc"]  # NaN only when no held-out problem has both classes
    assert (np.isnan(w_auc) and rec.metrics["mixed_problems"] == 0) or (0 <= w_auc <= 1 and rec.metrics["mixed_problems"] > 0)
    again = ensure_verifier(cache, TASK, gen, spec)  # read from the cache
    assert (again.key, again.path, again.train_tokens) == (rec.key, rec.path, rec.train_tokens)
    pool = pd.DataFrame({"problem_id": [0, 0, 1], "text": [GOLD, "x=1", "y=2-1=1;"], "finished": [True, False, True]})
    scores, steps = score_pool(rec, pool, TASK)
    assert scores.shape == (3,) and np.all((scores > 0) & (scores <= 1)) and len(steps) == 3


def test_orm_losses_read_the_right_tokens():
    """'last' reads only the final value; 'all' averages over solution tokens (hand-worked, one sample)."""
    from types import SimpleNamespace

    from ttc.verifiers.train import verifier_loss
    log_value = torch.log(torch.tensor([[1.0, 0.5, 0.25, 0.25]]))  # prompt token, 2 solution tokens, padding
    sol = torch.tensor([[False, True, True, False]])
    out = SimpleNamespace(log_value=log_value)
    y = torch.tensor([1.0])
    last = verifier_loss(out, "orm", "outcome", sol, None, y, None, orm_tokens="last")
    every = verifier_loss(out, "orm", "outcome", sol, None, y, None, orm_tokens="all")
    assert last.item() == pytest.approx(-np.log(0.25), rel=1e-4)
    assert every.item() == pytest.approx(-(np.log(0.5) + np.log(0.25)) / 2, rel=1e-4)


def _head_weights(rec):
    return torch.load(f"{rec.path}/value_head.pt", weights_only=True)


def test_training_reproducible_whatever_the_global_rng(tmp_path):
    """Same spec and seed -> identical verifier, even when the process's global RNG state differs."""
    cache = Cache(tmp_path)
    gen = ensure_generator(cache, TASK, GeneratorSpec(FAMILY["xs"], TrainConfig(tokens=3000, n_checkpoints=1)))[-1]
    spec = VerifierSpec(kind="orm", n_problems=6, samples_per_problem=3, steps=3, batch_size=4, n_val_problems=4,
                        max_new_tokens=24, lm_batch_size=2)
    runs = []
    for i, seed in enumerate((1, 2)):
        torch.manual_seed(seed)  # whatever ran before in the process
        torch.rand(seed * 7)
        runs.append(ensure_verifier(Cache(tmp_path / f"run{i}"), TASK, gen, spec))
    a, b = (_head_weights(r) for r in runs)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    np.testing.assert_equal(runs[0].metrics, runs[1].metrics)  # NaN (no correct sample) counts as equal
    assert runs[0].key == runs[1].key


def test_data_point_cuts_the_same_pool(tmp_path):
    """Data-sweep points train on the first problems x samples of the full spec's pool, share its
    held-out problems, and refuse points larger than the full data."""
    cache = Cache(tmp_path)
    gen = ensure_generator(cache, TASK, GeneratorSpec(FAMILY["xs"], TrainConfig(tokens=3000, n_checkpoints=1)))[-1]
    full = VerifierSpec(kind="orm", n_problems=8, samples_per_problem=4, steps=50, batch_size=4, n_val_problems=4,
                        max_new_tokens=24, lm_batch_size=2)
    small = data_point(full, 3, 2)
    assert (small.n_problems, small.samples_per_problem, small.pool) == (3, 2, (12, 4))
    assert small.steps == 20  # one epoch is 2 steps; at least MIN_DATA_STEPS = 20, at most full.steps
    assert data_point(full, 8, 4) == full and full.pool_shape == (12, 4)
    with pytest.raises(ValueError, match="exceeds"):
        data_point(full, 9, 4)
    with pytest.raises(ValueError, match="smaller than the data"):
        VerifierSpec(n_problems=8, n_val_problems=4, pool=(10, 4)).validate()
    big, cut = ensure_verifier(cache, TASK, gen, full), ensure_verifier(cache, TASK, gen, small)
    assert (big.train_samples, cut.train_samples) == (32, 6)
    assert len(list((tmp_path / "pools").glob("*.parquet"))) == 1  # one train pool serves both
    # the same held-out problems and samples: the generator's own ranking there is the same number
    np.testing.assert_equal(cut.metrics["generator_logprob_within_problem_auc"],
                            big.metrics["generator_logprob_within_problem_auc"])


def test_scoring_distinct_rows_once_equals_scoring_every_row(tmp_path):
    """score_pool scores each distinct (problem, text, finished) once and copies it to repeats."""
    from ttc.verifiers import generator_step_logprobs
    from ttc.verifiers.score import lm_step_logprobs
    from ttc.verifiers.store import load_verifier, pool_layout
    cache = Cache(tmp_path)
    gen = ensure_generator(cache, TASK, GeneratorSpec(FAMILY["xs"], TrainConfig(tokens=3000, n_checkpoints=1)))[-1]
    rec = ensure_verifier(cache, TASK, gen, VerifierSpec(kind="prm", n_problems=6, samples_per_problem=2, steps=2,
                                                         batch_size=4, n_val_problems=2, max_new_tokens=24,
                                                         lm_batch_size=2))
    texts = [GOLD, "x=3+4=7;", GOLD, "x=3+4=7;", GOLD]
    pool = pd.DataFrame({"problem_id": [0, 0, 0, 1, 1], "text": texts, "finished": [True, False, True, False, True]})
    scores, steps = score_pool(rec, pool, TASK)
    model, codec = load_verifier(rec)
    ref, ref_steps = score_layout(model, pool_layout(TASK, codec, pool, "test"), batch_size=2)
    np.testing.assert_allclose(scores, ref, rtol=1e-5)
    for a, b in zip(steps, ref_steps):
        np.testing.assert_allclose(a, b, rtol=1e-5)
    assert scores[0] == scores[2]  # the repeat got the very same number
    lp = generator_step_logprobs(gen, pool, TASK)
    from ttc.generators import load_checkpoint
    lm, _ = load_checkpoint(gen.path)
    for a, b in zip(lp, lm_step_logprobs(lm, pool_layout(TASK, codec, pool, "test"), batch_size=2)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_moved_cache_is_reused(tmp_path, monkeypatch):
    """Records are re-rooted at the cache they are read from: a moved cache is a hit, not a crash."""
    import shutil

    import ttc.verifiers.store as store
    spec = VerifierSpec(kind="orm", n_problems=4, samples_per_problem=2, steps=2, batch_size=4, n_val_problems=2,
                        max_new_tokens=24, lm_batch_size=2)
    old = Cache(tmp_path / "a")
    gen = ensure_generator(old, TASK, GeneratorSpec(FAMILY["xs"], TrainConfig(tokens=3000, n_checkpoints=1)))[-1]
    ensure_verifier(old, TASK, gen, spec)
    shutil.move(tmp_path / "a", tmp_path / "b")
    monkeypatch.setattr(store, "train_verifier", lambda *a, **k: pytest.fail("retrained after a move"))
    new = Cache(tmp_path / "b")
    moved = ensure_generator(new, TASK, GeneratorSpec(FAMILY["xs"], TrainConfig(tokens=3000, n_checkpoints=1)))[-1]
    rec = ensure_verifier(new, TASK, moved, spec)
    assert moved.key == gen.key and moved.path.startswith(str(tmp_path / "b")) and rec.path.startswith(str(tmp_path / "b"))
    pool = pd.DataFrame({"problem_id": [0], "text": [GOLD], "finished": [True]})
    assert score_pool(rec, pool, TASK)[0].shape == (1,)


def test_value_head_initial_weights_are_pinned():
    """The head's layers draw their initial weights in a fixed order (first layer, output layer, skip):
    reordering their construction would silently change every trained verifier, so it is pinned here."""
    from torch import nn
    lm = build_model(FAMILY["xs"], build_char_tokenizer(), seed=0)
    torch.manual_seed(11)
    head = ValueHeadLM(lm, width=8)
    torch.manual_seed(11)
    first, out = nn.Linear(lm.config.hidden_size + 3, 8), nn.Linear(8, 1)
    assert torch.equal(head.head[0].weight, first.weight) and torch.equal(head.head[0].bias, first.bias)
    assert torch.equal(head.head[2].weight, out.weight * 0.1) and not head.head[2].bias.any()


def test_verifiers_script_refuses_ns_beyond_the_pool_before_training(capsys):
    from experiments import verifiers as script

    assert script.cli(["--ns", "1,4,999"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --ns '1,4,999'") and "pools.n_samples" in err and "\n" not in err
    assert script.cli(["--ns", "1,x"]) == 2
    assert script.parse_ns("1, 4,16", 64) == [1, 4, 16]


def test_verifier_lm_logprobs_of_an_untrained_verifier_equal_the_generators(tmp_path):
    from transformers import AutoTokenizer

    from ttc.generators import load_checkpoint
    from ttc.verifiers import generator_step_logprobs, verifier_lm_step_logprobs

    gen = ensure_generator(Cache(tmp_path), TASK, GeneratorSpec(FAMILY["xs"], TrainConfig(tokens=3000, n_checkpoints=1)))[-1]
    lm, _ = load_checkpoint(gen.path)
    ValueHeadLM(lm).save(tmp_path / "v", AutoTokenizer.from_pretrained(gen.path))
    pool = pd.DataFrame({"problem_id": [0, 0, 1], "text": [GOLD, "x=1", "y=2-1=1;"], "finished": [True, False, True]})
    ours, theirs = verifier_lm_step_logprobs(str(tmp_path / "v"), pool, TASK), generator_step_logprobs(gen, pool, TASK)
    assert len(ours) == 3 and all(len(a) > 0 for a in ours)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_lm_only_control_never_reads_the_samples_and_leaves_the_head(tmp_path):
    """head_loss_weight = 0: the same gold-solution LM training without the verifier loss. Its LM must not
    depend on the sampled solutions or their labels, its head must stay as built, and its tokens are the
    gold tokens only; the default spec keeps the cache key it had before the field existed."""
    from dataclasses import asdict

    from ttc.cache import content_key
    from ttc.verifiers.store import VERIFIER_VERSION, verifier_key
    from ttc.verifiers.train import train_verifier

    spec = VerifierSpec(kind="prm", label_source="step", steps=4, batch_size=2, lm_batch_size=2,
                        head_loss_weight=0.0)
    gold = TASK.problems("train")[:10]
    lays = [layout(TASK, CODEC, [PROMPT] * 3, texts, [True] * 3)
            for texts in ([GOLD, "x=3+4=7;", "x"], ["y=5-1=4;", GOLD.replace("=7;y", "=8;y"), "x=3+4=8;y"])]
    states, logs = [], []
    for lay, seed in zip(lays, (0, 1)):
        model, _ = tiny_verifier(seed=0)
        head0 = {k: v.clone() for k, v in model.head.state_dict().items()}
        targets = np.where(np.arange(lay.seg_end.size).reshape(lay.seg_end.shape) % 2, 1, 0)
        logs.append(train_verifier(model, TASK, CODEC, spec, lay, targets if seed else 1 - targets, gold))
        assert all(torch.equal(v, head0[k]) for k, v in model.head.state_dict().items())
        states.append({k: v.clone() for k, v in model.lm.state_dict().items()})
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])  # the samples are never read
    model, _ = tiny_verifier(seed=0)
    assert any(not torch.equal(states[0][k], v) for k, v in model.lm.state_dict().items())  # the LM did train
    assert logs[0]["verifier_loss_last"] is None and logs[0]["lm_loss_last"] > 0
    assert logs[0]["train_tokens"] == logs[1]["train_tokens"] < 4 * 2 * 60  # gold tokens only: 4 steps x 2 short rows

    with pytest.raises(ValueError, match="train nothing"):
        VerifierSpec(head_loss_weight=0.0, lm_loss_weight=0.0).validate()
    with pytest.raises(ValueError, match="head_loss_weight"):
        VerifierSpec(head_loss_weight=0.5).validate()

    class Ck:  # the two fields the key reads
        key = "g"

    plain = VerifierSpec()
    fields = {k: v for k, v in asdict(plain).items() if k != "head_loss_weight"}
    assert verifier_key(TASK, Ck(), Ck(), plain) == content_key("verifier", VERIFIER_VERSION, TASK.spec_dict(), "g", "g",
                                                                 fields)
    assert verifier_key(TASK, Ck(), Ck(), spec) != verifier_key(TASK, Ck(), Ck(), VerifierSpec(
        kind="prm", label_source="step", steps=4, batch_size=2, lm_batch_size=2))


def test_lm_sample_table_pairs_each_lm_pool_with_the_generators():
    from experiments.verifiers import lm_sample_table

    def pool(correct, answers, logprob):  # 2 problems x 2 samples
        return pd.DataFrame({"problem_id": [0, 0, 1, 1], "sample_idx": [0, 1, 0, 1], "answer": answers,
                             "is_correct": correct, "logprob": logprob})

    gen = pool([True, False, False, False], ["1", "2", "3", "4"], [-2.0, -1.0, -1.0, -2.0])
    lm = pool([True, True, True, False], ["1", "1", "5", "4"], [-1.0, -2.0, -1.0, -2.0])
    t = lm_sample_table(gen, {"lm_only": lm}, [1, 2]).set_index(["pool", "rule", "n"])
    assert t.loc[("generator", "single", 1), "accuracy"] == pytest.approx(0.25)
    assert t.loc[("lm_only LM", "single", 1), "accuracy"] == pytest.approx(0.75)
    assert t.loc[("lm_only LM", "single", 1), "minus_generator"] == pytest.approx(0.5)
    # best-of-2 by own log-probability: the generator picks the wrong sample on problem 0 and problem 1
    assert t.loc[("generator", "best_of_n:own_logprob", 2), "accuracy"] == pytest.approx(0.0)
    assert t.loc[("lm_only LM", "best_of_n:own_logprob", 2), "accuracy"] == pytest.approx(1.0)
    # majority@2 of two different answers: a tie broken at random, 1/2 on the problem with one right
    assert t.loc[("generator", "majority", 2), "accuracy"] == pytest.approx(0.25)
    assert t.loc[("lm_only LM", "majority", 2), "accuracy"] == pytest.approx(0.75)
    # the paired difference: per problem (1 - 0.5, 0.5 - 0) -> mean 0.5, SE 0 -> a zero-width CI
    row = t.loc[("lm_only LM", "majority", 2)]
    assert row["minus_generator"] == pytest.approx(0.5) and row["minus_low"] == pytest.approx(0.5)


def test_a_verifiers_lm_samples_as_a_checkpoint_of_its_own(tmp_path):
    from ttc.generators import checkpoint_pool
    from ttc.pools import PoolSpec
    from ttc.verifiers import finetune_control, verifier_lm_checkpoint

    cache = Cache(tmp_path)
    gen = ensure_generator(cache, TASK, GeneratorSpec(FAMILY["xs"], TrainConfig(tokens=3000, n_checkpoints=1)))[-1]
    spec = VerifierSpec(kind="prm", label_source="step", n_problems=6, samples_per_problem=2, steps=3, batch_size=4,
                        n_val_problems=2, max_new_tokens=24, lm_batch_size=2, head_loss_weight=0.0)
    rec = ensure_verifier(cache, TASK, gen, spec)
    ck = verifier_lm_checkpoint(gen, rec, "ft")
    assert ck.path == rec.path and ck.key not in (rec.key, gen.key) and ck.generator == "xs+ft"
    assert verifier_lm_checkpoint(gen, rec).generator == "xs+prm-lm"
    control = finetune_control(VerifierSpec(batch_size=64, lm_batch_size=16, lm_loss_weight=0.5, init_size="l"))
    assert (control.head_loss_weight, control.lm_batch_size, control.lm_loss_weight, control.init_size) == \
        (0.0, 80, 1.0, None)
    assert ck.tokens == gen.tokens + rec.train_tokens and ck.train_flops == gen.train_flops + rec.train_flops
    pspec = PoolSpec(split="test", n_problems=3, n_samples=2, max_new_tokens=24)
    pool = checkpoint_pool(cache, ck, TASK, pspec)
    assert len(pool) == 6 and set(pool["problem_id"]) == {0, 1, 2}
    again = checkpoint_pool(cache, ck, TASK, pspec)  # cached under the LM's own key, not the generator's
    pd.testing.assert_frame_equal(pool, again)


def test_verifier_script_csv_replaces_the_rows_of_the_same_checkpoint(tmp_path):
    from experiments.verifiers import write_rows

    path = tmp_path / "controls.csv"
    write_rows(path, pd.DataFrame({"checkpoint": ["a", "a"], "n": [1, 4], "accuracy": [0.1, 0.2]}))
    write_rows(path, pd.DataFrame({"checkpoint": ["b"], "n": [1], "accuracy": [0.5]}))
    write_rows(path, pd.DataFrame({"checkpoint": ["a"], "n": [1], "accuracy": [0.3]}))  # a rerun of a
    got = pd.read_csv(path).sort_values(["checkpoint", "n"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, pd.DataFrame({"checkpoint": ["a", "b"], "n": [1, 1], "accuracy": [0.3, 0.5]}))
    assert [p.name for p in tmp_path.iterdir()] == ["controls.csv"]  # no temporary file left behind


def test_without_new_defaults_drops_a_newer_field_only_at_its_old_value():
    from ttc.cache import without_new_defaults

    fields = {"a": 1, "new": False, "train": {"lr": 0.1, "compile": False}, "other": {"compile": False}}
    got = without_new_defaults(fields, {"new": False, "train": {"compile": False}})
    assert got == {"a": 1, "train": {"lr": 0.1}, "other": {"compile": False}}  # only the named paths
    assert fields["train"] == {"lr": 0.1, "compile": False}  # the input is left alone
    on = without_new_defaults({"new": True, "train": {"compile": True}}, {"new": False, "train": {"compile": False}})
    assert on == {"new": True, "train": {"compile": True}}  # a new value enters the key


@pytest.mark.parametrize("seed,word_level", [(0, False), (1, False), (2, False), (3, True)])
def test_layout_equals_the_row_by_row_construction(seed, word_level):
    """Random prompts, cuts of gold solutions (empty, mid-step, on a separator, whole, with garbage
    after the answer), finished or not, and a text longer than any other: every array of the vectorised
    layout equals the row-by-row one's, for the char-level codec (one table lookup) and for a word-level
    tokenizer (no table: each text encoded on its own)."""
    codec = Codec.of(word_tokenizer(chat=False)) if word_level else CODEC
    assert (codec._lut is None) == word_level
    rng = np.random.default_rng(seed)
    problems = TASK.problems("test")
    texts, prompts, fin = [], [], []
    for _ in range(60):
        prob = problems[int(rng.integers(len(problems)))]
        gold = TASK.gold_solution(prob, int(rng.integers(1000)))
        cut = int(rng.integers(0, len(gold) + 1))
        text = gold[:cut] if rng.random() < 0.8 else gold + ";;x=1" * int(rng.integers(1, 4))
        prompts.append(prob.prompt)
        texts.append(text)
        fin.append(bool(rng.random() < 0.5))
    lay = layout(TASK, codec, prompts, texts, fin)
    want = layout_rows(TASK, codec, prompts, texts, fin)
    for name in ("input_ids", "attention_mask", "solution_mask", "seg_end", "n_segments", "seg_tokens"):
        np.testing.assert_array_equal(getattr(lay, name), getattr(want, name), err_msg=name)
    with pytest.raises(ValueError, match="no samples"):
        layout(TASK, CODEC, [], [], [])
    with pytest.raises(ValueError, match="one of each per sample"):
        layout(TASK, CODEC, prompts[:-1], texts, fin)


@pytest.mark.parametrize("args, says", [
    (["--set", "steps=abc"], "steps must be an integer"), (["--set", "use_features=maybe"], "true or false"),
    (["--designs", "bogus"], "unknown design 'bogus'"), (["--designs", "orm,orm"], "repeats a design"),
    (["--designs", ","], "no design"), (["--ns", "4,4"], "repeats an N"), (["--trials", "0"], "--trials=0"),
    (["--test-problems", "0"], "--test-problems=0"), (["--split", "ood", "--test-problems", "100000"], "ood problems"),
    (["--data-sweep", "3y4"], "PROBLEMSxSAMPLES"), (["--data-sweep", "0x4"], "positive"),
    (["--data-sweep", "10x2,10x2"], "repeats a point"), (["--generator", "nokey"], "no cached generator"),
    (["--size", "m"], "not in"), (["--csv", "{d}"], "is a folder"), (["--csv", "{d}/no/x.csv"], "does not exist"),
    (["--csv", "{d}/other.csv"], "'checkpoint' column")])
def test_verifiers_script_refuses_bad_flags_before_any_work(args, says, tmp_path, capsys):
    from experiments import verifiers as script
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    before = sorted(tmp_path.rglob("*"))
    argv = ["--cache", str(tmp_path / "cache"), *[a.format(d=tmp_path) for a in args]]
    assert script.cli(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and says in err, err
    assert sorted(tmp_path.rglob("*")) == before and (tmp_path / "other.csv").read_text() == "a,b\n1,2\n"
