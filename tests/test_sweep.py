"""The sweep end to end on a tiny config: results written, reproducible, resumable, bad configs rejected."""

import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ttc.generators
import ttc.pools
from analysis.shapes import VERDICTS
from experiments import sweep as sweep_script
from ttc.config import ConfigError, load_config
from ttc.sweep_config import SweepConfig

REPO = Path(__file__).resolve().parents[1]

TINY = """
[task]
n_train = 300
n_test = 12
n_ood = 6
[task.train]
max_steps = 4
[task.ood]
min_steps = 5
max_steps = 5
[generators]
sizes = ["t1", "t2"]
[generators.custom]
t1 = {hidden = 8, layers = 1, heads = 2, mlp = 16}
t2 = {hidden = 16, layers = 1, heads = 2, mlp = 32}
[generators.train]
tokens = 6000
n_checkpoints = 3
warmup_steps = 5
[pools]
n_problems = 12
n_samples = 4
checkpoint_samples = 2
ood_problems = 6
max_new_tokens = 40
[verifiers]
kinds = ["prm"]
judge = ["t1", "t2"]
data_problems = [10]
data_samples = [1, 2]
finetune_control = true
[verifiers.common]
init_size = "t1"
n_problems = 20
samples_per_problem = 2
steps = 3
batch_size = 8
lm_batch_size = 4
n_val_problems = 5
max_new_tokens = 40
[eval]
ns = [1, 2, 4]
n_trials = 50
rules = ["single", "majority", "best_of_n:logprob", "weighted_vote:prob", "best_of_n:prm", "coverage"]
[search]
strategies = ["beam", "mcts"]
budgets = [2, 4]
family = ["t1"]
improved = ["star"]
n_problems = 8
difficulty_bins = 2
spec = {width = 2}
[self_improve]
generator = "t2"
methods = ["star", "rl_prm"]
sft_tokens = [500]
eval_problems = 12
eval_samples = 2
pool_samples = 4
star = {iterations = 1, problems = 20, samples = 2, tokens = 500}
rl = {steps = 2, problems_per_step = 4, group = 2, eval_every = 2}
finetune = {warmup_steps = 2}
[run]
hex = false
progress = false
eval_jobs = 1  # in-process: worker start-up would be most of this tiny run (the Dask test runs workers)
figure_formats = ["png"]  # PDFs are a third of the drawing time; the default (PNG + PDF) is tested below
"""


