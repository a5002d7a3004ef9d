"""The API's errors in the CLI's words: each `name=` a Python parameter names becomes the command's flag.

The Python API names its parameters (`tokens=`, `seq_len=4096`, advisor/errors.py); a command's options are
flags (`--tokens`, `--seq-len 4096`). `flag_message` rewrites a message for the command that was run, from
that command's own options; a parameter of the recipe API the command has no option for is spelled as the
flag `recommend` gives it (`tokens_per_param=` -> `--tokens-per-param`); any other `name=` is left as it is.
"""
from __future__ import annotations

import re

import click

# The Python API's name for an option the CLI names otherwise (`recommend(law=...)` is `--hp-law`).
API_ALIASES = {"law": "hp_law"}
# The parameters of `advisor.recipe.recommend` (tests/test_cli_advice.py checks the list against it).
API_PARAMETERS = ("params", "tokens", "tokens_per_param", "seq_len", "vocab_size", "n_params_nonembedding", "config",
                  "model", "law", "setup", "tau_frac", "tokens_source", "active_params", "n_params_active_nonembedding")
_NAMED = re.compile(r"(?<![\w.-])([a-z][a-z0-9_]*)=")
_NO_VALUE_AFTER = " \t\n,;:.)]/"


def command_flags(command: click.Command) -> dict[str, str]:
    """Python name -> long flag, for each option of `command` (by its flag's name and by its destination)."""
    flags = {}
    for param in command.params:
        if isinstance(param, click.Option) and param.opts:
            flag = max(param.opts, key=len)
            flags[flag.lstrip("-").replace("-", "_")] = flag
            flags.setdefault(param.name, flag)
    flags.update({api: flags[cli] for api, cli in API_ALIASES.items() if cli in flags})
    return flags


def flag_message(message: str, command: click.Command | None) -> str:
    """`message` with each `name=` of the command's options written as its flag: `seq_len=4096 is ...` ->
    `--seq-len 4096 is ...`, `drop law=` -> `drop --hp-law`."""
    if command is None:
        return message
    flags = command_flags(command)

    def as_flag(match: re.Match) -> str:
        name = match.group(1)
        if name not in flags and name not in API_PARAMETERS:
            return match.group(0)
        flag = flags.get(name) or "--" + API_ALIASES.get(name, name).replace("_", "-")
        after = message[match.end():match.end() + 1]
        return flag if after == "" or after in _NO_VALUE_AFTER else f"{flag} "

    return _NAMED.sub(as_flag, message)
