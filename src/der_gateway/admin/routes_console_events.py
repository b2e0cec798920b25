"""The console's view of events: a timeline of events and utility events, and for one of them how far each called
device got and the real power the devices drew or fed in meanwhile."""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypedDict

from aiohttp import web

from ..domain import progress as device_progress
from ..domain import stages as stage_rules
from ..services.json_view import Id, Keys
from ..services import der_controls, utility_events
from ..store import ControlRecord
from ..store.stage_records import UtilityEventRecord
from .http import WINDOW, json_response, not_found, query_window
from .routes_console_devices import Points
from .routes_events import control_of
from .routes_utility_events import utility_event_of
from .state import CLOCK, STORE
from .routing import Answer, Route

LONGEST_WINDOW = 366 * 86_400
TIMELINE_LIMIT = 1000
MARGIN = 3600  # power is shown from an hour before the event to an hour after it
WATTS = 38  # ReadingType uom


class TimelineStage(TypedDict):
    position: int
    start: int
    end: int
    control_id: int | None
    status: str


class TimelineItem(TypedDict):
    kind: Literal["utility-event", "control"]
    id: Id
    program_id: int
    program: str
    description: str | None
    start: int
    end: int
    status: str
    stages: list[TimelineStage]


class Timeline(TypedDict):
    items: list[TimelineItem]


class DeviceProgress(TypedDict):
    end_device_id: Id
    lfdi: str
    status: str


class ParticipationSummary(TypedDict):
    as_of: int
    counts: Annotated[dict[str, int], Keys(device_progress.PROGRESS)]
    devices: list[DeviceProgress]


class PowerSeries(TypedDict):
    unit: Literal["W"]
    start: int
    end: int
    points: Points


def _program_name(programs: dict[int, Any], program_id: int) -> str:
    p = programs.get(program_id)
    return (p.description or p.mRID) if p is not None else str(program_id)


async def _control_status(store, record: ControlRecord, now: int) -> str:
    states = der_controls.event_states(await store.controls(record.program_id,
                                                            ending_after=record.start + record.duration - 1), now)
    return states[record.id].program_event_status


async def _event_item(store, clock, event: UtilityEventRecord, programs: dict[int, Any]) -> TimelineItem:
    stages: list[TimelineStage] = []
    statuses: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for stage in event.stages:
        control, status = await utility_events.status_of(store, clock, stage)
        statuses.append(status)
        starts.append(control.start)
        ends.append(control.start + control.duration)
        stages.append({"position": stage.position, "start": control.start, "end": control.start + control.duration,
                       "control_id": control.id, "status": status})
    first = event.stages[0].program_id if event.stages else 0
    return {"kind": "utility-event", "id": event.id, "program_id": first, "program": _program_name(programs, first),
            "description": event.description, "start": min(starts, default=event.created),
            "end": max(ends, default=event.created),
            "status": stage_rules.CANCELED if event.cancelled_at is not None else stage_rules.event_status(statuses),
            "stages": stages}


async def timeline(request: web.Request) -> web.Response:
    """The events and utility events that overlap the window (at most TIMELINE_LIMIT events read), by start; a
    stage's event is shown only within its utility event."""
    start, end = query_window(request, LONGEST_WINDOW)
    store, clock = request.app[STORE], request.app[CLOCK]
    now = clock.now()
    programs = {p.id: p for p in await store.programs()}
    items: list[TimelineItem] = []
    events: set[int] = set()
    for control_id, event_id in await store.timeline_controls(start, end, TIMELINE_LIMIT):
        if event_id is not None:
            if event_id not in events:
                events.add(event_id)
                event = await store.utility_event(event_id)
                if event is not None:
                    items.append(await _event_item(store, clock, event, programs))
            continue
        control = await store.control(control_id)
        if control is None:
            continue
        items.append({"kind": "control", "id": control.id, "program_id": control.program_id,
                      "program": _program_name(programs, control.program_id),
                      "description": control.data.get("description"), "start": control.start,
                      "end": control.start + control.duration, "status": await _control_status(store, control, now),
                      "stages": []})
    items.sort(key=lambda i: (i["start"], i["kind"], i["id"]))
    view: Timeline = {"items": items}
    return json_response(view)


