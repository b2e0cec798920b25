"""Responses to DER events: /rsps, one ResponseSet, and its ResponseList that events reply to."""

from __future__ import annotations

from aiohttp import web

from ...domain.identifiers import numbered_mrid
from ...sep import codec, model, paths
from ...sep.identity import normalize_lfdi
from ...services import resources
from ..access import path_int, viewer
from ..http import Problem, created, paging, read_resource, sep_response
from ..page_process import page_response
from ..state import CLIENT, CLOCK, CONFIG, STORE

routes = web.RouteTableDef()

# Table 27, DER function set: 1-14 and the three rejections
DER_RESPONSE_CODES = frozenset(range(1, 15)) | {252, 253, 254}


def _response_set(config) -> model.ResponseSet:
    return model.ResponseSet(href=paths.DER_RESPONSE_SET, mRID=numbered_mrid(1, config.mrid_pen),
                             description="Responses to DER events",
                             ResponseListLink=model.ListLink(href=paths.DER_RESPONSES))


@routes.get(paths.RESPONSE_SET_LIST)
async def list_response_sets(request: web.Request) -> web.Response:
    page = paging(request)
    sets = [_response_set(request.app[CONFIG])][page.start:page.start + page.limit]
    return sep_response(model.ResponseSetList(href=paths.RESPONSE_SET_LIST, all=1, results=len(sets),
                                              pollRate=await viewer(request).poll_rate("rsps"), ResponseSet=sets))


@routes.get(paths.DER_RESPONSE_SET)
async def get_response_set(request: web.Request) -> web.Response:
    return sep_response(_response_set(request.app[CONFIG]))


@routes.get(paths.DER_RESPONSES)
async def list_responses(request: web.Request) -> web.Response:
    page = paging(request)
    return await page_response(request, page.limit, resources.response_list, page.start, page.limit)


@routes.get("/rsps/1/rsp/{rsp}")
async def get_response(request: web.Request) -> web.Response:
    store = request.app[STORE]
    response_id = path_int(request, "rsp")
    found = await store.response(response_id)
    if found is None or not await store.acts_for(request[CLIENT].lfdi, found[0]):
        raise Problem(404, f"no Response at {request.path}")
    return sep_response(resources.response(response_id, found[1]))


@routes.post(paths.DER_RESPONSES)
async def post_response(request: web.Request) -> web.Response:
    store = request.app[STORE]
    client = request[CLIENT]
    response = await read_resource(request, (model.DERControlResponse, model.Response))
    if response.status not in DER_RESPONSE_CODES:
        raise Problem(400, f"status {response.status} is not a DER response code (1-14, 252-254)")
    control = await store.control_by_mrid(response.subject)
    if control is None or not await store.program_visible_to(client.lfdi, control.program_id):
        raise Problem(404, f"subject {response.subject} is not an event this client can see")
    try:
        lfdi = normalize_lfdi(response.endDeviceLFDI)
    except ValueError:
        raise Problem(400, "endDeviceLFDI must be 40 hex digits") from None
    if not await store.acts_for(client.lfdi, lfdi):
        raise Problem(403, f"endDeviceLFDI {lfdi} is neither the caller nor a device it acts for")
    received = request.app[CLOCK].now()
    response.href, response.endDeviceLFDI = None, lfdi
    data = codec.to_data(model.Response(createdDateTime=response.createdDateTime, endDeviceLFDI=lfdi,
                                        status=response.status, subject=response.subject))
    response_id = await store.add_response(control.id, lfdi, response.status,
                                           response.createdDateTime or received, received, data)
    return created(paths.response(response_id))
