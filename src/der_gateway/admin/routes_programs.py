"""DERPrograms, their DefaultDERControl and their DERCurves."""

from __future__ import annotations


from aiohttp import web

from ..domain.refusals import Conflict
from ..domain.events import ProgramEventStatus
from ..sep import codec, model, paths
from ..services.der_controls import event_states
from ..store import ProgramRecord
from . import views
from .http import conflict, found, json_response, no_content, not_found, path_id, read_json
from .inputs import curve_hrefs, curve_link_errors, mrid_of, operator_fields, unique
from .state import CLOCK, CONFIG, SCHEMAS, STORE
from .routing import MRID_TAKEN, NO_CONTENT, SEP_NOTE, Answer, Route, SepBody
from ..sep.json_form import build

DELETED = 4  # Notification.status: the subscribed resource was deleted

PROGRAM_FIELDS = ("mRID", "description", "primacy")
PROGRAM_PATCH_FIELDS = ("description", "primacy")
DEFAULT_CONTROL_FIELDS = ("mRID", "description", "version", "DERControlBase", "setESDelay", "setESHighFreq",
                          "setESHighVolt", "setESLowFreq", "setESLowVolt", "setESRampTms", "setESRandomDelay",
                          "setGradW", "setSoftGradW")
CURVE_FIELDS = ("mRID", "description", "version", "autonomousVRefEnable", "autonomousVRefTimeConstant",
                "CurveData", "curveType", "openLoopTms", "rampDecTms", "rampIncTms", "rampPT1Tms", "vRef",
                "xMultiplier", "yMultiplier", "yRefType")


async def program_of(request: web.Request) -> ProgramRecord:
    program_id = path_id(request, "program_id", "program")
    record = await request.app[STORE].program(program_id)
    if record is None:
        raise not_found(f"program {program_id}")
    return record


async def _view(store, record: ProgramRecord) -> views.Program:
    return views.program(record, await store.groups_with_program(record.id))


# -- programs -----------------------------------------------------------------------

async def create_program(request: web.Request) -> web.Response:
    store, config = request.app[STORE], request.app[CONFIG]
    fields, errors = operator_fields(await read_json(request), model.DERProgram, PROGRAM_FIELDS)
    fields["mRID"] = mrid_of(fields, config.mrid_pen)
    program = build(model.DERProgram, fields, request.app[SCHEMAS], prior=errors)
    if any(p.mRID.upper() == program.mRID for p in await store.programs()):
        raise conflict("another program already has this mRID", "mRID")
    program_id = await unique(lambda: store.create_program(program.mRID, program.description, program.primacy),
                              "program")
    created = await found(await store.program(program_id), f"program {program_id}")
    return json_response(await _view(store, created), 201, f"/programs/{program_id}")


async def list_programs(request: web.Request) -> web.Response:
    store = request.app[STORE]
    return json_response({"items": [await _view(store, p) for p in await store.programs()]})


async def get_program(request: web.Request) -> web.Response:
    return json_response(await _view(request.app[STORE], await program_of(request)))


async def patch_program(request: web.Request) -> web.Response:
    store = request.app[STORE]
    record = await program_of(request)
    fields, errors = operator_fields(await read_json(request), model.DERProgram, PROGRAM_PATCH_FIELDS)
    merged = {"mRID": record.mRID, "description": record.description, "primacy": record.primacy, **fields}
    program = build(model.DERProgram, merged, request.app[SCHEMAS], prior=errors)
    groups = await store.groups_with_program(record.id)
    await store.update_program(record.id, program.description, program.primacy,
                               changed=[paths.program_list(g) for g in groups])
    return json_response(await _view(store, await found(await store.program(record.id), f"program {record.id}")))


async def delete_program(request: web.Request) -> web.Response:
    store = request.app[STORE]
    record = await program_of(request)
    groups = await store.groups_with_program(record.id)
    members = {e for g in groups for e in await store.group_members(g)}  # their FSAs count one program fewer
    try:
        await store.delete_program(record.id, changed=[paths.program_list(g) for g in groups] + [
            paths.fsa_list(e) for e in sorted(members)] + [
            (paths.control_list(record.id), DELETED), (paths.default_control(record.id), DELETED),
            (paths.curve_list(record.id), DELETED)])
    except Conflict:
        raise conflict("the program has enrollments, events with a participation record (which are only "
                       "archived, never deleted), or an asset type names it as its default; unenroll them or change "
                       "the asset type first") from None
    return no_content()


# -- DefaultDERControl ------------------------------------------------------------------

async def put_default_control(request: web.Request) -> web.Response:
    store, config = request.app[STORE], request.app[CONFIG]
    record = await program_of(request)
    fields, errors = operator_fields(await read_json(request), model.DefaultDERControl, DEFAULT_CONTROL_FIELDS)
    fields["mRID"] = mrid_of(fields, config.mrid_pen)
    errors += await curve_link_errors(store, record.id, fields.get("DERControlBase"))
    control = build(model.DefaultDERControl, fields, request.app[SCHEMAS], prior=errors)
    existed = await store.default_control(record.id) is not None
    data = codec.to_data(control)
    # the program's representation gains (or keeps) its DefaultDERControlLink: its lists change too
    holders = [paths.program_list(g) for g in await store.groups_with_program(record.id)]
    await store.set_default_control(record.id, control.mRID, data,
                                    changed=[paths.default_control(record.id), *holders])
    return json_response(views.default_control(record.id, data), 200 if existed else 201,
                         f"/programs/{record.id}/default-control")


async def get_default_control(request: web.Request) -> web.Response:
    record = await program_of(request)
    data = await request.app[STORE].default_control(record.id)
    if data is None:
        raise not_found(f"DefaultDERControl for program {record.id}")
    return json_response(views.default_control(record.id, data))


