"""Search tests: strategies on hand-made problems with a scripted step policy and the exact checker as
value; exact token counts through the real sampler and verifier; shared-prefix verifier scoring equals
whole-text scoring; reproducibility from the seed; the registry; stop tokens in the sampler."""

from __future__ import annotations

import numpy as np
import pytest

import ttc.search.tree
from ttc.models import FAMILY, build_model
from ttc.sampling import sample
from ttc.search import (
    STRATEGIES,
    Expander,
    LogprobValue,
    Node,
    OracleValue,
    SearchSpec,
    Spend,
    VerifierValue,
    aggregate,
    register_strategy,
    run_strategy,
    strategy_info,
)
from ttc.search.values import prefix_text
from ttc.tasks.registers import RegistersSpec, RegistersTask
from ttc.tokenizer import Codec, build_char_tokenizer
from ttc.verifiers import ValueHeadLM
from ttc.verifiers.labels import layout
from ttc.verifiers.score import score_layout

TASK = RegistersTask(train=RegistersSpec(max_steps=5), ood=RegistersSpec(min_steps=5, max_steps=5), n_train=50,
                     n_test=30, n_ood=5)
TOK = build_char_tokenizer()
CODEC = Codec.of(TOK)
PROBLEMS = TASK.problems("test")


class ScriptedExpander:
    """A step policy with a known success rate: each child is the gold next step with probability q,
    else the step with a wrong result (the solution then goes on from the wrong value's gold steps)."""

    def __init__(self, problems, q: float, seed: int = 0):
        self.problems, self.q = problems, q
        self.rng = np.random.default_rng(seed)
        self.gold = [TASK.gold_solution(p, seed=0).split("#")[0].split(";") for p in problems]
        self.spend = [Spend() for _ in problems]

    def root(self) -> Node:
        return Node(text="", depth=0)

    def _child(self, p: int, node: Node) -> Node:
        steps = self.gold[p]
        step = steps[node.depth]
        if self.rng.random() >= self.q:  # a wrong result: the last digit off by one
            step = step[:-1] + str((int(step[-1]) + 1) % 10)
        last = node.depth + 1 == len(steps)
        text = node.text + step + ("#" + self.problems[p].answer if last else ";")
        return Node(text=text, depth=node.depth + 1, terminal=last, finished=last, tokens=len(text),
                    logprobs=node.logprobs + (-1.0,), step_tokens=node.step_tokens + (len(step) + 1,))

    def expand(self, requests, m, *, temperature=None):
        out = []
        for p, node in requests:
            assert not node.terminal
            self.spend[p].expansions += 1
            kids = [self._child(p, node) for _ in range(m)]
            self.spend[p].gen_tokens += sum(k.step_tokens[-1] for k in kids)
            out.append(kids)
        return out

    def complete(self, requests):
        done = []
        for p, node in requests:
            while not node.terminal:
                node = self.expand([(p, node)], 1)[0][0]
            done.append(node)
        return done


def process_ok(p, node) -> bool:
    check = TASK.check_steps(PROBLEMS[p], node.text)
    return bool(check.all_correct and check.complete and TASK.check_answer(PROBLEMS[p], TASK.extract_answer(node.text)))


# ------------------------------------------------------------------------------------ strategies
@pytest.mark.parametrize("strategy", ["beam", "dvts", "best_first", "mcts"])
def test_oracle_search_picks_a_correct_solution_whenever_it_found_one(strategy):
    ex = ScriptedExpander(PROBLEMS, q=0.6)
    spec = SearchSpec(strategy=strategy, value="oracle", n=8, width=4, mcts_select="value")
    results = run_strategy(spec, ex, OracleValue(TASK), PROBLEMS, tokens_per_sample=40.0)
    found = 0
    for p, r in enumerate(results):
        any_ok = any(process_ok(p, c) for c in r.candidates)
        found += any_ok
        assert r.chosen is not None
        assert process_ok(p, r.chosen) == any_ok, (strategy, p, r.chosen.text)
    # a single sample of this policy is right with probability 0.6 ** steps (0.6^2 .. 0.6^5); the search does far better
    single = np.mean([0.6 ** len(g) for g in ex.gold])
    assert found / len(PROBLEMS) > single + 0.3, (strategy, found, single)


