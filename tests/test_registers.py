"""The registers task (the default): generation, answer extraction, exact answer and step checking."""

import dataclasses

import pytest

from ttc.tasks import Problem, TaskSpecError, process_correct
from ttc.tasks.registers import RegistersSpec, RegistersTask

# x starts at 3 with ops +4, -2, +7 ; y starts at 5 with ops -1, +3   (mod 10)
# x: 3 -> 7 -> 5 -> 2        y: 5 -> 4 -> 7        answer "2,7"
PROB = Problem(problem_id=0, prompt="x=3:+4-2+7;y=5:-1+3?", answer="2,7", n_steps=5,
               meta={"start": {"x": 3, "y": 5}, "ops": {"x": [("+", 4), ("-", 2), ("+", 7)],
                                                          "y": [("-", 1), ("+", 3)]}, "final": {"x": 2, "y": 7}})
TASK = RegistersTask(n_train=200, n_test=30, n_ood=30)


def judge(text):
    ans = TASK.extract_answer(text)
    ok = TASK.check_answer(PROB, ans)
    chk = TASK.check_steps(PROB, text)
    return ans, ok, chk, process_correct(ok, chk)


@pytest.mark.parametrize("text", [
    "x=3+4=7;x=7-2=5;x=5+7=2;y=5-1=4;y=4+3=7#2,7",  # registers one after the other
    "y=5-1=4;x=3+4=7;y=4+3=7;x=7-2=5;x=5+7=2#2,7",  # interleaved
])
def test_any_interleaving_is_correct(text):
    ans, ok, chk, pc = judge(text)
    assert (ans, ok, pc) == ("2,7", True, True)
    assert chk.first_wrong_step == -1 and chk.complete


def test_arithmetic_slip_propagates_to_the_answer():
    # 7-2 written as 4: x ends at 4+7=1, the answer is wrong
    ans, ok, chk, pc = judge("x=3+4=7;x=7-2=4;x=4+7=1;y=5-1=4;y=4+3=7#1,7")
    assert (ok, pc) == (False, False)
    assert chk.step_correct == (True, False, False, True, True) and chk.first_wrong_step == 1


def test_right_answer_wrong_process_by_an_equivalent_wrong_operation():
    # y's first op is -1; applying +9 gives the same value mod 10, but it is not the question's operation
    ans, ok, chk, pc = judge("x=3+4=7;x=7-2=5;x=5+7=2;y=5+9=4;y=4+3=7#2,7")
    assert ok and not pc and chk.first_wrong_step == 3


def test_skipping_an_operation_is_wrong_and_incomplete():
    ans, ok, chk, pc = judge("x=3+4=7;x=7+7=4;y=5-1=4;y=4+3=7#4,7")
    assert not ok and chk.step_correct == (True, False, True, True) and not chk.complete


def test_guessed_answer_without_derivation_is_not_process_correct():
    ans, ok, chk, pc = judge("x=3+4=7#2,7")
    assert ok and not pc and chk.all_correct and not chk.complete


def test_out_of_order_operation_and_wrong_start_value_are_wrong():
    _, _, chk, _ = judge("x=3-2=1;y=4-1=3#1,3")
    assert chk.step_correct == (False, False)


@pytest.mark.parametrize("text", ["x=3+4=7", "#2", "#2,7,1", "#2,a", "#2,17", "#2,7#2,7", ""])
def test_invalid_answers_are_none(text):
    assert TASK.extract_answer(text) is None


def test_step_ends():
    text = "x=3+4=7;y=5-1=4#2,7"
    assert TASK.step_ends(text) == [7, 15]


def test_generation_deterministic_disjoint_and_gold_correct():
    a, b = RegistersTask(n_train=300, n_test=40, seed=5), RegistersTask(n_train=300, n_test=40, seed=5)
    assert [p.prompt for p in a.problems("test")] == [p.prompt for p in b.problems("test")]
    assert not {p.prompt for p in a.problems("train")} & {p.prompt for p in a.problems("test")}
    several = 0
    for prob in a.problems("test"):
        texts = {a.gold_solution(prob, s) for s in range(12)}
        several += len(texts) > 1
        for t in texts:
            ok = a.check_answer(prob, a.extract_answer(t))
            assert ok and process_correct(ok, a.check_steps(prob, t))
        assert a.train.min_steps <= prob.n_steps <= a.train.max_steps
    assert several > 20  # most problems have several correct solution strings


def test_ood_holds_the_long_problems_that_are_rare_in_training():
    ood = TASK.problems("ood")
    assert all(p.n_steps in (5, 6) for p in ood)
    train = RegistersTask(n_train=4000).problems("train")
    long_share = sum(p.n_steps >= 7 for p in train) / len(train)
    # P(7 or 8 steps) = (0.7**5 + 0.7**6) / sum(0.7**k, k=0..6) = 0.0936; 3 SE tolerance at n=4000 is 0.014
    assert abs(long_share - 0.0936) < 0.014
    ood_share = sum(p.n_steps in (5, 6) for p in train) / len(train)
    assert abs(ood_share - (0.7**3 + 0.7**4) / sum(0.7**k for k in range(7))) < 0.021  # 3 SE


