"""Tokenizer round trip, model family and checkpoints through from_pretrained, compute accounting, cache."""

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

import ttc.cache
from ttc.cache import DONE_MARK, Cache, content_key
from ttc.compute import flop_params, inference_flops, train_flops
from ttc.models import FAMILY, ModelSize, build_model
from ttc.tokenizer import Codec, build_char_tokenizer

TEXT = "c=5,e=d+a,a=3?e,f:b=5+3=8;d=8-5=3#6,1"


def test_tokenizer_round_trip_and_save_load(tmp_path):
    tok = build_char_tokenizer()
    ids = tok(TEXT)["input_ids"]
    assert ids[0] == tok.bos_token_id and len(ids) == len(TEXT) + 1
    assert tok.decode(ids, skip_special_tokens=True) == TEXT
    tok.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert loaded(TEXT)["input_ids"] == ids
    assert loaded.decode(ids, skip_special_tokens=True) == TEXT
    codec = Codec.of(loaded)
    assert codec.encode_prompts([TEXT])[0] == ids
    assert codec.decode(codec.encode_text(TEXT)) == TEXT
    assert codec.eos_id == tok.eos_token_id


def test_codec_generic_path_matches_table_path():
    tok = build_char_tokenizer()
    fast = Codec.of(tok)
    slow = Codec(tokenizer=tok, eos_id=fast.eos_id, pad_id=fast.pad_id, _lut=None, _chars=None)
    assert slow.encode_prompts([TEXT]) == fast.encode_prompts([TEXT])
    assert slow.encode_text(TEXT).tolist() == fast.encode_text(TEXT).tolist()
    assert slow.decode(fast.encode_text(TEXT)) == TEXT


def test_family_spans_100x_in_params():
    tok = build_char_tokenizer()
    p = [flop_params(build_model(FAMILY[s], tok, seed=0)) for s in ("xs", "s", "m", "l")]
    assert p == sorted(p) and p[-1] / p[0] >= 100


def test_flop_params_excludes_only_the_input_embedding():
    tok = build_char_tokenizer()
    m = build_model(ModelSize("t", hidden=16, layers=1, heads=2, mlp=32), tok, seed=0)
    total = sum(x.numel() for x in m.parameters())
    assert flop_params(m) == total - len(tok) * 16
    assert train_flops(10, 7) == 420 and inference_flops(10, 7) == 140


def test_checkpoint_save_load_through_from_pretrained(tmp_path):
    tok = build_char_tokenizer()
    m = build_model(ModelSize("t", hidden=16, layers=1, heads=2, mlp=32), tok, seed=1)
    m.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    ids = torch.tensor([tok(TEXT)["input_ids"]])
    with torch.no_grad():
        assert torch.allclose(m(ids).logits, loaded(ids).logits, atol=1e-6)


def test_bad_model_size_rejected():
    with pytest.raises(ValueError, match="divisible"):
        build_model(ModelSize("bad", hidden=30, layers=1, heads=4, mlp=8), build_char_tokenizer(), seed=0)
    for bad in (0.0, -0.1, 2.0, "0.1", True):
        with pytest.raises(ValueError, match="init_std"):
            build_model(ModelSize("bad", hidden=16, layers=1, heads=2, mlp=8, init_std=bad), build_char_tokenizer(), seed=0)


@pytest.mark.parametrize("init_std", [None, 0.05, 0.25])
def test_init_std_sets_the_spread_of_every_initial_weight_matrix(init_std):
    """Linear layers and embeddings are drawn with standard deviation init_std (None: transformers' 0.02);
    norms start at 1. 16 x 16 = 256 draws per matrix: the sample SD is within 20% of the target at
    about 4.5 standard errors."""
    m = build_model(ModelSize("t", hidden=16, layers=2, heads=2, mlp=32, init_std=init_std), build_char_tokenizer(), seed=3)
    target = 0.02 if init_std is None else init_std
    for name, w in m.named_parameters():
        if "norm" in name:
            assert torch.all(w == 1), name
        else:
            assert abs(w.std().item() / target - 1) < 0.2, (name, w.std().item())


def test_content_key_is_stable_and_sensitive():
    assert content_key({"a": 1, "b": [1, 2]}) == content_key({"b": [1, 2], "a": 1})
    assert content_key({"a": 1}) != content_key({"a": 1.0})
    assert content_key({"a": 1}) != content_key({"a": 2})


def test_cache_miss_then_hit(tmp_path):
    cache, calls = Cache(tmp_path), []
    frame = pd.DataFrame({"x": np.arange(5), "y": list("abcde")})

    def build():
        calls.append(1)
        return frame

    a, hit_a = cache.frame("pools", "k1", build)
    b, hit_b = cache.frame("pools", "k1", build)
    assert (hit_a, hit_b) == (False, True) and len(calls) == 1
    pd.testing.assert_frame_equal(a, frame)
    pd.testing.assert_frame_equal(b, frame)
    assert not list((tmp_path / "pools").glob("*.tmp"))


