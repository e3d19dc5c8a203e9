"""ttc.environment: what results/config.json records about where a run ran."""

import json

import numpy as np
import pytest
import torch

from ttc.environment import ISA_FLAGS, LIBRARIES, environment, matmul_flops


def test_environment_names_the_versions_in_use_and_the_cpu():
    env = environment()
    assert set(LIBRARIES) <= set(env) and env["torch"] == torch.__version__ and env["numpy"] == np.__version__
    assert env["cpu"]["model"] and set(env["cpu"]["isa"]) <= set(ISA_FLAGS)
    assert json.loads(json.dumps(env)) == env  # plain JSON, as config.json stores it
    assert environment() == env  # the same on every call (config.json is reproducible)


def test_matmul_flops_is_a_positive_speed_and_leaves_the_thread_setting():
    before = torch.get_num_threads()
    speed = matmul_flops(n=128, repeats=2)
    assert isinstance(speed, float) and speed > 0
    assert torch.get_num_threads() == before
    ticks = iter(range(100))  # a clock that advances one second per reading: every timing is exactly 1 s
    assert matmul_flops(n=10, repeats=3, clock=lambda: float(next(ticks))) == 2 * 10**3
    with pytest.raises(ValueError, match="must be >= 1"):
        matmul_flops(n=0)
