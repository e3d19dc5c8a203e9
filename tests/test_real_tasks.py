"""Real tasks and real-model adapters on local files: GSM8K/MATH answers and grading, file tasks,
public reward-model adapters checked against a hand computation from their logits, and a tiny
GSM8K-format sweep with a locally built Hugging Face model (local run, Dask run, bad paths)."""

import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from ttc.reward_models import RewardModelSpec, load_reward_model
from ttc.tasks.base import TaskSpecError
from ttc.tasks.math_answers import boxed_answer, canonical, grade, gsm8k_answer
from ttc.tasks.mathdata import MathDataTask

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))
from tiny_hf import gsm8k_sweep, save_llama, word_tokenizer  # noqa: E402

GSM = TESTS / "data" / "gsm8k_sample.jsonl"
MATH = TESTS / "data" / "math_sample.jsonl"


# ---------------------------------------------------------------- answers and grading


@pytest.mark.parametrize("text, expected", [
    ("3 * 4 = 12\n#### 12", "12"), ("so #### 1,234.", "1234"), ("#### $5.50 dollars", "5.50"),
    ("no marker, it is 7 then 9", "9"), ("#### -3", "-3"), ("nothing numeric", None),
    ("#### 8\nQuestion: next 99", "8"),  # the marker's line wins over later text
])
def test_gsm8k_extraction(text, expected):
    assert gsm8k_answer(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("so \\boxed{\\frac{1}{2}}.", "\\frac{1}{2}"), ("\\boxed{1} then \\boxed{\\sqrt{2}}", "\\sqrt{2}"),
    ("\\boxed{\\{1,2\\}}", "\\{1,2\\}"), ("\\fbox{7}", "7"), ("\\boxed{3", None), ("no box 5", None),
])
def test_boxed_extraction(text, expected):
    assert boxed_answer(text) == expected


@pytest.mark.parametrize("gold, answer, same", [
    ("\\frac{1}{2}", "0.5", True), ("\\frac{1}{2}", "\\dfrac12", True), ("\\frac{1}{2}", "\\tfrac{1}{2}", True),
    ("1000", "1,000", True), ("10", "10\\text{ cm}", True), ("3\\sqrt{2}", "\\sqrt{18}", True),
    ("x^2+2x+1", "(x+1)^2", True), ("5", "\\$5", True), ("\\frac{1}{2}", "0.51", False), ("7", "8", False),
    ("7", None, False), ("\\frac{1}{2}", "abc", False),
])
def test_math_verify_grading(gold, answer, same):
    assert grade(canonical(gold), canonical(answer)) is same


def test_equal_numbers_share_one_voting_key():
    assert canonical("0.5") == canonical("\\frac12") == canonical("\\dfrac{1}{2}") == "1/2"
    assert canonical("1,000") == canonical("1000") == "1000" and canonical("72.") == "72"
    assert canonical("x^2 + 1") == "x^2 + 1" and canonical(None) is None and canonical("  ") is None


# ---------------------------------------------------------------- file tasks


def test_gsm8k_file_task_gold_prompts_and_steps():
    task = MathDataTask(kind="gsm8k", path=str(GSM), train_path=str(GSM), prompt="fewshot", fewshot=2)
    problems = task.problems("test")
    assert [p.answer for p in problems] == ["7", "8", "260", "1500", "15", "8"]
    assert problems[0].n_steps == 3 and problems[0].meta["question"].startswith("Tom has")
    prompt = problems[2].prompt
    assert prompt.count("Question:") == 3 and prompt.endswith(f"Question: {problems[2].meta['question']}\nAnswer:")
    assert "<<" not in prompt and "#### 7" in prompt  # calculator annotations dropped from the examples
    solution = "12 - 5 = 7\n\nso #### 7"
    assert task.extract_answer(solution) == "7" and task.check_answer(problems[0], task.extract_answer(solution))
    assert task.extract_answer("it is \\boxed{8}") == "8" and task.check_steps(problems[0], solution) is None
    assert task.step_texts(solution) == ["12 - 5 = 7", "so #### 7"] and task.step_ends(solution) == [10, 21]
    plain = MathDataTask(kind="gsm8k", path=str(GSM))
    assert plain.style == "plain" and plain.problems("test")[0].prompt.startswith("Question: Tom")