@pytest.mark.parametrize("damage", ["truncate", "garbage", "wrong_key"])
def test_corrupt_cache_entry_is_rebuilt(tmp_path, damage):
    cache = Cache(tmp_path)
    frame = pd.DataFrame({"x": np.arange(100)})
    cache.frame("pools", "k", lambda: frame)
    path = cache.path("pools", "k", ".parquet")
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "garbage":
        path.write_bytes(b"not a parquet file")
    else:
        cache.write_frame("pools", "other", frame)
        path.write_bytes(cache.path("pools", "other", ".parquet").read_bytes())
    assert cache.read_frame("pools", "k") is None and not path.exists()
    rebuilt, hit = cache.frame("pools", "k", lambda: frame)
    assert not hit
    pd.testing.assert_frame_equal(rebuilt, frame)


def test_the_atomic_write_replaces_whole_files_with_the_umask_permissions(tmp_path, monkeypatch):
    path = tmp_path / "sub" / "table.csv"
    ttc.cache.atomic_write_text(path, "a,b\n1,2\n")
    ttc.cache.atomic_write_text(path, "a,b\n3,4\n")
    assert path.read_text() == "a,b\n3,4\n" and sorted(p.name for p in path.parent.iterdir()) == ["table.csv"]
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # as open() would make it, not a temp file's 0600

    def broken(src, dst):
        raise OSError("disk full")
    monkeypatch.setattr(ttc.cache.os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        ttc.cache.atomic_write_bytes(path, b"half")
    assert path.read_text() == "a,b\n3,4\n" and sorted(p.name for p in path.parent.iterdir()) == ["table.csv"]
    monkeypatch.undo()
    ttc.cache.atomic_write_bytes(path, b"sealed", sealed=True)
    assert ttc.cache.intact(path) and path.read_bytes() == b"sealed"
    path.write_bytes(b"sealeD")
    assert not ttc.cache.intact(path) and not path.exists()  # damage found, the file removed


def test_stale_temporaries_are_removed_and_fresh_ones_kept(tmp_path):
    import time
    old = time.time() - 2 * ttc.cache.STALE_AFTER_S
    kind = tmp_path / "pools"
    kind.mkdir()
    stale_file, stale_dir = kind / ".k1.123.ab.tmp", kind / ".k2.x7.tmp"
    stale_file.write_bytes(b"half")
    stale_dir.mkdir()
    (stale_dir / "model.safetensors").write_bytes(b"half")
    busy_dir = kind / ".k3.y8.tmp"  # old folder, but a file in it was just written: a live writer's
    busy_dir.mkdir()
    (busy_dir / "part").write_bytes(b"now")
    fresh, entry, hidden = kind / ".k4.1.cd.tmp", kind / "k5.parquet", kind / ".locks"
    fresh.write_bytes(b"now")
    entry.write_bytes(b"a cache entry")
    hidden.mkdir()
    for f in (stale_file, stale_dir / "model.safetensors", stale_dir, busy_dir, entry, hidden):
        os.utime(f, (old, old))
    assert ttc.cache.remove_stale_temporaries(tmp_path) == 2
    assert not stale_file.exists() and not stale_dir.exists()
    assert busy_dir.exists() and fresh.exists() and entry.exists() and hidden.exists()
    assert ttc.cache.remove_stale_temporaries(tmp_path / "missing") == 0
    # not recursive: only the folder's own entries (staging folders beside results/)
    stage = tmp_path / ".results-staging-ab12"
    stage.mkdir()
    nested = kind / ".results-staging-zz"
    nested.mkdir()
    for f in (stage, nested):
        os.utime(f, (old, old))
    assert ttc.cache.remove_stale_temporaries(tmp_path, prefix=".results-staging-", suffixes=("",), recursive=False) == 1
    assert not stage.exists() and nested.exists()


def test_directory_entries_need_their_completion_mark(tmp_path):
    cache = Cache(tmp_path)
    assert cache.dir_ready("ckpt", "k") is None

    def fill(d):
        (d / "weights.bin").write_bytes(b"123")
        return {"tokens": 7}

    path = cache.write_dir("ckpt", "k", fill)
    assert cache.dir_ready("ckpt", "k") == path and cache.dir_record("ckpt", "k")["tokens"] == 7
    (path / DONE_MARK).unlink()  # as if killed before the mark was written
    assert cache.dir_ready("ckpt", "k") is None and not path.exists()
    assert json.loads(cache.write_dir("ckpt", "k", fill).joinpath(DONE_MARK).read_text())["key"] == "k"


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete", "marker"])
def test_a_damaged_directory_entry_is_detected_and_removed(tmp_path, damage):
    cache = Cache(tmp_path)

    def fill(d):
        (d / "model.safetensors").write_bytes(bytes(range(256)) * 64)
        (d / "sub").mkdir()
        (d / "sub" / "record.json").write_text('{"a": 1}')
        return {"tokens": 7}

    path = cache.write_dir("ckpt", "k", fill)
    assert cache.dir_ready("ckpt", "k") == path
    weights = path / "model.safetensors"
    if damage == "truncate":
        weights.write_bytes(weights.read_bytes()[:100])
    elif damage == "flip":  # same size, one byte changed
        data = bytearray(weights.read_bytes())
        data[1000] ^= 0xFF
        weights.write_bytes(bytes(data))
    elif damage == "delete":
        (path / "sub" / "record.json").unlink()
    else:
        (path / DONE_MARK).write_text('{"key": "k", "fi')  # a truncated marker
    ttc.cache._VERIFIED.clear()  # as a later process sees it (in-process, size + mtime vouch for a file)
    assert cache.dir_ready("ckpt", "k") is None and not path.exists()
    assert not [p for p in (tmp_path / "ckpt").iterdir() if p.name != ".locks"]  # nothing left behind
    cache.write_dir("ckpt", "k", fill)
    assert cache.dir_ready("ckpt", "k") == path


def test_a_marker_without_manifest_gets_one_and_is_then_checked(tmp_path):
    cache = Cache(tmp_path)
    path = tmp_path / "ckpt" / "k"
    path.mkdir(parents=True)
    (path / "w.bin").write_bytes(b"abc")
    (path / DONE_MARK).write_text(json.dumps({"key": "k"}))  # an entry from before manifests
    assert cache.dir_ready("ckpt", "k") == path
    assert json.loads((path / DONE_MARK).read_text())["files"]["w.bin"]["size"] == 3
    (path / "w.bin").write_bytes(b"abd")
    ttc.cache._VERIFIED.clear()
    assert cache.dir_ready("ckpt", "k") is None


def test_a_second_writer_keeps_the_published_entry(tmp_path):
    cache = Cache(tmp_path)
    first = cache.write_dir("ckpt", "k", lambda d: (d / "w.bin").write_bytes(b"first") and {})
    inode = first.stat().st_ino
    again = cache.write_dir("ckpt", "k", lambda d: (d / "w.bin").write_bytes(b"second") and {})
    assert again == first and first.stat().st_ino == inode and (first / "w.bin").read_bytes() == b"first"


def _build_in_another_process(root, marker_dir):
    import time as _time

    from ttc.cache import Cache as _Cache

    def build():
        (Path(marker_dir) / f"built-{os.getpid()}").write_text("")
        _time.sleep(1.0)
        return pd.DataFrame({"x": [1, 2, 3]})

    frame, _ = _Cache(root).frame("pools", "shared", build)
    return frame["x"].tolist()


def test_concurrent_processes_build_a_frame_entry_once(tmp_path):
    import multiprocessing as mp

    marks = tmp_path / "marks"
    marks.mkdir()
    ctx = mp.get_context("fork")  # separate processes (their own locks), without re-importing
    with ctx.Pool(2) as pool:
        results = pool.starmap(_build_in_another_process, [(str(tmp_path / "c"), str(marks))] * 2)
    assert results == [[1, 2, 3], [1, 2, 3]]
    assert len(list(marks.iterdir())) == 1  # the second waited for the lock, then read


def test_checkpoint_schedule_is_geometric_and_ends_at_the_budget():
    from ttc.train import checkpoint_schedule
    assert checkpoint_schedule(1600, 5) == [100, 200, 400, 800, 1600]
    assert checkpoint_schedule(1000, 3, ratio=2 ** 0.5) == [500, 707, 1000]


def test_wsd_schedule_holds_the_peak_then_decays_over_the_last_fraction():
    import math

    from ttc.train import TrainConfig, lr_schedule
    cfg = TrainConfig(lr=1e-2, warmup_steps=10, schedule="wsd", decay_frac=0.25, min_lr_frac=0.1)
    lr = [lr_schedule(cfg, 100)(s) for s in range(101)]
    assert lr[0] == pytest.approx(1e-3) and lr[9] == pytest.approx(1e-2)  # linear warmup
    assert all(v == pytest.approx(1e-2) for v in lr[10:76])  # stable until 75% of the steps
    assert lr[100] == pytest.approx(1e-3) and all(a >= b for a, b in zip(lr[75:], lr[76:]))
    mid = 75 + 25 / 2
    assert lr_schedule(cfg, 100)(mid) == pytest.approx(1e-3 + 0.9e-2 * 0.5 * (1 + math.cos(math.pi / 2)))
    cos = TrainConfig(lr=1e-2, warmup_steps=10, schedule="cosine")
    assert lr_schedule(cos, 100)(50) < 1e-2  # cosine decays from the end of warmup
