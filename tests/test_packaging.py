"""The project's promises about installation, checked on the wheel this checkout builds: the advisor runs
with click alone, `advisor fit` runs without torch (the `fit` extra), the shipped data is inside, the
declared dependencies are the ones the code imports, and CI runs the README's test command."""
from __future__ import annotations

import ast
import configparser
import email.parser
import functools
import importlib.metadata
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SELF = "scaling-advisor"
FIRST_PARTY = {"advisor", "calibration", "scaling_advisor_data"} | {p.stem for p in (ROOT / "tests").glob("*.py")}
# Declared but never imported by name: pandas reads Parquet through it.
IMPORTED_INDIRECTLY = {"pyarrow"}
# What the `fit` extra does not bring, blocked in the fit run as if it were not installed.
NOT_IN_FIT = ("torch", "sklearn", "scipy", "ray")


def _norm(dist: str) -> str:
    return re.sub(r"[-_.]+", "-", dist).lower()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel this checkout builds, from a copy, so that the checkout gets no build/ or egg-info."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    for name in ("advisor", "calibration", "data"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("dist")
    build = f"from setuptools import build_meta; build_meta.build_wheel({str(out)!r})"
    subprocess.run([sys.executable, "-c", build], cwd=src, check=True, capture_output=True)
    [whl] = out.glob("*.whl")
    return whl


@pytest.fixture(scope="module")
def site(wheel, tmp_path_factory) -> Path:
    """The wheel unpacked, as an installer lays it into site-packages."""
    path = tmp_path_factory.mktemp("site")
    with zipfile.ZipFile(wheel) as z:
        z.extractall(path)
    return path


@pytest.fixture(scope="module")
def requires(site) -> dict[str | None, set[str]]:
    """The wheel's requirements (distribution names) per extra (None: the base install), each extra with
    the extras it names of this package folded in; python_version markers are ignored (all count)."""
    [meta] = site.glob("*.dist-info/METADATA")
    direct: dict[str | None, list[tuple[str, set[str]]]] = {}
    for line in email.parser.Parser().parsestr(meta.read_text()).get_all("Requires-Dist"):
        extra = re.search(r"""extra\s*==\s*["']([^"']+)["']""", line)
        name = re.match(r"[A-Za-z0-9._-]+", line).group()
        extras = re.search(r"\[([^\]]+)\]", line.split(";")[0])
        direct.setdefault(extra and extra.group(1), []).append(
            (_norm(name), {e.strip() for e in extras.group(1).split(",")} if extras else set()))

    def closure(extra: str | None) -> set[str]:
        names = {name for name, _ in direct.get(None, [])}
        for name, extras in direct.get(extra, []) if extra else []:
            names |= set().union(*(closure(e) for e in extras)) if name == SELF else {name}
        return names

    return {extra: closure(extra) for extra in direct}


