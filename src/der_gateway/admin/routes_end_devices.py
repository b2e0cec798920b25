"""EndDevices as the operator sees them: provisioning, enabling, deleting, access grants; and a client's
certificate: its access altogether, and its mirrors."""

from __future__ import annotations

from dataclasses import replace

from aiohttp import web

from ..domain.refusals import Conflict
from ..domain.registration import pin_for_new_device, pin_problem
from ..sep.identity import sfdi_from_lfdi
from ..sep import paths
from ..services import end_device_removal
from ..services.der_controls import farewell
from ..services.resources import end_device_list_change
from ..store import EndDeviceRecord
from . import views
from .http import ApiError, conflict, error, invalid, json_response, no_content, not_found, path_id, path_lfdi
from .http import read_json, strict_lfdi
from .state import CLOCK, CONFIG, STORE
from .routing import NO_CONTENT, Answer, PlainBody, Route
from ..sep.json_form import Plain, check_plain

LFDI = Plain(str, pattern="[0-9A-Fa-f]{40}", reason="an LFDI is exactly 40 hex digits",
            description="40 hex digits")
PIN_RULE = ("the Registration pIN: six digits, the last the check digit of the first five (all six digits sum to a "
            "multiple of 10), as the device's installer is given it")
PIN = Plain(int, minimum=100000, maximum=999999, problem=pin_problem, description=PIN_RULE)
CREATE = {"lFDI": replace(LFDI, required=True),
          "sFDI": Plain(int, description="must be the one derived from lFDI"),
          "deviceCategory": Plain(str, pattern="[0-9A-Fa-f]{1,8}",  # DeviceCategoryType: HexBinary32
                                  reason="must be hexadecimal, at most 8 digits (HexBinary32)"),
          "owner": replace(LFDI, description="the client certificate's LFDI that may act for it (default: its own)"),
          "pIN": replace(PIN, description=PIN_RULE + "; default: the configured registration_pin, else a "
                         "random one")}
PATCH = {"enabled": Plain(bool), "postRate": Plain(int, nullable=True, minimum=1, maximum=2**32 - 1), "pIN": PIN}


async def _end_device(request: web.Request) -> EndDeviceRecord:
    end_device_id = path_id(request, "end_device_id", "EndDevice")
    record = await request.app[STORE].end_device(end_device_id)
    if record is None:
        raise not_found(f"EndDevice {end_device_id}")
    return record


async def _detail(store, record: EndDeviceRecord) -> views.EndDevice:
    return views.end_device(record, groups=[g.id for g in await store.groups_of(record.id)],
                            access=await store.access_grants(record.id))


def _checked_identity(values: dict, errors: list) -> tuple[str | None, int | None, str | None]:
    lfdi = strict_lfdi(values.get("lFDI"))
    owner = strict_lfdi(values.get("owner"))
    sfdi = None
    if lfdi is not None:
        sfdi = sfdi_from_lfdi(lfdi)
        if "sFDI" in values and values["sFDI"] != sfdi:
            errors.append(error(f"is not derived from the lFDI (that would be {sfdi})", "sFDI"))
    return lfdi, sfdi, owner


async def _existing(store, lfdi: str, sfdi: int) -> EndDeviceRecord | None:
    for record in await store.end_device_by_identity(lfdi, sfdi):
        if record.lFDI != lfdi:
            raise conflict(f"sFDI {sfdi} already belongs to the EndDevice with lFDI {record.lFDI}", "sFDI")
        return record
    return None


def _check_same(record: EndDeviceRecord, owner: str | None, category: str | None, pin: int | None) -> None:
    """An existing EndDevice "ensured" again must not be asked to be something else."""
    errors = []
    if pin is not None and pin != record.pIN:
        errors.append(error("the EndDevice exists with another pIN; PATCH /end-devices/{id} changes it", "pIN"))
    if owner is not None and owner != record.owner_lfdi:
        errors.append(error(f"the EndDevice exists with owner {record.owner_lfdi}", "owner"))
    if category is not None and category.upper() != (record.deviceCategory or "").upper():
        has = f"deviceCategory {record.deviceCategory}" if record.deviceCategory else "no deviceCategory"
        errors.append(error(f"the EndDevice exists with {has}", "deviceCategory"))
    if errors:
        raise ApiError(409, errors)


