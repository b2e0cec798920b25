"""Utility events, stages and participation records as JSON: the admin API's answers, the sync messages to
operations and the outcome files all render through here, so that one record reads the same everywhere."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, NotRequired, TypedDict

from ..domain import outcomes as rules
from ..domain import stages as stage_rules
from ..domain.participation.reservation import target_met
from ..sep import paths
from .json_view import Href, Id, Js, Keys, Lfdi, doc
from ..store import ControlRecord
from ..store.base import SYNC_STATES
from ..store.stage_records import (ParticipationRecord, ReservationRecord, StageRecord, StageTransitionRecord,
                                   UtilityEventRecord)

Json = dict[str, Any]


StageStatus = Annotated[str, Js(enum=list(stage_rules.STATUSES))]
Outcome = Annotated[str, Js(enum=list(rules.OUTCOMES))]


class ReservedDevice(TypedDict):
    endDeviceId: Id
    endDeviceLFDI: Lfdi
    reserved: bool
    reason: str
    score: float
    available: bool
    forecastKW: float


class StageReservation(TypedDict):
    targetKW: float | None
    forecastKW: Annotated[float, doc("of those reserved")]
    met: bool
    reservedEndDevices: int
    devices: Annotated[list[ReservedDevice], doc("in the order considered")]


class ResponseSeen(TypedDict):
    status: int
    createdDateTime: int
    received: int


class Participant(TypedDict):
    endDeviceId: Id
    endDeviceLFDI: Lfdi
    calledAt: int
    controlMRID: str
    visibleAt: int
    outcome: Annotated[Outcome | None, doc(
        "derived once, stage_outcome_delay seconds after the stage ended, from the device's Responses (2030.5 "
        "Response.status), the first rule that applies: cancelled (the stage never started); no response (none); "
        "failed (rejected 252-254, cannot be displayed 12, or aborted 13/14 without starting); partially (partial "
        "opt-out/in 8/9, or started/completed/opted in 2/3/5 and also opted out 4/10 or aborted); opted out (4, "
        "10); participated (2, 3, 5); otherwise no response (only received 1 or acknowledged 11). null until "
        "settled")]
    responses: list[ResponseSeen] | None


class StageOutcomes(TypedDict):
    eventId: Id
    eventMRID: str
    stageId: Id
    stagePosition: Id
    programId: Id
    controlId: Id
    controlMRID: str
    start: int
    duration: int
    status: StageStatus
    settledAt: int | None
    counts: Annotated[dict[str, int], Keys(rules.OUTCOMES)] | None
    devices: list[Participant]


class SyncState(TypedDict):
    endpointId: Id
    state: Annotated[str, Js(enum=list(SYNC_STATES))]


class StageTransition(TypedDict):
    status: StageStatus
    at: int
    recorded: int
    sync: Annotated[list[SyncState], doc("the sync message reporting it to each endpoint")]


class Stage(TypedDict):
    id: Id
    position: Id
    programId: Id
    dispatchProgramId: Annotated[Id | None, doc("a stage with a target: the DERProgram made for it, which holds "
                                                "its DERControl")]
    dispatchGroupId: Annotated[Id | None, doc("a stage with a target: the group of the devices it reserved, "
                                              "assigned that DERProgram")]
    controlId: Id
    controlHref: Href
    mRID: str
    start: int
    duration: int
    targetKW: float | None
    status: StageStatus
    reported: StageStatus | None
    cancelledAt: int | None
    calledEndDevices: int
    settledAt: int | None
    exportedAt: int | None
    transitions: NotRequired[Annotated[list[StageTransition], doc("not in lists")]]


class UtilityEvent(TypedDict):
    id: Id
    mRID: str
    description: str | None
    created: int
    status: StageStatus
    cancelledAt: int | None
    archivedAt: int | None
    stages: list[Stage]


def kw(watts: int | None) -> float | None:
    return None if watts is None else watts / 1000


@dataclass(frozen=True)
class StageView:
    """A stage with what its view needs: its DERControl and its current status."""

    stage: StageRecord
    control: ControlRecord
    status: str


def status_message(event_mrid: str, position: int, program_id: int, control_mrid: str, start: int,
                   duration: int, target_w: int | None, status: str, at: int, called: int | None = None) -> Json:
    """The body of a stage-status sync message (the store adds "kind", "eventId" and "stageId")."""
    body: Json = {"eventMRID": event_mrid, "stagePosition": position, "programId": program_id,
                  "controlMRID": control_mrid, "status": status, "at": at, "start": start, "duration": duration,
                  "targetKW": kw(target_w)}
    if called is not None:
        body["calledEndDevices"] = called
    return body


def reserved_device(r: ReservationRecord) -> ReservedDevice:
    return {"endDeviceId": r.end_device_id, "endDeviceLFDI": r.lfdi, "reserved": r.reserved, "reason": r.reason,
            "score": r.score, "available": r.available, "forecastKW": round(r.forecast_w / 1000, 3)}


def reservation(target_w: int | None,
                records: list[ReservationRecord] | tuple[ReservationRecord, ...]) -> StageReservation:
    """Who a stage considered and why it called each device or not, with the forecast of those it called."""
    forecast_w = sum(r.forecast_w for r in records if r.reserved)
    return {"targetKW": kw(target_w), "forecastKW": round(forecast_w / 1000, 3),
            "met": target_met(target_w, forecast_w),
            "reservedEndDevices": sum(1 for r in records if r.reserved),
            "devices": [reserved_device(r) for r in records]}


def reservation_message(event_mrid: str, position: int, program_id: int, control_mrid: str, start: int,
                        duration: int, target_w: int | None, records: tuple[ReservationRecord, ...]) -> Json:
    """The body of a stage-reservation sync message (the store adds "kind", "eventId" and "stageId")."""
    return {"eventMRID": event_mrid, "stagePosition": position, "programId": program_id,
            "controlMRID": control_mrid, "start": start, "duration": duration, **reservation(target_w, records)}


def participant(p: ParticipationRecord) -> Participant:
    return {"endDeviceId": p.end_device_id, "endDeviceLFDI": p.lfdi, "calledAt": p.called_at,
            "controlMRID": p.control_mrid, "visibleAt": p.visible_at, "outcome": p.outcome,
            "responses": None if p.responses is None else [
                {"status": s, "createdDateTime": c, "received": r} for s, c, r in p.responses]}


def outcomes(event: UtilityEventRecord, view: StageView, record: list[ParticipationRecord]) -> StageOutcomes:
    """A stage's outcomes: one entry per device it called (the sync message, the export file, the API)."""
    stage, control = view.stage, view.control
    settled = [p.outcome for p in record if p.outcome is not None]
    return {"eventId": event.id, "eventMRID": event.mrid, "stageId": stage.id, "stagePosition": stage.position,
            "programId": stage.program_id, "controlId": control.id, "controlMRID": control.mRID,
            "start": control.start, "duration": control.duration, "status": view.status,
            "settledAt": stage.settled_at, "counts": rules.tally(settled) if len(settled) == len(record) else None,
            "devices": [participant(p) for p in record]}


