"""Measuring a generator while it improves: test accuracy with its CI, process-correctness, the
false-positive rate, and what the learned verifiers think of its samples (the proxy reward)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.stats import norm

from ttc.self_improve.rollouts import Rollouts, rollouts
from ttc.tasks.base import Task
from ttc.tokenizer import Codec


def score_rollouts(verifier, vcodec: Codec, task: Task, ro: Rollouts) -> tuple[np.ndarray, list[np.ndarray]]:
    """(scores [S], per-segment scores) of a rollout batch by a ``ValueHeadLM`` verifier."""
    from ttc.verifiers.labels import layout
    from ttc.verifiers.score import score_layout
    f = ro.frame
    return score_layout(verifier, layout(task, vcodec, list(f["prompt"]), list(f["text"]), list(f["finished"])))


def paired_delta(after: list[float], before: list[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """(mean difference, CI low, CI high) of per-problem accuracies on the same problems (normal, paired)."""
    d = np.asarray(after, dtype=float) - np.asarray(before, dtype=float)
    z = float(norm.ppf(0.5 + confidence / 2))
    se = d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else 0.0
    return float(d.mean()), float(d.mean() - z * se), float(d.mean() + z * se)


def evaluate(model, codec: Codec, task: Task, *, n_problems: int, k: int, seed: int, max_new_tokens: int,
             verifiers: Mapping[str, tuple] = {}, confidence: float = 0.95) -> dict:
    """Sample ``k`` solutions at T=1 for each of the first ``n_problems`` test problems and report:
    ``test_accuracy`` (pass@1, the mean over problems of the share of right samples) with a normal CI
    over problems, ``process_correct``, ``false_positive_rate`` (right answer, wrong process: a share of
    all samples), ``pass_at_k`` and, for each verifier ``kind -> (model, codec)``, ``proxy_<kind>``: its
    mean score of the samples, the reward a policy trained on it sees. ``per_problem``: each problem's
    share of right samples (for paired comparisons between evaluations on the same problems and seed)."""
    problems = task.problems("test")[:n_problems]
    ro = rollouts(model, codec, task, problems, k=k, seed=seed, max_new_tokens=max_new_tokens)
    f = ro.frame
    by_problem = f.groupby("group")["is_correct"].mean().to_numpy(float)
    z = float(norm.ppf(0.5 + confidence / 2))
    acc, se = by_problem.mean(), by_problem.std(ddof=1) / np.sqrt(len(by_problem)) if len(by_problem) > 1 else 0.0
    right, process = f["is_correct"].to_numpy(bool), f["process_correct"].to_numpy(bool)
    out = {"test_accuracy": float(acc), "ci_low": float(acc - z * se), "ci_high": float(acc + z * se),
           "process_correct": float(process.mean()), "false_positive_rate": float((right & ~process).mean()),
           "pass_at_k": float(f.groupby("group")["is_correct"].any().mean()),
           "invalid_rate": float(f["answer"].isna().mean()), "mean_gen_tokens": float(f["gen_tokens"].mean()),
           "eval_problems": len(problems), "eval_samples": k, "per_problem": by_problem.tolist()}
    for kind, (vmodel, vcodec) in verifiers.items():
        out[f"proxy_{kind}"] = float(score_rollouts(vmodel, vcodec, task, ro)[0].mean())
    return out
