"""Tests for ttc.fast_llama and ttc.sampling. All models are built locally with random weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
)

from ttc.fast_llama import LeanLlama
from ttc.sampling import sample, sequence_logprobs, stream_keys, stream_uniforms

VOCAB, EOS = 24, 0


def tiny_llama(seed: int = 0, *, kv_heads: int = 2, logit_scale: float = 1.0) -> LlamaForCausalLM:
    config = LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=kv_heads, max_position_embeddings=256,
                         tie_word_embeddings=False, bos_token_id=None, eos_token_id=None, pad_token_id=EOS)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():  # random init gives near-uniform next tokens; sharpen them
        model.lm_head.weight.mul_(logit_scale)
    return model


def tiny_qwen2() -> Qwen2ForCausalLM:
    config = Qwen2Config(vocab_size=VOCAB, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         tie_word_embeddings=False, bos_token_id=None, eos_token_id=None, pad_token_id=EOS)
    torch.manual_seed(1)
    return Qwen2ForCausalLM(config).eval()


def tiny_gpt2() -> GPT2LMHeadModel:
    config = GPT2Config(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4, n_positions=256,
                        bos_token_id=EOS, eos_token_id=EOS, pad_token_id=EOS)
    torch.manual_seed(2)
    return GPT2LMHeadModel(config).eval()


def random_prompts(n: int, lo: int = 2, hi: int = 12, seed: int = 0) -> list[list[int]]:
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.randint(lo, hi + 1, (n,), generator=gen)
    return [torch.randint(1, VOCAB, (int(m),), generator=gen).tolist() for m in lengths]


def same_tokens(a, b) -> bool:
    return len(a.tokens) == len(b.tokens) and all(np.array_equal(x, y) for x, y in zip(a.tokens, b.tokens))


# -- the lean forward against Hugging Face -------------------------------------------------------------
@pytest.mark.parametrize("kv_heads", [4, 2])
def test_lean_training_loss_and_gradients_match_hf(kv_heads):
    from ttc.fast_llama import LeanLlamaLoss
    model = tiny_llama(kv_heads=kv_heads).train()
    gen = torch.Generator().manual_seed(3)
    lengths = [5, 9, 14]
    ids = torch.zeros(3, 14, dtype=torch.long)
    labels = torch.full((3, 14), -100)
    mask = torch.zeros(3, 14, dtype=torch.long)
    for r, n in enumerate(lengths):  # right-padded; labels on each row's second half only
        ids[r, :n] = torch.randint(1, VOCAB, (n,), generator=gen)
        mask[r, :n] = 1
        labels[r, n // 2:n] = ids[r, n // 2:n]
    ref = model(input_ids=ids, attention_mask=mask, labels=labels).loss
    ref.backward()
    ref_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    loss = LeanLlamaLoss(model)(ids, labels)
    loss.backward()
    torch.testing.assert_close(loss, ref, atol=1e-5, rtol=0)
    for p, g in zip(model.parameters(), ref_grads):
        torch.testing.assert_close(p.grad, g, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("kv_heads", [4, 2])
def test_lean_logits_match_hf_forward(kv_heads):
    model = tiny_llama(kv_heads=kv_heads)
    lean = LeanLlama(model)
    for length in (1, 7, 33):
        tokens = torch.randint(0, VOCAB, (3, length))
        with torch.no_grad():
            ref = model(tokens).logits
        torch.testing.assert_close(lean.logits(tokens), ref, atol=1e-4, rtol=0)


def test_lean_decode_steps_match_hf_forward_through_compaction():
    """Prefill of right-padded prompts, then decode steps (shared-prompt attention) with rows
    dropped twice; every step's logits must equal HF's forward on the whole sequence."""
    model = tiny_llama()
    lean = LeanLlama(model)
    full = torch.randint(1, VOCAB, (2, 20))
    with torch.no_grad():
        ref = model(full).logits
    lengths = torch.tensor([5, 8])
    prompts = torch.zeros(2, 8, dtype=torch.long)
    prompts[0, :5], prompts[1] = full[0, :5], full[1, :8]
    logits, k, v = lean.prefill(prompts, lengths)
    torch.testing.assert_close(logits, ref[[0, 1], lengths - 1], atol=1e-4, rtol=0)
    source = torch.tensor([0, 0, 0, 1, 1, 1])  # three samples per prompt, all teacher-forced
    state = lean.start(k, v, lengths, source.clone(), max_steps=8)
    for step in range(7):
        out = lean.step(state, full[source, lengths[source] + step])
        torch.testing.assert_close(out, ref[source, lengths[source] + step], atol=1e-4, rtol=0)
        if step in (2, 4):
            keep = torch.tensor([1, 3, 5]) if step == 2 else torch.tensor([2])  # then prompt 0 is gone
            lean.compact(state, keep)
            source = source[keep]


# -- randomness -----------------------------------------------------------------------------------------
def _splitmix64_reference(z: int) -> int:
    mask = (1 << 64) - 1
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return z ^ (z >> 31)


def test_stream_uniforms_match_python_splitmix64():
    gamma, mask = 0x9E3779B97F4A7C15, (1 << 64) - 1
    keys = stream_keys(7, torch.tensor([0, 3, 1000]), torch.tensor([5, 0, 99]))
    got = stream_uniforms(keys, 4).numpy()
    for key, u in zip(keys.tolist(), got):
        z = _splitmix64_reference((key + 5 * gamma) & mask)
        assert u == (z >> 11) * 2.0 ** -53


def test_stream_uniforms_are_uniform():
    n = 20_000
    keys = stream_keys(0, torch.arange(n) // 100, torch.arange(n) % 100)
    u = stream_uniforms(keys, 0).numpy()
    # mean of U(0,1): 1/2, SE = sqrt(1/12 / n); deciles: 0.1 each, SE = sqrt(0.09 / n). Tolerance 3 SE.
    assert abs(u.mean() - 0.5) < 3 * np.sqrt(1 / 12 / n)
    deciles = np.bincount((u * 10).astype(int), minlength=10) / n
    assert np.all(np.abs(deciles - 0.1) < 3 * np.sqrt(0.09 / n))


def test_first_token_distribution_matches_tempered_softmax():
    """One prompt, n draws of one token at T = 0.7. Each token's frequency must lie within 3 SE
    (binomial, sqrt(p(1-p)/n)) of softmax(logits / T), plus 1e-9 for p = 0."""
    model = tiny_llama(logit_scale=30.0)
    prompt, n, temperature = [3, 1, 4, 1, 5], 6000, 0.7
    out = sample(model, [prompt], n_samples=n, temperature=temperature, max_new_tokens=1,
                 eos_token_id=EOS, seed=11, max_batch=6000)
    with torch.no_grad():
        p = torch.softmax(model(torch.tensor([prompt])).logits[0, -1] / temperature, -1).double().numpy()
    assert p.max() > 0.2  # the sharpened model is far from uniform, so the check has teeth
    freq = np.bincount(np.concatenate([t for t in out.tokens] + [[EOS]] * int(out.finished.sum())),
                       minlength=VOCAB) / n
    assert np.all(np.abs(freq - p) <= 3 * np.sqrt(p * (1 - p) / n) + 1e-9)


def test_seeded_sampling_is_reproducible_and_seeds_differ():
    model, prompts = tiny_llama(), random_prompts(5)
    kwargs = {"n_samples": 4, "max_new_tokens": 12, "eos_token_id": EOS}
    a, b = sample(model, prompts, seed=3, **kwargs), sample(model, prompts, seed=3, **kwargs)
    c = sample(model, prompts, seed=4, **kwargs)
    assert same_tokens(a, b) and np.array_equal(a.logprob, b.logprob)
    assert not same_tokens(a, c)


def test_streams_do_not_depend_on_batching_or_sample_count():
    model, prompts = tiny_llama(), random_prompts(6)
    kwargs = {"max_new_tokens": 12, "eos_token_id": EOS, "seed": 5}
    wide = sample(model, prompts, n_samples=5, max_batch=1024, **kwargs)
    narrow = sample(model, prompts, n_samples=5, max_batch=2, **kwargs)  # splits each prompt's samples
    fewer = sample(model, prompts, n_samples=3, **kwargs)
    assert same_tokens(wide, narrow)
    np.testing.assert_allclose(wide.logprob, narrow.logprob, atol=1e-4)
    first3 = wide.sample_index < 3
    assert all(np.array_equal(wide.tokens[i], fewer.tokens[j]) for j, i in enumerate(np.flatnonzero(first3)))


# -- contract: ordering, EOS, lengths, log-probs ------------------------------------------------------
def check_contract(out, prompts, *, n_samples, max_new_tokens):
    s = len(prompts) * n_samples
    assert np.array_equal(out.prompt_index, np.repeat(np.arange(len(prompts)), n_samples))
    assert np.array_equal(out.sample_index, np.tile(np.arange(n_samples), len(prompts)))
    assert len(out.tokens) == s and out.logprob.shape == out.gen_tokens.shape == out.finished.shape == (s,)
    assert out.prompt_tokens_processed == sum(len(p) for p in prompts)
    for tokens, finished, gen in zip(out.tokens, out.finished, out.gen_tokens):
        assert EOS not in tokens and 1 <= gen <= max_new_tokens
        assert gen == len(tokens) + finished  # EOS counted in gen_tokens, excluded from tokens
        assert finished or gen == max_new_tokens
    assert np.all(out.logprob <= 0)


def check_logprob_matches_teacher_forcing(model, out, prompts):
    completions = [list(t) + [EOS] * int(f) for t, f in zip(out.tokens, out.finished)]
    per_token = sequence_logprobs(model, [prompts[i] for i in out.prompt_index], completions, batch_size=7)
    assert [len(x) for x in per_token] == list(out.gen_tokens)
    np.testing.assert_allclose([x.sum() for x in per_token], out.logprob, atol=1e-4, rtol=0)


def test_eos_and_max_new_tokens():
    model, prompts = tiny_llama(), random_prompts(8)
    out = sample(model, prompts, n_samples=6, temperature=1.3, max_new_tokens=9, eos_token_id=EOS, seed=0)
    check_contract(out, prompts, n_samples=6, max_new_tokens=9)
    assert out.finished.any() and not out.finished.all()  # both cases exercised (1/24 EOS rate, 9 steps)
    # Hand-worked: make EOS the greedy first token of prompt 0, so its greedy sample is [] + EOS.
    with torch.no_grad():
        first = int(model(torch.tensor([prompts[0]])).logits[0, -1].argmax())
    greedy = sample(model, prompts[:1], n_samples=1, temperature=0, max_new_tokens=5, eos_token_id=first, seed=0)
    assert greedy.finished[0] and greedy.gen_tokens[0] == 1 and len(greedy.tokens[0]) == 0
    one = sample(model, prompts, n_samples=2, max_new_tokens=1, eos_token_id=EOS, seed=0)
    assert np.all(one.gen_tokens == 1)


def test_logprob_is_untempered_teacher_forced_sum():
    model, prompts = tiny_llama(logit_scale=5.0), random_prompts(6)
    out = sample(model, prompts, n_samples=3, temperature=0.8, max_new_tokens=15, eos_token_id=EOS, seed=2)
    check_logprob_matches_teacher_forcing(model, out, prompts)


def test_greedy_equals_generate():
    model, prompts = tiny_llama(logit_scale=3.0), random_prompts(5)
    out = sample(model, prompts, n_samples=2, temperature=0, max_new_tokens=15, eos_token_id=EOS, seed=0)
    for i, prompt in enumerate(prompts):
        ref = model.generate(torch.tensor([prompt]), do_sample=False, max_new_tokens=15, eos_token_id=EOS,
                             pad_token_id=EOS)[0, len(prompt):].tolist()
        ref = ref[:ref.index(EOS)] if EOS in ref else ref
        assert out.tokens[2 * i].tolist() == ref and out.tokens[2 * i + 1].tolist() == ref


# -- the generic engine ---------------------------------------------------------------------------------
def test_hf_engine_on_llama_agrees_with_lean_engine():
    model, prompts = tiny_llama(), random_prompts(5)
    kwargs = {"n_samples": 4, "max_new_tokens": 10, "eos_token_id": EOS, "seed": 9}
    lean, hf = sample(model, prompts, engine="lean", **kwargs), sample(model, prompts, engine="hf", max_batch=6,
                                                                          **kwargs)
    assert same_tokens(lean, hf) and np.array_equal(lean.finished, hf.finished)
    np.testing.assert_allclose(lean.logprob, hf.logprob, atol=1e-4)


@pytest.mark.parametrize("build", [tiny_gpt2, tiny_qwen2])
def test_hf_engine_on_other_models(build):
    model, prompts = build(), random_prompts(4)
    kwargs = {"n_samples": 3, "max_new_tokens": 8, "eos_token_id": EOS, "max_batch": 4}
    out = sample(model, prompts, temperature=1.5, seed=1, **kwargs)
    check_contract(out, prompts, n_samples=3, max_new_tokens=8)
    check_logprob_matches_teacher_forcing(model, out, prompts)
    assert same_tokens(out, sample(model, prompts, temperature=1.5, seed=1, **kwargs))
    greedy = sample(model, prompts, temperature=0, seed=0, **kwargs)
    for i, prompt in enumerate(prompts):
        ref = model.generate(torch.tensor([prompt]), do_sample=False, max_new_tokens=8, eos_token_id=EOS,
                             pad_token_id=EOS)[0, len(prompt):].tolist()
        ref = ref[:ref.index(EOS)] if EOS in ref else ref
        assert greedy.tokens[3 * i].tolist() == ref


def test_rejects_bad_arguments():
    model = tiny_llama()
    with pytest.raises(ValueError):
        sample(model, [[]], n_samples=1, max_new_tokens=3, eos_token_id=EOS, seed=0)
    with pytest.raises(ValueError):
        sample(model, [[1]], n_samples=0, max_new_tokens=3, eos_token_id=EOS, seed=0)
    with pytest.raises(ValueError):
        sample(model, [[1]], n_samples=1, max_new_tokens=3, eos_token_id=EOS, seed=0, engine="fast")
