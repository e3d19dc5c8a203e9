"""Which of the papers' shapes, and which of the family's bars, one sweep's results show.

    python -m analysis.shapes results/summary.json [--out shapes.csv]

A run of the sweep is one draw: another machine, seed or config draws another family, and a shape the
committed run shows may not appear in yours. This reads a run's ``summary.json`` (``analysis.summary``)
and gives one row per shape: what the paper (or ttc's family bar) expects, what this run measured, and
a verdict, judged on the numbers the summary holds and nothing else:

- ``holds``: at every place the shape is checked (every verified size, every N shown);
- ``partly``: at some of them (``observed`` says where);
- ``does not hold``: at none, or (for an all-or-nothing bar) not at all;
- ``not measured``: the run lacks the numbers (no verifiers, no trade-off fit, no Hex).

Verifier comparisons use the test split and the N the summary shows (16, 64, 256 and the largest);
"CI above 0" is the paired 95% interval over test problems that ``verifier_gain.csv`` holds.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from analysis.seed_spread import Bars
from ttc.cache import atomic_write_text

COLUMNS = ["shape", "source", "expected", "observed", "verdict"]
VERDICTS = ("holds", "partly", "does not hold", "not measured")
BARS = Bars()  # issue 10's accuracy bars for a family; its size bars:
MIN_SIZES, MIN_SPAN = 5, 100.0
MIN_MEASURED_SIZES = 2  # verified sizes whose ORM and PRM multipliers must both be measured
MIN_FRONTIER_POINTS = 10


class ShapesError(ValueError):
    """Unusable input; the message is one line naming the problem and the fix."""


def _verdict(flags: Sequence[bool]) -> str:
    """holds / partly / does not hold over places checked; not measured when there are none."""
    if not flags:
        return "not measured"
    return "holds" if all(flags) else ("partly" if any(flags) else "does not hold")


def _row(shape: str, source: str, expected: str, observed: str, verdict: str) -> dict:
    return dict(zip(COLUMNS, (shape, source, expected, observed, verdict)))


def _pts(x: float) -> str:
    return f"{x * 100:+.1f}"


def multiplier_text(r: dict) -> str:
    """'≥ 5.24× [3.61, 5.24]': a summary.json size_multiplier row's P'/P, its bound and its CI."""
    bound = {"lower_bound": "≥ ", "upper_bound": "≤ "}.get(r["kind"], "")
    return f"{bound}{r['multiplier']:.2f}× [{r['ci'][0]:.2f}, {r['ci'][1]:.2f}]"


def family_shape(generators: list[dict]) -> dict:
    """Issue 10's bars on the generator table (summary["generators"], sorted by params; the CI test is the
    summary's own ``above_previous_beyond_ci``): all or nothing."""
    expected = (f"≥ {MIN_SIZES} sizes over ≥ {MIN_SPAN:.0f}× P; smallest ≥ {BARS.smallest_min:.0%} and largest "
                f"{BARS.largest_min:.0%}–{BARS.largest_max:.0%} single-sample (T = 1); each size's 95% CI above the "
                "previous size's")
    source = "ttc issue 10 (family bars)"
    if not generators:
        return _row("family", source, expected, "no generators", "not measured")
    gens = sorted(generators, key=lambda g: g["params"])
    acc = [g["pass1_sampled"] for g in gens]
    span = gens[-1]["params"] / gens[0]["params"]
    has_ci = all("above_previous_beyond_ci" in g for g in gens)
    apart = [bool(g["above_previous_beyond_ci"]) for g in gens[1:]] if has_ci else []
    failed = []
    if len(gens) < MIN_SIZES or span < MIN_SPAN:
        failed.append(f"{len(gens)} sizes over {span:.0f}×")
    if acc[0] < BARS.smallest_min:
        failed.append(f"smallest at {acc[0]:.1%}")
    if not BARS.largest_min <= acc[-1] <= BARS.largest_max:
        failed.append(f"largest at {acc[-1]:.1%}")
    if not has_ci:
        failed.append("no CIs in the summary")
    failed += [f"{g['generator']}'s CI not above {p['generator']}'s"
               for p, g, ok in zip(gens, gens[1:], apart) if not ok]
    observed = (f"{len(gens)} sizes over {span:.0f}× P: " + ", ".join(f"{g['generator']} {a:.1%}" for g, a in
                                                                       zip(gens, acc))
                + "; steps " + ", ".join(_pts(b - a) for a, b in zip(acc, acc[1:])) + " points"
                + (f", CIs apart at {sum(apart)} of {len(apart)}" if has_ci else ""))
    if failed:
        observed += "; fails: " + "; ".join(failed)
    return _row("family", source, expected, observed, "does not hold" if failed else "holds")


