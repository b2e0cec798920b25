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
from ..config import Config
from ..domain import stages as rules
from ..domain.identifiers import Pen, new_mrid
from ..domain.refusals import Conflict
from ..sep import model, paths
from ..store import ControlRecord
from ..store.stage_records import NewStage, StageDispatch, StageRecord, UtilityEventRecord
from . import der_controls, reservation, stage_json, stage_reporting


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


async def create(store, config: Config, clock: Clock, pen: Pen, mrid: str, description: str | None,
                 plans: list[StagePlan]) -> UtilityEventRecord:
    """The event and its stages, in the order given, all in one transaction; raises Conflict if an mRID is
    taken.  A stage with a target reserves its devices (services/reservation.py) and reaches only those,
    through a DERProgram and a group made for it; one without calls every device its program may call."""
    now = clock.now()
    event_mrid = mrid.upper()
    plain = [i for i, p in enumerate(plans) if p.target_w is None]
    planned_plain, moved, changed = await der_controls.plan_events(
        store, clock, pen, [(plans[i].program_id, plans[i].control) for i in plain])
    planned = dict(zip(plain, planned_plain))
    for i, plan in enumerate(plans):
        if plan.target_w is not None:
            (planned[i],), _, _ = await der_controls.plan_events(store, clock, pen,
                                                                [(plan.program_id, plan.control)], apart=True)
    stages = []
    for position, plan in enumerate(plans, start=1):
        control = planned[position - 1]
        eligible = await called_devices(store, plan.program_id)
        result, records = await reservation.reserve_devices(
            store, config, plan.program_id, eligible, control.start, control.duration,
            control.data.get("DERControlBase", {}), plan.target_w, now)
        reserved = {e for e in result.reserved}
        called = tuple((e, lfdi) for e, lfdi in eligible if e in reserved)
        dispatch = None
        if plan.target_w is not None:
            program = await store.program(plan.program_id)
            if program is None:
                raise Conflict(f"no program {plan.program_id}")
            dispatch = StageDispatch(new_mrid(pen), f"{program.description or 'program'} stage {position}"[:32],
                                     program.primacy, new_mrid(pen), f"reserved for stage {position}")
        message = stage_json.status_message(event_mrid, position, plan.program_id, control.mrid, control.start,
                                            control.duration, plan.target_w, rules.SCHEDULED, now,
                                            called=len(called))
        stages.append(NewStage(
            control, plan.target_w, called, message, records,
            stage_json.reservation_message(event_mrid, position, plan.program_id, control.mrid, control.start,
                                           control.duration, plan.target_w, records),
            dispatch, tuple(paths.fsa_list(e) for e, _ in called) if dispatch is not None else ()))
    event_id = await store.add_utility_event(mrid, description, now, stages, moved, changed)
    created = await store.utility_event(event_id)
    assert created is not None
    return created


async def status_of(store, clock: Clock, stage: StageRecord) -> tuple[ControlRecord, str]:
    """The stage's DERControl and its current status."""
    control = await store.control(stage.control_id)
    states = der_controls.event_states(await store.controls(stage.control_program_id, ending_after=control.start
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
