"""Self-improvement (ttc.self_improve): the STaR filter and rationalization, the policy-gradient
estimator against hand-derived gradients, and runs that reproduce from their seed and resume after a
kill mid-iteration."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from ttc.cache import Cache
from ttc.generators import GeneratorSpec, ensure_generator
from ttc.models import ModelSize
from ttc.self_improve import RunSpec, keep, pg_loss, process_advantages, rloo_advantages, run
from ttc.self_improve import star as star_mod
from ttc.self_improve.policy_gradient import token_advantages
from ttc.self_improve.rollouts import Rollouts, hint_prompt
from ttc.tasks.registers import RegistersSpec, RegistersTask
from ttc.train import TrainConfig

TASK = RegistersTask(train=RegistersSpec(max_steps=3, max_operand=2), ood=RegistersSpec(min_steps=3, max_steps=3,
                     max_operand=2), n_train=200, n_test=10, n_ood=4)


def _pool(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["group", "prompt", "text", "is_correct", "process_correct"])


def test_filter_keeps_exactly_the_right_answers_or_the_right_processes():
    pool = _pool([(0, "p0", "a", True, True), (0, "p0", "b", True, False), (0, "p0", "c", False, False),
                  (1, "p1", "d", False, False), (1, "p1", "e", True, True)])
    assert list(keep(pool, "answer")["text"]) == ["a", "b", "e"]  # every right answer, lucky ones too
    assert list(keep(pool, "process")["text"]) == ["a", "e"]  # only right steps
    with pytest.raises(ValueError, match="unknown filter"):
        keep(pool, "steps")


def test_rationalization_trains_under_the_plain_prompt_only(monkeypatch):
    problems = TASK.problems("train")[:3]
    seen_prompts = []

    def fake_rollouts(model, codec, task, probs, *, k, seed, max_new_tokens, temperature=1.0, prompts=None):
        prompts = [p.prompt for p in probs] if prompts is None else list(prompts)
        seen_prompts.append(prompts)
        hinted = prompts[0] != probs[0].prompt
        rows = []
        for g, (p, text) in enumerate(zip(probs, prompts)):
            # without a hint only problem 0 is solved; with one, every rationale reaches the answer
            ok = hinted or g == 0
            rows.append((g, p.prompt, f"sol-{text}", ok, ok))
        frame = _pool(rows).assign(problem_id=[p.problem_id for p in probs])
        return Rollouts(frame=frame, tokens=[np.zeros(1)] * len(rows), prompt_ids=[[1]] * len(probs), sampled_tokens=10)

    monkeypatch.setattr(star_mod, "rollouts", fake_rollouts)
    cfg = star_mod.StarConfig(samples=1)
    examples, stats = star_mod.star_examples(None, None, TASK, problems, cfg, iteration=0, max_new_tokens=8)
    plain = {p.prompt for p in problems}
    assert [e[0] for e in examples] == [p.prompt for p in problems]  # solved one + two rationalized
    assert all(prompt in plain and "|" not in prompt for prompt, _ in examples)
    assert seen_prompts[1] == [hint_prompt(p) for p in problems[1:]]  # the hint was in the sampling prompt
    assert all(p.answer in h for p, h in zip(problems[1:], seen_prompts[1]))
    assert stats["kept"] == 1 and stats["rationalized"] == 2
    no_rat, _ = star_mod.star_examples(None, None, TASK, problems, replace(cfg, rationalize=False), iteration=0,
                                       max_new_tokens=8)
    assert len(no_rat) == 1


def test_policy_gradient_on_a_two_action_toy_has_the_known_gradient():
    theta = torch.tensor([0.3, -0.2], requires_grad=True)
    logp = torch.log_softmax(theta, 0)
    pi = torch.softmax(theta, 0).detach()
    action, advantage = 0, 0.7
    pg_loss(logp[action:action + 1], torch.tensor([advantage])).backward()
    # d/dtheta of -A log pi(a) = -A (onehot(a) - pi): a good action's logit goes up, the other's down
    expected = -advantage * (torch.eye(2)[action] - pi)
    assert torch.allclose(theta.grad, expected, atol=1e-6)
    assert theta.grad[0] < 0 < theta.grad[1]  # gradient descent raises the rewarded action
    # the k3 KL term: zero with zero gradient at the reference, positive away from it
    theta.grad = None
    ref = logp.detach()
    pg_loss(torch.log_softmax(theta, 0), torch.zeros(2), ref, kl=1.0).backward()
    assert torch.allclose(theta.grad, torch.zeros(2), atol=1e-7)
    moved = torch.log_softmax(theta.detach() + torch.tensor([1.0, 0.0]), 0)
    assert pg_loss(moved, torch.zeros(2), ref, kl=1.0) > 0


def test_expected_policy_gradient_equals_the_true_gradient_of_the_expected_reward():
    """Averaged over every sample group of a 2-action bandit, the RLOO-weighted score function equals
    d E[r] / d theta (unbiased), checked by enumeration."""
    theta = np.array([0.4, -0.1])
    pi = np.exp(theta) / np.exp(theta).sum()
    reward = np.array([1.0, 0.2])
    G = 3
    mean_grad = np.zeros(2)
    for combo in np.ndindex(*(2,) * G):
        prob = np.prod(pi[list(combo)])
        adv = rloo_advantages(reward[list(combo)], np.zeros(G, int))
        for a, A in zip(combo, adv):
            mean_grad += prob * A * (np.eye(2)[a] - pi) / G
    true = np.array([pi[0] * pi[1] * (reward[0] - reward[1]), -pi[0] * pi[1] * (reward[0] - reward[1])])
    assert np.allclose(mean_grad, true, atol=1e-12)


def test_group_advantages_by_hand():
    adv = rloo_advantages(np.array([1.0, 0.0, 0.0, 1.0, 1.0, 1.0]), np.array([0, 0, 0, 1, 1, 1]))
    assert np.allclose(adv, [1.0, -0.5, -0.5, 0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="at least 2"):
        rloo_advantages(np.array([1.0]), np.array([0]))
    steps = process_advantages([np.array([1.0, 0.0]), np.array([1.0, 1.0])], np.array([0, 0]))
    mu, sd = 0.75, math.sqrt(0.1875)
    z = lambda x: (x - mu) / (sd + 1e-6)  # noqa: E731
    assert np.allclose(steps[0], [z(1) + z(0), z(0)]) and np.allclose(steps[1], [2 * z(1), z(1)])
    # per-step advantages spread over each step's tokens (solution from position 2, steps end at 3 and 5)
    tok = token_advantages(None, [np.array([5.0, 7.0])], np.array([[3, 5]]), np.array([2]), np.array([2]), np.array([6]))
    assert list(tok) == [5.0, 5.0, 7.0, 7.0]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    cache = Cache(tmp_path_factory.mktemp("si") / "cache")
    spec = GeneratorSpec(size=ModelSize("t", hidden=16, layers=1, heads=2, mlp=32, lr=3e-3),
                         train=TrainConfig(tokens=20_000, n_checkpoints=1, warmup_steps=5))
    torch.set_num_threads(1)
    return ensure_generator(cache, TASK, spec)[-1]


def _same(a: list[dict], b: list[dict]) -> bool:
    """Equal histories (NaN equal to NaN, as in the JSON the runs cache)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _spec(method: str, **extra) -> RunSpec:
    return RunSpec.of(method, star={"iterations": 2, "problems": 30, "samples": 2, "tokens": 800},
                      rl={"steps": 4, "problems_per_step": 4, "group": 2, "eval_every": 2},
                      finetune={"warmup_steps": 2}, sft_tokens=(400, 800), eval_problems=10, eval_samples=2,
                      max_new_tokens=24, **extra)


