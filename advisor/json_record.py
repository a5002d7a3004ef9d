"""Dataclass records to and from JSON values, driven by the fields' declared types: `json_of` writes a record,
`read_record` reads one back, so a field added to a record is one line (its declaration).

Reading follows the annotation of each field: a number (float), a whole number (int), true/false (bool), a
string, a pair `tuple[float, float]`, a list (`tuple[X, ...]`, `list[X]`), an object of records
(`dict[str, X]`), a nested record (a dataclass: its own `from_json`), any of these or null (`X | None`),
or anything (`object`, a bare `dict`: kept as written). A field with a default is optional: absent or null,
it takes the default; wrong-typed, it takes the default too in a lenient record (older or hand-written files
still load), and is refused in a strict one (`STRICT = True` on the class). A field without a default is
required: absent or wrong-typed, it is refused with one line naming the key (`where.key must be ...`). A
field whose format is special names its own reader in its metadata: `field(metadata={"read": fn})`, fn(value,
where) -> value.

Annotations (strings, under `from __future__ import annotations`) are parsed once (`parse`, shared with
advisor/artifact_check.py) and each class's readers cached: the advisor's cold start reads a whole model
through here.
"""
from __future__ import annotations

import math
import sys
from dataclasses import MISSING, dataclass, fields
from functools import lru_cache

from advisor.units import is_number

_PLANS: dict[type, tuple] = {}
_RECORD_FIELDS: dict[type, dict] = {}
_TYPED: dict[type, frozenset] = {}
_SPECS: dict[type, tuple] = {}


def _specs(cls) -> tuple:
    out = _SPECS[cls] = tuple((f.name, f.default, f.default_factory) for f in fields(cls))
    return out


def record(cls):
    """@record: a dataclass whose equality and repr are JsonRecord's, not generated per class (generating
    them costs each class two more exec calls at import: the advisor's cold start defines every record)."""
    if hasattr(cls, "__post_init__"):  # JsonRecord's own __init__ would never call it
        raise TypeError(f"@record {cls.__name__}: a __post_init__ would not run; check values in from_json")
    return dataclass(cls, init=False, eq=False, repr=False)


class JsonRecord:
    """A dataclass read and written by its field types: `from_json(d, where)` and `to_json()`. ERROR: the
    exception a required or strict field raises; STRICT: refuse wrong-typed optional values too. Equal
    when of one class with equal fields, as a dataclass."""

    ERROR: type[Exception] = ValueError
    STRICT = False
    READ_BY_TYPE = True  # False for a class whose from_json reads it otherwise (none of its fields typed)
    KEEP_NULL: tuple[str, ...] = ()  # fields written as null when None (else left out)

    @classmethod
    def from_json(cls, d, where: str = ""):
        return read_record(cls, d, where, cls.ERROR)

    def __init__(self, *args, **kwargs) -> None:
        specs = _SPECS.get(self.__class__) or _specs(self.__class__)
        if len(args) > len(specs):
            raise TypeError(f"{self.__class__.__name__}() takes {len(specs)} fields, got {len(args)}")
        for i, (name, default, factory) in enumerate(specs):
            if i < len(args):
                value = args[i]
            elif name in kwargs:
                value = kwargs.pop(name)
            elif default is not MISSING:
                value = default
            elif factory is not MISSING:
                value = factory()
            else:
                raise TypeError(f"{self.__class__.__name__}() missing the field {name!r}")
            self.__dict__[name] = value
        if kwargs:
            raise TypeError(f"{self.__class__.__name__}() has no field {next(iter(kwargs))!r}")

    def to_json(self) -> dict:
        return json_of(self, keep_null=self.KEEP_NULL)

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, f.name) == getattr(other, f.name) for f in fields(self))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{f.name}={getattr(self, f.name)!r}' for f in fields(self))})"


class Wrong(Exception):
    """A value that does not fit its field's type; the text completes '<where> ...' (e.g. 'must be a list')."""


def json_of(obj, keep_null: tuple[str, ...] = (), only: tuple[str, ...] | None = None) -> dict:
    """A dataclass as JSON values, in field order: None left out (unless named in keep_null), nested
    records through their to_json, tuples as lists."""
    out = {}
    for f in fields(obj):
        if only is not None and f.name not in only:
            continue
        value = getattr(obj, f.name)
        if value is None and f.name not in keep_null:
            continue
        out[f.name] = json_value(value)
    return out


