"""ttc.environment: what results/config.json records about where a run ran."""

import json

import numpy as np
import torch

from ttc.environment import ISA_FLAGS, LIBRARIES, environment


def test_environment_names_the_versions_in_use_and_the_cpu():
    env = environment()
    assert set(LIBRARIES) <= set(env) and env["torch"] == torch.__version__ and env["numpy"] == np.__version__
    assert env["cpu"]["model"] and set(env["cpu"]["isa"]) <= set(ISA_FLAGS)
    assert json.loads(json.dumps(env)) == env  # plain JSON, as config.json stores it
    assert environment() == env  # the same on every call (config.json is reproducible)
