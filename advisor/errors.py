"""The advisor's input error: one line that names what to change.

The Python API (`recommend`, `target_shape`, ...) names its own parameters the way they are passed,
`tokens=`, `n_params_nonembedding=`, `seq_len=4096` (a value written after the `=`): a Python user never sees
a command-line flag. The CLI maps each `name=` to its flag (`--tokens`, `--seq-len 4096`) before it prints
the message (advisor/cli/flags.py, `flag_message`), so its messages name the flags people typed.
"""
from __future__ import annotations


class AdvisorError(ValueError):
    """Bad input to the advisor (one-line message)."""
