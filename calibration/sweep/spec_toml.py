"""Write a spec dict (what parse_spec reads) as TOML text, and to a file safely.

Only what specs hold: strings, booleans, numbers, lists of them, and one level of tables. The file is
written through a temporary file and a rename; an existing file needs force, and a symbolic link is
never followed (nor replaced).
"""
from __future__ import annotations

import json
from pathlib import Path


def to_toml(spec: dict) -> str:
    top = [f"{k} = {_value(v)}" for k, v in spec.items() if not isinstance(v, dict)]
    tables = [f"\n[{k}]\n" + "\n".join(f"{kk} = {_value(vv)}" for kk, vv in v.items())
              for k, v in spec.items() if isinstance(v, dict)]
    return "\n".join(top) + "\n" + "\n".join(tables) + "\n"


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a TOML basic string is a JSON string for what specs hold
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} in a spec")


def write_spec(text: str, path: str | Path, force: bool = False) -> Path:
    """Write the TOML text to path (OSError's message or ValueError: one line, nothing written)."""
    from advisor.outputs import write_atomic

    path = check_target(path, force)
    try:
        write_atomic(path, lambda f: f.write(text))  # a fresh temp file (O_EXCL, random name), renamed
    except OSError as exc:
        raise ValueError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def check_target(path: str | Path, force: bool = False) -> Path:
    """The path a spec may be written to (checked before any work): ValueError, one line, when not."""
    path = Path(path)
    if path.is_symlink():
        raise ValueError(f"{path} is a symbolic link: not followed; write the spec elsewhere")
    if path.exists() and not force:
        raise ValueError(f"{path} exists (use --force to overwrite)")
    if path.exists() and not path.is_file():
        raise ValueError(f"{path} is not a file")
    if not path.parent.is_dir():
        raise ValueError(f"cannot write {path}: its folder {path.parent} does not exist")
    return path
