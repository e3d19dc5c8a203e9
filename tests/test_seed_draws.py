"""analysis.seed_spread: the shares of drawable families, checked against a brute-force count."""

import itertools

import numpy as np
import pandas as pd
import pytest

from analysis.seed_spread import Bars, SeedSpreadError, family_draws, fig_seed_spread, main, size_table


def _table(acc: dict[str, list[float]], params: dict[str, int], half: float = 0.02) -> pd.DataFrame:
    rows = [{"generator": g, "params": params[g], "seed": k, "pass1": a, "ci_low": a - half, "ci_high": a + half}
            for g, accs in acc.items() for k, a in enumerate(accs)]
    return pd.DataFrame(rows).sample(frac=1.0, random_state=0)  # row order must not matter


def test_shares_equal_a_brute_force_count_over_every_draw():
    rng = np.random.default_rng(3)
    params = {"a": 10, "b": 100, "c": 1000, "d": 5000}
    acc = {g: list(rng.uniform(0, 1, size=k)) for g, k in zip(params, (2, 3, 1, 4))}
    half = 0.05
    got = family_draws(_table(acc, params, half))
    se = half / 1.959964
    mono = sep = 0
    for pick in itertools.product(*acc.values()):
        steps = np.diff(pick)
        mono += all(steps > 0)
        sep += all(steps > 1.96 * np.sqrt(2) * se)
    assert got["n_draws"] == 2 * 3 * 1 * 4 and got["sizes"] == ["a", "b", "c", "d"]
    assert got["monotone_share"] == pytest.approx(mono / 24) and got["separated_share"] == pytest.approx(sep / 24)
    first = acc["a"]
    assert got["step_up_share"]["a<b"] == pytest.approx(np.mean([b > a for a in first for b in acc["b"]]))


def test_restarts_equal_a_brute_force_count_over_every_subset_of_seeds():
    rng = np.random.default_rng(7)
    params = {"a": 10, "b": 100, "c": 1000}
    acc = {g: list(rng.uniform(0, 1, size=k)) for g, k in zip(params, (3, 4, 5))}
    table = _table(acc, params, 0.03)
    loss = {g: list(rng.permutation(len(a)) / 10.0) for g, a in acc.items()}  # distinct losses per size
    loss["c"][1] = loss["c"][3] = -1.0  # a tie: the lower seed wins
    table["final_loss"] = [loss[g][k] for g, k in zip(table["generator"], table["seed"])]
    bars = Bars(smallest_min=0.2, largest_min=0.3, largest_max=0.9)
    se = 0.03 / 1.959964
    for k in (1, 2, 3):
        got = family_draws(table, restarts=k, bars=bars)
        outcomes = []
        for g in params:
            best = [min(subset, key=lambda i: (loss[g][i], i)) for subset in itertools.combinations(range(len(acc[g])), k)]
            outcomes.append([acc[g][i] for i in best])
        mono = sep = meet = n = 0
        for pick in itertools.product(*outcomes):
            steps = np.diff(pick)
            n += 1
            mono += all(steps > 0)
            s = all(steps > 1.96 * np.sqrt(2) * se)
            sep += s
            meet += s and pick[0] >= 0.2 and 0.3 <= pick[-1] <= 0.9
        assert got["n_draws"] == n and got["restarts"] == k
        assert got["monotone_share"] == pytest.approx(mono / n) and got["separated_share"] == pytest.approx(sep / n)
        assert got["bars_share"] == pytest.approx(meet / n)
        assert got["means"] == pytest.approx([np.mean(o) for o in outcomes])
    with pytest.raises(SeedSpreadError, match="at least 4 seeds of every size; a have fewer"):
        family_draws(table, restarts=4)
    with pytest.raises(SeedSpreadError, match="lacks it"):
        family_draws(table.drop(columns="final_loss"), restarts=2)


def test_a_family_in_order_only_when_the_seeds_allow():
    params = {"s": 1, "m": 2}
    assert family_draws(_table({"s": [0.2, 0.3], "m": [0.5, 0.6]}, params))["monotone_share"] == 1.0
    crossed = family_draws(_table({"s": [0.2, 0.7], "m": [0.5, 0.6]}, params))
    assert crossed["monotone_share"] == 0.5 and crossed["means_monotone"] is True
    close = family_draws(_table({"s": [0.50], "m": [0.52]}, params, half=0.03))  # a rise inside the CI
    assert close["monotone_share"] == 1.0 and close["separated_share"] == 0.0


def test_size_table_and_figure_data():
    t = _table({"s": [0.2, 0.4], "m": [0.5, 0.9, 0.7]}, {"s": 10, "m": 100})
    sizes = size_table(t)
    assert sizes["generator"].tolist() == ["s", "m"] and sizes["n_seeds"].tolist() == [2, 3]
    assert sizes["mean"].tolist() == pytest.approx([0.3, 0.7]) and sizes["sd"].iloc[1] == pytest.approx(0.2)
    assert sizes["se_mean"].iloc[1] == pytest.approx(0.2 / np.sqrt(3))
    fig, data = fig_seed_spread(t)
    assert data["generator"].tolist() == ["s", "s", "m", "m", "m"] and data["seed"].tolist() == [0, 1, 0, 1, 2]
    assert "of the 6 drawable families in size order" in fig.axes[0].get_title()


@pytest.mark.parametrize("change, says", [(lambda t: t.drop(columns="pass1"), "lacks columns"),
                                          (lambda t: t.iloc[:0], "no rows"),
                                          (lambda t: pd.concat([t, t.iloc[:1]]), "repeats"),
                                          (lambda t: t[t["generator"] == "s"], "at least two sizes")])
def test_bad_tables_are_named(change, says):
    with pytest.raises(SeedSpreadError, match=says):
        family_draws(change(_table({"s": [0.2], "m": [0.5]}, {"s": 1, "m": 2})))


def test_command_line(tmp_path, capsys):
    path = tmp_path / "seeds.csv"
    _table({"s": [0.2, 0.3], "m": [0.5, 0.25]}, {"s": 1, "m": 2}).to_csv(path, index=False)
    assert main([str(path), "--figure", str(tmp_path / "f.png")]) == 0
    out = capsys.readouterr().out
    assert "4 draws: 75.0% monotone" in out and (tmp_path / "f.png").stat().st_size > 0
    assert main([str(path), "--restarts", "2"]) == 2 and "picks each size's run by final_loss" in capsys.readouterr().err
    assert main([str(tmp_path / "nope.csv")]) == 2
    assert "is not a file" in capsys.readouterr().err
