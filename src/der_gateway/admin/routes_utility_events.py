"""Utility events made of stages: create, list, read, cancel (the event, or one stage), archive, and each stage's
participation record and outcomes.

A stage is one program event: its body is that of POST /programs/{id}/controls, with "programId" and an
optional "targetKW" (a load reduction: negative to add load, as curtailing generation does), which makes the stage
reserve its devices (docs/participation.md); every check an event gets applies to it.  Nothing is created unless every stage passes.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from aiohttp import web

from ..clock import Clock
from ..domain import stages as stage_rules
from ..domain.refusals import Conflict
from ..sep import model
from ..sep.json_form import Invalid, Plain, check_plain
from ..services import stage_json, utility_events
from ..services.stage_reporting import StageReporter
from ..store.stage_records import StageRecord, UtilityEventRecord
from .http import conflict, error, invalid, json_response, not_found, path_id, read_json
from .inputs import mrid_of
from .routes_events import ARCHIVED_QUERY, CONTROL_FIELDS, _archived_query, checked_control
from .state import CLOCK, CONFIG, STORE
from .routing import MRID_TAKEN, Answer, PlainBody, Route, SepBody

MAX_STAGES = 24
MAX_DESCRIPTION = 192
MAX_KW = 10**9
_TARGET = ("must be a number of kW other than 0: positive, load to take off the grid; negative, load to add "
           "(curtailed generation)")
EVENT = {"mRID": Plain(str, pattern="[0-9A-Fa-f]{32}", reason="must be 32 hex digits (an mRID)",
                       description="32 hex digits; generated when absent"),
         "description": Plain(str, nullable=True, max_length=MAX_DESCRIPTION),
         "stages": Plain(list, required=True, min_items=1, max_items=MAX_STAGES, items=Plain(dict))}
# a stage: a program event (the body of POST /programs/{id}/controls) with these
STAGE = {"programId": Plain(int, required=True, minimum=1, maximum=2**63 - 1),
         "targetKW": Plain(float, minimum=-MAX_KW, maximum=MAX_KW,
                           problem=lambda kw: None if 0 < abs(kw) <= MAX_KW and round(kw * 1000) else _TARGET,
                           description="reserve devices until their forecast load reduction reaches this (negative: "
                                       "load added, as by curtailed generation); without it every eligible device "
                                       "is called; not 0")}
STAGE_BODY = SepBody(model.DERControl, CONTROL_FIELDS, optional=("mRID",), extra=STAGE,
                     description="a program event: the body of POST /programs/{id}/controls, with programId and "
                                 "targetKW (optional). Stages may not overlap.")


async def utility_event_of(request: web.Request) -> UtilityEventRecord:
    event_id = path_id(request, "event_id", "utility event")
    record = await request.app[STORE].utility_event(event_id)
    if record is None:
        raise not_found(f"utility event {event_id}")
    return record


def _stage_of(event: UtilityEventRecord, request: web.Request) -> StageRecord:
    position = path_id(request, "position", "stage")
    for stage in event.stages:
        if stage.position == position:
            return stage
    raise not_found(f"stage {position} of utility event {event.id}")


async def _view(request: web.Request, event: UtilityEventRecord, detail: bool = False) -> stage_json.UtilityEvent:
    store, clock = request.app[STORE], request.app[CLOCK]
    stages: list[stage_json.Stage] = []
    for stage in event.stages:
        control, status = await utility_events.status_of(store, clock, stage)
        view = stage_json.StageView(stage, control, status)
        called = len(await store.participation(control.id))
        stages.append(stage_json.stage(view, called, await store.stage_transitions(stage.id) if detail else None))
    return stage_json.event(event, stages)


async def create_event(request: web.Request) -> web.Response:
    store, config, clock = request.app[STORE], request.app[CONFIG], request.app[CLOCK]
    body = await read_json(request)
    now = clock.now()
    values, errors = check_plain(body, EVENT)
    mrid = mrid_of(body, config.mrid_pen)
    description = values.get("description")
    # each stage that is an object is judged, though another is not
    stages: list[Any] = body["stages"] if not any(e.get("field") == "stages" for e in errors) else []
    plans: list[utility_events.StagePlan] = []
    for i, raw in enumerate(stages):
        where = f"stages[{i}]"
        if not isinstance(raw, dict):
            continue
        earlier = tuple(p.control.interval.start for p in plans
                        if p.program_id == raw.get("programId"))  # the program's rules count earlier stages
        plan, problems = await _stage_plan(request, raw, where, now, earlier)
        errors += problems
        if plan is not None:
            plans.append(plan)
    mrids = [p.control.mRID.upper() for p in plans]
    for i, m in enumerate(mrids):
        if m in mrids[:i]:
            errors.append(error("another stage of the event has this mRID", f"stages[{i}].mRID"))
    windows = [stage_rules.StageWindow(p.control.interval.start, p.control.interval.duration) for p in plans]
    if len(plans) == len(stages):
        errors += [error(f"overlaps stage {a + 1}: an event's stages are successive blocks of time",
                         f"stages[{b}].interval") for a, b in stage_rules.overlapping(windows)]
    if errors:
        raise invalid(errors)
    if await store.utility_event_by_mrid(mrid) is not None:
        raise conflict("another utility event already has this mRID", "mRID")
    for i, plan in enumerate(plans):
        if await store.control_by_mrid(plan.control.mRID) is not None:
            raise conflict("another event already has this mRID", f"stages[{i}].mRID")
    try:
        record = await utility_events.create(store, config, clock, config.mrid_pen, mrid, description, plans)
    except Conflict:
        raise conflict("another utility event or event already has this mRID", "mRID") from None
    return json_response(await _view(request, record, detail=True), 201, f"/utility-events/{record.id}")


async def _stage_plan(request: web.Request, raw: dict[str, Any], where: str, now: int,
                      earlier_starts: tuple[int, ...]) -> tuple[utility_events.StagePlan | None, list[dict[str, str]]]:
    own = ("EventStatus", "creationTime", *CONTROL_FIELDS)
    values, problems = check_plain({k: v for k, v in raw.items() if k not in own}, STAGE)
    errors = [{**e, "field": f"{where}.{e['field']}"} for e in problems]
    program = None
    if "programId" in values:
        program = await request.app[STORE].program(values["programId"])
        if program is None:
            errors.append(error(f"no program {values['programId']}", f"{where}.programId"))
    target = values.get("targetKW")
    if program is None:
        return None, errors
    control_body = {k: v for k, v in raw.items() if k not in STAGE}
    try:
        control = await checked_control(request, program.id, control_body, now, earlier_starts)
    except Invalid as exc:
        return None, errors + [{**e, "field": f"{where}.{e['field']}" if e.get("field") else where}
                               for e in exc.errors]
    if errors:
        return None, errors
    target_w = round(target * 1000) if target is not None else None
    return utility_events.StagePlan(program.id, control, target_w), []


async def list_events(request: web.Request) -> web.Response:
    """?archived=true lists the archived events too."""
    archived = _archived_query(request)
    records = await request.app[STORE].utility_events(archived)
    return json_response({"items": [await _view(request, r) for r in records]})


async def get_event(request: web.Request) -> web.Response:
    return json_response(await _view(request, await utility_event_of(request), detail=True))


async def _acted_on(request: web.Request, act: Callable[[Any, Clock, UtilityEventRecord], Awaitable[Any]]
                   ) -> web.Response:
    """act(store, clock, the event of the path), then the event as it now stands."""
    await act(request.app[STORE], request.app[CLOCK], await utility_event_of(request))
    return json_response(await _view(request, await utility_event_of(request), detail=True))


async def cancel_event(request: web.Request) -> web.Response:
    return await _acted_on(request, utility_events.cancel)


async def cancel_stage(request: web.Request) -> web.Response:
    return await _acted_on(request, lambda store, clock, event: utility_events.cancel_stage(
        store, clock, _stage_of(event, request)))


async def archive_event(request: web.Request) -> web.Response:
    return await _acted_on(request, utility_events.archive)


async def stage_outcomes(request: web.Request) -> web.Response:
    """The stage's participation record: each device it called, what it was sent, its Responses and (once the
    stage has ended and settled) its outcome."""
    store, clock = request.app[STORE], request.app[CLOCK]
    stage = _stage_of(await utility_event_of(request), request)
    found = await StageReporter(store, clock).outcomes(stage.id)
    assert found is not None
    return json_response(found[1])


async def stage_reservation(request: web.Request) -> web.Response:
    stage = _stage_of(await utility_event_of(request), request)
    return json_response(stage_json.reservation(stage.target_w, await request.app[STORE].reservation(stage.id)))


ROUTES: tuple[Route, ...] = (
    Route("POST", "/utility-events", create_event,
          "Create a utility event with its stages (each a program event)",
          {201: Answer("created, its stages SCHEDULED (Location: /utility-events/{id})", "UtilityEvent")},
          body=PlainBody(EVENT, nested={"stages": STAGE_BODY}),
          errors=MRID_TAKEN),
    Route("GET", "/utility-events", list_events,
          "List utility events",
          {200: Answer("by id", "UtilityEventList")},
          query=ARCHIVED_QUERY),
    Route("GET", "/utility-events/{event_id:[0-9]+}", get_event,
          "Get a utility event, its stages and their reported transitions",
          {200: Answer("it", "UtilityEvent")}),
    Route("POST", "/utility-events/{event_id:[0-9]+}/cancel", cancel_event,
          "Cancel the event: every stage that has not ended is cancelled",
          {200: Answer("it", "UtilityEvent")},
          errors={409: "cancelled already, or every stage has ended"}),
    Route("POST", "/utility-events/{event_id:[0-9]+}/archive", archive_event,
          "Archive the event (it and its record stay, out of the lists)",
          {200: Answer("it", "UtilityEvent")},
          errors={409: "a stage is scheduled or in progress"}),
    Route("POST", "/utility-events/{event_id:[0-9]+}/stages/{position:[0-9]+}/cancel", cancel_stage,
          "Cancel one stage",
          {200: Answer("the event", "UtilityEvent")},
          errors={409: "the stage is cancelled or completed already"}),
    Route("GET", "/utility-events/{event_id:[0-9]+}/stages/{position:[0-9]+}/reservation", stage_reservation,
          "Which devices the stage considered, and why it called each or not",
          {200: Answer("each device, in the order considered", "StageReservation")}),
    Route("GET", "/utility-events/{event_id:[0-9]+}/stages/{position:[0-9]+}/outcomes", stage_outcomes,
          "The stage's participation record and outcomes",
          {200: Answer("each device called; outcomes once settled", "StageOutcomes")}),
)
