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
    dispatch_program_id: int | None = None  # the DERProgram of its own, holding the DERControl, if it reserved
    dispatch_group_id: int | None = None  # the group of the devices it reserved (None once deleted)

    @property
    def control_program_id(self) -> int:
        """The DERProgram whose DERControlList holds the stage's DERControl."""
        return self.dispatch_program_id if self.dispatch_program_id is not None else self.program_id


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
class ReservationRecord:
    """One device a stage considered: whether it reserved it, and why."""

    end_device_id: int
    lfdi: str
    reserved: bool
    reason: str
    score: float
    available: bool
    forecast_w: float
    rank: int = 0  # its place in the order considered, from 1


@dataclass(frozen=True)
class StageDispatch:
    """The DERProgram and group a stage reaches its reserved devices through, made with it: the program has
    the primacy of the stage's program, the group the reserved devices as members."""

    program_mrid: str
    program_description: str
    primacy: int
    group_mrid: str
    group_description: str


@dataclass(frozen=True)
class NewStage:
    """A stage as add_utility_event writes it: its DERControl, who it calls, and its SCHEDULED report."""

    control: NewControl
    target_w: int | None
    called: tuple[tuple[int, str], ...]  # (EndDevice id, lFDI)
    message: dict[str, Any]  # the SCHEDULED sync message's body ("eventId" and "stageId" are added)
    reservation: tuple[ReservationRecord, ...] = ()
    reservation_message: dict[str, Any] | None = None  # the "stage-reservation" sync message's body
    dispatch: StageDispatch | None = None  # None: the DERControl goes into the stage's program itself
    changed: tuple[str, ...] = ()  # what else clients are told changed (the reserved devices' FSA lists)


@dataclass(frozen=True)
class Transition:
    status: str
    at: int
    message: dict[str, Any]  # its sync message's body ("eventId" and "stageId" are added)
