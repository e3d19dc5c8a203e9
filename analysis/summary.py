"""Headline numbers → ``summary.json`` / ``summary.md`` (what each paper's claim looks like here)."""

from __future__ import annotations

import pandas as pd


def generator_table(pools: pd.DataFrame) -> pd.DataFrame:
    """One row per final generator: params, train FLOPs, pass@1 greedy and sampled, process, lucky share."""
    fin = pools[(pools["role"].isin(["final", "greedy"])) & (pools["split"] == "test")]
    sampled = fin[fin["role"] == "final"].set_index("generator")
    greedy = fin[fin["role"] == "greedy"].set_index("generator")
    table = pd.DataFrame({
        "params": sampled["params"], "train_flops": sampled["train_flops"],
        "train_tokens": sampled["checkpoint_tokens"],
        "pass1_greedy": greedy["accuracy"], "pass1_sampled": sampled["accuracy"],
        "process_correct_sampled": sampled["process_correct"], "lucky_share_sampled": sampled["lucky_share"],
        "invalid_rate": sampled["invalid_rate"],
        "distinct_correct_texts_per_problem": sampled["distinct_correct_texts_per_problem"],
    }).sort_values("params")
    return table.reset_index()


def verifier_rows(gain: pd.DataFrame | None, verifiers: pd.DataFrame | None) -> list[dict]:
    """Best-of-N of each scorer vs majority at N = 16 and the largest N (paired CIs), per split."""
    if gain is None or not len(gain):
        return []
    ns = sorted({n for n in (16, int(gain["n"].max())) if n in set(gain["n"])})
    secs = {} if verifiers is None or not len(verifiers) else dict(zip(verifiers["kind"], verifiers["train_seconds"]))
    rows = []
    def delta(r, col):  # (difference, [low, high]) or None where that comparison is absent
        if col not in r or pd.isna(r[col]):
            return None
        return {"delta": round(float(r[col]), 4), "ci": [round(float(r[f"{col}_low"]), 4),
                                                          round(float(r[f"{col}_high"]), 4)]}

    shown = ~gain["scorer"].isin(["majority", "coverage", "logprob_per_token"])  # per-token: in the CSV
    for _, r in gain[gain["n"].isin(ns) & shown].iterrows():
        rows.append({"split": r["split"], "scorer": r["scorer"], "n": int(r["n"]),
                     "accuracy": round(float(r["accuracy"]), 4), "delta_vs_majority": round(float(r["delta"]), 4),
                     "delta_ci": [round(float(r["delta_low"]), 4), round(float(r["delta_high"]), 4)],
                     "vs_logprob": None if r["scorer"] == "logprob" else delta(r, "delta_vs_logprob"),
                     "vs_orm": delta(r, "delta_vs_orm") if r["scorer"] == "prm" else None,
                     "within_problem_auc": None if pd.isna(r["within_problem_auc"]) else
                     round(float(r["within_problem_auc"]), 3),
                     "train_seconds": None if r["scorer"] not in secs else round(float(secs[r["scorer"]]), 1)})
    return rows


def verifier_data_rows(data: pd.DataFrame | None) -> list[dict]:
    """Best-of-N at the largest N for each verifier-data point, with majority at that N."""
    if data is None or not len(data):
        return []
    nmax = int(data["n"].max())
    maj = data[(data["rule"] == "majority") & (data["n"] == nmax)]["accuracy"]
    d = data[(data["verifier"] != "none") & (data["n"] == nmax) & data["rule"].str.startswith("best_of_n")]
    return [{"verifier": r["verifier"], "train_problems": int(r["train_problems"]),
             "samples_per_problem": int(r["samples_per_problem"]), "train_samples": int(r["train_samples"]),
             "n": nmax, "best_of_n": round(float(r["accuracy"]), 4),
             "majority": round(float(maj.iloc[0]), 4) if len(maj) else None,
             "val_within_problem_auc": round(float(r["val_within_problem_auc"]), 3)}
            for _, r in d.sort_values(["verifier", "train_samples", "train_problems"]).iterrows()]


def build_summary(curves: pd.DataFrame, pools: pd.DataFrame, numbers: dict, meta: dict, *,
                  verifier_gain: pd.DataFrame | None = None, verifiers: pd.DataFrame | None = None,
                  verifier_data: pd.DataFrame | None = None) -> dict:
    gens = generator_table(pools)
    ood = pools[pools["role"] == "ood"]
    largest = gens.iloc[-1]
    summary = {
        **meta,
        "generators": gens.round(4).to_dict(orient="records"),
        "largest_generator": str(largest["generator"]),
        "ood_pass1_sampled_largest": round(float(ood["accuracy"].iloc[0]), 4) if len(ood) else None,
        **numbers,
    }
    mult = numbers.get("size_multiplier_by_rule", {})
    best_rule = max(mult, key=lambda r: mult[r]["accuracy"]) if mult else None
    if best_rule:
        summary["verifier_size_multiplier"] = {"rule": best_rule, **mult[best_rule]}
    summary["verifiers_vs_majority"] = verifier_rows(verifier_gain, verifiers)
    summary["verifier_data"] = verifier_data_rows(verifier_data)
    tt = numbers.get("train_test_tradeoff", {})
    summary["test_compute_saved_per_10x_train"] = tt.get("test_compute_saved_per_10x_train")
    summary["test_compute_saved_per_10x_train_r2"] = tt.get("r2")
    return summary


