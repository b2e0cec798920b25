"""Settlement's measurement intake: interval files from the customer-billing system loaded into the store, and
a service point's interval energy in a window, from the files (source "cis") or derived from its devices'
2030.5 telemetry (source "telemetry", domain/settlement/telemetry.py), with its gaps."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Sequence

from ..domain.refusals import InvalidRequest
from ..domain.settlement import interval_files
from ..domain.settlement.series import Coverage, IntervalReading, Source, coverage
from ..domain.settlement.telemetry import DeviceMeter, gaps, telemetry_intervals
from ..store.interface import Store
from ..store.settlement_records import IntervalLoadRecord

SOURCES: tuple[Source, ...] = ("cis", "telemetry")


async def load_file(store: Store, raw: bytes, fmt: str, name: str | None, max_rows: int,
                    now: int) -> IntervalLoadRecord:
    """Checks the whole file, then stores it (see SettlementStore.load_intervals); InvalidRequest with every
    problem, each row named, and nothing stored, if any row is wrong."""
    parsed = interval_files.parse_file(raw, fmt, max_rows)
    unknown = await store.unknown_service_points([point for point, _ in parsed.named])
    problems = parsed.problems + interval_files.unknown_point_problems(parsed.named, unknown)
    if problems:
        raise InvalidRequest(problems[:interval_files.MAX_PROBLEMS])
    return await store.load_intervals("cis", name, hashlib.sha256(raw).hexdigest(), parsed.rows, now)


@dataclass(frozen=True)
class IntervalWindow:
    start: int
    end: int
    source: Source
    readings: Sequence[IntervalReading]  # those that overlap [start, end), by start
    gaps: Sequence[tuple[int, int]]  # the spans of [start, end) no reading covers
    coverage: Coverage


async def window(store: Store, service_point_id: int, source: Source, start: int, end: int) -> IntervalWindow:
    if source == "telemetry":
        meters = await store.service_point_telemetry(service_point_id, start, end)
        derived = telemetry_intervals([DeviceMeter(m.end_device_id, m.reading_type, m.readings) for m in meters])
        readings = [r for r in derived if r.start < end and r.end > start]
    else:
        readings = await store.interval_readings(service_point_id, source, start, end)
    return IntervalWindow(start, end, source, readings, gaps(readings, start, end), coverage(readings, start, end))
