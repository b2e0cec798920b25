"""What the operator does to utility events: create one with its stages, cancel it or one stage, archive it.

Each stage is a program event, checked as any event is and planned as der_controls.create_event plans one
(der_controls.plan_events), so every rule an event obeys applies to it.  The event is written whole, in one
transaction: each stage with its DERControl, the devices it calls (called_devices) and its SCHEDULED report.
Later statuses are reported by the scheduler's pass (services/stage_reporting.py); cancelling runs that pass
for the stages it cancels at once, so the CANCELED report is queued before the answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..clock import Clock
from ..domain import stages as rules
from ..domain.identifiers import Pen
from ..domain.refusals import Conflict
from ..sep import model
from ..store import ControlRecord
from ..store.stage_records import NewStage, StageRecord, UtilityEventRecord
from . import der_controls, stage_json, stage_reporting


@dataclass(frozen=True)
class StagePlan:
    """One stage as asked for: a DERControl (checked already, as any event) for a program, and a target."""

    program_id: int
    control: model.DERControl
    target_w: int | None = None


async def called_devices(store, program_id: int) -> list[tuple[int, str]]:
    """(EndDevice id, lFDI) of the devices a stage of the program calls, when it is scheduled: the devices the
    program reaches (store.targeted_end_devices).  The one place that decides who is called."""
    return await store.targeted_end_devices(program_id)


async def create(store, clock: Clock, pen: Pen, mrid: str, description: str | None,
                 plans: list[StagePlan]) -> UtilityEventRecord:
    """The event and its stages, in the order given, all in one transaction; raises Conflict if an mRID is
    taken."""
    now = clock.now()
    planned, moved, changed = await der_controls.plan_events(store, clock, pen,
                                                             [(p.program_id, p.control) for p in plans])
    stages = []
    for position, (plan, control) in enumerate(zip(plans, planned), start=1):
        called = await called_devices(store, plan.program_id)
        message = stage_json.status_message(mrid.upper(), position, plan.program_id, control.mrid, control.start,
                                            control.duration, plan.target_w, rules.SCHEDULED, now,
                                            called=len(called))
        stages.append(NewStage(control, plan.target_w, tuple(called), message))
    event_id = await store.add_utility_event(mrid, description, now, stages, moved, changed)
    created = await store.utility_event(event_id)
    assert created is not None
    return created


async def status_of(store, clock: Clock, stage: StageRecord) -> tuple[ControlRecord, str]:
    """The stage's DERControl and its current status."""
    control = await store.control(stage.control_id)
    states = der_controls.event_states(await store.controls(stage.program_id, ending_after=control.start
                                                            + control.duration - 1), clock.now())
    return control, states[control.id].program_event_status


async def cancel_stage(store, clock: Clock, stage: StageRecord) -> None:
    """Cancels a stage that is scheduled or in progress (Conflict otherwise) and reports it."""
    _, status = await status_of(store, clock, stage)
    try:
        rules.cancellable(status)
        await der_controls.cancel_event(store, clock, stage.control_id)
    except (rules.StageError, der_controls.CannotCancel) as exc:
        raise Conflict(f"stage {stage.position} cannot be cancelled: {exc}") from None
    await stage_reporting.StageReporter(store, clock).report(stage.id)


async def cancel(store, clock: Clock, event: UtilityEventRecord) -> list[int]:
    """Cancels every stage of the event that has not ended, and the event; returns the positions cancelled.
    Conflict if the event is cancelled already or has ended."""
    if event.cancelled_at is not None:
        raise Conflict("the event is cancelled already")
    cancelled = []
    for stage in event.stages:
        _, status = await status_of(store, clock, stage)
        if status in rules.FINAL:
            continue
        try:
            await der_controls.cancel_event(store, clock, stage.control_id)
        except der_controls.CannotCancel:  # it ended meanwhile
            continue
        cancelled.append(stage.position)
    if not cancelled and event.stages:
        raise Conflict("every stage of the event has ended already")
    await store.cancel_utility_event(event.id, clock.now())
    reporter = stage_reporting.StageReporter(store, clock)
    for stage in event.stages:
        await reporter.report(stage.id)
    return cancelled


async def archive(store, clock: Clock, event: UtilityEventRecord) -> None:
    """Archives an event whose stages have all ended (Conflict otherwise): it and its record stay, out of the
    lists; its DERControls are archived with it."""
    for stage in event.stages:
        _, status = await status_of(store, clock, stage)
        if status not in rules.FINAL:
            raise Conflict(f"stage {stage.position} is {status}: cancel the event, or wait for it to end")
    await store.archive_controls([s.control_id for s in event.stages], clock.now(), event.id)


async def archive_control(store, clock: Clock, control: ControlRecord) -> None:
    """Archives a DERControl that has ended (Conflict otherwise), whether or not it is a stage's."""
    states = der_controls.event_states(await store.controls(control.program_id, ending_after=control.start
                                                            + control.duration - 1), clock.now())
    status = states[control.id].program_event_status
    if status not in rules.FINAL:
        raise Conflict(f"the event is {status}: cancel it, or wait for it to end")
    await store.archive_controls([control.id], clock.now())
