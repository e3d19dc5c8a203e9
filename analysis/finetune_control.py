"""Cobbe's comparison at equal compute: each judged generator's verifiers against the same generator
fine-tuned on gold solutions for its verifier's training FLOPs.

The sweep's ``verifiers.finetune_control`` adds, for every judged generator ``G``, a control ``G+ft``
(``ttc.verifiers.finetune_control``) with a test pool of role ``finetune_control``, judged by ``G``'s
verifiers. From ``curves.csv`` and ``curves_by_problem.parquet`` this module reads, per ``G`` and N:
``G``'s majority and best-of-N by ORM and PRM, the control's single sample, majority and best-of-N, and
the paired per-problem differences that answer "verify, or spend the verifier's compute on the
generator?":

- ``ft_majority_minus_prm``: the control's majority@N − ``G``'s best-of-N by PRM (same N samples);
- ``ft_single_minus_prm``: the control's one sample − ``G``'s best-of-N by PRM (N times fewer samples).

Each has a normal 95% interval over test problems (the same problems in both pools).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

ROLE = "finetune_control"  # ttc.sweep_verifiers.FINETUNE_ROLE (analysis never imports the sweep)
SUFFIX = "+ft"  # a control of generator G is named G+ft


class NoControl(Exception):
    """The run has no fine-tuning control (``verifiers.finetune_control`` off, or no judged generator)."""


def _values(per_problem: pd.DataFrame, generator: str, role: str, rule: str, n: int) -> pd.Series:
    d = per_problem[(per_problem["generator"] == generator) & (per_problem["role"] == role)
                    & (per_problem["split"] == "test") & (per_problem["rule"] == rule) & (per_problem["n"] == n)]
    return d.set_index("problem_id")["value"]


def _paired(a: pd.Series, b: pd.Series, z: float) -> dict:
    """Mean of a − b over the problems both have, with its normal interval."""
    d = (a - b).dropna()
    if len(d) < 2:
        return {"delta": None, "ci": None}
    m, se = float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d)))
    return {"delta": round(m, 4), "ci": [round(m - z * se, 4), round(m + z * se, 4)]}


def finetune_control_rows(curves: pd.DataFrame, per_problem: pd.DataFrame, *, ns=(1, 4, 16, 64),
                          confidence: float = 0.95) -> list[dict]:
    """One row per judged generator and N (the ``ns`` both pools have): accuracies (fractions) and the
    paired differences above; ``extra_train_flops`` is the control's training FLOPs (6·P·tokens, P of the
    generator), the verifier's to within 0.1%."""
    test = curves[curves["split"] == "test"]
    controls = test[test["role"] == ROLE]
    if not len(controls):
        raise NoControl("no fine-tuning control in this run (verifiers.finetune_control is off, or no generator is "
                        "judged); set it to true with verifiers.judge, or measure it on a finished run's cache with "
                        "experiments/verifiers.py --designs lm_only_flops --lm-sample")
    z = float(norm.ppf(0.5 + confidence / 2))
    rows = []
    for ctl in sorted(controls["generator"].unique()):
        gen = ctl.removesuffix(SUFFIX)
        base = test[(test["role"] == "final") & (test["generator"] == gen)]
        own = controls[controls["generator"] == ctl]
        if not len(base):
            continue

        def acc(frame: pd.DataFrame, rule: str, n: int) -> float | None:
            hit = frame[(frame["rule"] == rule) & (frame["n"] == n)]["accuracy"]
            return round(float(hit.iloc[0]), 4) if len(hit) else None

        prm = "best_of_n:prm"
        for n in (n for n in ns if n in set(own["n"]) and n in set(base["n"])):
            verified = _values(per_problem, gen, "final", prm, n)
            rows.append({
                "generator": gen, "control": ctl, "params": int(base["params"].iloc[0]), "n": int(n),
                "extra_train_flops": float(own["train_flops"].iloc[0] - base["train_flops"].iloc[0]),
                "majority": acc(base, "majority", n), "best_of_n_orm": acc(base, "best_of_n:orm", n),
                "best_of_n_prm": acc(base, prm, n), "ft_single": acc(own, "majority", 1),
                "ft_majority": acc(own, "majority", n), "ft_best_of_n_logprob": acc(own, "best_of_n:logprob", n),
                "ft_best_of_n_prm": acc(own, prm, n),
                "ft_majority_minus_prm": _paired(_values(per_problem, ctl, ROLE, "majority", n), verified, z),
                "ft_single_minus_prm": _paired(_values(per_problem, ctl, ROLE, "majority", 1), verified, z)})
    if not rows:
        raise NoControl("the fine-tuning controls' generators have no final test curves in this run")
    return rows


def finetune_control_lines(rows: list[dict], why_not: str | None = None) -> list[str]:
    """The summary.md section; without rows, one line saying why (``why_not``: the reason the numbers were not
    computed) or nothing."""
    title = "## Verifier vs fine-tuning at equal training FLOPs (Cobbe's comparison)"
    if not rows:
        return ["", title, "", f"Not measured: {why_not}."] if why_not else []

    def pts(d: dict) -> str:
        return "—" if d["delta"] is None else f"{d['delta'] * 100:+.1f} [{d['ci'][0] * 100:+.1f}, {d['ci'][1] * 100:+.1f}]"

    def pct(x) -> str:
        return "—" if x is None else f"{x:.1%}"

    lines = ["", title, "",
             "Each judged generator G against G+ft: G fine-tuned on gold solutions for its verifier's training FLOPs "
             "(`ttc.verifiers.finetune_control`). Δ: paired over test problems, 95% CI, points.", "",
             "| generator | extra train FLOPs | N | majority | best-of-N ORM / PRM | G+ft: single | G+ft: majority@N | "
             "G+ft majority − PRM [CI] | G+ft single − PRM [CI] |",
             "|---|---:|---:|---:|---:|---:|---:|---|---|"]
    for r in rows:
        lines.append(f"| {r['generator']} | {r['extra_train_flops']:.2e} | {r['n']} | {pct(r['majority'])} | "
                     f"{pct(r['best_of_n_orm'])} / {pct(r['best_of_n_prm'])} | {pct(r['ft_single'])} | "
                     f"{pct(r['ft_majority'])} | {pts(r['ft_majority_minus_prm'])} | {pts(r['ft_single_minus_prm'])} |")
    return lines