def multiplier_shape(multipliers: list[dict]) -> dict:
    """Cobbe's "a verifier is worth a larger model": sizes where ORM's and PRM's P'/P are both measured
    (interpolated) with a CI above 1, at each size's largest N."""
    expected = ("best-of-N by ORM and by PRM reach a larger size's single-sample accuracy: P'/P interpolated, CI "
                f"above 1, at ≥ {MIN_MEASURED_SIZES} verified sizes (Cobbe: ~30× at 6B; the size is reported, not judged)")
    source = "Cobbe et al. 2021"
    rows = [r for r in multipliers if r["rule"] in ("best_of_n:orm", "best_of_n:prm")]
    if not rows:
        return _row("verifier_vs_model_size", source, expected, "no verifier multipliers", "not measured")
    by_size: dict[str, dict[str, dict]] = {}
    for r in rows:
        by_size.setdefault(r["generator"], {})[r["rule"].split(":")[1]] = r
    sizes = sorted(by_size, key=lambda g: next(iter(by_size[g].values()))["params"])

    def text(r: dict | None) -> str:
        return "—" if r is None else multiplier_text(r)

    def measured(r: dict | None) -> bool:
        return r is not None and r["kind"] == "interpolated" and r["ci"][0] > 1

    ok = [g for g in sizes if measured(by_size[g].get("orm")) and measured(by_size[g].get("prm"))]
    n = next(iter(by_size[sizes[0]].values()))["n"]
    observed = (f"ORM / PRM at N = {n}: " + "; ".join(
        f"{g} {text(by_size[g].get('orm'))} / {text(by_size[g].get('prm'))}" for g in sizes)
        + f"; measured above 1× at {len(ok)} of {len(sizes)} ({', '.join(ok) or 'none'})")
    best = max(rows, key=lambda r: r["multiplier"])
    observed += f"; largest {best['multiplier']:.1f}× ({best['generator']}, {best['rule'].split(':')[1].upper()})"
    verdict = "holds" if len(ok) >= MIN_MEASURED_SIZES else ("partly" if ok else "does not hold")
    return _row("verifier_vs_model_size", source, expected, observed, verdict)


def _gain_rows(rows: list[dict], scorer: str) -> dict[str, dict[int, dict]]:
    """{generator: {n: row}} of one scorer's test rows of summary["verifiers_vs_majority"], sizes by params."""
    out: dict[str, dict[int, dict]] = {}
    for r in sorted((r for r in rows if r["scorer"] == scorer and r["split"] == "test"),
                    key=lambda r: (r["params"], r["n"])):
        out.setdefault(r["generator"], {})[r["n"]] = r
    return out


def _per_size(cells: dict[str, dict[int, tuple[float, bool]]]) -> str:
    """'xs +2.1*/+2.8/+4.4*' with N in the header; * marks a paired CI above 0."""
    return "; ".join(f"{g} " + "/".join(f"{_pts(d)}{'*' if sig else ''}" for d, sig in by_n.values())
                     for g, by_n in cells.items())


