"""LogEventList (/edev/{id}/lel): a device's log, newest first."""

from __future__ import annotations

from aiohttp import web

from ...sep import codec, model, paths
from ..access import path_int, viewer, visible_end_device
from ..http import Problem, created, paging, read_resource, sep_response
from ..state import STORE

routes = web.RouteTableDef()


def _log_event(edev_id: int, log_id: int, data: dict) -> model.LogEvent:
    event = codec.from_data(model.LogEvent, data)
    event.href = paths.log_event(edev_id, log_id)
    return event


@routes.get("/edev/{edev}/lel")
async def list_log_events(request: web.Request) -> web.Response:
    record = await visible_end_device(request)
    page_args = paging(request)
    page = await request.app[STORE].log_events(record.id, page_args.start, page_args.limit, page_args.after)
    return sep_response(model.LogEventList(
        href=paths.log_event_list(record.id), subscribable=0, all=page.all, results=len(page.items),
        pollRate=await viewer(request).poll_rate("lel"),
        LogEvent=[_log_event(record.id, log_id, data) for log_id, data in page.items]))


@routes.post("/edev/{edev}/lel")
async def post_log_event(request: web.Request) -> web.Response:
    record = await visible_end_device(request)
    event = await read_resource(request, model.LogEvent)
    event.href = None
    log_id = await request.app[STORE].add_log_event(record.id, codec.to_data(event))
    return created(paths.log_event(record.id, log_id))


@routes.get("/edev/{edev}/lel/{log}")
async def get_log_event(request: web.Request) -> web.Response:
    record = await visible_end_device(request)
    log_id = path_int(request, "log")
    data = await request.app[STORE].log_event(record.id, log_id)
    if data is None:
        raise Problem(404, f"no LogEvent at {request.path}")
    return sep_response(_log_event(record.id, log_id, data))