@pytest.fixture()
def tiny(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return path, tmp_path


def _run(path, tmp, results, *extra):
    args = ["--config", str(path), "--set", f'run.cache_dir="{tmp / "cache"}"',
            "--set", f'run.results_dir="{tmp / results}"', *extra]
    assert sweep_script.main(args) == 0
    return tmp / results


def test_end_to_end_reproducible_and_cached(tiny, monkeypatch):
    path, tmp = tiny
    first = _run(path, tmp, "r1")
    curves = pd.read_csv(first / "curves.csv")
    need = {"task", "generator", "params", "train_flops", "verifier", "rule", "n", "accuracy", "ci_low", "ci_high",
            "gen_flops_per_problem", "verify_flops_per_problem", "n_problems", "seed", "config_hash"}
    assert need <= set(curves.columns)
    assert set(curves["rule"]) >= {"single", "majority", "coverage", "best_of_n:logprob", "best_of_n:prm"}
    prm = curves[curves["rule"] == "best_of_n:prm"]
    assert (prm["verify_flops_per_problem"] > 0).all() and (prm["verifier"] == "prm").all()
    assert (curves.loc[curves["verifier"] == "none", "verify_flops_per_problem"] == 0).all()
    vers = pd.read_csv(first / "verifiers.csv")
    assert sorted(vers["judges"]) == ["t1", "t2"]  # one PRM per judged generator
    # the fine-tuning controls: a pool per judged generator, scored by its PRM, in the summary with the
    # curves' own numbers and differences paired over the same problems
    ctl = curves[curves["role"] == "finetune_control"]
    assert set(ctl["generator"]) == {"t1+ft", "t2+ft"} and "best_of_n:prm" in set(ctl["rule"])
    rows = json.loads((first / "summary.json").read_text())["verifier_vs_finetune"]
    assert {(r["generator"], r["n"]) for r in rows} == {(g, n) for g in ("t1", "t2") for n in (1, 4)}
    by_problem_all = pd.read_parquet(first / "curves_by_problem.parquet")
    for r in rows:
        fin_g = curves.query("role == 'final' and split == 'test' and generator == @r['generator']")
        ft = ctl.query("generator == @r['control'] and split == 'test'")
        at = lambda frame, rule, n: float(frame[(frame["rule"] == rule) & (frame["n"] == n)]["accuracy"].iloc[0])  # noqa: E731
        assert r["best_of_n_prm"] == pytest.approx(at(fin_g, "best_of_n:prm", r["n"]), abs=1e-4)
        assert r["ft_majority"] == pytest.approx(at(ft, "majority", r["n"]), abs=1e-4)
        assert r["extra_train_flops"] > 0
        if r["ft_majority_minus_prm"]["delta"] is not None:
            a = by_problem_all.query("generator == @r['control'] and rule == 'majority' and n == @r['n']")
            b = by_problem_all.query("generator == @r['generator'] and role == 'final' and split == 'test' "
                                     "and rule == 'best_of_n:prm' and n == @r['n']")
            diff = a.set_index("problem_id")["value"] - b.set_index("problem_id")["value"]
            assert r["ft_majority_minus_prm"]["delta"] == pytest.approx(diff.mean(), abs=1e-4)
    assert "Verifier vs fine-tuning at equal training FLOPs" in (first / "summary.md").read_text()
    gain = pd.read_csv(first / "verifier_gain.csv")
    assert set(gain["generator"]) == {"t1", "t2"}
    by_problem = pd.read_parquet(first / "curves_by_problem.parquet")
    fin = pd.read_csv(first / "curves.csv").query("role == 'final' and split == 'test'")
    means = by_problem.query("role == 'final' and split == 'test'").groupby(["generator", "rule", "n"])["value"].mean()
    merged = fin.set_index(["generator", "rule", "n"])["accuracy"]
    assert np.allclose(means.loc[merged.index], merged)  # the bootstrap's values are the curves' own
    gain = pd.read_csv(first / "verifier_gain.csv")
    assert set(gain["split"]) == {"test", "ood"} and {"prm", "logprob", "majority"} <= set(gain["scorer"])
    assert (gain.loc[gain["scorer"] == "majority", "delta"] == 0).all()
    for split in ("test", "ood"):  # the paired table's best-of-N is the curves' exact best-of-N
        for gen in set(gain.loc[gain["split"] == split, "generator"]):
            g = gain[(gain["scorer"] == "prm") & (gain["split"] == split) & (gain["generator"] == gen)]
            c = curves[(curves["rule"] == "best_of_n:prm") & (curves["split"] == split) & (curves["generator"] == gen)
                       & curves["role"].isin(["final", "ood"])]
            assert np.allclose(g.set_index("n")["accuracy"].loc[c["n"]], c["accuracy"])
    data = pd.read_csv(first / "figures" / "verifier_data.csv")
    points = set(map(tuple, data.dropna(subset=["train_problems"])[["train_problems", "samples_per_problem"]]
                     .astype(int).to_numpy()))
    assert points == {(10, 1), (10, 2), (20, 2)} and (first / "figures" / "verifier_data.png").exists()
    assert ((curves["accuracy"] >= 0) & (curves["accuracy"] <= 1)).all()
    summary = json.loads((first / "summary.json").read_text())
    # the tiny family has too few checkpoints for a trade-off frontier: that figure says so instead
    assert set(summary.get("figures_not_drawn", {})) <= {"train_test_tradeoff"}
    for name in ("best_of_n", "ood", "model_size", "train_test_tradeoff", "coverage", "compute_frontier",
                 "false_positives"):
        if name in summary.get("figures_not_drawn", {}):
            assert not (first / "figures" / f"{name}.png").exists()
            continue
        assert (first / "figures" / f"{name}.png").stat().st_size > 0
        assert not (first / "figures" / f"{name}.pdf").exists() and (first / "figures" / f"{name}.csv").exists()
    assert summary["config_hash"] == curves["config_hash"].iloc[0] and summary["generators"]
    verdicts = {s["shape"]: s["verdict"] for s in summary["shapes"]}  # the tiny run judges what it has
    assert len(verdicts) == 8 and set(verdicts.values()) <= set(VERDICTS)
    assert verdicts["family"] == "does not hold" and verdicts["hex_train_test_tradeoff"] == "not measured"
    search = pd.read_csv(first / "search.csv")  # one row per problem and search cell, on the largest judged
    # t2: 2 strategies x 2 budgets; t1 (family) and, for search.improved, t2 and t2+star: beam x 2 budgets
    assert len(search) == 8 * (2 * 2 + 2 + 2 * 2) and set(search["generator"]) == {"t1", "t2", "t2+star"}
    improved = search[search["role"] == "self_improve_search"]
    assert set(improved["generator"]) == {"t2", "t2+star"} and set(improved["rule"]) == {"search:beam:prm[width=2]"}
    main_beam = search[(search["role"] == "search") & (search["generator"] == "t2") & (search["rule"] == "search:beam:prm[width=2]")]
    start = improved[improved["generator"] == "t2"]  # the start searched as in the main cells: the same cached rows
    assert (start["is_correct"].to_numpy() == main_beam["is_correct"].to_numpy()).all()
    si_search = summary["self_improve_search"]["search:beam:prm[width=2]"]
    assert si_search["start"] == "t2" and set(si_search["accuracy"]) == {"t2", "t2+star"}
    assert set(si_search["change"]) == {"t2+star"} and set(si_search["change"]["t2+star"]) == {"2", "4"}
    assert "Step-level search of the improved generators" in (first / "summary.md").read_text()
    search = search[search["role"] == "search"]
    assert (search["gen_flops"] == 2 * search["gen_params"] * (search["prefill_tokens"] + search["gen_tokens"])).all()
    searched = curves[curves["role"] == "search"]
    assert set(searched["rule"]) == {"search:beam:prm[width=2]", "search:mcts:prm[width=2]"} and (searched["n_problems"] == 8).all()
    assert (searched["verify_flops_per_problem"] > 0).all()
    lucky = (search["is_correct"] & ~search["process_correct"]).groupby([search["generator"], search["rule"], search["n"]]).mean()
    rates = searched.set_index(["generator", "rule", "n"])["false_positive_rate"]
    assert np.allclose(rates.loc[lucky.index], lucky)  # right answer, wrong process: as for the pools
    assert np.allclose(searched["accuracy"], search.groupby(["generator", "rule", "n"])["is_correct"].mean()
                       .loc[list(searched.set_index(["generator", "rule", "n"]).index)])
    assert summary["search"]["generator"] == "t2" and len(summary["search"]["compute_optimal"]) == 2
    for name in ("search_flops", "search_by_difficulty", "search_vs_larger"):
        assert (first / "figures" / f"{name}.png").stat().st_size > 0 and (first / "figures" / f"{name}.csv").exists()
    assert json.loads((first / "config.json").read_text())["config"]["pools"]["n_samples"] == 4

    # warm rerun: nothing is trained or sampled again, and the curves are identical
    def boom(*a, **k):
        raise AssertionError("cache miss on a warm rerun")

    monkeypatch.setattr(ttc.generators, "train_generator", boom)
    monkeypatch.setattr(ttc.pools, "draw_pool", boom)
    import analysis.figures  # ... nor drawn: the figures come from the figure cache, byte for byte
    monkeypatch.setattr(analysis.figures, "FIGURES", {name: boom for name in analysis.figures.FIGURES})
    monkeypatch.setattr(analysis.figures, "fig_model_size", boom)
    # what killed runs leave behind (a day old): removed by the next run; a live writer's (fresh): kept
    pools_dir = sorted(p for p in (tmp / "cache").iterdir() if p.is_dir())[0]
    orphans = [pools_dir / ".abc.12345.deadbeef.tmp", tmp / ".r2-staging-x1y2"]
    orphans[0].write_bytes(b"half")
    orphans[1].mkdir()
    (orphans[1] / "curves.csv").write_text("half")
    fresh = pools_dir / ".def.999.cafe.tmp"
    fresh.write_bytes(b"being written")
    day_ago = time.time() - 25 * 3600
    for f in (orphans[0], orphans[1] / "curves.csv", orphans[1]):
        os.utime(f, (day_ago, day_ago))
    second = _run(path, tmp, "r2")
    assert not any(f.exists() for f in orphans) and fresh.exists()
    fresh.unlink()
    pd.testing.assert_frame_equal(curves, pd.read_csv(second / "curves.csv"))
    for f in sorted((first / "figures").iterdir()):
        assert (second / "figures" / f.name).read_bytes() == f.read_bytes(), f.name
    for name in ("curves.csv", "pools.csv", "generators.csv", "verifiers.csv", "search.csv", "summary.json",
                 "summary.md"):  # a rerun writes the same files: wall times live in run_log.json only
        assert (second / name).read_bytes() == (first / name).read_bytes(), name
    log = json.loads((second / "run_log.json").read_text())
    assert log["lm_stage_seconds"] and all(v > 0 for v in log["matmul_gflops_1thread"].values())
    assert json.loads((first / "config.json").read_text())["config"]["run"]["cache_dir"] == str(tmp / "cache")

    # a run that fails late (here: in the figures) leaves the previous results untouched
    before = {p: p.read_bytes() for p in first.rglob("*") if p.is_file()}

    def broken(*a, **k):
        raise RuntimeError("figure failure")

    monkeypatch.setattr(analysis.figures, "write_figures", broken)
    with pytest.raises(RuntimeError):
        _run(path, tmp, "r1")
    assert {p: p.read_bytes() for p in first.rglob("*") if p.is_file()} == before
    assert not [p for p in tmp.iterdir() if "staging" in p.name]
    monkeypatch.undo()

    # one bit flipped in one file of every kind in the cache: detected, rebuilt, same results
    original = _flip_a_bit_in_every_kind(tmp / "cache")
    third = _run(path, tmp, "r3")
    for name in ("curves.csv", "generators.csv", "pools.csv", "verifiers.csv", "verifier_gain.csv"):
        assert (third / name).read_bytes() == (first / name).read_bytes(), name
    for png in sorted((first / "figures").glob("*.png")):
        assert (third / "figures" / png.name).read_bytes() == png.read_bytes(), png.name
    # a damaged file still in place is one the rerun never read (e.g. verifier scores behind cached
    # curves); reading it through the cache finds the damage
    left = [f for f, data in original.items() if f.exists() and f.read_bytes() == _flipped(data)]
    from ttc.cache import Cache
    cache = Cache(tmp / "cache")
    # an earlier segment of a finished self-improvement run is never read again (the run resumes from
    # its last segment); checking the directory finds the damage
    segments = [f for f in left if f.relative_to(tmp / "cache").parts[0] == "self-improve"]
    for f in segments:
        assert cache.dir_ready("self-improve", f.relative_to(tmp / "cache").parts[1]) is None and not f.exists(), f
    left = [f for f in left if f not in segments]
    assert len(left) <= 4, left  # verifier scores behind cached curves; the shared start evaluation
    for f in left:
        kind, key = f.relative_to(tmp / "cache").parts[0], f.name.split(".")[0]
        read = cache.read_json if ".json" in f.name else cache.read_frame
        assert read(kind, key) is None and not f.exists(), f


def _flipped(data: bytes) -> bytes:
    out = bytearray(data)
    out[len(out) // 2] ^= 0x04
    return bytes(out)


def _flip_a_bit_in_every_kind(cache: Path) -> dict:
    """Flip one bit in the middle of the first file of each kind (top folder + file name inside an
    entry, or suffix of a single-file entry): weights, tokenizer and config files, completion markers,
    parquet frames, JSON records, checksum sidecars. Stored figures are left alone: their damage is
    tested in test_figure_cache.py, and redrawing every figure would double this test's time.
    Returns {file: original bytes}."""
    picked: dict = {}
    for f in sorted(cache.rglob("*")):
        rel = f.relative_to(cache)
        if not f.is_file() or ".locks" in rel.parts or f.name.startswith(".") or not f.stat().st_size:
            continue
        if rel.parts[0] == "figures":
            continue
        name = f.name if len(rel.parts) > 2 else "".join(f.suffixes[-2:]) if f.suffix == ".sha256" else f.suffix
        picked.setdefault((rel.parts[0], name), f)
    assert len(picked) >= 20, sorted(picked)  # enough kinds for the check to mean something
    original = {f: f.read_bytes() for f in picked.values()}
    for f, data in original.items():
        f.write_bytes(_flipped(data))
    return original


def test_figures_without_their_data_are_skipped_with_the_reason(tmp_path):
    # one generator, no coverage rule: the model-size and coverage figures say why they are missing
    import analysis.figures
    rng = np.random.default_rng(0)
    rows = []
    for role, n_max in (("final", 8), ("checkpoint", 2)):
        for rule in ("single", "majority"):
            for n in [1, 2, 4, 8][: {8: 4, 2: 2}[n_max]]:
                acc = float(rng.uniform(0.2, 0.6))
                rows.append(dict(task="t", generator="t1", checkpoint_tokens=100 if role == "final" else 50,
                                 final=role == "final", params=1000, train_flops=6e5 if role == "final" else 3e5,
                                 split="test", role=role, verifier="none", rule=rule, n=n, accuracy=acc,
                                 ci_low=acc - 0.05, ci_high=acc + 0.05, se=0.025, false_positive_rate=0.01,
                                 gen_flops_per_problem=1e4 * n, verify_flops_per_problem=0.0))
    not_drawn = analysis.figures.write_figures(pd.DataFrame(rows), tmp_path / "figs", formats=("png",))
    assert {"model_size", "coverage", "ood"} <= set(not_drawn)
    assert "generator sizes" in not_drawn["model_size"]
    assert (tmp_path / "figs" / "best_of_n.png").exists() and not (tmp_path / "figs" / "coverage.png").exists()
    assert not (tmp_path / "figs" / "best_of_n.pdf").exists()  # the formats asked for (the default, PNG + PDF: test_hex_experiment)
    # the numbers come from the fits, not the figures: the same data gives them (and says what it lacks)
    from analysis.headline import headline_numbers
    numbers = headline_numbers(pd.DataFrame(rows))
    final8 = {r["rule"]: round(r["accuracy"], 4) for r in rows if r["role"] == "final" and r["n"] == 8}
    assert numbers["test_accuracy_at_n8"] == final8 and numbers["test_accuracy_generator"] == "t1"
    from analysis.summary import render_markdown
    assert "- test_accuracy_at_n8 (t1): " in render_markdown({"generators": [], **numbers})
    assert {"size_multiplier", "coverage_fit", "ood_accuracy"} <= set(numbers["numbers_not_computed"])
    assert numbers["frontier_points"] >= 1 and numbers["search"] == {}


def test_interrupted_run_resumes_without_redoing_finished_cells(tiny, monkeypatch):
    path, tmp = tiny
    calls = {"pools": 0, "train": 0}
    real_draw, real_train = ttc.pools.draw_pool, ttc.generators.train_generator

    def dying_draw(*a, **k):
        calls["pools"] += 1
        if calls["pools"] == 3:
            raise KeyboardInterrupt  # killed in the middle of the pool stage
        return real_draw(*a, **k)

    def counting_train(*a, **k):
        calls["train"] += 1
        return real_train(*a, **k)

    monkeypatch.setattr(ttc.pools, "draw_pool", dying_draw)
    monkeypatch.setattr(ttc.generators, "train_generator", counting_train)
    import analysis.figures  # figures are not what resumes here (the end-to-end test draws them)
    monkeypatch.setattr(analysis.figures, "write_figures", lambda *a, **k: {})
    with pytest.raises(KeyboardInterrupt):
        _run(path, tmp, "r", "--set", "search.strategies=[]", "--set", "run.backend=\"threading\"",
             "--set", "self_improve.generator=\"\"")  # (search resumes like every cached cell)
    assert calls["train"] == 2 and not (tmp / "r" / "curves.csv").exists()
    monkeypatch.setattr(ttc.pools, "draw_pool", real_draw)
    fresh = {"n": 0}

    def counting_draw(*a, **k):
        spec = a[3] if len(a) > 3 else k["spec"]
        fresh["n"] += spec.split != "train"  # the verifier's training pools come from the train split
        return real_draw(*a, **k)

    monkeypatch.setattr(ttc.pools, "draw_pool", counting_draw)
    _run(path, tmp, "r", "--set", "search.strategies=[]", "--set", "run.backend=\"threading\"",
             "--set", "self_improve.generator=\"\"")
    assert calls["train"] == 2  # generators were not retrained
    n_cells = 2 * (3 + 1) + 1 + 2  # per generator: 2 intermediate + final + greedy; one ood pool; 2 controls
    assert fresh["n"] == n_cells - 2  # the two pools finished before the kill were reused
    assert (tmp / "r" / "curves.csv").exists()


@pytest.mark.parametrize("override, word", [
    ("pools.n_samples=2", "eval.ns"), ("bogus=1", "unknown config key"), ("pools.n_samples=true", "integer"),
    ("generators.sizes=[\"nope\"]", "unknown size"), ("task.train.modulus=1", "modulus"),
    ("pools.n_problems=999", "n_test"), ("run.n_jobs=0", "n_jobs"),
    ('eval.rules=["best_of_n:orm"]', "needs the orm verifier"), ('verifiers.kinds=["xrm"]', "unknown kind"),
    ("verifiers.data_problems=[999]", "exceeds"), ("run.eval_jobs=0", "eval_jobs"),
    # the family's knobs
    ('verifiers.judge=["l"]', "not among generators.sizes"), ("pools.judged_samples=-1", "judged_samples"),
    ("eval.ns=[1,4096]", "largest pool"), ("run.train_jobs=0", "train_jobs"),
    ('generators.train.schedule="linear"', "schedule"), ("generators.train.decay_frac=0", "decay_frac"),
    ("generators.tokens={t1=0}", "tokens"), ("task.train.n_tables=23", "n_tables"),
    ("task.train.op_zipf=-1", "op_zipf"), ("task.ood.n_tables=3", "ood must keep"),
    ('generators.custom={t1={hidden=30,layers=2,heads=4,mlp=8}}', "divisible"),
    # checked up front (each used to fail late, with a traceback)
    ("pools.temperature=-1", "temperature"), ("pools.ood_problems=0", "ood_problems"),
    ("verifiers.common.n_problems=1000000", "task.n_train"), ("run.torch_threads=-1", "torch_threads"),
    ('run.backend="nope"', "is not a joblib backend"),
    ('search.strategies=["beem"]', "unknown search strategy"), ("search.n_problems=99", "search.n_problems"),
    ('search.values=["orm"]', "needs the orm verifier"), ('search.spec={widht=2}', "unknown key"),
    ('search.spec={aggregation="mean"}', "aggregation"), ('search.family=["zz"]', "not among generators.sizes"),
    ('generators.custom={t1={hidden="8",layers=2,heads=2,mlp=8}}', "must be an integer"),
    ("task.n_test=1000000000", "between 1 and"), ('eval.rules=["bogus"]', "known rules: single"),
    ("verifiers.common.steps=0", "verifiers.common/"),
    # the self-improvement stage
    ('self_improve.generator="zz"', "not among generators.sizes"), ('self_improve.methods=["dpo"]', "unknown method"),
    ('self_improve.methods=["rl_orm"]', "add 'orm' to verifiers.kinds"), ("self_improve.star={iteratoins=2}", "unknown key"),
    ("self_improve.rl={group=1}", "rl.group"), ('self_improve.star={filter="steps"}', "star.filter"),
    ("self_improve.eval_problems=13", "task.n_test"), ("self_improve.sft_tokens=[]", "sft_tokens"),
    ('run.figure_formats=["jpg"]', "figure_formats"), ("run.figure_formats=[]", "figure_formats"),
    ("pools.samples_by_size={zz=4}", "not among generators.sizes"), ("pools.samples_by_size={t1=0}", "samples_by_size.t1"),
    ('search.improved=["rl_orm"]', "not a self-improvement method of this run"),
    ("generators.restarts={zz=2}", "not a size ttc trains"), ("generators.restarts={t1=0}", "restarts.t1"),
    ("generators.curriculum={zz=[{tokens=10,task={max_operand=1}}]}", "not a size ttc trains"),
    ("generators.curriculum={t1=[{tokens=0,task={max_operand=1}}]}", "curriculum.t1[0]: tokens=0"),
    ("generators.curriculum={t1=[{tokens=10,task={max_operand=10}}]}", "max_operand=10"),
    ("generators.curriculum={t1=[{tokens=10,task={bogus=1}}]}", "unknown config key"),
])
def test_bad_configs_rejected_before_anything_runs(tiny, override, word, capsys):
    path, tmp = tiny
    rc = sweep_script.main(["--config", str(path), "--set", override, "--set", f'run.results_dir="{tmp / "x"}"'])
    assert rc == 2 and not (tmp / "x").exists()
    err = capsys.readouterr().err.strip()
    assert word in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("where", ["file", "under_file", "read_only"])
def test_unusable_output_folders_rejected_before_anything_runs(tiny, where, capsys):
    import os
    path, tmp = tiny
    blocker = tmp / "blocker"
    if where == "read_only":
        blocker.mkdir()
        blocker.chmod(0o500)
        if os.access(blocker, os.W_OK):  # root ignores permissions
            pytest.skip("running as root: a read-only folder is still writable")
        target = blocker / "results"
    else:
        blocker.write_text("")
        target = blocker if where == "file" else blocker / "results"
    for key in ("run.results_dir", "run.cache_dir"):
        rc = sweep_script.main(["--config", str(path), "--set", f'{key}="{target}"'])
        err = capsys.readouterr().err.strip()
        assert rc == 2 and key in err and len(err.splitlines()) == 1
    blocker.chmod(0o700) if blocker.is_dir() else None


def test_config_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(SweepConfig, tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[pools\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(SweepConfig, bad)
    with pytest.raises(ConfigError, match="not a file"):
        load_config(SweepConfig, tmp_path)
    latin = tmp_path / "latin1.toml"
    latin.write_bytes("# caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(SweepConfig, latin)


@pytest.mark.parametrize("name", ["default.toml", "full.toml", "curriculum_pilot.toml"])
def test_shipped_configs_validate(name):
    cfg = load_config(SweepConfig, REPO / "experiments" / "configs" / name)
    cfg.validate()



def test_final_pool_sizes_follow_n_samples_judged_samples_and_samples_by_size(tiny):
    from ttc.generators import Checkpoint
    from ttc.sweep import pool_cells
    path, _ = tiny
    gens = {name: [Checkpoint(name, f"{name}-{t}", "", p, t, 6.0 * p * t, 1, 0.0, final)
                   for t, final in ((50, False), (100, True))] for name, p in (("t1", 10), ("t2", 20))}

    def final_k(*overrides):
        cfg = load_config(SweepConfig, path, ["verifiers.judge=[\"t2\"]", *overrides])
        return {c.checkpoint.generator: c.spec.n_samples for c in pool_cells(cfg, gens) if c.role == "final"}

    assert final_k() == {"t1": 4, "t2": 4}
    assert final_k("pools.judged_samples=8", "eval.ns=[1,8]") == {"t1": 4, "t2": 8}
    assert final_k("pools.judged_samples=8", "pools.samples_by_size={t2=2,t1=6}") == {"t1": 6, "t2": 2}


def test_results_hash_ignores_run_settings_and_follows_the_rest(tiny):
    path, _ = tiny
    base = load_config(SweepConfig, path).results_hash()
    assert load_config(SweepConfig, path, ["run.train_jobs=1", 'run.cache_dir="/elsewhere"']).results_hash() == base
    assert load_config(SweepConfig, path, ["pools.n_problems=7"]).results_hash() != base


def test_results_hash_follows_the_built_in_shapes_a_config_names(monkeypatch):
    """A built-in shape's defaults (here its initial scale) live in code, not in the config file: the
    hash must still change when they do, and config.json's shapes say what was built."""
    from dataclasses import replace

    import ttc.sweep_sections as sections
    from ttc.models import FAMILY
    cfg = load_config(SweepConfig, None, ["generators.sizes=['xs', 's']"])
    base = cfg.results_hash()
    assert cfg.generators.built_shapes()["xs"]["init_std"] == FAMILY["xs"].init_std
    monkeypatch.setitem(sections.FAMILY, "xs", replace(FAMILY["xs"], init_std=None))
    assert cfg.results_hash() != base and cfg.generators.built_shapes()["xs"]["init_std"] is None
    external = load_config(SweepConfig, None, ["generators.sizes=['xs', 'hf']", "generators.checkpoints={hf='/models/hf'}"])
    assert set(external.generators.built_shapes()) == {"xs"}


def test_restarts_keep_the_lowest_final_training_loss_and_reuse_restart_zero(tiny):
    """generators.restarts: restart 0 is the run a size has without restarts (same key, not retrained), every
    restart is a separate seed, the kept one has the lowest final training loss, and its record counts all."""
    from ttc.cache import Cache
    from ttc.generators import generator_key
    from ttc.sweep import chosen_generator, generator_spec, train_generators
    from ttc.sweep_stage import task_of
    path, tmp = tiny
    base = ["generators.sizes=[\"t1\"]", f'run.cache_dir="{tmp / "cache"}"', "verifiers.judge=[\"t1\"]",
            'self_improve.generator="t1"', "search.family=[]"]
    once = train_generators(load_config(SweepConfig, path, base))["t1"]
    cfg = load_config(SweepConfig, path, [*base, "generators.restarts={t1=3}"])
    task = task_of(cfg)
    assert [generator_spec(cfg, "t1", k).train.seed for k in range(3)] == [0, 1, 2]
    with pytest.raises(FileNotFoundError, match="'t1' \\(restart 1\\) is not in"):
        chosen_generator(cfg, "t1")  # restarts 1 and 2 not trained yet: the error names the first missing
    record0 = Cache(tmp / "cache").path("generators", generator_key(task, generator_spec(cfg, "t1", 0)), ".json")
    stamp = record0.stat().st_mtime_ns
    timeline, selection = [], {}
    kept = train_generators(cfg, timeline, selection)["t1"]
    assert sorted(t["item"] for t in timeline) == ["t1", "t1#restart1", "t1#restart2"]
    assert record0.stat().st_mtime_ns == stamp  # restart 0 is the run trained without restarts, read back
    runs = [chosen_generator(load_config(SweepConfig, path, [*base, f"generators.train.seed={k}"]), "t1")
            for k in range(3)]
    assert runs[0] == once
    losses = [r[-1].loss for r in runs]
    assert len(set(losses)) == 3  # three seeds, three runs
    assert kept == runs[int(np.argmin(losses))] == chosen_generator(cfg, "t1", Cache(tmp / "cache"))
    rec = selection["t1"]
    assert rec["seed"] == int(np.argmin(losses)) and rec["restarts"] == 3
    assert rec["restart_losses"] == ";".join(f"{v:.4f}" for v in losses)
    assert rec["restarts_train_flops"] == pytest.approx(sum(r[-1].train_flops for r in runs))


def test_select_restart_breaks_ties_towards_the_first():
    from ttc.generators import Checkpoint
    from ttc.sweep import select_restart
    run = lambda loss: [Checkpoint("s", f"k{loss}", "", 10, 100, 6e3, 5, loss, True)]  # noqa: E731
    assert select_restart([run(0.3), run(0.1), run(0.2)]) == 1
    assert select_restart([run(0.2), run(0.2)]) == 0