def ordering_shapes(rows: list[dict]) -> list[dict]:
    """Lightman's PRM > ORM > majority, the PRM − ORM gap widening with N, and Cobbe's decline of the
    ORM's best-of-N at large N, from summary["verifiers_vs_majority"] (test split)."""
    orm, prm = _gain_rows(rows, "orm"), _gain_rows(rows, "prm")
    ns = sorted({n for by_n in list(orm.values()) + list(prm.values()) for n in by_n})
    head = f"N = {'/'.join(map(str, ns))}" if ns else ""
    lightman = "Lightman et al. 2023"

    over_maj = {g: {n: (r["delta_vs_majority"], r["delta_ci"][0] > 0) for n, r in by_n.items()}
                for g, by_n in orm.items()}
    flags = [sig for by_n in over_maj.values() for _, sig in by_n.values()]
    out = [_row("orm_above_majority", f"Cobbe et al. 2021; {lightman}",
                "best-of-N by the ORM above majority vote (paired CI above 0)",
                (f"ORM − majority, points, {head} (* CI above 0): {_per_size(over_maj)}; above at {sum(flags)} of "
                 f"{len(flags)}") if flags else "no ORM", _verdict(flags))]

    gap = {g: {n: (r["vs_orm"]["delta"], r["vs_orm"]["ci"][0] > 0) for n, r in by_n.items() if r.get("vs_orm")}
           for g, by_n in prm.items()}
    gap = {g: by_n for g, by_n in gap.items() if by_n}
    ahead = [d > 0 for by_n in gap.values() for d, _ in by_n.values()]
    sig = [s for by_n in gap.values() for _, s in by_n.values()]
    out.append(_row("prm_above_orm", lightman, "best-of-N by the PRM above the ORM (point estimates; * marks a "
                    "paired CI above 0)",
                    (f"PRM − ORM, points, {head}: {_per_size(gap)}; ahead at {sum(ahead)} of {len(ahead)}, CI above 0 "
                     f"at {sum(sig)}") if ahead else "no PRM and ORM pair", _verdict(ahead)))

    widens = {g: by_n[max(by_n)][0] > by_n[min(by_n)][0] for g, by_n in gap.items() if len(by_n) > 1}
    out.append(_row("prm_gap_widens", lightman, "the PRM − ORM gap larger at the largest N than at the smallest "
                    "shown (point estimates)",
                    ("; ".join(f"{g} {_pts(gap[g][min(gap[g])][0])} → {_pts(gap[g][max(gap[g])][0])}"
                               for g in widens) + f" (N = {min(ns)} → {max(ns)}); wider at {sum(widens.values())} of "
                     f"{len(widens)}") if widens else "no gap at two N", _verdict(list(widens.values()))))

    declines = {g: (by_n[max(by_n)]["accuracy"], max(r["accuracy"] for r in by_n.values()))
                for g, by_n in orm.items() if len(by_n) > 1}
    dflags = [last < best for last, best in declines.values()]
    out.append(_row("orm_declines_at_large_n", "Cobbe et al. 2021",
                    "the ORM's best-of-N falls past some N as more samples fool it: at the largest N below its best "
                    "at a smaller one (point estimates)",
                    ("; ".join(f"{g} {last:.1%} at N = {max(orm[g])}" + (f" vs {best:.1%} at a smaller N" if last < best
                                                                         else ", its best")
                               for g, (last, best) in declines.items())
                     + f"; below at {sum(dflags)} of {len(dflags)}") if dflags else "no ORM at two N",
                    _verdict(dflags)))
    return out


def _ci_or_none(entry: dict, key: str, name: str) -> list | None:
    """entry[key] when it is a [low, high] list of numbers or nulls; None when absent or null."""
    ci = entry.get(key)
    if ci is None:
        return None
    if not (isinstance(ci, list) and len(ci) == 2 and all(x is None or _number(x) for x in ci)):
        raise ShapesError(f"'{name}' has {key} {ci!r}; a CI is a list [low, high] of two numbers")
    return ci


