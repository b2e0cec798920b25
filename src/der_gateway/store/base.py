"""The storage interface the server talks to.

Resources whose bodies the server only stores and returns (DER documents,
MirrorUsagePoints, readings, log events) are kept as the plain data of their
sep.model dataclass (codec.to_data).  Every write method returns only after the
change is durable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, Protocol, Sequence, TypeVar

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
class EndDeviceListLinks:
    """How many of each list an EndDevice's links name: DERs, LogEvents, groups (FSAs), subscriptions."""
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


class Store(Protocol):
    """The 2030.5 server's core reads and writes.  The control plane, the utility's flows and
    enrollment sync add the public methods of store.sqlite_control_plane.ControlPlaneStore,
    store.sqlite_utility.UtilityStore and store.sqlite_sync.SyncStore; another backend implements
    those beside these.  No caller reaches SQL except through these methods."""

    async def close(self) -> None: ...
    async def version(self) -> int: ...  # moves on with every committed change

    # clients
    async def add_aggregator(self, lfdi: str, name: str) -> None: ...
    async def aggregators(self) -> list[tuple[str, str]]: ...
    async def is_aggregator(self, lfdi: str) -> bool: ...
    async def aggregator_created(self, lfdi: str) -> int | None: ...  # when it became known; None: not one

    # EndDevice and Registration
    async def end_device(self, end_device_id: int) -> EndDeviceRecord | None: ...
    async def end_device_by_identity(self, lfdi: str | None, sfdi: int) -> list[EndDeviceRecord]: ...
    async def end_devices_visible_to(self, client_lfdi: str, start: int, limit: int,
                                     changed_after: int | None = None) -> Page[EndDeviceRecord]: ...
    async def end_device_list_links(self, end_device_ids: Sequence[int]) -> dict[int, EndDeviceListLinks]: ...
    # changed: the hrefs of subscribable resources the write changes (store.sqlite_control_plane.log_changes)
    async def create_end_device(self, record: EndDeviceRecord, changed=()) -> EndDeviceRecord: ...
    async def update_end_device(self, record: EndDeviceRecord, changed=()) -> None: ...
    async def delete_end_device(self, end_device_id: int, changed=()) -> None: ...

    # DER, with its DERCapability, DERSettings, DERStatus and DERAvailability
    async def der_numbers(self, end_device_id: int) -> list[int]: ...
    async def der_document(self, end_device_id: int, der: int, kind: str) -> dict[str, Any] | None: ...
    async def put_der_document(self, end_device_id: int, der: int, kind: str, data: dict[str, Any]) -> bool: ...

    # LogEvent
    async def log_events(self, end_device_id: int, start: int, limit: int,
                         after: int | None = None) -> Page[tuple[int, dict[str, Any]]]: ...
    async def log_event(self, end_device_id: int, log_event_id: int) -> dict[str, Any] | None: ...
    async def add_log_event(self, end_device_id: int, data: dict[str, Any]) -> int: ...

    # MirrorUsagePoint and its readings
    async def mirror_usage_points(self, owner_lfdi: str, start: int, limit: int) -> Page[MirrorUsagePointRecord]: ...
    async def mirror_usage_point(self, mup_id: int) -> MirrorUsagePointRecord | None: ...
    # These two raise MridTaken when an mRID sent is another client's, and ReadingTypeMissing when a
    # MirrorMeterReading new to the mirror has no ReadingType, changing nothing.  upsert: the mirror's id and
    # whether it is new; add: the MeterReading id of each MirrorMeterReading, and whether it is new.
    async def upsert_mirror_usage_point(self, owner_lfdi: str, data: dict[str, Any],
                                        readings: list[dict[str, Any]]) -> tuple[int, bool]: ...
    async def add_mirror_meter_readings(self, mup_id: int,
                                        readings: list[dict[str, Any]]) -> list[tuple[int, bool]]: ...
    async def delete_mirror_usage_point(self, mup_id: int) -> None: ...
    async def mirror_meter_readings(self, mup_id: int) -> list[dict[str, Any]]: ...
    async def readings(self, mup_id: int, mmr_mrid: str) -> list[dict[str, Any]]: ...  # every one received

    # The mirror as UsagePoint (Metering): the MeterReadings of a MirrorUsagePoint, by mRID; the Reading
    # posted alone most recently; the ReadingSets, newest first; the Readings of a ReadingSet's latest
    # posting, by time.  Readings replaced are history (readings above), no longer served here.
    async def meter_readings(self, mup_id: int, start: int, limit: int) -> Page[MeterReadingRecord]: ...
    async def meter_reading(self, mup_id: int, meter_reading_id: int) -> MeterReadingRecord | None: ...
    async def latest_reading(self, meter_reading_id: int) -> ReadingRecord | None: ...
    async def reading_sets(self, meter_reading_id: int, start: int, limit: int) -> Page[ReadingSetRecord]: ...
    async def reading_set(self, meter_reading_id: int, reading_set_id: int) -> ReadingSetRecord | None: ...
    async def set_readings(self, reading_set_id: int, start: int, limit: int) -> Page[ReadingRecord]: ...
    async def set_reading(self, reading_set_id: int, reading_id: int) -> ReadingRecord | None: ...


# -- the control plane ----------------------------------------------------------

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
