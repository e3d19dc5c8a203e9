"""Training throughput per model size, as a fraction of this machine's fp32 matmul FLOP/s.

    python benchmarks/bench_training.py [--steps 12] [--batch 16] [--threads 0] [--sizes xs,s,m,l,xl]

Measured in one run: a large fp32 matmul (the machine's practical peak), then for each size in the
default family a few teacher-forced training steps on batches of the default task (registers). Reports median tokens/s
(non-pad tokens), achieved FLOP/s = 6·P·tokens/s (P = non-embedding parameters, ttc.compute), and the
fraction of the matmul peak.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from ttc.compute import flop_params
from ttc.models import FAMILY, build_model
from ttc.tasks.registers import RegistersTask
from ttc.tokenizer import Codec, build_char_tokenizer
from ttc.train import make_batch


def matmul_flops(n: int = 1024, repeats: int = 10) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    return 2 * n**3 / float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    ap.add_argument("--sizes", default=",".join(FAMILY), help="comma-separated family sizes")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    task = RegistersTask(n_train=2000, n_test=10, n_ood=10)
    tok = build_char_tokenizer()
    codec = Codec.of(tok)
    problems = task.problems("train")
    peak = matmul_flops()
    print(f"torch {torch.__version__}, threads={torch.get_num_threads()}, "
          f"fp32 matmul peak {peak / 1e9:.1f} GFLOP/s (1024^3, median of 10)")
    print(f"{'size':>4} {'P (non-emb)':>12} {'tokens/s':>10} {'GFLOP/s':>9} {'of peak':>8}")
    for name in args.sizes.split(","):
        shape = FAMILY[name]
        model = build_model(shape, tok, seed=0)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        rng = np.random.default_rng(0)
        rates = []
        for step in range(args.steps):
            ids, mask, labels, n_tok = make_batch(task, codec, problems, rng, args.batch)
            t = time.perf_counter()
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
            if step >= 2:  # warm-up steps excluded
                rates.append(n_tok / (time.perf_counter() - t))
        P = flop_params(model)
        tps = float(np.median(rates))
        print(f"{name:>4} {P:>12,} {tps:>10,.0f} {6 * P * tps / 1e9:>9.2f} {6 * P * tps / peak:>8.1%}")


if __name__ == "__main__":
    main()
