"""Search throughput against plain sampling on the same generator, and the two things that make it fast.

On the default sweep's largest judged generator and its PRM (run ``python experiments/sweep.py`` first;
they are read from its cache), for the first ``--problems`` test problems, one thread, median of runs:

- sampling: N samples per problem (``ttc.sampling.sample``) and their PRM scores (``score_layout``);
- beam search (N beams, width 4, PRM value) batched across problems, with the verifier's shared
  prefix KV reuse (ttc) and without it (every prefix scored whole: the obvious baseline);
- the same beam search one problem at a time (a loop over problems: the other obvious baseline).

Prints tokens/s through the generator (prefill + generated), value calls/s and verifier tokens/s.

    python benchmarks/bench_search.py                  # 100 problems, N = 16
    python benchmarks/bench_search.py --problems 20    # smoke
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from ttc.environment import prepare_process

prepare_process()  # one BLAS thread, pinned kernel paths (ttc.environment); before numpy and torch load
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from ttc.cache import Cache  # noqa: E402
from ttc.compute import flop_params  # noqa: E402
from ttc.config import load_config  # noqa: E402
from ttc.generators import load_checkpoint  # noqa: E402
from ttc.sampling import sample  # noqa: E402
from ttc.search import Expander, SearchSpec, Spend, VerifierValue, run_strategy  # noqa: E402
from ttc.sweep_config import SweepConfig  # noqa: E402
from ttc.verifiers import load_verifier  # noqa: E402
from ttc.verifiers.labels import layout  # noqa: E402
from ttc.verifiers.score import score_layout  # noqa: E402


def sweep_models(cache_dir: Path):
    """(task, generator checkpoint, PRM record) of the default sweep's largest judged generator: read from
    the sweep's cache (trained there first if absent, which takes the sweep's minutes)."""
    from ttc.sweep import chosen_generator
    from ttc.sweep_stage import task_of as _task
    from ttc.verifiers import ensure_verifier
    cfg = load_config(SweepConfig, REPO / "experiments" / "configs" / "default.toml", [])
    task, cache = _task(cfg), Cache(cache_dir)
    name = cfg.verifiers.judge[-1]
    final = chosen_generator(cfg, name, cache, train=True)[-1]  # the restart the sweep keeps
    return task, final, ensure_verifier(cache, task, final, cfg.verifiers.spec("prm"))


def timed(fn, repeats: int):
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", type=int, default=100)
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--loop-problems", type=int, default=10, help="problems for the one-at-a-time baseline")
    ap.add_argument("--cache-dir", type=Path, default=REPO / ".cache")
    args = ap.parse_args()
    torch.set_num_threads(1)
    task, ck, vpath = sweep_models(args.cache_dir)
    model, codec = load_checkpoint(ck.path)
    prm, _ = load_verifier(vpath)
    problems = task.problems("test")[: args.problems]
    prompts = codec.encode_prompts([p.prompt for p in problems])
    n = args.n

    def sampling():
        out = sample(model, prompts, n_samples=n, max_new_tokens=64, eos_token_id=codec.eos_id, seed=0)
        texts = [codec.decode(t) for t in out.tokens]
        lay = layout(task, codec, [problems[i].prompt for i in out.prompt_index], texts, list(out.finished))
        score_layout(prm, lay)
        return out.prompt_tokens_processed + int(out.gen_tokens.sum()), len(texts), int(lay.lengths.sum())

    def search(shared: bool, subset=None):
        probs = problems if subset is None else subset
        value = VerifierValue(prm, codec, task, name="prm", params=flop_params(prm.lm), shared_prefix=shared)
        ex = Expander(model, codec, task, probs, temperature=1.0, max_step_tokens=24, max_tokens=64, seed=0)
        res = run_strategy(SearchSpec(strategy="beam", n=n, width=4), ex, value, probs)
        total = Spend()
        for r in res:
            total.add(r.spend)
        return total.prefill_tokens + total.gen_tokens, total.value_calls, total.value_tokens

    rows = []
    t, (gen, calls, vtok) = timed(sampling, args.repeats)
    rows.append(("sampling + PRM scores", t, len(problems), gen, calls, vtok))
    t, (gen, calls, vtok) = timed(lambda: search(True), args.repeats)
    rows.append(("beam, batched, shared prefix (ttc)", t, len(problems), gen, calls, vtok))
    t, (gen, calls, vtok) = timed(lambda: search(False), args.repeats)
    rows.append(("beam, batched, whole prefixes", t, len(problems), gen, calls, vtok))
    few = problems[: args.loop_problems]

    def loop():
        parts = [search(True, [p]) for p in few]
        return tuple(int(np.sum(x)) for x in zip(*parts))

    t, (gen, calls, vtok) = timed(loop, args.repeats)
    rows.append(("beam, one problem at a time", t, len(few), gen, calls, vtok))
    load = os.getloadavg()[0]
    print(f"# {os.cpu_count()} cores, load average {load:.2f}; generator {ck.generator} (P={ck.params:,}), its PRM; "
          f"N = {n}, width 4; 1 thread; median of {args.repeats}")
    print(f"{'method':38s} {'s/problem':>9s} {'gen tok/s':>10s} {'value calls/s':>13s} {'PRM tok/s':>10s} "
          f"{'time vs ttc search':>18s}")
    base = rows[1][1] / rows[1][2]
    for name, t, probs, gen, calls, vtok in rows:
        per = t / probs
        print(f"{name:38s} {per:9.4f} {gen / t:10,.0f} {calls / t:13,.0f} {vtok / t:10,.0f} {per / base:17.2f}x")
    print("time vs ttc search: seconds per problem relative to batched beam search with shared prefixes")


if __name__ == "__main__":
    main()