async def ensure_end_device(request: web.Request) -> web.Response:
    """Creates the EndDevice, or answers 200 with the one that already has this lFDI."""
    store, now = request.app[STORE], request.app[CLOCK].now()
    values, errors = check_plain(await read_json(request), CREATE)
    lfdi, sfdi, owner = _checked_identity(values, errors)
    if lfdi is None and not errors:
        errors.append(error("required", "lFDI"))
    if errors or lfdi is None or sfdi is None:
        raise invalid(errors)
    category, pin = values.get("deviceCategory"), values.get("pIN")
    record = await _existing(store, lfdi, sfdi)
    if record is None:
        try:
            record = await store.create_end_device(EndDeviceRecord(
                id=0, lFDI=lfdi, sFDI=sfdi, owner_lfdi=owner or lfdi, changedTime=now,
                pIN=pin if pin is not None else pin_for_new_device(request.app[CONFIG].registration_pin),
                dateTimeRegistered=now, deviceCategory=category),
                changed=[end_device_list_change(lfdi, owner or lfdi)])
            return json_response(await _detail(store, record), 201, f"/end-devices/{record.id}")
        except Conflict:  # registered over 2030.5 meanwhile
            record = await _existing(store, lfdi, sfdi)
            if record is None:
                raise
    _check_same(record, owner, category, pin)
    return json_response(await _detail(store, record))


async def list_end_devices(request: web.Request) -> web.Response:
    return json_response({"items": [views.end_device(r) for r in await request.app[STORE].all_end_devices()]})


async def get_end_device(request: web.Request) -> web.Response:
    return json_response(await _detail(request.app[STORE], await _end_device(request)))


async def patch_end_device(request: web.Request) -> web.Response:
    store = request.app[STORE]
    record = await _end_device(request)
    values, errors = check_plain(await read_json(request), PATCH)
    if errors:
        raise invalid(errors)
    updated = replace(record, **{"enabled": values.get("enabled", record.enabled),
                                 "postRate": values.get("postRate", record.postRate),
                                 "pIN": values.get("pIN", record.pIN)})
    if updated != record:
        await store.update_end_device(updated, changed=[paths.edev(record.id), paths.fsa_list(record.id)])
    return json_response(await _detail(store, updated))


async def delete_end_device(request: web.Request) -> web.Response:
    """The EndDevice and everything under it, as its client's DELETE /edev/{id} would."""
    await end_device_removal.delete_end_device(request.app[STORE], request.app[CONFIG], await _end_device(request))
    return no_content()


async def _set_access(request: web.Request, granted: bool) -> web.Response:
    store = request.app[STORE]
    record = await _end_device(request)
    client_lfdi = path_lfdi(request, "client_lfdi")
    if await store.has_access(record.id, client_lfdi) != granted:
        await store.set_access(record.id, client_lfdi, granted, changed=[end_device_list_change(client_lfdi)])
    return no_content()


async def grant_access(request: web.Request) -> web.Response:
    return await _set_access(request, True)


async def revoke_access(request: web.Request) -> web.Response:
    return await _set_access(request, False)


CLIENT_ACCESS = {"granted": Plain(bool, required=True)}


def _client_access(lfdi: str, revoked_at: int | None) -> views.ClientAccess:
    return {"lfdi": lfdi, "granted": revoked_at is None, "revokedAt": revoked_at}


async def get_client_access(request: web.Request) -> web.Response:
    lfdi = path_lfdi(request, "lfdi")
    return json_response(_client_access(lfdi, await request.app[STORE].client_revoked_at(lfdi)))


async def set_client_access(request: web.Request) -> web.Response:
    """granted false: every request with this certificate gets 403, and its subscriptions are sent
    nothing, until granted true again.  Its EndDevices, mirrors and subscriptions stay."""
    store = request.app[STORE]
    lfdi = path_lfdi(request, "lfdi")
    values, errors = check_plain(await read_json(request), CLIENT_ACCESS)
    if errors:
        raise invalid(errors)
    await store.set_client_access(lfdi, values["granted"], request.app[CLOCK].now())
    return json_response(_client_access(lfdi, await store.client_revoked_at(lfdi)))


async def list_subscriptions(request: web.Request) -> web.Response:
    record = await _end_device(request)
    subscriptions = await request.app[STORE].subscriptions(record.id)
    return json_response({"items": [views.subscription(s) for s in subscriptions]})