@pytest.mark.parametrize("method", ["star", "rl_exact"])
def test_runs_reproduce_from_their_seed_and_resume_after_a_kill(base, tmp_path, method):
    spec = _spec(method)
    history, final = run(Cache(tmp_path / "a"), base.path, base.key, TASK, spec)
    again, _ = run(Cache(tmp_path / "b"), base.path, base.key, TASK, spec)
    assert _same(history, again)  # same seed, fresh cache: the same numbers
    assert [r["iteration"] for r in history] == [0, 1, 2]
    assert history[-1]["extra_flops"] > history[1]["extra_flops"] > 0
    assert (final / "config.json").exists()

    class Killed(Exception):
        pass

    def die_in_second(i):
        if i == 1:
            raise Killed

    with pytest.raises(Killed):
        run(Cache(tmp_path / "c"), base.path, base.key, TASK, spec, on_segment=die_in_second)
    computed = []
    resumed, _ = run(Cache(tmp_path / "c"), base.path, base.key, TASK, spec, on_segment=computed.append)
    assert computed == [1]  # the finished first iteration was read, not redone
    assert _same(resumed, history)  # ... and the resumed run equals the uninterrupted one
    other, _ = run(Cache(tmp_path / "d"), base.path, base.key, TASK, replace(spec, seed=1))
    assert not _same(other[1:], history[1:])  # the seed matters


