"""The console's view of events: a timeline of events and utility events, and for one of them how far each called
device got and the real power the devices drew or fed in meanwhile."""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypedDict

from aiohttp import web

from ..domain import progress as device_progress
from ..domain import stages as stage_rules
from ..services.json_view import Id, Keys, doc
from ..services import der_controls, utility_events
from ..store import ControlRecord
from ..store.console_records import EventScope
from ..store.stage_records import UtilityEventRecord
from .http import WINDOW, json_response, not_found, query_window, read_query
from .routes_console_devices import Points
from .routes_events import control_of
from .routes_utility_events import utility_event_of
from .state import CLOCK, STORE
from .routing import Answer, Query, Route

LONGEST_WINDOW = 366 * 86_400
TIMELINE_LIMIT = 1000
MARGIN = 3600  # power is shown from an hour before the event to an hour after it
DEFAULT_PAGE, MAX_PAGE = 100, 1000
PAGE_QUERY = (Query("s", "the index of the first device listed, by EndDevice id (default 0)", int, minimum=0),
              Query("l", f"how many devices to list (default {DEFAULT_PAGE})", int, minimum=0, maximum=MAX_PAGE))


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
    all: Annotated[int, doc("how many devices are called (the counts summed)")]
    s: Annotated[int, doc("the index of the first device listed")]
    devices: Annotated[list[DeviceProgress], doc("a page of the called devices, by EndDevice id (s, l)")]


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


async def _summary(request: web.Request, scope: EventScope) -> web.Response:
    """How many called devices got how far (all of them), and a page of them by EndDevice id."""
    query = read_query(request, PAGE_QUERY)
    store, now = request.app[STORE], request.app[CLOCK].now()
    start = query.get("s", 0)
    counts = await store.event_device_counts(scope, now)
    page = await store.event_device_page(scope, now, start, query.get("l", DEFAULT_PAGE))
    view: ParticipationSummary = {
        "as_of": now, "counts": counts, "all": sum(counts.values()), "s": start,
        "devices": [{"end_device_id": d.end_device_id, "lfdi": d.lfdi, "status": d.progress} for d in page]}
    return json_response(view)


async def control_participation(request: web.Request) -> web.Response:
    return await _summary(request, EventScope("control", (await control_of(request)).id))


async def event_participation(request: web.Request) -> web.Response:
    return await _summary(request, EventScope("utility_event", (await utility_event_of(request)).id))


async def _power(request: web.Request, scope: EventScope, start: int, end: int) -> web.Response:
    """The called devices' active-power readings summed per reading interval (in the store), from MARGIN before
    start to MARGIN after end (or now, if sooner)."""
    now = request.app[CLOCK].now()
    lo, hi = start - MARGIN, min(end + MARGIN, max(now, start))
    points = await request.app[STORE].fleet_power(scope, now, lo, hi)
    view: PowerSeries = {"unit": "W", "start": lo, "end": hi, "points": [[at, watts] for at, watts in points]}
    return json_response(view)


async def control_power(request: web.Request) -> web.Response:
    control = await control_of(request)
    return await _power(request, EventScope("control", control.id), control.start, control.start + control.duration)


async def event_power(request: web.Request) -> web.Response:
    store = request.app[STORE]
    event = await utility_event_of(request)
    controls = [c for c in [await store.control(stage.control_id) for stage in event.stages] if c is not None]
    if not controls:
        raise not_found(f"stages of utility event {event.id}")
    return await _power(request, EventScope("utility_event", event.id), min(c.start for c in controls),
                        max(c.start + c.duration for c in controls))


ROUTES: tuple[Route, ...] = (
    Route("GET", "/timeline", timeline,
          "Events and utility events in a window",
          {200: Answer("them", "Timeline")},
          query=WINDOW,
          description="Query: from and to, epoch seconds"),
    Route("GET", "/controls/{control_id:[0-9]+}/participation-summary", control_participation,
          "How far each called device got",
          {200: Answer("counts of all, and a page of the devices", "ParticipationSummary")}, query=PAGE_QUERY),
    Route("GET", "/controls/{control_id:[0-9]+}/power", control_power,
          "The called devices' real power summed",
          {200: Answer("it", "PowerSeries")}),
    Route("GET", "/utility-events/{event_id:[0-9]+}/participation", event_participation,
          "How far each called device got, over all stages",
          {200: Answer("counts of all, and a page of the devices", "ParticipationSummary")}, query=PAGE_QUERY),
    Route("GET", "/utility-events/{event_id:[0-9]+}/power", event_power,
          "The called devices' real power summed",
          {200: Answer("it", "PowerSeries")}),
)
