"""Token sources for calibration: the shipped corpus, text files, nanoGPT-style .bin token files.

    src = load_corpus("kjv")                       # shipped King James Bible, byte tokens
    src = load_corpus("notes/")                    # every .txt/.md/.rst/.text(.gz) file, sorted
    src = load_corpus("owt/train.bin", 50304)      # uint16 tokens; or a folder with train.bin + val.bin
    x = src.train_batch(batch_seqs=32, seq_len=128, seed=0, step=7)   # (32, 129): x[:, :-1] -> x[:, 1:]
    for v in src.val_batches(seq_len=128, eval_tokens=32_768): ...   # the fixed validation set

The split. A single token stream is cut into blocks of BLOCK_TOKENS (32 Ki) tokens; every VAL_EVERY-th
block (index 10, 30, 50, ...) is validation, the rest train. So validation samples the whole text (not
just its tail, which for the Bible would be Revelation alone) and windows never cross the seam between
the splits. Streams shorter than 40 blocks get smaller blocks (n // 40 tokens) so every source has at
least two validation blocks. A folder holding nanoGPT's train.bin and val.bin keeps that split as given.

Train windows are drawn uniformly from all windows that fit inside a train run, with a torch.Generator
seeded from (seed, step) alone: equal seeds see equal batches, and step k can be regenerated on resume.
Validation windows tile each validation block without overlap (stride seq_len, so each token is predicted
once); the ones used are spread evenly over all of them, so the set depends only on (seq_len, eval_tokens).
"""
from __future__ import annotations

import gzip
import hashlib
import math
import re
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from advisor.bounded_read import read_bytes
from advisor.paths import data_dir
from calibration.proxy.vocab import max_token, meta_vocab

BLOCK_TOKENS = 32 * 1024
VAL_EVERY = 20  # one block in 20 (5%) is validation ...
VAL_OFFSET = 10  # ... the 11th of every 20, so neither the first nor a partial last block
MIN_BLOCKS = 40  # small streams get smaller blocks, so at least two validation blocks exist
TEXT_SUFFIXES = (".txt", ".md", ".rst", ".text")
_CHUNK = 1 << 24  # tokens per pass over big memory-mapped files (max, counts, hashing)


class TokenSource:
    """One tokenised corpus with a fixed train/validation split (see the module docstring).

    `train` and `val` are 1-D integer arrays (numpy, possibly memory-mapped); `*_runs` are (start, end)
    index ranges in them that belong to the split. Build one with load_corpus().
    """

    def __init__(self, *, name: str, tokenizer: str, vocab_size: int, train: np.ndarray,
                 train_runs: list[tuple[int, int]], val: np.ndarray,
                 val_runs: list[tuple[int, int]], digest: str, block_tokens: int | None = None):
        self.tokenizer = tokenizer
        self.vocab_size = vocab_size
        self.data_id = f"{name}-{'bytes' if tokenizer == 'bytes-256' else 'bin'}:{digest[:12]}"
        self.block_tokens = block_tokens  # None where the split came as two files
        self._train, self._val = train, val
        self._train_runs = np.asarray(train_runs, dtype=np.int64).reshape(-1, 2)
        self._val_runs = np.asarray(val_runs, dtype=np.int64).reshape(-1, 2)
        self.n_train_tokens = int((self._train_runs[:, 1] - self._train_runs[:, 0]).sum())
        self.n_val_tokens = int((self._val_runs[:, 1] - self._val_runs[:, 0]).sum())
        self._val_starts: dict[tuple[int, int], np.ndarray] = {}
        self._unigram_entropy: float | None = None

    def __repr__(self) -> str:
        return (f"TokenSource({self.data_id}, {self.tokenizer}, vocab {self.vocab_size}, "
                f"train {self.n_train_tokens:,} / val {self.n_val_tokens:,} tokens)")

    def train_batch(self, batch_seqs: int, seq_len: int, seed: int, step: int) -> torch.Tensor:
        """(batch_seqs, seq_len + 1) int64 windows from the train split, a function of (seed, step)."""
        _check_positive(batch_seqs=batch_seqs, seq_len=seq_len)
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}")
        counts = self._window_counts(self._train_runs, seq_len, "train")
        ends = np.cumsum(counts)
        gen = torch.Generator().manual_seed(_mix_seed(seed, step))
        picks = torch.randint(0, int(ends[-1]), (batch_seqs,), generator=gen).numpy()
        run = np.searchsorted(ends, picks, side="right")
        starts = self._train_runs[run, 0] + picks - (ends[run] - counts[run])
        return _gather(self._train, starts, seq_len + 1)

    def val_batches(self, seq_len: int, eval_tokens: int,
                    batch_seqs: int = 64) -> Iterator[torch.Tensor]:
        """The fixed validation windows, in batches of at most batch_seqs rows of seq_len + 1 tokens.

        Predicts ceil(eval_tokens / seq_len) * seq_len tokens, or every whole window the split holds.
        """
        _check_positive(seq_len=seq_len, eval_tokens=eval_tokens, batch_seqs=batch_seqs)
        starts = self._fixed_val_starts(seq_len, eval_tokens)
        for i in range(0, len(starts), batch_seqs):
            yield _gather(self._val, starts[i:i + batch_seqs], seq_len + 1)

    def _fixed_val_starts(self, seq_len: int, eval_tokens: int) -> np.ndarray:
        key = (seq_len, eval_tokens)
        if key not in self._val_starts:
            self._window_counts(self._val_runs, seq_len, "validation")  # raises if none fits
            tiles = [np.arange(a, b - seq_len, seq_len) for a, b in self._val_runs]
            every = np.concatenate(tiles)
            wanted = math.ceil(eval_tokens / seq_len)
            if wanted < len(every):  # spread evenly over the split, not just its first block
                every = every[np.linspace(0, len(every) - 1, wanted).round().astype(np.int64)]
            self._val_starts[key] = every
        return self._val_starts[key]

    def _window_counts(self, runs: np.ndarray, seq_len: int, split: str) -> np.ndarray:
        """How many windows of seq_len + 1 tokens start in each run; raises if none fits anywhere."""
        counts = np.maximum(runs[:, 1] - runs[:, 0] - seq_len, 0)
        if counts.sum() == 0:
            longest = int((runs[:, 1] - runs[:, 0]).max()) - 1
            raise ValueError(f"seq_len {seq_len} is longer than the {split} split of {self.data_id} "
                             f"can provide (at most {longest})")
        return counts


