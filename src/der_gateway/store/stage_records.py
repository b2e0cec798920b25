"""The records of utility events, their stages and the participation record (store/sqlite_stages.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StageRecord:
    id: int
    event_id: int
    position: int  # 1, 2, ... in the event
    control_id: int  # the stage's DERControl
    program_id: int
    target_w: int | None
    reported: str | None  # the last status reported to operations
    settled_at: int | None  # when its outcomes were derived
    exported_at: int | None  # when its outcome files were written


@dataclass(frozen=True)
class UtilityEventRecord:
    id: int
    mrid: str
    description: str | None
    created: int
    cancelled_at: int | None
    archived_at: int | None
    stages: tuple[StageRecord, ...]


@dataclass(frozen=True)
class StageTransitionRecord:
    id: int
    stage_id: int
    status: str
    at: int  # when the stage took the status
    recorded: int  # when the server recorded it (and queued its sync messages)
    sync_states: tuple[tuple[int, str], ...]  # (endpoint id, state) of each message that reports it


@dataclass(frozen=True)
class ParticipationRecord:
    """One device called by one stage: what was sent, and (once settled) its Responses and outcome."""

    stage_id: int
    end_device_id: int
    lfdi: str
    called_at: int
    control_mrid: str
    visible_at: int  # when the DERControl became visible to it (the stage's creation)
    outcome: str | None
    responses: tuple[tuple[int, int, int], ...] | None  # (status, createdDateTime, received), frozen when settled


@dataclass(frozen=True)
class NewControl:
    """A new event (DERControl) as store.add_control takes it."""

    program_id: int
    mrid: str
    creation_time: int
    start: int
    duration: int
    data: dict[str, Any]
    status: int
    status_time: int


@dataclass(frozen=True)
class NewStage:
    """A stage as add_utility_event writes it: its DERControl, who it calls, and its SCHEDULED report."""

    control: NewControl
    target_w: int | None
    called: tuple[tuple[int, str], ...]  # (EndDevice id, lFDI)
    message: dict[str, Any]  # the SCHEDULED sync message's body ("eventId" and "stageId" are added)


@dataclass(frozen=True)
class Transition:
    status: str
    at: int
    message: dict[str, Any]  # its sync message's body ("eventId" and "stageId" are added)
