"""UsagePoint (/upt): the Metering function set's copy of each mirror a client posts to /mup.

2030.5 Metering Mirror: what a client POSTs to its MirrorUsagePoint the server copies, mRIDs and all, into
a UsagePoint with a MeterReading per MirrorMeterReading, each with its ReadingType, the Reading posted
alone most recently, and a ReadingSet per MirrorReadingSet.  These are read-only here (GET and HEAD; the
WADL's other methods on them are optional): the client writes through its MirrorUsagePoint.  A client
sees the UsagePoints of its own mirrors only.
"""

from __future__ import annotations

from aiohttp import web

from ...sep import codec, model, paths
from ...store import MeterReadingRecord, MirrorUsagePointRecord, ReadingSetRecord
from ..access import owned_mirror, path_int, viewer
from ..http import Problem, paging, sep_response
from ..state import CLIENT, STORE

routes = web.RouteTableDef()

UPT = "/upt/{upt}"
MR = UPT + "/mr/{mr}"
RS = MR + "/rs/{rs}"


async def _meter_reading(request: web.Request) -> tuple[MirrorUsagePointRecord, MeterReadingRecord]:
    mirror = await owned_mirror(request, "upt")
    record = await request.app[STORE].meter_reading(mirror.id, path_int(request, "mr"))
    if record is None:
        raise Problem(404, f"no MeterReading at {request.path}")
    return mirror, record


async def _reading_set(request: web.Request) -> tuple[MirrorUsagePointRecord, MeterReadingRecord, ReadingSetRecord]:
    mirror, meter_reading = await _meter_reading(request)
    record = await request.app[STORE].reading_set(meter_reading.id, path_int(request, "rs"))
    if record is None:
        raise Problem(404, f"no ReadingSet at {request.path}")
    return mirror, meter_reading, record


async def _usage_point(request: web.Request, mirror: MirrorUsagePointRecord) -> model.UsagePoint:
    point = codec.from_data(model.UsagePoint, mirror.data)
    point.href = paths.usage_point(mirror.id)
    count = (await request.app[STORE].meter_readings(mirror.id, 0, 0)).all
    point.MeterReadingListLink = model.ListLink(href=paths.meter_reading_list(mirror.id), all=count)
    return point


async def _meter_reading_view(request: web.Request, mup_id: int, record: MeterReadingRecord) -> model.MeterReading:
    store = request.app[STORE]
    latest = await store.latest_reading(record.id)
    sets = (await store.reading_sets(record.id, 0, 0)).all
    return model.MeterReading(
        href=paths.meter_reading(mup_id, record.id), mRID=record.mRID, description=record.data.get("description"),
        version=record.data.get("version"),
        ReadingLink=model.Link(href=paths.latest_reading(mup_id, record.id)) if latest else None,
        ReadingSetListLink=model.ListLink(href=paths.reading_set_list(mup_id, record.id), all=sets),
        ReadingTypeLink=model.Link(href=paths.reading_type(mup_id, record.id)))


async def _reading_set_view(request: web.Request, mup_id: int, mr_id: int, record: ReadingSetRecord
                            ) -> model.ReadingSet:
    reading_set = codec.from_data(model.ReadingSet, record.data)
    reading_set.href = paths.reading_set(mup_id, mr_id, record.id)
    count = (await request.app[STORE].set_readings(record.id, 0, 0)).all
    reading_set.ReadingListLink = model.ListLink(href=paths.reading_list(mup_id, mr_id, record.id), all=count)
    return reading_set


def _reading(href: str, data: dict) -> model.Reading:
    reading = codec.from_data(model.Reading, data)
    reading.href = href
    return reading


@routes.get(paths.UPT_LIST)
async def usage_point_list(request: web.Request) -> web.Response:
    page_args = paging(request)
    page = await request.app[STORE].mirror_usage_points(request[CLIENT].lfdi, page_args.start, page_args.limit)
    items = [await _usage_point(request, r) for r in page.items]
    return sep_response(model.UsagePointList(href=paths.UPT_LIST, all=page.all, results=len(items),
                                             pollRate=await viewer(request).poll_rate("upt"), UsagePoint=items))


@routes.get(UPT)
async def usage_point(request: web.Request) -> web.Response:
    return sep_response(await _usage_point(request, await owned_mirror(request, "upt")))


@routes.get(UPT + "/mr")
async def meter_reading_list(request: web.Request) -> web.Response:
    mirror = await owned_mirror(request, "upt")
    page_args = paging(request)
    page = await request.app[STORE].meter_readings(mirror.id, page_args.start, page_args.limit)
    items = [await _meter_reading_view(request, mirror.id, r) for r in page.items]
    return sep_response(model.MeterReadingList(href=paths.meter_reading_list(mirror.id), all=page.all,
                                               results=len(items), MeterReading=items))


@routes.get(MR)
async def meter_reading(request: web.Request) -> web.Response:
    mirror, record = await _meter_reading(request)
    return sep_response(await _meter_reading_view(request, mirror.id, record))


@routes.get(MR + "/rt")
async def reading_type(request: web.Request) -> web.Response:
    mirror, record = await _meter_reading(request)
    found = codec.from_data(model.ReadingType, record.data.get("ReadingType", {}))
    found.href = paths.reading_type(mirror.id, record.id)
    return sep_response(found)


@routes.get(MR + "/r")
async def latest_reading(request: web.Request) -> web.Response:
    mirror, record = await _meter_reading(request)
    latest = await request.app[STORE].latest_reading(record.id)
    if latest is None:
        raise Problem(404, f"MeterReading {record.mRID} has had no Reading posted on its own")
    return sep_response(_reading(paths.latest_reading(mirror.id, record.id), latest.data))


@routes.get(MR + "/rs")
async def reading_set_list(request: web.Request) -> web.Response:
    mirror, record = await _meter_reading(request)
    page_args = paging(request)
    page = await request.app[STORE].reading_sets(record.id, page_args.start, page_args.limit)
    items = [await _reading_set_view(request, mirror.id, record.id, r) for r in page.items]
    return sep_response(model.ReadingSetList(href=paths.reading_set_list(mirror.id, record.id), all=page.all,
                                             results=len(items), ReadingSet=items))


@routes.get(RS)
async def reading_set(request: web.Request) -> web.Response:
    mirror, meter_reading, record = await _reading_set(request)
    return sep_response(await _reading_set_view(request, mirror.id, meter_reading.id, record))


@routes.get(RS + "/r")
async def reading_list(request: web.Request) -> web.Response:
    mirror, meter_reading, record = await _reading_set(request)
    page_args = paging(request)
    page = await request.app[STORE].set_readings(record.id, page_args.start, page_args.limit)
    items = [_reading(paths.reading(mirror.id, meter_reading.id, record.id, r.id), r.data) for r in page.items]
    return sep_response(model.ReadingList(href=paths.reading_list(mirror.id, meter_reading.id, record.id),
                                          all=page.all, results=len(items), Reading=items))


@routes.get(RS + "/r/{reading}")
async def reading(request: web.Request) -> web.Response:
    mirror, meter_reading, record = await _reading_set(request)
    found = await request.app[STORE].set_reading(record.id, path_int(request, "reading"))
    if found is None:
        raise Problem(404, f"no Reading at {request.path}")
    return sep_response(_reading(paths.reading(mirror.id, meter_reading.id, record.id, found.id), found.data))
