"""Headline numbers → ``summary.json`` / ``summary.md`` (what each paper's claim looks like here)."""

from __future__ import annotations

import pandas as pd

from analysis.finetune_control import finetune_control_lines
from analysis.shapes import multiplier_text, shape_lines


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
    ns = sorted({n for n in (16, 64, 256, int(gain["n"].max())) if n in set(gain["n"])})
    rows = []
    def delta(r, col):  # (difference, [low, high]) or None where that comparison is absent
        if col not in r or pd.isna(r[col]):
            return None
        return {"delta": round(float(r[col]), 4), "ci": [round(float(r[f"{col}_low"]), 4),
                                                          round(float(r[f"{col}_high"]), 4)]}

    shown = ~gain["scorer"].isin(["majority", "coverage", "logprob_per_token"])  # per-token: in the CSV
    for _, r in gain[gain["n"].isin(ns) & shown].iterrows():
        rows.append({"generator": r["generator"], "params": int(r["params"]), "split": r["split"],
                     "scorer": r["scorer"], "n": int(r["n"]),
                     "accuracy": round(float(r["accuracy"]), 4), "delta_vs_majority": round(float(r["delta"]), 4),
                     "delta_ci": [round(float(r["delta_low"]), 4), round(float(r["delta_high"]), 4)],
                     "vs_logprob": None if r["scorer"] == "logprob" else delta(r, "delta_vs_logprob"),
                     "vs_orm": delta(r, "delta_vs_orm") if r["scorer"] == "prm" else None,
                     "within_problem_auc": None if pd.isna(r["within_problem_auc"]) else
                     round(float(r["within_problem_auc"]), 3)})
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
                  verifier_data: pd.DataFrame | None = None, generators: pd.DataFrame | None = None) -> dict:
    """The headline numbers; ``generators`` (generators.csv) adds each size's kept training seed and its
    restarts' final losses where the sweep trained restarts (``generators.restarts``)."""
    gens = generator_table(pools)
    if generators is not None and {"seed", "restarts", "restart_losses"} <= set(generators.columns):
        final = generators[generators["final"].astype(bool)].set_index("generator")
        for col in ("seed", "restarts", "restart_losses"):
            gens[col] = gens["generator"].map(final[col])
    single = curves[(curves["role"] == "final") & (curves["split"] == "test") & (curves["rule"] == "single")
                    & (curves["n"] == 1)].set_index("generator")
    if len(single):  # each size's sampled pass@1 with its 95% CI over problems, and the gap to the size below
        gens["pass1_ci_low"] = gens["generator"].map(single["ci_low"])
        gens["pass1_ci_high"] = gens["generator"].map(single["ci_high"])
        above = (gens["pass1_ci_low"] > gens["pass1_ci_high"].shift(1)).astype(object)
        above.iloc[0] = None  # the smallest size has none below it
        gens["above_previous_beyond_ci"] = above
        below = gens["pass1_sampled"] < gens["pass1_sampled"].cummax().shift(1)  # under a smaller size
        gens["below_a_smaller_size"] = below
    ood = pools[pools["role"] == "ood"]
    largest = gens.iloc[-1]
    summary = {
        **meta,
        "generators": gens.round(4).to_dict(orient="records"),
        "largest_generator": str(largest["generator"]),
        "ood_pass1_sampled_largest": round(float(ood["accuracy"].iloc[0]), 4) if len(ood) else None,
        **numbers,
    }
    summary["verifiers_vs_majority"] = verifier_rows(verifier_gain, verifiers)
    summary["verifier_data"] = verifier_data_rows(verifier_data)
    tt = numbers.get("train_test_tradeoff", {})
    summary["test_compute_saved_per_10x_train"] = tt.get("test_compute_saved_per_10x_train")
    summary["test_compute_saved_per_10x_train_r2"] = tt.get("r2")
    return summary


