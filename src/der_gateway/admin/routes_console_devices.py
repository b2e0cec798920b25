"""The console's view of one device: search, summary, its 2030.5 tree as its client sees it, its DER documents,
telemetry, Responses and enrollments."""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from aiohttp import web

from ..sep import paths
from ..services.json_view import Id, Js, doc
from ..sep.json_form import error
from ..sep.walk import walk_resources
from ..store import EndDeviceRecord
from ..store.console_records import DeviceSummaryRecord
from ..store.sqlite_console import SEARCH_FIELDS
from . import views
from .http import ApiError, invalid, json_response, not_found, path_id, read_query
from .state import CLOCK, DEVICE_VIEW, STORE
from .routing import Answer, Query, Route

DEFAULT_LIMIT, MAX_LIMIT = 50, 500
MAX_QUERY = 100
DAY = 86_400
# each point [epoch seconds, value] (a list of two numbers: schemathesis reads prefixItems as draft-4 items)
Points = Annotated[list[Annotated[list[float], Js(minItems=2, maxItems=2)]], doc("[epoch seconds, value]")]


class Named(TypedDict):
    id: Id
    name: str


class DeviceSummary(TypedDict):
    end_device_id: Id
    lfdi: str
    sfdi: int
    enabled: bool
    aggregator_lfdi: str | None
    customer: Named | None
    service_point: Named | None
    feeder: str | None
    last_contact: int | None


class Resource(TypedDict):
    href: str
    type: str
    depth: int
    status: int
    xml: str


class DeviceTree(TypedDict):
    lfdi: str
    resources: list[Resource]


class DERDocuments(TypedDict):
    DERCapability: dict[str, Any] | None
    DERSettings: dict[str, Any] | None
    DERStatus: dict[str, Any] | None
    DERAvailability: dict[str, Any] | None


class DER(TypedDict):
    href: str
    documents: DERDocuments


class DeviceDERs(TypedDict):
    items: list[DER]


class Series(TypedDict):
    mup: str
    description: str | None
    uom: int | None
    power_of_ten: int
    points: Points


class DeviceTelemetry(TypedDict):
    series: list[Series]


class DeviceResponse(TypedDict):
    subject: str
    status: int
    status_name: str
    created_at: int
    control_id: int | None


class DeviceResponses(TypedDict):
    items: list[DeviceResponse]


class DeviceEnrollment(TypedDict):
    enrollment_id: Id
    program_id: int | None
    program: str | None
    state: str
    sync_state: str | None
    last_error: str | None


class DeviceEnrollments(TypedDict):
    items: list[DeviceEnrollment]


def summary_view(s: DeviceSummaryRecord) -> DeviceSummary:
    return {"end_device_id": s.end_device_id, "lfdi": s.lfdi, "sfdi": s.sfdi, "enabled": s.enabled,
            "aggregator_lfdi": s.aggregator_lfdi,
            "customer": {"id": s.customer[0], "name": s.customer[1]} if s.customer else None,
            "service_point": {"id": s.service_point[0], "name": s.service_point[1]} if s.service_point else None,
            "feeder": s.feeder, "last_contact": s.last_contact}


LIMIT = Query("limit", f"at most this many (default {DEFAULT_LIMIT})", int, maximum=MAX_LIMIT)
SEARCH_QUERY = (Query("q", f"what to look for, 1 to {MAX_QUERY} characters", required=True),
                Query("by", "the field to search (absent: all)", choices=SEARCH_FIELDS), LIMIT)
TELEMETRY_QUERY = (Query("since", "epoch seconds (default: 24 h ago)", int, minimum=0, maximum=2**62),)
RESPONSES_QUERY = (LIMIT,)


async def end_device(request: web.Request) -> EndDeviceRecord:
    end_device_id = path_id(request, "end_device_id", "EndDevice")
    record = await request.app[STORE].end_device(end_device_id)
    if record is None:
        raise not_found(f"EndDevice {end_device_id}")
    return record


async def search(request: web.Request) -> web.Response:
    query = read_query(request, SEARCH_QUERY)
    q = query["q"].strip()
    if not q or len(q) > MAX_QUERY:
        raise invalid([error(f"required: 1 to {MAX_QUERY} characters", "q")])
    by, limit = query.get("by"), query.get("limit", DEFAULT_LIMIT)
    found = await request.app[STORE].search_end_devices(q, by, limit)
    return json_response({"items": [summary_view(s) for s in found]})


