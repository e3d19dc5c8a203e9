"""Selection and Cobbe's multiplier over training seeds: each seed of a judged size with its own verifiers.

    python experiments/seed_selection.py                                   # s and m, seeds 0-4, N = 64
    python experiments/seed_selection.py --sizes m --seeds 0 1 2 --samples 16

For every (size, seed): the size trained with that seed (as in experiments/seed_spread.py), a test pool
of --samples per problem, its own ORM and PRM (the config's verifier recipe) and the selection curves
(ttc.seed_selection). Writes to run.results_dir (or --out):

- ``seed_selection.csv``: one row per (size, seed, rule, N) (ttc.seed_selection.COLUMNS);
- ``seed_multiplier.csv``: Cobbe's multiplier on the seed means, CI by a bootstrap over seeds
  (analysis.seed_selection.seed_multipliers); the sizes not judged here enter the single-sample curve
  from the seed table ``--single`` (default: results/seed_spread.csv when it is there);
- ``seed_gaps.csv``: PRM − ORM and each verifier − majority per size and N, paired by seed;
- ``seed_selection.json`` (command, config hash, environment) and ``seed_selection.png`` (the figure).

About 30 minutes cold for s and m x 5 seeds on two cores; a rerun reads everything from the cache.
"""

from __future__ import annotations

import json
import shlex
import sys
from dataclasses import replace
from pathlib import Path

from ttc.environment import prepare_process

prepare_process()  # one BLAS thread, pinned kernel paths (ttc.environment); before numpy and torch load

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import pandas as pd  # noqa: E402

from analysis.figure_cache import save_figure  # noqa: E402
from analysis.model_size import ModelSizeError  # noqa: E402
from analysis.seed_selection import SINGLE, fig_seed_selection, paired_gaps, seed_multipliers  # noqa: E402
from analysis.table_io import read_csv_table  # noqa: E402
from ttc.cache import atomic_write_text  # noqa: E402
from ttc.config import ConfigError, OneLineParser, load_config, refuse_repeats, refuse_unusable_dirs  # noqa: E402
from ttc.environment import environment  # noqa: E402
from ttc.seed_selection import seed_selection  # noqa: E402
from ttc.sweep_config import SweepConfig  # noqa: E402

DEFAULT_CONFIG = REPO / "experiments" / "configs" / "default.toml"


def check_single(single: pd.DataFrame | None, sizes: list[str]) -> None:
    """What the multiplier needs of the seed table, checked before anything trains: its columns and, with
    the judged sizes, at least two sizes on the single-sample curve."""
    if single is not None:
        lacking = [c for c in SINGLE if c not in single.columns]
        if lacking:
            raise ConfigError(f"the seed table lacks column(s) {', '.join(lacking)}; pass --single with a table "
                              "python experiments/seed_spread.py wrote")
    others = set() if single is None else set(single["generator"].dropna()) - set(sizes)
    if len(set(sizes)) + len(others) < 2:
        raise ConfigError(f"--sizes {' '.join(sizes)} is one size and no seed table adds others; judge two sizes "
                          "or pass --single with a seed table of the other sizes (results/seed_spread.csv)")


def main(argv: list[str] | None = None) -> int:
    ap = OneLineParser(prog="python experiments/seed_selection.py", description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="TOML delta over the defaults in code")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--sizes", nargs="+", default=["s", "m"], help="sizes judged per seed (default: s m)")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    ap.add_argument("--samples", type=int, default=64, help="samples per test problem: the largest N (default 64)")
    ap.add_argument("--single", type=Path, default=None,
                    help="seed table for the other sizes' single-sample accuracy (default: results/seed_spread.csv)")
    ap.add_argument("--out", type=Path, default=None, help="folder for the outputs (default: run.results_dir)")
    args = ap.parse_args(argv)
    try:
        cfg = load_config(SweepConfig, args.config, args.overrides)
        cfg.validate()
        cfg = replace(cfg, run=replace(cfg.run, cache_dir=str(REPO / cfg.run.cache_dir)))
        if args.samples < 1 or not args.seeds or any(s < 0 for s in args.seeds):
            raise ConfigError("--samples must be >= 1 and --seeds non-negative integers")
        unknown = [s for s in args.sizes if s not in cfg.generators.sizes]
        if unknown:
            raise ConfigError(f"sizes {unknown} are not among generators.sizes {cfg.generators.sizes}")
        refuse_repeats({"--seeds": args.seeds, "--sizes": args.sizes})
        out = args.out or REPO / cfg.run.results_dir
        refuse_unusable_dirs({"--out": out, "run.cache_dir": Path(cfg.run.cache_dir)})
        single_path = args.single or out / "seed_spread.csv"
        if args.single is not None and not args.single.is_file():
            raise ConfigError(f"--single {args.single} is not a file; pass a seed table (results/seed_spread.csv)")
        single = (read_csv_table(single_path, ConfigError, "pass a seed table (results/seed_spread.csv)")
                  if single_path.is_file() else None)
        check_single(single, args.sizes)
        table = seed_selection(cfg, args.sizes, args.seeds, n_samples=args.samples)
        rules = [r for r in ("majority", "best_of_n:orm", "best_of_n:prm", "weighted_vote:prm") if r in set(table["rule"])]
        mult = seed_multipliers(table, single, rules=rules)
        gaps = paired_gaps(table)
    except (ConfigError, ModelSizeError, ValueError) as why:
        print(f"error: {str(why).splitlines()[0]}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    command = "python experiments/seed_selection.py" + "".join(f" {shlex.quote(a)}" for a in (argv or sys.argv[1:]))
    atomic_write_text(out / "seed_selection.csv", table.to_csv(index=False))
    atomic_write_text(out / "seed_multiplier.csv", mult.to_csv(index=False))
    atomic_write_text(out / "seed_gaps.csv", gaps.to_csv(index=False))
    record = {"command": command, "config_hash": cfg.results_hash(), "sizes": args.sizes, "seeds": args.seeds,
              "samples": args.samples, "single_from": str(single_path.relative_to(REPO) if single_path.is_relative_to(REPO)
                                                          else single_path) if single is not None else None,
              "environment": environment()}
    atomic_write_text(out / "seed_selection.json", json.dumps(record, indent=1))
    fig, _ = fig_seed_selection(table, single, multipliers=mult)
    save_figure(fig, out, "seed_selection", ("png",))
    print(mult.to_string(index=False))
    print(gaps[gaps["n"].isin([16, args.samples])].to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