def test_math_file_task_and_chat_prompts(tmp_path):
    tok = word_tokenizer()
    tok.save_pretrained(tmp_path / "tok")
    task = MathDataTask(kind="math", path=str(MATH), tokenizer=str(tmp_path / "tok"))
    assert task.style == "chat"  # auto: the tokenizer has a chat template
    problems = task.problems("test")
    assert [p.answer for p in problems] == ["1/2", "4", "3\\sqrt{2}", "2", "x^2+2x+1", "19"]  # #4: from the box
    assert problems[0].prompt.startswith("<|user|>What is") and problems[0].prompt.endswith("<|end|><|assistant|>")
    assert task.extract_answer("so $\\boxed{0.5}$") == "1/2" and task.check_answer(problems[0], "1/2")
    assert task.check_answer(problems[4], task.extract_answer("\\boxed{(x+1)^2}"))
    assert task.step_texts("a\nb\n\nc") == ["a\nb", "c"] and not task.has_ood


def test_file_task_errors_name_the_key(tmp_path):
    with pytest.raises(TaskSpecError, match=r"task.path='nope.jsonl': no such file"):
        MathDataTask(kind="gsm8k", path="nope.jsonl")
    with pytest.raises(TaskSpecError, match="task.path is not set"):
        MathDataTask(kind="math")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "answer": "#### 3"}\nnot json\n')
    with pytest.raises(TaskSpecError, match="line 2: not a JSON object"):
        MathDataTask(kind="gsm8k", path=str(bad)).problems("test")
    bad.write_text('{"question": "q", "answer": "no marker"}\n')
    with pytest.raises(TaskSpecError, match="has no '#### <number>'"):
        MathDataTask(kind="gsm8k", path=str(bad)).problems("test")
    with pytest.raises(TaskSpecError, match="needs task.train_path"):
        MathDataTask(kind="gsm8k", path=str(GSM), prompt="fewshot")
    with pytest.raises(TaskSpecError, match="no chat template"):
        tok = word_tokenizer(chat=False)
        tok.save_pretrained(tmp_path / "plain")
        MathDataTask(kind="gsm8k", path=str(GSM), prompt="chat", tokenizer=str(tmp_path / "plain"))


def test_task_key_is_the_data_content_not_the_path(tmp_path):
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes(GSM.read_bytes())
    a, b = MathDataTask(kind="gsm8k", path=str(GSM)), MathDataTask(kind="gsm8k", path=str(copy))
    assert a.spec_dict() == b.spec_dict()
    copy.write_bytes(GSM.read_bytes().replace(b"#### 7", b"#### 6"))
    assert MathDataTask(kind="gsm8k", path=str(copy)).spec_dict() != a.spec_dict()


# ---------------------------------------------------------------- reward-model adapters


@pytest.fixture(scope="module")
def reward_dirs(tmp_path_factory):
    root, tok = tmp_path_factory.mktemp("rms"), word_tokenizer()
    return {kind: save_llama(kind, tok, root / kind, seed=i) for i, kind in
            enumerate(["causal", "token_classification", "value_head", "outcome"])}, tok


QUESTION, STEPS = "what is 2 plus 3 ?", ["2 plus 3 = 5", "so the answer is 5"]


def _ids(tok, words):
    return [tok.convert_tokens_to_ids(w) for w in words]


def test_math_shepherd_adapter_reads_plus_at_each_tag(reward_dirs):
    dirs, tok = reward_dirs
    rm = load_reward_model(RewardModelSpec(kind="math_shepherd", path=str(dirs["causal"]), aggregation="min"))
    ids, positions = rm.encode(QUESTION, STEPS)
    words = "what is 2 plus 3 ? 2 plus 3 = 5 ки so the answer is 5 ки".split()
    assert ids == _ids(tok, words) and positions == [11, 17]  # the tag after each step, by hand
    logits = rm.model(torch.tensor([ids])).logits[0].detach()
    plus, minus = tok.convert_tokens_to_ids("+"), tok.convert_tokens_to_ids("-")
    by_hand = [float(torch.softmax(logits[p, [plus, minus]], -1)[0]) for p in (11, 17)]
    out = rm.score([QUESTION, "what is 1 ?"], [STEPS, ["1"]])
    assert np.allclose(out.step_scores[0], by_hand, atol=1e-6) and np.isclose(out.scores[0], min(by_hand))
    assert out.tokens[0] == len(words) and len(out.step_scores[1]) == 1
    with pytest.raises(ValueError, match="must be exactly one"):
        load_reward_model(RewardModelSpec(kind="math_shepherd", path=str(dirs["causal"]), step_tag="so the"))


