"""CPU time and peak memory per rule as the pool grows, beside the 400-trial subsampling reference.

    python benchmarks/bench_scale.py            # the full run (~25 min on 2 shared cores)
    python benchmarks/bench_scale.py --quick    # smoke run (~1 min); prints, writes nothing
    python benchmarks/bench_scale.py --out benchmarks/results/scale.txt   # what the full run wrote
    python benchmarks/bench_scale.py --sections target --no-target-reference   # the 500 x 10,000 pool alone (~1 min)

Every cell runs in a fresh process (``--cell``; two at a time), so its peak RSS is its own; CPU is that process's
user + system time for the estimation alone (the synthetic pool is built first, untimed). Pools
are bench_estimators.py's synthetic MATH-like ones. The reference is ``subsample_values("majority",
..., trials=400)``: the vectorised numpy loop over 400 random permutations per problem, on the same
pool in the same run. The growth exponent is the least-squares slope of log CPU against log M.
The I/O rows run ``python -m ttc.evaluate`` on a pool written to disk (JSONL, and parquet with one
row group per problem) and report that process's CPU and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]  # this checkout's ttc, not an installed one
from bench_estimators import synthetic_pool  # noqa: E402

RULES = ("majority", "best_of_n", "coverage", "weighted_vote")
REFERENCE = "reference"  # majority by 400-trial subsampling
IO_RULES = "majority,best_of_n,coverage"  # parquet: the exact rules; JSONL: the read (the closed forms)
HERE = Path(__file__).resolve()


def log_ns(m: int, count: int = 15) -> np.ndarray:
    """``count`` log-spaced N from 1 to M (distinct)."""
    return np.unique(np.round(np.logspace(0, np.log10(m), count)).astype(int))


def run_cell(rules: list[str], problems: int, samples: int, seed: int) -> dict:
    """In this process: estimate ``rules`` on a fresh synthetic pool; CPU seconds per rule, peak RSS."""
    import ttc
    from ttc.estimators import EXACT, subsample_values

    assert Path(ttc.__file__).resolve().parents[1] == ROOT, ttc.__file__  # measure this checkout

    pool = synthetic_pool(problems, samples, seed)
    ns, cpu = log_ns(samples), {}
    for rule in rules:
        start = time.process_time()
        if rule == REFERENCE:
            subsample_values("majority", pool, ns, trials=400, seed=seed)
        elif rule in EXACT:
            EXACT[rule](pool, ns)
        else:
            subsample_values(rule, pool, ns, trials=400, seed=seed)
        cpu[rule] = time.process_time() - start
    return {"cpu": cpu, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def measured(command: list[str]) -> tuple[float, float, int]:
    """(CPU seconds, peak RSS in MB, exit code) of one child process."""
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT, env=_env())
    _, status, usage = os.wait4(child.pid, 0)
    if child.stdout is not None:
        child.stdout.read()
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def _env() -> dict[str, str]:
    """The environment for child processes, with this checkout first on the import path."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def cell(rules: list[str], problems: int, samples: int, seed: int = 0) -> dict:
    """run_cell in a fresh process (its own peak RSS)."""
    out = subprocess.run([sys.executable, str(HERE), "--cell", ",".join(rules), str(problems), str(samples),
                          str(seed)], capture_output=True, text=True, check=True, env=_env())
    return json.loads(out.stdout.strip().splitlines()[-1])


