"""ttc.train: checkpoints as decay branches of their own budget (TrainConfig.checkpoint_decay)."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from ttc.models import ModelSize, build_model
from ttc.tokenizer import Codec, build_char_tokenizer
from ttc.train import TrainConfig, checkpoint_schedule, fit

TINY = ModelSize("t", hidden=16, layers=1, heads=2, mlp=32)
CFG = TrainConfig(tokens=4000, batch_size=8, lr=1e-2, schedule="wsd", decay_frac=0.25, warmup_steps=5,
                  n_checkpoints=3, checkpoint_ratio=2.0, seed=3)


def draw(rng: np.random.Generator, n: int):
    x, y = rng.integers(0, 5, n), rng.integers(0, 5, n)
    return [f"a={a}+{b}?" for a, b in zip(x, y)], [f"{a + b}#" for a, b in zip(x, y)]


def train(cfg: TrainConfig):
    """(checkpoint infos, weights of each checkpoint) of a fresh tiny model trained by ``fit``."""
    tok = build_char_tokenizer()
    weights = []
    infos = fit(build_model(TINY, tok, seed=0), Codec.of(tok), draw, cfg,
                on_checkpoint=lambda m, _: weights.append({k: v.clone() for k, v in m.state_dict().items()}))
    return infos, weights


def same(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


def test_a_decay_branch_is_the_run_of_its_own_budget_and_leaves_the_main_run_alone():
    plain_infos, plain = train(CFG)
    infos, branched = train(replace(CFG, checkpoint_decay=True))
    marks = checkpoint_schedule(CFG.tokens, CFG.n_checkpoints, CFG.checkpoint_ratio)
    assert [i.branch for i in infos] == [True, True, False] and not any(i.branch for i in plain_infos)
    assert [i.tokens >= m for i, m in zip(infos, marks)] == [True] * 3
    assert same(branched[-1], plain[-1]) and infos[-1] == plain_infos[-1]  # the main run is unchanged
    for k, budget in enumerate(marks[:-1]):
        assert not same(branched[k], plain[k])  # decayed, not the stable phase's state
        own_infos, own = train(replace(CFG, tokens=budget))  # a WSD run with this budget, from scratch
        assert same(branched[k], own[-1]) and infos[k].tokens == own_infos[-1].tokens
        assert infos[k].step == own_infos[-1].step and infos[k].loss == pytest.approx(own_infos[-1].loss)


def test_checkpoint_decay_needs_the_wsd_schedule():
    with pytest.raises(ValueError, match="checkpoint_decay needs train.schedule='wsd'"):
        replace(CFG, schedule="cosine", checkpoint_decay=True).validate()


def test_pad_width_pads_to_a_multiple_and_leaves_the_loss_alone():
    """train.compile's padding: after every sequence, unlabelled, so the eager loss is unchanged."""
    from ttc.fast_llama import LeanLlamaLoss
    from ttc.tasks.registers import RegistersTask
    from ttc.train import make_batch, pad_width

    tok = build_char_tokenizer()
    codec, task = Codec.of(tok), RegistersTask(n_train=50, n_test=5, n_ood=5)
    ids, _, labels, _ = make_batch(task, codec, task.problems("train"), np.random.default_rng(0), 4)
    padded, plabels = pad_width(ids, labels, codec.pad_id, 32)
    assert padded.shape[1] % 32 == 0 and padded.shape[1] - ids.shape[1] < 32
    assert torch.equal(padded[:, : ids.shape[1]], ids) and (padded[:, ids.shape[1]:] == codec.pad_id).all()
    assert (plabels[:, ids.shape[1]:] == -100).all()
    again, _ = pad_width(padded, plabels, codec.pad_id, 32)
    assert again is padded  # already a multiple: untouched
    lean = LeanLlamaLoss(build_model(ModelSize("t", hidden=16, layers=1, heads=2, mlp=32), tok, seed=0))
    with torch.no_grad():
        np.testing.assert_allclose(lean(padded, plabels).item(), lean(ids, labels).item(), rtol=1e-6)
        # the dense form train.compile compiles: the same loss, the LM head at every position
        np.testing.assert_allclose(lean.dense_loss(padded, plabels).item(), lean(ids, labels).item(), rtol=1e-6)


def test_compile_is_out_of_the_generator_key_unless_on():
    from ttc.generators import GeneratorSpec, generator_key
    from ttc.models import FAMILY
    from ttc.tasks.registers import RegistersTask

    task = RegistersTask(n_train=50, n_test=5, n_ood=5)
    plain = generator_key(task, GeneratorSpec(FAMILY["xs"], TrainConfig(tokens=1000)))
    assert plain == generator_key(task, GeneratorSpec(FAMILY["xs"], TrainConfig(tokens=1000, compile=False)))
    assert plain != generator_key(task, GeneratorSpec(FAMILY["xs"], TrainConfig(tokens=1000, compile=True)))


@pytest.mark.slow
@pytest.mark.skipif(__import__("shutil").which("c++") is None, reason="torch.compile on a CPU needs a C++ compiler")
def test_compiled_training_follows_the_eager_one():
    """A few steps with train.compile give the eager run's losses to float rounding (slow: compiling)."""
    from ttc.tasks.registers import RegistersTask
    from ttc.train import gold_texts

    tok = build_char_tokenizer()
    codec, task = Codec.of(tok), RegistersTask(n_train=100, n_test=5, n_ood=5)
    problems = task.problems("train")
    size = ModelSize("t", hidden=16, layers=1, heads=2, mlp=32)
    losses = {}
    for compile_ in (False, True):
        model = build_model(size, tok, seed=0)
        cfg = TrainConfig(tokens=4000, lr=3e-3, warmup_steps=2, n_checkpoints=1, compile=compile_)
        infos = fit(model, codec, lambda rng, b: gold_texts(task, problems, rng, b), cfg)
        losses[compile_] = (infos[-1].loss, infos[-1].tokens, infos[-1].step)
    assert losses[True][1:] == losses[False][1:]  # the same batches and token counts (pads are not counted)
    assert losses[True][0] == pytest.approx(losses[False][0], rel=1e-3)
