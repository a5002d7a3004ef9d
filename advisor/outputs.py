"""Every file a command writes goes through here: one check before any work, one way to write.

The check (`check_outputs`) refuses, before anything is computed, an output that is an input or another
output (compared through symlinks, `..` and hard links), an output that is a folder or lies under a file, a report folder whose files would replace an
input (a symlink `rep/report.md -> table.csv` included), an existing file without `--force` (a symlink
counts as the file it points to), a file name whose extension the writer would not honour (`--plot
model` would be written as `model.png`: refused, so the name printed is the name written), and any file
inside the installed package's own data (a replaced catalog or shipped model breaks every command).

The writer (`write_atomic`) writes into a temporary file created exclusively (O_EXCL) under an
unpredictable name in the target's folder, then renames it over the target: a half-written file is never
seen, a symlink planted at a guessable temporary name is never followed, and a symlink at the target is
replaced, not written through.

Pure Python: the advisor's start-up imports this only when a command writes.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

# Which file names each kind of output accepts (what its writer honours); None: any name.
PLOT_SUFFIXES = (".png", ".pdf", ".svg")
TABLE_SUFFIXES = (".csv", ".parquet")


class OutputError(ValueError):
    """An output the command must not write (one line naming the option and the file)."""


def check_outputs(inputs: dict, outputs: dict, folders: dict | None = None, force: bool = True,
                  suffixes: dict | None = None) -> None:
    """Refuse (OutputError) what the module docstring lists, before any work.

    inputs, outputs: label -> path ({"TABLE": "t.csv"}, {"-o": "m.json"}); None paths are skipped.
    folders: label -> (folder, glob patterns of the files written into it).
    force: whether existing outputs may be replaced (False: an existing file is refused).
    suffixes: label -> the extensions that output accepts (e.g. {"--plot": PLOT_SUFFIXES})."""
    files = [(label, Path(p), "input") for label, p in inputs.items() if p not in (None, "")]
    outs = [(label, Path(p), "output") for label, p in outputs.items() if p not in (None, "")]
    for label, path, _ in outs:
        _check_name(label, path, (suffixes or {}).get(label))
        _check_place(label, path)
        _refuse_shipped(label, path)
        if not force and _exists(path):
            raise OutputError(f"{label} {path} exists{_target_note(path)}; pass --force to overwrite it")
    files += outs
    for i, (label, path, role) in enumerate(files):
        for other_label, other, other_role in files[:i]:
            if "output" in (role, other_role) and same_path(path, other):
                raise OutputError(f"{label} {path} is the same file as {other_label} {other}: "
                                  "refusing to overwrite it; give another path")
    for label, (folder, patterns) in (folders or {}).items():
        if folder not in (None, ""):
            _check_folder(label, Path(folder), patterns, files)


def _check_name(label: str, path: Path, accepted) -> None:
    if accepted and path.suffix.lower() not in accepted:
        names = ", ".join(accepted)
        raise OutputError(f"{label} {path}: give a file name ending in {names} (the extension says what to write)")


def _check_place(label: str, path: Path) -> None:
    """A file can be written there: the path is not a folder, and no folder on the way is a file (the
    writer creates the missing ones)."""
    try:
        if path.is_dir():
            raise OutputError(f"{label} {path} is a folder: give a file name")
        blocking = next((p for p in path.parents if p.exists()), None)
    except OSError:  # unreadable on the way: the writer words what goes wrong
        return
    if blocking is not None and not blocking.is_dir():
        raise OutputError(f"{label} {path}: {blocking} is a file, not a folder; give another path")


def _check_folder(label: str, folder: Path, patterns, files) -> None:
    from fnmatch import fnmatch  # only when a folder is checked: keeps `advisor recommend` quick to start

    _refuse_shipped(label, folder / "x")
    for other_label, other, _ in files:
        if same_path(other.parent, folder) and any(fnmatch(other.name, p) for p in patterns):
            raise OutputError(f"{label} {folder} would write over {other_label} {other}: refusing; give another folder")
    # what is in the folder already under a name it would write (a symlink to an input counts as that input)
    for pattern in patterns:
        for existing in _glob(folder, pattern):
            for other_label, other, _ in files:
                if same_path(existing, other):
                    raise OutputError(f"{label} {folder}: {existing} is {other_label} {other} (a link to it): "
                                      "refusing to write over it; give another folder")


def _glob(folder: Path, pattern: str) -> list[Path]:
    try:
        return sorted(folder.glob(pattern)) if folder.is_dir() else []
    except OSError:
        return []


def _exists(path: Path) -> bool:
    try:
        return path.exists() or path.is_symlink()  # a dangling link is there too: not replaced without --force
    except (OSError, ValueError):
        return False


def _target_note(path: Path) -> str:
    return f" (a link to {path.resolve()})" if path.is_symlink() else ""


def _refuse_shipped(label: str, path: Path) -> None:
    """Refuse a path inside the installed package's data folder (a checkout's data/ is the developer's)."""
    from advisor.paths import installed_data_dir

    data = installed_data_dir()
    if data is None:
        return
    try:
        inside = path.resolve().is_relative_to(data.resolve())
    except (OSError, ValueError, RuntimeError):
        return
    if inside:
        raise OutputError(f"{label} {path} is inside the advisor's installed data ({data}): writing there would "
                          "replace what the advisor ships; give a path of your own")


def same_path(a, b) -> bool:
    """Whether a and b name the same file: resolved (symlinks, `..`), or by inode where both exist."""
    a, b = Path(a), Path(b)
    try:
        if a.resolve() == b.resolve():
            return True
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except (OSError, ValueError, RuntimeError):  # unreadable, a NUL byte, a symlink loop: not provably the same
        return False


def write_atomic(path, write, binary: bool = False) -> Path:
    """Call write(file) on a fresh temporary file beside `path`, then rename it over `path`.

    The temporary file is made by mkstemp (O_CREAT | O_EXCL, a random name), so nothing planted at a
    temporary name is followed; on any failure it is removed and `path` is as it was. Missing parent
    folders are created. OSError propagates for the caller to word."""
    import tempfile  # here, not at the top: tempfile pulls in shutil, random, bz2, lzma (start-up time)

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb" if binary else "w", encoding=None if binary else "utf-8") as f:
            write(f)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the mode open() would
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def write_text(path, text: str) -> Path:
    return write_atomic(path, lambda f: f.write(text))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_figure(fig, path, **kwargs) -> Path:
    """A matplotlib figure written atomically; the format follows the file's extension."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".") or "png"
    return write_atomic(path, lambda f: fig.savefig(f, format=fmt, **kwargs), binary=True)
