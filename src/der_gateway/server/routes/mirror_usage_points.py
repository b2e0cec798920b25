"""MirrorUsagePoint (/mup): telemetry a client mirrors to the server."""

from __future__ import annotations

from aiohttp import web

from ...sep import codec, model, paths
from ...sep.identity import normalize_lfdi, sfdi_from_lfdi
from ...store import MirrorUsagePointRecord, MridTaken, ReadingTypeMissing
from ...services import resources
from ..access import owned_mirror, viewer
from ..http import Problem, created_or_updated, no_content, paging, read_resource, sep_response
from ..page_process import page_response
from ..state import CLIENT, STORE

routes = web.RouteTableDef()


async def _view(request: web.Request, record: MirrorUsagePointRecord) -> model.MirrorUsagePoint:
    return await resources.mirror_usage_point(viewer(request), record)


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
    page = paging(request)
    return await page_response(request, page.limit, resources.mirror_usage_point_list, page.start, page.limit)


@routes.post(paths.MUP_LIST)
async def post_mirror_usage_point(request: web.Request) -> web.Response:
    mup = await read_resource(request, model.MirrorUsagePoint)
    await _check_device(request, mup.deviceLFDI)
    readings = [codec.to_data(r) for r in mup.MirrorMeterReading]
    mup.href, mup.MirrorMeterReading = None, []
    mup.deviceLFDI = mup.deviceLFDI.upper()
    try:
        mup_id, new = await request.app[STORE].upsert_mirror_usage_point(request[CLIENT].lfdi, codec.to_data(mup),
                                                                         readings)
    except (MridTaken, ReadingTypeMissing) as exc:
        raise _refusal(exc) from None
    return created_or_updated(paths.mup(mup_id), new)


def _refusal(exc: MridTaken | ReadingTypeMissing) -> Problem:
    if isinstance(exc, ReadingTypeMissing):
        return Problem(400, f"MirrorMeterReading {exc.mrid} is new to this mirror and has no ReadingType")
    return Problem(409, f"mRID {exc.mrid} belongs to another client's mirror; an mRID names one thing only")


@routes.get("/mup/{mup}")
async def get_mirror_usage_point(request: web.Request) -> web.Response:
    return sep_response(await _view(request, await owned_mirror(request, "mup")))


@routes.post("/mup/{mup}")
async def post_mirror_meter_readings(request: web.Request) -> web.Response:
    """Answered with the mirror's copy (2030.5 Metering Mirror): a MirrorMeterReading's MeterReading, or a
    list's MeterReadingList, under the UsagePoint; 201 if a MeterReading was made, else 204."""
    record = await owned_mirror(request, "mup")
    posted = await read_resource(request, (model.MirrorMeterReading, model.MirrorMeterReadingList))
    one = not isinstance(posted, model.MirrorMeterReadingList)
    readings = posted.MirrorMeterReading if isinstance(posted, model.MirrorMeterReadingList) else [posted]
    try:
        placed = await request.app[STORE].add_mirror_meter_readings(record.id, [codec.to_data(r) for r in readings])
    except (MridTaken, ReadingTypeMissing) as exc:
        raise _refusal(exc) from None
    location = paths.meter_reading(record.id, placed[0][0]) if one else paths.meter_reading_list(record.id)
    return created_or_updated(location, any(new for _, new in placed))


@routes.delete("/mup/{mup}")
async def delete_mirror_usage_point(request: web.Request) -> web.Response:
    record = await owned_mirror(request, "mup")
    await request.app[STORE].delete_mirror_usage_point(record.id)
    return no_content()