def test_beam_with_oracle_keeps_a_correct_prefix_whenever_one_was_drawn():
    # with q = 1/2 and N = 8 beams, at least one of the 8 children of the kept correct prefixes is correct
    # at almost every depth; the oracle never drops a correct prefix for a wrong one, so beam search
    # fails only when every child of every kept correct prefix was wrong at some depth
    ex = ScriptedExpander(PROBLEMS, q=0.5, seed=3)
    results = run_strategy(SearchSpec(strategy="beam", value="oracle", n=8, width=4), ex, OracleValue(TASK), PROBLEMS)
    for r in results:  # N beams finish; the last depth may finish up to M - 1 more than needed
        assert 1 <= len(r.candidates) <= 8 + 3
    ok = np.mean([process_ok(p, r.chosen) for p, r in enumerate(results)])
    # P(no correct child among 8 draws at one depth) = 2^-8; over <= 5 depths the failure rate is < 2%
    assert ok >= 0.9, ok


def test_beam_keeps_top_prefixes_by_value():
    ex = ScriptedExpander(PROBLEMS[:5], q=0.5, seed=1)
    results = run_strategy(SearchSpec(strategy="beam", value="oracle", n=4, width=2), ex, OracleValue(TASK), PROBLEMS[:5])
    for r in results:  # the oracle's best candidate is the one chosen
        assert r.chosen is not None and max(r.values) == aggregate(r.chosen.scores, "prod")


def test_aggregations():
    assert aggregate([0.5, 0.8, 0.9], "prod") == pytest.approx(0.36)
    assert aggregate([0.5, 0.8, 0.9], "min") == 0.5
    assert aggregate([0.5, 0.8, 0.9], "last") == 0.9
    assert aggregate([], "prod") == 1.0
    with pytest.raises(ValueError, match="use one of prod, min, last"):
        aggregate([0.5], "mean")


def test_registry_rejects_unknown_and_duplicate_strategies():
    with pytest.raises(ValueError, match=r"unknown search strategy 'beem'; use one of beam, best_first, dvts, mcts"):
        strategy_info("beem")
    with pytest.raises(ValueError, match="unknown search strategy"):
        SearchSpec(strategy="nope").validate()
    with pytest.raises(ValueError, match="already registered"):
        register_strategy("beam", "x", "y")(lambda ctx: [])
    assert {"beam", "dvts", "best_first", "mcts"} <= set(STRATEGIES)
    with pytest.raises(ValueError, match="width=0"):
        SearchSpec(width=0).validate()


def test_token_budget_strategies_need_a_sample_length():
    ex = ScriptedExpander(PROBLEMS[:2], q=0.5)
    with pytest.raises(ValueError, match="tokens_per_sample"):
        run_strategy(SearchSpec(strategy="best_first", value="oracle"), ex, OracleValue(TASK), PROBLEMS[:2])


def test_prefix_text():
    assert prefix_text("a;b;", ";") == "a;"
    assert prefix_text("a;b;c#1,2", ";") == "a;b;"
    assert prefix_text("a;", ";") == ""
    assert prefix_text("", ";") == ""


# ------------------------------------------------------------------------------------ real models
def tiny_generator(seed=0):
    return build_model(FAMILY["xs"], TOK, seed=seed).eval()


def tiny_prm(seed=1):
    return ValueHeadLM(build_model(FAMILY["xs"], TOK, seed=seed), width=8).eval()


def test_sampler_stops_at_a_stop_token_and_keeps_it():
    model = tiny_generator()
    prompts = CODEC.encode_prompts([p.prompt for p in PROBLEMS[:6]])
    stop = int(CODEC.encode_text(";")[0])
    plain = sample(model, prompts, n_samples=5, max_new_tokens=30, eos_token_id=CODEC.eos_id, seed=4)
    cut = sample(model, prompts, n_samples=5, max_new_tokens=30, eos_token_id=CODEC.eos_id, seed=4,
                 stop_token_ids=[stop])
    stopped = 0
    for a, b, fin in zip(plain.tokens, cut.tokens, cut.finished):
        assert np.array_equal(a[: len(b)], b)  # the same stream, cut at its first stop token
        hits = np.flatnonzero(a == stop)
        if len(hits) and (not len(b) or hits[0] < len(b)):
            assert len(b) == hits[0] + 1 and b[-1] == stop and not fin
            stopped += 1
    assert stopped > 0
    with pytest.raises(ValueError, match="stop_token_ids"):
        sample(model, prompts, n_samples=1, max_new_tokens=3, eos_token_id=CODEC.eos_id, seed=0, stop_token_ids=[10 ** 6])


