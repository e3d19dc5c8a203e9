"""The figure cache: a warm rerun copies the figures drawn before from the same tables and code."""

import pandas as pd

from analysis.figure_cache import FigureCache, figure_key


def test_key_follows_the_inputs_and_nothing_else():
    a = pd.DataFrame({"x": [1, 2], "y": [0.5, 0.25]})
    assert figure_key("lm", a) == figure_key("lm", a.copy())
    assert figure_key("lm", a) != figure_key("lm", a.assign(y=[0.5, 0.26]))
    assert figure_key("lm", a) != figure_key("lm", a.astype({"x": float}))  # dtypes count
    assert figure_key("lm", a) != figure_key("hex", a)
    assert figure_key("lm", a, ["best_of_n"]) != figure_key("lm", a, ["majority"])


def test_store_then_restore_copies_the_files_and_numbers(tmp_path):
    out, cache = tmp_path / "figures", FigureCache(tmp_path / "cache")
    out.mkdir()
    (out / "a.png").write_bytes(b"png bytes")
    (out / "a.csv").write_text("x\n1\n")
    assert cache.restore("k1", out) is None
    cache.store("k1", [out / "a.png", out / "a.csv"], {"headline": 0.5})
    fresh = tmp_path / "elsewhere"
    got = cache.restore("k1", fresh)
    assert got == {"files": ["a.png", "a.csv"], "numbers": {"headline": 0.5}}
    assert (fresh / "a.png").read_bytes() == b"png bytes" and (fresh / "a.csv").read_text() == "x\n1\n"
    assert not list(fresh.glob(".*"))  # no temporary files left


def test_a_damaged_entry_counts_as_absent_and_is_replaced(tmp_path):
    out, cache = tmp_path / "figures", FigureCache(tmp_path / "cache")
    out.mkdir()
    (out / "a.png").write_bytes(b"png")
    entry = tmp_path / "cache" / "k"
    damages = [lambda: (entry / "a.png").unlink(),  # a file lost from the entry
               lambda: (entry / "a.png").write_bytes(b"pnh"),  # a flipped bit in a figure
               lambda: (entry / "manifest.json").write_text("{not json"),
               lambda: (entry / "manifest.json").write_text((entry / "manifest.json").read_text().replace('"n": 1',
                                                                                                          '"n": 2'))]
    for damage in damages:
        cache.store("k", [out / "a.png"], {"n": 1})
        damage()
        assert cache.restore("k", tmp_path / "x") is None and not entry.exists()  # dropped, to be stored afresh
    cache.store("k", [out / "a.png"], {"n": 1})
    assert cache.restore("k", tmp_path / "y")["numbers"] == {"n": 1}
    assert (tmp_path / "y" / "a.png").read_bytes() == b"png"


def test_no_cache_dir_means_no_caching(tmp_path):
    cache = FigureCache(None)
    cache.store("k", [], {})
    assert cache.restore("k", tmp_path) is None
