"""Stored records as the admin API's JSON objects."""

from __future__ import annotations

from typing import Annotated, Any, NotRequired, TypedDict

from ..domain.events import EventState
from ..sep import paths
from ..services.json_view import Href, Id, Js, Lfdi, doc
from ..store import ControlRecord, EndDeviceRecord, GroupRecord, ProgramRecord, SubscriptionRecord

# Response.status values (IEEE 2030.5 Table 27), by the names the API reports them under
RESPONSE_STATUS_NAMES = {
    1: "received", 2: "started", 3: "completed", 4: "optedOut", 5: "optedIn", 6: "cancelled", 7: "superseded",
    8: "partialOptOut", 9: "partialOptIn", 10: "completedNoParticipation", 11: "acknowledged",
    12: "cannotBeDisplayed", 13: "abortedServer", 14: "abortedProgram", 252: "rejectedNotApplicable",
    253: "rejectedInvalid", 254: "rejectedLate",
}


def status_name(status: int) -> str:
    return RESPONSE_STATUS_NAMES.get(status, f"status{status}")


Pin = Annotated[int, Js(minimum=100000, maximum=999999, description=(
    "the Registration pIN: six digits, the last the check digit of the first five (all six digits sum to a "
    "multiple of 10), as the device's installer is given it"))]


class Program(TypedDict):
    id: Id
    href: Href
    mRID: str
    description: str | None
    primacy: int
    version: int
    groups: Annotated[list[Id], doc("groups it is assigned to")]


class Group(TypedDict):
    id: Id
    href: Href
    mRID: str
    description: str | None
    version: int
    programs: list[Id]
    endDeviceCount: int
    endDevices: NotRequired[Annotated[list[Id], doc("member EndDevice ids; not in lists")]]


class EndDevice(TypedDict):
    id: Id
    href: Href
    lFDI: Lfdi
    sFDI: int
    owner: Lfdi
    deviceCategory: str | None
    enabled: bool
    postRate: int | None
    changedTime: int
    dateTimeRegistered: int
    pIN: Pin
    groups: NotRequired[Annotated[list[Id], doc("not in lists")]]
    access: NotRequired[Annotated[list[Lfdi], doc("granted clients; not in lists")]]


class Subscription(TypedDict):
    id: Id
    href: Href
    client: Annotated[Lfdi, doc("the subscribing client")]
    subscribedResource: Href
    notificationURI: str
    limit: int | None


class MembershipChange(TypedDict):
    id: Id
    groupId: Id
    endDeviceId: Id
    change: Annotated[str, Js(enum=["joined", "left"])]
    at: Annotated[int, doc("Unix time")]
    actor: Annotated[str, doc("who: operator, enrollment, unenrollment, retirement, move-out, sync-rejection, "
                              "network")]
    reason: str


class MembersAdded(TypedDict):
    added: int
    endDeviceCount: int


class ClientAccess(TypedDict):
    lfdi: Lfdi
    granted: bool
    revokedAt: Annotated[int | None, doc("when access was revoked")]


class Deleted(TypedDict):
    deleted: int


def program(record: ProgramRecord, groups: list[int]) -> Program:
    return {"id": record.id, "href": paths.program(record.id), "mRID": record.mRID,
            "description": record.description, "primacy": record.primacy, "version": record.version,
            "groups": groups}


def default_control(program_id: int, data: dict[str, Any]) -> dict[str, Any]:
    return {"href": paths.default_control(program_id), **data}


def curve(program_id: int, curve_id: int, data: dict[str, Any]) -> dict[str, Any]:
    return {"id": curve_id, "href": paths.curve(program_id, curve_id), **data}


def control(record: ControlRecord, state: EventState) -> dict[str, Any]:
    return {
        "id": record.id, "programId": record.program_id, "href": paths.control(record.program_id, record.id),
        **record.data,
        "mRID": record.mRID, "creationTime": record.creation_time,
        "EventStatus": _event_status(state),
        "programEventStatus": state.program_event_status,
        "active": state.active,
        "cancelledAt": record.cancelled_at,
    }


def _event_status(state: EventState) -> dict[str, Any]:
    status = {"currentStatus": int(state.status), "dateTime": state.status_time,
              "potentiallySuperseded": state.potentially_superseded}
    if state.potentially_superseded_time is not None:
        status["potentiallySupersededTime"] = state.potentially_superseded_time
    return status


def group(record: GroupRecord, programs: list[int], members: list[int] | None, member_count: int) -> Group:
    view: Group = {"id": record.id, "href": paths.fsa(record.id), "mRID": record.mRID,
                   "description": record.description, "version": record.version, "programs": programs,
                   "endDeviceCount": member_count}
    if members is not None:
        view["endDevices"] = members
    return view


def end_device(record: EndDeviceRecord, groups: list[int] | None = None,
               access: list[str] | None = None) -> EndDevice:
    view: EndDevice = {"id": record.id, "href": paths.edev(record.id), "lFDI": record.lFDI, "sFDI": record.sFDI,
            "owner": record.owner_lfdi, "deviceCategory": record.deviceCategory, "enabled": record.enabled,
            "postRate": record.postRate, "changedTime": record.changedTime,
            "dateTimeRegistered": record.dateTimeRegistered, "pIN": record.pIN}
    if groups is not None:
        view["groups"] = groups
    if access is not None:
        view["access"] = access
    return view


def subscription(record: SubscriptionRecord) -> Subscription:
    return {"id": record.id, "href": paths.subscription(record.end_device_id, record.id),
            "client": record.client_lfdi, "subscribedResource": record.resource,
            "notificationURI": record.data["notificationURI"], "limit": record.data.get("limit")}