def json_value(value):
    if hasattr(value, "to_json"):
        return value.to_json()
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: json_value(v) for k, v in value.items()}
    return value


def read_record(cls, d, where: str, error: type[Exception]):
    """An instance of dataclass `cls` from the JSON object `d` (module docstring); `error` is raised with one
    line naming the key when a required field is missing or wrong, or a strict record holds a wrong value."""
    if not isinstance(d, dict):
        raise error(f"{where or cls.__name__} must be an object, got {short_repr(d)}")
    strict = getattr(cls, "STRICT", False)
    kwargs = {}
    for name, read, required in _plan(cls):
        value = d.get(name)
        if value is None and not required:
            continue  # the dataclass fills in the default
        key = f"{where}.{name}" if where else name
        try:
            kwargs[name] = read(value, key, error)
        except Wrong as exc:
            if required or strict:
                raise error(f"{key} {exc}") from None
            # lenient: a wrong-typed optional value reads as its default
    return cls(**kwargs)


def _plan(cls) -> tuple:
    """(name, reader, required) per field of cls: annotations parsed once (cached), then the readers cached."""
    plan = _PLANS.get(cls)
    if plan is None:
        names = vars(sys.modules[cls.__module__])
        plan = tuple((f.name, _own(f.metadata["read"]) if "read" in f.metadata else _reader(parse(f.type), names),
                      f.default is MISSING and f.default_factory is MISSING) for f in fields(cls))
        _PLANS[cls] = plan
    return plan


def typed_fields(cls) -> frozenset[str]:
    """The fields of a JsonRecord whose value read_record guarantees to be of the declared type (read by their
    annotation, not by their own reader nor kept as written): advisor/artifact_check.py need not match them."""
    out = _TYPED.get(cls)
    if out is None:
        out = _TYPED[cls] = frozenset(name for (name, read, _), f in zip(_plan(cls), fields(cls))
                                      if cls.READ_BY_TYPE and "read" not in f.metadata and read is not _anything)
    return out


def record_fields(cls) -> dict[str, type]:
    """The fields of dataclass cls whose type (or `X | None`) is a JsonRecord: name -> that record type
    (resolved once per class)."""
    out = _RECORD_FIELDS.get(cls)
    if out is None:
        names = vars(sys.modules[cls.__module__])
        kinds = {f.name: [k for k in parse(f.type) if k[0] != "None"] for f in fields(cls)}
        out = {name: names[k[0][0]] for name, k in kinds.items() if len(k) == 1 and len(k[0]) == 1
               and isinstance(names.get(k[0][0]), type) and issubclass(names[k[0][0]], JsonRecord)}
        _RECORD_FIELDS[cls] = out
    return out


def _own(read):
    return lambda value, where, error: read(value, where)


def _reader(union, names: dict):
    """A reader (value, where, error) -> value for a parsed annotation (`parse`); names: the module's, for the
    record types it names. The reader raises Wrong for a value of another type."""
    inner = [k for k in union if k[0] != "None"]
    if len(inner) != 1:
        return _anything
    name, args = inner[0][0], inner[0][1] if len(inner[0]) > 1 else ()
    if name in ("object", "Any") or name == "dict" and not args:
        return _anything
    if name in _SCALARS:
        return _SCALARS[name]
    if name == "tuple":
        if len(args) == 2 and args[1] == "...":
            return _numbers if args[0] == (("float",),) else _sequence(_reader(args[0], names), tuple, strict=True)
        return _fixed(tuple(_reader(a, names) for a in args))
    if name == "list":
        return _sequence(_reader(args[0], names), list, strict=False)
    if name == "dict":
        return _mapping(_reader(args[1], names))
    kind = names.get(name)
    if kind is None:
        raise TypeError(f"the annotation {name!r} names no class of its module (imported only for type checking?)")
    if isinstance(kind, type) and issubclass(kind, JsonRecord):
        return _record(kind)
    if hasattr(kind, "from_json"):
        return _foreign(kind)
    raise TypeError(f"no JSON reader for the annotation {name!r}")


def _anything(value, where, error):
    return value


