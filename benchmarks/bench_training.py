"""Training throughput per model size, as a fraction of this machine's fp32 matmul FLOP/s.

    python benchmarks/bench_training.py [--steps 12] [--batch 16] [--threads 0] [--sizes xs,s,m,l,xl] [--compile]

Measured in one run: a large fp32 matmul (the machine's practical peak), then for each size in the
default family a few teacher-forced training steps on batches of the default task (registers), once
through the baseline (the Hugging Face forward with its attention mask, for-loop AdamW and gradient
clipping) and once through ttc's path (``ttc.fast_llama.LeanLlamaLoss``, foreach AdamW and clipping,
as ``ttc.train`` runs). Reports median tokens/s (non-pad tokens), achieved FLOP/s = 6·P·tokens/s
(P = non-embedding parameters, ttc.compute), the fraction of the matmul peak, and ttc's speed-up;
with ``--compile`` also ttc's path under ``train.compile`` (compiled before the clock starts; its
tokens/s count real tokens only, the padding is its cost).
"""

from __future__ import annotations

import argparse
import statistics
import time

from ttc.environment import pin_kernels

pin_kernels()  # the kernel paths the entry scripts run (ttc.environment), set before torch loads

import numpy as np  # noqa: E402
import torch  # noqa: E402

from ttc.compute import flop_params  # noqa: E402
from ttc.environment import matmul_flops  # noqa: E402
from ttc.fast_llama import LeanLlamaLoss  # noqa: E402
from ttc.models import FAMILY, build_model  # noqa: E402
from ttc.tasks.registers import RegistersTask  # noqa: E402
from ttc.tokenizer import Codec, build_char_tokenizer  # noqa: E402
from ttc.train import COMPILE_WIDTH, compiled_loss, make_batch, pad_width  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    ap.add_argument("--sizes", default=",".join(FAMILY), help="comma-separated family sizes")
    ap.add_argument("--compile", action="store_true", help="also time ttc's path under train.compile "
                    "(torch.compile, batches padded to a multiple of 32 tokens; compiled before timing)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    task = RegistersTask(n_train=2000, n_test=10, n_ood=10)
    tok = build_char_tokenizer()
    codec = Codec.of(tok)
    problems = task.problems("train")
    peak = matmul_flops(repeats=10, threads=None, reduce=statistics.median)
    print(f"torch {torch.__version__}, threads={torch.get_num_threads()}, "
          f"fp32 matmul peak {peak / 1e9:.1f} GFLOP/s (1024^3, median of 10)")
    print(f"{'size':>4} {'P (non-emb)':>12} {'path':>9} {'tokens/s':>10} {'GFLOP/s':>9} {'of peak':>8} {'speed-up':>9}")
    for name in args.sizes.split(","):
        base = None
        for path in ("hf", "ttc", "compiled")[: 3 if args.compile else 2]:
            model = build_model(FAMILY[name], tok, seed=0)
            lean = LeanLlamaLoss(model) if path != "hf" else None
            fast = path != "hf"
            if path == "compiled":  # compile every padded width the batches take, before the clock starts
                lean = compiled_loss(lean)
                probe = np.random.default_rng(0)
                widths = {make_batch(task, codec, problems, probe, args.batch)[0].shape[1] for _ in range(64)}
                for w in sorted({-(-w // COMPILE_WIDTH) * COMPILE_WIDTH for w in widths}):
                    ids = torch.full((args.batch, w), codec.pad_id)
                    ids[:, 0] = 1
                    lean(ids, torch.where(ids == codec.pad_id, -100, ids)).backward()
                model.zero_grad()
            opt = torch.optim.AdamW(model.parameters(), lr=1e-3, foreach=fast)
            rng = np.random.default_rng(0)
            rates = []
            for step in range(args.steps):
                ids, mask, labels, n_tok = make_batch(task, codec, problems, rng, args.batch)
                if path == "compiled":
                    ids, labels = pad_width(ids, labels, codec.pad_id)
                t = time.perf_counter()
                loss = lean(ids, labels) if lean else model(input_ids=ids, attention_mask=mask, labels=labels).loss
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0, foreach=fast)
                opt.step()
                if step >= 2:  # warm-up steps excluded
                    rates.append(n_tok / (time.perf_counter() - t))
            P = flop_params(model)
            tps = float(np.median(rates))
            base = base or tps
            print(f"{name:>4} {P:>12,} {path:>9} {tps:>10,.0f} {6 * P * tps / 1e9:>9.2f} {6 * P * tps / peak:>8.1%} "
                  f"{tps / base:>8.2f}x")


if __name__ == "__main__":
    main()
