"""Utility events, stages and participation records as JSON: the admin API's answers, the sync messages to
operations and the outcome files all render through here, so that one record reads the same everywhere."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..domain import outcomes as rules
from ..domain import stages as stage_rules
from ..domain.participation.reservation import target_met
from ..sep import paths
from ..store import ControlRecord
from ..store.stage_records import (ParticipationRecord, ReservationRecord, StageRecord, StageTransitionRecord,
                                   UtilityEventRecord)

Json = dict[str, Any]


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


def reserved_device(r: ReservationRecord) -> Json:
    return {"endDeviceId": r.end_device_id, "endDeviceLFDI": r.lfdi, "reserved": r.reserved, "reason": r.reason,
            "score": r.score, "available": r.available, "forecastKW": round(r.forecast_w / 1000, 3)}


def reservation(target_w: int | None, records: list[ReservationRecord] | tuple[ReservationRecord, ...]) -> Json:
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


def participant(p: ParticipationRecord) -> Json:
    return {"endDeviceId": p.end_device_id, "endDeviceLFDI": p.lfdi, "calledAt": p.called_at,
            "controlMRID": p.control_mrid, "visibleAt": p.visible_at, "outcome": p.outcome,
            "responses": None if p.responses is None else [
                {"status": s, "createdDateTime": c, "received": r} for s, c, r in p.responses]}


def outcomes(event: UtilityEventRecord, view: StageView, record: list[ParticipationRecord]) -> Json:
    """A stage's outcomes: one entry per device it called (the sync message, the export file, the API)."""
    stage, control = view.stage, view.control
    settled = [p.outcome for p in record if p.outcome is not None]
    return {"eventId": event.id, "eventMRID": event.mrid, "stageId": stage.id, "stagePosition": stage.position,
            "programId": stage.program_id, "controlId": control.id, "controlMRID": control.mRID,
            "start": control.start, "duration": control.duration, "status": view.status,
            "settledAt": stage.settled_at, "counts": rules.tally(settled) if len(settled) == len(record) else None,
            "devices": [participant(p) for p in record]}


def stage(view: StageView, called: int, transitions: list[StageTransitionRecord] | None = None) -> Json:
    s, control = view.stage, view.control
    body: Json = {"id": s.id, "position": s.position, "programId": s.program_id,
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


def event(record: UtilityEventRecord, stages: list[Json]) -> Json:
    return {"id": record.id, "mRID": record.mrid, "description": record.description, "created": record.created,
            "status": stage_rules.CANCELED if record.cancelled_at is not None
            else stage_rules.event_status([s["status"] for s in stages]), "cancelledAt": record.cancelled_at,
            "archivedAt": record.archived_at, "stages": stages}
