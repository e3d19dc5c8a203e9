"""Where a run ran: library versions and the CPU, written beside the results (results/config.json).

Training these small models is chaotic near a loss plateau: the last bits of a matmul, which differ
between CPU instruction sets and library builds, decide when a model escapes it. The same config and
seed give the same results on the same platform (tested), not across platforms, so a result carries
the platform it was measured on.
"""

from __future__ import annotations

import platform
from importlib import metadata
from pathlib import Path

LIBRARIES = ("torch", "transformers", "numpy", "scipy", "pandas", "numba")
ISA_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_tile", "asimd", "sve")  # the ones that change kernels


def cpu() -> dict:
    """The CPU's model name and which of ISA_FLAGS it has (Linux /proc/cpuinfo; elsewhere platform's)."""
    name, flags = "", set[str]()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = (part.strip() for part in line.partition(":"))
            if key in ("model name", "Model") and not name:
                name = value
            elif key in ("flags", "Features") and not flags:
                flags = set(value.split())
    except OSError:
        pass
    name = name or platform.processor() or platform.machine()
    return {"model": name, "isa": [f for f in ISA_FLAGS if f in flags], "machine": platform.machine()}


def matmul_gflops(n: int = 1024, repeats: int = 5) -> float:
    """The machine's speed now, in GFLOP/s: the fastest of ``repeats`` one-thread fp32 ``n`` x ``n`` matmuls
    (2n^3 FLOPs each) after one warm-up, ~0.2 s at n = 1024. Shared and cloud CPUs drift by tens of percent
    over a day, so a wall time is read beside it (the sweep's run_log.json records it at start and end)."""
    import time

    import torch

    from ttc.parallel import torch_threads
    if n < 1 or repeats < 1:
        raise ValueError(f"matmul_gflops: n={n} and repeats={repeats} must be >= 1")
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(n, n, generator=gen), torch.randn(n, n, generator=gen)
    best = float("inf")
    with torch_threads(1):
        a @ b
        for _ in range(repeats):
            t = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - t)
    return round(2 * n**3 / max(best, 1e-9) / 1e9, 1)


def environment() -> dict:
    """Python and library versions (LIBRARIES; None where not installed) and the CPU (``cpu``)."""
    versions: dict[str, str | None] = {}
    for lib in LIBRARIES:
        try:
            versions[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            versions[lib] = None
    return {"python": platform.python_version(), **versions, "cpu": cpu()}
