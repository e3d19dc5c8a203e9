"""Regenerate every result and figure: ``python experiments/sweep.py [--config F] [--set key=value]``.

Trains the generator family, samples and caches the pools, estimates every selection rule at every
N, writes ``results/`` (curves.csv, pools.csv, generators.csv, figures/, summary.json, summary.md,
config.json) and runs the Hex experiment. Cached cells are reused, so a rerun takes seconds. Bad
configuration exits with code 2 and a one-line message before anything runs.
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path

# Decided once, before numpy and torch load, and inherited by the workers (as in experiments/hex.py):
# one BLAS thread per process and the pinned kernel paths, so the Hex stage computes the same numbers
# whichever script runs it.
from ttc.environment import prepare_process

prepare_process()  # one BLAS thread, pinned kernel paths (ttc.environment); before numpy and torch load

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # analysis/ lives beside ttc/

from experiments.publish import publish, staging  # noqa: E402
from ttc.cache import atomic_write_text, remove_stale_temporaries, unusable_dir  # noqa: E402
from ttc.config import ConfigError, OneLineParser, load_config, to_dict  # noqa: E402
from ttc.environment import environment, matmul_flops  # noqa: E402
from ttc.sweep_config import SweepConfig  # noqa: E402

DEFAULT_CONFIG = REPO / "experiments" / "configs" / "default.toml"
# what a run writes under results/ (an output this run does not make is removed; the README stays)
TABLES = ("curves", "pools", "generators", "verifiers", "verifier_gain", "search", "self_improve")  # each written as <name>.csv
MANAGED = [f"{name}.csv" for name in TABLES] + ["curves_by_problem.parquet", "figures", "hex", "config.json",
                                               "summary.json", "summary.md", "run_log.json"]


def matmul_gflops() -> float:
    """The one-thread matmul speed run_log.json records, GFLOP/s to one decimal."""
    return round(matmul_flops() / 1e9, 1)


def main(argv: list[str] | None = None) -> int:
    ap = OneLineParser(prog="python experiments/sweep.py", description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="TOML delta over the defaults in code")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override one key, e.g. --set pools.n_samples=32 (repeatable)")
    args = ap.parse_args(argv)
    try:
        cfg = load_config(SweepConfig, args.config, args.overrides)
        cfg.validate()
    except ConfigError as e:
        print(f"error: {str(e).splitlines()[0]}", file=sys.stderr)
        return 2

    from analysis.figures import write_figures
    from analysis.headline import headline_numbers
    from analysis.search_figures import write_search_figures
    from analysis.shapes import ShapesError, paper_shapes
    from analysis.summary import build_summary, render_markdown
    from ttc.sweep import run_sweep

    command = "python " + " ".join(shlex.quote(a) for a in [f"experiments/{Path(__file__).name}", *sys.argv[1:]])
    # relative paths are taken from the repository root; absolute ones stay as they are
    results, cache_dir = REPO / cfg.run.results_dir, REPO / cfg.run.cache_dir
    written_cfg = cfg  # config.json keeps the paths as given, so it does not depend on the checkout
    cfg = replace(cfg, run=replace(cfg.run, cache_dir=str(cache_dir)))
    for key, path in (("run.results_dir", results), ("run.cache_dir", cache_dir)):
        problem = unusable_dir(path)
        if problem:
            print(f"error: {key}={str(path)!r} {problem} (relative paths are taken from the repository root)",
                  file=sys.stderr)
            return 2

    # what killed runs left: cache temporaries, and staging folders beside results/ (a day old, so never a live run's)
    remove_stale_temporaries(cache_dir)
    remove_stale_temporaries(results.parent, prefix=f".{results.name}-staging-", suffixes=("",), recursive=False)
    speed_before = matmul_gflops()  # the machine's speed beside the wall times (it drifts over a day)
    start = time.time()
    out = run_sweep(cfg)
    log = {"command": command, "config_hash": out["config_hash"], "lm_wall_seconds": round(time.time() - start, 1),
           "lm_stage_seconds": out["stage_seconds"], "lm_task_timeline": out["task_timeline"]}
    if len(out["verifiers"]) and "train_seconds" in out["verifiers"]:
        log["verifier_train_seconds"] = {f"{g}/{k}": round(float(t), 1) for g, k, t in zip(
            out["verifiers"]["judges"], out["verifiers"]["kind"], out["verifiers"]["train_seconds"])}
        out["verifiers"] = out["verifiers"].drop(columns="train_seconds")  # a wall time: in the run log only
    if len(out["search"]):  # processor time per problem: in the run log only (it differs from run to run)
        log["search_cpu_seconds_per_problem"] = {
            f"{g}/{r}/N={n}": round(float(t), 3) for (g, r, n), t in
            out["search"].groupby(["generator", "rule", "n"], sort=False)["cpu_seconds_per_problem"].first().items()}
        out["search"] = out["search"].drop(columns="cpu_seconds_per_problem")
    with staging(results) as stage:  # every output is built here; results/ changes only at the end
        for name in TABLES:
            if len(out[name]):  # no verifiers trained: no verifier tables (and none left from an older run)
                out[name].to_csv(stage / f"{name}.csv", index=False)
        out["curves_by_problem"].to_parquet(stage / "curves_by_problem.parquet", index=False)
        numbers = headline_numbers(out["curves"], per_problem=out["curves_by_problem"],
                                   verifier_data=out["verifier_data"], self_improve=out["self_improve"],
                                   search_bins=cfg.search.difficulty_bins, confidence=cfg.eval.confidence,
                                   cache_dir=cache_dir / "figures")
        not_drawn = write_figures(out["curves"], stage / "figures", verifier_data=out["verifier_data"],
                                  per_problem=out["curves_by_problem"], cache_dir=cache_dir / "figures",
                                  self_improve=out["self_improve"], formats=cfg.run.figure_formats,
                                  numbers=numbers)
        write_search_figures(out["curves"], out["curves_by_problem"], stage / "figures",
                             n_bins=cfg.search.difficulty_bins, confidence=cfg.eval.confidence,
                             cache_dir=cache_dir / "figures", formats=cfg.run.figure_formats)
        if not_drawn:
            numbers["figures_not_drawn"] = not_drawn
        meta = {"config_hash": out["config_hash"], "command": command,
                "params_convention": "P = all parameters except the input token embedding; FLOPs 2P/token "
                                     "inferred, 6P/token trained"}
        summary = build_summary(out["curves"], out["pools"], numbers, meta, verifier_gain=out["verifier_gain"],
                                verifiers=out["verifiers"], verifier_data=out["verifier_data"],
                                generators=out["generators"])
        if cfg.run.hex:
            from analysis.hex_figures import HexFiguresError
            from analysis.hex_figures import write_figures as write_hex_figures
            from experiments.hex import write_hex_results
            from ttc.hex import run_hex
            h_start = time.time()
            hex_run = run_hex(cfg.hex, cache_dir=cache_dir, progress=cfg.run.progress)
            hex_summary = write_hex_results(stage / "hex", cfg.hex, hex_run)
            try:  # a figure that cannot be drawn is reported, not fatal: the run's tables are written either way
                write_hex_figures(stage / "hex", cache_dir=cache_dir / "figures", formats=cfg.run.figure_formats)
            except HexFiguresError as why:
                summary.setdefault("figures_not_drawn", {})["hex"] = str(why)
            log["hex_stage_seconds"] = hex_run.stage_seconds
            log["hex_wall_seconds"] = round(time.time() - h_start, 1)
            summary["hex"] = hex_summary  # once, nested (results/hex/summary.json holds the same)
        try:
            summary["shapes"] = paper_shapes(summary)  # which papers' shapes this draw shows
        except ShapesError as why:  # the verdicts are a reading of the numbers: never worth the run
            summary["shapes"], summary["shapes_not_judged"] = [], str(why)
            print(f"warning: shapes not judged: {why}", file=sys.stderr)
        atomic_write_text(stage / "config.json", json.dumps({"command": command, "config": to_dict(written_cfg),
                                                                "shapes": cfg.generators.built_shapes(),
                                                                "environment": environment()}, indent=1))
        atomic_write_text(stage / "summary.json", json.dumps(summary, indent=1, default=float))
        atomic_write_text(stage / "summary.md", render_markdown(summary))
        log["total_wall_seconds"] = round(time.time() - start, 1)
        log["matmul_gflops_1thread"] = {"start": speed_before, "end": matmul_gflops()}
        atomic_write_text(stage / "run_log.json", json.dumps(log, indent=1))
        publish(stage, results, MANAGED)
    print(render_markdown(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