def _number(value, where, error):
    if value.__class__ is float and math.isfinite(value):  # the common case, without a call to is_number
        return value
    if is_number(value):
        return float(value)
    raise Wrong(f"must be a finite number, got {short_repr(value)}")


def _integer(value, where, error):
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise Wrong(f"must be a whole number, got {short_repr(value)}")


def _boolean(value, where, error):
    if isinstance(value, bool):
        return value
    raise Wrong(f"must be true or false, got {short_repr(value)}")


def _text(value, where, error):
    if isinstance(value, str):
        return value
    raise Wrong(f"must be a string, got {short_repr(value)}")


_SCALARS = {"float": _number, "int": _integer, "bool": _boolean, "str": _text}


def _numbers(value, where, error) -> tuple[float, ...]:
    """A non-empty list of finite numbers (a law's coefficients)."""
    if not isinstance(value, (list, tuple)) or not value:
        raise Wrong("must be a non-empty list of numbers")
    for v in value:
        if not is_number(v):
            raise Wrong(f"holds a non-number or a non-finite number: {v!r}")
    return tuple(map(float, value))


def _fixed(readers):
    """A fixed-length list (a pair): each item by its own type."""
    def read(value, where, error):
        if not isinstance(value, (list, tuple)) or len(value) != len(readers):
            raise Wrong(f"must be a list of {len(readers)} values, got {short_repr(value)}")
        return tuple(r(v, where, error) for r, v in zip(readers, value))
    return read


def _sequence(item, make, strict: bool):
    """A list; items of another type are dropped (strict: refused; a tuple of names, e.g. a law's inputs)."""
    def read(value, where, error):
        if not isinstance(value, (list, tuple)):
            raise Wrong(f"must be a list, got {short_repr(value)}")
        out = []
        for i, v in enumerate(value):
            try:
                out.append(item(v, f"{where}[{i}]", error))
            except Wrong:
                if strict:
                    raise Wrong(f"must be a list whose items are all readable, got {short_repr(value)}") from None
        return make(out)
    return read


def _mapping(item):
    """An object of values; entries of another type are dropped."""
    def read(value, where, error):
        if not isinstance(value, dict):
            raise Wrong(f"must be an object, got {short_repr(value)}")
        out = {}
        for k, v in value.items():
            try:
                out[k] = item(v, f"{where}.{k}", error)
            except Wrong:
                pass
        return out
    return read


def _record(cls):
    """A nested record through its class's from_json(d, where) (None from it: the value is unusable)."""
    def read(value, where, error):
        if not isinstance(value, dict):
            raise Wrong(f"must be an object, got {short_repr(value)}")
        out = cls.from_json(value, where)
        if out is None:
            raise Wrong("is not usable")
        return out
    return read


def _foreign(cls):
    """A value of a type read by its own module (the penalty model, a coded warning): cls.from_json(value);
    its ValueError is the file's error, None from it means the value is unusable."""
    def read(value, where, error):
        try:
            out = cls.from_json(value)
        except ValueError as exc:
            raise error(str(exc)) from None
        if out is None:
            raise Wrong("is not usable")
        return out
    return read


# ------------------------------------------------------------------ annotations, parsed once

@lru_cache(maxsize=None)
def parse(annotation: str):
    """'list[tuple[float, ...]] | None' -> (('list', (('tuple', (('float',), '...')),)), ('None',)): a union
    of kinds, each (name,) or (name, args). Annotations are strings (`from __future__ import annotations`);
    parsing them here (cached) is cheaper at start-up than typing.get_type_hints."""
    text = annotation.replace('"', "").replace("'", "")
    if "[" not in text:  # most fields: 'float | None', split at once
        return tuple((part.strip(),) for part in text.split("|"))
    return tuple(_parse_one(part) for part in _split(text, "|"))


def _parse_one(text: str):
    text = text.strip()
    if "[" not in text:
        return (text,)
    name, inner = text.split("[", 1)
    args = tuple("..." if a.strip() == "..." else parse(a) for a in _split(inner[:-1], ","))
    return (name.strip(), args)


def _split(text: str, sep: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch == "["
        depth -= ch == "]"
        if ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return parts + [text[start:]]


def short_repr(value) -> str:
    """A value as an error message quotes it: its repr, cut at 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
