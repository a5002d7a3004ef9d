"""A spec dict (what parse_spec reads) as TOML text: only what specs hold, strings, booleans, numbers,
lists of them and one level of tables. Commands write it through the one writer (advisor/outputs.py)."""
from __future__ import annotations

import json


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