def render_markdown(summary: dict) -> str:
    seeds = any((g.get("restarts") or 1) > 1 for g in summary.get("generators", []))  # restarts were trained
    lines = ["# ttc — headline numbers of the default sweep", "",
             f"Config hash `{summary.get('config_hash')}`; command `{summary.get('command')}`. Wall times of "
             "the run are in `run_log.json` beside this file (not committed: they differ from run to run).", "",
             *shape_lines(summary.get("shapes") or []),
             *([f"Shapes not judged: {summary['shapes_not_judged']}", ""] if summary.get("shapes_not_judged") else []),
             "## Generators (test split, sampled at T=1 unless greedy)", "",
             "| generator | P (non-emb) | train tokens | train FLOPs | pass@1 greedy | pass@1 sampled [95% CI] | "
             "process-correct | lucky share |" + (" kept seed (restarts' final losses) |" if seeds else ""),
             "|---|---:|---:|---:|---:|---:|---:|---:|" + ("---|" if seeds else "")]
    def pct(x) -> str:  # unknown (no step checker, no training record): a dash, not "nan%"
        return "—" if x is None or x != x else f"{x:.1%}"

    def kept(g: dict) -> str:  # "1 (0.137; 0.097)": the seed kept, every restart's final training loss
        if g.get("seed") is None or g["seed"] != g["seed"]:
            return " — |"
        losses = str(g.get("restart_losses") or "").replace(";", "; ")
        return f" {int(g['seed'])} ({losses}) |"

    for g in summary["generators"]:
        ci = f" [{g['pass1_ci_low']:.1%}, {g['pass1_ci_high']:.1%}]" if "pass1_ci_low" in g else ""
        flops = "—" if g["train_flops"] != g["train_flops"] else f"{g['train_flops']:.2e}"
        lines.append(f"| {g['generator']} | {g['params']:,} | {g['train_tokens']:,} | {flops} | "
                     f"{g['pass1_greedy']:.1%} | {g['pass1_sampled']:.1%}{ci} | {pct(g['process_correct_sampled'])} | "
                     f"{pct(g['lucky_share_sampled'])} |" + (kept(g) if seeds else ""))
    lines += ["", "## Selection at the largest N (the largest verified generator; on ood, the ood pool's)", ""]
    for key, vals in summary.items():
        if key.startswith("test_accuracy_at_n") or key.startswith("ood_accuracy_at_n"):
            gen = summary.get(f"{key.split('_')[0]}_accuracy_generator")
            lines.append(f"- {key}{f' ({gen})' if gen else ''}: " + ", ".join(f"{r} {a:.1%}" for r, a in vals.items()))
    if summary.get("verifiers_vs_majority"):
        lines += ["", "## Verifiers vs majority vote (each verified generator; exact best-of-N, paired 95% CI)", "",
                  "| generator | split | scorer | N | best-of-N | Δ vs majority [CI] | Δ vs log-prob [CI] | PRM − ORM [CI] "
                  "| within-problem AUC | train s |",
                  "|---|---|---|---:|---:|---|---|---|---:|---:|"]

        def pts(d):
            return "" if d is None else f"{d['delta'] * 100:+.1f} [{d['ci'][0] * 100:+.1f}, {d['ci'][1] * 100:+.1f}]"

        for r in summary["verifiers_vs_majority"]:
            auc = "" if r["within_problem_auc"] is None else f"{r['within_problem_auc']:.3f}"
            vs_maj = pts({"delta": r["delta_vs_majority"], "ci": r["delta_ci"]})
            lines.append(f"| {r['generator']} | {r['split']} | {r['scorer']} | {r['n']} | {r['accuracy']:.1%} | {vs_maj} | "
                         f"{pts(r.get('vs_logprob'))} | {pts(r.get('vs_orm'))} | {auc} |")
    if summary.get("verifier_data"):
        lines += ["", "## Verifier training data (Cobbe's Figure 5): best-of-N at the largest N", "",
                  "| verifier | problems × samples | training samples | best-of-N | majority | held-out AUC |",
                  "|---|---|---:|---:|---:|---:|"]
        for r in summary["verifier_data"]:
            lines.append(f"| {r['verifier']} | {r['train_problems']:,} × {r['samples_per_problem']} | "
                         f"{r['train_samples']:,} | {r['best_of_n']:.1%} | {r['majority']:.1%} | "
                         f"{r['val_within_problem_auc']:.3f} |")
    mult = summary.get("size_multiplier") or []
    if mult:
        lines += ["", "## Equivalent model size (Cobbe's 30×): P'/P where the single-sample curve reaches the "
                  "rule's accuracy", "",
                  "Interpolated in log P on the monotone (isotonic) single-sample curve of the family: a measurement; "
                  "past the largest size only a lower bound. CI: bootstrap over test problems (paired).", ""]
        dips = [g for g in summary.get("generators", []) if g.get("below_a_smaller_size")]
        if dips:
            lines += ["**Caution: single-sample accuracy is not monotone in P in this run** ("
                      + ", ".join(f"{g['generator']} {g['pass1_sampled']:.1%}" for g in dips)
                      + " below a smaller size): the isotonic curve is flat across the dip, so a multiplier read "
                        "off it is not a size law.", ""]
        lines += ["| generator | P | rule | N | accuracy | multiplier [95% CI] | kind |", "|---|---:|---|---:|---:|---|---|"]
        for r in mult:
            lines.append(f"| {r['generator']} | {r['params']:,} | {r['rule']} | {r['n']} | {r['accuracy']:.1%} | "
                         f"{multiplier_text(r)} | {r['kind']} |")
    tt = summary.get("train_test_tradeoff", {})
    if tt.get("slope") is not None:
        hex_k = summary.get("hex", {}).get("hex_test_compute_saved_per_10x_train")
        lines += ["", "## Train vs test compute (Jones's 15× per 10×)", ""] + tradeoff_lines(tt, hex_k)
    lines += finetune_control_lines(summary.get("verifier_vs_finetune") or [],
                                    summary.get("numbers_not_computed", {}).get("verifier_vs_finetune"))
    lines += search_lines(summary.get("search") or {})
    lines += self_improve_lines(summary.get("self_improve") or {})
    lines += self_improve_search_lines(summary.get("self_improve_search") or {})
    cov = summary.get("coverage_fit", {})
    if cov:
        lines += ["", "## Coverage law c(k) = exp(a·k^b) (Brown et al.)", ""]
        lines += [f"- {g}: a={f['a']}, b={f['b']}" for g, f in cov.items()]
    if "hex" in summary:
        lines += ["", "## Hex (Jones 2021)", "", "See `results/hex/summary.json`."]
        h = summary["hex"]
        for k in ("hex_test_compute_saved_per_10x_train", "hex_tradeoff_r2"):
            if h.get(k) is not None:
                lines.append(f"- {k}: {h[k]:.3g}")
    if summary.get("figures_not_drawn"):
        lines += ["", "## Figures not drawn (this run lacks their data)", ""]
        lines += [f"- {name}: {why}" for name, why in summary["figures_not_drawn"].items()]
    return "\n".join(lines) + "\n"


