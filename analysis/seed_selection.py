"""Cobbe's multiplier and Lightman's verifier gaps averaged over training seeds.

    python -m analysis.seed_selection results/seed_selection.csv [--single results/seed_spread.csv]
        [--rules r1,r2] [--n N] [--n-boot 4000] [--seed 0] [--out FILE.csv] [--figure OUT.png]

Input ``selection``: one row per (generator, seed, rule, n) with columns ``generator, params, seed, rule,
n, accuracy`` (``ttc.seed_selection.COLUMNS``; accuracy a fraction of test problems). Optional
``single``: a seed table (``ttc.seed_spread.COLUMNS``: ``generator, params, seed, pass1``) giving the
single-sample accuracy of sizes the selection table lacks (a size in both is read from the selection
table, whose pools are larger).

The estimand is the expected accuracy of a run of the recipe at size P, over its training seeds: the
mean over seeds, with SE = SD over seeds / sqrt(seeds) (it holds the problems' noise too). Cobbe's
multiplier is ``analysis.model_size``'s horizontal distance read on these means: the seed-mean
single-sample curve (isotonic, linear in log P) against each rule's seed-mean accuracy at N. Its CI is a
percentile bootstrap over seeds: each size's seeds resampled with replacement, independently across
sizes (different sizes are separate runs) and jointly within a size (its single-sample and selected
accuracies come from the same run). With 3-5 seeds per size such an interval is rough: read it as the
spread the seeds allow, not an exact 95%.

``paired_gaps`` gives rule-minus-rule differences (PRM − ORM, each verifier − majority) per size and
N, paired by seed, with their SE over seeds.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.model_size import EXCLUDED, KINDS, ModelSizeError, curve_multipliers
from analysis.table_io import check_cells, check_output_path, read_csv_table
from ttc.config import OneLineParser

REQUIRED = ("generator", "params", "seed", "rule", "n", "accuracy")
SINGLE = ("generator", "params", "seed", "pass1")
OUTPUT = ["generator", "params", "rule", "n", "accuracy", "accuracy_se", "single_accuracy", "n_seeds",
          "equivalent_params", "multiplier", "kind", "ci_low", "ci_high", "ci_method", "boot_lower_bound_share"]
GAPS = (("best_of_n:prm", "best_of_n:orm"), ("best_of_n:orm", "majority"), ("best_of_n:prm", "majority"),
        ("weighted_vote:prm", "majority"))


def _check_values(table: pd.DataFrame, name: str, texts: Sequence[str], numbers: Sequence[str], accuracy: str) -> None:
    """A ModelSizeError naming the first problem: empty cells, non-numbers, non-finite numbers
    (``analysis.table_io.check_cells``) or an ``accuracy`` outside [0, 1]."""
    check_cells(table, name, ModelSizeError, texts=texts, numbers=numbers)
    if not table[accuracy].between(0, 1).all():
        raise ModelSizeError(f"{name} has {accuracy} outside [0, 1]; accuracies are fractions of problems "
                             "(percent? divide by 100)")


def _checked(selection: pd.DataFrame, single: pd.DataFrame | None) -> pd.DataFrame:
    """Per (generator, seed): params and single-sample accuracy, the selection table first."""
    missing = [c for c in REQUIRED if c not in selection.columns]
    if missing:
        raise ModelSizeError(f"selection table lacks column(s) {', '.join(missing)}; need {', '.join(REQUIRED)} "
                             "(python experiments/seed_selection.py writes them)")
    if selection.empty:
        raise ModelSizeError("selection table has no rows; run python experiments/seed_selection.py first")
    _check_values(selection, "selection table", ("generator", "rule"), ("params", "seed", "n", "accuracy"), "accuracy")
    if selection["n"].lt(1).any():
        raise ModelSizeError("selection table has n < 1; n is the number of samples a rule selects from")
    if selection.duplicated(["generator", "seed", "rule", "n"]).any():
        raise ModelSizeError("selection table repeats a (generator, seed, rule, n); keep one row each")
    own = selection[(selection["rule"] == "single") & (selection["n"] == 1)][["generator", "params", "seed", "accuracy"]]
    if own.empty:
        raise ModelSizeError("selection table has no single-sample rows (rule single, n 1); add them")
    parts = [own]
    if single is not None:
        lacking = [c for c in SINGLE if c not in single.columns]
        if lacking:
            raise ModelSizeError(f"seed table lacks column(s) {', '.join(lacking)}; need {', '.join(SINGLE)} "
                                 "(python experiments/seed_spread.py writes them)")
        if single.empty:
            raise ModelSizeError("seed table has no rows; run python experiments/seed_spread.py first")
        _check_values(single, "seed table", SINGLE[:1], SINGLE[1:], "pass1")
        if single.duplicated(["generator", "seed"]).any():
            raise ModelSizeError("seed table repeats a (generator, seed) pair; keep one row per pair")
        other = single[~single["generator"].isin(own["generator"])]
        parts.append(other.rename(columns={"pass1": "accuracy"})[["generator", "params", "seed", "accuracy"]])
    table = pd.concat(parts, ignore_index=True)
    if table.groupby("generator")["params"].nunique().gt(1).any() or table["params"].le(0).any():
        raise ModelSizeError("a generator has several or non-positive params; one size, one positive count")
    if table.groupby("params")["generator"].nunique().gt(1).any():
        raise ModelSizeError("two generators have the same params; the single-sample curve needs distinct sizes")
    if table["generator"].nunique() < 2:
        raise ModelSizeError("one size only; pass --single with a seed table of the other sizes")
    return table


def seed_means(selection: pd.DataFrame, single: pd.DataFrame | None = None) -> pd.DataFrame:
    """Curves of seed means (columns generator, params, rule, n, accuracy, se, n_seeds): every
    (generator, rule, n) of the selection table plus the single-sample rows of the other sizes."""
    singles = _checked(selection, single)
    rows = selection[~((selection["rule"] == "single") & (selection["n"] == 1))]
    rows = pd.concat([rows[["generator", "params", "seed", "rule", "n", "accuracy"]],
                      singles.assign(rule="single", n=1)], ignore_index=True)
    g = rows.groupby(["generator", "params", "rule", "n"], sort=False)["accuracy"]
    out = pd.DataFrame({"accuracy": g.mean(), "sd": g.std(ddof=1), "n_seeds": g.size()}).reset_index()
    out["se"] = out["sd"] / np.sqrt(out["n_seeds"])
    return out.drop(columns="sd").sort_values(["params", "rule", "n"], kind="stable").reset_index(drop=True)


def seed_multipliers(selection: pd.DataFrame, single: pd.DataFrame | None = None, *,
                     rules: Sequence[str] | None = None, n: int | None = None, confidence: float = 0.95,
                     n_boot: int = 4000, seed: int = 0) -> pd.DataFrame:
    """One row per (judged generator, rule): Cobbe's multiplier on the seed-mean curves (module doc).
    rules: default every rule but single/coverage; n: default the largest N all of them reach on every size."""
    if not 0 < confidence < 1 or n_boot < 1:
        raise ModelSizeError(f"need 0 < confidence < 1 and n_boot >= 1, got {confidence} and {n_boot}")
    singles = _checked(selection, single)
    known = sorted(set(selection["rule"]) - set(EXCLUDED))
    rules = known if rules is None else list(rules)
    bad = [r for r in rules if r not in known]
    if bad or not rules:
        raise ModelSizeError(f"unknown rule '{bad[0] if bad else ''}'; rules in the table: {', '.join(known) or 'none'}")
    picked = selection[selection["rule"].isin(rules)]
    reach = picked.groupby(["generator", "rule"], sort=False)["n"].max()
    at = int(reach.min()) if n is None else n
    picked = picked[picked["n"] == at]
    present = set(zip(picked["generator"], picked["rule"]))
    lacking = [pair for pair in reach.index if pair not in present]  # every (size, rule) judged; rules all have rows
    if lacking:
        raise ModelSizeError(f"not every size and rule has rows at N={at} ({lacking[0][0]} has no "
                             f"{lacking[0][1]} rows there); pick an N all of "
                             f"{', '.join(rules)} reach on every size with --n (the largest is {int(reach.min())})")
    sizes = singles.groupby("generator")["params"].first().sort_values(kind="stable")
    log_params = np.log10(sizes.to_numpy(float))
    by_size = {g: singles[singles["generator"] == g].set_index("seed")["accuracy"] for g in sizes.index}
    curve = np.array([by_size[g].mean() for g in sizes.index])
    targets = picked.groupby(["generator", "rule"], sort=False)["accuracy"].agg(["mean", "std", "size"]).reset_index()
    targets["params"] = targets["generator"].map(sizes)
    t_log = np.log10(targets["params"].to_numpy(float))
    mult, kind, equiv = curve_multipliers(log_params, curve, targets["mean"].to_numpy(float), t_log)

    # bootstrap over seeds: per size one resample of its seeds, shared by its single and selected rows
    rng = np.random.default_rng(seed)
    boot_curve = np.empty((n_boot, len(sizes)))
    boot_target = np.empty((n_boot, len(targets)))
    wide = picked.pivot_table(index="seed", columns=["generator", "rule"], values="accuracy")
    for i, g in enumerate(sizes.index):
        seeds = by_size[g].index.to_numpy()
        draws = rng.choice(seeds, size=(n_boot, len(seeds)), replace=True)
        boot_curve[:, i] = by_size[g].reindex(draws.ravel()).to_numpy(float).reshape(draws.shape).mean(axis=1)
        for j, (tg, rule) in enumerate(zip(targets["generator"], targets["rule"])):
            if tg == g:
                col = wide[(tg, rule)].reindex(draws.ravel()).to_numpy(float).reshape(draws.shape)
                boot_target[:, j] = np.nanmean(col, axis=1)
    boot_mult, boot_kind, _ = curve_multipliers(log_params, boot_curve, boot_target, t_log)
    alpha = (1 - confidence) / 2
    out = pd.DataFrame({
        "generator": targets["generator"], "params": targets["params"], "rule": targets["rule"], "n": at,
        "accuracy": targets["mean"], "accuracy_se": targets["std"] / np.sqrt(targets["size"]),
        "single_accuracy": targets["generator"].map(dict(zip(sizes.index, curve))), "n_seeds": targets["size"],
        "equivalent_params": equiv, "multiplier": mult, "kind": [KINDS[k] for k in kind],
        "ci_low": np.nanquantile(boot_mult, alpha, axis=0), "ci_high": np.nanquantile(boot_mult, 1 - alpha, axis=0),
        "ci_method": "bootstrap_seeds", "boot_lower_bound_share": (boot_kind == 1).mean(axis=0),
    })
    return out[OUTPUT].sort_values(["params", "rule"], kind="stable").reset_index(drop=True)


def paired_gaps(selection: pd.DataFrame, pairs: Sequence[tuple[str, str]] = GAPS, *,
                ns: Sequence[int] | None = None) -> pd.DataFrame:
    """Per (generator, pair, n): the mean over seeds of accuracy(a) − accuracy(b) (fractions), its SE over
    seeds (paired by seed), the number of seeds and how many of them have a > b."""
    rows = []
    wide = selection.pivot_table(index=["generator", "params", "n", "seed"], columns="rule", values="accuracy")
    for a, b in pairs:
        if a not in wide.columns or b not in wide.columns:
            continue
        d = (wide[a] - wide[b]).dropna()
        for (gen, params, n), x in d.groupby(level=["generator", "params", "n"], sort=False):
            if ns is not None and n not in ns:
                continue
            k = len(x)
            rows.append({"generator": gen, "params": params, "a": a, "b": b, "n": int(n), "gap": float(x.mean()),
                         "se": float(x.std(ddof=1) / np.sqrt(k)) if k > 1 else np.nan, "n_seeds": k,
                         "seeds_a_ahead": int((x > 0).sum())})
    cols = ["generator", "params", "a", "b", "n", "gap", "se", "n_seeds", "seeds_a_ahead"]
    return pd.DataFrame(rows, columns=cols).sort_values(["params", "a", "b", "n"], kind="stable").reset_index(drop=True)


def fig_seed_selection(selection: pd.DataFrame, single: pd.DataFrame | None = None, *,
                       multipliers: pd.DataFrame | None = None, n: int | None = None):
    """(figure, data): Cobbe's figure on seed means: single-sample accuracy vs P over every size (mean ±
    2 SE over seeds, each seed a faint dot) and the rules' accuracy at N on the judged sizes (N: default
    the multipliers' N when given, else the table's largest)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    means = seed_means(selection, single)
    if n is None and multipliers is not None and not multipliers.empty:
        n = int(multipliers["n"].iloc[0])  # the N the multipliers in the title were read at
    at = int(selection["n"].max()) if n is None else n
    rules = [r for r in ("majority", "best_of_n:orm", "best_of_n:prm", "weighted_vote:prm")
             if r in set(selection["rule"])]
    data = means[((means["rule"] == "single") & (means["n"] == 1)) | (means["rule"].isin(rules) & (means["n"] == at))]
    singles = _checked(selection, single)
    with plt.rc_context({"figure.figsize": (6.4, 4.4), "axes.grid": True, "grid.alpha": 0.3, "font.size": 10,
                         "axes.spines.top": False, "axes.spines.right": False, "legend.fontsize": 8}):
        fig, ax = plt.subplots()
        ax.scatter(singles["params"], 100 * singles["accuracy"], s=10, color="0.6", alpha=0.6,
                   label="single sample, each seed")
        s = data[data["rule"] == "single"]
        ax.errorbar(s["params"], 100 * s["accuracy"], yerr=200 * s["se"].fillna(0), fmt="k-o", ms=5, capsize=3,
                    label="single sample, seed mean (± 2 SE)")
        for k, rule in enumerate(rules):
            r = data[data["rule"] == rule]
            ax.errorbar(r["params"] * 1.04 ** (k - 1.5), 100 * r["accuracy"], yerr=200 * r["se"].fillna(0),
                        fmt="s--", ms=5, capsize=3, label=f"{rule} @ N={at}")
        lo, hi = int(s["n_seeds"].min()), int(s["n_seeds"].max())
        title = f"seed means over {lo if lo == hi else f'{lo}-{hi}'} seeds per size"
        if multipliers is not None and not multipliers.empty:
            shown = multipliers[multipliers["rule"].isin(["best_of_n:orm", "best_of_n:prm"])]
            per_size = [f"{gen} " + " / ".join(f"{'≥ ' if r.kind == 'lower_bound' else ''}{r.multiplier:.1f}×"
                                               for r in g.sort_values("rule").itertuples())
                        for gen, g in shown.groupby("generator", sort=False)]
            if per_size:
                title += f"\nmodel-size multiplier at N={at}, ORM / PRM:\n" + ", ".join(per_size)
        ax.set(xscale="log", xlabel="non-embedding parameters P", ylabel="test accuracy (%)", title=title)
        ax.title.set_fontsize(9)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)
        fig.tight_layout()
    return fig, data.reset_index(drop=True)