def test_sft_and_rl_spend_the_compute_they_report(base, tmp_path):
    history, _ = run(Cache(tmp_path), base.path, base.key, TASK, _spec("sft"))
    P = base.params
    assert history[1]["train_flops"] == 6.0 * P * history[1]["train_tokens"] and history[1]["sample_flops"] == 0
    rl, _ = run(Cache(tmp_path), base.path, base.key, TASK, _spec("rl_exact"))
    last = rl[-1]
    assert last["ref_tokens"] == last["train_tokens"] > 0 and last["sample_flops"] == 2.0 * P * last["sample_tokens"]
    assert last["extra_flops"] == pytest.approx(last["sample_flops"] + last["train_flops"] + last["ref_flops"])


def test_unknown_methods_and_keys_are_named():
    with pytest.raises(ValueError, match="unknown method 'dpo'"):
        RunSpec.of("dpo")
    with pytest.raises(ValueError, match="unknown key 'lr_'"):
        RunSpec.of("rl_exact", rl={"lr_": 1})
    assert RunSpec.of("star_process").star.filter == "process"
    assert not RunSpec.of("star_no_rationalize").star.rationalize
    assert RunSpec.of("rl_prm").uses() == "prm" and RunSpec.of("rl_exact").uses() is None


def test_numbers_compare_with_sft_at_equal_flops_and_read_the_equivalent_size():
    from analysis.self_improve import self_improve_numbers

    def rows(method, kind, accs, flops):
        return [{"method": method, "kind": kind, "generator": "s", "iteration": i, "test_accuracy": a,
                 "ci_low": a - 0.02, "ci_high": a + 0.02, "delta_vs_start": a - accs[0], "delta_ci_low": a - accs[0] - 0.01,
                 "delta_ci_high": a - accs[0] + 0.01, "extra_flops": f, "false_positive_rate": 0.01,
                 "process_correct": a, "eval_problems": 10, "eval_samples": 2, "params": 100}
                for i, (a, f) in enumerate(zip(accs, flops))]
    table = pd.DataFrame(rows("sft", "sft", [0.30, 0.32, 0.36], [0, 1e10, 1e12])
                         + rows("star", "star", [0.30, 0.40], [0, 1e11])
                         + rows("rl_exact", "rl", [0.30, 0.70], [0, 1e13]))
    family = pd.DataFrame({"role": "final", "split": "test", "rule": "single", "n": 1,
                           "params": [100, 1000, 10000], "accuracy": [0.30, 0.50, 0.60], "generator": ["a", "b", "c"]})
    pools = pd.DataFrame({"role": "self_improve", "split": "test", "rule": "single", "n": 1, "params": 100,
                          "generator": ["s+star", "s+rl_exact"], "accuracy": [0.40, 0.70]})
    out = self_improve_numbers(table, pd.concat([family, pools], ignore_index=True))
    assert out["star"]["sft_at_equal_flops"] == pytest.approx(0.34)  # halfway in log FLOPs: 1e11 between 1e10, 1e12
    assert out["rl_exact"]["sft_at_equal_flops"] is None  # beyond SFT's largest budget: not extrapolated
    # 40% lies halfway between 30% at P=100 and 50% at P=1000 in log P: P' = 10**2.5
    assert out["star"]["equivalent_size_multiplier"] == pytest.approx(10 ** 0.5)
    assert out["star"]["equivalent_size_kind"] == "interpolated"
    assert out["rl_exact"]["equivalent_size_kind"] == "lower_bound"  # above the largest size
    assert out["star"]["delta_vs_start"] == pytest.approx(0.10) and out["sft"]["iterations"] == 2