def test_token_classification_adapter_reads_label_one_at_separators(reward_dirs):
    dirs, tok = reward_dirs
    rm = load_reward_model(RewardModelSpec(kind="token_classification", path=str(dirs["token_classification"]),
                                           aggregation="prod", system_prompt="step"))
    ids, positions = rm.encode(QUESTION, STEPS)
    words = (["<|system|>", "step", "<|end|>", "<|user|>"] + QUESTION.split() + ["<|end|>", "<|assistant|>"]
             + "2 plus 3 = 5".split() + ["<extra_0>"] + "so the answer is 5".split() + ["<extra_0>", "<|end|>"])
    assert ids == _ids(tok, words) and positions == [17, 23]
    logits = rm.model(torch.tensor([ids])).logits[0].detach()
    by_hand = [float(torch.softmax(logits[p], -1)[1]) for p in (17, 23)]
    out = rm.score([QUESTION], [STEPS])
    assert np.allclose(out.step_scores[0], by_hand, atol=1e-6) and np.isclose(out.scores[0], np.prod(by_hand))


def test_value_head_adapter_reads_sigmoid_value_at_step_ends(reward_dirs):
    dirs, tok = reward_dirs
    rm = load_reward_model(RewardModelSpec(kind="value_head", path=str(dirs["value_head"]), aggregation="last"))
    ids, positions = rm.encode(QUESTION, STEPS)
    words = QUESTION.split() + "2 plus 3 = 5 so the answer is 5".split()
    assert ids == _ids(tok, words) and positions == [10, 15]  # the last token of each step
    from safetensors.torch import load_file
    head = load_file(str(dirs["value_head"] / "model.safetensors"))
    hidden = rm.model(torch.tensor([ids]), output_hidden_states=True).hidden_states[-1][0].detach()
    values = hidden @ head["v_head.summary.weight"][0] + head["v_head.summary.bias"][0]
    by_hand = torch.sigmoid(values[[10, 15]]).numpy()
    out = rm.score([QUESTION, QUESTION], [STEPS, STEPS[:1]])  # batched with a shorter, padded row
    assert np.allclose(out.step_scores[0], by_hand, atol=1e-5) and np.isclose(out.scores[0], by_hand[-1])
    assert np.allclose(out.step_scores[1], by_hand[:1], atol=1e-5)


def test_outcome_adapter_is_sigmoid_of_the_sequence_logit(reward_dirs):
    dirs, tok = reward_dirs
    rm = load_reward_model(RewardModelSpec(kind="outcome", path=str(dirs["outcome"])))
    ids, positions = rm.encode(QUESTION, STEPS)
    words = ["<|user|>"] + QUESTION.split() + ["<|end|>", "<|assistant|>"] + "2 plus 3 = 5 so the answer is 5".split() + ["<|end|>"]
    assert ids == _ids(tok, words) and positions == [len(words) - 1]
    by_hand = float(torch.sigmoid(rm.model(torch.tensor([ids])).logits[0, 0].detach()))
    out = rm.score([QUESTION], [STEPS])
    assert np.isclose(out.scores[0], by_hand, atol=1e-6) and len(out.step_scores[0]) == 0


def test_reward_model_bad_specs(tmp_path):
    with pytest.raises(ValueError, match="kind='nope' is unknown"):
        load_reward_model(RewardModelSpec(kind="nope", path="x"))
    from ttc.external import CheckpointPathError
    with pytest.raises(CheckpointPathError, match="reward_models.path='missing': no such directory"):
        load_reward_model(RewardModelSpec(kind="outcome", path="missing"))


# ---------------------------------------------------------------- a tiny GSM8K-format sweep


def _sweep(config: Path, tmp: Path, results: str, *extra: str) -> Path:
    from experiments import sweep as sweep_script
    args = ["--config", str(config), "--set", f'run.cache_dir="{tmp / "cache"}"',
            "--set", f'run.results_dir="{tmp / results}"', *extra]
    assert sweep_script.main(args) == 0
    return tmp / results


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    sys.path.insert(0, str(TESTS.parent))
    tmp = tmp_path_factory.mktemp("real")
    config = gsm8k_sweep(tmp)
    return config, tmp, _sweep(config, tmp, "r1", "--set", 'run.figure_formats=["png"]')


