"""Interval energy at a service point, the common currency of settlement.

Energy is in kWh as exact decimals, positive when drawn from the grid at the service point (load) and negative
when delivered to it.  A reading is either measured ("actual") or filled in by its source ("estimated"); an
interval with no reading is a gap, and stays one: nothing here invents a value for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Sequence

Quality = Literal["actual", "estimated"]
Source = Literal["cis", "telemetry"]
QUALITIES: tuple[Quality, ...] = ("actual", "estimated")


@dataclass(frozen=True)
class IntervalReading:
    start: int  # Unix time
    duration: int  # seconds, > 0
    kwh: Decimal  # drawn from the grid (negative: delivered to it)
    quality: Quality = "actual"
    source: Source = "cis"

    @property
    def end(self) -> int:
        return self.start + self.duration


@dataclass(frozen=True)
class Coverage:
    """How much of a window the readings cover, in seconds."""

    window: int
    actual: int
    estimated: int

    @property
    def missing(self) -> int:
        return self.window - self.actual - self.estimated

    @property
    def complete(self) -> bool:
        return self.missing == 0


def coverage(readings: Sequence[IntervalReading], start: int, end: int) -> Coverage:
    """The seconds of [start, end) covered by actual and by estimated readings (overlapping readings are not
    expected; each counts for its own overlap with the window)."""
    actual = estimated = 0
    for r in readings:
        overlap = min(end, r.end) - max(start, r.start)
        if overlap > 0:
            if r.quality == "actual":
                actual += overlap
            else:
                estimated += overlap
    return Coverage(end - start, min(actual, end - start), min(estimated, end - start - min(actual, end - start)))