def tradeoff_lines(tt: dict, hex_k: float | None) -> list[str]:
    """The LM trade-off's fit, its two CIs and the crossings it rests on (analysis.tradeoff)."""
    ci, boot, saved = tt.get("slope_ci") or [None, None], tt.get("bootstrap_slope_ci"), tt.get("bootstrap_saved_ci")
    lines = [f"- rule `{tt['rule']}`: slope {tt['slope']} of log10 test vs log10 train compute, shared across "
             f"{tt.get('n_targets')} accuracy targets 0.01 apart; R² {tt['r2']} (within targets "
             f"{tt.get('r2_within')}); {tt['n_points']} frontier points in {tt.get('n_crossings')} crossings → "
             f"10× train compute saves **{tt['test_compute_saved_per_10x_train']}×** test compute"
             + (f"; Hex: {hex_k:.3g}×." if hex_k else ".")]
    if boot:
        lines.append(f"- 95% CIs of the slope: bootstrap over test problems ({tt.get('bootstrap_n')} replicates, the "
                     f"frontier refound in each) [{boot[0]}, {boot[1]}] → saves [{saved[0]}, {saved[1]}]×; t-based "
                     f"[{ci[0]}, {ci[1]}] (it counts neighbouring targets, which share checkpoints, as independent "
                     "points). Neither covers exactly: docs/model_size.md.")
    elif tt.get("bootstrap_reason"):
        lines.append(f"- t-based CI of the slope [{ci[0]}, {ci[1]}]; no bootstrap CI: {tt['bootstrap_reason']}.")
    crossing = tt.get("crossings") or []
    if crossing:
        lines.append("- crossings (checkpoints on the frontier at the same targets; each is one piece of evidence): "
                     + "; ".join(f"{' vs '.join(c['checkpoints'])} at {c['targets'][0]:.0%}–{c['targets'][1]:.0%}"
                                 for c in crossing) + ".")
    if len(crossing) < 4:
        lines.append(f"- caution: only {len(crossing)} crossings support this fit (generators that jump from chance "
                     "to competence between checkpoints make the trade-off a step, not a slope).")
    return lines