class Counting:
    """Counts the non-pad tokens every forward of a module receives."""

    def __init__(self, module):
        self.tokens = 0
        module.register_forward_pre_hook(self.hook, with_kwargs=True)

    def hook(self, module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        self.tokens += int((ids != CODEC.pad_id).sum())


@pytest.mark.parametrize("strategy", ["beam", "dvts", "best_first", "mcts"])
def test_spend_counts_every_token_exactly(strategy, monkeypatch):
    gen, prm = tiny_generator(), tiny_prm()
    drawn = {"prefill": 0, "gen": 0}

    def counted_sample(*args, **kwargs):
        out = sample(*args, **kwargs)
        drawn["prefill"] += out.prompt_tokens_processed
        drawn["gen"] += int(out.gen_tokens.sum())
        return out

    monkeypatch.setattr(ttc.search.tree, "sample", counted_sample)
    counter = Counting(prm.lm)
    problems = PROBLEMS[:6]
    ex = Expander(gen, CODEC, TASK, problems, temperature=1.0, max_step_tokens=12, max_tokens=40, seed=0)
    value = VerifierValue(prm, CODEC, TASK, name="prm", params=1)
    valued = {"nodes": 0}
    real_score = value.score

    def counted_score(probs, nodes):
        valued["nodes"] += len(nodes)
        return real_score(probs, nodes)

    monkeypatch.setattr(value, "score", counted_score)
    results = run_strategy(SearchSpec(strategy=strategy, n=4, width=2, max_tokens=40), ex, value, problems,
                           tokens_per_sample=20.0)
    total = Spend()
    for r in results:
        total.add(r.spend)
    assert total.prefill_tokens == drawn["prefill"] and total.gen_tokens == drawn["gen"]
    assert total.value_tokens == counter.tokens  # every token the verifier ran, no more, no less
    assert total.value_calls == valued["nodes"]  # every node valued is counted once
    if strategy in ("best_first", "mcts"):  # stops at the round that crosses n x tokens_per_sample
        for r in results:
            assert r.spend.gen_tokens <= 4 * 20.0 + 2 * 12 + 40


def test_shared_prefix_scoring_equals_whole_text_scoring():
    prm = tiny_prm(seed=2)
    value = VerifierValue(prm, CODEC, TASK, name="prm", params=1)
    p = PROBLEMS[0]
    gold = TASK.gold_solution(p, seed=0)
    steps = gold.split("#")[0].split(";")
    nodes = [Node(text=";".join(steps[:k]) + ";", depth=k) for k in range(1, len(steps))]
    nodes += [Node(text=gold, depth=len(steps), terminal=True, finished=True),
              Node(text=steps[0] + ";x=1+1", depth=2, terminal=True),  # truncated
              Node(text=steps[0] + ";", depth=1)]  # a sibling of the first node: shares its prefix
    used = value.score([p] * len(nodes), nodes)
    lay = layout(TASK, CODEC, [p.prompt] * len(nodes), [n.text for n in nodes], [n.finished for n in nodes])
    _, whole = score_layout(prm, lay)
    for node, w in zip(nodes, whole):
        expect = w if node.terminal else w[: node.depth]
        np.testing.assert_allclose(node.scores, expect, rtol=1e-5, atol=1e-6)
    assert sum(used) < int(lay.lengths.sum())  # the shared prefixes ran once


@pytest.mark.parametrize("strategy", ["beam", "mcts"])
def test_search_is_reproducible_from_its_seed(strategy):
    gen = tiny_generator()
    problems = PROBLEMS[:5]

    def run(seed):
        ex = Expander(gen, CODEC, TASK, problems, temperature=1.0, max_step_tokens=12, max_tokens=40, seed=seed)
        res = run_strategy(SearchSpec(strategy=strategy, value="logprob", n=4, width=2, seed=seed), ex,
                           LogprobValue(), problems, tokens_per_sample=20.0)
        return [(r.chosen.text if r.chosen else None, [c.text for c in r.candidates], r.spend.gen_tokens) for r in res]

    assert run(0) == run(0)
    assert run(0) != run(1)


def test_expander_counts_and_closes_nodes():
    gen = tiny_generator()
    ex = Expander(gen, CODEC, TASK, PROBLEMS[:2], temperature=1.0, max_step_tokens=5, max_tokens=8, seed=0)
    kids = ex.expand([(0, ex.root()), (1, ex.root())], 3)
    assert [len(k) for k in kids] == [3, 3]
    for k in kids[0] + kids[1]:
        assert k.depth == 1 and k.tokens == k.step_tokens[0] - k.finished and k.tokens <= 5  # EOS not in text
        assert k.terminal == (k.finished or not k.text.endswith(";") or k.tokens >= 8)
    assert ex.spend[0].expansions == 1 and ex.spend[0].steps_drawn == 3
    assert ex.spend[0].prefill_tokens == len(CODEC.encode_prompts([PROBLEMS[0].prompt])[0])
    with pytest.raises(ValueError, match="terminal"):
        ex.expand([(0, Node(text="x#1", depth=1, terminal=True))], 1)
    done = ex.complete([(0, k) for k in kids[0]])
    assert all(d.terminal for d in done)