def stage(view: StageView, called: int, transitions: list[StageTransitionRecord] | None = None) -> Stage:
    s, control = view.stage, view.control
    body: Stage = {"id": s.id, "position": s.position, "programId": s.program_id,
                  "dispatchProgramId": s.dispatch_program_id, "dispatchGroupId": s.dispatch_group_id,
                  "controlId": control.id, "controlHref": paths.control(s.control_program_id, control.id),
                  "mRID": control.mRID,
                  "start": control.start, "duration": control.duration, "targetKW": kw(s.target_w),
                  "status": view.status, "reported": s.reported, "cancelledAt": control.cancelled_at,
                  "calledEndDevices": called, "settledAt": s.settled_at, "exportedAt": s.exported_at}
    if transitions is not None:
        body["transitions"] = [{"status": t.status, "at": t.at, "recorded": t.recorded,
                                "sync": [{"endpointId": e, "state": st} for e, st in t.sync_states]}
                               for t in transitions]
    return body


def event(record: UtilityEventRecord, stages: list[Stage]) -> UtilityEvent:
    return {"id": record.id, "mRID": record.mrid, "description": record.description, "created": record.created,
            "status": stage_rules.CANCELED if record.cancelled_at is not None
            else stage_rules.event_status([s["status"] for s in stages]), "cancelledAt": record.cancelled_at,
            "archivedAt": record.archived_at, "stages": stages}
