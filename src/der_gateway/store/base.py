"""The records and errors of the store's interface (store/interface.py).

Resources whose bodies the server only stores and returns (DER documents,
MirrorUsagePoints, readings, log events) are kept as the plain data of their
sep.model dataclass (codec.to_data).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")

DER_DOCUMENT_KINDS = ("dercap", "derg", "ders", "dera")


@dataclass(frozen=True)
class Page(Generic[T]):
    all: int
    items: list[T]


@dataclass(frozen=True)
class EndDeviceRecord:
    id: int
    lFDI: str
    sFDI: int
    owner_lfdi: str  # the certificate that may act for this EndDevice: itself, or its aggregator
    changedTime: int
    pIN: int
    dateTimeRegistered: int
    deviceCategory: str | None = None
    enabled: bool = True
    postRate: int | None = None
    connectionPointId: str | None = None


@dataclass(frozen=True)
class EndDeviceCounts:
    """How many of each list an EndDevice links to holds (its EndDevice representation shows them)."""
    ders: int
    log_events: int
    groups: int
    subscriptions: int


class MridTaken(Exception):
    """An mRID a client sent names another client's MirrorUsagePoint or MirrorMeterReading."""

    def __init__(self, mrid: str) -> None:
        super().__init__(mrid)
        self.mrid = mrid


class ReadingTypeMissing(Exception):
    """A MirrorMeterReading with a new mRID came without its ReadingType (2030.5 Metering Mirror: 400)."""

    def __init__(self, mrid: str) -> None:
        super().__init__(mrid)
        self.mrid = mrid


@dataclass(frozen=True)
class MirrorUsagePointRecord:
    id: int
    owner_lfdi: str
    mRID: str
    data: dict[str, Any]  # the MirrorUsagePoint without its MirrorMeterReadings


# A MirrorUsagePoint is mirrored as a UsagePoint of the same id; each of its MirrorMeterReadings as a
# MeterReading under it, and each MirrorReadingSet received as a ReadingSet under that.

@dataclass(frozen=True)
class MeterReadingRecord:
    id: int
    mup_id: int
    mRID: str
    data: dict[str, Any]  # the MirrorMeterReading without its Reading and MirrorReadingSets


@dataclass(frozen=True)
class ReadingSetRecord:
    id: int
    meter_reading_id: int
    mRID: str
    data: dict[str, Any]  # the latest MirrorReadingSet of that mRID, without its Readings


@dataclass(frozen=True)
class ReadingRecord:
    id: int
    data: dict[str, Any]


@dataclass(frozen=True)
class ProgramRecord:
    id: int
    mRID: str
    description: str | None
    primacy: int
    version: int


@dataclass(frozen=True)
class ControlRecord:
    id: int
    program_id: int
    mRID: str
    creation_time: int
    start: int
    duration: int
    data: dict[str, Any]  # the DERControl without its href and EventStatus
    status: int
    status_time: int
    potentially_superseded_time: int | None
    cancelled_at: int | None


@dataclass(frozen=True)
class GroupRecord:
    id: int
    mRID: str
    description: str | None
    version: int


@dataclass(frozen=True)
class ResponseRecord:
    id: int
    control_id: int
    end_device_lfdi: str
    status: int
    created: int
    received: int


@dataclass(frozen=True)
class SubscriptionRecord:
    id: int
    end_device_id: int | None  # None: in the SubscriptionList of the client's own aggregator EndDevice (CSIP-AUS)
    client_lfdi: str
    resource: str
    data: dict[str, Any]  # the Subscription as POSTed
    after_change: int = 0  # the last change logged before it was made: it is told of later ones only


@dataclass(frozen=True)
class OutboxItem:
    id: int
    subscription_id: int
    uri: str
    body: bytes
    attempts: int


@dataclass(frozen=True)
class OutboxFailure:
    """A notificationURI held back: its head item failed `attempts` times, the last with `last_error`."""
    uri: str
    attempts: int
    last_error: str
    next_attempt: int


# -- the enrollment sync and network locations ---------------------------------------------------

SYNC_STATES = ("queued", "sent", "acknowledged", "rejected")


@dataclass(frozen=True)
class SyncEndpointRecord:
    id: int
    name: str
    url: str
    purpose: str = "operations"  # or "billing": which messages it is sent


@dataclass(frozen=True)
class SyncMessageRecord:
    id: int
    endpoint_id: int
    kind: str
    enrollment_id: int | None
    body: dict[str, Any]
    state: str
    attempts: int
    next_attempt: int
    last_error: str | None
    ack_reason: str | None
    created: int


@dataclass(frozen=True)
class AckResult:
    message: SyncMessageRecord
    changed: bool  # False when the message had already been acknowledged the same way
    enrollment: tuple[int, str | None, str | None] | None  # (id, sync_status, sync_reason) after the ack


class AckConflict(Exception):
    """The message was acknowledged the other way already."""


@dataclass(frozen=True)
class NetworkLocationRecord:
    id: int
    kind: str
    name: str
    parent_id: int | None
    group_id: int
    end_device_count: int
    service_point_count: int


class NetworkImportRejected(Exception):
    """The import names what the store does not know: nothing was applied."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(e["reason"] for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class ImportSummary:
    mode: str
    rows: int
    service_points_changed: int
    locations_created: int
    locations_moved: int
    locations_removed: int
    end_devices_moved: int
