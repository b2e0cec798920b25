"""MirrorUsagePoint (/mup): telemetry a client mirrors to the server."""

from __future__ import annotations

from aiohttp import web

from ...sep import codec, model
from ...sep.identity import normalize_lfdi, sfdi_from_lfdi
from ...store import MirrorUsagePointRecord, MridTaken
from .. import paths
from ..access import path_int, viewer
from ..http import Problem, created, no_content, paging, read_resource, sep_response
from ..state import CLIENT, STORE

routes = web.RouteTableDef()


async def _owned(request: web.Request) -> MirrorUsagePointRecord:
    record = await request.app[STORE].mirror_usage_point(path_int(request, "mup"))
    if record is None or record.owner_lfdi != request[CLIENT].lfdi:
        raise Problem(404, f"no MirrorUsagePoint at {request.path}")
    return record


async def _view(request: web.Request, record: MirrorUsagePointRecord) -> model.MirrorUsagePoint:
    mup = codec.from_data(model.MirrorUsagePoint, record.data)
    mup.href = paths.mup(record.id)
    mup.postRate = await viewer(request).post_rate("mup")
    readings = await request.app[STORE].mirror_meter_readings(record.id)
    mup.MirrorMeterReading = [codec.from_data(model.MirrorMeterReading, r) for r in readings]
    return mup


async def _check_device(request: web.Request, device_lfdi: str) -> None:
    """deviceLFDI must be the caller or an EndDevice it acts for."""
    client = request[CLIENT]
    try:
        lfdi = normalize_lfdi(device_lfdi)
    except ValueError:
        raise Problem(400, "deviceLFDI must be 40 hex digits") from None
    if lfdi == client.lfdi:
        return
    for record in await request.app[STORE].end_device_by_identity(lfdi, sfdi_from_lfdi(lfdi)):
        if record.lFDI == lfdi and client.may_act_for(record.lFDI, record.owner_lfdi):
            return
    raise Problem(403, f"deviceLFDI {lfdi} is neither the caller nor an EndDevice it registered")


@routes.get(paths.MUP_LIST)
async def list_mirror_usage_points(request: web.Request) -> web.Response:
    page_args = paging(request)
    page = await request.app[STORE].mirror_usage_points(request[CLIENT].lfdi, page_args.start, page_args.limit)
    items = [await _view(request, r) for r in page.items]
    return sep_response(model.MirrorUsagePointList(href=paths.MUP_LIST, all=page.all, results=len(items),
                                                   pollRate=await viewer(request).poll_rate("mup"),
                                                   MirrorUsagePoint=items))


@routes.post(paths.MUP_LIST)
async def post_mirror_usage_point(request: web.Request) -> web.Response:
    mup = await read_resource(request, model.MirrorUsagePoint)
    await _check_device(request, mup.deviceLFDI)
    readings = [codec.to_data(r) for r in mup.MirrorMeterReading]
    mup.href, mup.MirrorMeterReading = None, []
    mup.deviceLFDI = mup.deviceLFDI.upper()
    try:
        mup_id, _ = await request.app[STORE].upsert_mirror_usage_point(request[CLIENT].lfdi, codec.to_data(mup),
                                                                       readings)
    except MridTaken as exc:
        raise _taken(exc) from None
    return created(paths.mup(mup_id))


def _taken(exc: MridTaken) -> Problem:
    return Problem(409, f"mRID {exc.mrid} belongs to another client's mirror; an mRID names one thing only")


@routes.get("/mup/{mup}")
async def get_mirror_usage_point(request: web.Request) -> web.Response:
    return sep_response(await _view(request, await _owned(request)))


@routes.post("/mup/{mup}")
async def post_mirror_meter_readings(request: web.Request) -> web.Response:
    record = await _owned(request)
    posted = await read_resource(request, (model.MirrorMeterReading, model.MirrorMeterReadingList))
    readings = posted.MirrorMeterReading if isinstance(posted, model.MirrorMeterReadingList) else [posted]
    try:
        await request.app[STORE].add_mirror_meter_readings(record.id, [codec.to_data(r) for r in readings])
    except MridTaken as exc:
        raise _taken(exc) from None
    return no_content()


@routes.delete("/mup/{mup}")
async def delete_mirror_usage_point(request: web.Request) -> web.Response:
    record = await _owned(request)
    await request.app[STORE].delete_mirror_usage_point(record.id)
    return no_content()