def write_pool(path: Path, problems: int, samples: int, seed: int) -> None:
    """The synthetic pool as a JSONL file or a parquet file with one row group per problem."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    with open(path, "w") if path.suffix == ".jsonl" else open(os.devnull, "w") as text:
        for start in range(0, problems, 100):
            part = synthetic_pool(min(100, problems - start), samples, seed + start)
            ids = [f"q{start + i:06d}" for i in range(len(part))]
            answers = [np.where(p.answer_ids < 0, None, p.answer_ids.astype(str)).tolist() for p in part]
            if path.suffix == ".jsonl":
                for pid, p, ans in zip(ids, part, answers):
                    text.writelines(json.dumps({"problem_id": pid, "answer": a, "is_correct": bool(c),
                                                "score": round(float(s), 6)}) + "\n"
                                    for a, c, s in zip(ans, p.is_correct, p.scores))
                continue
            table = pa.table({"problem_id": np.repeat(ids, samples), "answer": sum(answers, []),
                              "is_correct": np.concatenate([p.is_correct for p in part]),
                              "score": np.concatenate([p.scores for p in part])})
            writer = writer or pq.ParquetWriter(path, table.schema)
            writer.write_table(table, row_group_size=samples)
    if writer is not None:
        writer.close()


def growth(cpu: dict[int, float]) -> float:
    """Least-squares slope of log CPU against log M."""
    m = np.array(sorted(cpu))
    return float(np.polyfit(np.log(m), np.log([max(cpu[k], 1e-6) for k in m]), 1)[0])


def growth_table(sizes: list[int], problems: int, lines: list[str]) -> None:
    """CPU per problem and peak RSS per rule for each pool size M, with the fitted exponent."""
    rules = [*RULES, REFERENCE]
    cells = {m: cell(rules, problems, m) for m in sizes}
    lines.append(f"growth in M: {problems} problems per pool, 15 log-spaced N from 1 to M; CPU ms per problem "
                 "(peak RSS MB of the cell's process)")
    lines.append(f"{'rule':<30}" + "".join(f"{'M=' + format(m, ','):>20}" for m in sizes) + f"{'exponent':>10}")
    for rule in rules:
        cpu = {m: cells[m]["cpu"][rule] / problems * 1000 for m in sizes}
        name = "majority, 400-trial reference" if rule == REFERENCE else rule
        lines.append(f"{name:<30}" + "".join(f"{cpu[m]:>12,.1f} ({cells[m]['rss_mb']:>4,.0f})" for m in sizes)
                     + f"{growth(cpu):>10.2f}")
    ratio = [cells[m]["cpu"][REFERENCE] / cells[m]["cpu"]["majority"] for m in sizes]
    lines.append(f"{'reference / exact majority':<30}" + "".join(f"{r:>19.1f}x" for r in ratio))


def problems_table(counts: list[int], samples: int, reference_up_to: int, lines: list[str]) -> None:
    """Total CPU per rule as the number of problems grows at a fixed pool size."""
    lines.append(f"growth in problems: M = {samples:,}; total CPU s (peak RSS MB of the cell's process)")
    lines.append(f"{'rule':<30}" + "".join(f"{format(p, ',') + ' problems':>22}" for p in counts))
    exact_rules = ["majority", "best_of_n", "coverage"]
    cells = {p: cell([*RULES, REFERENCE] if p <= reference_up_to else exact_rules, p, samples) for p in counts}
    for rule in [*RULES, REFERENCE]:
        name = "majority, 400-trial reference" if rule == REFERENCE else rule
        row = [f"{cells[p]['cpu'][rule]:>14,.2f} ({cells[p]['rss_mb']:>5,.0f})" if rule in cells[p]["cpu"]
               else f"{'not run':>22}" for p in counts]
        lines.append(f"{name:<30}" + "".join(row))


def target(problems: int, samples: int, lines: list[str], reference: bool = True) -> None:
    """The acceptance pool: the four rules in one process, the reference beside it on the same pool."""
    ours = cell(list(RULES), problems, samples)
    total = sum(ours["cpu"].values())
    lines.append(f"target: {problems} problems x {samples:,} samples, 15 log-spaced N, one process")
    lines.append("  " + ", ".join(f"{r} {ours['cpu'][r]:,.1f} s" for r in RULES)
                 + f"; total {total:,.1f} s CPU, peak RSS {ours['rss_mb']:,.0f} MB")
    if not reference:
        lines.append("  (the 400-trial reference was not run: --no-target-reference)")
        return
    ref = cell([REFERENCE], problems, samples)
    lines.append(f"  majority by the 400-trial reference on the same pool: {ref['cpu'][REFERENCE]:,.1f} s CPU "
                 f"(peak RSS {ref['rss_mb']:,.0f} MB); reference / exact = "
                 f"{ref['cpu'][REFERENCE] / ours['cpu']['majority']:.1f}x")


def io_rows(problems: int, samples: int, lines: list[str]) -> None:
    """``python -m ttc.evaluate`` on the pool written as JSONL and as parquet: CPU and peak RSS."""
    with tempfile.TemporaryDirectory() as tmp:
        for suffix, rules in (("parquet", IO_RULES), ("jsonl", "best_of_n,coverage")):
            path = Path(tmp) / f"pool.{suffix}"
            write_pool(path, problems, samples, seed=0)
            cpu, rss, rc = measured([sys.executable, "-m", "ttc.evaluate", str(path), "--rules", rules,
                                     "--n", ",".join(map(str, log_ns(samples))), "--out", str(Path(tmp) / "c.csv")])
            lines.append(f"io: python -m ttc.evaluate on {problems:,} x {samples:,} ({path.stat().st_size / 1e6:,.0f} "
                         f"MB {suffix}), --rules {rules}: {cpu:,.1f} s CPU, peak RSS {rss:,.0f} MB, exit {rc}")
            path.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run on small pools")
    parser.add_argument("--out", help="also write the output here")
    parser.add_argument("--sections", default="growth,problems,target,io",
                        help="comma-separated subset of growth, problems, target, io (default: all)")
    parser.add_argument("--no-target-reference", action="store_true",
                        help="skip the target pool's 400-trial reference cell (~270 s CPU)")
    parser.add_argument("--cell", nargs=4, metavar=("RULES", "PROBLEMS", "SAMPLES", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cell:
        rules, problems, samples, seed = args.cell
        print(json.dumps(run_cell(rules.split(","), int(problems), int(samples), int(seed))))
        return
    started, lines = time.time(), [f"$ python benchmarks/bench_scale.py {' '.join(sys.argv[1:])}".rstrip(),
                                   f"machine: {os.cpu_count()} cores, shared; uptime at start: {uptime()}"]
    ref = not args.no_target_reference
    if args.quick:
        named = {"growth": lambda out: growth_table([500, 1000], 3, out),
                 "problems": lambda out: problems_table([10, 40], 500, 40, out),
                 "target": lambda out: target(5, 2000, out, ref), "io": lambda out: io_rows(50, 500, out)}
    else:
        named = {"growth": lambda out: growth_table([1000, 2000, 5000, 10000, 20000], 20, out),
                 "problems": lambda out: problems_table([100, 1000, 10000], 1000, 1000, out),
                 "target": lambda out: target(500, 10000, out, ref), "io": lambda out: io_rows(10000, 1000, out)}
    sections = [named[name] for name in args.sections.split(",")]
    parts: list[list[str]] = [[] for _ in sections]
    with ThreadPoolExecutor(2) as pool:  # two cells at a time (each its own process, CPU counted per process)
        list(pool.map(lambda i: sections[i](parts[i]), range(len(sections))))
    lines += [line for part in parts for line in part]
    lines.append(f"uptime at end: {uptime()}; wall {time.time() - started:,.0f} s")
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.out:
        Path(args.out).write_text(text)


def uptime() -> str:
    """The load averages, as `uptime` prints them (other jobs share the cores)."""
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
