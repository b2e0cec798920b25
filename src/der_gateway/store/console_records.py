"""What the store answers the operator console (store/sqlite_console.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class DeviceSummaryRecord:
    """An EndDevice with where it stands: its aggregator, and the customer and service point of its active DER asset
    (the newest, if several), and its last contact."""

    end_device_id: int
    lfdi: str
    sfdi: int
    enabled: bool
    aggregator_lfdi: str | None
    customer: tuple[int, str] | None  # id, name
    service_point: tuple[int, str] | None  # id, external id
    feeder: str | None
    last_contact: int | None


@dataclass(frozen=True)
class DeviceResponseRecord:
    subject: str
    status: int
    created: int
    control_id: int | None


@dataclass(frozen=True)
class DeviceEnrollmentRecord:
    enrollment_id: int
    program_id: int | None
    program: str | None  # its description, else its mRID
    state: str
    sync_state: str | None
    last_error: str | None


@dataclass(frozen=True)
class TelemetrySeriesRecord:
    """One MirrorMeterReading of a device's MirrorUsagePoints: its ReadingType and its current readings since a time
    (start, value), by start."""

    mup_id: int
    meter_reading_id: int
    description: str | None
    reading_type: dict[str, Any]
    readings: list[tuple[int, int]]


@dataclass(frozen=True)
class EventScope:
    """The devices an event calls: a DERControl's (kind "control": its stage's participation record, else the
    devices its program targets now), or a utility event's over all its stages (kind "utility_event")."""

    kind: Literal["control", "utility_event"]
    id: int


@dataclass(frozen=True)
class CalledDeviceRecord:
    end_device_id: int
    lfdi: str
    progress: str  # how far it got (domain/progress.py); over several stages, the furthest
