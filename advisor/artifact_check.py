"""Checking a whole fitted-model artifact once it is read: every field against its declared type, counts
not negative, the coverage record in its documented shape, and laws that evaluate to finite numbers over
the fit range. A hand-edited file with a string where a number goes, a `null` inside a list or a log
coefficient of 1e308 is refused here, in one line naming the field (`ModelError`), instead of failing
later inside `recommend`, `check` or `show` with a TypeError or OverflowError.

The types come from the dataclasses' own annotations (strings, under `from __future__ import annotations`),
parsed on first use and cached (advisor/json_record.py `parse`, which the reader shares): no
`typing.get_type_hints`, so start-up stays fast. A field added to an artifact type is checked without a
line here. A record read by its field types (advisor/json_record.py `read_record`) is not matched again
on the fields the reader typed: their counts and the records inside them still are.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import fields, is_dataclass
from functools import lru_cache

from advisor.json_record import JsonRecord, parse, short_repr, typed_fields
from advisor.units import is_number

# Whole-number fields that count something: never negative.
COUNT_FIELDS = {"n_cells", "n_edge_cells", "n_trials", "n_trials_used", "n_runs", "bootstrap", "loss_bootstrap",
                "seed"}
LAW_LIMIT = 1e300  # a law that predicts beyond this (or 1/this) inside its own fit range is not a law


def check_artifact(artifact, error: type[Exception]) -> None:
    """Raise `error` (one line naming the field) for the first thing the module docstring refuses."""
    check_record(artifact, error)
    _check_coverage(artifact.validation.coverage, error)
    _check_laws(artifact, error)


# ------------------------------------------------------------------ by declared type

def check_record(record, error: type[Exception], where: str = "") -> None:
    """Every field of a dataclass record (and of the records inside it) against its annotation."""
    _check_value(record, type(record).__name__, where, error)


def _check_value(obj, annotation: str, where: str, error) -> None:
    if not _matches(obj, parse(annotation)):
        raise error(f"{where} must be {_describe(parse(annotation))}, got {short_repr(obj)}")
    if is_dataclass(obj) and not isinstance(obj, type):
        # a record read by its field types (advisor/json_record.py) holds those fields in their types already
        typed = typed_fields(type(obj)) if isinstance(obj, JsonRecord) else ()
        for f in fields(obj):
            value, name = getattr(obj, f.name), f"{where}.{f.name}".lstrip(".")
            kind = parse(f.type)
            if f.name not in typed and not _matches(value, kind):
                raise error(f"{name} must be {_describe(kind)}, got {short_repr(value)}")
            if f.name in COUNT_FIELDS and isinstance(value, int) and value < 0:
                raise error(f"{name} counts something: it cannot be negative, got {value}")
            if _may_hold_records(f.type):
                _recurse(value, kind, name, error)


def _recurse(value, kind, where: str, error) -> None:
    """Check the dataclasses inside a value (directly, or in its lists and tuples)."""
    if is_dataclass(value) and not isinstance(value, type):
        _check_value(value, type(value).__name__, where, error)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            if is_dataclass(item) and not isinstance(item, type):
                _check_value(item, type(item).__name__, f"{where}[{i}]", error)


BUILTIN_NAMES = {"None", "str", "int", "float", "bool", "dict", "list", "tuple", "object", "Callable", "..."}


@lru_cache(maxsize=None)
def _may_hold_records(annotation: str) -> bool:
    """Whether a field of this type can hold artifact records (dataclasses) to check field by field: lists
    of numbers (bootstrap samples, most of a model) are then not walked item by item."""
    names = annotation.replace("[", " ").replace("]", " ").replace(",", " ").replace("|", " ").replace('"', " ")
    return any(name not in BUILTIN_NAMES for name in names.replace("'", " ").split())


def _matches(value, union) -> bool:
    return any(_matches_one(value, kind) for kind in union)


def _matches_one(value, kind) -> bool:
    name, args = kind[0], kind[1] if len(kind) > 1 else ()
    if name in ("object", "Callable"):
        return True
    if name in _SIMPLE:  # only the named type's test runs (this is most of checking a model: cold start)
        return _SIMPLE[name](value)
    if name == "dict":
        return isinstance(value, dict) and (not args or all(
            _matches(k, args[0]) and _matches(v, args[1]) for k, v in value.items()))
    if name in ("list", "tuple"):
        return isinstance(value, (list, tuple)) and _items_match(value, args)
    return type(value).__name__ == name  # an artifact type: checked field by field by _recurse


_SIMPLE = {"None": lambda v: v is None, "str": lambda v: isinstance(v, str), "bool": lambda v: isinstance(v, bool),
           "int": lambda v: isinstance(v, int) and not isinstance(v, bool), "float": is_number}


def _items_match(value, args) -> bool:
    if not args:
        return True
    if len(args) == 2 and args[1] == "..." or len(args) == 1:
        if args[0] == FLOAT:  # bootstrap samples are most of a model: checked in C, not item by item
            return _finite_numbers(value)
        if args[0] in (ROWS_OF_FLOATS, FIXED_ROWS_OF_FLOATS):
            return _all_sequences(value) and _finite_numbers(
                list(itertools.chain.from_iterable(value)))
        return all(_matches(v, args[0]) for v in value)
    return len(value) == len(args) and all(_matches(v, a) for v, a in zip(value, args))


FLOAT = (("float",),)
ROWS_OF_FLOATS = (("tuple", (FLOAT, "...")),)
FIXED_ROWS_OF_FLOATS = (("list", (FLOAT,)),)
_NUMBER_TYPES = {int, float}


def _all_sequences(values) -> bool:
    """Every item a list or tuple: the types compared in C first (the rows of bootstrap draws, thousands)."""
    return set(map(type, values)) <= {list, tuple} or all(isinstance(v, (list, tuple)) for v in values)


def _finite_numbers(values) -> bool:
    if not set(map(type, values)) <= _NUMBER_TYPES:
        return False
    try:
        return math.isfinite(math.fsum(values))
    except OverflowError:  # the sum of finite numbers overflowed; look at each
        return all(map(is_number, values))


def _describe(union) -> str:
    return " or ".join(_describe_one(k) for k in union)


def _describe_one(kind) -> str:
    name, args = kind[0], kind[1] if len(kind) > 1 else ()
    words = {"None": "null", "str": "a string", "int": "a whole number", "float": "a finite number",
             "bool": "true or false", "dict": "an object"}
    if name in ("list", "tuple") and args:
        return f"a list of {_describe(args[0])}"
    return words.get(name, "a list" if name in ("list", "tuple") else f"a {name} record")


# ------------------------------------------------------------------ content rules

def _check_coverage(coverage, error) -> None:
    """docs/fitted-model.md: per view and law, `inside` <= `n` whole numbers and a median width ratio (the
    types themselves are checked on reading: advisor/artifact.py's coverage records are strict)."""
    if coverage is None:
        return
    for view, part in coverage.views().items():
        for law, entry in part.laws().items():
            if entry.inside is not None and not _coverage_counts(entry):
                raise error(f"validation.coverage.{view}.{law} must hold whole numbers inside <= n and a "
                            f"finite median_width_ratio, got {short_repr(entry.to_json())}")


def _coverage_counts(entry) -> bool:
    inside, n = entry.inside, entry.n
    counts = all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in (inside, n))
    return counts and inside <= n and is_number(entry.median_width_ratio)


def _check_laws(artifact, error) -> None:
    """Each LR and batch form (chosen and alternatives) finite and positive at the fit range's corners."""
    ranges = artifact.fit_range
    if not {"n_params", "tokens"} <= set(ranges):
        return
    for name, law in (("laws.lr", artifact.laws.lr), ("laws.batch", artifact.laws.batch)):
        for k, form in enumerate(law.forms if law is not None else []):
            where = name if k == 0 else f"{name}.alternatives[{k - 1}]"
            for n in ranges["n_params"]:
                for d in ranges["tokens"]:
                    log_y = _log_predict(form, n, d)
                    if log_y is None or abs(log_y) > math.log(LAW_LIMIT):
                        raise error(f"{where}: its log_coef {short_repr(list(form.log_coef))} predict "
                                    f"{'nothing finite' if log_y is None else f'e^{log_y:.3g}'} inside its own "
                                    "fit range: not a usable law")


def _log_predict(form, n: float, d: float) -> float | None:
    try:
        value = form.power_law().log_predict({"n_params": n, "tokens": d, "flops": 6.0 * n * d})
    except (ValueError, OverflowError, ZeroDivisionError):
        return None
    return value if math.isfinite(value) else None
