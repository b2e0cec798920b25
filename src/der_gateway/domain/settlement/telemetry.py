"""A service point's 2030.5 telemetry as interval energy (source "telemetry").

The devices at a service point post MirrorUsagePoints with MirrorMeterReadings; each has a ReadingType and
Readings with a timePeriod.  This module turns those that measure active power or energy into
IntervalReadings:

- uom 72 (Wh): the reading's value x 10^powerOfTenMultiplier is the energy of its timePeriod.  A register
  (accumulationBehaviour 3 cumulative or 9 summation) is not interval energy and is not used.
- uom 38 (W): the value x 10^powerOfTenMultiplier is the mean power over its timePeriod, so the energy is
  W x duration / 3 600 000 kWh.
- Sign, as the participation forecast reads DER telemetry (domain/participation/forecast.py): the value is
  what the device delivers (no flowDirection, or 19 reverse), or what it draws (flowDirection 1 forward,
  delivered to the premises).  A device delivering power takes load off the service point, so delivered
  energy counts negative and drawn energy positive.
- A reading without a timePeriod of at least a second, or without a value, carries no energy and is not used;
  one flagged projected (qualityFlags bit 5, a forecast) is not a measurement and is not used; one flagged
  estimated (bit 1 or 2) is "estimated", every other one "actual".
- Per device, one kind counts: its energy readings if it has any in the window, else its power readings; of
  those, its totals (phase 0 or absent) if it has any, else its phases added up.  (Counting both a device's
  W and its Wh, or its totals and its phases, would count the same energy twice.)
- The service point's reading for an interval (start, duration) is the sum over its devices; it is
  estimated if any part is.  An interval that not every device reporting in the window covers is left out:
  a gap, not a partial sum.
- kWh are exact decimals; W x seconds / 3 600 000 is rounded to KWH_PLACES places, half to even.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Mapping, Sequence

from .series import IntervalReading, Quality

WATTS, WATT_HOURS = 38, 72  # ReadingType uom
FLOW_FORWARD = 1
REGISTERS = (3, 9)  # accumulationBehaviour: cumulative, summation
ESTIMATED_FLAGS = 0b110  # qualityFlags: estimated using a reference day, by linear interpolation
PROJECTED_FLAG = 0b100000
KWH_PLACES = 6
_QUANTUM = Decimal(1).scaleb(-KWH_PLACES)
_SECONDS_PER_HOUR_KILO = Decimal(3_600_000)

RawReading = tuple[int | None, int | None, int | None, str | None]  # start, duration, value, qualityFlags


@dataclass(frozen=True)
class DeviceMeter:
    """One MirrorMeterReading of a device at the service point, with its readings in the window."""

    end_device_id: int
    reading_type: Mapping[str, Any]
    readings: Sequence[RawReading]


def _flags(raw: str | None) -> int:
    try:
        return int(raw or "0", 16)
    except ValueError:
        return 0


def _energy(meter: DeviceMeter, kind: int) -> dict[tuple[int, int], tuple[Decimal, bool]]:
    """(start, duration) -> (kWh drawn at the service point, estimated) of one meter's usable readings."""
    rt = meter.reading_type
    scale = Decimal(1).scaleb(int(rt.get("powerOfTenMultiplier") or 0))
    drawn_by_device = rt.get("flowDirection") == FLOW_FORWARD
    found: dict[tuple[int, int], tuple[Decimal, bool]] = {}
    for start, duration, value, quality_flags in meter.readings:
        if start is None or value is None or not duration or duration < 1:
            continue
        flags = _flags(quality_flags)
        if flags & PROJECTED_FLAG:
            continue
        amount = Decimal(value) * scale
        if kind == WATT_HOURS:
            kwh = amount / 1000
        else:
            kwh = (amount * duration / _SECONDS_PER_HOUR_KILO).quantize(_QUANTUM, ROUND_HALF_EVEN)
        found[(start, duration)] = (kwh if drawn_by_device else -kwh, bool(flags & ESTIMATED_FLAGS))
    return found


def _kind(meter: DeviceMeter) -> int | None:
    rt = meter.reading_type
    if rt.get("uom") == WATT_HOURS and rt.get("accumulationBehaviour") not in REGISTERS:
        return WATT_HOURS
    if rt.get("uom") == WATTS:
        return WATTS
    return None


def _device_energy(meters: Sequence[DeviceMeter]) -> dict[tuple[int, int], tuple[Decimal, bool]]:
    """One device's energy per interval, from the one kind of its meters that counts."""
    usable = [(m, _kind(m), _energy(m, k)) for m in meters if (k := _kind(m)) is not None]
    for kind in (WATT_HOURS, WATTS):
        of_kind = [(m, e) for m, k, e in usable if k == kind and e]
        if not of_kind:
            continue
        totals = [e for m, e in of_kind if not m.reading_type.get("phase")]
        chosen = totals or [e for _, e in of_kind]
        summed: dict[tuple[int, int], tuple[Decimal, bool]] = {}
        for energy in chosen:
            for key, (kwh, estimated) in energy.items():
                before = summed.get(key, (Decimal(0), False))
                summed[key] = (before[0] + kwh, before[1] or estimated)
        return summed
    return {}


def telemetry_intervals(meters: Sequence[DeviceMeter]) -> list[IntervalReading]:
    """The service point's interval energy from its devices' meters, by start (see the module's rules)."""
    by_device: dict[int, list[DeviceMeter]] = {}
    for m in meters:
        by_device.setdefault(m.end_device_id, []).append(m)
    energies = [e for e in (_device_energy(ms) for _, ms in sorted(by_device.items())) if e]
    if not energies:
        return []
    keys = set(energies[0]).intersection(*energies[1:])
    result = []
    for start, duration in sorted(keys):
        parts = [e[(start, duration)] for e in energies]
        quality: Quality = "estimated" if any(p[1] for p in parts) else "actual"
        result.append(IntervalReading(start, duration, sum((p[0] for p in parts), Decimal(0)), quality,
                                      "telemetry"))
    return result


def gaps(readings: Sequence[IntervalReading], start: int, end: int) -> list[tuple[int, int]]:
    """The spans [from, to) of [start, end) that no reading covers, in order."""
    found: list[tuple[int, int]] = []
    at = start
    for r in sorted(readings, key=lambda r: r.start):
        if r.end <= at:
            continue
        if r.start > at:
            found.append((at, min(r.start, end)))
        at = max(at, r.end)
        if at >= end:
            break
    if at < end:
        found.append((at, end))
    return [(a, b) for a, b in found if a < b]
