"""ttc.parallel: items in order, the cache short-cut, and torch threads set by the scheduler only."""

import torch

from ttc.parallel import run_items, threads_per_worker, torch_threads


def _threads_seen(cfg, item):
    return item, torch.get_num_threads()


def _boom(cfg, item):
    raise RuntimeError(f"item {item}")


def test_items_run_with_the_stage_threads_and_the_caller_gets_its_own_back():
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        out = run_items(_threads_seen, None, [3, 1, 2], "t", n_jobs=1, progress=False, threads=1)
        assert out == [(3, 1), (1, 1), (2, 1)] and torch.get_num_threads() == 2
        assert run_items(_threads_seen, None, [5], "t", n_jobs=1, progress=False) == [(5, 2)]  # None: untouched
        try:  # restored when an item fails too
            run_items(_boom, None, [7], "t", n_jobs=1, progress=False, threads=1)
        except RuntimeError as err:
            assert "item 7" in str(err)
        assert torch.get_num_threads() == 2
        with torch_threads(1):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_one_item_left_to_compute_runs_here_and_the_timeline_records_every_item():
    timeline: list[dict] = []
    out = run_items(_threads_seen, None, ["a", "b"], "stage", n_jobs=2, progress=False,
                    cached=lambda it: it == "a", timeline=timeline, threads=1)
    assert [o[0] for o in out] == ["a", "b"]  # in item order, and in this process (no worker started)
    import os
    assert [r["item"] for r in timeline] == ["a", "b"] and {r["pid"] for r in timeline} == {os.getpid()}
    assert all(r["stage"] == "stage" and r["end"] >= r["start"] for r in timeline)


def test_threads_per_worker_share_the_cores(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert [threads_per_worker(w) for w in (1, 2, 3, 8, 16)] == [8, 4, 2, 1, 1]
    assert threads_per_worker(-1) == 1  # one worker per core
    monkeypatch.setattr("os.cpu_count", lambda: None)  # unknown: one core
    assert threads_per_worker(2) == 1
