"""Where the shipped data lives (corpus, default fitted model, literature tables)."""
from __future__ import annotations

import importlib.util
from pathlib import Path


def data_dir() -> Path:
    """The `data/` folder: the repository's in a checkout, the installed copy otherwise.

    pyproject installs data/ as the resource package `scaling_advisor_data` (a namespace package: no
    __init__.py), so its folder is the spec's search location.
    """
    repo_data = Path(__file__).resolve().parent.parent / "data"
    if repo_data.is_dir():
        return repo_data
    spec = importlib.util.find_spec("scaling_advisor_data")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the shipped data (package scaling_advisor_data) is not installed")
    return Path(list(spec.submodule_search_locations)[0])


def installed_data_dir() -> Path | None:
    """The shipped data's folder when it is an installed copy (site-packages), None in a checkout.

    Outputs are refused inside an installed copy (advisor/outputs.py): replacing its catalog or a shipped
    model breaks every command. A checkout's data/ is where developers write shipped models, under git."""
    repo_data = Path(__file__).resolve().parent.parent / "data"
    if repo_data.is_dir() and (repo_data.parent / "pyproject.toml").is_file():
        return None
    try:
        return data_dir()
    except FileNotFoundError:
        return None
