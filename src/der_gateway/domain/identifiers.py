"""mRIDs: 128 bits, the last 32 of them the creating organisation's IANA Private Enterprise Number."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from .registration import pin_for_new_device


@dataclass(frozen=True)
class Pen:
    """A Private Enterprise Number, and how the mRIDs this server creates carry it.

    2030.5 puts the number itself in the last 32 bits (PEN 40732 -> ...00009F1C).  CSIP-AUS
    (SA TS 5573 §4.2) wants its decimal digits readable as the last 8 hex characters
    (PEN 40732 -> ...00040732), so the number must then have at most 8 digits.
    """

    number: int
    decimal: bool = False

    def __post_init__(self) -> None:
        limit = 10**8 if self.decimal else 2**32
        if not 0 <= self.number < limit:
            how = "at most 8 decimal digits (CSIP-AUS writes them into mRIDs)" if self.decimal else "32 bits"
            raise ValueError(f"PEN {self.number} does not fit in {how}")

    @property
    def suffix(self) -> str:
        """The last 8 hex characters of every mRID this server creates."""
        return f"{self.number:08d}" if self.decimal else f"{self.number:08X}"


def new_mrid(pen: Pen) -> str:
    return f"{secrets.randbits(96):024X}{pen.suffix}"


@dataclass(frozen=True)
class Issuer:
    """What this deployment stamps on the records it creates: its PEN in their mRIDs, and each new
    EndDevice's Registration pIN (the deployment's default, or a random one)."""

    pen: Pen
    registration_pin: int | None = None

    def pin(self) -> int:
        return pin_for_new_device(self.registration_pin)


def numbered_mrid(number: int, pen: Pen) -> str:
    """A fixed mRID for a resource there is only one of (number below 2**96)."""
    return f"{number:024X}{pen.suffix}"
