"""Baselines and kWh avoided for one service point and one event window (docs/settlement.md).

The window [start, end) is cut into profile intervals of interval_seconds from its start (the last one ends at
end).  A method gives the baseline energy of each interval; the measured energy is what the readings hold in
it.  kWh avoided = baseline - measured, with load positive (IntervalReading).

high-x-of-y: the Y most recent like days (Calendar) within lookback_days whose readings fully cover the
    window's image at the same wall-clock time (and, when adjusting, the adjustment window's image); of them
    the X with the highest energy over the window, averaged interval by interval.  Day-of adjustment over the
    adjustment window A = [start - (gap + hours) h, start - gap h): with B the chosen days' mean energy in A's
    images and M the event day's energy in A,
      ratio:      each interval x clamp(M / B, min, max)        (x 1 when B <= 0)
      difference: each interval + clamp(M - B, (min - 1)|B|, (max - 1)|B|) x interval length / length of A
    With fewer than Y like days found the result is incomplete; with fewer than X there is no baseline.
comparable-day: of the Y most recent like days fully covered in the window's and matching window's images,
    the one with the least sum over the matching window's slices of (its energy - the event day's)^2 (the most
    recent one on a tie); its energy in each interval is the baseline.  Matching window
    [start - (gap + hours) h, start - gap h), in slices of match_interval_minutes.
meter-before: the mean power over the minutes before start, E / s, times each interval's length.

Exact: energies are fractions.Fraction from the readings' Decimals; nothing is rounded until the result, where
the baseline and the measured energy (total and per interval) are each rounded to 0.001 kWh, half to even, and
kWh avoided is the difference of the two rounded totals (so it is exact and adds up on a statement).  The
adjustment is reported rounded to 6 places (a factor, or kW for "difference"); its exact value is applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction
from functools import reduce
from typing import Any, Callable, Literal, Sequence

from .baseline_parameters import BaselineParameters, ComparableDay, HighXOfY, MeterBefore, method_document
from .like_days import Calendar
from .series import Coverage, IntervalReading
from .window_energy import NO_COVERAGE, Readings, WindowEnergy, add_coverage

DataQuality = Literal["complete", "estimated", "incomplete"]
Window = tuple[int, int]
HOUR = 3600
DEFAULT_INTERVAL_SECONDS = 900


def round_kwh(value: Fraction) -> Decimal:
    """kWh to 3 decimals, half to even."""
    return Decimal(round(value * 1000)).scaleb(-3)


def _round6(value: Fraction) -> Decimal:
    return Decimal(round(value * 1_000_000)).scaleb(-6)


def profile(start: int, end: int, interval_seconds: int) -> list[Window]:
    return [(t, min(t + interval_seconds, end)) for t in range(start, end, interval_seconds)]


@dataclass(frozen=True)
class BaselineEstimate:
    """What a method makes of the history, exact: the adjusted baseline of each profile interval (None: it
    cannot be computed), the window's total before adjustment, and what went into it."""

    intervals: tuple[Fraction, ...] | None
    unadjusted: Fraction | None
    days_used: tuple[date, ...] = ()
    adjustment: Fraction | None = None
    inputs: Coverage = NO_COVERAGE
    missing: tuple[str, ...] = ()


@dataclass(frozen=True)
class _LikeDay:
    day: date
    intervals: tuple[Fraction, ...]  # energy in the images of the profile intervals
    extra: tuple[Fraction, ...]  # energy in the images of the other windows asked for
    coverage: Coverage

    @property
    def total(self) -> Fraction:
        return sum(self.intervals, Fraction(0))


def _total_coverage(energies: Sequence[WindowEnergy]) -> Coverage:
    return reduce(add_coverage, (e.coverage for e in energies), NO_COVERAGE)


def _like_days(readings: Readings, calendar: Calendar, windows: Sequence[Window], extra: Sequence[Window],
               count: int, lookback_days: int) -> list[_LikeDay]:
    """The count most recent like days whose readings fully cover the images of windows and extra."""
    event_day = calendar.day_of(windows[0][0])
    found: list[_LikeDay] = []
    for day in calendar.like_days(event_day, lookback_days):
        if len(found) == count:
            break
        energies = [readings.energy(calendar.same_clock(lo, event_day, day), calendar.same_clock(hi, event_day, day))
                    for lo, hi in [*windows, *extra]]
        if all(e.coverage.complete for e in energies):
            found.append(_LikeDay(day, tuple(e.kwh for e in energies[:len(windows)]),
                                  tuple(e.kwh for e in energies[len(windows):]), _total_coverage(energies)))
    return found


