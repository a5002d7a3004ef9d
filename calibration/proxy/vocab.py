"""The vocabulary of a token source, so that a proxy's embedding and head follow the data.

    token_file_vocab("kjv")           # None: a byte-level source (vocabulary 256)
    token_file_vocab("owt/train.bin") # meta.pkl's vocab_size beside it, else the largest token id + 1
    model_vocab(50257)                # 50304: rounded up to a multiple of 64, as nanoGPT pads GPT-2's

nanoGPT writes `meta.pkl` ({'vocab_size': ..., 'itos': ..., 'stoi': ...}) beside its .bin files. A pickle
can run code when loaded, so it is read with an unpickler that resolves no class or function at all: plain
dicts, lists, strings and numbers load, anything else is refused. numpy only (no torch): the spec loader
calls this.
"""
from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np

BYTE_VOCAB = 256
VOCAB_MULTIPLE = 64  # model vocabularies are padded to this (GPT-2's 50,257 -> 50,304, as in nanoGPT)
META_FILE = "meta.pkl"
META_MAX_BYTES = 64 << 20  # a vocabulary's meta file is small; refuse to read a huge one
_CHUNK = 1 << 24  # tokens per pass over a memory-mapped file


class _PlainUnpickler(pickle.Unpickler):
    """Loads only what pickle builds without looking anything up (dict, list, tuple, str, bytes, numbers)."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"it refers to {module}.{name}, and only plain data is read")


def meta_vocab(folder: Path) -> int | None:
    """vocab_size from folder/meta.pkl (nanoGPT's), or None when there is no such file.

    Raises ValueError (one line, naming the file) when the file is not plain data with a positive
    integer vocab_size.
    """
    path = Path(folder) / META_FILE
    if not path.is_file():
        return None
    hint = "pass the vocabulary explicitly (trial.vocab_size in the spec, or --vocab-size)"
    if path.stat().st_size > META_MAX_BYTES:
        raise ValueError(f"{path} is larger than {META_MAX_BYTES >> 20} MiB, too large for a vocabulary file; {hint}")
    try:
        meta = _PlainUnpickler(io.BytesIO(path.read_bytes())).load()
    except Exception as exc:  # any malformed pickle: a clear refusal, never its code
        raise ValueError(f"{path} cannot be read safely ({exc}); {hint}") from None
    vocab = meta.get("vocab_size") if isinstance(meta, dict) else None
    if isinstance(vocab, bool) or not isinstance(vocab, int) or vocab < 1:
        raise ValueError(f"{path} holds no positive integer vocab_size (got {vocab!r}); {hint}")
    return vocab


def max_token(tokens: np.ndarray) -> int:
    """The largest id in a (possibly memory-mapped, possibly huge) token array, read in chunks."""
    return max(int(tokens[i:i + _CHUNK].max()) for i in range(0, len(tokens), _CHUNK))


def bin_files(path: Path) -> list[Path]:
    """The uint16 token files of a source: the .bin itself, a nanoGPT folder's train.bin and val.bin, or
    none (a byte-level source)."""
    if path.is_file():
        return [path] if path.suffix == ".bin" else []
    if (path / "train.bin").is_file() and (path / "val.bin").is_file():
        return [path / "train.bin", path / "val.bin"]
    return []


def token_file_vocab(data: str) -> int | None:
    """The vocabulary of a source of uint16 token files: the vocab_size of a meta.pkl beside them, else
    their largest id + 1 (checked against meta.pkl's). None for byte-level sources (vocabulary 256)."""
    if data == "kjv":
        return None
    files = bin_files(Path(data).expanduser())
    if not files:
        return None
    top = max(max_token(_read_uint16(f)) for f in files)
    meta = meta_vocab(files[0].parent)
    if meta is not None and top >= meta:
        raise ValueError(f"{files[0].parent / META_FILE} says vocab_size {meta}, but the data holds token {top}")
    return meta if meta is not None else top + 1


def model_vocab(vocab: int) -> int:
    """A model vocabulary for data of `vocab` tokens: rounded up to a multiple of VOCAB_MULTIPLE."""
    return -(-vocab // VOCAB_MULTIPLE) * VOCAB_MULTIPLE


def _read_uint16(path: Path) -> np.ndarray:
    size = path.stat().st_size
    if size == 0 or size % 2:
        raise ValueError(f"token file {path} holds {size} bytes; expected a non-zero, even number (uint16 tokens)")
    return np.memmap(path, dtype=np.uint16, mode="r")
