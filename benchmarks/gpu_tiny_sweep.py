"""A tiny GSM8K-format sweep end to end on one device: a locally built Llama generator and two reward
models (outcome, value head) saved with save_pretrained, the GSM8K sample of tests/data, every stage
of experiments/sweep.py with ``run.device`` set. Prints the stage times and the sampling throughput.

    python benchmarks/gpu_tiny_sweep.py --device cuda      # (benchmarks/gpu_check.sh runs it)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from tiny_hf import gsm8k_sweep  # noqa: E402

from experiments import sweep as sweep_script  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--samples", type=int, default=64)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = gsm8k_sweep(root, samples=args.samples, ns=(1, 4, 16, 64), max_new_tokens=128, fewshot=2,
                             device=args.device)
        code = sweep_script.main(["--config", str(config), "--set", f'run.cache_dir="{root / "cache"}"',
                                  "--set", f'run.results_dir="{root / "results"}"'])
        if code:
            return code
        log = json.loads((root / "results" / "run_log.json").read_text())
        pools = pd.read_csv(root / "results" / "pools.csv")
        final = pools[pools["role"] == "final"].iloc[0]
        tokens = final["mean_gen_tokens"] * final["pool_size"] * final["n_problems"]
        stages = log["lm_stage_seconds"]
        print(f"# tiny GSM8K sweep on {args.device}: stages (s) {stages}")
        print(f"# pools stage: {tokens:.0f} generated tokens in {stages['pools']:.2f} s "
              f"(~{tokens / max(stages['pools'], 1e-9):.0f} tokens/s incl. model load)")
        print(pd.read_csv(root / "results" / "curves.csv")[["role", "rule", "n", "accuracy"]].to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
