"""Human-friendly quantities: "7B", "1.5e9", "300M", "2T", "4M", "1,000,000" -> numbers, and back.

Accepted forms (case-insensitive, surrounding spaces ignored):

- plain numbers: "7000000000", "1.5e9", "0.5"
- a suffix: K = 1e3, M = 1e6, B = G = 1e9, T = 1e12, P = 1e15 ("7B", "70b", "2T", "300M", "1.5e3M").
  "M" always means million (there is no milli), "B" billion (not bytes).
- thousands separators: commas or underscores between groups of three digits ("1,000,000", "1_000_000").

Everything else ("7X", "-3B", "", "1e400", "nan", "inf", "1,00") is refused with a `UnitError` that
names the problem. Counts (parameters, tokens, FLOPs, sequences) must be positive and finite; zero only
where the caller allows it (`allow_zero`, `minimum=0`). Every command reads such options through
`advisor.cli.Quantity`, which calls these functions (kept free of click for the Python API).
"""
from __future__ import annotations

import math
import re

SUFFIXES = {"": 1.0, "k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12, "p": 1e15}

_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?"
_GROUPED = r"\d{1,3}(?:[,_]\d{3})+(?:\.\d*)?"
_PATTERN = re.compile(rf"^\s*(?P<num>{_GROUPED}|{_NUMBER})\s*(?P<suffix>[kmbgtp]?)\s*$", re.IGNORECASE)


class UnitError(ValueError):
    """A quantity the user typed could not be understood (message is one line, for the CLI)."""


def is_number(v) -> bool:
    """A finite real number: an int or float, not a bool, not NaN or infinite (JSON and TOML values)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:  # an int beyond a float's range (10**400)
        return False


def number_pair(v) -> tuple[float, float] | None:
    """Two finite numbers (a [low, high] or [min, max] as JSON writes it) as floats; anything else None."""
    if isinstance(v, (list, tuple)) and len(v) == 2 and all(map(is_number, v)):
        return float(v[0]), float(v[1])
    return None


def parse_quantity(text: str | float | int, what: str = "value", *, allow_zero: bool = False) -> float:
    """Parse a positive, finite quantity such as "7B" or "1.5e9" into a float.

    `what` names the quantity in error messages ("--params", "tokens"). `allow_zero` admits 0 (e.g. "no
    bootstrap resamples"); negative values are refused either way.
    """
    if isinstance(text, bool):
        raise UnitError(f"{what}: expected a number, got {text!r}")
    if isinstance(text, (int, float)):
        try:
            value = float(text)
        except OverflowError:  # an int beyond a float's range: 10**400
            raise UnitError(f"{what}: must be a finite number, got an integer of about {int(text.bit_length() * 0.30103)} digits") from None
    else:
        value = _parse_text(str(text), what, allow_zero)
    if math.isnan(value) or math.isinf(value):
        raise UnitError(f"{what}: must be a finite number, got {text!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise UnitError(f"{what}: must be {'at least 0' if allow_zero else 'positive'}, got {text!r}")
    return value


def parse_int_quantity(text: str | float | int, what: str = "value", *, minimum: int = 1) -> int:
    """Like `parse_quantity`, for whole counts (sequence length, vocabulary, GPUs): rounds, must be ≥ `minimum`."""
    value = parse_quantity(text, what, allow_zero=minimum <= 0)
    rounded = round(value)
    if rounded < minimum:
        raise UnitError(f"{what}: must be at least {minimum}, got {text!r}")
    if abs(value - rounded) > 1e-9 * max(1.0, value):
        raise UnitError(f"{what}: must be a whole number, got {text!r}")
    return int(rounded)


def _parse_text(text: str, what: str, allow_zero: bool = False) -> float:
    if not text.strip():
        raise UnitError(f"{what}: empty value (try e.g. 7B, 1.5e9, 300M, 2T)")
    if text.strip().startswith("-"):
        raise UnitError(f"{what}: must be {'at least 0' if allow_zero else 'positive'}, got {text!r}")
    match = _PATTERN.match(text)
    if not match:
        raise UnitError(
            f"{what}: cannot read {text!r} (use a number with an optional K, M, B/G, T or P suffix, "
            "e.g. 7B, 1.5e9, 300M, 2T)"
        )
    number = match.group("num").replace(",", "").replace("_", "")
    try:
        value = float(number) * SUFFIXES[match.group("suffix").lower()]
    except OverflowError:
        value = math.inf
    return value


def format_count(x: float, digits: int = 3) -> str:
    """7.0e9 -> '7B', 2.5e12 -> '2.5T', 4.19e6 -> '4.19M' (significant digits, no trailing zeros).
    Rounded to `digits` first, so that 999,999,999.9 is '1B', not '1e+03M'."""
    x = float(f"{x:.{digits}g}") if math.isfinite(x) else x
    for suffix, scale in (("P", 1e15), ("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.{digits}g}{suffix}"
    return f"{x:.{digits}g}"



def format_days(days: float) -> str:
    """A wall-clock duration as people say it: '7.2 hours', '1 day', '12.5 days', '1,260 days (3.45 years)'."""
    if days < 1:
        hours = days * 24
        return f"{hours:.3g} hour{'' if f'{hours:.3g}' == '1' else 's'}"
    text = f"{days:,.0f}" if days >= 1000 else f"{days:.3g}"
    text += " day" if text == "1" else " days"
    return text + (f" ({days / 365.25:.3g} years)" if days >= 365.25 else "")
