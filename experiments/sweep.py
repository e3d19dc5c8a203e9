"""Regenerate every result and figure: ``python experiments/sweep.py [--config F] [--set key=value]``.

Trains the generator family, samples and caches the pools, estimates every selection rule at every
N, writes ``results/`` (curves.csv, pools.csv, generators.csv, figures/, summary.json, summary.md,
config.json) and runs the Hex experiment. Cached cells are reused, so a rerun takes seconds. Bad
configuration exits with code 2 and a one-line message before anything runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # analysis/ lives beside ttc/

from ttc.config import ConfigError, load_config, to_dict  # noqa: E402
from ttc.sweep_config import SweepConfig  # noqa: E402

DEFAULT_CONFIG = REPO / "experiments" / "configs" / "default.toml"


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="TOML delta over the defaults in code")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override one key, e.g. --set pools.n_samples=32 (repeatable)")
    args = ap.parse_args(argv)
    try:
        cfg = load_config(SweepConfig, args.config, args.overrides)
        cfg.validate()
        hex_cfg = None
        if cfg.run.hex:
            from ttc.hex import HexConfig, HexConfigError
            try:
                hex_cfg = HexConfig.from_dict(cfg.hex)
            except HexConfigError as e:
                raise ConfigError(f"hex: {e}") from None
    except ConfigError as e:
        print(f"error: {str(e).splitlines()[0]}", file=sys.stderr)
        return 2

    from analysis.figures import write_figures
    from analysis.summary import build_summary, render_markdown
    from ttc.sweep import run_sweep

    command = "python " + " ".join(shlex.quote(a) for a in [f"experiments/{Path(__file__).name}", *sys.argv[1:]])
    # relative paths are taken from the repository root; absolute ones stay as they are
    results, cache_dir = REPO / cfg.run.results_dir, REPO / cfg.run.cache_dir
    cfg = replace(cfg, run=replace(cfg.run, cache_dir=str(cache_dir)))
    results.mkdir(parents=True, exist_ok=True)

    start = time.time()
    out = run_sweep(cfg)
    lm_seconds = round(time.time() - start, 1)
    for name in ("curves", "pools", "generators", "verifiers", "verifier_gain"):
        if not len(out[name]):  # no verifiers trained: no verifier tables (and none left from an older run)
            (results / f"{name}.csv").unlink(missing_ok=True)
            continue
        tmp = results / f".{name}.csv.tmp"
        out[name].to_csv(tmp, index=False)
        os.replace(tmp, results / f"{name}.csv")
    tmp = results / ".curves_by_problem.parquet.tmp"
    out["curves_by_problem"].to_parquet(tmp, index=False)
    os.replace(tmp, results / "curves_by_problem.parquet")
    numbers = write_figures(out["curves"], results / "figures", verifier_data=out["verifier_data"],
                            per_problem=out["curves_by_problem"], cache_dir=cache_dir / "figures")
    meta = {"config_hash": out["config_hash"], "command": command, "lm_wall_seconds": lm_seconds,
            "lm_stage_seconds": out["stage_seconds"],
            "params_convention": "P = all parameters except the input token embedding; FLOPs 2P/token inferred, "
                                 "6P/token trained"}
    summary = build_summary(out["curves"], out["pools"], numbers, meta, verifier_gain=out["verifier_gain"],
                            verifiers=out["verifiers"], verifier_data=out["verifier_data"])
    if hex_cfg is not None:
        from ttc.hex import run_hex
        h_start = time.time()
        from analysis.hex_figures import write_figures as write_hex_figures
        hex_summary = run_hex(hex_cfg, cache_dir=cache_dir, results_dir=results / "hex", progress=cfg.run.progress)
        write_hex_figures(results / "hex", cache_dir=cache_dir / "figures")
        summary["hex"] = dict(hex_summary)
        summary["hex"]["hex_wall_seconds"] = round(time.time() - h_start, 1)
        for key, value in hex_summary.items():
            if key.startswith("hex_"):
                summary[key] = value
    _write_text(results / "config.json", json.dumps({"command": command, "config": to_dict(cfg)}, indent=1))
    _write_text(results / "summary.json", json.dumps(summary, indent=1, default=float))
    _write_text(results / "summary.md", render_markdown(summary))
    print(render_markdown(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