def _too_few(found: int, wanted: int, lookback_days: int) -> str:
    return f"like days: {found} of {wanted} with complete readings in the {lookback_days} days before"


def _gap(label: str, window: Window, coverage: Coverage) -> str:
    return f"{label} [{window[0]}, {window[1]}): {coverage.missing} s without readings"


def high_x_of_y(readings: Readings, windows: Sequence[Window], p: HighXOfY, calendar: Calendar) -> BaselineEstimate:
    start = windows[0][0]
    weekend = calendar.weekend_like(calendar.day_of(start))
    x, y = (p.weekend_highest, p.weekend_days) if weekend else (p.weekday_highest, p.weekday_days)
    adjusting = p.adjustment != "none"
    adj = (start - (p.adjustment_gap_hours + p.adjustment_hours) * HOUR, start - p.adjustment_gap_hours * HOUR)
    days = _like_days(readings, calendar, windows, [adj] if adjusting else [], y, p.lookback_days)
    inputs = reduce(add_coverage, (d.coverage for d in days), NO_COVERAGE)
    missing = [] if len(days) == y else [_too_few(len(days), y, p.lookback_days)]
    if len(days) < x:
        return BaselineEstimate(None, None, (), None, inputs, tuple(missing))
    chosen = sorted(days, key=lambda d: d.total, reverse=True)[:x]  # stable: on a tie, the more recent
    used = tuple(d.day for d in days if any(d is c for c in chosen))
    average = tuple(sum((d.intervals[k] for d in chosen), Fraction(0)) / x for k in range(len(windows)))
    unadjusted = sum(average, Fraction(0))
    if not adjusting:
        return BaselineEstimate(average, unadjusted, used, None, inputs, tuple(missing))
    actual = readings.energy(*adj)
    inputs = add_coverage(inputs, actual.coverage)
    if not actual.coverage.complete:
        missing.append(_gap("adjustment window", adj, actual.coverage))
        return BaselineEstimate(None, unadjusted, used, None, inputs, tuple(missing))
    base = sum((d.extra[0] for d in chosen), Fraction(0)) / x
    low, high = Fraction(p.adjustment_min), Fraction(p.adjustment_max)
    if p.adjustment == "ratio":
        factor = min(max(actual.kwh / base, low), high) if base > 0 else Fraction(1)
        return BaselineEstimate(tuple(v * factor for v in average), unadjusted, used, factor, inputs,
                                tuple(missing))
    difference = min(max(actual.kwh - base, (low - 1) * abs(base)), (high - 1) * abs(base))
    per_second = difference / (adj[1] - adj[0])
    adjusted = tuple(v + per_second * (hi - lo) for v, (lo, hi) in zip(average, windows))
    return BaselineEstimate(adjusted, unadjusted, used, per_second * HOUR, inputs, tuple(missing))


def comparable_day(readings: Readings, windows: Sequence[Window], p: ComparableDay,
                   calendar: Calendar) -> BaselineEstimate:
    start = windows[0][0]
    step = p.match_interval_minutes * 60
    match_end = start - p.match_gap_hours * HOUR
    match = (match_end - p.match_hours * HOUR, match_end)
    slices = [(t, t + step) for t in range(match[0], match[1], step)]
    event = [readings.energy(*s) for s in slices]
    days = _like_days(readings, calendar, windows, slices, p.days, p.lookback_days)
    inputs = reduce(add_coverage, (d.coverage for d in days), _total_coverage(event))
    missing = [] if len(days) == p.days else [_too_few(len(days), p.days, p.lookback_days)]
    event_coverage = _total_coverage(event)
    if not event_coverage.complete:
        missing.append(_gap("matching window", match, event_coverage))
    if not days or not event_coverage.complete:
        return BaselineEstimate(None, None, (), None, inputs, tuple(missing))
    errors = [sum(((a - e.kwh) ** 2 for a, e in zip(d.extra, event)), Fraction(0)) for d in days]
    best = days[errors.index(min(errors))]  # the first minimum: the most recent
    return BaselineEstimate(best.intervals, best.total, (best.day,), None, inputs, tuple(missing))


