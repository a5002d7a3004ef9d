"""Reading an input file with a bound on the bytes read, whatever `stat` says: /dev/zero, a FIFO or a file
under /proc reports a size of 0 and never ends, so the bound is enforced while reading, not before."""
from __future__ import annotations

import io
from pathlib import Path

MIB = 2**20
TEXT_LIMIT = 64 * MIB  # a fitted model, a model config, a sweep spec, a candidates CSV
TABLE_LIMIT = 8 * 1024 * MIB  # a trial table (CSV or Parquet)


class TooLarge(OSError):
    """The file holds more than the bound allows (or never ends)."""

    def __init__(self, path, limit: int) -> None:
        super().__init__(f"more than {_size(limit)}: not a file this command reads (is it a device or a pipe?)")
        self.filename = str(path)


def read_bytes(path, limit: int = TEXT_LIMIT) -> bytes:
    """The file's bytes, at most `limit` of them (TooLarge beyond); OSError as open() raises it."""
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(path, limit)
    return data


def read_text(path, limit: int = TEXT_LIMIT) -> str:
    """The file as UTF-8 text (UnicodeDecodeError otherwise), at most `limit` bytes."""
    return read_bytes(path, limit).decode("utf-8-sig")  # a byte-order mark (Windows editors) is not content


class BoundedReader(io.RawIOBase):
    """A binary stream over a file that raises TooLarge once more than `limit` bytes were read (for pandas)."""

    def __init__(self, path, limit: int = TABLE_LIMIT) -> None:
        self._file = open(path, "rb")
        self._path, self._limit, self._read = Path(path), limit, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self._file.readinto(buffer)
        self._read += n or 0
        if self._read > self._limit:
            raise TooLarge(self._path, self._limit)
        return n

    def close(self) -> None:
        self._file.close()
        super().close()


def _size(n: int) -> str:
    return f"{n / 1024**3:g} GiB" if n >= 1024**3 else f"{n / MIB:g} MiB"
