"""The family's sizes retrained with other seeds: how much of each size's accuracy is the draw.

    python experiments/seed_spread.py                              # every size, seeds 0, 1, 2
    python experiments/seed_spread.py --sizes m --seeds 0 1 2 3 --set run.train_jobs=1
    python experiments/seed_spread.py --sizes m --seeds 0 2 --init-seed 2 --out /tmp/m_init2   # data order only

Writes ``results/seed_spread.csv`` (one row per size and seed: ttc.seed_spread.COLUMNS),
``results/seed_spread.json`` (the command, config hash, environment and, with two sizes or more, the
shares of the drawable families that come out in size order: analysis.seed_spread.family_draws) and
``results/seed_spread.png`` (accuracy against P, each seed and the seed mean; the CSV is its data). Generators and pools go to
the sweep's cache, so the default run's seed-0 generators are reused where the config matches and a
rerun takes seconds. About 16 minutes cold for the default with seeds 0-2 (5 sizes x 3 seeds, curricula
included) on two cores of an AMD EPYC. ``python -m analysis.seed_spread results/seed_spread.csv`` reads the
draws again from any seed table.
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

from analysis.figure_cache import save_figure  # noqa: E402
from analysis.seed_spread import family_draws, fig_seed_spread  # noqa: E402
from ttc.cache import atomic_write_text  # noqa: E402
from ttc.config import ConfigError, OneLineParser, load_config, refuse_repeats, refuse_unusable_dirs  # noqa: E402
from ttc.environment import environment  # noqa: E402
from ttc.seed_spread import seed_spread  # noqa: E402
from ttc.sweep_config import SweepConfig  # noqa: E402

DEFAULT_CONFIG = REPO / "experiments" / "configs" / "default.toml"


def main(argv: list[str] | None = None) -> int:
    ap = OneLineParser(prog="python experiments/seed_spread.py", description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="TOML delta over the defaults in code")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--sizes", nargs="+", default=None, help="family sizes (default: the config's generators.sizes)")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--init-seed", type=int, default=None,
                    help="start every run from this seed's initial weights: --seeds then vary the data order only")
    ap.add_argument("--samples", type=int, default=8, help="samples per test problem (default 8)")
    ap.add_argument("--out", type=Path, default=None, help="folder for the CSV (default: run.results_dir)")
    args = ap.parse_args(argv)
    try:
        cfg = load_config(SweepConfig, args.config, args.overrides)
        cfg.validate()
        # relative folders resolve against the repository, as in experiments/sweep.py
        cfg = replace(cfg, run=replace(cfg.run, cache_dir=str(REPO / cfg.run.cache_dir)))
        if args.samples < 1 or not args.seeds or any(s < 0 for s in args.seeds) or (args.init_seed or 0) < 0:
            raise ConfigError("--samples must be >= 1 and --seeds and --init-seed non-negative integers")
        refuse_repeats({"--seeds": args.seeds, "--sizes": args.sizes or []})
        out = args.out or REPO / cfg.run.results_dir
        refuse_unusable_dirs({"--out": out, "run.cache_dir": Path(cfg.run.cache_dir)})
        table = seed_spread(cfg, args.sizes or list(cfg.generators.sizes), args.seeds, n_samples=args.samples, init_seed=args.init_seed)
    except (ConfigError, ValueError) as why:
        print(f"error: {why}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    command = "python experiments/seed_spread.py" + "".join(f" {shlex.quote(a)}" for a in (argv or sys.argv[1:]))
    draws = family_draws(table) if table["generator"].nunique() > 1 else None
    atomic_write_text(out / "seed_spread.csv", table.to_csv(index=False))
    atomic_write_text(out / "seed_spread.json", json.dumps({"command": command, "config_hash": cfg.results_hash(),
                                                            "family_draws": draws, "environment": environment()},
                                                           indent=1))
    fig, _ = fig_seed_spread(table)
    save_figure(fig, out, "seed_spread", ("png",))
    print(table.to_string(index=False))
    if draws:
        print(f"{draws['n_draws']} drawable families (one seed per size): {draws['monotone_share']:.0%} in size "
              f"order, {draws['separated_share']:.0%} with every step beyond its CI")
    return 0


if __name__ == "__main__":
    sys.exit(main())