def search_lines(s: dict) -> list[str]:
    """The search section of summary.md: accuracy and FLOPs at the largest budget, Snell's compute-optimal
    mix against best-of-N, and the smaller generator with search against the larger one."""
    if not s:
        return []
    nmax = max(s["budgets"])
    acc, flops = s[f"accuracy_at_n{nmax}"], s[f"flops_per_problem_at_n{nmax}"]
    lines = ["", f"## Search over steps vs sampling (generator {s['generator']}, {s['n_problems']} test problems)", "",
             f"At budget N = {nmax} (search: as many as N samples; FLOPs = generation + verification per problem):", "",
             "| method | accuracy | FLOPs / problem |", "|---|---:|---:|"]
    lines += [f"| {r} | {a:.1%} | {flops[r]:.3g} |" for r, a in sorted(acc.items(), key=lambda kv: -kv[1])]
    if s.get("compute_optimal"):
        lines += ["", "Compute-optimal mix (Snell et al. 2024): method chosen per difficulty bin on one half, scored on "
                  "the other; saving = FLOPs best-of-N (PRM) needs for the mix's accuracy / the mix's FLOPs "
                  "(bootstrap 95% CI over evaluation problems).", "",
                  "| N | mix accuracy | best-of-N accuracy | gain [CI] | mix FLOPs | saving [CI] | kind |",
                  "|---:|---:|---:|---|---:|---|---|"]
        for r in s["compute_optimal"]:
            lines.append(f"| {r['n']} | {r['mix_accuracy']:.1%} | {r['best_of_n_accuracy']:.1%} | "
                         f"{r['accuracy_gain'] * 100:+.1f} [{r['accuracy_gain_ci_low'] * 100:+.1f}, "
                         f"{r['accuracy_gain_ci_high'] * 100:+.1f}] | {r['mix_flops']:.3g} | {r['compute_saving']:.2f}× "
                         f"[{r['saving_ci_low']:.2f}, {r['saving_ci_high']:.2f}] | {r['saving_kind']} |")
    if s.get("by_difficulty"):
        lines += ["", "Per difficulty bin (pass@1 quantiles of the generator's own pool, bin 1 = easiest; all searched "
                  "problems):", "", "| N | bin | problems | best-of-N (PRM) | majority | best search strategy |",
                  "|---:|---:|---:|---:|---:|---|"]
        for r in s["by_difficulty"]:
            lines.append(f"| {r['n']} | {r['bin']} | {r['n_problems']} | {r['best_of_n_prm']:.1%} | {r['majority']:.1%} | "
                         f"{r['best_search_accuracy']:.1%} ({r['best_search']}) |")
    if s.get("vs_larger"):
        v = s["vs_larger"]
        lines += ["", f"Smaller generator with search vs the larger one at equal inference FLOPs "
                  f"({v[0]['small_generator']} + {v[0]['rule']} vs {v[0]['large_generator']}, "
                  f"{v[0]['large_params'] / v[0]['small_params']:.1f}× the parameters):", "",
                  "| N | FLOPs / problem | small + search | larger's best sampling at those FLOPs | larger, one sample |",
                  "|---:|---:|---:|---|---:|"]
        for r in v:
            best = "n/a (below its one-sample cost)" if r["large_best_rule"] is None else \
                f"{r['large_best_at_same_flops']:.1%} ({r['large_best_rule']})"
            lines.append(f"| {r['n']} | {r['small_flops']:.3g} | {r['small_accuracy']:.1%} | {best} | "
                         f"{r['large_single_accuracy']:.1%} |")
    return lines