@pytest.mark.parametrize("bad, word", [
    (dict(modulus=1), "modulus"), (dict(min_steps=1), "min_steps"), (dict(min_steps=5, max_steps=3), "min_steps"),
    (dict(n_registers=9), "n_registers"), (dict(max_operand=10), "max_operand"),
    (dict(max_steps=12, max_ops_per_register=5), "max_ops_per_register"), (dict(max_steps=50), "max_steps"),
])
def test_bad_task_parameters_are_rejected(bad, word):
    with pytest.raises(TaskSpecError, match=word):
        RegistersTask(train=dataclasses.replace(RegistersSpec(max_steps=6), **bad))


def test_length_decay_must_be_a_probability_ratio():
    with pytest.raises(TaskSpecError, match="length_decay"):
        RegistersSpec(length_decay=0).validate()


# -- table operations ("quanta") --------------------------------------------------------------------------
TABLES = RegistersSpec(max_steps=6, max_operand=3, n_tables=5, op_zipf=1.0, table_seed=4)


def test_table_operations_are_latin_squares_fixed_by_their_seed():
    tables = TABLES.tables()
    assert list(tables) == list("abcde")
    for t in tables.values():
        assert t.shape == (10, 10)
        for i in range(10):  # each row and column a permutation: one wrong value always changes the result
            assert sorted(t[i]) == list(range(10)) and sorted(t[:, i]) == list(range(10))
    again = dataclasses.replace(TABLES, min_steps=3).tables()  # other knobs: same tables
    assert all((again[k] == tables[k]).all() for k in tables)
    other = dataclasses.replace(TABLES, table_seed=5).tables()
    assert any((other[k] != tables[k]).any() for k in tables)


def test_table_steps_are_checked_against_their_table():
    task = RegistersTask(train=TABLES, ood=dataclasses.replace(TABLES, min_steps=5), n_train=50, n_test=5, n_ood=5)
    t = TABLES.tables()
    a34 = int(t["a"][3, 2])
    prob = Problem(problem_id=0, prompt="x=3:a2+1;y=5:-1?", answer=f"{(a34 + 1) % 10},4", n_steps=3,
                   meta={"start": {"x": 3, "y": 5}, "ops": {"x": [("a", 2), ("+", 1)], "y": [("-", 1)]},
                         "final": {"x": (a34 + 1) % 10, "y": 4}})
    good = f"y=5-1=4;x=3a2={a34};x={a34}+1={(a34 + 1) % 10}#{prob.answer}"
    chk = task.check_steps(prob, good)
    assert chk.all_correct and chk.complete and task.check_answer(prob, task.extract_answer(good))
    slip = (a34 + 3) % 10
    bad = f"y=5-1=4;x=3a2={slip};x={slip}+1={(slip + 1) % 10}#{(slip + 1) % 10},4"
    chk = task.check_steps(prob, bad)
    assert chk.step_correct == (True, False, False) and not task.check_answer(prob, task.extract_answer(bad))


def test_table_problems_gold_solutions_and_zipf_frequencies():
    task = RegistersTask(train=TABLES, ood=dataclasses.replace(TABLES, min_steps=5), n_train=3000, n_test=5,
                         n_ood=5)
    counts = {}
    for p in task.problems("train"):
        for ops in p.meta["ops"].values():
            for op, d in ops:
                assert 1 <= d <= 3
                counts[op] = counts.get(op, 0) + 1
        for seed in (0, 1):
            gold = task.gold_solution(p, seed)
            assert task.check_steps(p, gold).all_correct and task.extract_answer(gold) == p.answer
    total = sum(counts.values())
    expected = TABLES.op_weights()
    for name, w in zip(TABLES.op_names, expected):  # multinomial counts within 5 binomial SDs
        sd = (total * w * (1 - w)) ** 0.5
        assert abs(counts.get(name, 0) - total * w) < 5 * sd, name
    assert expected[0] / expected[-1] == pytest.approx(len(expected))  # Zipf exponent 1


def test_plain_registers_keep_their_original_stream():
    # no tables, uniform operations: the same problems as the task generated before tables existed
    task = RegistersTask(n_train=20, n_test=5, n_ood=5)
    assert [p.prompt for p in task.problems("train")[:3]] == [
        "x=2:+1+2;y=3:-6-5?", "x=6:-9+8-1;y=5:+8-1?", "x=1:-1-1+5+4;y=0:+1?"]
    assert [p.prompt for p in task.problems("test")[:2]] == ["x=5:-3-9+1+3-3;y=3:+1?", "x=4:-1+2+7;y=0:+9?"]


@pytest.mark.parametrize("bad, word", [
    (dict(n_tables=23), "n_tables"), (dict(op_zipf=-0.5), "op_zipf"),
])
def test_bad_table_parameters_are_rejected(bad, word):
    with pytest.raises(TaskSpecError, match=word):
        RegistersSpec(**bad).validate()


def test_ood_must_keep_the_same_tables():
    with pytest.raises(TaskSpecError, match="ood must keep"):
        RegistersTask(train=TABLES, ood=dataclasses.replace(TABLES, table_seed=9))
