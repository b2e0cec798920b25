"""The records of the store's event-participation reads and writes (store/sqlite_participation.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ParticipantRecord:
    """A device as the score and the forecast read it: its EndDevice, service point and DER documents."""

    end_device_id: int
    lfdi: str
    enabled: bool
    registered_at: int
    service_point_id: int | None  # of its active DER asset, if the utility registered one
    service_point: str | None  # that service point's external id
    documents: dict[str, dict[str, Any]]  # 'dercap', 'derg', 'ders', 'dera' of its first DER with a DERCapability
    last_contact: int | None  # the newest time the server heard from it (see sqlite_participation)
    statuses: dict[int, tuple[int, ...]] = field(default_factory=dict)  # control id -> the statuses it sent


@dataclass(frozen=True)
class ProgramHistoryRecord:
    """A program's devices, and its events that ended in a look-back (their ids), in one snapshot."""

    devices: list[ParticipantRecord]
    ended_events: list[tuple[int, int]]  # (control id, start) of events not cancelled before they began


@dataclass(frozen=True)
class PowerSeriesRecord:
    """One MirrorMeterReading of a device: its ReadingType, and its readings (start, duration, value) in a span."""

    end_device_id: int
    meter_reading_id: int
    reading_type: dict[str, Any]
    readings: list[tuple[int | None, int | None, int | None]]


@dataclass(frozen=True)
class DeviceScoreRecord:
    program_id: int
    end_device_id: int
    lfdi: str
    service_point: str | None
    score: float
    available: bool
    reasons: tuple[str, ...]
    components: dict[str, float]
    events: dict[str, int]
    computed: int
