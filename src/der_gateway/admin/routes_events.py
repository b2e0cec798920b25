"""DER events (DERControls): create, list, cancel, clear, and who responded how."""

from __future__ import annotations

from typing import Any, Iterable

from aiohttp import web

from ..sep import model, paths
from ..services import der_controls
from ..store import ControlRecord
from . import views
from .http import conflict, error, json_response, not_found, path_id, read_json
from .inputs import curve_link_errors, mrid_of, operator_fields, unique
from .routes_programs import program_of
from .routes_utility_catalog import event_constraint_errors
from .state import CLOCK, CONFIG, SCHEMAS, STORE
from ..sep.json_form import build

CONTROL_FIELDS = ("mRID", "description", "version", "interval", "randomizeStart", "randomizeDuration",
                  "responseRequired", "deviceCategory", "DERControlBase")
DEFAULT_RESPONSE_REQUIRED = "03"  # message received and specific response


def _interval_errors(interval: Any, base: Any, now: int) -> list[dict[str, str]]:
    """What the schema cannot say: an event lasts a while, has not ended already, and controls something."""
    errors = []
    if isinstance(interval, dict):
        start, duration = interval.get("start"), interval.get("duration")
        if type(duration) is int and duration == 0:
            errors.append(error("must be at least 1 second", "interval.duration"))
        elif type(start) is int and type(duration) is int and 0 < duration and start + duration <= now:
            errors.append(error(f"the event would have ended already (at {start + duration}; it is now {now})",
                                "interval"))
    if base == {}:
        errors.append(error("must set at least one control", "DERControlBase"))
    return errors


async def _view(store, record: ControlRecord, now: int) -> dict[str, Any]:
    states = der_controls.event_states(await store.controls(record.program_id), now)
    return views.control(record, states[record.id])


async def _control(request: web.Request) -> ControlRecord:
    control_id = path_id(request, "control_id", "event")
    record = await request.app[STORE].control(control_id)
    if record is None:
        raise not_found(f"event {control_id}")
    return record


async def create_control(request: web.Request) -> web.Response:
    store, config, clock = request.app[STORE], request.app[CONFIG], request.app[CLOCK]
    program = await program_of(request)
    fields, errors = operator_fields(await read_json(request), model.DERControl, CONTROL_FIELDS)
    now = clock.now()
    fields["mRID"] = mrid_of(fields, config.mrid_pen)
    if fields.get("responseRequired") is None:
        fields["responseRequired"] = DEFAULT_RESPONSE_REQUIRED
    fields["creationTime"] = now
    fields["EventStatus"] = {"currentStatus": 0, "dateTime": now, "potentiallySuperseded": False}
    errors += _interval_errors(fields.get("interval"), fields.get("DERControlBase"), now)
    errors += await curve_link_errors(store, program.id, fields.get("DERControlBase"))
    errors += await event_constraint_errors(request, program.id, fields.get("interval"), now)  # program rules
    control = build(model.DERControl, fields, request.app[SCHEMAS], prior=errors)
    if await store.control_by_mrid(control.mRID) is not None:
        raise conflict("another event already has this mRID", "mRID")
    record = await unique(lambda: der_controls.create_event(store, clock, config.mrid_pen, program.id, control), "event")
    return json_response(await _view(store, record, now), 201, f"/controls/{record.id}")


async def list_controls(request: web.Request) -> web.Response:
    store = request.app[STORE]
    program = await program_of(request)
    records = await store.controls(program.id)
    states = der_controls.event_states(records, request.app[CLOCK].now())
    return json_response({"items": [views.control(r, states[r.id]) for r in records]})


async def clear_controls(request: web.Request) -> web.Response:
    program = await program_of(request)
    deleted = await request.app[STORE].clear_controls(program.id, changed=paths.program_changes(program.id))
    return json_response({"deleted": deleted})


async def get_control(request: web.Request) -> web.Response:
    return json_response(await _view(request.app[STORE], await _control(request), request.app[CLOCK].now()))


async def cancel_control(request: web.Request) -> web.Response:
    store, clock = request.app[STORE], request.app[CLOCK]
    record = await _control(request)
    try:
        record = await der_controls.cancel_event(store, clock, record.id)
    except der_controls.CannotCancel as exc:
        raise conflict(f"cannot cancel event {record.id}: {exc}") from None
    return json_response(await _view(store, record, clock.now()))


async def participation(request: web.Request) -> web.Response:
    """Each responding EndDevice's responses, counts by status, and the targeted devices yet to respond."""
    store = request.app[STORE]
    record = await _control(request)
    by_device: dict[str, list] = {}
    for response in await store.responses(record.id):  # by device, then in the order received
        by_device.setdefault(response.end_device_lfdi.upper(), []).append(response)
    items = [{
        "endDeviceLFDI": lfdi, "latestStatus": responses[-1].status,
        "latestStatusName": views.status_name(responses[-1].status),
        "responses": [{"status": r.status, "statusName": views.status_name(r.status),
                       "createdDateTime": r.created, "received": r.received} for r in responses],
    } for lfdi, responses in by_device.items()]
    targeted = {lfdi for _, lfdi in await store.targeted_end_devices(record.program_id)}
    silent = sorted(targeted - set(by_device))
    return json_response({
        "controlId": record.id, "mRID": record.mRID, "targeted": len(targeted), "responded": len(by_device),
        "notResponded": len(silent), "notRespondedEndDevices": silent,
        "counts": _count(rs[-1].status for rs in by_device.values()),
        "responseCounts": _count(r.status for rs in by_device.values() for r in rs),
        "items": items})


def _count(statuses: Iterable[int]) -> dict[str, int]:
    counts = {name: 0 for name in views.RESPONSE_STATUS_NAMES.values()}
    for status in statuses:
        counts[views.status_name(status)] = counts.get(views.status_name(status), 0) + 1
    return counts


ROUTES = [
    ("POST", "/programs/{program_id:[0-9]+}/controls", create_control),
    ("GET", "/programs/{program_id:[0-9]+}/controls", list_controls),
    ("DELETE", "/programs/{program_id:[0-9]+}/controls", clear_controls),
    ("GET", "/controls/{control_id:[0-9]+}", get_control),
    ("POST", "/controls/{control_id:[0-9]+}/cancel", cancel_control),
    ("GET", "/controls/{control_id:[0-9]+}/participation", participation),
]
