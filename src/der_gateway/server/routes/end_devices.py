"""EndDevice, Registration, FunctionSetAssignments and (CSIP-AUS) ConnectionPoint."""

from __future__ import annotations

import time
from dataclasses import replace

from aiohttp import web

from ...domain import registration as rules
from ...domain.nmi import nmi_problem
from ...sep import model, paths
from ...store import EndDeviceRecord
from ...services import end_device_removal, resources
from .. import views
from ..access import names_aggregator_end_device, viewer, visible_end_device
from ..http import Problem, created, no_content, paging, read_resource, replaced, sep_response
from ..page_process import page_response
from ..state import BACKGROUND, CLIENT, CONFIG, STORE

routes = web.RouteTableDef()


async def _view(request: web.Request, record: EndDeviceRecord) -> model.EndDevice:
    return await resources.end_device(viewer(request), record)


@routes.get(paths.EDEV_LIST)
async def list_end_devices(request: web.Request) -> web.Response:
    page = paging(request)
    return await page_response(request, page.limit, resources.end_device_list, page.start, page.limit, page.after)


@routes.post(paths.EDEV_LIST)
async def register_end_device(request: web.Request) -> web.Response:
    client, store, config = request[CLIENT], request.app[STORE], request.app[CONFIG]
    rules.check_in_band_allowed(config.in_band_registration)
    posted = await read_resource(request, model.EndDevice)
    identity = rules.identity_of(client, posted.lFDI, posted.sFDI)
    rules.check_may_register(client, identity)
    if viewer(request).has_aggregator_end_device:
        rules.check_not_aggregator_itself(client, identity, paths.edev(paths.AGGREGATOR_EDEV_ID))
    existing = await store.end_device_by_identity(identity.lfdi, identity.sfdi)
    repeat = rules.match_existing(client, identity, existing, repeat_allowed=config.reregistration_allowed)
    if repeat is not None:
        await store.update_end_device(_updated(repeat, posted), changed=[paths.edev(repeat.id)])
        return created(paths.edev(repeat.id))
    record = await store.create_end_device(EndDeviceRecord(
        id=0, lFDI=identity.lfdi, sFDI=identity.sfdi, owner_lfdi=client.lfdi, changedTime=posted.changedTime,
        pIN=rules.pin_for_new_device(request.app[CONFIG].registration_pin), dateTimeRegistered=int(time.time()),
        deviceCategory=posted.deviceCategory, postRate=posted.postRate),
        changed=[resources.end_device_list_change(identity.lfdi, client.lfdi)])
    return created(paths.edev(record.id))


def _updated(record: EndDeviceRecord, posted: model.EndDevice) -> EndDeviceRecord:
    """The fields a client may change by POSTing or PUTting its EndDevice again."""
    return replace(record, changedTime=posted.changedTime, deviceCategory=posted.deviceCategory,
                   postRate=posted.postRate if posted.postRate is not None else record.postRate)


@routes.get("/edev/{edev}")
async def get_end_device(request: web.Request) -> web.Response:
    if names_aggregator_end_device(request):
        return sep_response(await resources.aggregator_end_device(viewer(request)))
    return sep_response(await _view(request, await visible_end_device(request)))


def _refuse_aggregator_end_device(request: web.Request) -> None:
    if names_aggregator_end_device(request):
        raise Problem(403, f"{request.path} is this aggregator's own EndDevice, made by the server from its "
                           "certificate: it cannot be changed or deleted")


@routes.put("/edev/{edev}")
async def put_end_device(request: web.Request) -> web.Response:
    _refuse_aggregator_end_device(request)
    record = await visible_end_device(request)
    posted = await read_resource(request, model.EndDevice)
    if posted.sFDI != record.sFDI or (posted.lFDI is not None and posted.lFDI.upper() != record.lFDI):
        raise Problem(400, "an EndDevice's sFDI and lFDI cannot be changed")
    await request.app[STORE].update_end_device(_updated(record, posted), changed=[paths.edev(record.id)])
    return no_content()


@routes.delete("/edev/{edev}")
async def delete_end_device(request: web.Request) -> web.Response:
    _refuse_aggregator_end_device(request)
    record = await visible_end_device(request)
    if record.owner_lfdi != request[CLIENT].lfdi:
        raise Problem(403, "only the client that registered this EndDevice may delete it")
    await end_device_removal.delete_end_device(request.app[STORE], request.app[CONFIG], record)
    request.app[BACKGROUND].changed()
    return no_content()


@routes.get("/edev/{edev}/rg")
async def get_registration(request: web.Request) -> web.Response:
    record = await visible_end_device(request)
    return sep_response(views.registration(record, await viewer(request).poll_rate("edev")))


def _require_aus(request: web.Request) -> None:
    if request.app[CONFIG].profile != "csip-aus":
        raise Problem(404, "ConnectionPoint is a CSIP-AUS resource; this server runs the csip profile")


@routes.get("/edev/{edev}/cp")
async def get_connection_point(request: web.Request) -> web.Response:
    _require_aus(request)
    record = await visible_end_device(request)
    if record.connectionPointId is None:
        raise Problem(404, "no ConnectionPoint has been set for this EndDevice")
    return sep_response(model.ConnectionPoint(href=paths.connection_point(record.id),
                                              connectionPointId=record.connectionPointId))


@routes.put("/edev/{edev}/cp")
@routes.post("/edev/{edev}/cp")
async def put_connection_point(request: web.Request) -> web.Response:
    _require_aus(request)
    record = await visible_end_device(request)
    posted = await read_resource(request, model.ConnectionPoint)
    if posted.connectionPointId is None:  # the schema requires it
        raise Problem(400, "connectionPointId is required")
    problem = nmi_problem(posted.connectionPointId) if request.app[CONFIG].nmi_validation else None
    if problem is not None:
        raise Problem(400, f"connectionPointId: {problem}")
    await request.app[STORE].update_end_device(replace(record, connectionPointId=posted.connectionPointId))
    return replaced(location=paths.connection_point(record.id))  # cactus refetches from the Location
