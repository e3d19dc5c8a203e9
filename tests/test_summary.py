"""analysis.summary's markdown: the trade-off's two CIs and crossings, the caution on a non-monotone family."""

from analysis.summary import render_markdown, tradeoff_lines

TRADEOFF = {"rule": "any", "slope": -1.2, "slope_ci": [-2.0, -0.4], "r2": 0.9, "r2_within": 0.5, "n_points": 12,
            "n_targets": 6, "test_compute_saved_per_10x_train": 15.85, "bootstrap_slope_ci": [-1.9, -0.7],
            "bootstrap_saved_ci": [5.01, 79.43], "bootstrap_n": 1000, "n_crossings": 2,
            "crossings": [{"checkpoints": ["a@1", "b@2"], "targets": [0.1, 0.12]},
                          {"checkpoints": ["b@2", "c@3"], "targets": [0.3, 0.3]}]}


def test_tradeoff_lines_give_both_cis_the_crossings_and_a_caution_when_few():
    text = "\n".join(tradeoff_lines(TRADEOFF, hex_k=4.1))
    assert "saves **15.85×**" in text and "Hex: 4.1×" in text
    assert "[-1.9, -0.7] → saves [5.01, 79.43]×" in text and "t-based [-2.0, -0.4]" in text
    assert "a@1 vs b@2 at 10%–12%; b@2 vs c@3 at 30%–30%" in text
    assert "caution: only 2 crossings" in text
    no_boot = {**TRADEOFF, "bootstrap_slope_ci": None, "bootstrap_reason": "no per-problem values"}
    assert "no bootstrap CI: no per-problem values" in "\n".join(tradeoff_lines(no_boot, None))


def gen(name, acc, below):
    return {"generator": name, "params": 1, "train_tokens": 1, "train_flops": 1.0, "pass1_greedy": acc,
            "pass1_sampled": acc, "process_correct_sampled": acc, "lucky_share_sampled": 0.0,
            "pass1_ci_low": acc, "pass1_ci_high": acc, "below_a_smaller_size": below}


def test_a_size_below_a_smaller_one_gets_a_caution_beside_the_multipliers():
    mult = [{"generator": "b", "params": 2, "rule": "majority", "n": 8, "accuracy": 0.2, "multiplier": 0.5,
             "ci": [0.4, 0.6], "kind": "interpolated"}]
    dip = {"generators": [gen("a", 0.3, False), gen("b", 0.1, True)], "size_multiplier": mult}
    assert "not monotone in P in this run** (b 10.0% below a smaller size)" in render_markdown(dip)
    rising = {"generators": [gen("a", 0.1, False), gen("b", 0.3, False)], "size_multiplier": mult}
    assert "not monotone" not in render_markdown(rising)


def test_the_generator_table_names_the_kept_seed_and_its_restarts_losses_only_when_restarts_ran():
    import pandas as pd

    from analysis.summary import build_summary
    pools = pd.DataFrame([{"generator": g, "role": role, "split": "test", "params": p, "train_flops": 1.0,
                           "checkpoint_tokens": 10, "accuracy": acc, "process_correct": acc, "lucky_share": 0.0,
                           "invalid_rate": 0.0, "distinct_correct_texts_per_problem": 1.0}
                          for g, p, acc in (("a", 1, 0.2), ("b", 2, 0.4)) for role in ("final", "greedy")])
    generators = pd.DataFrame([
        {"generator": "a", "final": False, "seed": 1, "restarts": 2, "restart_losses": "0.3;0.2"},
        {"generator": "a", "final": True, "seed": 1, "restarts": 2, "restart_losses": "0.137;0.097"},
        {"generator": "b", "final": True, "seed": 0, "restarts": 1, "restart_losses": "0.062"}])
    curves = pd.DataFrame(columns=["role", "split", "rule", "n", "generator", "ci_low", "ci_high"])
    summary = build_summary(curves, pools, {}, {}, generators=generators)
    text = render_markdown(summary)
    assert "kept seed (restarts' final losses)" in text
    assert "| a | 1 |" in text and "| 1 (0.137; 0.097) |" in text and "| 0 (0.062) |" in text
    one_run = build_summary(curves, pools, {}, {}, generators=generators.assign(restarts=1))
    assert "kept seed" not in render_markdown(one_run)
    assert "kept seed" not in render_markdown(build_summary(curves, pools, {}, {}))