def self_improve_lines(si: dict) -> list[str]:
    """The self-improvement table of summary.md (``analysis.self_improve.self_improve_numbers``)."""
    if not si:
        return []
    def pct(x) -> str:
        return "—" if x is None or x != x else f"{x:.1%}"

    first = next(iter(si.values()))
    lines = ["", "## Self-improvement (STaR, RL, SFT at equal compute; results/self_improve.csv)", "",
             f"Test pass@1 at T=1 ({first['eval_problems']} problems x {first['eval_samples']} samples per evaluation), its paired change from the start (same "
             "problems and seed), the extra FLOPs (sampling + training + KL reference + verifier scoring, P = the "
             "generator's non-embedding parameters), SFT on gold solutions at the same FLOPs (interpolated), and the "
             "equivalent size P'/P on the family's single-sample curve (at the improved model's pass@1 on its own test pool).",
             "", "| method | iterations | start | final [95% CI] | change [95% CI] | extra FLOPs | SFT at equal FLOPs | "
             "false positives | equivalent size |", "|---|---:|---:|---:|---|---:|---:|---:|---|"]
    for method, r in si.items():
        mult = r.get("equivalent_size_multiplier")
        kind = r.get("equivalent_size_kind", "")
        size = "—" if mult is None else (f"{mult:.2f}×" if kind == "interpolated" else
                                         f"{'≥' if kind == 'lower_bound' else '≤'} {mult:.2f}× ({kind})")
        d, lo, hi = (x * 100 for x in (r["delta_vs_start"], *r["delta_ci"]))
        lines.append(f"| {method} | {r['iterations']} | {pct(r['start_accuracy'])} | {pct(r['accuracy'])} "
                     f"[{pct(r['ci'][0])}, {pct(r['ci'][1])}] | {d:+.1f} [{lo:+.1f}, {hi:+.1f}] | {r['extra_flops']:.2e} | "
                     f"{pct(r.get('sft_at_equal_flops'))} | {pct(r['false_positive_rate'])} | {size} |")
    return lines


def self_improve_search_lines(searched: dict) -> list[str]:
    """summary.md's table of step-level search on the improved generators and their start."""
    lines = []
    for rule, e in searched.items():
        budgets = sorted({int(n) for acc in e["accuracy"].values() for n in acc})
        lines += ["", f"Step-level search of the improved generators (`{rule}`, the start's verifiers, "
                  f"{e['n_problems']} test problems): accuracy and its paired change from the start "
                  f"`{e['start']}` [95% CI].", "",
                  "| generator | " + " | ".join(f"N = {n}" for n in budgets) + " |",
                  "|---|" + "---:|" * len(budgets)]
        for gen, acc in e["accuracy"].items():
            cells = []
            for n in budgets:
                a, d = acc.get(str(n)), e["change"].get(gen, {}).get(str(n))
                cell = "—" if a is None else f"{a:.1%}"
                if d is not None:
                    cell += f" ({d[0] * 100:+.1f} [{d[1] * 100:+.1f}, {d[2] * 100:+.1f}])"
                cells.append(cell)
            lines.append(f"| {gen} | " + " | ".join(cells) + " |")
    return lines