async def cancel_subscription(request: web.Request) -> web.Response:
    """Ends a client's subscription; its notificationURI is sent a last Notification, status 1 (cancelled)."""
    store = request.app[STORE]
    record = await _end_device(request)
    subscription_id = path_id(request, "subscription_id", "subscription")
    subscription = await store.subscription(subscription_id)
    if subscription is None or subscription.end_device_id != record.id:
        raise not_found(f"subscription {subscription_id} of EndDevice {record.id}")
    await store.delete_subscriptions([subscription.id], [farewell(request.app[CONFIG], subscription)])
    return no_content()


async def delete_mirror_usage_points(request: web.Request) -> web.Response:
    """Every MirrorUsagePoint (with its readings) the client with this LFDI has posted."""
    deleted = await request.app[STORE].delete_mirror_usage_points_of(path_lfdi(request, "lfdi"))
    view: views.Deleted = {"deleted": deleted}
    return json_response(view)


ROUTES: tuple[Route, ...] = (
    Route("POST", "/end-devices", ensure_end_device,
          "Create an EndDevice, or get the one with this lFDI",
          {200: Answer("it existed", "EndDevice"), 201: Answer("created", "EndDevice")},
          body=PlainBody(CREATE),
          errors={409: "it exists with another owner, deviceCategory or pIN, or its sFDI is taken"}),
    Route("GET", "/end-devices", list_end_devices,
          "List EndDevices",
          {200: Answer("all, by id", "EndDeviceList")}),
    Route("GET", "/end-devices/{end_device_id:[0-9]+}", get_end_device,
          "Get an EndDevice with its groups and grants",
          {200: Answer("it", "EndDevice")}),
    Route("PATCH", "/end-devices/{end_device_id:[0-9]+}", patch_end_device,
          "Enable or disable an EndDevice, or set its postRate or Registration pIN",
          {200: Answer("it", "EndDevice")},
          body=PlainBody(PATCH)),
    Route("DELETE", "/end-devices/{end_device_id:[0-9]+}", delete_end_device,
          "Delete an EndDevice with everything under it",
          NO_CONTENT,
          description="Its DERs and their documents, log events, group memberships, access grants and "
                      "SubscriptionList go with it, as on its client's DELETE /edev/{id}: each of those "
                      "subscriptions gets a last Notification, subscribers to the EndDevice or its "
                      "FunctionSetAssignmentsList one with status 4, and the EndDeviceList subscribers that listed "
                      "it the list without it. The client's MirrorUsagePoints stay (DELETE "
                      "/clients/{lfdi}/mirror-usage-points)."),
    Route("PUT", "/end-devices/{end_device_id:[0-9]+}/access/{client_lfdi}", grant_access,
          "Let a further client act for the EndDevice",
          NO_CONTENT,
          errors={400: "client_lfdi is not 40 hex digits"}),
    Route("DELETE", "/end-devices/{end_device_id:[0-9]+}/access/{client_lfdi}", revoke_access,
          "Revoke that",
          NO_CONTENT,
          errors={400: "client_lfdi is not 40 hex digits"}),
    Route("GET", "/clients/{lfdi}/access", get_client_access,
          "Whether the client certificate has access",
          {200: Answer("it", "ClientAccess")},
          errors={400: "lfdi is not 40 hex digits"}),
    Route("PUT", "/clients/{lfdi}/access", set_client_access,
          "Revoke or restore the client certificate's access altogether",
          {200: Answer("it now", "ClientAccess")},
          body=PlainBody(CLIENT_ACCESS),
          description="granted false: every 2030.5 request with this certificate is answered 403, and its "
                      "subscriptions are sent nothing (a deletion still ends them), until granted true again. What "
                      "it registered and posted stays."),
    Route("GET", "/end-devices/{end_device_id:[0-9]+}/subscriptions", list_subscriptions,
          "The Subscriptions in the EndDevice's SubscriptionList",
          {200: Answer("all", "SubscriptionList")}),
    Route("DELETE", "/end-devices/{end_device_id:[0-9]+}/subscriptions/{subscription_id:[0-9]+}", cancel_subscription,
          "Cancel a Subscription: the client is sent a last Notification with status 1",
          NO_CONTENT),
    Route("DELETE", "/clients/{lfdi}/mirror-usage-points", delete_mirror_usage_points,
          "Delete every MirrorUsagePoint the client posted",
          {200: Answer("how many", "Deleted")},
          errors={400: "lfdi is not 40 hex digits"}),
)
