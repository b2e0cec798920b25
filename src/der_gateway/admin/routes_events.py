"""DER events (DERControls): create, list, cancel, clear, and who responded how."""

from __future__ import annotations

from typing import Annotated, Any, Iterable, NotRequired, TypedDict

from aiohttp import web

from ..sep import model, paths
from ..domain.refusals import Conflict
from ..services import der_controls, stage_json, utility_events
from ..store import ControlRecord
from . import views
from .http import conflict, error, json_response, not_found, path_id, read_json, read_query
from .inputs import curve_link_errors, mrid_of, operator_fields, unique
from .routes_programs import program_of
from .routes_utility_catalog import event_constraint_errors
from .state import CLOCK, CONFIG, SCHEMAS, STORE
from .routing import MRID_TAKEN, SEP_NOTE, Answer, Query, Route, SepBody
from ..sep.json_form import build
from ..services.json_view import Id, Keys, Lfdi, doc

CONTROL_FIELDS = ("mRID", "description", "version", "interval", "randomizeStart", "randomizeDuration",
                  "responseRequired", "deviceCategory", "DERControlBase")
DEFAULT_RESPONSE_REQUIRED = "03"  # message received and specific response


def _interval_errors(interval: Any, base: Any, now: int) -> list[dict[str, str]]:
    """What the schema cannot say: an event lasts a while, has not ended already, and controls something."""
    errors = []
    if isinstance(interval, dict):
        start, duration = interval.get("start"), interval.get("duration")
        if type(duration) is int and duration == 0:
            errors.append(error("must be at least 1 second", "interval.duration"))
        elif type(start) is int and type(duration) is int and 0 < duration and start + duration <= now:
            errors.append(error(f"the event would have ended already (at {start + duration}; it is now {now})",
                                "interval"))
    if base == {}:
        errors.append(error("must set at least one control", "DERControlBase"))
    return errors


async def _view(store, record: ControlRecord, now: int) -> dict[str, Any]:
    states = der_controls.event_states(await store.controls(record.program_id), now)
    archived_at = await store.control_archived_at(record.id)
    return {**views.control(record, states[record.id]), "archivedAt": archived_at}


async def control_of(request: web.Request) -> ControlRecord:
    control_id = path_id(request, "control_id", "event")
    record = await request.app[STORE].control(control_id)
    if record is None:
        raise not_found(f"event {control_id}")
    return record


async def checked_control(request: web.Request, program_id: int, body: dict[str, Any], now: int,
                          earlier_starts: tuple[int, ...] = ()) -> model.DERControl:
    """A new event's DERControl from the operator's body, after every check an event gets (the schema, its
    interval, its curve links, the program's rules); Invalid with every problem otherwise.  earlier_starts: the
    starts of events of the program created with it (a utility event's earlier stages), counted by its rules."""
    store, config = request.app[STORE], request.app[CONFIG]
    fields, errors = operator_fields(body, model.DERControl, CONTROL_FIELDS)
    fields["mRID"] = mrid_of(fields, config.mrid_pen)
    if fields.get("responseRequired") is None:
        fields["responseRequired"] = DEFAULT_RESPONSE_REQUIRED
    fields["creationTime"] = now
    fields["EventStatus"] = {"currentStatus": 0, "dateTime": now, "potentiallySuperseded": False}
    errors += _interval_errors(fields.get("interval"), fields.get("DERControlBase"), now)
    errors += await curve_link_errors(store, program_id, fields.get("DERControlBase"))
    errors += await event_constraint_errors(request, program_id, fields.get("interval"), now, earlier_starts)
    return build(model.DERControl, fields, request.app[SCHEMAS], prior=errors)


