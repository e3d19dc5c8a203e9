"""The depgraph task: generation, answer extraction, exact answer and step checking."""

import dataclasses

import pytest

from ttc.tasks import DepGraphSpec, DepGraphTask, Problem, TaskSpecError, lucky_share, process_correct
from ttc.tasks.depgraph import _STEP_RE

# A hand-built problem:  a=3, c=5 given;  b=c+a=8;  d=b-c=3;  e=d+a=6;  f=b+d=1 (mod 10);  x=a+c (distractor)
DEFS = {"a": ("given", 3), "c": ("given", 5), "b": ("derived", "c", "+", "a"), "d": ("derived", "b", "-", "c"),
        "e": ("derived", "d", "+", "a"), "f": ("derived", "b", "+", "d"), "x": ("derived", "a", "+", "c")}
VALUES = {"a": 3, "c": 5, "b": 8, "d": 3, "e": 6, "f": 1, "x": 8}
PROB = Problem(problem_id=0, prompt="c=5,e=d+a,a=3,b=c+a,x=a+c,d=b-c,f=b+d?e,f:", answer="6,1", n_steps=4,
               meta={"defs": DEFS, "values": VALUES, "targets": ["e", "f"], "needed": ["b", "d", "e", "f"]})
TASK = DepGraphTask(n_train=50, n_test=20, n_ood=20)


def judge(text):
    ans = TASK.extract_answer(text)
    ok = TASK.check_answer(PROB, ans)
    chk = TASK.check_steps(PROB, text)
    return ans, ok, chk, process_correct(ok, chk)


def test_correct_solution_in_two_valid_orders():
    for text in ("b=c+a=5+3=8;d=b-c=8-5=3;e=d+a=3+3=6;f=b+d=8+3=1#6,1",
                 "b=c+a=5+3=8;d=b-c=8-5=3;f=b+d=8+3=1;e=d+a=3+3=6#6,1"):
        ans, ok, chk, pc = judge(text)
        assert (ans, ok, pc) == ("6,1", True, True)
        assert chk.step_correct == (True,) * 4 and chk.first_wrong_step == -1 and chk.complete


def test_arithmetic_slip_is_the_first_wrong_step():
    # d = 8-5 = 3, written as 4: step 1 wrong; e and f then follow from the wrong d (wrong values)
    ans, ok, chk, pc = judge("b=c+a=5+3=8;d=b-c=8-5=4;e=d+a=4+3=7;f=b+d=8+4=2#7,2")
    assert (ans, ok, pc) == ("7,2", False, False)
    assert chk.step_correct == (True, False, False, False) and chk.first_wrong_step == 1


def test_right_answer_wrong_process_on_a_distractor():
    # x is not needed; miscomputing it (3+5 written as 9) leaves the answer right but the process wrong.
    ans, ok, chk, pc = judge("x=a+c=3+5=9;b=c+a=5+3=8;d=b-c=8-5=3;e=d+a=3+3=6;f=b+d=8+3=1#6,1")
    assert ok and not pc and chk.first_wrong_step == 0


def test_right_answer_by_guessing_is_not_process_correct():
    ans, ok, chk, pc = judge("b=c+a=5+3=8#6,1")  # skipped the derivation, guessed the answer
    assert ok and not pc and chk.all_correct and not chk.complete


def test_step_using_an_unknown_operand_is_wrong():
    # d needs b, which is not derived yet; e and f then need d, which was never validly derived
    _, _, chk, _ = judge("d=b-c=8-5=3;b=c+a=5+3=8;e=d+a=3+3=6;f=b+d=8+3=1#6,1")
    assert chk.step_correct == (False, True, False, False)


def test_copy_error_and_wrong_operation_are_wrong():
    # copy error (a=3 copied as 2); wrong operation (- for +); wrong definition restated (b=a+c)
    _, _, chk, _ = judge("b=c+a=5+2=7;b=c-a=5-3=2;b=a+c=3+5=8#6,1")
    assert chk.step_correct == (False, False, False)


def test_repeated_step_is_wrong():
    _, _, chk, _ = judge("b=c+a=5+3=8;b=c+a=5+3=8;d=b-c=8-5=3;e=d+a=3+3=6;f=b+d=8+3=1#6,1")
    assert chk.step_correct == (True, False, True, True, True)


@pytest.mark.parametrize("text", ["b=c+a=5+3=8", "#6", "#6,1,2", "#6,x", "#6,10", "#6,1#6,1", "", "#,"])
def test_invalid_answers_are_none(text):
    assert TASK.extract_answer(text) is None


def test_step_ends_mark_each_step():
    text = "b=c+a=5+3=8;d=b-c=8-5=3#6,1"
    assert TASK.step_ends(text) == [11, 23]
    assert [text[:e].split(";")[-1] for e in TASK.step_ends(text)] == ["b=c+a=5+3=8", "d=b-c=8-5=3"]


def test_generation_is_deterministic_and_splits_are_disjoint():
    a, b = DepGraphTask(n_train=200, n_test=50, seed=3), DepGraphTask(n_train=200, n_test=50, seed=3)
    assert [p.prompt for p in a.problems("test")] == [p.prompt for p in b.problems("test")]
    assert not {p.prompt for p in a.problems("train")} & {p.prompt for p in a.problems("test")}
    assert [p.prompt for p in DepGraphTask(n_train=200, seed=4).problems("train")] != \
        [p.prompt for p in a.problems("train")]


def test_gold_solutions_are_correct_and_varied():
    n_orders = []
    for prob in TASK.problems("test"):
        texts = {TASK.gold_solution(prob, seed) for seed in range(20)}
        n_orders.append(len(texts))
        for t in texts:
            ok = TASK.check_answer(prob, TASK.extract_answer(t))
            assert ok and process_correct(ok, TASK.check_steps(prob, t))
            assert all(_STEP_RE.match(s) for s in TASK.step_texts(t))
        assert TASK.spec_dict()["train"]["min_steps"] <= prob.n_steps <= TASK.spec_dict()["train"]["max_steps"]
    assert sum(n > 1 for n in n_orders) > len(n_orders) / 2  # most problems have several valid orders


def test_ood_has_more_distractors():
    ood = [p.meta["n_distractors"] for p in TASK.problems("ood")]
    assert min(ood) >= TASK.ood.min_distractors > TASK.train.max_distractors


@pytest.mark.parametrize("bad, word", [
    (dict(modulus=1), "modulus"), (dict(min_steps=5, max_steps=3), "min_steps"),
    (dict(n_targets=3, min_steps=2), "n_targets"), (dict(ops="*"), "ops"),
    (dict(max_steps=20, max_distractors=5, max_givens=5), "names"), (dict(min_givens=1), "min_givens"),
])
def test_bad_task_parameters_are_rejected_with_a_clear_error(bad, word):
    with pytest.raises(TaskSpecError, match=word):
        DepGraphTask(train=dataclasses.replace(DepGraphSpec(), **bad))


def test_unknown_split_is_rejected():
    with pytest.raises(TaskSpecError, match="split"):
        TASK.problems("validation")


def test_lucky_share():
    assert lucky_share([True, True, False, True], [True, False, False, False]) == pytest.approx(2 / 3)
