"""Where a run ran: library versions and the CPU, written beside the results (results/config.json).

Training these small models is chaotic near a loss plateau: the last bits of a matmul, which differ
between CPU instruction sets, decide when a model escapes it, and a verifier's Elo or AUC moves in its
last digits. So every entry script calls ``prepare_process`` before numpy or torch load: on an x86-64
CPU with AVX2 it keeps every library that dispatches on the CPU found at run time on its AVX2 code
path (``kernel_pins``: torch's own kernels, MKL, oneDNN, OpenBLAS and numpy's SIMD loops). An
AVX-512 machine then computes the bits an AVX2-only one does: measured on two AMD EPYC machines, one
with AVX-512, for the whole default sweep, within 2% of the native kernels' time. Same config, seed and library versions
→ same results on such machines; elsewhere (ARM; Intel CPUs, untested) a result carries the platform
it was measured on. A variable the user set is kept, so ``ATEN_CPU_CAPABILITY=avx512`` runs torch's
native kernels (other bits, other results). A script or notebook of one's own calls ``pin_kernels()``
before importing numpy or torch to compute the sweep's bits. (``python -m ttc.evaluate`` does not pin:
on a 320-problem test pool its CSV, 10 significant digits, came out byte-identical pinned and native
on the AVX-512 machine, for single, majority and best-of-N.)
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, MutableMapping
from importlib import metadata
from pathlib import Path

LIBRARIES = ("torch", "transformers", "numpy", "scipy", "pandas", "numba")
ISA_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_tile", "asimd", "sve")  # the ones that change kernels
ONE_THREAD = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
# the AVX2 code path of each library that picks one at run time: torch's own (ATen) kernels; MKL (its
# plain AVX2 path: MKL_CBWR=AVX2, the reproducible branch, computes other bits than the default path
# AMD CPUs take); oneDNN; OpenBLAS (numpy's and scipy's BLAS and LAPACK); numpy's SIMD loops below
PINNED_KERNELS = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2",
                  "OPENBLAS_CORETYPE": "Haswell"}
NUMPY_VAR = "NPY_DISABLE_CPU_FEATURES"  # numpy's AVX-512 loops (its own and SVML's exp/log), named per version
NUMPY_AVX512 = {"new": "X86_V4 AVX512_ICL AVX512_SPR",  # numpy >= 2.4 groups features by x86-64 level
                "old": "AVX512F AVX512CD AVX512_KNL AVX512_KNM AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL AVX512_SPR"}


def kernel_pins(numpy_version: str | None = None) -> dict[str, str]:
    """The variables that keep each library on its AVX2 path (module doc), numpy's named for
    ``numpy_version`` (default: the installed one, read without importing numpy)."""
    if numpy_version is None:
        try:
            numpy_version = metadata.version("numpy")
        except metadata.PackageNotFoundError:
            numpy_version = "0"
    major_minor = tuple(int(part) for part in (numpy_version.split(".") + ["0"])[:2] if part.isdigit())
    names = NUMPY_AVX512["new" if major_minor >= (2, 4) else "old"]
    return {**PINNED_KERNELS, NUMPY_VAR: names}


def prepare_process(environ: MutableMapping[str, str] = os.environ, cpu_info: dict | None = None) -> dict[str, str]:
    """Set, where the user has not, what must be decided before numpy or torch load (an entry script
    calls this first; worker processes inherit it): one BLAS thread per process (the workers take their
    torch threads from the config, and multithreaded BLAS stalls on small shared machines) and the
    pinned kernel paths (``pin_kernels``). Returns the kernel variables in effect."""
    for var in ONE_THREAD:
        environ.setdefault(var, "1")
    return pin_kernels(environ, cpu_info)


def pin_kernels(environ: MutableMapping[str, str] = os.environ, cpu_info: dict | None = None) -> dict[str, str]:
    """On an x86-64 CPU with AVX2, set the AVX2 code paths (``kernel_pins``) where the user has not
    (module doc); call before numpy and torch load. A CPU without AVX2 is left alone: that path would
    crash there. Returns the kernel variables in effect."""
    info = cpu() if cpu_info is None else cpu_info
    if info["machine"] in ("x86_64", "AMD64") and "avx2" in info["isa"]:
        for var, value in kernel_pins().items():
            environ.setdefault(var, value)
    return kernel_settings(environ)


def kernel_settings(environ: MutableMapping[str, str] = os.environ) -> dict[str, str]:
    """The kernel variables (``kernel_pins``) set in this process (provenance: results/config.json)."""
    return {var: environ[var] for var in kernel_pins() if var in environ}


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
    """Python and library versions (LIBRARIES; None where not installed), the CPU (``cpu``) and the
    kernel paths pinned (``kernel_settings``)."""
    versions: dict[str, str | None] = {}
    for lib in LIBRARIES:
        try:
            versions[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            versions[lib] = None
    return {"python": platform.python_version(), **versions, "cpu": cpu(), "cpu_kernels": kernel_settings()}
