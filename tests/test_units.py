"""advisor/units.py: quantities users type, parsed or refused with a one-line UnitError."""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings, strategies as st

from advisor.units import UnitError, format_count, parse_int_quantity, parse_quantity


@pytest.mark.parametrize("text, expected", [
    ("7B", 7e9), ("70b", 70e9), ("1.5e9", 1.5e9), ("300M", 3e8), ("2T", 2e12), ("4M", 4e6),
    ("4k", 4e3), ("1G", 1e9), ("0.5P", 5e14), ("1,000,000", 1e6), ("1_000_000", 1e6), ("12,345.5", 12345.5),
    (" 7B ", 7e9), ("7 B", 7e9), ("1.5e3M", 1.5e9), (".5T", 5e11), ("2E12", 2e12), ("4096", 4096.0),
    (3, 3.0), (2.5e12, 2.5e12),
])
def test_parses_documented_forms(text, expected):
    assert parse_quantity(text) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("text, fragment", [
    ("7X", "cannot read"), ("-3B", "positive"), ("", "empty"), ("   ", "empty"), ("1e400", "finite"),
    ("nan", "cannot read"), ("inf", "cannot read"), ("0", "positive"), ("0B", "positive"), ("1e-400", "positive"),
    ("1,00", "cannot read"), ("1,0000", "cannot read"), ("7BB", "cannot read"), ("B", "cannot read"),
    (float("nan"), "finite"), (float("inf"), "finite"), (-1.0, "positive"), (True, "expected a number"),
])
def test_refuses_bad_input_with_one_line_naming_it(text, fragment):
    with pytest.raises(UnitError) as info:
        parse_quantity(text, "--params")
    message = str(info.value)
    assert fragment in message and "--params" in message and "\n" not in message


def test_int_quantities_must_be_whole():
    assert parse_int_quantity("4K", "--seq-len") == 4000
    assert parse_int_quantity("4096") == 4096
    with pytest.raises(UnitError, match="whole number"):
        parse_int_quantity("2.5", "--gpus")


def test_zero_and_lower_bounds_where_a_caller_allows_them():
    assert parse_quantity("0", "--bootstrap", allow_zero=True) == 0.0
    assert parse_int_quantity("0", "--bootstrap", minimum=0) == 0
    assert parse_int_quantity("1K", "--bootstrap", minimum=0) == 1000
    for text, minimum, fragment in (("-1", 0, "at least 0"), ("1", 2, "at least 2"), ("0", 1, "positive")):
        with pytest.raises(UnitError, match=fragment):
            parse_int_quantity(text, "--seq-len", minimum=minimum)


@pytest.mark.parametrize("x, text", [(7e9, "7B"), (2.5e12, "2.5T"), (4.194304e6, "4.19M"), (512, "512"),
                                     (1.5e3, "1.5K"), (999_999_999.9, "1B"), (999_499_999, "999M"),
                                     (999.9e12, "1P"), (0.5, "0.5")])
def test_format_count(x, text):
    assert format_count(x) == text


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=20))
def test_any_text_parses_to_a_positive_finite_number_or_raises_unit_error(text):
    try:
        value = parse_quantity(text)
    except UnitError as exc:
        assert "\n" not in str(exc)
    else:
        assert math.isfinite(value) and value > 0


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=1e-3, max_value=1e17, allow_nan=False))
def test_formatted_counts_parse_back_within_rounding(x):
    assert parse_quantity(format_count(x, digits=6)) == pytest.approx(x, rel=1e-5)
