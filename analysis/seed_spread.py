"""How often one run of a model family comes out in size order: every family drawable from a seed table.

    python -m analysis.seed_spread results/seed_spread.csv [--z 1.96] [--restarts 1 2 3] [--figure OUT.png]

Input: one row per (size, seed) with columns ``generator, params, seed, pass1, ci_low, ci_high``
(``ttc.seed_spread.COLUMNS``; pass1 a fraction of test problems, its 95% CI over problems). A *draw* is
one seed per size, the family a single run of the sweep would train; with k_i seeds of size i there are
prod(k_i) draws, all enumerated (exact shares, no sampling). A draw is

- ``monotone`` when pass1 rises strictly with params at every size step;
- ``separated`` when every step's rise exceeds ``z`` standard errors of the difference, the two
  sizes' SEs ((ci_high - ci_low) / (2 · 1.96)) combined as independent (conservative: both sizes are
  scored on the same problems, which a paired difference would use).

A draw *meets the bars* (issue 10's bars for a family, ``Bars``) when it is separated, its smallest size
reaches ``smallest_min`` and its largest lies in [``largest_min``, ``largest_max``].

``restarts=k`` asks what a recipe that trains each size k times and keeps the run with the lowest final
training loss (column ``final_loss``; ties to the lower seed) would draw: every k-subset of a size's seeds
is one outcome, weighted exactly (a seed with m seeds of higher loss wins C(m, k-1) of the C(n, k)
subsets), so the shares stay exact without enumerating subsets. ``restarts=1`` is the plain draw.

``size_table`` gives each size's mean, SD and range over its seeds, and the SE of the mean over seeds.
"""

from __future__ import annotations

import itertools
import math
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.table_io import check_output_path, read_csv_table
from ttc.config import OneLineParser

REQUIRED = ("generator", "params", "seed", "pass1", "ci_low", "ci_high")


class SeedSpreadError(ValueError):
    """Unusable input; the message is one line naming the problem and the fix."""


@dataclass(frozen=True)
class Bars:
    """What one run of a family must show (issue 10): fractions of test problems, single-sample."""

    smallest_min: float = 0.05  # the smallest size clearly above chance
    largest_min: float = 0.45  # the largest size leaves headroom for selection ...
    largest_max: float = 0.75  # ... on both sides


