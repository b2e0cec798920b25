"""What the operator and the scheduler do to events: each step reads the program, works out
the new states with domain.events, and writes them with the changes clients are told of."""

from __future__ import annotations

import dataclasses

from ..clock import Clock
from ..config import Config
from ..domain import events as lifecycle
from ..domain.identifiers import Pen, new_mrid
from ..sep import codec, model, paths
from ..store import ControlRecord, SubscriptionRecord
from ..store.stage_records import NewControl
from .documents import encode

StateRow = tuple[int, int, int, int | None]

# randomizeStart and randomizeDuration are at most an hour: an event is of interest until an hour
# after its end, and older history need not be read to work out current states
RANDOMIZATION_LIMIT = 3600


async def live_controls(store, program_id: int, now: int) -> list[ControlRecord]:
    """The program's events that are not long over, with everything needed for their states."""
    return await store.controls(program_id, ending_after=now - RANDOMIZATION_LIMIT)


def modes_of(base: model.DERControlBase) -> frozenset[str]:
    """The DERControlBase fields an event sets: the controls it exercises."""
    return frozenset(f.name for f in dataclasses.fields(base) if getattr(base, f.name) is not None)


def as_event(record: ControlRecord) -> lifecycle.Event:
    data = record.data
    return lifecycle.Event(
        id=record.id, creation_time=record.creation_time, start=record.start, duration=record.duration,
        modes=frozenset(data.get("DERControlBase", {})),
        randomized=bool(data.get("randomizeStart") or data.get("randomizeDuration")),
        cancelled_at=record.cancelled_at)


def _moved(records: list[ControlRecord], states: dict[int, lifecycle.EventState]) -> list[StateRow]:
    rows = []
    for r in records:
        s = states[r.id]
        if (r.status, r.status_time, r.potentially_superseded_time) != (
                int(s.status), s.status_time, s.potentially_superseded_time):
            rows.append((r.id, int(s.status), s.status_time, s.potentially_superseded_time))
    return rows


async def create_event(store, clock: Clock, pen: Pen, program_id: int, control: model.DERControl) -> ControlRecord:
    """Stores a new event for the program; its mRID, creationTime and status are the server's."""
    (new,), moved, changed = await plan_events(store, clock, pen, [(program_id, control)])
    control_id = await store.add_control(program_id, new.mrid, new.creation_time, new.start, new.duration, new.data,
                                         new.status, new.status_time, states=moved, changed=changed)
    return await store.control(control_id)


async def plan_events(store, clock: Clock, pen: Pen, controls: list[tuple[int, model.DERControl]],
                      apart: bool = False) -> tuple[list[NewControl], list[StateRow], list[str]]:
    """New events, (program id, DERControl) each, as they are to be stored together (store.add_control's
    columns, in the order given), with the states of the programs' other events that they move and the changes
    clients are told of.  Events of one program are newer in the order given.  `apart`: each is planned as the
    only event of a program of its own (a stage that reserved its devices), the program given being whose
    rules it obeys."""
    now = clock.now()
    planned: dict[int, NewControl] = {}
    moved: list[StateRow] = []
    changed: list[str] = []
    by_program: dict[int, list[tuple[int, model.DERControl]]] = {}
    for i, (program_id, control) in enumerate(controls):
        by_program.setdefault(program_id, []).append((i, control))
    for program_id, items in by_program.items():
        existing = [] if apart else await live_controls(store, program_id, now)
        provisional_id = max((r.id for r in existing), default=0)
        added = []
        for i, control in items:
            provisional_id += 1
            control = dataclasses.replace(control, href=None, mRID=control.mRID or new_mrid(pen), creationTime=now,
                                          version=control.version if control.version is not None else 0)
            event = lifecycle.Event(provisional_id, now, control.interval.start, control.interval.duration,
                                    modes_of(control.DERControlBase),
                                    bool(control.randomizeStart or control.randomizeDuration))
            added.append((i, control, event))
        states = lifecycle.states_at([as_event(r) for r in existing] + [e for _, _, e in added], now)
        for i, control, event in added:
            data = codec.to_data(control)
            data.pop("EventStatus", None)
            state = states[event.id]
            planned[i] = NewControl(program_id, control.mRID.upper(), now, event.start, event.duration, data,
                                    int(state.status), state.status_time)
        moved.extend(_moved(existing, states))
        if not apart:
            changed.extend(paths.program_changes(program_id))
    return [planned[i] for i in range(len(controls))], moved, changed


class CannotCancel(Exception):
    pass


async def cancel_event(store, clock: Clock, control_id: int) -> ControlRecord:
    now = clock.now()
    record = await store.control(control_id)
    program = await store.controls(record.program_id, ending_after=record.start)
    events = [as_event(r) for r in program]
    state = lifecycle.state_at(as_event(record), events, now)
    if state.status in (lifecycle.Status.CANCELLED, lifecycle.Status.CANCELLED_WITH_RANDOMIZATION):
        raise CannotCancel("the event is already cancelled")
    if state.status == lifecycle.Status.SUPERSEDED:
        raise CannotCancel("the event has been superseded")
    if state.program_event_status == lifecycle.ProgramEventStatus.COMPLETED:
        raise CannotCancel("the event has already completed")
    events = [dataclasses.replace(e, cancelled_at=now) if e.id == control_id else e for e in events]
    states = lifecycle.states_at(events, now)
    await store.cancel_control(control_id, now, _moved(program, states),
                               changed=paths.program_changes(record.program_id))
    return await store.control(control_id)


async def refresh_states(store, clock: Clock, since: int | None = None) -> int | None:
    """Writes every event state that time has moved on since `since`; returns when the next change is due."""
    now = clock.now()
    by_program: dict[int, list[ControlRecord]] = {}
    # an event that ended before `since` can no longer change, nor can anything that overlapped it
    for r in await store.all_controls(ending_after=since):
        by_program.setdefault(r.program_id, []).append(r)
    rows: list[StateRow] = []
    changed: list[str] = []
    upcoming: list[int] = []
    for program_id, records in by_program.items():
        events = [as_event(r) for r in records]
        moved = _moved(records, lifecycle.states_at(events, now))
        if moved:
            rows.extend(moved)
            changed.extend(paths.program_changes(program_id))
        due = lifecycle.next_change(events, now)
        if due is not None:
            upcoming.append(due)
    # an event reaching its end changes no stored status, but it leaves the active list
    for program_id, records in by_program.items():
        ended = any((since is None or since < r.start + r.duration) and r.start + r.duration <= now for r in records)
        if ended and paths.active_control_list(program_id) not in changed:
            changed.extend(paths.program_changes(program_id))
    if rows or changed:
        await store.set_control_states(rows, changed=changed)
    return min(upcoming) if upcoming else None


def event_states(records: list[ControlRecord], now: int) -> dict[int, lifecycle.EventState]:
    return lifecycle.states_at([as_event(r) for r in records], now)


def farewell(config: Config, subscription: SubscriptionRecord, status: int = 1) -> tuple[int, str, bytes]:
    """The last Notification of a subscription that ends: (subscription id, notificationURI, body).

    status 1: cancelled with no further information (the client or the operator ended it).
    """
    note = model.Notification(subscribedResource=subscription.resource, status=status,
                              subscriptionURI=paths.subscription(subscription.end_device_id, subscription.id))
    return subscription.id, subscription.data["notificationURI"], encode(config, note)