def main(argv: Sequence[str] | None = None) -> int:
    ap = OneLineParser(prog="python -m analysis.seed_selection", description=__doc__.splitlines()[0])
    ap.add_argument("selection", type=Path, help="a selection table (results/seed_selection.csv)")
    ap.add_argument("--single", type=Path, default=None, help="a seed table for the other sizes (results/seed_spread.csv)")
    ap.add_argument("--rules", default=None, help="comma-separated rules (default: every selection rule)")
    ap.add_argument("--n", type=int, default=None, help="N to read each rule at (default: the largest all reach)")
    ap.add_argument("--n-boot", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="write the multiplier table here (.csv)")
    ap.add_argument("--figure", type=Path, default=None, help="also draw the figure here (.png or .pdf)")
    args = ap.parse_args(argv)
    try:
        for path in (args.selection, args.single):
            if path is not None and not path.is_file():
                raise ModelSizeError(f"{path} is not a file; pass a table such as results/seed_selection.csv")
        if args.seed < 0:
            raise ModelSizeError(f"--seed={args.seed} must be >= 0")
        if args.out is not None:
            check_output_path(args.out, "--out", ModelSizeError)
        if args.figure is not None:
            check_output_path(args.figure, "--figure", ModelSizeError, figure=True)
        selection = read_csv_table(args.selection, ModelSizeError, "pass a table such as results/seed_selection.csv")
        single = (read_csv_table(args.single, ModelSizeError, "pass a table such as results/seed_spread.csv")
                  if args.single else None)
        rules = args.rules.split(",") if args.rules else None
        table = seed_multipliers(selection, single, rules=rules, n=args.n, n_boot=args.n_boot, seed=args.seed)
        gaps = paired_gaps(selection)
    except ModelSizeError as why:
        print(f"error: {str(why).splitlines()[0]}", file=sys.stderr)
        return 2
    print(table.to_string(index=False))
    print(gaps.to_string(index=False))
    if args.out:
        from ttc.cache import atomic_write_text
        atomic_write_text(args.out, table.to_csv(index=False))
    if args.figure:
        from analysis.figure_cache import save_figure
        fig, _ = fig_seed_selection(selection, single, multipliers=table, n=args.n)
        save_figure(fig, args.figure.parent, args.figure.stem, (args.figure.suffix.lstrip(".") or "png",))
    return 0


if __name__ == "__main__":
    sys.exit(main())
