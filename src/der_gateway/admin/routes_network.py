"""Network locations: importing where each service point sits (transformer, feeder, substation), and
the locations with the FSA group that stands for each.

Each location's group holds the enrolled EndDevices of the service points on it,
so assigning a program to a feeder's group (PUT /groups/{id}/programs/{pid})
targets that feeder's enrolled devices with the program's events.
"""

from __future__ import annotations

from typing import Annotated, NotRequired, TypedDict

from aiohttp import web

from ..domain import network
from ..sep import paths
from ..services.json_view import Href, Id, Js, doc
from ..services import utility_json as render
from ..store.base import NetworkImportRejected, NetworkLocationRecord
from .http import invalid, json_response, not_found, path_id, read_query, read_upload
from .state import CONFIG, STORE
from .routing import Answer, PlainBody, Query, Route, Rows, Upload

class NetworkLocation(TypedDict):
    id: Id
    kind: Annotated[str, Js(enum=list(network.KINDS))]
    name: str
    parentId: Id | None
    parent: str | None
    groupId: Id
    groupHref: Href
    endDeviceCount: Annotated[int, doc("enrolled EndDevices in its group")]
    servicePointCount: int
    children: NotRequired[Annotated[list[Id], doc("not in lists")]]


def location_view(record: NetworkLocationRecord, names: dict[int, str]) -> NetworkLocation:
    return {"id": record.id, "kind": record.kind, "name": record.name, "parentId": record.parent_id,
            "parent": names.get(record.parent_id) if record.parent_id is not None else None,
            "groupId": record.group_id, "groupHref": paths.fsa(record.group_id),
            "endDeviceCount": record.end_device_count, "servicePointCount": record.service_point_count}


IMPORT_QUERY = (Query("mode", "initial: replaces every location; incremental (the default): adds and updates the "
                      "rows given", choices=network.MODES),)
LIST_QUERY = (Query("kind", "only locations of this kind", choices=network.KINDS),)

async def import_locations(request: web.Request) -> web.Response:
    """?mode=initial (replaces every location) or incremental (the default: adds and updates the rows
    given); a text/csv or application/json body."""
    store, config = request.app[STORE], request.app[CONFIG]
    mode = read_query(request, IMPORT_QUERY).get("mode", "incremental")
    raw, fmt = await read_upload(request, config.admin_max_body_bytes)
    rows, problems = network.parse(raw, fmt)
    unknown = await store.unknown_service_points([r.service_point for r in rows if r.service_point])
    problems += [network.problem(f"no service point {r.service_point}", r.field("servicePoint"))
                 for r in rows if r.service_point in unknown]
    if problems:
        raise invalid(problems)
    try:
        summary = await store.import_network_locations(rows, mode, config.mrid_pen)
    except NetworkImportRejected as exc:  # a service point went meanwhile (another process)
        raise invalid(exc.errors) from None
    return json_response(render.import_summary(summary))


async def list_locations(request: web.Request) -> web.Response:
    """?kind=substation|feeder|transformer"""
    store = request.app[STORE]
    kind = read_query(request, LIST_QUERY).get("kind")
    everything = await store.network_locations()
    names = {r.id: r.name for r in everything}
    return json_response({"items": [location_view(r, names) for r in everything if kind in (None, r.kind)]})


async def get_location(request: web.Request) -> web.Response:
    store = request.app[STORE]
    location_id = path_id(request, "location_id", "network location")
    everything = await store.network_locations()
    names = {r.id: r.name for r in everything}
    found = [r for r in everything if r.id == location_id]
    if not found:
        raise not_found(f"network location {location_id}")
    view = location_view(found[0], names)
    view["children"] = [r.id for r in everything if r.parent_id == location_id]
    return json_response(view)


ROUTES: tuple[Route, ...] = (
    Route("POST", "/network-locations/import", import_locations,
          "Import network locations (service point -> transformer, feeder, substation)",
          {200: Answer("applied", "NetworkImport")},
          body=Upload(Rows(PlainBody(network.ROW), network.MIN_ROWS, network.WRAPPED,
                           f'the rows, or {{"{network.WRAPPED}": [rows]}} (the shape lists have)'),
                      f"a header line {','.join(network.CSV_COLUMNS)} (any order), then one row per line"),
          errors={415: "Content-Type is neither text/csv nor application/json"},
          query=IMPORT_QUERY,
          description="mode=initial: the file is the whole network, and every location and service-point location "
                      "it does not name is removed. Every row is checked first (unknown service point, missing value, "
                      "a feeder under two substations, ...) and all problems come back at once, with nothing "
                      "applied. Each location gets its own group; enrolled EndDevices are moved into the groups of "
                      "their service point's transformer, feeder and substation."),
    Route("GET", "/network-locations", list_locations,
          "List network locations with their groups",
          {200: Answer("substations, feeders, transformers, by name", "NetworkLocationList")},
          errors={400: "an unknown or invalid query parameter"},
          query=LIST_QUERY),
    Route("GET", "/network-locations/{location_id:[0-9]+}", get_location,
          "Get a network location with its children",
          {200: Answer("it", "NetworkLocation")}),
)