# -- DERCurves ------------------------------------------------------------------------------

async def create_curve(request: web.Request) -> web.Response:
    store, config = request.app[STORE], request.app[CONFIG]
    record = await program_of(request)
    fields, errors = operator_fields(await read_json(request), model.DERCurve, CURVE_FIELDS)
    fields["mRID"] = mrid_of(fields, config.mrid_pen)
    fields["creationTime"] = request.app[CLOCK].now()
    curve = build(model.DERCurve, fields, request.app[SCHEMAS], prior=errors)
    data = codec.to_data(curve)
    curve_id = await unique(lambda: store.add_curve(record.id, curve.mRID, data,
                                                    changed=[paths.curve_list(record.id)]), "DERCurve")
    return json_response(views.curve(record.id, curve_id, data), 201, f"/programs/{record.id}/curves/{curve_id}")


async def list_curves(request: web.Request) -> web.Response:
    record = await program_of(request)
    curves = await request.app[STORE].curves(record.id)
    return json_response({"items": [views.curve(record.id, cid, data) for cid, data in curves]})


async def _curve(request: web.Request) -> tuple[ProgramRecord, int, dict]:
    record = await program_of(request)
    curve_id = path_id(request, "curve_id", "DERCurve")
    data = await request.app[STORE].curve(record.id, curve_id)
    if data is None:
        raise not_found(f"DERCurve {curve_id} in program {record.id}")
    return record, curve_id, data


async def get_curve(request: web.Request) -> web.Response:
    record, curve_id, data = await _curve(request)
    return json_response(views.curve(record.id, curve_id, data))


async def delete_curve(request: web.Request) -> web.Response:
    """Refused while the DefaultDERControl or an event that has not ended refers to the curve."""
    store = request.app[STORE]
    record, curve_id, _ = await _curve(request)
    href = paths.curve(record.id, curve_id)
    users = []
    default = await store.default_control(record.id)
    if default is not None and href in curve_hrefs(default):
        users.append("the program's DefaultDERControl")
    controls = await store.controls(record.id)
    states = event_states(controls, request.app[CLOCK].now())
    for c in controls:
        live = states[c.id].program_event_status in (ProgramEventStatus.SCHEDULED, ProgramEventStatus.IN_PROGRESS)
        if live and href in curve_hrefs(c.data):
            users.append(f"event {c.id}")
    if users:
        raise conflict(f"the DERCurve is in use by {', '.join(users)}")
    await store.delete_curve(record.id, curve_id, changed=[paths.curve_list(record.id)])
    return no_content()


ROUTES: tuple[Route, ...] = (
    Route("POST", "/programs", create_program,
          "Create a DERProgram",
          {201: Answer("created (Location: /programs/{id})", "Program")},
          body=SepBody(model.DERProgram, PROGRAM_FIELDS, ("mRID",), "mRID is generated when absent. " + SEP_NOTE),
          errors=MRID_TAKEN),
    Route("GET", "/programs", list_programs,
          "List programs",
          {200: Answer("all programs, by primacy", "ProgramList")}),
    Route("GET", "/programs/{program_id:[0-9]+}", get_program,
          "Get a program",
          {200: Answer("the program", "Program")}),
    Route("PATCH", "/programs/{program_id:[0-9]+}", patch_program,
          "Change a program's description or primacy",
          {200: Answer("the program", "Program")},
          body=SepBody(model.DERProgram, PROGRAM_PATCH_FIELDS, PROGRAM_PATCH_FIELDS,
                       "description null clears it. " + SEP_NOTE)),
    Route("DELETE", "/programs/{program_id:[0-9]+}", delete_program,
          "Delete a program with its events, default control and curves",
          NO_CONTENT,
          errors={409: "it has enrollments or events with a participation record, or an asset type names it as "
                       "its default"}),
    Route("PUT", "/programs/{program_id:[0-9]+}/default-control", put_default_control,
          "Set the program's DefaultDERControl",
          {200: Answer("replaced", "DefaultDERControl"), 201: Answer("created", "DefaultDERControl")},
          body=SepBody(model.DefaultDERControl, DEFAULT_CONTROL_FIELDS, ("mRID",),
                       "Curve links in DERControlBase must be {\"href\": \"/derp/{program}/dc/{curve}\"} naming a "
                       "DERCurve of this program with the matching curveType. " + SEP_NOTE)),
    Route("GET", "/programs/{program_id:[0-9]+}/default-control", get_default_control,
          "Get the program's DefaultDERControl",
          {200: Answer("it", "DefaultDERControl")}),
    Route("POST", "/programs/{program_id:[0-9]+}/curves", create_curve,
          "Add a DERCurve",
          {201: Answer("created (Location: .../curves/{id})", "DERCurve")},
          body=SepBody(model.DERCurve, CURVE_FIELDS, ("mRID",), "creationTime is the server's. " + SEP_NOTE),
          errors=MRID_TAKEN),
    Route("GET", "/programs/{program_id:[0-9]+}/curves", list_curves,
          "List the program's DERCurves",
          {200: Answer("its curves", "DERCurveList")}),
    Route("GET", "/programs/{program_id:[0-9]+}/curves/{curve_id:[0-9]+}", get_curve,
          "Get a DERCurve",
          {200: Answer("the curve", "DERCurve")}),
    Route("DELETE", "/programs/{program_id:[0-9]+}/curves/{curve_id:[0-9]+}", delete_curve,
          "Delete a DERCurve",
          NO_CONTENT,
          errors={409: "the DefaultDERControl or an event that has not ended refers to it"}),
)
