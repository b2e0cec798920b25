"""The energy of a service point's interval readings over a window, prorated, as an exact rational.

A reading that overlaps the window in part counts for its overlap: kWh x overlap / duration.  Sums are kept as
fractions.Fraction (built exactly from the readings' Decimals), so no rounding happens before the caller's.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

from .series import Coverage, IntervalReading


@dataclass(frozen=True)
class WindowEnergy:
    kwh: Fraction  # of the readings that cover the window (a gap adds nothing)
    coverage: Coverage


def add_coverage(a: Coverage, b: Coverage) -> Coverage:
    return Coverage(a.window + b.window, a.actual + b.actual, a.estimated + b.estimated)


NO_COVERAGE = Coverage(0, 0, 0)


class Readings:
    """One service point's readings, in time order; overlapping readings are refused (ValueError), since energy
    would be counted twice."""

    def __init__(self, readings: Sequence[IntervalReading]) -> None:
        ordered = sorted(readings, key=lambda r: r.start)
        for before, after in zip(ordered, ordered[1:]):
            if after.start < before.end:
                raise ValueError(f"readings overlap: [{before.start}, {before.end}) and "
                                 f"[{after.start}, {after.end})")
        for r in ordered:
            if r.duration <= 0:
                raise ValueError(f"reading at {r.start}: duration must be > 0, got {r.duration}")
        self._readings = ordered
        self._ends = [r.end for r in ordered]

    def energy(self, start: int, end: int) -> WindowEnergy:
        kwh = Fraction(0)
        actual = estimated = 0
        i = bisect_right(self._ends, start)  # the first reading ending after start
        while i < len(self._readings) and self._readings[i].start < end:
            r = self._readings[i]
            overlap = min(end, r.end) - max(start, r.start)
            if overlap > 0:
                kwh += Fraction(r.kwh) * overlap / r.duration
                if r.quality == "actual":
                    actual += overlap
                else:
                    estimated += overlap
            i += 1
        return WindowEnergy(kwh, Coverage(end - start, actual, estimated))
