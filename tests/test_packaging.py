"""The project's own promises about installation: a light advisor, a README whose commands CI runs."""
from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "pandas", "scikit-learn", "scipy", "matplotlib", "ray")


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_base_install_is_light():
    deps = " ".join(_pyproject()["project"]["dependencies"])
    for heavy in HEAVY:
        assert heavy not in deps, f"{heavy} must stay out of the base install (advisor is light)"


def test_torch_floor_admits_the_cpu_build_on_disk():
    calibrate = _pyproject()["project"]["optional-dependencies"]["calibrate"]
    assert "torch>=2.3" in calibrate


def test_readme_has_exactly_two_setup_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```bash\n(.*?)\n```", quick, flags=re.S)
    assert len(commands) == 2
    assert "advisor recommend --params 7B" in commands[0]
    assert "pytest" in commands[1]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "README.md" in ci and "pytest" in ci  # CI reads the command from the README


def test_cli_help_lists_every_subcommand_without_heavy_imports():
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from advisor.cli import cli\n"
        "r = CliRunner().invoke(cli, ['--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        "for name in ['recommend','plan','compare','show','sources','calibrate','fit','bench']:\n"
        "    assert name in r.output, name\n"
        "heavy = [m for m in ('torch','pandas','sklearn','scipy') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


@pytest.mark.parametrize("argv", [["calibrate", "plan", "quick"], ["fit", "t.csv", "-o", "m.json"], ["bench"],
                                  ["recalibrate", "quick", "--out", "o"]])
def test_calibration_commands_on_a_light_install_give_the_install_hint(argv, tmp_path):
    # None in sys.modules makes `import torch`/`import pandas` fail as on an install without the extra.
    code = ("import sys\n"
            "for name in ('torch', 'pandas'):\n"
            "    sys.modules[name] = None\n"
            "from advisor.cli import main\n"
            f"sys.argv = ['advisor', *{argv!r}]\n"
            "main()\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert "pip install '.[calibrate]'" in out.stderr and "Traceback" not in out.stderr


def test_data_dir_finds_the_shipped_default_model():
    from advisor.paths import data_dir

    assert (data_dir() / "catalog.json").is_file()
    assert (data_dir() / "models" / "cpu-default" / "model.json").is_file()
    assert (data_dir() / "corpus" / "kjv.txt.gz").is_file()
