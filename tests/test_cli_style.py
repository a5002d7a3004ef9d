"""One CLI style across the advice and calibration commands (advisor/cli/style.py): quantities typed the same way
everywhere, one-line errors with exit 2 for bad input and exit 1 for a failed run, old flag names as hidden
aliases, `advisor --help` from the docstrings, `--force` meaning overwrite, install hints per command."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from advisor.cli import COMMANDS, cli, install_hint
from advisor.cli.style import Choice, Quantity, grouped_or_four_digits

# Options that hold a size, count, token budget, length or batch: each must read "7B", "4K", "1e3", "1,000".
QUANTITY_OPTIONS = {"--params", "--n-params-nonembedding", "--tokens", "--tokens-per-param", "--seq-len",
                    "--vocab-size", "--flops", "--gpu-hours", "--gpus", "--days", "--workers", "--bootstrap",
                    "--batch-seqs", "--steps", "--threads"}


def all_commands():
    """(path, command) for every leaf command under `advisor`, e.g. (("calibrate", "run"), <Command>)."""
    ctx = click.Context(cli)
    for name in cli.list_commands(ctx):
        cmd = cli.get_command(ctx, name)
        if isinstance(cmd, click.Group):
            for sub in cmd.list_commands(ctx):
                yield (name, sub), cmd.get_command(ctx, sub)
        else:
            yield (name,), cmd


def options(cmd: click.Command):
    return [p for p in cmd.params if isinstance(p, click.Option)]


QUANTITY_CASES = [(path, max(p.opts, key=len)) for path, cmd in all_commands() for p in options(cmd)
                  if isinstance(p.type, Quantity)]
CHOICE_CASES = [(path, max(p.opts, key=len)) for path, cmd in all_commands() for p in options(cmd)
                if isinstance(p.type, click.Choice)]
COMMAND_PATHS = [path for path, _ in all_commands()]


def run(*args):
    return CliRunner().invoke(cli, list(args))


def assert_one_line_error(result, code: int = 2, fragment: str = ""):
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and fragment in lines[0], result.stderr
    assert "Traceback" not in result.output and "Usage:" not in result.output


# ---------------------------------------------------------------------------------------- quantities


def test_every_size_and_count_option_is_a_quantity():
    found = set()
    for path, cmd in all_commands():
        for p in options(cmd):
            name = max(p.opts, key=len)
            if name in QUANTITY_OPTIONS:
                assert isinstance(p.type, Quantity), (path, name, p.type)
                found.add((" ".join(path), name))
    # the options issue 13 names, in the calibration commands too
    assert {("fit", "--seq-len"), ("fit", "--bootstrap"), ("bench", "--batch-seqs"), ("bench", "--seq-len"),
            ("calibrate run", "--workers"), ("calibrate plan", "--workers"), ("recalibrate", "--bootstrap"),
            ("recommend", "--seq-len"), ("plan", "--gpus")} <= found


@pytest.mark.parametrize("text, integer, minimum, expected", [
    ("4K", True, None, 4000), ("1,000,000", True, None, 1_000_000), ("1e3", True, None, 1000),
    ("7B", False, None, 7e9), ("0", True, 0, 0), ("2", True, 2, 2), (128, True, 2, 128), ("0.5", False, None, 0.5),
])
def test_quantity_reads_suffixes_grouping_and_scientific_notation(text, integer, minimum, expected):
    value = Quantity(integer=integer, minimum=minimum).convert(text, None, None)
    assert value == expected and isinstance(value, int) == integer


@pytest.mark.parametrize("text, integer, minimum", [
    ("4X", True, None), ("0", True, None), ("-1", True, 0), ("1", True, 2), ("2.5", True, None), ("inf", False, None),
    ("", False, None),
])
def test_quantity_refuses_bad_values(text, integer, minimum):
    with pytest.raises(click.BadParameter):
        Quantity(integer=integer, minimum=minimum).convert(text, None, None)


@pytest.mark.parametrize("path, option", QUANTITY_CASES, ids=[f"{' '.join(p)} {o}" for p, o in QUANTITY_CASES])
def test_a_bad_quantity_is_one_line_exit_2_in_every_command(tmp_path, monkeypatch, path, option):
    monkeypatch.chdir(tmp_path)
    for bad in ("7X", "-3", "1e400"):
        # the value given is read before missing arguments are reported: the error names it
        assert_one_line_error(run(*path, option, bad), 2, option)
    assert list(tmp_path.iterdir()) == []  # refused before anything was created


# ---------------------------------------------------------------------------------------- choices


def test_options_that_take_one_of_a_few_names_are_house_choices():
    found = {(" ".join(path), option) for path, option in CHOICE_CASES}
    assert {("plan", "--gpu"), ("plan", "--sharding"), ("calibrate design", "--gpu"), ("calibrate run", "--backend"),
            ("fit", "--batch-unit")} <= found
    for path, cmd in all_commands():  # click's own Choice words its refusal otherwise: one style
        assert all(type(p.type) is Choice for p in options(cmd) if isinstance(p.type, click.Choice)), path


def test_choice_reads_case_and_underscores_and_refuses_in_one_line():
    assert Choice(["h100", "h100-pcie"]).convert("H100_PCIE", None, None) == "h100-pcie"
    with pytest.raises(click.BadParameter, match="must be one of fsdp, ddp, got 'zero'"):
        Choice(["fsdp", "ddp"]).convert("zero", None, None)


@pytest.mark.parametrize("path, option", CHOICE_CASES, ids=[f"{' '.join(p)} {o}" for p, o in CHOICE_CASES])
def test_a_bad_choice_is_one_line_exit_2_in_every_command(tmp_path, monkeypatch, path, option):
    monkeypatch.chdir(tmp_path)
    assert_one_line_error(run(*path, option, "nosuch-name"), 2, f"{option}: must be one of")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("path", COMMAND_PATHS, ids=[" ".join(p) for p in COMMAND_PATHS])
def test_an_unknown_option_is_one_line_exit_2_in_every_command(tmp_path, monkeypatch, path):
    monkeypatch.chdir(tmp_path)
    assert_one_line_error(run(*path, "--no-such-option"), 2, "--no-such-option")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args, fragment", [
    (["calibrate", "plan", "no-such-spec", "--no-measure"], "SPEC: no spec file or preset"),
    (["calibrate", "plan", "quick", "--device", "tpu"], "--device: must be auto, cpu"),
    (["calibrate", "run", "quick", "--out", "o", "--address", "x"], "--address needs --backend ray"),
    (["recalibrate", "quick", "--out", "o", "--data", "/no/such/corpus"], "--data: '/no/such/corpus' does not exist"),
    (["bench", "--k", "0"], "--k: K must be at least 1"),
    (["calibrate", "design", "--target", "7B", "--budget", "10", "--mfu", "2"], "--mfu: must be in (0, 1]"),
    (["calibrate", "design", "--target", "7B"], "give one of --budget"),
    (["calibrate", "export", "no-store", "-o", "t.txt"], "--output t.txt: give a file name ending in .csv"),
])
def test_calibration_commands_refuse_in_the_house_style(tmp_path, monkeypatch, args, fragment):
    """No click.BadParameter with its own hint any more: each refusal names its option once."""
    monkeypatch.chdir(tmp_path)
    result = run(*args)
    assert_one_line_error(result, 2, fragment)
    flag = fragment.split(":")[0].split()[0]
    assert result.stderr.count(f"{flag}: {flag}") == 0
    assert list(tmp_path.iterdir()) == []


def test_python_m_advisor_cli_help_lists_every_command():
    out = subprocess.run([sys.executable, "-m", "advisor.cli", "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    listed = out.stdout.split("Commands:")[1].split()
    assert all(name in listed for name in COMMANDS), out.stdout


# ---------------------------------------------------------------------------------------- numbers as text

GROUPED = re.compile(r"(?<![\w.,])\d{1,3}(?:,\d{3})+(?!\d)")
PLAIN = re.compile(r"(?<![\w.,:/+-])\d{4,}(?![\w.,:%-])")  # not a date, a version, a hash, an arXiv id


def test_grouped_or_four_digits_groups_whole_counts_as_grouped_does():
    assert [grouped_or_four_digits(x) for x in (1723.6, 999.2, 735.25, 16480.4)] == ["1,724", "999.2", "735.2", "16,480"]


@pytest.mark.parametrize("args", [
    ["recommend", "--params", "7B", "--tokens", "2T", "--explain"],
    ["recommend", "--params", "7B", "--tokens", "2T", "--batch", "4M", "--explain"],
    ["recommend", "--params", "7B", "--tokens", "2T", "--batch-ramp"],
    ["plan", "--gpus", "2048", "--days", "30"],
    ["plan", "--params", "7B", "--tokens", "2T", "--gpus", "1024", "--json"],
    ["compare", "--params", "7B", "--tokens", "2T"],
    ["sources"],
])
def test_no_line_mixes_grouped_and_plain_counts(args):
    """1,536 beside 1724 reads as two kinds of number: a line groups its counts or none of them."""
    result = run(*args)
    assert result.exit_code == 0, result.output
    for line in result.stdout.splitlines():
        if GROUPED.search(line):
            assert not PLAIN.findall(line), line


# ---------------------------------------------------------------------------------------- fit --seq-len 4K


def _fit(table, out, *extra):
    return run("fit", table, "-o", str(out), "--bootstrap", "0", "--batch-unit", "sequences",
               "--col-batch", "batch_seqs", *extra)


def test_fit_reads_seq_len_4k_and_force_overwrites(tmp_path):
    from calibration.fit.synthetic import synthetic_trials

    df = synthetic_trials(seed=0, lr_points=5, tokens_per_param=(20,))
    table = str(tmp_path / "t.csv")
    df.drop(columns=["batch_tokens", "seq_len"]).to_csv(table, index=False)  # batch in sequences, no seq_len
    laws = {}
    for text, name in (("4K", "a.json"), ("4,000", "b.json"), ("8K", "c.json")):
        result = _fit(table, tmp_path / name, "--seq-len", text)
        assert result.exit_code == 0, result.output
        laws[text] = json.loads((tmp_path / name).read_text())["laws"]["batch"]["log_coef"]
    assert laws["4K"] == laws["4,000"] and laws["8K"] != laws["4K"]  # 4K is 4000 tokens, and it is used
    before = (tmp_path / "a.json").read_text()
    assert_one_line_error(_fit(table, tmp_path / "a.json", "--seq-len", "8K"), 2, "--force")
    assert (tmp_path / "a.json").read_text() == before
    assert _fit(table, tmp_path / "a.json", "--seq-len", "8K", "--force").exit_code == 0
    assert json.loads((tmp_path / "a.json").read_text())["laws"]["batch"]["log_coef"] == laws["8K"]


# ---------------------------------------------------------------------------------------- law flags


def _json(*args):
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    return {k: v for k, v in json.loads(result.stdout).items() if k != "created_at"}


def _lists_flag(command: str, flag: str) -> bool:
    text = run(command, "--help").stdout
    return re.search(rf"(?<![\w-]){re.escape(flag)}\b", text) is not None


def test_law_is_a_hidden_alias_in_recommend_and_plan():
    assert _json("recommend", "--params", "7B", "--tokens", "2T", "--law", "steplaw") == \
        _json("recommend", "--params", "7B", "--tokens", "2T", "--hp-law", "steplaw")
    budget = ("plan", "--gpus", "64", "--days", "10", "--hp-law", "deepseek")
    assert _json(*budget, "--law", "epoch") == _json(*budget, "--loss-law", "epoch")
    assert _json(*budget, "--law", "epoch") != _json(*budget, "--loss-law", "chinchilla")
    for command, new in (("recommend", "--hp-law"), ("plan", "--loss-law")):
        assert _lists_flag(command, new) and not _lists_flag(command, "--law")
    assert_one_line_error(run("recommend", "--params", "7B", "--law", "steplaw", "--hp-law", "deepseek"), 2, "--law")
    assert_one_line_error(run(*budget, "--law", "epoch", "--loss-law", "chinchilla"), 2, "--law")


def test_target_options_default_to_the_domains_constants():
    from advisor.target import DEFAULT_SEQ_LEN, DEFAULT_VOCAB

    ctx = click.Context(cli)
    for name in ("recommend", "plan", "compare", "check"):
        params = {p.name: p for p in cli.get_command(ctx, name).params}
        assert params["seq_len"].default == DEFAULT_SEQ_LEN and params["vocab_size"].default == DEFAULT_VOCAB, name


def test_model_option_everywhere_a_model_is_read():
    ctx = click.Context(cli)
    for name in ("recommend", "plan", "compare", "show"):
        assert any("--model" in p.opts for p in cli.get_command(ctx, name).params), name


# ---------------------------------------------------------------------------------------- help


def _squash(text: str) -> str:
    return "".join(text.split())  # help wraps lines (and at hyphens): compare without whitespace


def test_top_level_help_is_each_commands_docstring_first_line():
    result = run("--help")
    assert result.exit_code == 0
    ctx = click.Context(cli)
    for name in COMMANDS:
        first = cli.get_command(ctx, name).help.strip().split("\n")[0]
        assert first and _squash(f"{name} {first}") in _squash(result.stdout), name
    calibrate = cli.get_command(ctx, "calibrate")
    text = _squash(run("calibrate", "--help").stdout)
    for name in calibrate.list_commands(ctx):
        assert _squash(f"{name} {calibrate.get_command(ctx, name).help.strip().splitlines()[0]}") in text


def test_help_imports_nothing_heavy():
    code = ("import sys\nfrom click.testing import CliRunner\nfrom advisor.cli import cli\n"
            "for args in (['--help'], ['calibrate', '--help'], ['fit', '--help'], ['bench', '--help']):\n"
            "    assert CliRunner().invoke(cli, args).exit_code == 0, args\n"
            "heavy = ('torch', 'pandas', 'numpy', 'matplotlib', 'scipy', 'sklearn')\n"
            "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in heavy)))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "", out.stdout + out.stderr


def test_calibrate_run_help_explains_spec():
    from calibration.sweep.spec import preset_names

    text = run("calibrate", "run", "--help").stdout
    assert "SPEC" in text and all(name in text for name in preset_names())


# ---------------------------------------------------------------------------------------- --force


def test_force_is_visible_only_where_it_overwrites():
    visible = {" ".join(path) for path, cmd in all_commands()
               for p in options(cmd) if "--force" in p.opts and not p.hidden}
    # each refuses to overwrite without it (tested here, in test_store, test_design and test_outputs)
    assert visible == {"fit", "calibrate export", "calibrate design", "recommend", "check"}
    hidden = {" ".join(path) for path, cmd in all_commands() for p in options(cmd) if "--force" in p.opts and p.hidden}
    assert hidden == {"calibrate run", "recalibrate"}  # the old name of --allow-other-spec


# ---------------------------------------------------------------------------------------- calibration errors

FAILING_SPEC = """
name = "{name}"
device = "cpu"
min_steps = 8
[sizes]
shapes = [{{n_layer = 1, d_model = 16, n_head = 1, d_ff = 32}}]
[budget]
tokens = [4096]
[lr]
values = [{lr}]
[batch]
seqs = [4]
[trial]
seq_len = 32
eval_tokens = 1024
data = "{data}"
[adaptive]
extend = false
"""


def _failing_spec(tmp_path, name: str, lr: float) -> str:
    corpus = tmp_path / "short.txt"  # exists, so the spec is valid; too short for one sequence: trials fail
    corpus.write_text("in the beginning")
    path = tmp_path / f"{name}.toml"
    path.write_text(FAILING_SPEC.format(name=name, lr=lr, data=corpus))
    return str(path)


def test_calibrate_run_bad_input_exits_2_failed_run_exits_1_other_spec_flag(tmp_path):
    from calibration.sweep.store import TrialStore

    spec_a, spec_b = _failing_spec(tmp_path, "a", 1e-2), _failing_spec(tmp_path, "b", 2e-2)
    out = str(tmp_path / "out")
    base = ["calibrate", "run", "--out", out, "--workers", "1", "--quiet"]
    assert_one_line_error(run(*base, spec_a, "--backend", "spark"), 2, "--backend")
    assert_one_line_error(run(*base, str(tmp_path / "missing.toml")), 2, "SPEC")
    assert_one_line_error(run(*base, spec_a), 1)  # every trial failed: a failed run, not bad input
    assert_one_line_error(run(*base, spec_b), 2)  # out-dir made by another spec
    assert_one_line_error(run(*base, spec_b, "--allow-other-spec"), 1)  # accepted; its trials fail too
    spec_c = _failing_spec(tmp_path, "c", 4e-2)
    assert_one_line_error(run(*base, spec_c, "--force"), 1)  # the hidden old name still means the same
    with TrialStore.open(out) as store:
        assert len(json.loads(store.meta("spec_history"))) == 3


# ---------------------------------------------------------------------------------------- install hints


def test_install_hint_names_the_extra_each_command_needs():
    assert "[fit]" in install_hint("fit", "pandas") and "pip install torch" not in install_hint("fit", "matplotlib")
    for command in ("calibrate", "recalibrate", "bench"):
        assert "[calibrate]" in install_hint(command, "torch")
    assert "[ray]" in install_hint("calibrate", "ray.util")
    assert "[calibrate]" in install_hint("fit", "torch")  # fit never needs torch: if it did, say where it is


@pytest.mark.parametrize("argv, blocked, extra", [
    (["fit", "t.csv", "-o", "m.json"], ("torch", "pandas"), "[fit]"),
    (["bench"], ("torch",), "[calibrate]"),
    (["calibrate", "plan", "quick"], ("torch",), "[calibrate]"),
])
def test_missing_package_gives_the_commands_hint(tmp_path, argv, blocked, extra):
    # None in sys.modules makes the import fail as on an install without the extra.
    code = (f"import sys\nfor name in {blocked!r}:\n    sys.modules[name] = None\n"
            f"from advisor.cli import main\nsys.argv = ['advisor', *{argv!r}]\nmain()\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and len(lines) == 1 and extra in lines[0], out.stderr


def test_a_missing_data_file_is_worded_alike_by_every_sweep_command(tmp_path):
    """--data is read by one reader (calibration/cli/sweep_args.py): plan and recalibrate both name --data."""
    missing = str(tmp_path / "nothing.bin")
    for args in (["calibrate", "plan", "quick", "--no-measure"], ["recalibrate", "quick", "--out", str(tmp_path / "c")]):
        assert_one_line_error(run(*args, "--data", missing), fragment=f"Error: --data: '{missing}' does not exist")
    assert not (tmp_path / "c").exists()
