"""National Metering Identifiers: what CSIP-AUS clients give as their ConnectionPoint's connectionPointId.

AEMO's NMI Procedure: an NMI is 10 characters, digits and the capital letters other
than I and O.  It may be written with its checksum digit as an 11th character: the
characters' ASCII codes, every second one doubled starting from the rightmost, have
their decimal digits summed, and the checksum brings that sum up to a multiple of 10.
"""

from __future__ import annotations

import re

_NMI = re.compile(r"[0-9A-HJ-NP-Z]{10}")


def checksum(nmi: str) -> int:
    """The checksum digit of a 10-character NMI."""
    total = 0
    for position, char in enumerate(reversed(nmi)):
        code = ord(char) * 2 if position % 2 == 0 else ord(char)
        total += sum(int(d) for d in str(code))
    return -total % 10


def nmi_problem(value: str) -> str | None:
    """Why value is not an NMI (with or without its checksum digit), or None if it is one."""
    if len(value) not in (10, 11):
        return f"an NMI has 10 characters, 11 with its checksum digit; {value!r} has {len(value)}"
    if not _NMI.fullmatch(value[:10]):
        return f"an NMI is digits and capital letters other than I and O; {value[:10]!r} is not"
    if len(value) == 11 and value[10] != str(checksum(value[:10])):
        return f"the checksum digit of NMI {value[:10]} is {checksum(value[:10])}, not {value[10]!r}"
    return None
