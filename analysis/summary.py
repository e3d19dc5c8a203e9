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


def build_summary(curves: pd.DataFrame, pools: pd.DataFrame, numbers: dict, meta: dict) -> dict:
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
