"""Where the shipped data lives (corpus, default fitted model, literature tables)."""
from __future__ import annotations

from pathlib import Path


def data_dir() -> Path:
    """The `data/` folder: the repository's in a checkout, the installed copy otherwise."""
    repo_data = Path(__file__).resolve().parent.parent / "data"
    if repo_data.is_dir():
        return repo_data
    from importlib.resources import files  # installed (non-editable) package

    return Path(str(files("scaling_advisor_data")))