def _number_or_none(entry: dict, key: str, name: str) -> float | None:
    """entry[key] when it is a finite number; None when absent, null or NaN; a ShapesError when not a number."""
    x = entry.get(key)
    if x is None:
        return None
    if not _number(x):
        raise ShapesError(f"'{name}' has {key} {x!r}, not a number; {_FIX}")
    return None if math.isnan(x) else x


def lm_tradeoff_shape(tt: dict) -> dict:
    """Jones's method on the LM family: the slope below 0 across its CI, on ≥ 10 frontier points."""
    expected = (f"least test compute at fixed accuracy falls with training compute: slope < 0 across its 95% CI, "
                f"≥ {MIN_FRONTIER_POINTS} frontier points (Jones, Hex: 10× train saves ~15× test; the size is reported, "
                "not judged)")
    source = "Jones 2021 (method), ttc's LM family"
    name = "train_test_tradeoff"
    if not tt or _number_or_none(tt, "slope", name) is None:
        return _row("lm_train_test_tradeoff", source, expected, (tt or {}).get("reason") or "no fit", "not measured")
    boot = _ci_or_none(tt, "bootstrap_slope_ci", name)
    ci = boot or _ci_or_none(tt, "slope_ci", name)
    saved = _ci_or_none(tt, "bootstrap_saved_ci", name) or _ci_or_none(tt, "test_compute_saved_ci", name)
    kind = "bootstrap CI" if boot else "t CI"
    n_points = _number_or_none(tt, "n_points", name) or 0
    k = tt.get("test_compute_saved_per_10x_train")
    observed = (f"10× train saves {'?' if k is None else f'{k}×'} test"
                + (f" [{saved[0]}, {saved[1]}]" if saved else "")
                + f"; slope {tt['slope']} ({f'{kind} [{ci[0]}, {ci[1]}]' if ci else 'no CI'}), R² {tt.get('r2')}, "
                  f"{n_points} frontier points in {tt.get('n_crossings', '?')} crossings")
    holds = ci is not None and ci[1] is not None and ci[1] < 0 and n_points >= MIN_FRONTIER_POINTS
    return _row("lm_train_test_tradeoff", source, expected, observed, "holds" if holds else "does not hold")


def hex_tradeoff_shape(hex_summary: dict | None) -> dict:
    """Jones's Hex result: the fitted slope below 0 by 1.96 standard errors (a slope without an SE cannot
    show it; a NaN slope, too few points to fit, is not measured)."""
    expected = ("at fixed Elo, test search falls with training compute: slope < 0 by 1.96 SE (Jones: 10× train saves "
                "~15× test; the size is reported, not judged)")
    source = "Jones 2021"
    name = "hex"
    slope = _number_or_none(hex_summary, "hex_tradeoff_slope", name) if hex_summary else None
    if not hex_summary or slope is None:
        observed = "no Hex run"
        if hex_summary:
            observed = f"no Hex trade-off fit ({hex_summary.get('hex_tradeoff_points', '?')} points)"
        return _row("hex_train_test_tradeoff", source, expected, observed, "not measured")
    se = _number_or_none(hex_summary, "hex_tradeoff_slope_se", name)
    k = _number_or_none(hex_summary, "hex_test_compute_saved_per_10x_train", name)
    r2 = _number_or_none(hex_summary, "hex_tradeoff_r2", name)
    observed = (f"10× train saves {'?' if k is None else f'{k:.2f}'}× test; slope "
                f"{slope:.3f} {'(no SE)' if se is None else f'± {se:.3f} (SE)'}, R² {'?' if r2 is None else f'{r2:.2f}'}, "
                f"{hex_summary.get('hex_tradeoff_points', '?')} points")
    holds = se is not None and slope + 1.959964 * se < 0
    return _row("hex_train_test_tradeoff", source, expected, observed, "holds" if holds else "does not hold")


