"""DER, with DERCapability (dercap), DERSettings (derg), DERStatus (ders) and DERAvailability (dera)."""

from __future__ import annotations

from aiohttp import web

from ...sep import codec, model, paths
from .. import views
from ..access import path_int, viewer, visible_end_device
from ..http import Problem, paging, read_resource, replaced, sep_response
from ..state import STORE

routes = web.RouteTableDef()

DOCUMENTS: dict[str, type[model.Resource]] = {
    "dercap": model.DERCapability,
    "derg": model.DERSettings,
    "ders": model.DERStatus,
    "dera": model.DERAvailability,
}


@routes.get("/edev/{edev}/der")
async def list_ders(request: web.Request) -> web.Response:
    record = await visible_end_device(request)
    page = paging(request)
    numbers = await request.app[STORE].der_numbers(record.id)
    shown = numbers[page.start:page.start + page.limit]
    return sep_response(model.DERList(href=paths.der_list(record.id), all=len(numbers), results=len(shown),
                                      pollRate=await viewer(request).poll_rate("der"),
                                      DER=[views.der(record.id, n) for n in shown]))


async def _der_number(request: web.Request, edev_id: int) -> int:
    n = path_int(request, "der")
    if n not in await request.app[STORE].der_numbers(edev_id):
        raise Problem(404, f"no DER at {request.path}")
    return n


@routes.get("/edev/{edev}/der/{der}")
async def get_der(request: web.Request) -> web.Response:
    record = await visible_end_device(request)
    return sep_response(views.der(record.id, await _der_number(request, record.id)))


def _kind(request: web.Request) -> str:
    kind = request.match_info["kind"]
    if kind not in DOCUMENTS:
        raise Problem(404, f"no resource at {request.path}")
    return kind


@routes.get("/edev/{edev}/der/{der}/{kind}")
async def get_der_document(request: web.Request) -> web.Response:
    kind = _kind(request)
    record = await visible_end_device(request)
    data = await request.app[STORE].der_document(record.id, path_int(request, "der"), kind)
    if data is None:
        await _der_number(request, record.id)  # which 404: no such DER, or nothing written yet
        raise Problem(404, f"no {DOCUMENTS[kind].__name__} has been written at {request.path}")
    document = codec.from_data(DOCUMENTS[kind], data)
    document.href = request.path
    return sep_response(document)


@routes.put("/edev/{edev}/der/{der}/{kind}")
async def put_der_document(request: web.Request) -> web.Response:
    kind = _kind(request)
    record = await visible_end_device(request)
    n = await _der_number(request, record.id)
    document = await read_resource(request, DOCUMENTS[kind])
    document.href = None
    if isinstance(document, model.SubscribableResource):
        document.subscribable = None
    await request.app[STORE].put_der_document(record.id, n, kind, codec.to_data(document))
    return replaced()
