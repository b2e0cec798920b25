"""The JSON form of device scores and forecasts: the admin API's answers, the export files and the sync message."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, NotRequired, Sequence, TypedDict

from .json_view import Id, Js, Keys, Lfdi, component, doc
from ..store.base import ProgramRecord
from ..store.participation_records import DeviceScoreRecord

if TYPE_CHECKING:
    from .participation import Forecast

CSV_COLUMNS = ("programId", "endDeviceId", "lFDI", "servicePoint", "score", "available", "reasons", "computed")


SCORE_PARTS = ("capacity", "availability", "participation", "opt_outs", "communication")
EVENT_OUTCOMES = ("counted", "participated", "declined", "acknowledged", "silent")


class DeviceScore(TypedDict):
    endDeviceId: Id
    lFDI: Lfdi
    servicePoint: str | None
    score: Annotated[float, Js(minimum=0, maximum=100)]
    available: bool
    reasons: Annotated[list[str], doc("why it is unavailable (empty if available)")]
    components: Annotated[dict[str, Annotated[float, Js(minimum=0, maximum=1)]], Keys(SCORE_PARTS),
                          doc("each component of the score, in [0, 1]")]
    events: Annotated[dict[str, int], Keys(EVENT_OUTCOMES),
                      doc("the program's events in the score's look-back, by outcome")]
    computed: int


class DeviceScores(TypedDict):
    programId: Id
    computed: int | None
    items: list[DeviceScore]
    syncMessagesQueued: NotRequired[Annotated[int, doc("after a recomputation: messages queued")]]


class Interval(TypedDict):
    start: int
    duration: int


class ServicePointForecast(TypedDict):
    servicePointId: Id | None
    servicePoint: str | None
    kW: float
    endDevices: list[Id]


class DeviceForecast(TypedDict):
    endDeviceId: Id
    lFDI: Lfdi
    servicePointId: Id | None
    servicePoint: str | None
    kW: float
    baselineKW: float
    eventKW: float
    likeDays: int
    basis: Annotated[str, Js(enum=["history", "recent", "no history"])]


class ForecastParts(TypedDict):
    interval: Annotated[Interval, component("DateTimeInterval")]
    totalKW: float
    servicePoints: list[ServicePointForecast]
    endDevices: list[DeviceForecast]


def score(record: DeviceScoreRecord) -> DeviceScore:
    return {"endDeviceId": record.end_device_id, "lFDI": record.lfdi, "servicePoint": record.service_point,
            "score": record.score, "available": record.available, "reasons": list(record.reasons),
            "components": record.components, "events": record.events, "computed": record.computed}


def scores(program_id: int, computed: int | None, records: Sequence[DeviceScoreRecord]) -> DeviceScores:
    return {"programId": program_id, "computed": computed, "items": [score(r) for r in records]}


def score_message(program: ProgramRecord, computed: int, records: Sequence[DeviceScoreRecord]) -> dict[str, Any]:
    """The body of the "device-scores" sync message (the outbox adds kind, messageId and acknowledgeUrl)."""
    return {"programId": program.id, "programMRID": program.mRID, "computed": computed,
            "devices": [{"endDeviceId": r.end_device_id, "lFDI": r.lfdi, "servicePoint": r.service_point,
                         "score": r.score, "available": r.available, "reasons": list(r.reasons)}
                        for r in records]}


def csv_row(record: DeviceScoreRecord) -> tuple[Any, ...]:
    return (record.program_id, record.end_device_id, record.lfdi, record.service_point or "", record.score,
            "true" if record.available else "false", "; ".join(record.reasons), record.computed)


def kw(watts: float) -> float:
    return round(watts / 1000, 3)


def forecast(result: Forecast) -> ForecastParts:
    """A services.participation.Forecast: kW per device, per service point (null: devices without one) and total."""
    return {
        "interval": {"start": result.start, "duration": result.duration},
        "totalKW": kw(result.total_w),
        "servicePoints": [{"servicePointId": sp_id, "servicePoint": sp,
                           "kW": kw(sum(d.forecast.reduction_w for d in rows)),
                           "endDevices": [d.end_device_id for d in rows]}
                          for sp_id, sp, rows in result.by_service_point()],
        "endDevices": [{"endDeviceId": d.end_device_id, "lFDI": d.lfdi, "servicePointId": d.service_point_id,
                        "servicePoint": d.service_point, "kW": kw(d.forecast.reduction_w),
                        "baselineKW": kw(d.forecast.baseline_w), "eventKW": kw(d.forecast.event_w),
                        "likeDays": d.forecast.days, "basis": d.forecast.basis} for d in result.devices],
    }
