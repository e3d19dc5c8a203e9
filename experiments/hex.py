"""Run the Hex train/test compute trade-off experiment (issue 6).

    python experiments/hex.py [--config experiments/configs/hex_default.toml] [--set key=value ...]

The TOML file holds a `[hex]` table of `HexConfig` fields (a delta from the defaults in code);
`--set` overrides use TOML values (`--set board_sizes=[3,4,5]`). Bad keys or types exit with code 2.
Results go to results/hex/, caches to .cache/.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import tomllib
from pathlib import Path

# numpy's multithreaded BLAS stalls on small shared machines; set before numpy loads.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # analysis/ lives beside ttc/

from ttc.hex import HexConfig, HexConfigError, run_hex  # noqa: E402
from ttc.hex.cache import json_safe  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, help="TOML file with a [hex] table")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--cache-dir", type=Path, default=REPO / ".cache")
    parser.add_argument("--results-dir", type=Path, default=REPO / "results" / "hex")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    try:
        table = tomllib.loads(args.config.read_text()).get("hex", {}) if args.config else {}
        config = HexConfig.from_dict(table).with_overrides(args.overrides)
    except (HexConfigError, tomllib.TOMLDecodeError, OSError) as err:
        print(f"error: {err}".splitlines()[0], file=sys.stderr)
        return 2
    start = time.time()
    summary = run_hex(config, cache_dir=args.cache_dir, results_dir=args.results_dir, progress=not args.quiet)
    from analysis.hex_figures import write_figures
    summary["hex_figures"] = [str(p) for p in write_figures(Path(args.results_dir))]
    summary["hex_wall_seconds"] = round(time.time() - start, 1)
    print(json.dumps(json_safe({k: v for k, v in summary.items() if k != "hex_figures"}), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
