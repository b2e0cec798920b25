"""FunctionSetAssignments and the DER programs they assign: controls, defaults and curves."""

from __future__ import annotations

from aiohttp import web

from ...services import resources
from ..access import path_int, viewer, visible_end_device
from ..http import Problem, paging, sep_response, timed_response
from ..state import CLIENT, STORE

routes = web.RouteTableDef()


@routes.get("/edev/{edev}/fsa")
async def list_function_set_assignments(request: web.Request) -> web.Response:
    record = await visible_end_device(request)
    page = paging(request)
    return sep_response(await resources.fsa_list(viewer(request), record, page.start, page.limit))


async def _visible_group(request: web.Request) -> int:
    group_id = path_int(request, "fsa")
    if not await request.app[STORE].group_visible_to(request[CLIENT].lfdi, group_id):
        raise Problem(404, f"no FunctionSetAssignments at {request.path}")
    return group_id


@routes.get("/fsa/{fsa}")
async def get_function_set_assignments(request: web.Request) -> web.Response:
    group = await request.app[STORE].group(await _visible_group(request))
    if group is None:  # deleted since it was found visible
        raise Problem(404, f"no FunctionSetAssignments at {request.path}")
    return sep_response(await resources.fsa(viewer(request), group))


@routes.get("/fsa/{fsa}/derp")
async def list_programs(request: web.Request) -> web.Response:
    group_id = await _visible_group(request)
    page = paging(request)
    v = viewer(request)
    return timed_response(await resources.program_list(v, group_id, page.start, page.limit), v.horizon)


async def _visible_program(request: web.Request) -> int:
    program_id = path_int(request, "derp")
    if not await request.app[STORE].program_visible_to(request[CLIENT].lfdi, program_id):
        raise Problem(404, f"no DERProgram at {request.path}")
    return program_id


@routes.get("/derp/{derp}")
async def get_program(request: web.Request) -> web.Response:
    record = await request.app[STORE].program(await _visible_program(request))
    if record is None:  # deleted since it was found visible
        raise Problem(404, f"no DERProgram at {request.path}")
    v = viewer(request)
    return timed_response(await resources.program(v, record), v.horizon)


@routes.get("/derp/{derp}/derc")
async def list_controls(request: web.Request) -> web.Response:
    program_id = await _visible_program(request)
    page = paging(request)
    v = viewer(request)
    return timed_response(await resources.control_list(v, program_id, page.start, page.limit), v.horizon)


@routes.get("/derp/{derp}/actderc")
async def list_active_controls(request: web.Request) -> web.Response:
    program_id = await _visible_program(request)
    page = paging(request)
    v = viewer(request)
    return timed_response(await resources.control_list(v, program_id, page.start, page.limit, active_only=True),
                          v.horizon)


@routes.get("/derp/{derp}/derc/{derc}")
async def get_control(request: web.Request) -> web.Response:
    program_id = await _visible_program(request)
    record = await request.app[STORE].control(path_int(request, "derc"))
    if record is None or record.program_id != program_id:
        raise Problem(404, f"no DERControl at {request.path}")
    v = viewer(request)
    return timed_response(await resources.single_control(v, record), v.horizon)


@routes.get("/derp/{derp}/dderc")
async def get_default_control(request: web.Request) -> web.Response:
    dderc = await resources.default_control(viewer(request), await _visible_program(request))
    if dderc is None:
        raise Problem(404, "this program has no DefaultDERControl")
    return sep_response(dderc)


@routes.get("/derp/{derp}/dc")
async def list_curves(request: web.Request) -> web.Response:
    program_id = await _visible_program(request)
    page = paging(request)
    return sep_response(await resources.curve_list(viewer(request), program_id, page.start, page.limit))


@routes.get("/derp/{derp}/dc/{dc}")
async def get_curve(request: web.Request) -> web.Response:
    program_id = await _visible_program(request)
    curve = await resources.curve(viewer(request), program_id, path_int(request, "dc"))
    if curve is None:
        raise Problem(404, f"no DERCurve at {request.path}")
    return sep_response(curve)
