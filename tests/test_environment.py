"""ttc.environment: what results/config.json records about where a run ran."""

import json
import os

import numpy as np
import pytest
import torch

from ttc.environment import (
    ISA_FLAGS,
    LIBRARIES,
    NUMPY_VAR,
    ONE_THREAD,
    PINNED_KERNELS,
    cpu,
    environment,
    kernel_pins,
    kernel_settings,
    matmul_flops,
    pin_kernels,
    prepare_process,
)


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


X86_AVX2 = {"model": "x", "isa": ["avx2", "avx512f"], "machine": "x86_64"}


@pytest.mark.parametrize("cpu_info, pinned", [
    (X86_AVX2, True),
    ({"model": "x", "isa": [], "machine": "x86_64"}, False),  # no AVX2: forcing that path would crash
    ({"model": "x", "isa": ["asimd"], "machine": "aarch64"}, False),
])
def test_prepare_process_pins_the_avx2_kernel_paths_where_they_exist(cpu_info, pinned):
    env: dict[str, str] = {}
    got = prepare_process(env, cpu_info)
    assert all(env[var] == "1" for var in ONE_THREAD)
    assert got == (kernel_pins() if pinned else {}) and kernel_settings(env) == got
    mine = {"ATEN_CPU_CAPABILITY": "avx512", "OMP_NUM_THREADS": "2"}  # what the user set is kept
    assert pin_kernels(mine, X86_AVX2)["ATEN_CPU_CAPABILITY"] == "avx512" and mine["ONEDNN_MAX_CPU_ISA"] == "AVX2"
    assert prepare_process(mine, X86_AVX2) and mine["OMP_NUM_THREADS"] == "2"


@pytest.mark.parametrize("version, names", [("2.4.6", "X86_V4"), ("2.10.1", "X86_V4"), ("2.3.5", "AVX512F"),
                                            ("1.26.4", "AVX512_SKX"), ("2.5.0.dev0+git", "X86_V4")])
def test_numpy_avx512_loops_are_named_as_its_version_calls_them(version, names):
    pins = kernel_pins(version)
    assert names in pins[NUMPY_VAR].split() and set(PINNED_KERNELS.items()) <= set(pins.items())


def test_the_suite_runs_on_the_pinned_paths_and_records_them():
    """conftest pins as the entry scripts do, so this process is on torch's AVX2 kernels where the CPU has them."""
    if "avx2" not in cpu()["isa"] or os.environ.get("ATEN_CPU_CAPABILITY", "avx2") != "avx2":
        pytest.skip("no AVX2 here, or the kernel path was chosen by hand")
    assert torch.backends.cpu.get_cpu_capability() == "AVX2"
    assert environment()["cpu_kernels"] == kernel_settings() == kernel_pins()
    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__  # numpy's AVX-512 loops: off
    off = [name for name in os.environ[NUMPY_VAR].split() if name in __cpu_dispatch__]
    assert off and not any(__cpu_features__[name] for name in off)


# Five AdamW steps of size s on a fixed batch (ttc's training loss) on the pinned paths: the last loss's
# bits, recorded on an AMD EPYC with AVX-512 (torch 2.13.0 CPU wheel), whose pinned sweep reproduces
# the results an AVX2-only EPYC made. Unpinned, that machine computes 0x1.b9b62c0000000p+1 here, and
# training near a plateau then diverges (another family).
REFERENCE_LOSS = {"2.13.0": "0x1.b9b62e0000000p+1"}


def test_pinned_kernels_give_the_reference_bits():
    if "avx2" not in cpu()["isa"] or kernel_settings() != kernel_pins():
        pytest.skip("the pinned paths are x86-64 AVX2 only, and set by hand here")
    if "AMD" not in cpu()["model"]:  # MKL's AVX2 path on Intel may compute other bits: not measured
        pytest.skip("the reference bits were measured on AMD CPUs only")
    expected = REFERENCE_LOSS.get(torch.__version__.split("+")[0])
    if expected is None:
        pytest.skip(f"no reference bits recorded for torch {torch.__version__}")
    from ttc.fast_llama import LeanLlamaLoss
    from ttc.models import FAMILY, build_model
    from ttc.parallel import torch_threads
    from ttc.tokenizer import build_char_tokenizer

    tok = build_char_tokenizer()
    model = build_model(FAMILY["s"], tok, seed=0)
    loss_fn = LeanLlamaLoss(model)
    ids = torch.randint(4, len(tok), (16, 48), generator=torch.Generator().manual_seed(0))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    with torch_threads(1):
        for _ in range(5):
            opt.zero_grad()
            loss = loss_fn(ids, ids.clone())
            loss.backward()
            opt.step()
    assert loss.item().hex() == expected
