"""Integers written in URIs and query strings: ASCII decimal digits only, within a stated range.

`str.isdigit()` and `int()` accept more than a URI means: superscripts, circled and fullwidth
digits, underscores, signs and spaces, and `int()` refuses strings over 4,300 digits.  These
functions read exactly the digits 0-9 and bound the length before converting.
"""

from __future__ import annotations

import re

_DIGITS = re.compile(r"[0-9]+", re.ASCII)


def decimal(text: str, maximum: int, minimum: int = 0) -> int | None:
    """The value of text when it is ASCII digits naming an integer from minimum to maximum, else None.
    Leading zeros are allowed (a query value)."""
    if not _DIGITS.fullmatch(text):
        return None
    significant = text.lstrip("0") or "0"
    if len(significant) > len(str(maximum)):
        return None
    value = int(significant)
    return value if minimum <= value <= maximum else None


def identifier(text: str, maximum: int = 2**63 - 1) -> int | None:
    """The value of a path id as this server writes them: digits without leading zeros, from 0 to
    maximum; None for anything else, including an alias such as 01 of 1."""
    if text != "0" and text.startswith("0"):
        return None
    return decimal(text, maximum)