def render_markdown(summary: dict) -> str:
    lines = ["# ttc — headline numbers of the default sweep", "",
             f"Config hash `{summary.get('config_hash')}`; command `{summary.get('command')}`; "
             f"this run's language-model stages took {summary.get('lm_wall_seconds')} s (cached cells are reused; "
             "a cold run trains and samples everything).", "",
             "## Generators (test split, sampled at T=1 unless greedy)", "",
             "| generator | P (non-emb) | train FLOPs | pass@1 greedy | pass@1 sampled | process-correct | lucky share |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for g in summary["generators"]:
        lines.append(f"| {g['generator']} | {g['params']:,} | {g['train_flops']:.2e} | {g['pass1_greedy']:.1%} | "
                     f"{g['pass1_sampled']:.1%} | {g['process_correct_sampled']:.1%} | {g['lucky_share_sampled']:.1%} |")
    lines += ["", "## Selection at the largest N (largest generator)", ""]
    for key, vals in summary.items():
        if key.startswith("test_accuracy_at_n") or key.startswith("ood_accuracy_at_n"):
            lines.append(f"- {key}: " + ", ".join(f"{r} {a:.1%}" for r, a in vals.items()))
    if summary.get("verifiers_vs_majority"):
        lines += ["", "## Verifiers vs majority vote (largest generator; exact best-of-N, paired 95% CI)", "",
                  "| split | scorer | N | best-of-N | Δ vs majority [CI] | Δ vs log-prob [CI] | PRM − ORM [CI] "
                  "| within-problem AUC | train s |",
                  "|---|---|---:|---:|---|---|---|---:|---:|"]

        def pts(d):
            return "" if d is None else f"{d['delta'] * 100:+.1f} [{d['ci'][0] * 100:+.1f}, {d['ci'][1] * 100:+.1f}]"

        for r in summary["verifiers_vs_majority"]:
            auc = "" if r["within_problem_auc"] is None else f"{r['within_problem_auc']:.3f}"
            secs = "" if r["train_seconds"] is None else f"{r['train_seconds']:.0f}"
            vs_maj = pts({"delta": r["delta_vs_majority"], "ci": r["delta_ci"]})
            lines.append(f"| {r['split']} | {r['scorer']} | {r['n']} | {r['accuracy']:.1%} | {vs_maj} | "
                         f"{pts(r.get('vs_logprob'))} | {pts(r.get('vs_orm'))} | {auc} | {secs} |")
    if summary.get("verifier_data"):
        lines += ["", "## Verifier training data (Cobbe's Figure 5): best-of-N at the largest N", "",
                  "| verifier | problems × samples | training samples | best-of-N | majority | held-out AUC |",
                  "|---|---|---:|---:|---:|---:|"]
        for r in summary["verifier_data"]:
            lines.append(f"| {r['verifier']} | {r['train_problems']:,} × {r['samples_per_problem']} | "
                         f"{r['train_samples']:,} | {r['best_of_n']:.1%} | {r['majority']:.1%} | "
                         f"{r['val_within_problem_auc']:.3f} |")
    m = summary.get("verifier_size_multiplier")
    if m:
        bound = " (a lower bound: it beats every single-sample model)" if m["lower_bound"] else ""
        if "extrapolated_size_multiplier" in m:
            bound += (f"; extrapolating the two largest sizes' log-linear single-sample trend: "
                      f"~{m['extrapolated_size_multiplier']}x (an extrapolation, not a measurement)")
        lines += ["", "## Equivalent model size (Cobbe's 30×)", "",
                  f"- best selection rule `{m['rule']}` at the largest N: {m['accuracy']:.1%}, as good as a single-sample "
                  f"model of {m['equivalent_params']:,} params = **{m['size_multiplier']}×** the largest generator{bound}."]
    tt = summary.get("train_test_tradeoff", {})
    if tt.get("slope") is not None:
        lines += ["", "## Train vs test compute (Jones's 15× per 10×)", "",
                  f"- rule `{tt['rule']}`: slope {tt['slope']} of log10 test vs log10 train compute, "
                  f"R² {tt['r2']}, {tt['n_points']} frontier points → 10× train compute saves "
                  f"**{tt['test_compute_saved_per_10x_train']}×** test compute."]
        if tt["n_points"] < 8:
            lines.append(f"- caution: only {tt['n_points']} frontier points support this fit (generators that jump "
                         "from chance to competence between checkpoints make the trade-off a step, not a slope).")
    cov = summary.get("coverage_fit", {})
    if cov:
        lines += ["", "## Coverage law c(k) = exp(a·k^b) (Brown et al.)", ""]
        lines += [f"- {g}: a={f['a']}, b={f['b']}" for g, f in cov.items()]
    if "hex" in summary:
        lines += ["", "## Hex (Jones 2021)", "", "See `results/hex/summary.json`."]
        h = summary["hex"]
        for k in ("hex_test_compute_saved_per_10x_train", "hex_tradeoff_r2"):
            if k in h:
                lines.append(f"- {k}: {h[k]}")
    return "\n".join(lines) + "\n"