def _run_installed(site: Path, args: list[str], cwd: Path, light: bool = False,
                   block=()) -> subprocess.CompletedProcess:
    """Run the wheel's `advisor` console script from `site`.

    light: without site-packages (python -S), with only the base requirements copied beside the wheel:
    what `pip install .` gives. block: top-level modules that fail to import, as if not installed.
    """
    paths = [str(site)] + ([str(_copy_base_requirements(site))] if light else [])
    entry = configparser.ConfigParser()
    entry.read(next(site.glob("*.dist-info/entry_points.txt")))
    module, attr = entry["console_scripts"]["advisor"].split(":")
    code = "\n".join([
        "import sys, importlib.abc",
        f"sys.path[:0] = {paths!r}",
        "class Block(importlib.abc.MetaPathFinder):",
        "    def find_spec(self, name, path=None, target=None):",
        f"        if name.split('.')[0] in {tuple(block)!r}:",
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)",
        "sys.meta_path.insert(0, Block())",
        f"import {module}, advisor.paths",
        f"assert {module}.__file__.startswith({str(site)!r}), {module}.__file__",
        f"assert str(advisor.paths.data_dir()).startswith({str(site)!r}), advisor.paths.data_dir()",
        f"sys.argv = ['advisor', *{args!r}]",
        f"{module}.{attr}()",
    ])
    flags = ["-S", "-I"] if light else ["-I"]
    return subprocess.run([sys.executable, *flags, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=600)


def _copy_base_requirements(site: Path) -> Path:
    """The base requirements' top-level modules, copied into a folder beside the wheel."""
    deps = site.parent / f"{site.name}-deps"
    if deps.exists():
        return deps
    [meta] = site.glob("*.dist-info/METADATA")
    base = {_norm(re.match(r"[A-Za-z0-9._-]+", line).group())
            for line in email.parser.Parser().parsestr(meta.read_text()).get_all("Requires-Dist") if ";" not in line}
    modules = [m for m, dists in _packages_distributions().items()
               if base & {_norm(d) for d in dists}]
    deps.mkdir()
    for module in modules:
        spec = importlib.util.find_spec(module)
        if spec.submodule_search_locations:
            shutil.copytree(list(spec.submodule_search_locations)[0], deps / module)
        else:
            shutil.copy(spec.origin, deps)
    return deps


def _quick_start() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)\n```", quick, flags=re.S)


# ---------------------------------------------------------------- the light install


def test_the_quick_start_advice_runs_from_the_wheel_with_click_alone(site, tmp_path):
    install, advice = (part.strip() for part in _quick_start()[0].split("&&"))
    assert install == "pip install ." and advice.startswith("advisor ")
    out = _run_installed(site, advice.split()[1:], tmp_path, light=True)
    assert out.returncode == 0, out.stderr
    assert "peak LR" in out.stdout and "batch" in out.stdout


def test_fit_on_a_light_install_says_what_to_install(site, tmp_path):
    out = _run_installed(site, ["fit", "t.csv", "-o", "m.json"], tmp_path, light=True)
    assert out.returncode == 2 and "[fit]" in out.stderr and "Traceback" not in out.stderr, out.stderr


# ---------------------------------------------------------------- the fit extra


def test_fit_runs_without_torch(site, tmp_path):
    """`advisor fit` of the shipped cpu-default trial table with torch (and all else `fit` lacks) absent."""
    table = site / "scaling_advisor_data" / "models" / "cpu-default" / "trials.csv"
    args = ["fit", str(table), "-o", "model.json", "--report", "report", "--bootstrap", "50"]
    out = _run_installed(site, args, tmp_path, block=NOT_IN_FIT)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "report" / "report.md").stat().st_size > 0
    assert {"law_lr.png", "law_batch.png"} <= {p.name for p in (tmp_path / "report").glob("*.png")}
    # the model it wrote serves the light advisor
    advice = _run_installed(site, ["recommend", "--params", "7B", "--model", "model.json", "--json"], tmp_path,
                            light=True)
    assert advice.returncode == 0, advice.stderr
    rec = json.loads(advice.stdout)
    assert 0 < rec["lr_low"] < rec["lr"] < rec["lr_high"] and rec["batch_tokens"] > 0


def test_fit_extra_leaves_torch_out_and_calibrate_builds_on_it(requires):
    assert requires[None] == {"click"}
    assert "torch" not in requires["fit"] and {"numpy", "pandas", "matplotlib"} <= requires["fit"]
    assert requires["fit"] < requires["calibrate"] and "torch" in requires["calibrate"]
    assert requires["calibrate"] < requires["ray"] < requires["test"]


# ---------------------------------------------------------------- dependencies match the code


def _third_party_imports(files) -> dict[str, set[str]]:
    """Top-level modules imported (at any depth: lazy imports count) -> the files importing them."""
    found: dict[str, set[str]] = {}
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else []
            for name in names:
                top = name.split(".")[0]
                if top not in FIRST_PARTY and top not in sys.stdlib_module_names:
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


@functools.lru_cache(maxsize=1)
def _packages_distributions() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def _distribution(module: str) -> str:
    dists = _packages_distributions().get(module)
    return _norm(dists[0]) if dists else _norm(module)


# Optional features of the light advisor that need an extra, imported inside the function that needs
# them (`check --plot` and `recommend --plot` draw with matplotlib, from the `fit` extra).
ADVISOR_OPTIONAL = {"matplotlib": "fit"}

LAYERS = [  # what the code in each place may import: the requirements of one install
    ("advisor", None),
    ("calibration/fit", "fit"),
    ("calibration", "ray"),  # the calibrate extra, plus Ray for --backend ray
    ("tests", "test"),
]


@pytest.mark.parametrize("folder, extra", LAYERS)
def test_every_import_is_declared_by_the_install_that_runs_it(folder, extra, requires):
    imports = _third_party_imports(sorted((ROOT / folder).rglob("*.py")))
    optional = ADVISOR_OPTIONAL if folder == "advisor" else {}
    undeclared = {m: files for m, files in imports.items() if _distribution(m) not in requires[extra]
                  and not (m in optional and _distribution(m) in requires[optional[m]])}
    assert not undeclared, f"imported in {folder}/ but not required by the {extra or 'base'} install: {undeclared}"


def test_every_declared_requirement_is_imported(requires):
    files = [p for folder in ("advisor", "calibration", "tests") for p in sorted((ROOT / folder).rglob("*.py"))]
    imported = {_distribution(m) for m in _third_party_imports(files)}
    declared = set().union(*requires.values()) - IMPORTED_INDIRECTLY
    assert declared <= imported, f"declared but imported nowhere: {declared - imported}"


# ---------------------------------------------------------------- what the wheel ships


def test_the_wheel_holds_every_module_the_data_and_the_entry_point(site):
    sources = {p.relative_to(ROOT) for d in ("advisor", "calibration") for p in (ROOT / d).rglob("*.py")}
    missing = [str(p) for p in sources if not (site / p).is_file()]
    assert not missing, f"left out of the wheel (add the package to pyproject's packages): {missing}"
    assert sorted(p.name for p in (site / "calibration" / "sweep" / "presets").glob("*.toml")) == sorted(
        p.name for p in (ROOT / "calibration" / "sweep" / "presets").glob("*.toml"))
    data = site / "scaling_advisor_data"
    catalog = json.loads((data / "catalog.json").read_text())
    shipped = [e["path"] for e in catalog["entries"]] + [e["report"] for e in catalog["entries"] if "report" in e]
    shipped += [str(Path(e["path"]).parent / "README.md") for e in catalog["entries"] if e["kind"] == "source"]
    assert all((data / p).is_file() for p in shipped), [p for p in shipped if not (data / p).is_file()]
    assert (data / "corpus" / "kjv.txt.gz").is_file()


# ---------------------------------------------------------------- README and CI


def test_readme_has_two_setup_commands_and_ci_runs_the_test_one():
    commands = _quick_start()
    assert len(commands) == 2
    printed = subprocess.run(["bash", str(ROOT / ".ci" / "run"), "--print"], capture_output=True, text=True,
                             check=True).stdout.strip()
    assert printed == commands[1].strip() and "pytest" in printed


def test_cli_help_lists_every_subcommand_without_heavy_imports():
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from advisor.cli import cli\n"
        "r = CliRunner().invoke(cli, ['--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        "for name in ['recommend','plan','compare','show','sources','calibrate','fit','bench']:\n"
        "    assert name in r.output, name\n"
        "heavy = [m for m in ('numpy','torch','pandas','sklearn','scipy') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_data_dir_finds_the_shipped_default_model():
    from advisor.paths import data_dir

    assert (data_dir() / "catalog.json").is_file()
    assert (data_dir() / "models" / "cpu-default" / "model.json").is_file()
    assert (data_dir() / "corpus" / "kjv.txt.gz").is_file()


def test_the_licence_is_declared_in_the_current_spdx_form(site):
    """`license = "MIT"` with `license-files` (PEP 639; the table form is refused by setuptools from 2027)."""
    [meta] = site.glob("*.dist-info/METADATA")
    text = meta.read_text()
    assert "License-Expression: MIT" in text and "License-File: LICENSE" in text
    assert list(site.glob("*.dist-info/licenses/LICENSE"))
