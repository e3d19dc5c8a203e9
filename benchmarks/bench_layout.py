"""Verifier input layout speed: ``ttc.verifiers.labels.layout`` against the row-by-row construction.

    python benchmarks/bench_layout.py [--rows 20000] [--repeats 5]

Every verifier scoring and training call lays its samples out first (token ids, masks, segment ends):
82k rows for one judged size's N = 256 test pool, 50k for its verifier's training data. The rows
here are the default task's gold solutions cut at random points (finished or not) under the test
split's prompts, 256 per prompt as in a pool. Medians of ``--repeats`` wall-clock runs, one thread;
both constructions give equal arrays (checked in the run).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from ttc.config import load_config
from ttc.sweep_config import SweepConfig
from ttc.sweep_stage import task_of
from ttc.tokenizer import Codec, build_char_tokenizer
from ttc.verifiers.labels import layout, layout_rows

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "experiments" / "configs" / "default.toml"
FIELDS = ("input_ids", "attention_mask", "solution_mask", "seg_end", "n_segments", "seg_tokens")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    task = task_of(load_config(SweepConfig, DEFAULT_CONFIG))
    codec = Codec.of(build_char_tokenizer())
    problems = task.problems("test")
    rng = np.random.default_rng(0)
    picked = [problems[i // 256 % len(problems)] for i in range(args.rows)]
    golds = [task.gold_solution(p, int(rng.integers(1000))) for p in picked]
    texts = [g[: int(rng.integers(0, len(g) + 1))] for g in golds]
    fin = [t == g for t, g in zip(texts, golds)]
    prompts = [p.prompt for p in picked]
    times: dict[str, list[float]] = {"rows": [], "vectorised": []}
    for _ in range(args.repeats):
        for name, fn in (("rows", layout_rows), ("vectorised", layout)):
            t = time.perf_counter()
            lay = fn(task, codec, prompts, texts, fin)
            times[name].append(time.perf_counter() - t)
            if name == "rows":
                want = lay
    assert all(np.array_equal(getattr(lay, f), getattr(want, f)) for f in FIELDS)
    base, fast = (float(np.median(times[k])) for k in ("rows", "vectorised"))
    print(f"{args.rows:,} rows, median of {args.repeats}")
    print(f"row by row  {base:7.3f} s  {args.rows / base:>10,.0f} rows/s")
    print(f"vectorised  {fast:7.3f} s  {args.rows / fast:>10,.0f} rows/s  {base / fast:.1f}x")


if __name__ == "__main__":
    main()
