"""How often one run of a model family comes out in size order: every family drawable from a seed table.

    python -m analysis.seed_spread results/seed_spread.csv [--z 1.96] [--figure OUT.png]

Input: one row per (size, seed) with columns ``generator, params, seed, pass1, ci_low, ci_high``
(``ttc.seed_spread.COLUMNS``; pass1 a fraction of test problems, its 95% CI over problems). A *draw* is
one seed per size, the family a single run of the sweep would train; with k_i seeds of size i there are
prod(k_i) draws, all enumerated (exact shares, no sampling). A draw is

- ``monotone`` when pass1 rises strictly with params at every size step;
- ``separated`` when every step's rise exceeds ``z`` standard errors of the difference, the two
  sizes' SEs ((ci_high - ci_low) / (2 · 1.96)) combined as independent (conservative: both sizes are
  scored on the same problems, which a paired difference would use).

``size_table`` gives each size's mean, SD and range over its seeds, and the SE of the mean over seeds.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

REQUIRED = ("generator", "params", "seed", "pass1", "ci_low", "ci_high")


class SeedSpreadError(ValueError):
    """Unusable input; the message is one line naming the problem and the fix."""


def _checked(table: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise SeedSpreadError(f"seed table lacks columns {missing}; it needs {list(REQUIRED)} "
                              "(python experiments/seed_spread.py writes them)")
    if table.empty:
        raise SeedSpreadError("seed table has no rows; run python experiments/seed_spread.py first")
    if table.duplicated(["generator", "seed"]).any():
        raise SeedSpreadError("seed table repeats a (generator, seed) pair; keep one row per pair")
    if table.groupby("generator")["params"].nunique().gt(1).any():
        raise SeedSpreadError("a generator has rows with different params; one size, one parameter count")
    return table


def size_table(table: pd.DataFrame) -> pd.DataFrame:
    """Per size, smallest first: params, n_seeds, mean/sd/min/max of pass1 over seeds, se_mean."""
    t = _checked(table)
    g = t.groupby("generator", sort=False)["pass1"]
    out = pd.DataFrame({"params": t.groupby("generator", sort=False)["params"].first(), "n_seeds": g.size(),
                        "mean": g.mean(), "sd": g.std(ddof=1), "min": g.min(), "max": g.max()})
    out["se_mean"] = out["sd"] / np.sqrt(out["n_seeds"])
    return out.sort_values("params", kind="stable").rename_axis("generator").reset_index()


def family_draws(table: pd.DataFrame, *, z: float = 1.96) -> dict:
    """Shares of the drawable families (one seed per size) that are monotone and separated (module doc);
    also whether the seed means are monotone. Needs at least two sizes."""
    t = _checked(table)
    sizes = t.groupby("generator")["params"].first().sort_values(kind="stable").index.tolist()
    if len(sizes) < 2:
        raise SeedSpreadError(f"family_draws needs at least two sizes; the table has {sizes}")
    per = [t[t["generator"] == s] for s in sizes]
    acc = [p["pass1"].to_numpy(float) for p in per]
    se = [((p["ci_high"] - p["ci_low"]) / (2 * 1.959964)).to_numpy(float) for p in per]
    grids = np.array(list(itertools.product(*[range(len(a)) for a in acc])))  # (draws, sizes) seed indices
    a = np.stack([acc[i][grids[:, i]] for i in range(len(sizes))], axis=1)
    s = np.stack([se[i][grids[:, i]] for i in range(len(sizes))], axis=1)
    rise = np.diff(a, axis=1)
    monotone = (rise > 0).all(axis=1)
    separated = (rise > z * np.hypot(s[:, 1:], s[:, :-1])).all(axis=1)
    means = np.array([x.mean() for x in acc])
    step_up = [float((rise[:, i] > 0).mean()) for i in range(len(sizes) - 1)]
    return {"sizes": sizes, "n_draws": int(len(grids)), "monotone_share": float(monotone.mean()),
            "separated_share": float(separated.mean()), "z": z, "means_monotone": bool((np.diff(means) > 0).all()),
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
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("table", type=Path, help="a seed table (results/seed_spread.csv)")
    ap.add_argument("--z", type=float, default=1.96, help="standard errors a step must exceed to count as separated")
    ap.add_argument("--figure", type=Path, default=None, help="also draw the figure here (.png or .pdf)")
    args = ap.parse_args(argv)
    try:
        if not args.table.is_file():
            raise SeedSpreadError(f"{args.table} is not a file; pass a seed table such as results/seed_spread.csv")
        if not args.z >= 0:
            raise SeedSpreadError(f"--z={args.z} must be >= 0")
        table = pd.read_csv(args.table)
        draws = family_draws(table, z=args.z)
    except (SeedSpreadError, pd.errors.ParserError, UnicodeDecodeError) as why:
        print(f"error: {str(why).splitlines()[0]}", file=sys.stderr)
        return 2
    print(size_table(table).to_string(index=False))
    print(f"{draws['n_draws']} draws: {draws['monotone_share']:.1%} monotone, {draws['separated_share']:.1%} "
          f"separated at z={args.z}; seed means monotone: {draws['means_monotone']}; "
          + ", ".join(f"P({k}) = {v:.0%}" for k, v in draws["step_up_share"].items()))
    if args.figure:
        from analysis.figure_cache import save_figure
        fig, _ = fig_seed_spread(table)
        save_figure(fig, args.figure.parent, args.figure.stem, (args.figure.suffix.lstrip(".") or "png",))
    return 0


if __name__ == "__main__":
    sys.exit(main())