_FIX = "pass the summary.json a sweep wrote"
# Per row entry the shapes read: the keys they read, which of them are numbers, and which make a row unique.
_ROWS = {"generators": (("generator", "params", "pass1_sampled"), ("params", "pass1_sampled"), ("generator",)),
         "size_multiplier": (("generator", "params", "rule", "n", "multiplier", "ci", "kind"), ("params", "n"),
                             ("generator", "rule")),
         "verifiers_vs_majority": (("generator", "params", "split", "scorer", "n", "accuracy", "delta_vs_majority",
                                    "delta_ci"), ("params", "n", "accuracy", "delta_vs_majority"),
                                   ("generator", "split", "scorer", "n"))}
_FRACTIONS = {"generators": ("pass1_sampled",), "size_multiplier": (), "verifiers_vs_majority": ("accuracy",)}


def _json_type(x: object) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
            float: "a number"}.get(type(x), "null")


def _number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _checked_rows(summary: dict, key: str) -> list[dict]:
    """summary[key] (a list of row objects, [] when absent or null) with the keys and numbers the shapes read;
    a ShapesError naming the entry, the row and the problem otherwise."""
    rows = summary.get(key)
    if rows is None:
        return []
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ShapesError(f"'{key}' is not a list of row objects; {_FIX}")
    keys, numbers, unique = _ROWS[key]
    for i, r in enumerate(rows):
        missing = [k for k in keys if k not in r]
        if missing:
            raise ShapesError(f"'{key}' row {i} lacks {', '.join(missing)}; {_FIX}")
        bad = [k for k in numbers if not _number(r[k]) or not math.isfinite(r[k])]
        if bad:
            raise ShapesError(f"'{key}' row {i} has a non-numeric or non-finite {', '.join(bad)} "
                              f"({', '.join(repr(r[k]) for k in bad)}); give finite numbers")
        if r["params"] <= 0:
            raise ShapesError(f"'{key}' row {i} has params {r['params']!r}; a size's parameter count is positive")
        outside = [k for k in _FRACTIONS[key] if not 0 <= r[k] <= 1]
        if outside:
            raise ShapesError(f"'{key}' row {i} has {outside[0]} {r[outside[0]]!r} outside [0, 1]; accuracies are "
                              "fractions of problems (percent? divide by 100)")
        if key == "verifiers_vs_majority" and not -1 <= r["delta_vs_majority"] <= 1:
            raise ShapesError(f"'{key}' row {i} has delta_vs_majority {r['delta_vs_majority']!r} outside [-1, 1]; "
                              "differences are fractions of problems (percent points? divide by 100)")
        if key == "size_multiplier" and not _number(r["multiplier"]):
            raise ShapesError(f"'{key}' row {i} has multiplier {r['multiplier']!r}, not a number; {_FIX}")
        texts = [k for k in ("generator", "rule", "kind", "split", "scorer") if k in keys and not isinstance(r[k], str)]
        if texts:
            raise ShapesError(f"'{key}' row {i} has {texts[0]} {r[texts[0]]!r}, not a string; {_FIX}")
        vs_orm = r.get("vs_orm") if key == "verifiers_vs_majority" else None
        if vs_orm is not None and not (isinstance(vs_orm, dict) and _number(vs_orm.get("delta"))):
            raise ShapesError(f"'{key}' row {i} has vs_orm {vs_orm!r}; it is null or {{\"delta\": d, \"ci\": [low, high]}}")
        for k, ci in (("ci", r.get("ci")), ("delta_ci", r.get("delta_ci")), ("vs_orm ci", (vs_orm or {}).get("ci"))):
            if (k in keys or (k == "vs_orm ci" and vs_orm is not None)) and not (
                    isinstance(ci, list) and len(ci) == 2 and all(_number(x) for x in ci)):
                raise ShapesError(f"'{key}' row {i} has {k} {ci!r}; a CI is a list [low, high] of two numbers")
    seen = [tuple(r[k] for k in unique) for r in rows]
    if len(set(seen)) < len(seen):
        twice = next(x for x in seen if seen.count(x) > 1)
        raise ShapesError(f"'{key}' repeats the row {dict(zip(unique, twice))}; keep one row each")
    return rows