async def create_control(request: web.Request) -> web.Response:
    store, config, clock = request.app[STORE], request.app[CONFIG], request.app[CLOCK]
    program = await program_of(request)
    now = clock.now()
    control = await checked_control(request, program.id, await read_json(request), now)
    if await store.control_by_mrid(control.mRID) is not None:
        raise conflict("another event already has this mRID", "mRID")
    record = await unique(lambda: der_controls.create_event(store, clock, config.mrid_pen, program.id, control), "event")
    return json_response(await _view(store, record, now), 201, f"/controls/{record.id}")


async def list_controls(request: web.Request) -> web.Response:
    """?archived=true lists the archived events too."""
    store = request.app[STORE]
    program = await program_of(request)
    archived = _archived_query(request)
    records = await store.controls(program.id)
    states = der_controls.event_states(records, request.app[CLOCK].now())
    archived_at = await store.archived_controls(program.id)
    return json_response({"items": [{**views.control(r, states[r.id]), "archivedAt": archived_at.get(r.id)}
                                    for r in records if archived or r.id not in archived_at]})


ARCHIVED_QUERY = (Query("archived", "true: the archived events too", bool),)


def _archived_query(request: web.Request) -> bool:
    return read_query(request, ARCHIVED_QUERY).get("archived", False)


async def clear_controls(request: web.Request) -> web.Response:
    """Deletes the program's events, unless one has a participation record (a stage's, or a Response): those
    are never deleted, only archived, and the request is refused whole."""
    store = request.app[STORE]
    program = await program_of(request)
    recorded = await store.recorded_controls(program.id)
    if not recorded:
        try:
            deleted: views.Deleted = {"deleted": await store.clear_controls(
                program.id, changed=paths.program_changes(program.id))}
            return json_response(deleted)
        except Conflict:  # a Response came in meanwhile
            recorded = await store.recorded_controls(program.id)
    raise conflict(f"events {', '.join(map(str, recorded))} have participation records (a stage's, or device "
                   "Responses): they cannot be deleted, only archived (POST /controls/{id}/archive); nothing was "
                   "deleted")


async def archive_control(request: web.Request) -> web.Response:
    store, clock = request.app[STORE], request.app[CLOCK]
    record = await control_of(request)
    await utility_events.archive_control(store, clock, record)
    return json_response(await _view(store, record, clock.now()))


async def get_control(request: web.Request) -> web.Response:
    return json_response(await _view(request.app[STORE], await control_of(request), request.app[CLOCK].now()))


async def cancel_control(request: web.Request) -> web.Response:
    store, clock = request.app[STORE], request.app[CLOCK]
    record = await control_of(request)
    try:
        record = await der_controls.cancel_event(store, clock, record.id)
    except der_controls.CannotCancel as exc:
        raise conflict(f"cannot cancel event {record.id}: {exc}") from None
    return json_response(await _view(store, record, clock.now()))


StatusCounts = Annotated[dict[str, int], Keys(views.RESPONSE_STATUS_NAMES.values(), (), closed=False),
                         doc("per Response.status name (unknown codes appear as statusN)")]


class ResponseSent(TypedDict):
    status: int
    statusName: str
    createdDateTime: int
    received: int


class RespondingDevice(TypedDict):
    endDeviceLFDI: Lfdi
    latestStatus: int
    latestStatusName: str
    responses: list[ResponseSent]


class Participation(TypedDict):
    controlId: Id
    mRID: str
    targeted: Annotated[int, doc("a stage's: the EndDevices it called when scheduled (its participation record); "
                                 "another event's: enabled EndDevices in groups the program is assigned to")]
    responded: Annotated[int, doc("EndDevices that sent any Response")]
    notResponded: Annotated[int, doc("targeted EndDevices that sent none")]
    notRespondedEndDevices: list[Lfdi]
    counts: Annotated[StatusCounts, doc("EndDevices by the status of their latest Response")]
    responseCounts: Annotated[StatusCounts, doc("every Response, by status")]
    items: list[RespondingDevice]
    stageId: Annotated[Id | None, doc("the utility event stage the event is, if it is one")]
    record: NotRequired[Annotated[list[stage_json.Participant], doc("a stage's participation record")]]


