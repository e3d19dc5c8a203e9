"""Where a run ran: library versions and the CPU, written beside the results (results/config.json).

Training these small models is chaotic near a loss plateau: the last bits of a matmul, which differ
between CPU instruction sets and library builds, decide when a model escapes it. The same config and
seed give the same results on the same platform (tested), not across platforms, so a result carries
the platform it was measured on.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
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


def matmul_flops(n: int = 1024, repeats: int = 5, *, threads: int | None = 1,
                 clock: Callable[[], float] = time.perf_counter,
                 reduce: Callable[[list[float]], float] = min) -> float:
    """The machine's fp32 matmul speed now, in FLOP/s: ``reduce`` (fastest by default) of ``repeats`` timings
    by ``clock`` of one ``n`` x ``n`` matmul (2n^3 FLOPs) after a warm-up, on ``threads`` torch threads
    (None: the process's setting); ~0.2 s at the defaults. Shared and cloud CPUs drift by tens of percent
    over a day, so a wall time is read beside it (the sweep's run_log.json records it at start and end), and
    the benchmarks divide by it for their share of peak."""
    import torch

    from ttc.parallel import torch_threads
    if n < 1 or repeats < 1:
        raise ValueError(f"matmul_flops: n={n} and repeats={repeats} must be >= 1")
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(n, n, generator=gen), torch.randn(n, n, generator=gen)
    times = []
    with torch_threads(threads):
        a @ b
        for _ in range(repeats):
            t = clock()
            a @ b
            times.append(clock() - t)
    return 2 * n**3 / max(float(reduce(times)), 1e-12)


def environment() -> dict:
    """Python and library versions (LIBRARIES; None where not installed) and the CPU (``cpu``)."""
    versions: dict[str, str | None] = {}
    for lib in LIBRARIES:
        try:
            versions[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            versions[lib] = None
    return {"python": platform.python_version(), **versions, "cpu": cpu()}