def _checked(table: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise SeedSpreadError(f"seed table lacks columns {missing}; it needs {list(REQUIRED)} "
                              "(python experiments/seed_spread.py writes them)")
    if table.empty:
        raise SeedSpreadError("seed table has no rows; run python experiments/seed_spread.py first")
    empty = [c for c in REQUIRED if table[c].isna().any()]
    if empty:
        raise SeedSpreadError(f"seed table has empty or NaN cells in {empty}; fill them or drop those rows")
    numeric = [c for c in REQUIRED[1:] if not pd.api.types.is_numeric_dtype(table[c])
               or pd.api.types.is_bool_dtype(table[c])]
    if numeric:
        raise SeedSpreadError(f"seed table column(s) {numeric} hold non-numbers; give numbers (fractions for pass1 "
                              "and its CI)")
    values = table[list(REQUIRED[1:])].to_numpy(float)
    if not np.isfinite(values).all():
        raise SeedSpreadError("seed table has infinite values in params, seed, pass1, ci_low or ci_high; give finite numbers")
    if table["params"].le(0).any():
        raise SeedSpreadError("seed table has params <= 0; a size's parameter count is positive")
    bounds = table[["ci_low", "ci_high"]]  # mean ± 1.96 SE: a little past 0 or 1 near the ends, never far
    if not table["pass1"].between(0, 1).all() or bounds.lt(-1).any().any() or bounds.gt(2).any().any():
        raise SeedSpreadError("seed table has pass1 outside [0, 1] or a CI bound far outside it; they are fractions "
                              "of test problems (percent? divide by 100)")
    if table["ci_low"].gt(table["ci_high"]).any():
        raise SeedSpreadError("seed table has ci_low above ci_high; swap the columns or fix those rows")
    if table.duplicated(["generator", "seed"]).any():
        raise SeedSpreadError("seed table repeats a (generator, seed) pair; keep one row per pair")
    if table.groupby("generator")["params"].nunique().gt(1).any():
        raise SeedSpreadError("a generator has rows with different params; one size, one parameter count")
    if table.groupby("params")["generator"].nunique().gt(1).any():
        raise SeedSpreadError("two generators have the same params; sizes are ordered by params, so give each its own")
    return table


def size_table(table: pd.DataFrame) -> pd.DataFrame:
    """Per size, smallest first: params, n_seeds, mean/sd/min/max of pass1 over seeds, se_mean."""
    t = _checked(table)
    g = t.groupby("generator", sort=False)["pass1"]
    out = pd.DataFrame({"params": t.groupby("generator", sort=False)["params"].first(), "n_seeds": g.size(),
                        "mean": g.mean(), "sd": g.std(ddof=1), "min": g.min(), "max": g.max()})
    out["se_mean"] = out["sd"] / np.sqrt(out["n_seeds"])
    return out.sort_values("params", kind="stable").rename_axis("generator").reset_index()


def _restart_weights(per_size: pd.DataFrame, restarts: int) -> np.ndarray:
    """How many of the C(n, restarts) subsets of a size's seeds each seed wins (lowest final_loss)."""
    order = np.lexsort((per_size["seed"].to_numpy(), per_size["final_loss"].to_numpy(float)))
    n = len(order)
    weights = np.zeros(n)
    for rank, row in enumerate(order):  # rank seeds before it have lower loss
        weights[row] = math.comb(n - 1 - rank, restarts - 1)
    return weights


def family_draws(table: pd.DataFrame, *, z: float = 1.96, restarts: int = 1, bars: Bars = Bars()) -> dict:
    """Shares of the drawable families (one seed per size, or the best of ``restarts`` by final training
    loss) that are monotone, separated and meet the bars (module doc); also whether the seed means are
    monotone. Needs at least two sizes."""
    t = _checked(table)
    sizes = t.groupby("generator")["params"].first().sort_values(kind="stable").index.tolist()
    if len(sizes) < 2:
        raise SeedSpreadError(f"family_draws needs at least two sizes; the table has {sizes}")
    if not isinstance(restarts, int) or restarts < 1:
        raise SeedSpreadError(f"restarts={restarts!r} must be an integer >= 1")
    per = [t[t["generator"] == s] for s in sizes]
    if restarts > 1:
        if "final_loss" not in t.columns or t["final_loss"].isna().any():
            raise SeedSpreadError("restarts > 1 picks each size's run by final_loss; the table lacks it or has "
                                  "empty cells in it (python experiments/seed_spread.py writes it)")
        if not pd.api.types.is_numeric_dtype(t["final_loss"]) or not np.isfinite(t["final_loss"].to_numpy(float)).all():
            raise SeedSpreadError("restarts > 1 picks each size's run by final_loss; give it as finite numbers")
        short = [s for s, p in zip(sizes, per) if len(p) < restarts]
        if short:
            raise SeedSpreadError(f"restarts={restarts} needs at least {restarts} seeds of every size; "
                                  f"{', '.join(short)} have fewer: lower --restarts or run more seeds")
    acc = [p["pass1"].to_numpy(float) for p in per]
    se = [((p["ci_high"] - p["ci_low"]) / (2 * 1.959964)).to_numpy(float) for p in per]
    wins = [_restart_weights(p, restarts) if restarts > 1 else np.ones(len(p)) for p in per]
    grids = np.array(list(itertools.product(*[range(len(a)) for a in acc])))  # (draws, sizes) seed indices
    a = np.stack([acc[i][grids[:, i]] for i in range(len(sizes))], axis=1)
    s = np.stack([se[i][grids[:, i]] for i in range(len(sizes))], axis=1)
    w = np.prod(np.stack([wins[i][grids[:, i]] for i in range(len(sizes))], axis=1), axis=1)
    w = w / w.sum()
    rise = np.diff(a, axis=1)
    monotone = (rise > 0).all(axis=1)
    separated = (rise > z * np.hypot(s[:, 1:], s[:, :-1])).all(axis=1)
    meets = separated & (a[:, 0] >= bars.smallest_min) & (a[:, -1] >= bars.largest_min) & (a[:, -1] <= bars.largest_max)
    means = np.array([x @ (v / v.sum()) for x, v in zip(acc, wins)])
    step_up = [float(w @ (rise[:, i] > 0)) for i in range(len(sizes) - 1)]
    return {"sizes": sizes, "n_draws": math.prod(math.comb(len(x), restarts) for x in acc),
            "restarts": restarts, "monotone_share": float(w @ monotone), "separated_share": float(w @ separated),
            "bars": asdict(bars), "bars_share": float(w @ meets), "z": z,
            "means": [float(m) for m in means], "means_monotone": bool((np.diff(means) > 0).all()),
            "step_up_share": dict(zip([f"{lo}<{hi}" for lo, hi in zip(sizes, sizes[1:])], step_up))}


def fig_seed_spread(table: pd.DataFrame):
    """(figure, data): pass1 vs params, one dot per seed with its CI, the seed mean ± 2 SE over seeds."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = _checked(table).sort_values(["params", "seed"], kind="stable")
    sizes = size_table(t)
    with plt.rc_context({"figure.figsize": (6.4, 4.2), "axes.grid": True, "grid.alpha": 0.3, "font.size": 10,
                         "axes.spines.top": False, "axes.spines.right": False, "legend.fontsize": 8}):
        fig, ax = plt.subplots()
        seeds = sorted(t["seed"].unique())
        for k, seed in enumerate(seeds):
            r = t[t["seed"] == seed]
            x = r["params"] * 1.06 ** (k - (len(seeds) - 1) / 2)  # seeds side by side
            ax.errorbar(x, 100 * r["pass1"], yerr=100 * np.vstack([r["pass1"] - r["ci_low"], r["ci_high"] - r["pass1"]]),
                        fmt="o", ms=4, capsize=2, alpha=0.7, label=f"seed {seed} (95% CI over problems)")
        ax.errorbar(sizes["params"], 100 * sizes["mean"], yerr=200 * sizes["se_mean"].fillna(0), fmt="k-s", ms=5,
                    capsize=3, label="mean over seeds (± 2 SE over seeds)")
        draws = family_draws(t) if len(sizes) > 1 else None
        title = "one seed per size"
        if draws:
            title = (f"{draws['monotone_share']:.0%} of the {draws['n_draws']} drawable families in size order "
                     f"({draws['separated_share']:.0%} with every step beyond its CI)")
        ax.set(xscale="log", xlabel="non-embedding parameters P", ylabel="single-sample test accuracy (%)",
               title=title)
        ax.title.set_fontsize(9)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)
        fig.tight_layout()
    return fig, t[list(REQUIRED)].reset_index(drop=True)


def main(argv: Sequence[str] | None = None) -> int:
    ap = OneLineParser(prog="python -m analysis.seed_spread", description=__doc__.splitlines()[0])
    ap.add_argument("table", type=Path, help="a seed table (results/seed_spread.csv)")
    ap.add_argument("--z", type=float, default=1.96, help="standard errors a step must exceed to count as separated")
    ap.add_argument("--restarts", type=int, nargs="+", default=[1],
                    help="also the draws of a recipe keeping the best of K runs per size by final loss")
    ap.add_argument("--figure", type=Path, default=None, help="also draw the figure here (.png or .pdf)")
    args = ap.parse_args(argv)
    try:
        if not args.table.is_file():
            raise SeedSpreadError(f"{args.table} is not a file; pass a seed table such as results/seed_spread.csv")
        if not 0 <= args.z < math.inf:
            raise SeedSpreadError(f"--z={args.z} must be a finite number >= 0")
        if args.figure is not None:
            check_output_path(args.figure, "--figure", SeedSpreadError, figure=True)
        table = read_csv_table(args.table, SeedSpreadError, "pass a seed table such as results/seed_spread.csv")
        every = [family_draws(table, z=args.z, restarts=k) for k in args.restarts]
    except SeedSpreadError as why:
        print(f"error: {str(why).splitlines()[0]}", file=sys.stderr)
        return 2
    print(size_table(table).to_string(index=False))
    for draws in every:
        best = f" (best of {draws['restarts']} by final loss)" if draws["restarts"] > 1 else ""
        print(f"{draws['n_draws']} draws{best}: {draws['monotone_share']:.1%} monotone, "
              f"{draws['separated_share']:.1%} separated at z={args.z}, {draws['bars_share']:.1%} meet the bars "
              f"{draws['bars']}; means {', '.join(f'{100 * m:.1f}%' for m in draws['means'])} "
              f"(monotone: {draws['means_monotone']}); "
              + ", ".join(f"P({k}) = {v:.0%}" for k, v in draws["step_up_share"].items()))
    if args.figure:
        from analysis.figure_cache import save_figure
        fig, _ = fig_seed_spread(table)
        save_figure(fig, args.figure.parent, args.figure.stem, (args.figure.suffix.lstrip(".") or "png",))
    return 0


if __name__ == "__main__":
    sys.exit(main())
