"""Groups of EndDevices (each a FunctionSetAssignments): their members and the programs assigned to them."""

from __future__ import annotations


from aiohttp import web

from ..domain.refusals import Conflict
from ..sep import model, paths
from ..store import EndDeviceRecord, GroupRecord
from ..store.membership_records import MembershipChangeRecord
from . import views
from .http import conflict, error, found, invalid, json_response, no_content, not_found, path_id, read_json
from .inputs import mrid_of, operator_fields, unique
from .routes_programs import DELETED, program_of
from .state import CLOCK, CONFIG, SCHEMAS, STORE
from .routing import MRID_TAKEN, NO_CONTENT, SEP_NOTE, Answer, PlainBody, Route, SepBody
from ..sep.json_form import Plain, build, check_plain

GROUP_FIELDS = ("mRID", "description")
MEMBERS_ADD = {"endDevices": Plain(list, required=True, items=Plain(int, minimum=1, maximum=2**63 - 1),
                                   description="EndDevice ids")}


async def _group(request: web.Request) -> GroupRecord:
    group_id = path_id(request, "group_id", "group")
    record = await request.app[STORE].group(group_id)
    if record is None:
        raise not_found(f"group {group_id}")
    return record


async def _end_device(request: web.Request) -> EndDeviceRecord:
    end_device_id = path_id(request, "end_device_id", "EndDevice")
    record = await request.app[STORE].end_device(end_device_id)
    if record is None:
        raise not_found(f"EndDevice {end_device_id}")
    return record


async def _view(store, record: GroupRecord, with_members: bool) -> views.Group:
    programs = [p.id for p in await store.programs_of_group(record.id)]
    members = await store.group_members(record.id) if with_members else None
    return views.group(record, programs, members, await store.count_group_members(record.id))


async def create_group(request: web.Request) -> web.Response:
    store, config = request.app[STORE], request.app[CONFIG]
    fields, errors = operator_fields(await read_json(request), model.FunctionSetAssignments, GROUP_FIELDS)
    fields["mRID"] = mrid_of(fields, config.mrid_pen)
    group = build(model.FunctionSetAssignments, fields, request.app[SCHEMAS], prior=errors)
    if any(g.mRID.upper() == group.mRID for g in await store.groups()):
        raise conflict("another group already has this mRID", "mRID")
    group_id = await unique(lambda: store.create_group(group.mRID, group.description), "group")
    created = await found(await store.group(group_id), f"group {group_id}")
    return json_response(await _view(store, created, True), 201, f"/groups/{group_id}")


async def list_groups(request: web.Request) -> web.Response:
    store = request.app[STORE]
    return json_response({"items": [await _view(store, g, False) for g in await store.groups()]})


async def get_group(request: web.Request) -> web.Response:
    return json_response(await _view(request.app[STORE], await _group(request), True))


async def delete_group(request: web.Request) -> web.Response:
    store = request.app[STORE]
    group = await _group(request)
    members = await store.group_members(group.id)
    try:
        await store.delete_group(group.id, changed=[paths.fsa_list(e) for e in members]
                                 + [(paths.program_list(group.id), DELETED)], now=request.app[CLOCK].now())
    except Conflict:
        raise conflict("the group stands for a network location or a program's enrollments; "
                       "it goes with them") from None
    return no_content()


# -- members ------------------------------------------------------------------------------

async def put_member(request: web.Request) -> web.Response:
    store = request.app[STORE]
    group, end_device = await _group(request), await _end_device(request)
    if group.id not in {g.id for g in await store.groups_of(end_device.id)}:
        await store.set_membership(group.id, [end_device.id], True, changed=[paths.fsa_list(end_device.id)],
                                   now=request.app[CLOCK].now())
    return no_content()


async def delete_member(request: web.Request) -> web.Response:
    store = request.app[STORE]
    group, end_device = await _group(request), await _end_device(request)
    if group.id in {g.id for g in await store.groups_of(end_device.id)}:
        await store.set_membership(group.id, [end_device.id], False, changed=[paths.fsa_list(end_device.id)],
                                   now=request.app[CLOCK].now())
    return no_content()


async def add_members(request: web.Request) -> web.Response:
    """Adds many EndDevices at once, all or none: {"endDevices": [id, ...]}."""
    store = request.app[STORE]
    group = await _group(request)
    body = await read_json(request)
    values, errors = check_plain(body, MEMBERS_ADD)
    given = body.get("endDevices")
    for i, end_device_id in enumerate(given if isinstance(given, list) else []):
        if type(end_device_id) is int and 0 < end_device_id < 2**63 and await store.end_device(end_device_id) is None:
            errors.append(error(f"no EndDevice {end_device_id}", f"endDevices[{i}]"))
    if errors:
        raise invalid(errors)
    ids: list[int] = values["endDevices"]
    present = set(await store.group_members(group.id))
    added = sorted(set(ids) - present)
    if added:
        await store.set_membership(group.id, added, True, changed=[paths.fsa_list(e) for e in added],
                                   now=request.app[CLOCK].now())
    view: views.MembersAdded = {"added": len(added), "endDeviceCount": await store.count_group_members(group.id)}
    return json_response(view)


