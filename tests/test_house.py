"""The house rules that a reader would otherwise check by hand (DEVELOPERS.md, docs/architecture.md): no
import cycles, no import against the stage order, no private name used across modules, no function over 60
lines, and an architecture page that names every module. Measured by benchmarks/house_metrics.py (ast only)."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def house():
    spec = importlib.util.spec_from_file_location("house_metrics", ROOT / "benchmarks" / "house_metrics.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def figures(house):
    return house.measure()


@pytest.mark.parametrize("rule", ["cycles", "arrows_back", "private_imports", "long_functions"])
def test_the_house_keeps_its_rules(figures, rule):
    assert figures[rule] == [], f"{rule}: {figures[rule]}"


def test_the_measures_see_a_cycle_and_an_arrow_back(house):
    """The checks above can fail: a two-module cycle and a proxy module importing the sweep are found."""
    graph = {"calibration.proxy.a": {"calibration.sweep.b"}, "calibration.sweep.b": {"calibration.proxy.a"}}
    assert house.cycles(graph) == [["calibration.proxy.a", "calibration.sweep.b"]]
    assert house.arrows_back(graph) == ["calibration.proxy.a -> calibration.sweep.b"]


def test_the_architecture_page_names_every_module(house):
    page = (ROOT / "docs" / "architecture.md").read_text()
    unnamed = [str(path.relative_to(ROOT)) for path in house.module_files().values()
               if path.name not in ("__init__.py", "__main__.py")
               and not re.search(rf"[`/]{re.escape(path.name)}`", page)]  # `style.py` or `cli/style.py`
    assert unnamed == []
