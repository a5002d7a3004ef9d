"""Token sources: the shipped corpus, text/folder/.bin sources, batches, the fixed split, errors."""
from __future__ import annotations

import gzip
import hashlib
import math
import re
import time

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from advisor.paths import data_dir
from calibration.proxy.data import (VAL_EVERY, VAL_OFFSET, _load_cached, _split_stream, load_corpus,
                              unigram_entropy)


@pytest.fixture(scope="module")
def kjv():
    return load_corpus("kjv")


def _readme_sha(label: str) -> str:
    """The sha256 in data/README.md's table row that starts with `label`."""
    for line in (data_dir() / "README.md").read_text().splitlines():
        if line.startswith(f"| {label}"):
            return re.search(r"`([0-9a-f]{64})`", line).group(1)
    raise AssertionError(f"no row {label!r} in data/README.md")


def _random_text_file(tmp_path, n=40 * 512, seed=0):
    """Random bytes: every window of 16+ bytes occurs once, so a window's offset is recoverable."""
    data = np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()
    path = tmp_path / "random.txt"
    path.write_bytes(data)
    return path, data


def _write_bin(path, tokens):
    np.asarray(tokens, dtype=np.uint16).tofile(path)
    return path


# ---- the shipped corpus ------------------------------------------------------------------------

def test_shipped_corpus_matches_readme_sums(kjv):
    shipped = (data_dir() / "corpus" / "kjv.txt.gz").read_bytes()
    assert hashlib.sha256(shipped).hexdigest() == _readme_sha("shipped `corpus/kjv.txt.gz`")
    text = gzip.decompress(shipped)
    text_sha = hashlib.sha256(text).hexdigest()
    assert text_sha == _readme_sha("normalised text")
    assert kjv.data_id == f"kjv-bytes:{text_sha[:12]}"
    assert kjv.n_train_tokens + kjv.n_val_tokens == len(text) > 4_000_000
    assert text.startswith(b"Genesis\n\nIn the beginning God created the heaven and the earth.")


def test_shipped_corpus_split_and_vocab(kjv):
    assert (kjv.tokenizer, kjv.vocab_size, kjv.block_tokens) == ("bytes-256", 256, 32768)
    assert kjv.n_val_tokens == 6 * 32768  # blocks 10, 30, ..., 110 of 127
    assert load_corpus("kjv") is kjv  # cached per process


def test_unigram_entropy_of_english_bytes(kjv):
    h = unigram_entropy(kjv)
    assert 2.85 < h < 3.1  # measured 2.97 nats/byte; uniform bytes would be ln 256 = 5.55


# ---- batches -----------------------------------------------------------------------------------

def test_train_batch_shape_and_determinism(kjv):
    a = kjv.train_batch(batch_seqs=8, seq_len=64, seed=3, step=5)
    assert a.shape == (8, 65) and a.dtype == torch.int64
    assert 0 <= int(a.min()) and int(a.max()) < 256
    assert torch.equal(a, kjv.train_batch(8, 64, seed=3, step=5))
    assert not torch.equal(a, kjv.train_batch(8, 64, seed=3, step=6))
    assert not torch.equal(a, kjv.train_batch(8, 64, seed=4, step=5))
    # regenerating step k does not depend on what was drawn before (resume)
    kjv.train_batch(8, 64, seed=3, step=0)
    assert torch.equal(a, kjv.train_batch(8, 64, seed=3, step=5))


def test_val_set_is_fixed_and_sized(kjv):
    first = list(kjv.val_batches(seq_len=128, eval_tokens=10_000, batch_seqs=16))
    again = list(kjv.val_batches(seq_len=128, eval_tokens=10_000, batch_seqs=16))
    assert len(first) == len(again) and all(torch.equal(x, y) for x, y in zip(first, again))
    assert all(b.shape[0] <= 16 and b.shape[1] == 129 for b in first)
    predicted = sum(b.shape[0] * 128 for b in first)
    assert predicted == math.ceil(10_000 / 128) * 128
    # another batching of the same set gives the same windows
    assert torch.equal(torch.cat(first), torch.cat(list(kjv.val_batches(128, 10_000, batch_seqs=64))))


