"""The command line's own output streams, guarded: what a command prints must arrive or fail loudly.

- A stdout that cannot encode the advisor's symbols (≤, ×, →, α; PYTHONIOENCODING=latin-1, a cp1252
  console) gets ASCII stand-ins ("<=", "x", "->", "alpha") instead of a UnicodeEncodeError.
- A stdout that fails while written (a full disk: `> /dev/full`) or that is closed (`>&-`) is one line on
  stderr and exit code 1, never a traceback and never a silent exit 0 with the answer lost.
- A current folder deleted under the shell is said in one line before anything starts (torch's import
  would otherwise fail inside a native library).
"""
from __future__ import annotations

import codecs
import contextlib
import os
import sys

ERROR_HANDLER = "advisor-ascii"
FAILED_EXIT = 1
SYMBOLS = {"≤": "<=", "≥": ">=", "×": "x", "→": "->", "←": "<-", "±": "+/-", "·": "*", "–": "-", "—": "-",
           "≈": "~", "α": "alpha", "β": "beta", "η": "eta", "λ": "lambda", "τ": "tau", "σ": "sigma", "√": "sqrt",
           "…": "...", "‘": "'", "’": "'", "“": '"', "”": '"', "²": "^2", "³": "^3", "µ": "u", "∞": "inf",
           "Σ": "sum", "Δ": "delta", "°": "deg", "✓": "ok", "✗": "x", "•": "*", "ε": "eps", "μ": "mu",
           "γ": "gamma", "δ": "delta", "θ": "theta", "ρ": "rho", "≠": "!=", "⇒": "=>", "∝": "~"}


def _ascii_stand_ins(exc: UnicodeError):
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    return "".join(SYMBOLS.get(ch, "?") for ch in exc.object[exc.start:exc.end]), exc.end


codecs.register_error(ERROR_HANDLER, _ascii_stand_ins)


def _fall_back_to_ascii(stream) -> None:
    """Keep the stream's encoding, with ASCII stand-ins for what it cannot encode."""
    encoding = (getattr(stream, "encoding", None) or "").lower().replace("_", "-")
    if encoding not in ("utf-8", "utf8") and hasattr(stream, "reconfigure"):
        with contextlib.suppress(ValueError, OSError):
            stream.reconfigure(errors=ERROR_HANDLER)


def _fail(message: str) -> None:
    with contextlib.suppress(Exception):
        if sys.stderr is not None:
            sys.stderr.write(f"Error: {message}\n")
            sys.stderr.flush()
    raise SystemExit(FAILED_EXIT)


@contextlib.contextmanager
def guarded_streams():
    """Run the command line inside this (advisor/cli/__init__.py `main`)."""
    try:
        os.getcwd()
    except FileNotFoundError:
        _fail("the current folder no longer exists (it was deleted while in use): cd to an existing folder")
    if sys.stdout is None:  # started with stdout closed: the answer would go nowhere
        _fail("standard output is closed: the answer has nowhere to go (redirect it to a file or a pipe)")
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            _fall_back_to_ascii(stream)
    try:
        try:
            yield
        finally:
            sys.stdout.flush()  # what is still buffered fails here, not in the interpreter's shutdown
    except OSError as exc:
        sys.stdout = None  # nothing more can be written there; the interpreter must not flush it again
        _fail(f"cannot write the output: {exc.strerror or exc}")