def load_corpus(spec: str = "kjv", vocab_size: int | None = None) -> TokenSource:
    """Load a token source: "kjv" (shipped corpus), a text file or folder, a .bin or nanoGPT folder.

    "kjv" always means the shipped corpus (write "./kjv" for a local folder of that name).
    Byte sources have vocab_size 256. For .bin sources vocab_size is the option, else the vocab_size of a
    nanoGPT meta.pkl beside the tokens (read as plain data only: calibration.proxy.vocab), else max token + 1.
    Raises ValueError (one line, naming the value) for anything that cannot be a token source.
    Cached per process on (resolved path, vocab_size, the size and modification time of every file read):
    a file replaced since it was last read is read again.
    """
    if vocab_size is not None and vocab_size < 1:
        raise ValueError(f"vocab_size must be positive, got {vocab_size}")
    if spec == "kjv":
        path = data_dir() / "corpus" / "kjv.txt.gz"
        if not path.is_file():
            raise ValueError(f"the shipped corpus is missing: {path} (see data/README.md)")
    else:
        path = Path(spec).expanduser()
        if not path.exists():
            raise ValueError(f"token source {spec!r} not found: neither 'kjv' nor an existing file or folder")
    path = path.resolve()
    return _load_cached(str(path), vocab_size, "kjv" if spec == "kjv" else None, _file_states(path))


def unigram_entropy(source: TokenSource) -> float:
    """Cross-entropy (nats/token) of the validation split under the train split's unigram model.

    The loss a model reaches by learning token frequencies alone: a proxy must beat it to have learned
    anything. Counts are add-one smoothed over the vocabulary, so unseen tokens cost finite loss.
    """
    if source._unigram_entropy is None:
        train = _counts(source._train, source._train_runs, source.vocab_size) + 1.0
        val = _counts(source._val, source._val_runs, source.vocab_size)
        log_q = np.log(train / train.sum())
        source._unigram_entropy = float(-(val * log_q).sum() / val.sum())
    return source._unigram_entropy


# ---- loading -----------------------------------------------------------------------------------

def _file_states(path: Path) -> tuple:
    """(file, size, mtime) of every file a source may be read from (a .bin's meta.pkl included): the part of
    the cache key that changes when the data does."""
    files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path, path.parent / "meta.pkl"]
    return tuple(sorted((str(f), st.st_size, st.st_mtime_ns) for f in files if f.is_file() for st in [f.stat()]))


@lru_cache(maxsize=16)
def _load_cached(path_str: str, vocab_size: int | None, name: str | None, _states: tuple = ()) -> TokenSource:
    path = Path(path_str)
    name = name or _slug(path.name.split(".")[0] if path.is_file() else path.name)
    if path.is_dir():
        if (path / "train.bin").is_file() and (path / "val.bin").is_file():
            return _nanogpt_folder(path, name, vocab_size)
        return _byte_source(_read_folder(path), name, vocab_size, path)
    if path.suffix == ".bin":
        tokens = _read_bin(path)
        vocab = _bin_vocab(tokens, vocab_size or meta_vocab(path.parent), path)
        return _split_stream(tokens, name, "bin-uint16", vocab, _sha256_array(tokens))
    if _is_text_file(path):
        return _byte_source(_read_text_file(path), name, vocab_size, path)
    raise ValueError(f"unsupported token source {path}: expected a .bin file, a text file "
                     f"({', '.join(TEXT_SUFFIXES)}, optionally .gz) or a folder")


def _byte_source(data: bytes, name: str, vocab_size: int | None, path: Path) -> TokenSource:
    if not data:
        raise ValueError(f"token source {path} is empty")
    if vocab_size not in (None, 256):
        raise ValueError(f"byte-level source {path} has vocab_size 256, got vocab_size {vocab_size}")
    tokens = np.frombuffer(data, dtype=np.uint8)
    return _split_stream(tokens, name, "bytes-256", 256, hashlib.sha256(data).hexdigest())


