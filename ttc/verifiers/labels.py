"""Verifier inputs and labels: token layout, outcome labels, step-checker labels, Monte-Carlo labels.

A sample is laid out as ``prompt ids + solution ids (+ EOS when finished)``; char ``i`` of the
solution is token ``len(prompt_ids) + i`` (char-level tokenizer). The solution is cut into
*segments*: each written step with the separator that closes it (the PRM reads its score on the
separator, having seen the whole step), then the answer segment (answer digits and EOS). Segment
``k`` ends at token ``seg_end[k]``; it starts right after ``seg_end[k-1]`` (the first one at the
first solution token). An answer segment with no tokens (a truncated sample) ends where the previous
one did, so its probability is exactly 1.

Labels (never read at scoring time):
- outcome: final-answer correctness, one per sample (Cobbe's ORM);
- step: the task's exact step checker, up to and including the first wrong step (Lightman's
  human-label analogue); the answer segment is labelled by the final answer when every step is right;
- mc: for each step prefix, the fraction of M rollouts from it that reach the right answer
  (Math-Shepherd / Snell's estimate of the generator's value after that step).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ttc.tasks.base import Problem, Task
from ttc.tokenizer import Codec

MASKED = -1.0  # label value of a segment that carries no label


@dataclass(frozen=True)
class Layout:
    """Token layout of S samples, right padded to width T; K = most segments of any sample."""

    input_ids: np.ndarray  # [S, T] int64
    attention_mask: np.ndarray  # [S, T] int64
    solution_mask: np.ndarray  # [S, T] bool: solution tokens (text + EOS if finished)
    seg_end: np.ndarray  # [S, K] int64 token position of each segment's last token; padded with the last
    n_segments: np.ndarray  # [S] int64: written steps + 1 (the answer segment)
    seg_tokens: np.ndarray  # [S, K] int64 tokens in each segment (0 for padding and empty answers)

    @functools.cached_property
    def lengths(self) -> np.ndarray:  # [S] tokens per sequence (computed once: scoring reads it per row)
        return self.attention_mask.sum(1)


def layout(task: Task, codec: Codec, prompts: Sequence[str], texts: Sequence[str],
           finished: Sequence[bool]) -> Layout:
    """The token layout of ``prompts[i] + texts[i]`` (+ EOS where ``finished[i]``), right padded.

    Vectorised: each distinct prompt is encoded once, the texts in one table lookup (char-level
    tokenizer), and every array is filled by index arithmetic; the only per-row Python is the task's
    ``step_ends``. Equal to ``layout_rows``, the row-by-row construction (``tests/test_verifiers.py``)."""
    S = len(texts)
    if S == 0:
        raise ValueError("layout: no samples to lay out")
    if len(prompts) != S or len(finished) != S:
        raise ValueError(f"layout: {len(prompts)} prompts, {S} texts and {len(finished)} finished flags; "
                         "pass one of each per sample")
    slots: dict[str, int] = {}
    prompt_ids: list[np.ndarray] = []
    prompt_of = np.empty(S, dtype=np.int64)
    for r, prompt in enumerate(prompts):
        slot = slots.get(prompt)
        if slot is None:
            slot = slots[prompt] = len(prompt_ids)
            prompt_ids.append(np.asarray(codec.encode_prompts([prompt])[0], dtype=np.int64))
        prompt_of[r] = slot
    start = np.array([len(p) for p in prompt_ids], dtype=np.int64)[prompt_of]  # first solution token
    flat, n_text = codec.encode_texts(texts)
    fin = np.asarray(finished, dtype=bool)
    length = start + n_text + fin
    last = length - 1  # the final solution token (EOS when finished)
    T = int(length.max())
    cols = np.arange(T)
    input_ids = np.full((S, T), codec.pad_id, dtype=np.int64)
    for slot, ids in enumerate(prompt_ids):
        input_ids[np.flatnonzero(prompt_of == slot), : len(ids)] = ids
    row = np.repeat(np.arange(S), n_text)
    input_ids[row, start[row] + np.arange(len(flat)) - np.repeat(np.cumsum(n_text) - n_text, n_text)] = flat
    input_ids[fin, last[fin]] = codec.eos_id
    attention = (cols[None] < length[:, None]).astype(np.int64)
    solution = (cols[None] >= start[:, None]) & (cols[None] < length[:, None])
    # segment ends: each written step's last token (capped at the final token), then the final token; a
    # row with no solution tokens has one empty segment ending before the solution
    empty = np.fromiter((not text for text in texts), dtype=bool, count=S) & ~fin
    steps = [[] if blank else task.step_ends(text) for text, blank in zip(texts, empty)]
    n_steps = np.array([len(e) for e in steps], dtype=np.int64)
    n_seg = np.where(empty, 1, n_steps + 1)
    seg_row = np.repeat(np.arange(S), n_seg)
    ends = np.empty(len(seg_row), dtype=np.int64)
    first = np.cumsum(n_seg) - n_seg  # each row's first segment in the flat arrays
    written = np.concatenate([np.asarray(e, dtype=np.int64) for e in steps]) if n_steps.sum() else np.zeros(0, np.int64)
    step_row = np.repeat(np.arange(S), n_steps)
    step_pos = first[step_row] + np.arange(len(written)) - np.repeat(np.cumsum(n_steps) - n_steps, n_steps)
    ends[step_pos] = np.minimum(start[step_row] + written, last[step_row])
    ends[first + n_seg - 1] = np.where(empty, start - 1, last)
    stride = T + 2  # a running maximum within each row: offset rows apart so no row reaches the next
    ends = np.maximum.accumulate(ends + seg_row * stride) - seg_row * stride
    K = int(n_seg.max())
    seg_end = np.repeat(ends[first + n_seg - 1][:, None], K, axis=1)  # padded with the row's last end
    slot_in_row = np.arange(len(ends)) - first[seg_row]
    seg_end[seg_row, slot_in_row] = ends
    before = np.concatenate([[0], ends[:-1]])
    before[first] = start - 1
    seg_tokens = np.zeros((S, K), dtype=np.int64)
    seg_tokens[seg_row, slot_in_row] = ends - before
    return Layout(input_ids, attention, solution, seg_end, n_seg, seg_tokens)


def layout_rows(task: Task, codec: Codec, prompts: Sequence[str], texts: Sequence[str],
                finished: Sequence[bool]) -> Layout:
    """``layout`` built one row at a time: the plain construction it vectorises, kept as the reference
    its tests and ``benchmarks/bench_layout.py`` compare with."""
    prompt_ids = codec.encode_prompts(list(prompts))
    seqs, ends = [], []
    for p, text, fin in zip(prompt_ids, texts, finished):
        ids = np.concatenate([p, codec.encode_text(text), [codec.eos_id] if fin else []]).astype(np.int64)
        last, start = len(ids) - 1, len(p)
        step_end = [min(start + e, last) for e in task.step_ends(text)]
        seqs.append((ids, start))
        ends.append(np.array(step_end + [last], dtype=np.int64) if text or fin else np.array([start - 1]))
    S, T, K = len(seqs), max(len(s) for s, _ in seqs), max(len(e) for e in ends)
    input_ids = np.full((S, T), codec.pad_id, dtype=np.int64)
    attention = np.zeros((S, T), dtype=np.int64)
    solution = np.zeros((S, T), dtype=bool)
    seg_end = np.zeros((S, K), dtype=np.int64)
    seg_tokens = np.zeros((S, K), dtype=np.int64)
    for r, ((ids, start), e) in enumerate(zip(seqs, ends)):
        input_ids[r, : len(ids)] = ids
        attention[r, : len(ids)] = 1
        solution[r, start: len(ids)] = True
        e = np.maximum.accumulate(e)
        seg_end[r, : len(e)], seg_end[r, len(e):] = e, e[-1]
        seg_tokens[r, : len(e)] = np.diff(np.concatenate([[start - 1], e]))
    return Layout(input_ids, attention, solution, seg_end, np.array([len(e) for e in ends], dtype=np.int64),
                  seg_tokens)


def outcome_labels(is_correct: Sequence[bool]) -> np.ndarray:
    """[S] float: 1 for a right final answer."""
    return np.asarray(is_correct, dtype=np.float64)


def step_labels(step_correct: Sequence[Sequence[bool]], is_correct: Sequence[bool], K: int) -> np.ndarray:
    """[S, K] per-segment labels up to and including the first wrong step; MASKED after it.

    Segment k < n_steps is step k: 1 before the first wrong step, 0 at it. The answer segment (index
    n_steps) gets the final answer's correctness when every written step is right, else MASKED.
    """
    out = np.full((len(step_correct), K), MASKED)
    for r, (flags, ok) in enumerate(zip(step_correct, is_correct)):
        flags = list(flags)
        first = flags.index(False) if False in flags else -1
        if first >= 0:
            out[r, :first] = 1.0
            out[r, first] = 0.0
        else:
            out[r, : len(flags)] = 1.0
            out[r, len(flags)] = float(ok)
    return out


Rollout = Callable[[list[Problem], list[str], int], list[list[str]]]
"""rollout(problems, prefixes, m) -> for each prefix, m completed solution texts (prefix included)."""


def mc_labels(task: Task, problems: Sequence[Problem], texts: Sequence[str], is_correct: Sequence[bool],
              K: int, rollout: Rollout, *, m: int) -> np.ndarray:
    """[S, K] value targets: segment k = fraction of m rollouts after step k that reach the right answer.

    The answer segment is the sample's own correctness. Every step gets a label (no masking): a wrong
    step's rollouts rarely succeed, which is the signal."""
    out = np.full((len(texts), K), MASKED)
    jobs_p, jobs_prefix, where = [], [], []
    for r, (prob, text, ok) in enumerate(zip(problems, texts, is_correct)):
        ends = task.step_ends(text)
        for k, e in enumerate(ends):
            jobs_p.append(prob)
            jobs_prefix.append(text[: e + 1])  # the step and its separator
            where.append((r, k))
        out[r, len(ends)] = float(ok)
    if jobs_prefix:
        completions = rollout(jobs_p, jobs_prefix, m)
        for (r, k), prob, done in zip(where, jobs_p, completions):
            out[r, k] = np.mean([task.check_answer(prob, task.extract_answer(t)) for t in done])
    return out


def sampling_rollout(model, codec: Codec, *, max_new_tokens: int, temperature: float = 1.0,
                     seed: int = 0, max_batch: int = 1024) -> Rollout:
    """A Rollout that continues each prefix with ``ttc.sampling.sample`` from the generator."""
    from ttc.sampling import sample

    def rollout(problems: list[Problem], prefixes: list[str], m: int) -> list[list[str]]:
        ids = [np.concatenate([p, codec.encode_text(x)]).tolist()
               for p, x in zip(codec.encode_prompts([pr.prompt for pr in problems]), prefixes)]
        out = sample(model, ids, n_samples=m, temperature=temperature, max_new_tokens=max_new_tokens,
                     eos_token_id=codec.eos_id, seed=seed, max_batch=max_batch)
        texts = [codec.decode(t) for t in out.tokens]
        return [[prefixes[i] + texts[i * m + j] for j in range(m)] for i in range(len(prefixes))]

    return rollout