async def _devices_of(store, control: ControlRecord, now: int) -> dict[int, tuple[str, str]]:
    """The devices an event calls (a stage's participation record, else its program's targeted devices), each
    with how far it got: end_device_id -> (lfdi, progress).  A device a stage reserved that has not answered is
    reserved until the stage ends, and no_response after."""
    stage = await store.stage_of_control(control.id)
    reserved: set[int] = set()
    if stage is not None:
        called = [(p.end_device_id, p.lfdi) for p in await store.participation(control.id)]
        if now < control.start + control.duration:
            reserved = {r.end_device_id for r in await store.reservation(stage.id) if r.reserved}
    else:
        called = await store.targeted_end_devices(control.program_id)
    statuses: dict[str, list[int]] = {}
    for response in await store.responses(control.id):
        statuses.setdefault(response.end_device_lfdi.upper(), []).append(response.status)
    return {end_device_id: (lfdi, device_progress.progress(statuses.get(lfdi.upper(), ()), end_device_id in reserved))
            for end_device_id, lfdi in called}


def _furthest(a: str, b: str) -> str:
    order = (device_progress.NO_RESPONSE, device_progress.RESERVED, device_progress.RECEIVED,
             device_progress.STARTED, device_progress.COMPLETED, device_progress.OPTED_OUT)
    return a if order.index(a) >= order.index(b) else b


def _summary(devices: dict[int, tuple[str, str]], now: int) -> ParticipationSummary:
    return {"as_of": now, "counts": device_progress.counts(p for _, p in devices.values()),
            "devices": [{"end_device_id": i, "lfdi": lfdi, "status": p} for i, (lfdi, p) in sorted(devices.items())]}


async def control_participation(request: web.Request) -> web.Response:
    store = request.app[STORE]
    return json_response(_summary(await _devices_of(store, await control_of(request), request.app[CLOCK].now()), request.app[CLOCK].now()))


async def _event_devices(store, event: UtilityEventRecord,
                         now: int) -> tuple[dict[int, tuple[str, str]], list[ControlRecord]]:
    devices: dict[int, tuple[str, str]] = {}
    controls = []
    for stage in event.stages:
        control = await store.control(stage.control_id)
        if control is None:
            continue
        controls.append(control)
        for end_device_id, (lfdi, p) in (await _devices_of(store, control, now)).items():
            known = devices.get(end_device_id)
            devices[end_device_id] = (lfdi, _furthest(known[1], p) if known else p)
    return devices, controls


async def event_participation(request: web.Request) -> web.Response:
    devices, _ = await _event_devices(request.app[STORE], await utility_event_of(request), request.app[CLOCK].now())
    return json_response(_summary(devices, request.app[CLOCK].now()))


async def _power(store, end_device_ids: list[int], start: int, end: int, now: int) -> PowerSeries:
    """The devices' active-power readings summed per reading interval, from MARGIN before start to MARGIN after end
    (or now, if sooner)."""
    lo, hi = start - MARGIN, min(end + MARGIN, max(now, start))
    sums: dict[int, float] = {}
    for series in await store.power_history(end_device_ids, [(lo, hi)]):
        if series.reading_type.get("uom") != WATTS:
            continue
        scale = 10 ** int(series.reading_type.get("powerOfTenMultiplier") or 0)
        for at, _, value in series.readings:
            if at is not None and value is not None and lo <= at < hi:
                sums[at] = sums.get(at, 0) + value * scale
    return {"unit": "W", "start": lo, "end": hi, "points": [[at, sums[at]] for at in sorted(sums)]}


async def control_power(request: web.Request) -> web.Response:
    store = request.app[STORE]
    control = await control_of(request)
    devices = await _devices_of(store, control, request.app[CLOCK].now())
    return json_response(await _power(store, sorted(devices), control.start, control.start + control.duration,
                                      request.app[CLOCK].now()))


async def event_power(request: web.Request) -> web.Response:
    store = request.app[STORE]
    event = await utility_event_of(request)
    devices, controls = await _event_devices(store, event, request.app[CLOCK].now())
    if not controls:
        raise not_found(f"stages of utility event {event.id}")
    start = min(c.start for c in controls)
    end = max(c.start + c.duration for c in controls)
    return json_response(await _power(store, sorted(devices), start, end, request.app[CLOCK].now()))


ROUTES: tuple[Route, ...] = (
    Route("GET", "/timeline", timeline,
          "Events and utility events in a window",
          {200: Answer("them", "Timeline")},
          query=WINDOW,
          description="Query: from and to, epoch seconds"),
    Route("GET", "/controls/{control_id:[0-9]+}/participation-summary", control_participation,
          "How far each called device got",
          {200: Answer("it", "ParticipationSummary")}),
    Route("GET", "/controls/{control_id:[0-9]+}/power", control_power,
          "The called devices' real power summed",
          {200: Answer("it", "PowerSeries")}),
    Route("GET", "/utility-events/{event_id:[0-9]+}/participation", event_participation,
          "How far each called device got, over all stages",
          {200: Answer("it", "ParticipationSummary")}),
    Route("GET", "/utility-events/{event_id:[0-9]+}/power", event_power,
          "The called devices' real power summed",
          {200: Answer("it", "PowerSeries")}),
)