def test_val_set_spans_the_whole_split_when_asked_for_more(kjv):
    rows = torch.cat(list(kjv.val_batches(seq_len=1024, eval_tokens=10**9)))
    per_block = (32768 - 1) // 1024  # whole windows that fit in one block with stride seq_len
    assert rows.shape == (6 * per_block, 1025)


def test_train_and_val_windows_are_disjoint_and_cover_the_train_runs(tmp_path):
    path, data = _random_text_file(tmp_path)
    src = load_corpus(str(path))
    block = src.block_tokens
    assert block == 512 and src.n_val_tokens == 2 * block

    def block_of_window(row):
        offset = data.find(bytes(row.tolist()))
        assert offset >= 0
        first, last = offset // block, (offset + len(row) - 1) // block
        return first, last

    def is_val(b):
        return b % VAL_EVERY == VAL_OFFSET

    seen = set()
    for step in range(40):
        for row in src.train_batch(16, 32, seed=0, step=step):
            first, last = block_of_window(row)
            assert not any(is_val(b) for b in range(first, last + 1))
            seen.add(first)
    assert seen == {b for b in range(40) if not is_val(b)}  # all train blocks get drawn
    for batch in src.val_batches(seq_len=32, eval_tokens=10**6):
        for row in batch:
            first, last = block_of_window(row)
            assert first == last and is_val(first)


# ---- other sources -----------------------------------------------------------------------------

def test_text_file_source(tmp_path):
    path = tmp_path / "notes.md"
    path.write_text("the quick brown fox jumps over the lazy dog. " * 200)
    src = load_corpus(str(path))
    assert src.tokenizer == "bytes-256" and src.data_id.startswith("notes-bytes:")
    assert src.n_train_tokens + src.n_val_tokens == path.stat().st_size
    batch = src.train_batch(4, 16, seed=0, step=0)
    assert bytes(batch[0].tolist()) in path.read_bytes()
    # same content elsewhere: same hash part of the id
    copy = tmp_path / "sub"
    copy.mkdir()
    (copy / "notes.md").write_bytes(path.read_bytes())
    assert load_corpus(str(copy / "notes.md")).data_id == src.data_id


def test_gzipped_text_file_source(tmp_path):
    raw = b"in the beginning was the word " * 300
    (tmp_path / "a.txt.gz").write_bytes(gzip.compress(raw))
    src = load_corpus(str(tmp_path / "a.txt.gz"))
    assert src.n_train_tokens + src.n_val_tokens == len(raw)
    assert src.data_id.endswith(hashlib.sha256(raw).hexdigest()[:12])


def test_folder_source_sorts_files_and_skips_others(tmp_path):
    (tmp_path / "b.txt").write_bytes(b"B" * 30_000)
    (tmp_path / "a.txt").write_bytes(b"A" * 30_000)  # no trailing newline: one is added
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.md").write_bytes(b"C" * 30_000 + b"\n")
    (tmp_path / "skip.csv").write_bytes(b"x,y\n" * 100)
    (tmp_path / ".hidden.txt").write_bytes(b"H" * 100)
    src = load_corpus(str(tmp_path))
    expected = b"A" * 30_000 + b"\n" + b"B" * 30_000 + b"\n" + b"C" * 30_000 + b"\n"
    assert src.n_train_tokens + src.n_val_tokens == len(expected)
    assert src.data_id.endswith(hashlib.sha256(expected).hexdigest()[:12])
    # the documented split, recomputed by hand: blocks of n // 40, blocks 10 and 30 are validation
    block = len(expected) // 40
    val = expected[10 * block:11 * block] + expected[30 * block:31 * block]
    train = expected[:10 * block] + expected[11 * block:30 * block] + expected[31 * block:]
    q = {c: (train.count(c) + 1) / (len(train) + 256) for c in b"ABC"}
    h = -sum(val.count(c) * math.log(q[c]) for c in b"ABC") / len(val)
    assert unigram_entropy(src) == pytest.approx(h, rel=1e-9)


