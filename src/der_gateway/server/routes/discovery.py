"""DeviceCapability (/dcap) and Time (/tm)."""

from __future__ import annotations

from aiohttp import web

from ...domain.time import zone_times
from ...sep import model, paths
from ...services import resources
from ..access import viewer
from ..http import sep_response
from ..state import CLIENT, CLOCK, CONFIG, STORE

routes = web.RouteTableDef()


@routes.get(paths.DCAP)
async def device_capability(request: web.Request) -> web.Response:
    client = request[CLIENT]
    store = request.app[STORE]
    end_devices = await resources.end_device_list(viewer(request), 0, 0)
    mirrors = await store.mirror_usage_points(client.lfdi, 0, 0)
    return sep_response(model.DeviceCapability(
        href=paths.DCAP,
        pollRate=await viewer(request).poll_rate("dcap"),
        ResponseSetListLink=model.ListLink(href=paths.RESPONSE_SET_LIST, all=1),
        TimeLink=model.Link(href=paths.TIME),
        EndDeviceListLink=model.ListLink(href=paths.EDEV_LIST, all=end_devices.all),
        UsagePointListLink=model.ListLink(href=paths.UPT_LIST, all=mirrors.all),  # each mirror is a UsagePoint
        MirrorUsagePointListLink=model.ListLink(href=paths.MUP_LIST, all=mirrors.all),
    ))


@routes.get(paths.TIME)
async def time_resource(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    now = request.app[CLOCK].now()
    zone = zone_times(config.timezone, now)
    return sep_response(model.Time(
        href=paths.TIME, pollRate=await viewer(request).poll_rate("tm"), currentTime=now, dstEndTime=zone.dstEndTime,
        dstOffset=zone.dstOffset, dstStartTime=zone.dstStartTime, localTime=zone.localTime,
        quality=config.time_quality, tzOffset=zone.tzOffset))
