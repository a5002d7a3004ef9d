"""Reading a JSON object from text: the advisor's files (fitted models, model configs) are JSON objects, and
a truncated, hostile or wrong-shaped file must be one line of error, never a traceback."""
from __future__ import annotations

import json


def parse_object(text: str) -> dict:
    """The JSON object in `text`; ValueError with the reason (to follow the file's name) otherwise."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:  # 200,000 nested brackets
        raise ValueError("not valid JSON (nested too deeply)") from None
    if not isinstance(doc, dict):
        raise ValueError(f"expected a JSON object, got a JSON {type(doc).__name__}")
    return doc
