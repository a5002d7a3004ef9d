"""The pieces of text every answer is made of: the label column, the LR as people write it, and the tool's
verdict that an interval is too wide to say anything. A module of its own so that the short answer, the
cross-setup lines and the unknown-optimum fact share them without importing each other."""
from __future__ import annotations

WIDTH = 100
LABEL = 11  # the label column: "  peak LR  " and the like
UNINFORMATIVE_RATIO = 100.0  # an interval wider than this (high/low) says "we do not know", not a range


def row(label: str, text: str) -> str:
    """The label in its column, the text wrapped at words to fit WIDTH (continuation lines under the text,
    never cut: a clipped command or list loses its meaning)."""
    import textwrap

    lines = textwrap.wrap(text, WIDTH - LABEL, break_long_words=False, break_on_hyphens=False) or [""]
    return "\n".join(f"  {label if i == 0 else '':<{LABEL - 2}}{line}" for i, line in enumerate(lines))


def lr_text(x: float) -> str:
    """A learning rate as people write them: 4.2e-4, 1.05e-3 (three digits, no padded exponent)."""
    mantissa, exponent = f"{x:.2e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def is_uninformative(low: float, high: float) -> bool:
    return low > 0 and high / low > UNINFORMATIVE_RATIO


__all__ = ["WIDTH", "LABEL", "UNINFORMATIVE_RATIO", "row", "lr_text", "is_uninformative"]
