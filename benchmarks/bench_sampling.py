"""Sampling throughput: ``ttc.sampling.sample`` against ``model.generate(do_sample=True)``.

Three random-weight Llama models (~30k, ~130k, ~800k parameters), 64 prompts of 40-80 tokens
(``--prompts``), 16 samples each, both at the same batch (rows decoded together). ``generate`` is
also timed at ``--generate-batch``; the second ratio is against the faster of its two batches.
Two generation settings:

* fixed: EOS never produced, every sample is exactly ``--fixed-len`` tokens long;
* eos:   EOS = token 0 at its natural rate under the random model (~1/40 per step), capped at
         ``--max-new`` tokens, so lengths vary and finished rows can be dropped.

tokens/s counts generated tokens (EOS included); each run includes the prompt pass. Time is the
process CPU time by default (``--clock cpu``): on a shared machine wall time mostly measures the
neighbours, while with one torch thread CPU time equals wall time on an idle machine. FLOP/s is
2 * P * tokens/s with P the parameters excluding the input embedding (attention FLOPs ignored),
shown as a fraction of a 2048^3 fp32 matmul timed the same way, in the same run, before each
repeat. Medians of ``--repeats``; the ratio is the median of per-repeat ratios.

    python benchmarks/bench_sampling.py | tee benchmarks/results/sampling.txt
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

from ttc.environment import pin_kernels

pin_kernels()  # the kernel paths the entry scripts run (ttc.environment), set before torch loads

import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import LlamaConfig, LlamaForCausalLM  # noqa: E402

from ttc.environment import matmul_flops  # noqa: E402
from ttc.sampling import sample  # noqa: E402

VOCAB = 40
SIZES = {  # name: (hidden, layers, heads, mlp)
    "30k": (32, 2, 4, 96),
    "130k": (64, 3, 4, 128),
    "800k": (128, 4, 4, 352),
}


def build(hidden: int, layers: int, heads: int, mlp: int) -> LlamaForCausalLM:
    config = LlamaConfig(vocab_size=VOCAB, hidden_size=hidden, intermediate_size=mlp, num_hidden_layers=layers,
                         num_attention_heads=heads, num_key_value_heads=heads, max_position_embeddings=256,
                         tie_word_embeddings=False, bos_token_id=None, eos_token_id=None, pad_token_id=0)
    torch.manual_seed(0)
    return LlamaForCausalLM(config).eval()


def run_generate(model, prompts, *, n_samples, max_new, eos, batch) -> int:
    """Left-padded ``generate`` over groups of batch // n_samples prompts; returns tokens generated."""
    group, total = batch // n_samples, 0
    for g0 in range(0, len(prompts), group):
        chunk = prompts[g0:g0 + group]
        width = max(len(p) for p in chunk)
        ids = torch.zeros(len(chunk), width, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, p in enumerate(chunk):
            ids[i, width - len(p):] = torch.tensor(p)
            mask[i, width - len(p):] = 1
        out = model.generate(ids, attention_mask=mask, do_sample=True, temperature=1.0, top_k=0, top_p=1.0,
                             max_new_tokens=max_new, num_return_sequences=n_samples,
                             eos_token_id=eos, pad_token_id=0)[:, width:]
        if eos is None:
            total += out.numel()
        else:  # count up to and including the first EOS
            is_eos = out == eos
            first = torch.where(is_eos.any(1), is_eos.int().argmax(1) + 1, out.shape[1])
            total += int(first.sum())
    return total


def timed_sample(clock, model, prompts, *, n_samples, max_new, eos, batch, seed) -> tuple[float, int]:
    t = clock()
    out = sample(model, prompts, n_samples=n_samples, max_new_tokens=max_new,
                 eos_token_id=-1 if eos is None else eos, seed=seed, max_batch=batch)
    return clock() - t, int(out.gen_tokens.sum())


def timed_generate(clock, model, prompts, *, n_samples, max_new, eos, batch, seed) -> tuple[float, int]:
    torch.manual_seed(seed)
    t = clock()
    n_tokens = run_generate(model, prompts, n_samples=n_samples, max_new=max_new, eos=eos, batch=batch)
    return clock() - t, n_tokens


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--generate-batch", type=int, default=256,
                    help="also time generate() at this batch, in case it does better there than at --batch")
    ap.add_argument("--fixed-len", type=int, default=48)
    ap.add_argument("--max-new", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 is stable on a shared box)")
    ap.add_argument("--sizes", default=",".join(SIZES))
    ap.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    args = ap.parse_args()
    transformers.logging.set_verbosity_error()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(1)
    lengths = torch.randint(40, 81, (args.prompts,), generator=gen)
    prompts = [torch.randint(1, VOCAB, (int(n),), generator=gen).tolist() for n in lengths]
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{args.threads} thread(s), {args.clock} time")
    print(f"# {args.prompts} prompts (40-80 tokens) x {args.samples} samples, batch {args.batch}, "
          f"median of {args.repeats}")
    print(f"{'model':>6} {'P':>8} {'setting':>7} {'tok/gen':>7} {'sample tok/s':>12} {'generate tok/s':>14} "
          f"{'ratio':>6} {'gen@' + str(args.generate_batch):>8} {'ratio':>6} {'sample FLOP/s':>13} {'of peak':>7} "
          f"{'peak GF/s':>9}")
    for name in args.sizes.split(","):
        model = build(*SIZES[name])
        p_count = sum(p.numel() for n, p in model.named_parameters() if "embed_tokens" not in n)
        for setting, max_new, eos in (("fixed", args.fixed_len, None), ("eos", args.max_new, 0)):
            ours, theirs, theirs_alt, peaks = [], [], [], []
            for rep in range(args.repeats):  # interleaved so drifts in machine load hit both alike
                kwargs = {"n_samples": args.samples, "max_new": max_new, "eos": eos, "batch": args.batch, "seed": rep}
                peaks.append(matmul_flops(2048, 3, threads=None, clock=clock, reduce=statistics.median))
                dt, n_tok = timed_sample(clock, model, prompts, **kwargs)
                ours.append(n_tok / dt)
                dt, n_tok_gen = timed_generate(clock, model, prompts, **kwargs)
                theirs.append(n_tok_gen / dt)
                dt, n_tok_gen = timed_generate(clock, model, prompts, **{**kwargs, "batch": args.generate_batch})
                theirs_alt.append(n_tok_gen / dt)
            a, b, peak = statistics.median(ours), statistics.median(theirs), statistics.median(peaks)
            ratio = statistics.median([x / y for x, y in zip(ours, theirs)])
            b_alt = statistics.median(theirs_alt)
            ratio_best = statistics.median([x / max(y, z) for x, y, z in zip(ours, theirs, theirs_alt)])
            per_sample = n_tok / (args.prompts * args.samples)
            print(f"{name:>6} {p_count:>8} {setting:>7} {per_sample:>7.1f} {a:>12,.0f} {b:>14,.0f} "
                  f"{ratio:>5.2f}x {b_alt:>8,.0f} {ratio_best:>5.2f}x {2 * p_count * a / 1e9:>6.2f} GF/s {2 * p_count * a / peak:>7.1%} {peak / 1e9:>6.1f}",
                  flush=True)


if __name__ == "__main__":
    main()