async def participation(request: web.Request) -> web.Response:
    """Each responding EndDevice's responses, counts by status, and the targeted devices yet to respond.

    A stage's event is read from its participation record: the devices it called when it was scheduled, with
    their outcomes once settled.  Another event's targeted devices are those its program reaches now."""
    store = request.app[STORE]
    record = await control_of(request)
    by_device: dict[str, list] = {}
    for response in await store.responses(record.id):  # by device, then in the order received
        by_device.setdefault(response.end_device_lfdi.upper(), []).append(response)
    items: list[RespondingDevice] = [{
        "endDeviceLFDI": lfdi, "latestStatus": responses[-1].status,
        "latestStatusName": views.status_name(responses[-1].status),
        "responses": [{"status": r.status, "statusName": views.status_name(r.status),
                       "createdDateTime": r.created, "received": r.received} for r in responses],
    } for lfdi, responses in by_device.items()]
    called = await store.participation(record.id)
    stage = await store.stage_of_control(record.id)
    if stage is not None:
        targeted = {p.lfdi.upper() for p in called}
    else:
        targeted = {lfdi.upper() for _, lfdi in await store.targeted_end_devices(record.program_id)}
    silent = sorted(targeted - set(by_device))
    answer: Participation = {
        "controlId": record.id, "mRID": record.mRID, "targeted": len(targeted), "responded": len(by_device),
        "notResponded": len(silent), "notRespondedEndDevices": silent,
        "counts": _count(rs[-1].status for rs in by_device.values()),
        "responseCounts": _count(r.status for rs in by_device.values() for r in rs),
        "items": items, "stageId": stage.id if stage else None}
    if stage is not None:
        answer["record"] = [stage_json.participant(p) for p in called]
    return json_response(answer)


def _count(statuses: Iterable[int]) -> dict[str, int]:
    counts = {name: 0 for name in views.RESPONSE_STATUS_NAMES.values()}
    for status in statuses:
        counts[views.status_name(status)] = counts.get(views.status_name(status), 0) + 1
    return counts


ROUTES: tuple[Route, ...] = (
    Route("POST", "/programs/{program_id:[0-9]+}/controls", create_control,
          "Create an event (DERControl)",
          {201: Answer("created (Location: /controls/{id})", "Control")},
          body=SepBody(model.DERControl, CONTROL_FIELDS, ("mRID",),
                       "A DER event. mRID is generated when absent; responseRequired defaults to \"03\". The "
                       "event must not have ended already, and DERControlBase must set at least one control; curve "
                       "links as for the DefaultDERControl. " + SEP_NOTE),
          errors=MRID_TAKEN),
    Route("GET", "/programs/{program_id:[0-9]+}/controls", list_controls,
          "List the program's events with their status now",
          {200: Answer("start ascending, newest first", "ControlList")},
          query=ARCHIVED_QUERY),
    Route("DELETE", "/programs/{program_id:[0-9]+}/controls", clear_controls,
          "Delete all the program's events",
          {200: Answer("how many", "Deleted")},
          errors={409: "an event has a participation record (a stage's, or Responses): it can only be archived; "
                       "nothing is deleted"}),
    Route("GET", "/controls/{control_id:[0-9]+}", get_control,
          "Get an event with its status now",
          {200: Answer("the event", "Control")}),
    Route("POST", "/controls/{control_id:[0-9]+}/cancel", cancel_control,
          "Cancel an event",
          {200: Answer("the cancelled event", "Control")},
          errors={409: "already cancelled, superseded or completed"}),
    Route("GET", "/controls/{control_id:[0-9]+}/participation", participation,
          "Responses to an event, per EndDevice",
          {200: Answer("participation", "Participation")}),
    Route("POST", "/controls/{control_id:[0-9]+}/archive", archive_control,
          "Archive an event that has ended: kept with its record, out of the lists",
          {200: Answer("the event", "Control")},
          errors={409: "the event is scheduled or in progress"}),
)
