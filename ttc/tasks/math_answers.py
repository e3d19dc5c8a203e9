"""Final answers of real math tasks: extraction (GSM8K's ``####``, MATH's last ``\\boxed{}``) and grading
with math-verify.

- ``gsm8k_answer(text)``: the number after the last ``####``; when there is none, the last number in
  the text (the fallback most GSM8K harnesses use, stated here because it changes accuracy: a solution
  that never writes ``####`` but ends on the right number counts as right). Commas and a trailing
  period are dropped, ``$`` and units are ignored.
- ``boxed_answer(text)``: the content of the last ``\\boxed{...}`` (or ``\\fbox{...}``), braces matched.
- ``canonical(answer)``: the key answers are voted on. Equal rational numbers get one key (``0.5``,
  ``\\frac12`` and ``\\dfrac{1}{2}`` are all ``1/2``); anything else keeps its normalised LaTeX text,
  so ``x^2+1`` and ``1+x^2`` vote separately although ``grade`` finds both equal to a gold ``x^2+1``
  (voting by symbolic equivalence would need pairwise verification: a stated limitation).
- ``grade(gold, answer)``: ``math_verify.verify(parse(gold), parse(answer))``, gold first (the order
  math-verify documents: the gold decides what counts as a match). math-verify's timeouts use
  signals, which only work on a process's main thread; off the main thread (thread workers, Dask
  threads) grading runs without them.

math-verify is an optional dependency (``pip install "ttc[math]"``); a task that needs it says so
in one line when it is missing.
"""

from __future__ import annotations

import functools
import re
import threading
from typing import Any

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")
_GSM_MARK = "####"


class MathVerifyMissing(ImportError):
    """math-verify is not installed; the message says how to install it."""


def _math_verify() -> Any:
    try:
        import math_verify
    except ImportError:
        raise MathVerifyMissing('grading real math answers needs math-verify: pip install "ttc[math]" '
                                '(or pip install math-verify)') from None
    import logging
    # off the main thread parse and verify run without timeouts and warn so once per call: keep errors only
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    return math_verify


def _clean_number(token: str) -> str | None:
    """``1,234.50`` -> ``1234.50``; None when nothing numeric is left."""
    token = token.replace(",", "").rstrip(".")
    return token if token and token not in ("-", ".") else None


def last_number(text: str) -> str | None:
    """The last number written in ``text`` (commas inside it allowed), or None."""
    found = _NUMBER.findall(text)
    return _clean_number(found[-1]) if found else None


def gsm8k_answer(text: str) -> str | None:
    """GSM8K's final answer: the first number after the last ``####``, else the text's last number."""
    if _GSM_MARK in text:
        return last_number(text.rsplit(_GSM_MARK, 1)[1].split("\n", 1)[0]) or last_number(
            text.rsplit(_GSM_MARK, 1)[1])
    return last_number(text)


def boxed_answer(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` / ``\\fbox{...}`` with nested braces matched, or None
    (also when the last box is never closed: a truncated solution has no answer)."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    i = text.find("{", start)
    if i < 0:
        rest = text[start + len("\\boxed"):].strip()  # "\boxed 5" (no braces): the next token
        return rest.split()[0].rstrip(".$") if rest and text[start:].startswith("\\boxed ") else None
    depth = 0
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            inner = text[i + 1 : j].strip()
            return inner or None
    return None


def _on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@functools.lru_cache(maxsize=65536)
def _parsed(answer: str, timeouts: bool) -> tuple:
    mv = _math_verify()
    delimited = len(answer) > 1 and answer.startswith("$") and answer.endswith("$") and not answer.endswith("\\$")
    text = answer if delimited or "\\boxed" in answer else f"${answer}$"
    return tuple(mv.parse(text, parsing_timeout=5 if timeouts else None))


_LATEX_NOISE = re.compile(r"\\left|\\right|\\!|\\,|\\;|\\displaystyle")


def normalise(answer: str) -> str:
    """Whitespace collapsed, ``\\dfrac``/``\\tfrac`` -> ``\\frac``, sizing and spacing commands and a
    trailing period dropped: the text an answer is keyed by when it is not a number."""
    text = _LATEX_NOISE.sub("", answer).replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    return " ".join(text.split()).rstrip(".").strip()


def canonical(answer: str | None) -> str | None:
    """The key an extracted answer is voted on and stored under (see the module docstring): a number's
    exact rational form (``1/2``, ``1000``, ``-3``), else the normalised text; None stays None. Both
    forms parse back in math-verify, so grading the key grades the answer."""
    if answer is None:
        return None
    text = normalise(answer)
    if not text:
        return None
    parsed = _parsed(text, _on_main_thread())
    try:
        import sympy
        expr = parsed[0] if parsed else None
        if isinstance(expr, sympy.Basic) and expr.is_number and expr.is_real and expr.is_finite:
            value = sympy.nsimplify(expr, rational=True) if isinstance(expr, sympy.Float) else expr
            if isinstance(value, sympy.Rational):
                return str(value)
    except Exception:  # sympy can raise almost anything on odd input; the text is still a key
        pass
    return text


def grade(gold: str, answer: str | None) -> bool:
    """True when math-verify finds ``answer`` equal to ``gold`` (gold parsed first); None is wrong."""
    if answer is None:
        return False
    mv, timeouts = _math_verify(), _on_main_thread()
    gold_parsed, answer_parsed = _parsed(gold, timeouts), _parsed(answer, timeouts)
    if not gold_parsed or not answer_parsed:
        return " ".join(gold.split()) == " ".join(answer.split())
    return bool(mv.verify(list(gold_parsed), list(answer_parsed), timeout_seconds=5 if timeouts else None))
