"""Sample pools: K sampled solutions per problem, judged exactly, one row per sample.

A pool is the raw material of every curve: sample once at the largest N, then every smaller N comes
from an unbiased estimator over the pool (``ttc.estimators``). Pools are cached as parquet keyed by a
hash of (checkpoint, task spec, split, sampling parameters, seed); see ``POOL_COLUMNS`` for the schema.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import partial

import numpy as np
import pandas as pd

from ttc.cache import Cache, content_key
from ttc.compute import flop_params, inference_flops
from ttc.sampling import sample
from ttc.tasks.base import Problem, Task, check_split, process_correct
from ttc.tokenizer import Codec

# Column -> meaning (units). Also documented in docs/pools.md.
POOL_COLUMNS = {
    "problem_id": "int64, the problem's id within its split",
    "sample_idx": "int64, 0..K-1 within the problem",
    "text": "str, the generated solution (prompt and EOS excluded)",
    "answer": "str or null: canonical extracted final answer; null when none could be extracted",
    "is_correct": "bool, answer equals the gold answer",
    "step_correct": "list<bool>, exact per-step correctness (empty when the task has no step checker)",
    "first_wrong_step": "int64, index of the first wrong step, -1 when none",
    "process_correct": "bool, right answer reached by an all-correct, complete derivation (missing, <NA>, when the task has no step checker)",
    "n_steps": "int64, steps written",
    "gold_steps": "int64, steps in a minimal correct solution (difficulty)",
    "finished": "bool, EOS produced before max_new_tokens",
    "gen_tokens": "int64, tokens generated (EOS counted)",
    "prompt_tokens": "int64, prompt length in tokens (processed once per problem)",
    "logprob": "float64, generator log-probability of the sample at temperature 1 (nats)",
    "gen_flops": "float64, 2·P·(gen_tokens + prompt_tokens/K): this sample's share of generation FLOPs",
}


@dataclass(frozen=True)
class PoolSpec:
    split: str = "test"
    n_problems: int = 500  # the first n problems of the split
    n_samples: int = 64  # K per problem
    temperature: float = 1.0
    max_new_tokens: int = 96
    seed: int = 0

    def validate(self) -> None:
        check_split(self.split)
        if self.n_problems < 1 or self.n_samples < 1 or self.max_new_tokens < 1:
            raise ValueError("pool: n_problems, n_samples and max_new_tokens must be >= 1")
        if self.temperature < 0:
            raise ValueError(f"pool.temperature={self.temperature} must be >= 0")


def judge(task: Task, problems: list[Problem], problem_index: np.ndarray, texts: list[str]) -> dict:
    """Exact judgement of each text against its problem: answer, correctness, steps."""
    cols: dict[str, list] = {k: [] for k in ("answer", "is_correct", "step_correct", "first_wrong_step",
                                             "process_correct", "n_steps", "gold_steps")}
    for i, text in zip(problem_index, texts):
        prob = problems[int(i)]
        ans = task.extract_answer(text)
        ok = task.check_answer(prob, ans)
        chk = task.check_steps(prob, text)
        pc = process_correct(ok, chk)
        cols["answer"].append(ans)
        cols["is_correct"].append(ok)
        cols["step_correct"].append(list(chk.step_correct) if chk else [])
        cols["first_wrong_step"].append(chk.first_wrong_step if chk else -1)
        cols["process_correct"].append(pc)  # None: the task has no step checker
        cols["n_steps"].append(len(chk.step_correct) if chk else 0)
        cols["gold_steps"].append(prob.n_steps)
    return cols


def draw_pool(model, codec: Codec, task: Task, spec: PoolSpec, *, progress: bool = False,
              max_batch: int = 1024) -> pd.DataFrame:
    """Sample and judge a pool (no caching; see ``cached_pool``)."""
    spec.validate()
    problems = task.problems(spec.split)
    if spec.n_problems > len(problems):
        raise ValueError(f"pool.n_problems={spec.n_problems} exceeds the {len(problems)} problems of split "
                         f"{spec.split!r}; lower it or enlarge the split")
    problems = problems[: spec.n_problems]
    prompts = codec.encode_prompts([p.prompt for p in problems])
    # another engine (ttc.vllm_backend) draws with its own .sample, same arguments, same result type
    draw = model.sample if getattr(model, "draws_itself", False) else partial(sample, model)
    out = draw(prompts, n_samples=spec.n_samples, temperature=spec.temperature,
               max_new_tokens=spec.max_new_tokens, eos_token_id=codec.eos_id, seed=spec.seed,
               max_batch=max_batch, progress=progress)
    texts = [codec.decode(t) for t in out.tokens]
    pidx = np.asarray(out.prompt_index)
    frame = {"problem_id": np.array([problems[i].problem_id for i in pidx], dtype=np.int64),
             "sample_idx": np.asarray(out.sample_index, dtype=np.int64), "text": texts}
    frame.update(judge(task, problems, pidx, texts))
    P = model.params if getattr(model, "draws_itself", False) else flop_params(model)
    prompt_len = np.array([len(p) for p in prompts], dtype=np.int64)[pidx]
    frame.update({
        "finished": np.asarray(out.finished, dtype=bool),
        "gen_tokens": np.asarray(out.gen_tokens, dtype=np.int64),
        "prompt_tokens": prompt_len,
        "logprob": np.asarray(out.logprob, dtype=np.float64),
        "gen_flops": inference_flops(P, 1) * (np.asarray(out.gen_tokens) + prompt_len / spec.n_samples),
    })
    df = pd.DataFrame(frame)
    unknown = df["process_correct"].isna()
    # a task without a step checker (a real dataset): process-correctness is missing, not False
    df["process_correct"] = df["process_correct"].astype("boolean" if unknown.any() else bool)
    df["first_wrong_step"] = df["first_wrong_step"].astype(np.int64)
    return df[list(POOL_COLUMNS)]


def pool_key(checkpoint_key: str, task: Task, spec: PoolSpec) -> str:
    # A split's problems depend on the train spec (test problems seen in training are dropped), the
    # seed and that split's own spec -- not on the other held-out split or on the split sizes.
    view = {k: v for k, v in task.spec_dict().items() if k not in ("n_test", "n_ood")}
    if spec.split != "ood":
        view.pop("ood", None)
    return content_key("pool", checkpoint_key, view, asdict(spec))


def cached_pool(cache: Cache, checkpoint_key: str, model_loader, codec: Codec, task: Task, spec: PoolSpec,
                *, progress: bool = False) -> tuple[pd.DataFrame, bool]:
    """(pool, hit). ``model_loader()`` is only called on a miss."""
    key = pool_key(checkpoint_key, task, spec)
    return cache.frame("pools", key, lambda: draw_pool(model_loader(), codec, task, spec, progress=progress),
                       extra_meta={"checkpoint": checkpoint_key, "spec": asdict(spec)})
