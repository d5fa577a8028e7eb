"""Argument types the commands share: each refuses a bad value naming it and saying why.

argparse turns an ``ArgumentTypeError`` into ``litmon <command>: error: argument --x: <why>``
and exit status 2.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from datetime import date


def iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def whole_number(text: str) -> int:
    """A count: 1 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be 1 or more")
    return value


def amount(unit: str, *, zero_ok: bool) -> Callable[[str], float]:
    """A finite number of ``unit`` (days, weeks, seconds): more than 0, or 0 too if ``zero_ok``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of {unit}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number of {unit}")
        if value < 0 or (value == 0 and not zero_ok):
            raise argparse.ArgumentTypeError(
                f"{text!r}: must be {'0 or more' if zero_ok else 'more than 0'} {unit}")
        return value

    parse.__name__ = f"number of {unit}"
    return parse
