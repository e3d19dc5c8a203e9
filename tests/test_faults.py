"""Fault injection on whole sweeps (slow: ``python -m pytest -m slow``; CI runs them after the suite).

- a run killed (SIGKILL) at a random moment, several seeds: the rerun exits 0, writes the uninterrupted
  run's tables byte for byte, and computes only what the killed run had not finished;
- two runs on one cache started 0, 2 and 4 s apart: both exit 0 with the uninterrupted run's tables,
  and every generator and pool is computed once between them (the second waits for an entry being
  built, then reads it).

Each run is a separate process (``tests/fault_sweep.py``: the sweep, logging each generator trained
and pool sampled) on a tiny config with its work in that process (``run.n_jobs = 1``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.test_sweep import TINY

pytestmark = pytest.mark.slow

RUNNER = Path(__file__).resolve().parent / "fault_sweep.py"
TABLES = ("curves.csv", "pools.csv", "generators.csv", "verifiers.csv", "verifier_gain.csv")
# the tiny sweep of test_sweep.py without its slowest stages; every cell in the one process
OVERRIDES = ["search.strategies=[]", 'self_improve.generator=""', "verifiers.data_problems=[]", "run.n_jobs=1",
             "run.train_jobs=1", "run.eval_jobs=1"]


def _start(config: Path, cache: Path, results: Path, calls: Path) -> subprocess.Popen:
    args = [sys.executable, str(RUNNER), "--config", str(config), "--set", f'run.cache_dir="{cache}"',
            "--set", f'run.results_dir="{results}"'] + [a for o in OVERRIDES for a in ("--set", o)]
    env = {**os.environ, "TTC_TEST_CALLS": str(calls), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen) -> None:
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-2000:]


def _calls(path: Path) -> dict[str, int]:
    lines = path.read_text().split() if path.exists() else []
    return {what: lines[::2].count(what) for what in ("train", "pool")}


def _finished(cache: Path) -> dict[str, int]:
    """Finished entries: generator records and pool files (what a rerun must not compute again)."""
    return {"train": len(list((cache / "generators").glob("*.json"))),
            "pool": len(list((cache / "pools").glob("*.parquet")))}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run in its own cache: its tables, its cell counts and its wall time."""
    root = tmp_path_factory.mktemp("faults")
    config = root / "tiny.toml"
    config.write_text(TINY)
    start = time.time()
    proc = _start(config, root / "cache", root / "results", root / "calls")
    _finish(proc)
    wall = time.time() - start
    tables = {name: (root / "results" / name).read_bytes() for name in TABLES}
    counts = _calls(root / "calls")
    assert counts == _finished(root / "cache") and counts["train"] == 2  # each computed once, all cached
    return config, tables, counts, wall


def _same_tables(results: Path, tables: dict[str, bytes]) -> None:
    for name, data in tables.items():
        assert (results / name).read_bytes() == data, name


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_run_killed_at_a_random_moment_resumes_to_the_same_tables(reference, tmp_path, seed):
    config, tables, counts, wall = reference
    delay = float(np.random.default_rng(seed).uniform(0.2, 0.95)) * wall  # imports take the first ~3 s
    killed = _start(config, tmp_path / "cache", tmp_path / "killed", tmp_path / "calls-killed")
    time.sleep(delay)
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=60)
    done = _finished(tmp_path / "cache")
    rerun = _start(config, tmp_path / "cache", tmp_path / "results", tmp_path / "calls-rerun")
    _finish(rerun)
    _same_tables(tmp_path / "results", tables)
    again = _calls(tmp_path / "calls-rerun")
    # what the killed run finished is read, never computed again; the rest is computed once
    assert again == {k: counts[k] - done[k] for k in counts}, (delay, done, again)


@pytest.mark.parametrize("apart", [0, 2, 4])
def test_two_runs_on_one_cache_compute_each_cell_once(reference, tmp_path, apart):
    config, tables, counts, _ = reference
    calls = tmp_path / "calls"  # both processes append to one log (one short line per call)
    first = _start(config, tmp_path / "cache", tmp_path / "a", calls)
    time.sleep(apart)
    second = _start(config, tmp_path / "cache", tmp_path / "b", calls)
    _finish(first)
    _finish(second)
    for results in (tmp_path / "a", tmp_path / "b"):
        _same_tables(results, tables)
    assert _calls(calls) == counts  # every generator and pool computed once, by one of the two