async def summary(request: web.Request) -> web.Response:
    record = await end_device(request)
    (found,) = await request.app[STORE].device_summaries([record.id])
    return json_response(summary_view(found))


async def tree(request: web.Request) -> web.Response:
    """The walk from /dcap through the 2030.5 application as this device's client: what it would GET."""
    record = await end_device(request)
    device_view = request.app.get(DEVICE_VIEW)
    if device_view is None:
        raise ApiError(503, "this admin listener runs without the 2030.5 application")

    async def fetch(href: str) -> tuple[int, bytes]:
        return await device_view.get(record.lFDI, href)

    visited = await walk_resources(fetch)
    view: DeviceTree = {"lfdi": record.lFDI, "resources": [
        {"href": v.href, "type": v.type, "depth": v.depth, "status": v.status,
         "xml": v.body.decode("utf-8", "replace")} for v in visited]}
    return json_response(view)


async def ders(request: web.Request) -> web.Response:
    store = request.app[STORE]
    record = await end_device(request)
    view: DeviceDERs = {"items": []}
    for n in await store.der_numbers(record.id):
        documents: DERDocuments = {
            "DERCapability": await store.der_document(record.id, n, "dercap"),
            "DERSettings": await store.der_document(record.id, n, "derg"),
            "DERStatus": await store.der_document(record.id, n, "ders"),
            "DERAvailability": await store.der_document(record.id, n, "dera")}
        view["items"].append({"href": paths.der(record.id, n), "documents": documents})
    return json_response(view)


async def telemetry(request: web.Request) -> web.Response:
    query = read_query(request, TELEMETRY_QUERY)
    record = await end_device(request)
    now = request.app[CLOCK].now()
    since = query.get("since", max(0, now - DAY))
    series: list[Series] = []
    for s in await request.app[STORE].device_telemetry(record.lFDI, since):
        power = int(s.reading_type.get("powerOfTenMultiplier") or 0)
        series.append({"mup": paths.mup(s.mup_id), "description": s.description, "uom": s.reading_type.get("uom"),
                       "power_of_ten": power, "points": [[start, value * 10 ** power] for start, value in s.readings]})
    view: DeviceTelemetry = {"series": series}
    return json_response(view)


async def responses(request: web.Request) -> web.Response:
    query = read_query(request, RESPONSES_QUERY)
    record = await end_device(request)
    limit = query.get("limit", DEFAULT_LIMIT)
    found = await request.app[STORE].device_responses(record.lFDI, limit)
    view: DeviceResponses = {"items": [
        {"subject": r.subject, "status": r.status, "status_name": views.status_name(r.status), "created_at": r.created,
         "control_id": r.control_id} for r in found]}
    return json_response(view)


async def enrollments(request: web.Request) -> web.Response:
    record = await end_device(request)
    found = await request.app[STORE].device_enrollments(record.id)
    view: DeviceEnrollments = {"items": [
        {"enrollment_id": e.enrollment_id, "program_id": e.program_id, "program": e.program, "state": e.state,
         "sync_state": e.sync_state, "last_error": e.last_error} for e in found]}
    return json_response(view)


DEVICE = "/end-devices/{end_device_id:[0-9]+}"
ROUTES: tuple[Route, ...] = (
    Route("GET", "/devices/search", search,
          "Search EndDevices",
          {200: Answer("matches", "DeviceSummaryList")},
          query=SEARCH_QUERY),
    Route("GET", DEVICE + "/summary", summary,
          "The EndDevice's summary",
          {200: Answer("it", "DeviceSummary")}),
    Route("GET", DEVICE + "/tree", tree,
          "The 2030.5 tree as the device's client sees it",
          {200: Answer("each resource walked from /dcap", "DeviceTree")},
          errors={503: "the admin listener runs without the 2030.5 application"}),
    Route("GET", DEVICE + "/ders", ders,
          "The device's DERs and their documents",
          {200: Answer("them", "DeviceDERs")}),
    Route("GET", DEVICE + "/telemetry", telemetry,
          "The device's mirrored readings",
          {200: Answer("per MirrorMeterReading", "DeviceTelemetry")},
          query=TELEMETRY_QUERY),
    Route("GET", DEVICE + "/responses", responses,
          "The device's Responses, newest first",
          {200: Answer("them", "DeviceResponses")},
          query=RESPONSES_QUERY),
    Route("GET", DEVICE + "/enrollments", enrollments,
          "The device's enrollments",
          {200: Answer("them", "DeviceEnrollments")}),
)
