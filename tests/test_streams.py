"""Issue 25, item 12: the command line's own output streams (advisor/streams.py). A full disk, a stdout
that cannot encode the advisor's symbols and a closed stdout are one line on stderr and an exit code that
says so, never a traceback and never a silent exit 0."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

RECOMMEND = [sys.executable, "-m", "advisor.cli", "recommend", "--params", "7B", "--tokens", "2T"]
EXPLAINED = RECOMMEND + ["--explain"]  # the long answer: ≤, ≈, η, λ, τ, ε ...


def _run(command, encoding: str):
    env = {**os.environ, "PYTHONIOENCODING": encoding}
    return subprocess.run(command, capture_output=True, encoding=encoding, timeout=120, env=env)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_on_stdout_is_one_line_and_exit_1():
    with open("/dev/full", "w") as full:
        done = subprocess.run(RECOMMEND, stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == ["Error: cannot write the output: No space left on device"]


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252"])  # (click itself writes UTF-8 to an ASCII stdout)
def test_a_stdout_that_cannot_encode_the_symbols_gets_ascii_stand_ins(encoding):
    full = _run(EXPLAINED, "utf-8").stdout
    assert any(ord(c) > 255 for c in full)  # the answer does hold symbols latin-1 cannot encode
    done = _run(EXPLAINED, encoding)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert "peak LR" in done.stdout and "<=" in done.stdout
    assert done.stdout.count("?") == full.count("?")  # every symbol has a stand-in, none became "?"


def test_a_closed_stdout_is_one_line_and_not_a_silent_success():
    done = subprocess.run(["bash", "-c", " ".join(map(repr, RECOMMEND)) + " >&-"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1 and "standard output is closed" in done.stderr


def test_the_ascii_stand_ins_cover_every_symbol_the_advisor_prints():
    from advisor.streams import ERROR_HANDLER

    assert "≤ 2× → α≈β".encode("ascii", errors=ERROR_HANDLER) == b"<= 2x -> alpha~beta"