def _split_stream(tokens: np.ndarray, name: str, tokenizer: str, vocab_size: int,
                  digest: str) -> TokenSource:
    """Every VAL_EVERY-th block to validation, the runs between them to train (module docstring)."""
    n = len(tokens)
    block = max(1, min(BLOCK_TOKENS, n // MIN_BLOCKS))
    val_runs = [(s, min(s + block, n)) for s in range(VAL_OFFSET * block, n, VAL_EVERY * block)]
    train_runs, at = [], 0
    for a, b in val_runs:
        if a > at:
            train_runs.append((at, a))
        at = b
    if at < n:
        train_runs.append((at, n))
    return TokenSource(name=name, tokenizer=tokenizer, vocab_size=vocab_size, train=tokens,
                       train_runs=train_runs, val=tokens, val_runs=val_runs, digest=digest,
                       block_tokens=block)


def _nanogpt_folder(path: Path, name: str, vocab_size: int | None) -> TokenSource:
    train, val = _read_bin(path / "train.bin"), _read_bin(path / "val.bin")
    vocab_size = vocab_size or meta_vocab(path)
    vocab = max(_bin_vocab(train, vocab_size, path / "train.bin"),
                _bin_vocab(val, vocab_size, path / "val.bin"))
    digest = hashlib.sha256((_sha256_array(train) + _sha256_array(val)).encode()).hexdigest()
    return TokenSource(name=name, tokenizer="bin-uint16", vocab_size=vocab, train=train,
                       train_runs=[(0, len(train))], val=val, val_runs=[(0, len(val))], digest=digest)


def _read_bin(path: Path) -> np.ndarray:
    size = path.stat().st_size
    if size == 0:
        raise ValueError(f"token file {path} is empty")
    if size % 2:
        raise ValueError(f"token file {path} has an odd byte length ({size}); expected uint16 tokens")
    return np.memmap(path, dtype=np.uint16, mode="r")


def _bin_vocab(tokens: np.ndarray, vocab_size: int | None, path: Path) -> int:
    """vocab_size (the option's or meta.pkl's), checked against the data; without one, max token + 1."""
    top = max_token(tokens)
    if vocab_size is None:
        return top + 1
    if top >= vocab_size:
        raise ValueError(f"token file {path} holds token {top}, not below vocab_size {vocab_size}")
    return vocab_size


def _is_text_file(path: Path) -> bool:
    suffixes = path.suffixes[-2:] if path.suffix == ".gz" else path.suffixes[-1:]
    return bool(suffixes) and suffixes[0] in TEXT_SUFFIXES


TEXT_CORPUS_LIMIT = 4 * 1024**3  # a text corpus is read whole into memory: beyond this it is not one


def _read_text_file(path: Path) -> bytes:
    data = read_bytes(path, TEXT_CORPUS_LIMIT)  # bounded while reading: a FIFO or a device says 0 bytes
    return gzip.decompress(data) if path.suffix == ".gz" else data


def _read_folder(path: Path) -> bytes:
    """Every text file under path (sorted by relative path), each ending in a newline."""
    files = sorted((p for p in path.rglob("*") if p.is_file() and _is_text_file(p)
                    and not any(part.startswith(".") for part in p.relative_to(path).parts)),
                   key=lambda p: p.relative_to(path).as_posix())
    if not files:
        raise ValueError(f"folder {path} holds no text files ({', '.join(TEXT_SUFFIXES)}) "
                         "nor nanoGPT's train.bin + val.bin")
    parts = [_read_text_file(p) for p in files]
    return b"".join(p if p.endswith(b"\n") or not p else p + b"\n" for p in parts)


# ---- small helpers -----------------------------------------------------------------------------

def _gather(tokens: np.ndarray, starts: np.ndarray, width: int) -> torch.Tensor:
    rows = np.asarray(starts, dtype=np.int64)[:, None] + np.arange(width, dtype=np.int64)
    return torch.from_numpy(np.asarray(tokens[rows], dtype=np.int64))


def _counts(tokens: np.ndarray, runs: np.ndarray, vocab_size: int) -> np.ndarray:
    total = np.zeros(vocab_size, dtype=np.float64)
    for a, b in runs:
        for i in range(a, b, _CHUNK):
            total += np.bincount(tokens[i:min(i + _CHUNK, b)], minlength=vocab_size)
    return total


def _mix_seed(seed: int, step: int) -> int:
    """A 63-bit generator seed from (seed, step), without collisions like (0, 1000) vs (1, 0)."""
    digest = hashlib.sha256(f"{seed}/{step}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def _sha256_array(tokens: np.ndarray) -> str:
    h = hashlib.sha256()
    for i in range(0, len(tokens), _CHUNK):
        h.update(np.ascontiguousarray(tokens[i:i + _CHUNK]).tobytes())
    return h.hexdigest()


def _check_positive(**values: int) -> None:
    for key, value in values.items():
        if value < 1:
            raise ValueError(f"{key} must be positive, got {value}")


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "data"