def meter_before(readings: Readings, windows: Sequence[Window], p: MeterBefore,
                 calendar: Calendar) -> BaselineEstimate:
    start = windows[0][0]
    before = (start - int(p.minutes * 60), start)
    energy = readings.energy(*before)
    if not energy.coverage.complete:
        return BaselineEstimate(None, None, (), None, energy.coverage,
                                (_gap("meter-before window", before, energy.coverage),))
    rate = energy.kwh / (before[1] - before[0])
    intervals = tuple(rate * (hi - lo) for lo, hi in windows)
    return BaselineEstimate(intervals, sum(intervals, Fraction(0)), (), None, energy.coverage)


Method = Callable[[Readings, Sequence[Window], Any, Calendar], BaselineEstimate]
METHODS: dict[str, Method] = {HighXOfY.name: high_x_of_y, ComparableDay.name: comparable_day,
                              MeterBefore.name: meter_before}


@dataclass(frozen=True)
class IntervalResult:
    start: int
    end: int
    baseline_kwh: Decimal | None
    measured_kwh: Decimal | None  # None where the readings leave a gap


@dataclass(frozen=True)
class AvoidedEnergy:
    start: int
    end: int
    method: BaselineParameters
    baseline_kwh: Decimal | None
    unadjusted_baseline_kwh: Decimal | None
    measured_kwh: Decimal | None
    kwh_avoided: Decimal | None
    days_used: tuple[date, ...]  # the like days the baseline averages or copies, most recent first
    adjustment: Decimal | None  # high-x-of-y: the factor ("ratio") or the kW added ("difference")
    quality: DataQuality
    window_coverage: Coverage  # of the event window by the readings
    baseline_coverage: Coverage  # of the baseline's inputs: like days' windows, adjustment or meter-before window
    missing: tuple[str, ...]  # what makes the result incomplete
    intervals: tuple[IntervalResult, ...]

    def method_document(self) -> dict[str, Any]:
        return method_document(self.method)


def kwh_avoided(readings: Sequence[IntervalReading], start: int, end: int, method: BaselineParameters,
                calendar: Calendar, interval_seconds: int = DEFAULT_INTERVAL_SECONDS) -> AvoidedEnergy:
    """The baseline, measured energy and kWh avoided of one service point over [start, end), from its readings
    (history and event window alike; overlapping readings are a ValueError)."""
    if end <= start:
        raise ValueError(f"window: end ({end}) must be after start ({start})")
    if interval_seconds <= 0:
        raise ValueError(f"interval_seconds: must be > 0, got {interval_seconds}")
    series = Readings(readings)
    windows = profile(start, end, interval_seconds)
    estimate = METHODS[method.name](series, windows, method, calendar)
    measured = [series.energy(*w) for w in windows]
    window_coverage = _total_coverage(measured)
    missing = list(estimate.missing)
    if not window_coverage.complete:
        missing.insert(0, _gap("window", (start, end), window_coverage))
    measured_kwh = round_kwh(sum((m.kwh for m in measured), Fraction(0))) if window_coverage.complete else None
    baseline_kwh = round_kwh(sum(estimate.intervals, Fraction(0))) if estimate.intervals is not None else None
    if missing or baseline_kwh is None:
        quality: DataQuality = "incomplete"
    elif window_coverage.estimated or estimate.inputs.estimated:
        quality = "estimated"
    else:
        quality = "complete"
    base_by_interval = estimate.intervals or (None,) * len(windows)
    intervals = tuple(
        IntervalResult(lo, hi, None if b is None else round_kwh(b),
                       round_kwh(m.kwh) if m.coverage.complete else None)
        for (lo, hi), b, m in zip(windows, base_by_interval, measured))
    return AvoidedEnergy(
        start, end, method, baseline_kwh,
        None if estimate.unadjusted is None else round_kwh(estimate.unadjusted), measured_kwh,
        baseline_kwh - measured_kwh if baseline_kwh is not None and measured_kwh is not None else None,
        estimate.days_used, None if estimate.adjustment is None else _round6(estimate.adjustment),
        quality, window_coverage, estimate.inputs, tuple(missing), intervals)