def _change(record: MembershipChangeRecord) -> views.MembershipChange:
    return {"id": record.id, "groupId": record.group_id, "endDeviceId": record.end_device_id, "change": record.kind,
            "at": record.changed_at, "actor": record.actor, "reason": record.reason}


async def group_history(request: web.Request) -> web.Response:
    """Every change to the group's members, oldest first: who (operator, enrollment, unenrollment, retirement,
    move-out, sync-rejection), when and why."""
    group_id = path_id(request, "group_id", "group")
    store = request.app[STORE]
    if await store.group(group_id) is None and not await store.membership_history(group_id=group_id, limit=1):
        raise not_found(f"group {group_id}")
    return json_response({"items": [_change(r) for r in await store.membership_history(group_id=group_id)]})


async def end_device_group_history(request: web.Request) -> web.Response:
    """Every group the EndDevice joined or left, oldest first."""
    end_device = await _end_device(request)
    return json_response({"items": [_change(r) for r in await request.app[STORE].membership_history(
        end_device_id=end_device.id)]})


# -- programs -----------------------------------------------------------------------------

async def _assign(request: web.Request, assigned: bool) -> web.Response:
    store = request.app[STORE]
    group, program = await _group(request), await program_of(request)
    current = program.id in {p.id for p in await store.programs_of_group(group.id)}
    if current != assigned:
        # the group's FSA shows its programs' count (DERProgramListLink all): its members' FSALists change too
        members = await store.group_members(group.id)
        await store.set_group_program(group.id, program.id, assigned, changed=[
            paths.program_list(group.id), *(paths.fsa_list(e) for e in members)])
    return no_content()


async def assign_program(request: web.Request) -> web.Response:
    return await _assign(request, True)


async def unassign_program(request: web.Request) -> web.Response:
    return await _assign(request, False)


ROUTES: tuple[Route, ...] = (
    Route("POST", "/groups", create_group,
          "Create a group (a FunctionSetAssignments)",
          {201: Answer("created", "Group")},
          body=SepBody(model.FunctionSetAssignments, GROUP_FIELDS, ("mRID",), SEP_NOTE),
          errors=MRID_TAKEN),
    Route("GET", "/groups", list_groups,
          "List groups",
          {200: Answer("all groups", "GroupList")}),
    Route("GET", "/groups/{group_id:[0-9]+}", get_group,
          "Get a group with its members",
          {200: Answer("the group", "Group")}),
    Route("DELETE", "/groups/{group_id:[0-9]+}", delete_group,
          "Delete a group",
          NO_CONTENT),
    Route("POST", "/groups/{group_id:[0-9]+}/members", add_members,
          "Add many EndDevices (all or none)",
          {200: Answer("added", "MembersAdded")},
          body=PlainBody(MEMBERS_ADD),
          errors={409: "a device is retired, or fails a program of the group that takes part in enrollment (not "
                       "enrolled, disabled, sync rejected, ineligible): each one, with why; nothing changes"}),
    Route("PUT", "/groups/{group_id:[0-9]+}/members/{end_device_id:[0-9]+}", put_member,
          "Add an EndDevice to the group",
          NO_CONTENT,
          errors={409: "a device is retired, or fails a program of the group that takes part in enrollment (not "
                       "enrolled, disabled, sync rejected, ineligible): each one, with why; nothing changes"}),
    Route("DELETE", "/groups/{group_id:[0-9]+}/members/{end_device_id:[0-9]+}", delete_member,
          "Remove an EndDevice from the group",
          NO_CONTENT,
          errors={409: "a program of the group calls the device through its enrollment and through no other group: "
                       "unenroll it instead"}),
    Route("GET", "/groups/{group_id:[0-9]+}/history", group_history,
          "The group's membership changes, oldest first",
          {200: Answer("who, when and why", "MembershipChangeList")}),
    Route("GET", "/end-devices/{end_device_id:[0-9]+}/group-history", end_device_group_history,
          "The EndDevice's membership changes, oldest first",
          {200: Answer("who, when and why", "MembershipChangeList")}),
    Route("PUT", "/groups/{group_id:[0-9]+}/programs/{program_id:[0-9]+}", assign_program,
          "Assign a program to the group",
          NO_CONTENT,
          errors={409: "the program takes part in enrollment and members fail it: each one, with why"}),
    Route("DELETE", "/groups/{group_id:[0-9]+}/programs/{program_id:[0-9]+}", unassign_program,
          "Unassign a program from the group",
          NO_CONTENT,
          errors={409: "the group is the program's enrollment group and has members"}),
)