def test_bin_source_vocab_and_entropy(tmp_path):
    rng = np.random.default_rng(1)
    tokens = rng.integers(0, 1000, 40_000)
    path = _write_bin(tmp_path / "tokens.bin", tokens)
    src = load_corpus(str(path))
    assert src.tokenizer == "bin-uint16" and src.vocab_size == tokens.max() + 1
    assert load_corpus(str(path), vocab_size=1024).vocab_size == 1024
    batch = src.train_batch(4, 50, seed=0, step=0)
    assert batch.shape == (4, 51) and int(batch.max()) < 1000
    # uniform tokens: close to ln(1000) nats (a little above, from estimating the unigram)
    assert math.log(1000) < unigram_entropy(src) < math.log(1000) + 0.15


def test_nanogpt_folder_keeps_its_split(tmp_path):
    _write_bin(tmp_path / "train.bin", np.arange(5000) % 100)
    _write_bin(tmp_path / "val.bin", 100 + np.arange(800) % 50)
    src = load_corpus(str(tmp_path))
    assert (src.n_train_tokens, src.n_val_tokens, src.vocab_size) == (5000, 800, 150)
    assert src.block_tokens is None
    assert int(src.train_batch(32, 64, seed=0, step=0).max()) < 100
    val = torch.cat(list(src.val_batches(seq_len=64, eval_tokens=10**6)))
    assert int(val.min()) >= 100 and val.shape == ((800 - 1) // 64, 65)


# ---- errors ------------------------------------------------------------------------------------

def test_errors_for_bad_paths(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        load_corpus(str(tmp_path / "nope.txt"))
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        load_corpus(str(tmp_path / "empty.txt"))
    (tmp_path / "hollow").mkdir()
    with pytest.raises(ValueError, match="no text files"):
        load_corpus(str(tmp_path / "hollow"))
    (tmp_path / "blank").mkdir()
    (tmp_path / "blank" / "a.txt").write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        load_corpus(str(tmp_path / "blank"))
    (tmp_path / "table.parquet").write_bytes(b"PAR1")
    with pytest.raises(ValueError, match="unsupported"):
        load_corpus(str(tmp_path / "table.parquet"))


def test_errors_for_bad_bin_files(tmp_path):
    (tmp_path / "odd.bin").write_bytes(b"\x01\x00\x02")
    with pytest.raises(ValueError, match="odd byte length"):
        load_corpus(str(tmp_path / "odd.bin"))
    (tmp_path / "zero.bin").write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        load_corpus(str(tmp_path / "zero.bin"))
    path = _write_bin(tmp_path / "big.bin", [1, 2, 3, 700] * 100)
    with pytest.raises(ValueError, match="token 700.*vocab_size 512"):
        load_corpus(str(path), vocab_size=512)
    with pytest.raises(ValueError, match="vocab_size must be positive"):
        load_corpus(str(path), vocab_size=0)


def test_error_for_vocab_option_on_bytes(tmp_path):
    path, _ = _random_text_file(tmp_path)
    with pytest.raises(ValueError, match="vocab_size 128"):
        load_corpus(str(path), vocab_size=128)
    assert load_corpus(str(path), vocab_size=256).vocab_size == 256


def test_errors_for_bad_batch_arguments(tmp_path):
    path, _ = _random_text_file(tmp_path)  # blocks of 512 tokens
    src = load_corpus(str(path))
    with pytest.raises(ValueError, match="seq_len 600 .*validation"):
        next(src.val_batches(seq_len=600, eval_tokens=1000))
    src.train_batch(2, 600, seed=0, step=0)  # train runs are longer than a block
    with pytest.raises(ValueError, match="seq_len 20000 .*train"):
        src.train_batch(2, 20000, seed=0, step=0)
    for bad in (dict(batch_seqs=0), dict(seq_len=-1)):
        args = dict(batch_seqs=2, seq_len=8, seed=0, step=0) | bad
        with pytest.raises(ValueError, match="must be positive"):
            src.train_batch(**args)
    with pytest.raises(ValueError, match="step must be >= 0"):
        src.train_batch(2, 8, seed=0, step=-1)
    with pytest.raises(ValueError, match="eval_tokens must be positive"):
        next(src.val_batches(seq_len=8, eval_tokens=0))


# ---- the split rule, for any stream length -----------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 3_000_000))
def test_split_partitions_any_stream(n):
    src = _split_stream(np.zeros(n, dtype=np.uint8), "z", "bytes-256", 256, "0" * 64)
    runs = sorted([tuple(r) for r in src._train_runs] + [tuple(r) for r in src._val_runs])
    assert runs[0][0] == 0 and runs[-1][1] == n
    assert all(a < b for a, b in runs) and all(b == c for (_, b), (c, _) in zip(runs, runs[1:]))
    if n >= 40:  # at least two validation blocks, about one token in 20
        assert len(src._val_runs) >= 2
        assert 0.03 < src.n_val_tokens / n < 0.06


# ---- speed (figures, not assertions): python -m pytest -m benchmark -s tests/test_data.py -------

@pytest.mark.benchmark
def test_benchmark_batches():
    t0 = time.perf_counter()
    src = _load_cached.__wrapped__(str(data_dir() / "corpus" / "kjv.txt.gz"), None, "kjv")
    print(f"\nload kjv (gunzip + sha256 + split): {time.perf_counter() - t0:.3f} s")
    t0 = time.perf_counter()
    unigram_entropy(src)
    print(f"unigram_entropy: {time.perf_counter() - t0:.3f} s")
    for batch_seqs, seq_len in [(32, 128), (64, 256), (256, 1024), (512, 2048)]:
        reps = 50
        t0 = time.perf_counter()
        for step in range(reps):
            src.train_batch(batch_seqs, seq_len, seed=0, step=step)
        dt = (time.perf_counter() - t0) / reps
        print(f"train_batch({batch_seqs}, {seq_len}): {dt * 1e3:.2f} ms, "
              f"{batch_seqs * seq_len / dt / 1e6:.0f} M tokens/s")
    t0 = time.perf_counter()
    n = sum(b.numel() for b in src.val_batches(seq_len=256, eval_tokens=131_072))
    print(f"val_batches(256, 131072): {(time.perf_counter() - t0) * 1e3:.2f} ms for {n} tokens")


# ---- the vocabulary of token files (meta.pkl, largest id) ---------------------------------------

class _RunsCode:
    """Pickles to a call of os.mkdir: what a hostile meta.pkl could hold."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        import os
        return (os.mkdir, (self.path,))


def test_meta_pkl_gives_the_vocabulary_and_code_in_it_is_never_run(tmp_path):
    import pickle

    from calibration.proxy.vocab import model_vocab, token_file_vocab

    _write_bin(tmp_path / "train.bin", np.arange(5000) % 60)
    _write_bin(tmp_path / "val.bin", np.arange(800) % 60)
    itos = {i: chr(65 + i) for i in range(65)}
    (tmp_path / "meta.pkl").write_bytes(pickle.dumps({"vocab_size": 65, "itos": itos,
                                                      "stoi": {c: i for i, c in itos.items()}}))
    assert load_corpus(str(tmp_path)).vocab_size == 65  # nanoGPT's shakespeare_char: 65, not max id + 1
    assert token_file_vocab(str(tmp_path)) == 65 and model_vocab(65) == 128
    assert token_file_vocab(str(tmp_path / "train.bin")) == 65  # a .bin beside its meta.pkl

    marker = tmp_path / "was_run"
    (tmp_path / "meta.pkl").write_bytes(pickle.dumps({"vocab_size": _RunsCode(marker)}))
    for read in (lambda: token_file_vocab(str(tmp_path)), lambda: _load_cached(str(tmp_path / "train.bin"), None, "x")):
        with pytest.raises(ValueError, match=r"meta\.pkl cannot be read safely.*vocab_size"):
            read()
    assert not marker.exists()
    (tmp_path / "meta.pkl").write_bytes(pickle.dumps({"vocab_size": 50}))  # below the data's largest id
    with pytest.raises(ValueError, match="vocab_size 50.*token 59"):
        token_file_vocab(str(tmp_path))


def test_without_meta_the_vocabulary_is_the_largest_id_rounded_up(tmp_path):
    from calibration.proxy.vocab import model_vocab, token_file_vocab

    path = _write_bin(tmp_path / "gpt2.bin", [7, 50256, 3, 1000] * 50)
    assert token_file_vocab(str(path)) == 50257 and model_vocab(50257) == 50304  # nanoGPT's padded GPT-2
    assert token_file_vocab("kjv") is None and token_file_vocab(str(_random_text_file(tmp_path)[0])) is None
    assert [model_vocab(v) for v in (1, 64, 65, 256)] == [64, 64, 128, 256]