def test_tiny_gsm8k_sweep_writes_pools_curves_and_figures(real_run):
    config, tmp, out = real_run
    curves, pools = pd.read_csv(out / "curves.csv"), pd.read_csv(out / "pools.csv")
    assert set(curves["rule"]) == {"single", "majority", "best_of_n:logprob", "best_of_n:rm", "best_of_n:vh",
                                   "weighted_vote:vh", "coverage"}
    assert (curves["task"] == "gsm8k").all() and set(pools["role"]) == {"final", "greedy"}  # no ood split given
    assert "false_positive_rate" not in curves or curves["false_positive_rate"].isna().all()
    assert pools["process_correct"].isna().all() and pools["lucky_share"].isna().all()  # no step checker
    rm = curves[curves["rule"] == "best_of_n:rm"]
    assert (rm["verify_flops_per_problem"] > 0).all() and (rm["verifier"] == "rm").all()
    assert np.allclose(rm["verify_flops_per_problem"] / rm["n"], rm["verify_flops_per_problem"].iloc[0] / rm["n"].iloc[0])
    gens = pd.read_csv(out / "generators.csv")
    assert gens["key"].iloc[0].startswith("external-") and gens["train_flops"].isna().all()
    for name in ("best_of_n", "coverage", "compute_frontier"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 0 and (out / "figures" / f"{name}.csv").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert "model_size" in summary["figures_not_drawn"] and "—" in (out / "summary.md").read_text()
    pool_files = list((tmp / "cache" / "pools").glob("*.parquet"))
    pool = pd.read_parquet(pool_files[0])
    assert pool["answer"].dropna().map(lambda a: a == a.strip()).all()


def test_tiny_gsm8k_sweep_rerun_and_dask_cluster_equal_the_local_run(real_run, monkeypatch):
    pytest.importorskip("distributed")
    config, tmp, first = real_run
    again = _sweep(config, tmp, "r2")  # warm: everything read back from the cache
    for name in ("curves.csv", "pools.csv", "generators.csv"):
        assert (first / name).read_bytes() == (again / name).read_bytes(), name
    # a fresh cache, every cell computed on a 2-worker Dask LocalCluster reached by its scheduler address
    # (in-process workers keep the test fast; a process cluster or a remote scheduler is the same path)
    from distributed import LocalCluster

    import analysis.figures  # the CSVs are compared; the figures were checked on the local run
    monkeypatch.setattr(analysis.figures, "write_figures", lambda *a, **k: {})
    dask_tmp = tmp / "dask"
    dask_tmp.mkdir()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        on_dask = _sweep(config, dask_tmp, "r3", "--set", 'run.backend="dask"', "--set", "run.n_jobs=2",
                         "--set", "run.eval_jobs=2", "--set", f'run.scheduler="{cluster.scheduler_address}"')
        import ttc.parallel
        client = ttc.parallel._CLIENTS.pop((cluster.scheduler_address, 2))
        assert len(client.scheduler_info()["workers"]) == 2
        client.close()
    for name in ("curves.csv", "pools.csv"):
        a, b = pd.read_csv(first / name), pd.read_csv(on_dask / name)
        pd.testing.assert_frame_equal(a, b)


def test_tiny_gsm8k_sweep_on_ray_equals_the_local_run(real_run, monkeypatch):
    """Ray's joblib backend (run.backend="ray", optional: pip install "ray[default]"): every cell computed
    by Ray worker processes into a fresh cache gives the local run's tables."""
    ray = pytest.importorskip("ray")
    config, tmp, first = real_run
    import analysis.figures  # the CSVs are compared; the figures were checked on the local run
    monkeypatch.setattr(analysis.figures, "write_figures", lambda *a, **k: {})
    ray_tmp = tmp / "ray"
    ray_tmp.mkdir()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        on_ray = _sweep(config, ray_tmp, "r4", "--set", 'run.backend="ray"', "--set", "run.n_jobs=2",
                        "--set", "run.eval_jobs=2")
        assert len(ray.nodes()) == 1
    finally:
        ray.shutdown()
    timeline = json.loads((on_ray / "run_log.json").read_text())["lm_task_timeline"]
    workers = {t["pid"] for t in timeline if t["stage"] in ("pools", "curves")}
    assert len(workers) >= 2 and os.getpid() not in workers  # the cells ran in Ray worker processes
    for name in ("curves.csv", "pools.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(first / name), pd.read_csv(on_ray / name))


@pytest.mark.parametrize("override, message", [
    ('generators.checkpoints.tiny="/no/model"', "generators.checkpoints.tiny='/no/model': no such directory"),
    ('reward_models.rm.path="/no/rm"', "reward_models.rm.path='/no/rm': no such directory"),
    ('reward_models.rm.kind="nope"', "reward_models.rm.kind='nope' is unknown"),
    ('task.path="/no/data.jsonl"', "task.path='/no/data.jsonl': no such file"),
    ('task.prompt="chat"', "has no chat template"),
    ("pools.n_problems=7", "exceeds the 6 problems of task.path"),
    ('eval.rules=["best_of_n:zz"]', "unknown scorer 'zz'"),
    ('generators.engine="nope"', "generators.engine='nope'"),
    ('run.device="tpu"', "run.device='tpu'"),
])
def test_real_config_bad_paths_are_one_line_errors(real_run, tmp_path, capsys, override, message):
    from experiments import sweep as sweep_script
    config, tmp, _ = real_run
    code = sweep_script.main(["--config", str(config), "--set", override, "--set",
                              f'run.results_dir="{tmp_path / "never"}"'])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1, (override, err)
    assert not (tmp_path / "never").exists()
