"""What ships in data/: the catalog (`data/catalog.json`) of sources and models, and name resolution.

A source is a trial table (contract 1 of docs/architecture.md) that did not come from our own calibration,
e.g. Step Law's released sweeps; a model is a fitted-model artifact. `--model` takes a shipped model's name
(`cpu-default`) or a path; a name wins over a file of the same name (write `./cpu-default` for the file).
Pure Python (json, pathlib): `advisor recommend` reads this on every start.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from advisor.model import ModelError
from advisor.paths import data_dir

CATALOG_FILE = "catalog.json"
SCHEMA = "scaling-advisor/catalog"
KINDS = ("source", "model")


class CatalogError(ModelError):
    """An unknown name or an unreadable catalog (one-line message; the CLI exits 2)."""


def catalog_path() -> Path:
    return data_dir() / CATALOG_FILE


@lru_cache(maxsize=4)
def _load(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogError(f"the catalog of shipped data is missing: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CatalogError(f"cannot read the catalog {path}: {exc}") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA or not isinstance(doc.get("entries"), list):
        raise CatalogError(f"{path} is not a {SCHEMA} document with an `entries` list")
    for e in doc["entries"]:
        if not (isinstance(e, dict) and e.get("kind") in KINDS
                and all(isinstance(e.get(k), str) for k in ("name", "path"))):
            raise CatalogError(f"{path}: every entry needs a name, a path and a kind in {KINDS}; got {e!r}")
    return doc


def catalog() -> dict:
    """The whole catalog document (cached per path: it does not change while the process runs)."""
    return _load(catalog_path())


def entries(kind: str | None = None) -> list[dict]:
    """The shipped entries in catalog order, of one kind ("source" | "model") or all."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return [dict(e) for e in catalog()["entries"] if kind is None or e["kind"] == kind]


def names(kind: str | None = None) -> list[str]:
    return [e["name"] for e in entries(kind)]


def entry(name: str, kind: str | None = None) -> dict:
    """One entry by name; CatalogError listing the shipped names when there is none."""
    for e in entries(kind):
        if e.get("name") == name:
            return e
    what = f"shipped {kind}" if kind else "shipped source or model"
    shipped = ", ".join(dict.fromkeys(names(kind))) or "none"  # a model may share its source's name
    raise CatalogError(f"unknown {what} {name!r}; shipped: {shipped}")


def entry_path(e: dict) -> Path:
    """Where an entry's file lies (catalog paths are relative to data/)."""
    return data_dir() / e["path"]


def default_model_name() -> str:
    name = catalog().get("default_model")
    if not isinstance(name, str):
        raise CatalogError(f"{catalog_path()} names no default_model")
    return name


def default_model_path() -> Path:
    return entry_path(entry(default_model_name(), "model"))


def default_moe_model_path() -> Path:
    """The model that serves MoE targets by default (catalog key `default_moe_model`)."""
    name = catalog().get("default_moe_model")
    if not isinstance(name, str):
        raise CatalogError(f"{catalog_path()} names no default_moe_model: pass --model NAME|FILE (a model fitted "
                           "on MoE runs)")
    return entry_path(entry(name, "model"))


def _resolve(name_or_path: str | Path, kind: str) -> Path:
    """A shipped name of this kind, else an existing path; CatalogError naming both options otherwise."""
    if isinstance(name_or_path, Path):
        return name_or_path  # an explicit path from Python: the loader reports what is wrong with it
    text = str(name_or_path)
    if text in names(kind):
        return entry_path(entry(text, kind))
    if not text.strip():  # Path("") is ".", the current folder: not what an empty option meant
        raise CatalogError(f"the {kind} name is empty: give a shipped {kind} ({', '.join(names(kind)) or 'none'}) "
                           "or a file")
    path = Path(text)
    try:
        exists = path.exists()
    except (OSError, ValueError):  # e.g. a NUL byte in the name
        exists = False
    if exists:
        return path
    other = "source" if kind == "model" else "model"
    hint = f"; {text!r} is a shipped {other}, not a {kind}" if text in names(other) else ""
    raise CatalogError(f"{kind} not found: {text!r} is neither a shipped {kind} "
                       f"({', '.join(names(kind)) or 'none'}) nor an existing file{hint}")


def shipped_entry(path: str | Path, kind: str = "model") -> dict | None:
    """The catalog entry whose file `path` is (however it was named), or None for the user's own file."""
    try:
        target = Path(path).resolve()
    except (OSError, ValueError):
        return None
    return next((e for e in entries(kind) if entry_path(e).resolve() == target), None)


def resolve_model(name_or_path: str | Path) -> Path:
    """`cpu-default` -> data/models/cpu-default/model.json; any existing path -> itself."""
    return _resolve(name_or_path, "model")


def resolve_source(name_or_path: str | Path) -> Path:
    """`steplaw-dense` -> data/sources/steplaw-dense/trials.csv; any existing path -> itself."""
    return _resolve(name_or_path, "source")