def _checked_entry(summary: dict, key: str) -> dict:
    """summary[key] as an object ({} when absent or null)."""
    entry = summary.get(key)
    if entry is None:
        return {}
    if not isinstance(entry, dict):
        raise ShapesError(f"'{key}' is {_json_type(entry)}, not an object; {_FIX}")
    return entry


def paper_shapes(summary: dict) -> list[dict]:
    """One dict per shape (COLUMNS) from a run's summary.json contents; ShapesError when the entries it
    reads are malformed (missing keys, non-numbers, accuracies outside [0, 1], repeated rows)."""
    if not isinstance(summary, dict):
        raise ShapesError(f"not a sweep summary: the JSON is {_json_type(summary)}, not an object; {_FIX}")
    if "generators" not in summary:
        raise ShapesError(f"not a sweep summary: no 'generators' key; {_FIX}")
    summary = {**summary, **{key: _checked_rows(summary, key) for key in _ROWS},
               **{key: _checked_entry(summary, key) for key in ("train_test_tradeoff", "hex")}}
    return ([family_shape(summary["generators"]), multiplier_shape(summary.get("size_multiplier") or [])]
            + ordering_shapes(summary.get("verifiers_vs_majority") or [])
            + [lm_tradeoff_shape(summary.get("train_test_tradeoff") or {}), hex_tradeoff_shape(summary.get("hex"))])


def shape_lines(shapes: list[dict]) -> list[str]:
    """The summary.md section (a table of shapes and verdicts, then a blank line); none without shapes."""
    if not shapes:
        return []
    lines = ["## Shapes in this run: the papers' claims and the family's bars", "",
             "One run is one draw of the family; this is what this draw shows (`python -m analysis.shapes "
             "results/summary.json`; verdicts on the numbers below).", "",
             "| shape | source | expected | this run | verdict |", "|---|---|---|---|---|"]
    lines += [f"| {s['shape']} | {s['source']} | {s['expected']} | {s['observed']} | **{s['verdict']}** |"
              for s in shapes]
    return lines + [""]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2
        raise ShapesError(f"{message}; see python -m analysis.shapes --help")


def main(argv: Sequence[str] | None = None) -> int:
    """The CLI: print each shape's verdict, optionally write them as CSV; exit 2 on bad input."""
    parser = _Parser(prog="python -m analysis.shapes", description=__doc__.split("\n\n")[0])
    parser.add_argument("summary", help="a sweep's summary.json, e.g. results/summary.json")
    parser.add_argument("--out", help="CSV to write (columns: " + ", ".join(COLUMNS) + ")")
    try:
        args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
        path = Path(args.summary)
        if path.is_dir():
            raise ShapesError(f"{args.summary} is a folder; pass a sweep's summary.json (e.g. {args.summary}/summary.json)")
        if not path.is_file():
            raise ShapesError(f"{args.summary}: no such file; pass a sweep's summary.json")
        if args.out and Path(args.out).is_dir():
            raise ShapesError(f"--out {args.out} is a folder; pass a CSV file path such as {args.out}/shapes.csv")
        if args.out and not Path(args.out).parent.is_dir():
            raise ShapesError(f"--out {args.out}: folder does not exist; create it first")
        try:
            summary = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ShapesError(f"{args.summary}: not JSON ({str(e).splitlines()[0]}); pass a sweep's summary.json") \
                from None
        shapes = paper_shapes(summary)
    except ShapesError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for s in shapes:
        print(f"{s['verdict'].upper():>14}  {s['shape']} ({s['source']})\n{'':16}{s['observed']}")
    if args.out:
        atomic_write_text(Path(args.out), pd.DataFrame(shapes, columns=COLUMNS).to_csv(index=False))
        print(f"wrote {args.out} ({len(shapes)} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
