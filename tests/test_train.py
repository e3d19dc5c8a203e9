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
