"""The records of the store's settlement reads and writes (store/sqlite_settlement.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class IntervalLoadRecord:
    """What loading a file of interval readings did."""

    batch_id: int | None  # the new batch; if nothing changed, an earlier batch of the same content, if any
    created: bool  # whether a batch was recorded (something was inserted or replaced)
    rows: int
    inserted: int
    replaced: int
    unchanged: int


@dataclass(frozen=True)
class IntervalBatchRecord:
    id: int
    source: str
    name: str | None
    rows: int
    inserted: int
    replaced: int
    loaded_at: int
    sha256: str


@dataclass(frozen=True)
class TelemetryMeterRecord:
    """One MirrorMeterReading of a device at a service point: its ReadingType, and its current readings
    (start, duration, value, qualityFlags) that overlap a window."""

    end_device_id: int
    meter_reading_id: int
    reading_type: dict[str, Any]
    readings: list[tuple[int | None, int | None, int | None, str | None]]
