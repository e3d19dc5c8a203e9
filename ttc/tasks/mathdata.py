"""Real math tasks from local files: GSM8K and MATH / MATH500, through the same Task protocol as the
embedded tasks.

- **GSM8K** (JSONL lines with ``question`` and ``answer``; the gold is the number after ``####`` in
  ``answer``, commas dropped). A solution's answer: the number after its last ``####``, else its last
  ``\\boxed{}``, else its last number (``ttc.tasks.math_answers``).
- **MATH / MATH500** (``problem``, ``solution`` and optionally ``answer``; without ``answer`` the gold
  is the last ``\\boxed{}`` of the solution). A solution's answer: its last ``\\boxed{}``.

Grading is math-verify's (``grade``: gold first). Steps are lines (GSM8K) or blank-line separated
paragraphs (MATH); there is no step checker, so ``check_steps`` returns None and every "right answer,
wrong process" number is unknown for these tasks (pools mark ``process_correct`` as missing).

Prompts (``prompt``):
- ``plain``: ``Question: ...\\nAnswer:`` (GSM8K) or ``Problem: ...\\nSolution:`` (MATH);
- ``fewshot``: ``fewshot`` solved train problems in the same format first (needs ``train_path``);
- ``chat``: the tokenizer's chat template (``tokenizer``: a local checkpoint directory) with the user
  turn asking to reason step by step and box the answer, and the generation prompt added;
- ``auto``: ``chat`` when ``tokenizer`` names a tokenizer with a chat template, else ``fewshot`` when
  ``fewshot > 0``, else ``plain``.
The cache key of every pool holds the data files' SHA-256 and the rendered prompt format, never paths.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from ttc.tasks.base import Problem, StepCheck, TaskSpecError, check_split, require
from ttc.tasks.math_answers import boxed_answer, canonical, grade, gsm8k_answer

PROMPT_STYLES = ("auto", "plain", "fewshot", "chat")
INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."
_CALC = re.compile(r"<<[^>]*>>")  # GSM8K's calculator annotations inside gold solutions


@dataclass(frozen=True)
class Record:
    question: str
    solution: str
    answer: str  # the gold answer, canonical


def _read_jsonl(path: str, key: str) -> list[dict]:
    p = Path(path).expanduser()
    require(bool(path), f"{key} is not set; give the path of a local JSONL file")
    require(p.is_file(), f"{key}={path!r}: no such file; give the path of a local JSONL file")
    rows = []
    with open(p, "rb") as f:
        for i, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as err:
                raise TaskSpecError(f"{key}={path!r} line {i}: not a JSON object ({type(err).__name__}); "
                                    "each line must be one JSON object") from None
            require(isinstance(row, dict), f"{key}={path!r} line {i}: not a JSON object; each line must be one")
            rows.append(row)
    require(bool(rows), f"{key}={path!r} holds no problems")
    return rows


def _text_field(row: dict, name: str, where: str) -> str:
    value = row.get(name)
    require(isinstance(value, str) and value.strip() != "", f"{where}: field {name!r} is missing or not text")
    return str(value)


def _records(kind: str, path: str, key: str) -> list[Record]:
    out = []
    for i, row in enumerate(_read_jsonl(path, key), 1):
        where = f"{key}={path!r} problem {i}"
        if kind == "gsm8k":
            question, solution = _text_field(row, "question", where), _text_field(row, "answer", where)
            require("####" in solution, f"{where}: 'answer' has no '#### <number>' gold answer")
            gold = gsm8k_answer(solution)
            solution = _CALC.sub("", solution).strip()
        else:
            question, solution = _text_field(row, "problem", where), _text_field(row, "solution", where)
            given = row.get("answer")
            gold = given if isinstance(given, str) and given.strip() else boxed_answer(solution)
        key_answer = canonical(gold) if gold else None
        require(key_answer is not None, f"{where}: no gold answer could be read")
        out.append(Record(question.strip(), solution.strip(), str(key_answer)))
    return out


def _digest(path: str) -> str:
    return hashlib.sha256(Path(path).expanduser().read_bytes()).hexdigest() if path else ""


@dataclass(frozen=True)
class MathDataTask:
    """GSM8K (``kind="gsm8k"``) or MATH (``kind="math"``) problems read from local JSONL files."""

    kind: str = "gsm8k"
    path: str = ""  # the test split (required)
    train_path: str = ""  # the train split (few-shot examples, fine-tuning); optional
    ood_path: str = ""  # an out-of-distribution split; optional
    prompt: str = "auto"
    fewshot: int = 0
    tokenizer: str = ""  # a local checkpoint directory whose chat template renders chat prompts
    n_test: int = 0  # the first n test problems (0 = all)

    def __post_init__(self):
        require(self.kind in ("gsm8k", "math"), f"task kind {self.kind!r} is unknown; use gsm8k or math")
        require(self.prompt in PROMPT_STYLES, f"task.prompt={self.prompt!r} is unknown; use one of "
                + ", ".join(PROMPT_STYLES))
        require(self.fewshot >= 0, f"task.fewshot={self.fewshot} must be >= 0")
        require(self.n_test >= 0, f"task.n_test={self.n_test} must be >= 0 (0 = every problem of the file)")
        for key, path in (("task.path", self.path), ("task.train_path", self.train_path),
                          ("task.ood_path", self.ood_path)):
            require(key != "task.path" or bool(path), "task.path is not set; give the path of the local test "
                    "JSONL file")
            require(not path or Path(path).expanduser().is_file(), f"{key}={path!r}: no such file; give the path "
                    "of a local JSONL file (relative paths are read from the directory you run in)")
        if self.style == "fewshot":
            require(bool(self.train_path) and self.fewshot > 0,
                    "task.prompt='fewshot' needs task.train_path (the examples) and task.fewshot >= 1")
        if self.style == "chat":
            require(self._chat_template() is not None, f"task.tokenizer={self.tokenizer!r} has no chat "
                    "template; use task.prompt='plain' or 'fewshot', or a tokenizer that has one")

    @property
    def name(self) -> str:
        return self.kind

    @property
    def has_ood(self) -> bool:
        """Whether an out-of-distribution split was given (the sweep's ood pool needs one)."""
        return bool(self.ood_path)

    step_separator_by_kind = {"gsm8k": "\n", "math": "\n\n"}

    @property
    def step_separator(self) -> str:
        return self.step_separator_by_kind[self.kind]

    # -- prompts

    def _chat_template(self) -> str | None:
        if not self.tokenizer:
            return None
        require(Path(self.tokenizer).expanduser().is_dir(), f"task.tokenizer={self.tokenizer!r}: no such "
                "directory; give a local checkpoint directory (nothing is downloaded)")
        return getattr(self._loaded_tokenizer(), "chat_template", None)

    def _loaded_tokenizer(self):
        memo = self.__dict__.setdefault("_tok", {})
        if "t" not in memo:
            from transformers import AutoTokenizer
            memo["t"] = AutoTokenizer.from_pretrained(str(Path(self.tokenizer).expanduser()))
        return memo["t"]

    @property
    def style(self) -> str:
        """The prompt style in effect (``auto`` resolved once: it may load the tokenizer)."""
        memo = self.__dict__.setdefault("_style", {})
        if "s" not in memo:
            if self.prompt != "auto":
                memo["s"] = self.prompt
            elif self.tokenizer and self._chat_template() is not None:
                memo["s"] = "chat"
            else:
                memo["s"] = "fewshot" if self.fewshot > 0 and self.train_path else "plain"
        return memo["s"]

    def _labels(self) -> tuple[str, str]:
        return ("Question", "Answer") if self.kind == "gsm8k" else ("Problem", "Solution")

    def render(self, question: str) -> str:
        """The prompt text for one question in this task's prompt style."""
        q_label, a_label = self._labels()
        if self.style == "chat":
            messages = [{"role": "user", "content": f"{question}\n{INSTRUCTION}"}]
            return str(self._loaded_tokenizer().apply_chat_template(messages, tokenize=False,
                                                                     add_generation_prompt=True))
        shots = ""
        if self.style == "fewshot":
            examples = self._split_records("train")[: self.fewshot]
            shots = "".join(f"{q_label}: {r.question}\n{a_label}: {r.solution}\n\n" for r in examples)
        return f"{shots}{q_label}: {question}\n{a_label}:"

    # -- problems

    def _split_records(self, split: str) -> list[Record]:
        memo = self.__dict__.setdefault("_records", {})
        if split not in memo:
            path, key = {"test": (self.path, "task.path"), "train": (self.train_path, "task.train_path"),
                         "ood": (self.ood_path, "task.ood_path")}[split]
            memo[split] = _records(self.kind, path, key)
        return memo[split]

    def problems(self, split: str) -> list[Problem]:
        check_split(split)
        memo = self.__dict__.setdefault("_problems", {})
        if split not in memo:
            records = self._split_records(split)
            if split == "test" and self.n_test:
                records = records[: self.n_test]
            memo[split] = [Problem(i, self.render(r.question), r.answer, len(self.step_texts(r.solution)),
                                   meta={"question": r.question, "split": split}) for i, r in enumerate(records)]
        return memo[split]

    def gold_solution(self, problem: Problem, seed: int) -> str:
        return self._split_records("train" if problem.meta.get("split") == "train" else "test")[
            problem.problem_id].solution

    # -- judging

    def extract_answer(self, text: str) -> str | None:
        raw = boxed_answer(text) if self.kind == "math" else (
            gsm8k_answer(text) if "####" in text else boxed_answer(text) or gsm8k_answer(text))
        return canonical(raw)

    def check_answer(self, problem: Problem, answer: str | None) -> bool:
        return grade(problem.answer, answer)

    def check_steps(self, problem: Problem, text: str) -> StepCheck | None:
        return None  # real tasks have no exact step checker

    def step_texts(self, text: str) -> list[str]:
        return [s for s in text.split(self.step_separator) if s.strip()]

    def step_ends(self, text: str) -> list[int]:
        """Offset (exclusive) of the end of each non-empty step."""
        ends, pos = [], 0
        for part in text.split(self.step_separator):
            pos += len(part)
            if part.strip():
                ends.append(pos)
            pos += len(self.step_separator)
        return ends

    def spec_dict(self) -> dict:
        """The task's cache identity, computed once per task object (every pool and curves key reads it,
        and it hashes the data files)."""
        memo = self.__dict__.setdefault("_spec", {})
        if "d" not in memo:
            template = hashlib.sha256(self.render("{question}").encode()).hexdigest()[:16]
            memo["d"] = {"name": self.kind, "kind": self.kind, "test_sha256": _digest(self.path),
                         "train_sha256": _digest(self.train_path), "ood_sha256": _digest(self.ood_path),
                         "prompt_style": self.style, "fewshot": self.fewshot, "prompt_template": template,
                         "n_test": self.n_test}
        return dict(memo["d"])
