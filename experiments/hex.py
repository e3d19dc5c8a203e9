"""Run the Hex train/test compute trade-off experiment (issue 6).

    python experiments/hex.py [--config experiments/configs/hex_default.toml] [--set key=value ...]

The TOML file holds a `[hex]` table of `HexConfig` fields (a delta from the defaults in code);
`--set` overrides use TOML values (`--set board_sizes=[3,4,5]`). Bad keys or types exit with code 2.
Results go to results/hex/, caches to .cache/.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ttc.environment import prepare_process

prepare_process()  # one BLAS thread, pinned kernel paths (ttc.environment); before numpy and torch load

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # analysis/ lives beside ttc/

from analysis.hex_fits import TABLES, hex_results  # noqa: E402
from ttc.cache import atomic_write_text, remove_stale_temporaries  # noqa: E402
from ttc.cache_files import json_safe, write_json_file  # noqa: E402
from ttc.config import ConfigError, OneLineParser, load_config, refuse_unusable_dirs  # noqa: E402
from ttc.hex import HexConfig, HexRun, run_hex  # noqa: E402


@dataclass(frozen=True)
class HexFile:
    """This script's config file: a ``[hex]`` table of HexConfig fields."""

    hex: HexConfig = field(default_factory=HexConfig)


def write_hex_results(directory: Path, config: HexConfig, run: HexRun) -> dict:
    """Fit the run (``analysis.hex_fits.hex_results``) and write ``directory/{snapshots,games,agents,
    iso_elo,frontier}.csv``, ``config.json`` and ``summary.json`` (this script and experiments/sweep.py
    write the same files); returns the headline numbers."""
    tables, summary = hex_results(config, run)
    directory.mkdir(parents=True, exist_ok=True)
    for name in TABLES:
        atomic_write_text(directory / f"{name}.csv", tables[name].to_csv(index=False))
    write_json_file(directory / "config.json", {"config": dataclasses.asdict(config), "argv": sys.argv}, sealed=False)
    write_json_file(directory / "summary.json", summary, sealed=False)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python experiments/hex.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, help="TOML file with a [hex] table")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--cache-dir", type=Path, default=REPO / ".cache")
    parser.add_argument("--results-dir", type=Path, default=REPO / "results" / "hex")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    try:  # keys of the [hex] table; "hex." is implied on the command line
        overrides = [o if o.startswith("hex.") else f"hex.{o}" for o in args.overrides]
        config = load_config(HexFile, args.config, overrides).hex
        refuse_unusable_dirs({"--cache-dir": args.cache_dir, "--results-dir": args.results_dir})
    except ConfigError as err:
        print(f"error: {err}".splitlines()[0], file=sys.stderr)
        return 2
    remove_stale_temporaries(args.cache_dir)  # what killed runs left (a day old: never a live run's)
    start = time.time()
    run = run_hex(config, cache_dir=args.cache_dir, progress=not args.quiet)
    summary = write_hex_results(Path(args.results_dir), config, run)
    from analysis.hex_figures import write_figures
    write_figures(Path(args.results_dir))
    summary = summary | {"hex_stage_seconds": run.stage_seconds, "hex_wall_seconds": round(time.time() - start, 1)}
    print(json.dumps(json_safe(summary), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
