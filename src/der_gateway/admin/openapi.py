"""The admin API's OpenAPI 3.1 description, served at GET /openapi.json.

Paths and the admin API's own objects are written out here by hand; the
2030.5 objects inside them (DERControlBase, CurveData, ...) are described from
the sep.model dataclasses, so they list exactly the fields the API accepts.
Keep it in step with the ROUTES of the routes_* modules: a test checks that the
two name the same operations.
"""

from __future__ import annotations

from typing import Any

from ..sep import codec, model
from . import routes_events, routes_programs
from .routes_rates import POSTING, RESOURCES
from ..sep.json_form import required_fields
from .views import RESPONSE_STATUS_NAMES

JSON = "application/json"
Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


MAX_TARGET_KW = 10**9
INTEGER = {"type": "integer"}
STRING = {"type": "string"}
BOOLEAN = {"type": "boolean"}
LFDI = {"type": "string", "pattern": "^[0-9A-Fa-f]{40}$", "description": "40 hex digits"}
PIN: Schema = {"type": "integer", "minimum": 100000, "maximum": 999999,
       "description": "the Registration pIN: six digits, the last the check digit of the first five (all six "
                      "digits sum to a multiple of 10), as the device's installer is given it"}
ID = {"type": "integer", "minimum": 1}
HREF = {"type": "string", "description": "the 2030.5 resource's href on the device-facing server"}


# -- 2030.5 objects, from sep.model -------------------------------------------------

def _field_schema(p: codec.FieldPlan) -> Schema:
    if p.nested is not None:
        one = ref(p.nested.__name__)
    elif p.scalar is not None:
        one = {int: INTEGER, bool: BOOLEAN, str: STRING}[p.scalar]
    else:
        raise ValueError(f"{p.name}: neither a nested class nor a scalar")
    return {"type": "array", "items": one} if p.many else one


def sep_object(cls: type, fields: tuple[str, ...] | None = None, optional: tuple[str, ...] = (),
               description: str | None = None) -> Schema:
    """The JSON form of a sep.model class (codec.to_data), limited to fields if given."""
    plans = [p for p in codec.plan(cls) if fields is None or p.name in fields]
    properties = {}
    for p in plans:
        field = _field_schema(p)
        if p.csipaus:
            field = {**field, "description": "CSIP-AUS; accepted only when the server runs the csip-aus profile"}
        properties[p.name] = field
    required = [p.name for p in plans if p.name in required_fields(cls) and p.name not in optional]
    schema: Schema = {"type": "object", "additionalProperties": False, "properties": properties}
    if required:
        schema["required"] = required
    if description:
        schema["description"] = description
    return schema


def _nested_classes(cls: type, found: dict[str, type]) -> dict[str, type]:
    for p in codec.plan(cls):
        if p.nested is not None and p.nested.__name__ not in found:
            found[p.nested.__name__] = p.nested
            _nested_classes(p.nested, found)
    return found


_SEP_PARTS = _nested_classes(model.DERControl, {})
_SEP_PARTS.update(_nested_classes(model.DERCurve, {}))

SEP_NOTE = ("Values are checked against the IEEE 2030.5 schema of the server's profile; element names, "
            "nesting and integer types are the standard's (an integer field takes only a JSON integer).")


# -- the admin API's own objects ------------------------------------------------------

def _object(properties: dict[str, Schema], required: tuple[str, ...] = (), description: str | None = None,
            closed: bool = True) -> Schema:
    schema: Schema = {"type": "object", "properties": properties}
    if closed:
        schema["additionalProperties"] = False
    if required:
        schema["required"] = list(required)
    if description:
        schema["description"] = description
    return schema


def _extend(schema: Schema, properties: dict[str, Schema], required: tuple[str, ...] = ()) -> Schema:
    """schema with further properties (all required unless listed otherwise)."""
    return {**schema, "properties": {**schema["properties"], **properties},
            "required": [*schema.get("required", ()), *(required or properties)]}


def _items(name: str) -> Schema:
    return _object({"items": {"type": "array", "items": ref(name)}}, ("items",))


STATUS_COUNTS = _object({name: INTEGER for name in RESPONSE_STATUS_NAMES.values()}, closed=False,
                        description="per Response.status name (unknown codes appear as statusN)")

COMPONENTS: dict[str, Schema] = {
    "Errors": _object({"errors": {"type": "array", "items": _object(
        {"field": {"type": "string", "description": "the JSON field (dotted path, list indexes) at fault"},
         "reason": STRING}, ("reason",))}}, ("errors",)),
    "Deleted": _object({"deleted": INTEGER}, ("deleted",)),
    "ProgramCreate": sep_object(model.DERProgram, routes_programs.PROGRAM_FIELDS, optional=("mRID",),
                                description="mRID is generated when absent. " + SEP_NOTE),
    "ProgramPatch": _object({"description": nullable(STRING), "primacy": INTEGER}, (),
                            "description null clears it. " + SEP_NOTE),
    "Program": _object({"id": ID, "href": HREF, "mRID": STRING, "description": nullable(STRING),
                        "primacy": INTEGER, "version": INTEGER,
                        "groups": {"type": "array", "items": ID, "description": "groups it is assigned to"}},
                       ("id", "href", "mRID", "description", "primacy", "version", "groups")),
    "DefaultDERControlInput": sep_object(
        model.DefaultDERControl, routes_programs.DEFAULT_CONTROL_FIELDS, optional=("mRID",),
        description="Curve links in DERControlBase must be {\"href\": \"/derp/{program}/dc/{curve}\"} naming a "
                    "DERCurve of this program with the matching curveType. " + SEP_NOTE),
    "DefaultDERControl": _extend(sep_object(model.DefaultDERControl, routes_programs.DEFAULT_CONTROL_FIELDS),
                                 {"href": HREF}),
    "DERCurveInput": sep_object(model.DERCurve, routes_programs.CURVE_FIELDS, optional=("mRID",),
                                description="creationTime is the server's. " + SEP_NOTE),
    "DERCurve": _extend(sep_object(model.DERCurve, routes_programs.CURVE_FIELDS + ("creationTime",)),
                        {"id": ID, "href": HREF}),
    "ControlInput": sep_object(
        model.DERControl, routes_events.CONTROL_FIELDS, optional=("mRID",),
        description="A DER event. mRID is generated when absent; responseRequired defaults to \"03\". The event "
                    "must not have ended already, and DERControlBase must set at least one control; curve links "
                    "as for DefaultDERControlInput. " + SEP_NOTE),
    "Control": _extend(sep_object(model.DERControl, routes_events.CONTROL_FIELDS + ("creationTime", "EventStatus")), {
        "id": ID, "programId": ID, "href": HREF,
        "programEventStatus": {"enum": ["SCHEDULED", "IN PROGRESS", "COMPLETED", "CANCELED"]},
        "active": {"type": "boolean", "description": "in the program's ActiveDERControlList"},
        "cancelledAt": nullable(INTEGER),
        "archivedAt": {**nullable(INTEGER), "description": "when it was archived (POST /controls/{id}/archive)"}}),
    "Participation": _object({
        "controlId": ID, "mRID": STRING,
        "targeted": {"type": "integer", "description": "a stage's: the EndDevices it called when scheduled (its "
                                                        "participation record); another event's: enabled EndDevices "
                                                        "in groups the program is assigned to"},
        "stageId": {**nullable(ID), "description": "the utility event stage the event is, if it is one"},
        "record": {"type": "array", "items": ref("Participant"), "description": "a stage's participation record"},
        "responded": {"type": "integer", "description": "EndDevices that sent any Response"},
        "notResponded": {"type": "integer", "description": "targeted EndDevices that sent none"},
        "notRespondedEndDevices": {"type": "array", "items": LFDI},
        "counts": {**STATUS_COUNTS, "description": "EndDevices by the status of their latest Response"},
        "responseCounts": {**STATUS_COUNTS, "description": "every Response, by status"},
        "items": {"type": "array", "items": _object({
            "endDeviceLFDI": LFDI, "latestStatus": INTEGER, "latestStatusName": STRING,
            "responses": {"type": "array", "items": _object({
                "status": INTEGER, "statusName": STRING, "createdDateTime": INTEGER, "received": INTEGER})}})},
    }),
    "GroupCreate": sep_object(model.FunctionSetAssignments, ("mRID", "description"), optional=("mRID",),
                              description=SEP_NOTE),
    "Group": _object({"id": ID, "href": HREF, "mRID": STRING, "description": nullable(STRING), "version": INTEGER,
                      "programs": {"type": "array", "items": ID}, "endDeviceCount": INTEGER,
                      "endDevices": {"type": "array", "items": ID,
                                     "description": "member EndDevice ids; not in lists"}},
                     ("id", "href", "mRID", "description", "version", "programs", "endDeviceCount")),
    "MembersAdd": _object({"endDevices": {"type": "array", "items": ID}}, ("endDevices",)),
    "MembershipChange": _object({
        "id": ID, "groupId": ID, "endDeviceId": ID, "change": {"enum": ["joined", "left"]},
        "at": {**INTEGER, "description": "Unix time"},
        "actor": {**STRING, "description": "who: operator, enrollment, unenrollment, retirement, move-out, "
                                           "sync-rejection, network"},
        "reason": STRING}),
    "MembersAdded": _object({"added": INTEGER, "endDeviceCount": INTEGER}, ("added", "endDeviceCount")),
    "EndDeviceCreate": _object({
        "lFDI": LFDI, "sFDI": {"type": "integer", "description": "must be the one derived from lFDI"},
        "deviceCategory": {"type": "string", "pattern": "^[0-9A-Fa-f]{1,8}$"},
        "owner": {**LFDI, "description": "the client certificate's LFDI that may act for it (default: its own)"},
        "pIN": {**PIN, "description": PIN["description"] + "; default: the configured registration_pin, "
                "else a random one"}},
        ("lFDI",)),
    "EndDevicePatch": _object({"enabled": BOOLEAN, "postRate": nullable({"type": "integer", "minimum": 1}),
                               "pIN": PIN}),
    "EndDevice": _object({
        "id": ID, "href": HREF, "lFDI": LFDI, "sFDI": INTEGER, "owner": LFDI, "deviceCategory": nullable(STRING),
        "enabled": BOOLEAN, "postRate": nullable(INTEGER), "changedTime": INTEGER, "dateTimeRegistered": INTEGER,
        "pIN": PIN, "groups": {"type": "array", "items": ID, "description": "not in lists"},
        "access": {"type": "array", "items": LFDI, "description": "granted clients; not in lists"}},
        ("id", "href", "lFDI", "sFDI", "owner", "deviceCategory", "enabled", "postRate", "changedTime",
         "dateTimeRegistered", "pIN")),
    "ClientAccessSet": _object({"granted": BOOLEAN}, ("granted",)),
    "ClientAccess": _object({"lfdi": LFDI, "granted": BOOLEAN,
                             "revokedAt": nullable({**INTEGER, "description": "when access was revoked"})},
                            ("lfdi", "granted", "revokedAt")),
    "Subscription": _object({"id": ID, "href": HREF, "client": {**LFDI, "description": "the subscribing client"},
                             "subscribedResource": HREF, "notificationURI": STRING, "limit": nullable(INTEGER)},
                            ("id", "href", "client", "subscribedResource", "notificationURI", "limit")),
    "RateSet": _object({"resource": {"enum": list(RESOURCES)},
                        "pollRate": nullable({"type": "integer", "minimum": 1}),
                        "postRate": nullable({"type": "integer", "minimum": 1,
                                              "description": f"only for {', '.join(POSTING)}"})},
                       ("resource",), "Replaces the resource's rates; omitted or null: the configured default."),
    "NotificationBacklog": _object(
        {"pendingChanges": {**INTEGER, "description": "changes to resources not yet turned into notifications"},
         "queued": {**INTEGER, "description": "notifications waiting to be POSTed to their notificationURI"},
         "due": {**INTEGER, "description": "of those, the ones due now rather than held back after a failure"},
         "failing": {"type": "array", "description": "the notificationURIs held back after a failure (at most 100, "
                                                     "the most attempted first), with the error of the last attempt",
                     "items": _object({"notificationURI": STRING, "attempts": INTEGER, "lastError": STRING,
                                       "nextAttempt": {**INTEGER, "description": "when it is tried again, Unix time"}},
                                      ("notificationURI", "attempts", "lastError", "nextAttempt"))}},
        ("pendingChanges", "queued", "due", "failing")),
    "Rate": _object({"resource": {"enum": list(RESOURCES)}, "pollRate": nullable(INTEGER),
                     "effectivePollRate": INTEGER, "postRate": nullable(INTEGER), "effectivePostRate": INTEGER},
                    ("resource", "pollRate", "effectivePollRate")),
}
COMPONENTS.update({name: sep_object(cls, description="IEEE 2030.5 " + name) for name, cls in _SEP_PARTS.items()})
for _name in ("Program", "DERCurve", "Control", "Group", "EndDevice", "Rate", "Subscription", "MembershipChange"):
    COMPONENTS[_name + "List"] = _items(_name)


# -- operations ----------------------------------------------------------------------------

def _param(name: str, description: str, schema: Schema = ID) -> Schema:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": schema}


PROGRAM_ID = _param("program_id", "program id")
CURVE_ID = _param("curve_id", "DERCurve id")
CONTROL_ID = _param("control_id", "event (DERControl) id")
GROUP_ID = _param("group_id", "group (FunctionSetAssignments) id")
END_DEVICE_ID = _param("end_device_id", "EndDevice id")
CLIENT_LFDI = _param("client_lfdi", "the LFDI of the client certificate given access", LFDI)
LFDI_PARAM = _param("lfdi", "the client certificate's LFDI", LFDI)
SUBSCRIPTION_ID = _param("subscription_id", "Subscription id (the last part of its href)")


_JOIN_REFUSED = ("a device is retired, or fails a program of the group that takes part in enrollment (not "
                 "enrolled, disabled, sync rejected, ineligible): each one, with why; nothing changes")


def _error(description: str) -> Schema:
    return {"description": description, "content": {JSON: {"schema": ref("Errors")}}}


def _answer(description: str, schema: str | None = None) -> Schema:
    answer: Schema = {"description": description}
    if schema:
        answer["content"] = {JSON: {"schema": ref(schema)}}
    return answer


def op(summary: str, ok: dict[int, Schema], params: tuple[Schema, ...] = (), body: str | None = None,
       errors: dict[int, str] | None = None) -> Schema:
    responses: dict[str, Schema] = {str(status): answer for status, answer in ok.items()}
    responses["401"] = _error("no bearer token, or a wrong one")
    if params:
        responses["404"] = _error("no such resource")
    if body:
        responses["400"] = _error("invalid: every wrong field, each named; nothing is stored")
        responses["413"] = _error("body over the size limit (1 MiB by default)")
        responses["415"] = _error("Content-Type is not application/json")
    for status, description in (errors or {}).items():
        responses[str(status)] = _error(description)
    operation: Schema = {"summary": summary, "responses": dict(sorted(responses.items()))}
    if params:
        operation["parameters"] = list(params)
    if body:
        operation["requestBody"] = {"required": True, "content": {JSON: {"schema": ref(body)}}}
    return operation


def _described(operation: Schema, description: str) -> Schema:
    return {**operation, "description": description}


NO_CONTENT = {204: _answer("done")}
MRID_TAKEN = {409: "the mRID is taken"}

PATHS: dict[str, dict[str, Schema]] = {
    "/openapi.json": {
        "get": op("This description", {200: {"description": "OpenAPI 3.1", "content": {JSON: {"schema": {}}}}})},
    "/programs": {
        "post": op("Create a DERProgram", {201: _answer("created (Location: /programs/{id})", "Program")},
                   body="ProgramCreate", errors=MRID_TAKEN),
        "get": op("List programs", {200: _answer("all programs, by primacy", "ProgramList")})},
    "/programs/{program_id}": {
        "get": op("Get a program", {200: _answer("the program", "Program")}, (PROGRAM_ID,)),
        "patch": op("Change a program's description or primacy", {200: _answer("the program", "Program")},
                    (PROGRAM_ID,), "ProgramPatch"),
        "delete": op("Delete a program with its events, default control and curves", NO_CONTENT, (PROGRAM_ID,))},
    "/programs/{program_id}/default-control": {
        "put": op("Set the program's DefaultDERControl",
                  {200: _answer("replaced", "DefaultDERControl"), 201: _answer("created", "DefaultDERControl")},
                  (PROGRAM_ID,), "DefaultDERControlInput"),
        "get": op("Get the program's DefaultDERControl", {200: _answer("it", "DefaultDERControl")}, (PROGRAM_ID,))},
    "/programs/{program_id}/curves": {
        "post": op("Add a DERCurve", {201: _answer("created (Location: .../curves/{id})", "DERCurve")},
                   (PROGRAM_ID,), "DERCurveInput", MRID_TAKEN),
        "get": op("List the program's DERCurves", {200: _answer("its curves", "DERCurveList")}, (PROGRAM_ID,))},
    "/programs/{program_id}/curves/{curve_id}": {
        "get": op("Get a DERCurve", {200: _answer("the curve", "DERCurve")}, (PROGRAM_ID, CURVE_ID)),
        "delete": op("Delete a DERCurve", NO_CONTENT, (PROGRAM_ID, CURVE_ID),
                     errors={409: "the DefaultDERControl or an event that has not ended refers to it"})},
    "/programs/{program_id}/controls": {
        "post": op("Create an event (DERControl)", {201: _answer("created (Location: /controls/{id})", "Control")},
                   (PROGRAM_ID,), "ControlInput", MRID_TAKEN),
        "get": _described(op("List the program's events with their status now",
                             {200: _answer("start ascending, newest first", "ControlList")}, (PROGRAM_ID,)),
                          "Query (optional): archived=true lists the archived events too"),
        "delete": op("Delete all the program's events", {200: _answer("how many", "Deleted")}, (PROGRAM_ID,),
                     errors={409: "an event has a participation record (a stage's, or Responses): it can only be "
                                  "archived; nothing is deleted"})},
    "/controls/{control_id}": {
        "get": op("Get an event with its status now", {200: _answer("the event", "Control")}, (CONTROL_ID,))},
    "/controls/{control_id}/cancel": {
        "post": op("Cancel an event", {200: _answer("the cancelled event", "Control")}, (CONTROL_ID,),
                   errors={409: "already cancelled, superseded or completed"})},
    "/controls/{control_id}/archive": {
        "post": op("Archive an event that has ended: kept with its record, out of the lists", {200: _answer(
            "the event", "Control")}, (CONTROL_ID,), errors={409: "the event is scheduled or in progress"})},
    "/controls/{control_id}/participation": {
        "get": op("Responses to an event, per EndDevice", {200: _answer("participation", "Participation")},
                  (CONTROL_ID,))},
    "/groups": {
        "post": op("Create a group (a FunctionSetAssignments)", {201: _answer("created", "Group")},
                   body="GroupCreate", errors=MRID_TAKEN),
        "get": op("List groups", {200: _answer("all groups", "GroupList")})},
    "/groups/{group_id}": {
        "get": op("Get a group with its members", {200: _answer("the group", "Group")}, (GROUP_ID,)),
        "delete": op("Delete a group", NO_CONTENT, (GROUP_ID,))},
    "/groups/{group_id}/members": {
        "post": op("Add many EndDevices (all or none)", {200: _answer("added", "MembersAdded")}, (GROUP_ID,),
                   "MembersAdd", errors={409: _JOIN_REFUSED})},
    "/groups/{group_id}/members/{end_device_id}": {
        "put": op("Add an EndDevice to the group", NO_CONTENT, (GROUP_ID, END_DEVICE_ID),
                  errors={409: _JOIN_REFUSED}),
        "delete": op("Remove an EndDevice from the group", NO_CONTENT, (GROUP_ID, END_DEVICE_ID),
                     errors={409: "a program of the group calls the device through its enrollment and through no "
                                  "other group: unenroll it instead"})},
    "/groups/{group_id}/history": {
        "get": op("The group's membership changes, oldest first",
                  {200: _answer("who, when and why", "MembershipChangeList")}, (GROUP_ID,))},
    "/end-devices/{end_device_id}/group-history": {
        "get": op("The EndDevice's membership changes, oldest first",
                  {200: _answer("who, when and why", "MembershipChangeList")}, (END_DEVICE_ID,))},
    "/groups/{group_id}/programs/{program_id}": {
        "put": op("Assign a program to the group", NO_CONTENT, (GROUP_ID, PROGRAM_ID),
                  errors={409: "the program takes part in enrollment and members fail it: each one, with why"}),
        "delete": op("Unassign a program from the group", NO_CONTENT, (GROUP_ID, PROGRAM_ID),
                     errors={409: "the group is the program's enrollment group and has members"})},
    "/end-devices": {
        "post": op("Create an EndDevice, or get the one with this lFDI",
                   {200: _answer("it existed", "EndDevice"), 201: _answer("created", "EndDevice")},
                   body="EndDeviceCreate",
                   errors={409: "it exists with another owner, deviceCategory or pIN, or its sFDI is taken"}),
        "get": op("List EndDevices", {200: _answer("all, by id", "EndDeviceList")})},
    "/end-devices/{end_device_id}": {
        "get": op("Get an EndDevice with its groups and grants", {200: _answer("it", "EndDevice")},
                  (END_DEVICE_ID,)),
        "patch": op("Enable or disable an EndDevice, or set its postRate or Registration pIN",
                    {200: _answer("it", "EndDevice")},
                    (END_DEVICE_ID,), "EndDevicePatch"),
        "delete": _described(op("Delete an EndDevice with everything under it", NO_CONTENT, (END_DEVICE_ID,)),
                             "Its DERs and their documents, log events, group memberships, access grants and "
                             "SubscriptionList go with it, as on its client's DELETE /edev/{id}: each of those "
                             "subscriptions gets a last Notification, subscribers to the EndDevice or its "
                             "FunctionSetAssignmentsList one with status 4, and the EndDeviceList subscribers "
                             "that listed it the list without it. The client's MirrorUsagePoints stay "
                             "(DELETE /clients/{lfdi}/mirror-usage-points).")},
    "/end-devices/{end_device_id}/access/{client_lfdi}": {
        "put": op("Let a further client act for the EndDevice", NO_CONTENT, (END_DEVICE_ID, CLIENT_LFDI),
                  errors={400: "client_lfdi is not 40 hex digits"}),
        "delete": op("Revoke that", NO_CONTENT, (END_DEVICE_ID, CLIENT_LFDI),
                     errors={400: "client_lfdi is not 40 hex digits"})},
    "/end-devices/{end_device_id}/subscriptions": {
        "get": op("The Subscriptions in the EndDevice's SubscriptionList", {200: _answer("all", "SubscriptionList")},
                  (END_DEVICE_ID,))},
    "/end-devices/{end_device_id}/subscriptions/{subscription_id}": {
        "delete": op("Cancel a Subscription: the client is sent a last Notification with status 1", NO_CONTENT,
                     (END_DEVICE_ID, SUBSCRIPTION_ID))},
    "/notifications/backlog": {
        "get": _described(op("What the server still owes its subscribers",
                             {200: _answer("the counts", "NotificationBacklog")}),
                          "All zero once every change so far has been told to every subscriber that can be "
                          "reached: an operator (or a test harness) waits for that before it looks. A "
                          "notificationURI whose addresses are all refused (notification_allow_addresses) is "
                          "listed in failing with the reason.")},
    "/rates": {
        "put": op("Set a resource's pollRate (and postRate)", {200: _answer("the rates now", "Rate")},
                  body="RateSet"),
        "get": op("The rates of every resource", {200: _answer("all", "RateList")})},
    "/clients/{lfdi}/access": {
        "get": op("Whether the client certificate has access", {200: _answer("it", "ClientAccess")},
                  (LFDI_PARAM,), errors={400: "lfdi is not 40 hex digits"}),
        "put": _described(op("Revoke or restore the client certificate's access altogether",
                             {200: _answer("it now", "ClientAccess")}, (LFDI_PARAM,), "ClientAccessSet"),
                          "granted false: every 2030.5 request with this certificate is answered 403, and its "
                          "subscriptions are sent nothing (a deletion still ends them), until granted true "
                          "again. What it registered and posted stays.")},
    "/clients/{lfdi}/mirror-usage-points": {
        "delete": op("Delete every MirrorUsagePoint the client posted", {200: _answer("how many", "Deleted")},
                     (LFDI_PARAM,), errors={400: "lfdi is not 40 hex digits"})},
}

# -- enrollment sync and network locations (routes_sync, routes_network) -------------------------
# Query parameters are described in each operation's description.

_SYNC_STATES = ["queued", "sent", "acknowledged", "rejected"]
_LOCATION_KINDS = ["substation", "feeder", "transformer"]
COMPONENTS.update({
    "SyncEndpointInput": _object({"name": {"type": "string", "minLength": 1, "maxLength": 64},
                                  "url": {"type": "string", "description": "http:// or https://; https is reached "
                                                                           "presenting the server's certificate"},
                                  "purpose": {"enum": ["operations", "billing"],
                                              "description": "operations (the default): every message but "
                                                             "billing's; billing: unbilled credits only"}},
                                 ("name", "url")),
    "SyncEndpointPatch": _object({"name": {"type": "string", "minLength": 1, "maxLength": 64}, "url": STRING}),
    "SyncEndpoint": _object({"id": ID, "name": STRING, "url": STRING,
                             "purpose": {"enum": ["operations", "billing"]},
                             "messages": _object({s: INTEGER for s in _SYNC_STATES}, tuple(_SYNC_STATES),
                                                 "how many of its messages are in each state")},
                            ("id", "name", "url", "purpose", "messages")),
    "SyncMessage": _object({
        "id": ID, "endpointId": ID, "endpoint": nullable(STRING), "kind": STRING,
        "enrollmentId": nullable(ID), "state": {"enum": _SYNC_STATES}, "attempts": INTEGER,
        "nextAttempt": INTEGER, "lastError": nullable(STRING), "ackReason": nullable(STRING), "created": INTEGER,
        "body": {"type": "object", "description": "what is POSTed, with messageId and acknowledgeUrl added"},
        "enrollment": _object({"id": ID, "syncStatus": nullable(STRING), "syncReason": nullable(STRING)},
                              description="after an acknowledgement: the enrollment's sync state")},
        ("id", "endpointId", "endpoint", "kind", "enrollmentId", "state", "attempts", "nextAttempt", "lastError",
         "ackReason", "created", "body")),
    "SyncMessagePage": _object({"all": INTEGER, "items": {"type": "array", "items": ref("SyncMessage")}},
                               ("all", "items")),
    "Acknowledgement": _object({"ok": BOOLEAN, "reason": {"type": "string", "maxLength": 2000,
                                                          "description": "required when ok is false"}},
                               ("ok",)),
    "NetworkLocationRows": {"type": "array", "items": _object(
        {"servicePoint": STRING, "transformer": STRING, "feeder": STRING, "substation": STRING},
        ("servicePoint", "transformer", "feeder", "substation"))},
    "NetworkImport": _object({"mode": {"enum": ["initial", "incremental"]}, "rows": INTEGER,
                              "servicePointsChanged": INTEGER, "locationsCreated": INTEGER,
                              "locationsMoved": INTEGER, "locationsRemoved": INTEGER,
                              "endDevicesMoved": INTEGER},
                             ("mode", "rows", "servicePointsChanged", "locationsCreated", "locationsMoved",
                              "locationsRemoved", "endDevicesMoved")),
    "NetworkLocation": _object({
        "id": ID, "kind": {"enum": _LOCATION_KINDS}, "name": STRING, "parentId": nullable(ID),
        "parent": nullable(STRING), "groupId": ID, "groupHref": HREF,
        "endDeviceCount": {"type": "integer", "description": "enrolled EndDevices in its group"},
        "servicePointCount": INTEGER,
        "children": {"type": "array", "items": ID, "description": "not in lists"}},
        ("id", "kind", "name", "parentId", "parent", "groupId", "groupHref", "endDeviceCount", "servicePointCount")),
})
for _name in ("SyncEndpoint", "NetworkLocation"):
    COMPONENTS[_name + "List"] = _items(_name)

ENDPOINT_ID = _param("endpoint_id", "sync endpoint id")
MESSAGE_ID = _param("message_id", "sync message id")
LOCATION_ID = _param("location_id", "network location id")


_import = op("Import network locations (service point -> transformer, feeder, substation)",
             {200: _answer("applied", "NetworkImport")}, body="NetworkLocationRows",
             errors={415: "Content-Type is neither text/csv nor application/json"})
_import["requestBody"] = {"required": True, "content": {
    "text/csv": {"schema": {"type": "string", "description": "a header line service_point,transformer,feeder,"
                                                             "substation (any order), then one row per line"}},
    JSON: {"schema": ref("NetworkLocationRows")}}}

PATHS.update({
    "/sync/endpoints": {
        "post": op("Add an operational endpoint sync messages are POSTed to",
                   {201: _answer("created (Location: /sync/endpoints/{id})", "SyncEndpoint")},
                   body="SyncEndpointInput", errors={409: "the name is taken"}),
        "get": op("List operational endpoints", {200: _answer("all, by id", "SyncEndpointList")})},
    "/sync/endpoints/{endpoint_id}": {
        "get": op("Get an operational endpoint", {200: _answer("it", "SyncEndpoint")}, (ENDPOINT_ID,)),
        "patch": op("Rename an endpoint or change its URL (queued messages go to the new one)",
                    {200: _answer("it", "SyncEndpoint")}, (ENDPOINT_ID,), "SyncEndpointPatch",
                    {409: "the name is taken"}),
        "delete": _described(op("Delete an endpoint with its messages", NO_CONTENT, (ENDPOINT_ID,),
                                errors={400: "force is neither true nor false",
                                        409: "messages are still queued for it (without force=true)"}),
                             "Query: force=true also drops the messages still queued for it.")},
    "/sync/messages": {
        "get": _described(op("List sync messages", {200: _answer("by id", "SyncMessagePage")},
                             errors={400: "an unknown or invalid query parameter"}),
                          "Query (all optional): state=queued|sent|acknowledged|rejected, endpoint={id}, "
                          "kind={kind}, enrollment={id}, after={id} (the page after that message), "
                          "limit=1..1000 (default 100). all counts every match.")},
    "/sync/messages/{message_id}": {
        "get": op("Get a sync message", {200: _answer("it", "SyncMessage")}, (MESSAGE_ID,))},
    "/sync/messages/{message_id}/ack": {
        "post": _described(op("Acknowledge a sync message (the receiver's acknowledgeUrl)",
                              {200: _answer("the message, and its enrollment's sync state", "SyncMessage")},
                              (MESSAGE_ID,), "Acknowledgement",
                              {409: "it was acknowledged the other way already"}),
                           "ok true: 'acknowledged'; the enrollment becomes Synchronized once every endpoint's "
                           "latest message about it is acknowledged. ok false: 'rejected'; the enrollment "
                           "becomes Error with the reason. Repeating an acknowledgement changes nothing.")},
    "/network-locations/import": {
        "post": _described(_import, "Query: mode=initial (the file is the whole network: every location and "
                                    "service-point location it does not name is removed) or mode=incremental "
                                    "(the default: the rows given are added or updated). Every row is checked "
                                    "first (unknown service point, missing value, a feeder under two substations, "
                                    "...) and all problems come back at once, with nothing applied. Each location "
                                    "gets its own group; enrolled EndDevices are moved into the groups of their "
                                    "service point's transformer, feeder and substation.")},
    "/network-locations": {
        "get": _described(op("List network locations with their groups",
                             {200: _answer("substations, feeders, transformers, by name", "NetworkLocationList")},
                             errors={400: "an unknown or invalid query parameter"}),
                          "Query (optional): kind=substation|feeder|transformer.")},
    "/network-locations/{location_id}": {
        "get": op("Get a network location with its children", {200: _answer("it", "NetworkLocation")},
                  (LOCATION_ID,))},
})

# -- the utility's side: customers, catalog, aggregators, program rules, tariffs, registration and
# enrollment (routes_utility, routes_utility_catalog, routes_utility_ops) --------------------------

_NULL_STRING = nullable(STRING)
_REF = {"anyOf": [ID, {"type": "string", "minLength": 1}], "description": "an id, or an external id (a code)"}
_STATUS = {"enum": ["active", "inactive"]}
_TASK_STATES = ["Pending", "Processing", "Completed", "Error", "Cancelled"]
_IDEMPOTENT = (" Takes an optional Idempotency-Key header (1-200 characters): a retry with the same key and body "
               "answers the first answer (status and body) and creates nothing; the same key with another body "
               "is 409.")
_RANGE = _object({"min": {"type": "number"}, "max": {"type": "number"}})
_PROBLEMS = {"type": "array", "items": _object({"field": STRING, "reason": STRING}, ("reason",))}
for _cls in (model.DERCapability, model.DERSettings):
    for _part, _part_cls in _nested_classes(_cls, {}).items():
        COMPONENTS.setdefault(_part, sep_object(_part_cls, description="IEEE 2030.5 " + _part))

COMPONENTS.update({
    "ServicePointInput": _object({"externalId": STRING, "address": _NULL_STRING, "substation": _NULL_STRING,
                                  "feeder": _NULL_STRING, "transformer": _NULL_STRING}, ("externalId",),
                                 "substation, feeder and transformer name its network location"),
    "ServicePointPatch": _object({"address": _NULL_STRING, "substation": _NULL_STRING, "feeder": _NULL_STRING,
                                  "transformer": _NULL_STRING}),
    "ServicePoint": _object({"id": ID, "accountId": ID, "customerId": ID, "externalId": STRING,
                             "address": _NULL_STRING, "substation": _NULL_STRING, "feeder": _NULL_STRING,
                             "transformer": _NULL_STRING}, ("id", "accountId", "externalId")),
    "AccountInput": _object({"externalId": STRING, "status": _STATUS,
                             "servicePoints": {"type": "array", "items": ref("ServicePointInput")}},
                            ("externalId",)),
    "AccountPatch": _object({"status": _STATUS}),
    "Account": _object({"id": ID, "customerId": ID, "externalId": STRING, "status": _STATUS,
                        "servicePoints": {"type": "array", "items": ref("ServicePoint")}},
                       ("id", "customerId", "externalId", "status", "servicePoints")),
    "CustomerInput": _object({"externalId": STRING, "name": STRING, "status": _STATUS,
                              "accounts": {"type": "array", "items": ref("AccountInput")}}, ("externalId", "name"),
                             "External ids (customer, accounts, service points) are unique: a taken one is 409."),
    "CustomerPatch": _object({"name": STRING, "status": _STATUS}),
    "Customer": _object({
        "id": ID, "externalId": STRING, "name": STRING, "status": _STATUS,
        "accounts": {"type": "array", "items": ref("Account"), "description": "not in lists"},
        "tariffs": {"type": "array", "items": _object({"tariffId": ID, "code": STRING, "acceptedAt": INTEGER}),
                    "description": "tariffs accepted; not in lists"},
        "aggregators": {"type": "array", "items": LFDI, "description": "authorised aggregators; not in lists"}},
        ("id", "externalId", "name", "status")),
    "TariffInput": _object({"code": STRING, "description": _NULL_STRING, "terms": {"type": "object"}}, ("code",)),
    "TariffPatch": _object({"description": _NULL_STRING, "terms": {"type": "object"}}),
    "Tariff": _object({"id": ID, "code": STRING, "description": _NULL_STRING, "terms": {"type": "object"}},
                      ("id", "code", "description", "terms")),
    "AssetTypeInput": _object({
        "code": STRING, "description": _NULL_STRING,
        "derType": {"type": "integer", "description": "2030.5 DERType: 0, 1-6, 80-83"},
        "requiresInterconnection": {"type": "boolean", "description": "the DER registration flag: registration "
                                                                       "needs an approved interconnectDER first"},
        "defaultProgramId": nullable(ID)}, ("code", "derType")),
    "AssetTypePatch": _object({"description": _NULL_STRING, "derType": INTEGER, "requiresInterconnection": BOOLEAN,
                               "defaultProgramId": nullable(ID)}),
    "AssetType": _object({"id": ID, "code": STRING, "description": _NULL_STRING, "derType": INTEGER,
                          "derTypeName": STRING, "requiresInterconnection": BOOLEAN, "defaultProgramId": nullable(ID)},
                         ("id", "code", "derType", "requiresInterconnection", "defaultProgramId")),
    "NameplateSpec": {"type": "object", "description": "per DERCapability rating (rtgMaxW, rtgMaxWh, rtgMaxVA, "
                                                       "rtgMaxVar, rtgVNom, ...): {min?, max?, required?} in base "
                                                       "units (W, Wh, VA, var, V, A, Ah); interconnection: "
                                                       "{exportLimitW|importLimitW|inverterCount|phases: {min?, "
                                                       "max?}}",
                      "additionalProperties": _object({"min": {"type": "number"}, "max": {"type": "number"},
                                                       "required": BOOLEAN}, closed=False)},
    "DeviceModelInput": _object({"assetTypeId": ID, "manufacturer": STRING, "model": STRING,
                                 "spec": ref("NameplateSpec")}, ("assetTypeId", "manufacturer", "model", "spec"),
                                "manufacturer and model together are unique (409)"),
    "DeviceModelPatch": _object({"assetTypeId": ID, "spec": ref("NameplateSpec")}),
    "DeviceModel": _object({"id": ID, "assetTypeId": ID, "manufacturer": STRING, "model": STRING,
                            "spec": ref("NameplateSpec")}, ("id", "assetTypeId", "manufacturer", "model", "spec")),
    "AggregatorInput": _object({"lFDI": LFDI, "name": STRING, "status": {"enum": ["active", "suspended"]},
                                "customers": {"type": "array", "items": _REF}}, ("lFDI", "name"),
                               "customers: those it may act for. Every change is synced ('aggregator')."),
    "AggregatorPatch": _object({"name": STRING, "status": {"enum": ["active", "suspended"]},
                                "customers": {"type": "array", "items": _REF, "description": "replaces the set"}}),
    "Aggregator": _object({"lFDI": LFDI, "name": STRING, "status": {"enum": ["active", "suspended"]},
                           "created": INTEGER, "customers": {"type": "array", "items": ID}},
                          ("lFDI", "name", "status", "created", "customers")),
    "Eligibility": _object({
        "derTypes": {"type": "array", "items": INTEGER}, "capacityW": _RANGE,
        "substations": {"type": "array", "items": STRING}, "feeders": {"type": "array", "items": STRING},
        "transformers": {"type": "array", "items": STRING},
        "tariffId": nullable({**ID, "description": "a tariff the customer must have accepted"})},
        description="each given rule must hold for a device to enroll (rules deviceTypes, capacity, location, "
                    "tariff); capacity is the nameplate's rtgMaxW"),
    "Constraints": _object({
        "maxEvents": _object({"count": INTEGER, "periodSeconds": INTEGER}, ("count", "periodSeconds")),
        "maxDurationSeconds": INTEGER,
        "allowedHours": _object({"start": {"type": "integer", "minimum": 0, "maximum": 23},
                                 "end": {"type": "integer", "minimum": 1, "maximum": 24}}, ("start", "end"),
                                "local hours [start, end) in config.timezone; start > end wraps midnight"),
        "minNoticeSeconds": INTEGER},
        description="checked when an event is created (rules maxEvents, maxDuration, allowedHours, minNotice)"),
    "ProgramRulesInput": _object({"code": _NULL_STRING, "eligibility": ref("Eligibility"),
                                  "constraints": ref("Constraints")},
                                 description="Replaces the rules; synced ('program-rules'). code names the program "
                                             "in registerDERDevice."),
    "ProgramRules": _object({"programId": ID, "code": _NULL_STRING, "groupId": nullable(ID),
                             "eligibility": ref("Eligibility"), "constraints": ref("Constraints")},
                            ("programId", "code", "groupId", "eligibility", "constraints")),
    "DeviceInput": _object({
        "lFDI": LFDI, "sFDI": {"type": "integer", "description": "must be the one derived from lFDI"},
        "manufacturer": STRING, "model": STRING, "serialNumber": STRING,
        "deviceCategory": {"type": "string", "pattern": "^[0-9A-Fa-f]{1,8}$"},
        "nameplate": sep_object(model.DERCapability, tuple(p.name for p in codec.plan(model.DERCapability)
                                                            if p.name != "href"),
                                description="a DERCapability (2030.5 JSON form), within the model's spec"),
        "settings": sep_object(model.DERSettings, tuple(p.name for p in codec.plan(model.DERSettings)
                                                         if p.name not in ("href", "subscribable", "updatedTime")),
                               description="a DERSettings without updatedTime (the server's); limits may not "
                                           "exceed the nameplate")},
        ("lFDI", "manufacturer", "model", "serialNumber", "nameplate")),
    "RegisterDERDevice": _object({
        "customer": _REF, "servicePoint": _REF, "device": ref("DeviceInput"),
        "program": nullable({**_REF, "description": "id, rules code or mRID; default: the asset type's"}),
        "aggregator": {**LFDI, "description": "admin only: act for this aggregator (it must be active and "
                                              "authorised); it then owns the EndDevice"}},
        ("customer", "servicePoint", "device")),
    "InterconnectDER": _object({
        "customer": _REF, "servicePoint": _REF,
        "device": _object({"manufacturer": STRING, "model": STRING, "serialNumber": STRING, "lFDI": LFDI},
                          ("manufacturer", "model", "serialNumber")),
        "interconnection": _object({"exportLimitW": INTEGER, "importLimitW": INTEGER,
                                    "inverterCount": INTEGER, "phases": {"enum": [1, 2, 3]},
                                    "applicationRef": STRING}, ("exportLimitW",)),
        "aggregator": LFDI}, ("customer", "servicePoint", "device", "interconnection")),
    "DeviceReplacement": _object({
        "lFDI": LFDI, "sFDI": INTEGER, "serialNumber": STRING, "manufacturer": STRING, "model": STRING,
        "deviceCategory": STRING, "nameplate": {"type": "object", "description": "as in DeviceInput"},
        "settings": {"type": "object", "description": "as in DeviceInput"}}, ("lFDI", "serialNumber"),
        "the new device; manufacturer/model, nameplate and settings default to the old one's"),
    "EnrollmentRequest": _object({"program": _REF}, ("program",)),
    "Decision": _object({"reason": STRING}, (), "reason is required to reject"),
    "ServiceTask": _object({
        "id": ID, "kind": {"enum": ["enroll", "unenroll", "interconnect", "replace"]}, "state": {"enum": _TASK_STATES},
        "derAssetId": nullable(ID), "enrollmentId": nullable(ID), "payload": {"type": "object"},
        "approval": nullable(_object({"decision": {"enum": ["approved", "rejected"]}, "reason": _NULL_STRING,
                                      "at": INTEGER})),
        "reasons": {**_PROBLEMS, "description": "why it ended in Error, each naming its rule"},
        "created": INTEGER, "updated": INTEGER},
        ("id", "kind", "state", "derAssetId", "enrollmentId", "payload", "approval", "reasons", "created", "updated")),
    "ServiceTaskCreated": _object({"serviceTask": ref("ServiceTask")}, ("serviceTask",)),
    "Enrollment": _object({"id": ID, "derAssetId": ID, "programId": ID,
                           "status": {"enum": ["Pending", "Enrolled", "Error", "Cancelled", "Unenrolled"]},
                           "syncStatus": _NULL_STRING, "syncReason": _NULL_STRING, "created": INTEGER,
                           "updated": INTEGER},
                          ("id", "derAssetId", "programId", "status", "syncStatus", "syncReason", "created",
                           "updated")),
    "EnrollmentCreated": _object({"enrollment": ref("Enrollment"), "serviceTask": ref("ServiceTask")},
                                 ("enrollment", "serviceTask")),
    "DERAsset": _object({
        "id": ID, "customerId": ID, "servicePointId": ID, "deviceModelId": ID, "manufacturer": STRING,
        "model": STRING, "serialNumber": _NULL_STRING, "lFDI": LFDI, "endDeviceId": nullable(ID),
        "endDevice": nullable(HREF), "nameplate": {"type": "object", "description": "its DERCapability"},
        "interconnection": nullable({"type": "object"}), "status": {"enum": ["active", "retired"]},
        "replacedBy": nullable(ID), "replaces": nullable(ID), "created": INTEGER,
        "enrollments": {"type": "array", "items": ID}},
        ("id", "customerId", "servicePointId", "deviceModelId", "lFDI", "status", "enrollments")),
    "Registration": _object({
        "derAsset": ref("DERAsset"),
        "endDevice": _object({"id": ID, "href": HREF, "lFDI": LFDI, "sFDI": INTEGER, "owner": LFDI,
                              "enabled": BOOLEAN}),
        "enrollment": ref("Enrollment"), "serviceTask": ref("ServiceTask")},
        ("derAsset", "endDevice", "enrollment", "serviceTask")),
})
for _name in ("Customer", "Tariff", "AssetType", "DeviceModel", "Aggregator", "ServiceTask", "Enrollment",
              "DERAsset"):
    COMPONENTS[_name + "List"] = _items(_name)

CUSTOMER_ID = _param("customer_id", "customer id")
ACCOUNT_ID = _param("account_id", "account id")
SERVICE_POINT_ID = _param("service_point_id", "service point id")
TARIFF_ID = _param("tariff_id", "tariff id")
ASSET_TYPE_ID = _param("asset_type_id", "asset type id")
DEVICE_MODEL_ID = _param("device_model_id", "device model id")
TASK_ID = _param("task_id", "service task id")
ENROLLMENT_ID = _param("enrollment_id", "enrollment id")
DER_ASSET_ID = _param("der_asset_id", "DER asset id")
_TAKEN = {409: "an external id or code is taken"}
_IN_USE = {409: "still in use (named in the answer)"}
_CANNOT = {409: "the task's state does not allow it"}

PATHS.update({
    "/customers": {
        "post": op("Create a customer with its accounts and service points", {201: _answer("created", "Customer")},
                   body="CustomerInput", errors=_TAKEN),
        "get": op("List customers", {200: _answer("all, by id", "CustomerList")})},
    "/customers/{customer_id}": {
        "get": op("Get a customer with accounts, service points, tariffs and aggregators",
                  {200: _answer("it", "Customer")}, (CUSTOMER_ID,)),
        "patch": op("Change a customer's name or status; deactivating an active customer (a move-out) unenrolls its "
                    "devices at once, with the reason, and cancels its open tasks",
                    {200: _answer("it", "Customer")}, (CUSTOMER_ID,),
                    "CustomerPatch"),
        "delete": op("Delete a customer", NO_CONTENT, (CUSTOMER_ID,), errors={409: "it has DER assets"})},
    "/customers/{customer_id}/accounts": {
        "post": op("Add an account (with service points)", {201: _answer("created", "Account")}, (CUSTOMER_ID,),
                   "AccountInput", _TAKEN)},
    "/customers/{customer_id}/tariffs/{tariff_id}": {
        "put": op("Record the customer's acceptance of a tariff", NO_CONTENT, (CUSTOMER_ID, TARIFF_ID)),
        "delete": op("Withdraw it", NO_CONTENT, (CUSTOMER_ID, TARIFF_ID))},
    "/accounts/{account_id}": {
        "get": op("Get an account", {200: _answer("it", "Account")}, (ACCOUNT_ID,)),
        "patch": op("Change an account's status", {200: _answer("it", "Account")}, (ACCOUNT_ID,), "AccountPatch")},
    "/accounts/{account_id}/service-points": {
        "post": op("Add a service point", {201: _answer("created", "ServicePoint")}, (ACCOUNT_ID,),
                   "ServicePointInput", _TAKEN)},
    "/service-points/{service_point_id}": {
        "get": op("Get a service point", {200: _answer("it", "ServicePoint")}, (SERVICE_POINT_ID,)),
        "patch": op("Change a service point's address or network location", {200: _answer("it", "ServicePoint")},
                    (SERVICE_POINT_ID,), "ServicePointPatch"),
        "delete": op("Delete a service point", NO_CONTENT, (SERVICE_POINT_ID,), errors={409: "it has DER assets"})},
    "/tariffs": {
        "post": op("Create a tariff", {201: _answer("created", "Tariff")}, body="TariffInput", errors=_TAKEN),
        "get": op("List tariffs", {200: _answer("all", "TariffList")})},
    "/tariffs/{tariff_id}": {
        "get": op("Get a tariff", {200: _answer("it", "Tariff")}, (TARIFF_ID,)),
        "patch": op("Change a tariff", {200: _answer("it", "Tariff")}, (TARIFF_ID,), "TariffPatch"),
        "delete": op("Delete a tariff", NO_CONTENT, (TARIFF_ID,), errors=_IN_USE)},
    "/asset-types": {
        "post": op("Create an asset type", {201: _answer("created", "AssetType")}, body="AssetTypeInput",
                   errors=_TAKEN),
        "get": op("List asset types", {200: _answer("all", "AssetTypeList")})},
    "/asset-types/{asset_type_id}": {
        "get": op("Get an asset type", {200: _answer("it", "AssetType")}, (ASSET_TYPE_ID,)),
        "patch": op("Change an asset type", {200: _answer("it", "AssetType")}, (ASSET_TYPE_ID,), "AssetTypePatch"),
        "delete": op("Delete an asset type", NO_CONTENT, (ASSET_TYPE_ID,), errors=_IN_USE)},
    "/device-models": {
        "post": op("Add a device model (manufacturer, model, nameplate specification)",
                   {201: _answer("created", "DeviceModel")}, body="DeviceModelInput", errors=_TAKEN),
        "get": _described(op("List device models", {200: _answer("by manufacturer, model", "DeviceModelList")}),
                          "Query (optional): manufacturer=...")},
    "/device-models/{device_model_id}": {
        "get": op("Get a device model", {200: _answer("it", "DeviceModel")}, (DEVICE_MODEL_ID,)),
        "patch": op("Change a device model's asset type or specification", {200: _answer("it", "DeviceModel")},
                    (DEVICE_MODEL_ID,), "DeviceModelPatch"),
        "delete": op("Delete a device model", NO_CONTENT, (DEVICE_MODEL_ID,), errors=_IN_USE)},
    "/aggregators": {
        "post": op("Add an aggregator", {201: _answer("created", "Aggregator")}, body="AggregatorInput",
                   errors={409: "the LFDI is known already"}),
        "get": op("List aggregators", {200: _answer("all, by name", "AggregatorList")})},
    "/aggregators/{lfdi}": {
        "get": op("Get an aggregator", {200: _answer("it", "Aggregator")}, (LFDI_PARAM,),
                  errors={400: "lfdi is not 40 hex digits"}),
        "patch": op("Change an aggregator (suspend it, say)", {200: _answer("it", "Aggregator")}, (LFDI_PARAM,),
                    "AggregatorPatch")},
    "/aggregators/{lfdi}/customers/{customer_id}": {
        "put": op("Authorise the aggregator for a customer", NO_CONTENT, (LFDI_PARAM, CUSTOMER_ID),
                  errors={400: "lfdi is not 40 hex digits"}),
        "delete": op("Withdraw that", NO_CONTENT, (LFDI_PARAM, CUSTOMER_ID),
                     errors={400: "lfdi is not 40 hex digits"})},
    "/programs/{program_id}/rules": {
        "put": op("Set the program's eligibility and event constraints", {200: _answer("them", "ProgramRules")},
                  (PROGRAM_ID,), "ProgramRulesInput",
                  {409: "the code is taken; or, for a program without rules so far, groups holding it have members "
                        "not enrolled in it (each one, with why): with rules it reaches devices only through their "
                        "enrollment"}),
        "get": op("Get the program's rules", {200: _answer("them (empty when none)", "ProgramRules")},
                  (PROGRAM_ID,)),
        "delete": op("Drop the program's rules", NO_CONTENT, (PROGRAM_ID,))},
    "/registerDERDevice": {
        "post": _described(op("Register a customer's DER and enroll it (registerDERDevice)",
                              {201: _answer("the DER asset, its EndDevice (disabled until enrolled), the "
                                            "enrollment and its Pending enroll task", "Registration")},
                              body="RegisterDERDevice", errors={409: "Idempotency-Key reused with another body"}),
                           "Checked against the customer and service point, the catalog (model, nameplate within "
                           "its spec, the asset type's DERType), the aggregator, the program's eligibility "
                           "(and tariff), and the DER registration flag (an approved interconnection). Every "
                           "problem comes back at once, each naming its rule; nothing is created." + _IDEMPOTENT)},
    "/interconnectDER": {
        "post": _described(op("Ask for an interconnection (interconnectDER)",
                              {201: _answer("its interconnect task, Pending engineering approval",
                                            "ServiceTaskCreated")},
                              body="InterconnectDER", errors={409: "Idempotency-Key reused with another body"}),
                           "Checked against the manufacturer/model combinations and the model's ranges."
                           + _IDEMPOTENT)},
    "/service-tasks": {
        "get": _described(op("List service tasks", {200: _answer("by id", "ServiceTaskList")}),
                          "Query (optional): state=" + "|".join(_TASK_STATES) + ", kind=enroll|unenroll|"
                          "interconnect|replace")},
    "/service-tasks/{task_id}": {
        "get": op("Get a service task", {200: _answer("it", "ServiceTask")}, (TASK_ID,))},
    "/service-tasks/{task_id}/process": {
        "post": op("Process a Pending task now (the monitor does every few seconds)",
                   {200: _answer("it, Completed or Error with reasons", "ServiceTask")}, (TASK_ID,),
                   errors={409: "not Pending, or an interconnection awaiting approval"})},
    "/service-tasks/{task_id}/approve": {
        "post": op("Engineering approves an interconnection (which then completes)",
                   {200: _answer("it", "ServiceTask")}, (TASK_ID,), errors=_CANNOT)},
    "/service-tasks/{task_id}/reject": {
        "post": op("Engineering rejects an interconnection, with a reason", {200: _answer("it, in Error", "ServiceTask")},
                   (TASK_ID,), "Decision", _CANNOT)},
    "/service-tasks/{task_id}/cancel": {
        "post": op("Cancel a Pending task", {200: _answer("it, Cancelled", "ServiceTask")}, (TASK_ID,),
                   errors=_CANNOT)},
    "/enrollments": {
        "get": _described(op("List enrollments", {200: _answer("by id", "EnrollmentList")}),
                          "Query (optional): derAssetId, programId, status")},
    "/enrollments/{enrollment_id}": {
        "get": op("Get an enrollment", {200: _answer("it", "Enrollment")}, (ENROLLMENT_ID,))},
    "/enrollments/{enrollment_id}/unenroll": {
        "post": _described(op("Unenroll (an unenroll task)", {201: _answer("the task", "ServiceTaskCreated")},
                              (ENROLLMENT_ID,), errors={409: "not Enrolled, or a task for it is open"}),
                           "Completing it takes the EndDevice out of the program's group (and its location's "
                           "groups, and disables it, if nothing else is enrolled)." + _IDEMPOTENT)},
    "/der-assets": {
        "get": _described(op("List DER assets", {200: _answer("by id", "DERAssetList")}),
                          "Query (optional): status=active|retired")},
    "/der-assets/{der_asset_id}": {
        "get": op("Get a DER asset", {200: _answer("it", "DERAsset")}, (DER_ASSET_ID,))},
    "/der-assets/{der_asset_id}/replace": {
        "post": _described(op("Replace the device (a replace task)", {201: _answer("the task", "ServiceTaskCreated")},
                              (DER_ASSET_ID,), "DeviceReplacement",
                              {409: "the asset is retired, or a task for it is open"}),
                           "Completing it gives the enrollments to a new DER asset and EndDevice (the new LFDI) "
                           "and retires the old ones, history kept." + _IDEMPOTENT)},
    "/der-assets/{der_asset_id}/enrollments": {
        "post": _described(op("Enroll the asset in a further program", {201: _answer("the enrollment and its task",
                                                                                     "EnrollmentCreated")},
                              (DER_ASSET_ID,), "EnrollmentRequest",
                              {409: "retired, or already enrolled in that program"}),
                           "Eligibility is checked now and again when the task is processed." + _IDEMPOTENT)},
})

# -- event participation: device scores and load-reduction forecasts (routes_participation) ----------------

NUMBER = {"type": "number"}
_COMPONENT_NAMES = ("capacity", "availability", "participation", "opt_outs", "communication")
_EVENT_COUNTS = ("counted", "participated", "declined", "acknowledged", "silent")

COMPONENTS.update({
    "DeviceScore": _object({
        "endDeviceId": ID, "lFDI": LFDI, "servicePoint": nullable(STRING),
        "score": {"type": "number", "minimum": 0, "maximum": 100},
        "available": BOOLEAN,
        "reasons": {"type": "array", "items": STRING, "description": "why it is unavailable (empty if available)"},
        "components": _object({n: {"type": "number", "minimum": 0, "maximum": 1} for n in _COMPONENT_NAMES},
                              _COMPONENT_NAMES, "each component of the score, in [0, 1]"),
        "events": _object({n: INTEGER for n in _EVENT_COUNTS}, _EVENT_COUNTS,
                          "the program's events in the score's look-back, by outcome"),
        "computed": INTEGER},
        ("endDeviceId", "lFDI", "servicePoint", "score", "available", "reasons", "components", "events",
         "computed")),
    "DeviceScores": _object({
        "programId": ID, "computed": nullable(INTEGER),
        "items": {"type": "array", "items": ref("DeviceScore")},
        "syncMessagesQueued": {"type": "integer", "description": "after a recomputation: messages queued"}},
        ("programId", "computed", "items")),
    "ForecastRequest": _object({
        "interval": ref("DateTimeInterval"),
        "DERControlBase": ref("DERControlBase"),
        "endDevices": {"type": "array", "items": ID,
                       "description": "the devices to forecast; absent: every device the program reaches"}},
        ("interval", "DERControlBase")),
    "Forecast": _object({
        "programId": ID,
        "interval": ref("DateTimeInterval"),
        "totalKW": NUMBER,
        "servicePoints": {"type": "array", "items": _object(
            {"servicePointId": nullable(ID), "servicePoint": nullable(STRING), "kW": NUMBER,
             "endDevices": {"type": "array", "items": ID}},
            ("servicePointId", "servicePoint", "kW", "endDevices"))},
        "endDevices": {"type": "array", "items": _object(
            {"endDeviceId": ID, "lFDI": LFDI, "servicePointId": nullable(ID), "servicePoint": nullable(STRING),
             "kW": NUMBER, "baselineKW": NUMBER, "eventKW": NUMBER, "likeDays": INTEGER,
             "basis": {"enum": ["history", "recent", "no history"]}},
            ("endDeviceId", "lFDI", "servicePointId", "servicePoint", "kW", "baselineKW", "eventKW", "likeDays",
             "basis"))}},
        ("programId", "interval", "totalKW", "servicePoints", "endDevices")),
})

PATHS.update({
    "/programs/{program_id}/scores": {
        "get": _described(op("The program's device scores, as last computed", {200: {
            "description": "best first (available ones first); computed null if never scored",
            "content": {"application/json": {"schema": ref("DeviceScores")}}}}, (PROGRAM_ID,)),
            "Scores are computed every score_interval seconds by the server, and on demand (POST). See "
            "docs/participation.md for the formula."),
        "post": _described(op("Score the program's devices now", {200: {
            "description": "the new scores", "content": {"application/json": {"schema": ref("DeviceScores")}}}},
            (PROGRAM_ID,)),
            "Stores them in place of the last ones, writes data_dir/exports/scores/program-{id}.json and .csv, "
            "and sends a \"device-scores\" message to every sync endpoint.")},
    "/programs/{program_id}/scores/{end_device_id}": {
        "get": op("One device's score in the program", {200: {
            "description": "it", "content": {"application/json": {"schema": ref("DeviceScore")}}}},
            (PROGRAM_ID, END_DEVICE_ID))},
    "/programs/{program_id}/forecast": {
        "post": _described(op("Forecast the load reduction of a control", {200: {
            "description": "kW per device, per service point and in all",
            "content": {"application/json": {"schema": ref("Forecast")}}}}, (PROGRAM_ID,), "ForecastRequest"),
            "From each device's telemetry on like days in the same window, its capability and the control's "
            "modes and levels (docs/participation.md). The window lasts at most a day. Nothing is stored.")},
})

# -- utility events with stages (routes_utility_events) ----------------------------------------------

_STAGE_STATUSES = ["SCHEDULED", "IN PROGRESS", "COMPLETED", "CANCELED"]
_OUTCOMES = ["participated", "partially", "opted out", "failed", "no response", "cancelled"]
COMPONENTS.update({
    "UtilityEventInput": _object({
        "mRID": {"type": "string", "description": "32 hex digits; generated when absent"},
        "description": {"type": "string", "maxLength": 192},
        "stages": {"type": "array", "minItems": 1, "maxItems": 24, "items": {
            **_extend(COMPONENTS["ControlInput"], {"programId": ID, "targetKW": {
                "type": "number", "not": {"const": 0}, "minimum": -MAX_TARGET_KW, "maximum": MAX_TARGET_KW,
                "description": "reserve devices until their forecast load reduction reaches this (negative: "
                               "load added, as by curtailed generation); without it every eligible device is "
                               "called"}},
                      ("programId",)),
            "description": "a program event: the body of POST /programs/{id}/controls, with programId and "
                           "targetKW (optional). Stages may not overlap."}}}, ("stages",)),
    "StageTransition": _object({
        "status": {"enum": _STAGE_STATUSES}, "at": INTEGER, "recorded": INTEGER,
        "sync": {"type": "array", "items": _object({"endpointId": ID, "state": {"enum": _SYNC_STATES}}),
                 "description": "the sync message reporting it to each endpoint"}}),
    "Stage": _object({
        "id": ID, "position": ID, "programId": ID,
        "dispatchProgramId": nullable({**ID, "description": "a stage with a target: the DERProgram made for it, "
                                       "which holds its DERControl"}),
        "dispatchGroupId": nullable({**ID, "description": "a stage with a target: the group of the devices it "
                                     "reserved, assigned that DERProgram"}),
        "controlId": ID, "controlHref": HREF, "mRID": STRING,
        "start": INTEGER, "duration": INTEGER, "targetKW": nullable({"type": "number"}),
        "status": {"enum": _STAGE_STATUSES}, "reported": nullable({"enum": _STAGE_STATUSES}),
        "cancelledAt": nullable(INTEGER), "calledEndDevices": INTEGER, "settledAt": nullable(INTEGER),
        "exportedAt": nullable(INTEGER),
        "transitions": {"type": "array", "items": ref("StageTransition"), "description": "not in lists"}}),
    "UtilityEvent": _object({
        "id": ID, "mRID": STRING, "description": nullable(STRING), "created": INTEGER,
        "status": {"enum": _STAGE_STATUSES}, "cancelledAt": nullable(INTEGER), "archivedAt": nullable(INTEGER),
        "stages": {"type": "array", "items": ref("Stage")}}),
    "Participant": _object({
        "endDeviceId": ID, "endDeviceLFDI": LFDI, "calledAt": INTEGER, "controlMRID": STRING,
        "visibleAt": INTEGER,
        "outcome": {**nullable({"enum": _OUTCOMES}), "description": (
            "derived once, stage_outcome_delay seconds after the stage ended, from the device's Responses "
            "(2030.5 Response.status), the first rule that applies: cancelled (the stage never started); no "
            "response (none); failed (rejected 252-254, cannot be displayed 12, or aborted 13/14 without "
            "starting); partially (partial opt-out/in 8/9, or started/completed/opted in 2/3/5 and also opted "
            "out 4/10 or aborted); opted out (4, 10); participated (2, 3, 5); otherwise no response (only "
            "received 1 or acknowledged 11). null until settled")},
        "responses": nullable({"type": "array", "items": _object(
            {"status": INTEGER, "createdDateTime": INTEGER, "received": INTEGER})})}),
    "StageOutcomes": _object({
        "eventId": ID, "eventMRID": STRING, "stageId": ID, "stagePosition": ID, "programId": ID, "controlId": ID,
        "controlMRID": STRING, "start": INTEGER, "duration": INTEGER, "status": {"enum": _STAGE_STATUSES},
        "settledAt": nullable(INTEGER),
        "counts": nullable(_object({o: INTEGER for o in _OUTCOMES})),
        "devices": {"type": "array", "items": ref("Participant")}}),
})
COMPONENTS["ReservedDevice"] = _object({
    "endDeviceId": ID, "endDeviceLFDI": LFDI, "reserved": BOOLEAN, "reason": STRING,
    "score": {"type": "number"}, "available": BOOLEAN, "forecastKW": {"type": "number"}})
COMPONENTS["StageReservation"] = _object({
    "targetKW": nullable({"type": "number"}), "forecastKW": {"type": "number", "description": "of those reserved"},
    "met": BOOLEAN, "reservedEndDevices": INTEGER,
    "devices": {"type": "array", "items": ref("ReservedDevice"), "description": "in the order considered"}})
COMPONENTS["UtilityEventList"] = _items("UtilityEvent")
EVENT_ID = _param("event_id", "utility event id")
POSITION = _param("position", "the stage's position in its event (1, 2, ...)")
PATHS.update({
    "/utility-events": {
        "post": op("Create a utility event with its stages (each a program event)",
                   {201: _answer("created, its stages SCHEDULED (Location: /utility-events/{id})", "UtilityEvent")},
                   body="UtilityEventInput", errors=MRID_TAKEN),
        "get": _described(op("List utility events", {200: _answer("by id", "UtilityEventList")}),
                          "Query (optional): archived=true lists the archived events too")},
    "/utility-events/{event_id}": {
        "get": op("Get a utility event, its stages and their reported transitions",
                  {200: _answer("it", "UtilityEvent")}, (EVENT_ID,))},
    "/utility-events/{event_id}/cancel": {
        "post": op("Cancel the event: every stage that has not ended is cancelled", {200: _answer("it",
                   "UtilityEvent")}, (EVENT_ID,), errors={409: "cancelled already, or every stage has ended"})},
    "/utility-events/{event_id}/archive": {
        "post": op("Archive the event (it and its record stay, out of the lists)",
                   {200: _answer("it", "UtilityEvent")}, (EVENT_ID,),
                   errors={409: "a stage is scheduled or in progress"})},
    "/utility-events/{event_id}/stages/{position}/cancel": {
        "post": op("Cancel one stage", {200: _answer("the event", "UtilityEvent")}, (EVENT_ID, POSITION),
                   errors={409: "the stage is cancelled or completed already"})},
    "/utility-events/{event_id}/stages/{position}/reservation": {
        "get": op("Which devices the stage considered, and why it called each or not",
                  {200: _answer("each device, in the order considered", "StageReservation")}, (EVENT_ID, POSITION))},
    "/utility-events/{event_id}/stages/{position}/outcomes": {
        "get": op("The stage's participation record and outcomes",
                  {200: _answer("each device called; outcomes once settled", "StageOutcomes")},
                  (EVENT_ID, POSITION))},
})

_DECIMAL_TEXT = {"type": "string", "pattern": r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$",
                 "description": "an exact decimal, as text"}
COMPONENTS.update({
    "PricingInput": _object({
        "kind": {"enum": ["fixed", "hourly", "market"]},
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$", "description": "ISO 4217 (default USD)"},
        "pricePerKWh": {"oneOf": [_DECIMAL_TEXT, {"type": "number"}], "description": "fixed pricing only"}},
        ("kind",)),
    "Pricing": _object({"programId": ID, "kind": {"enum": ["fixed", "hourly", "market"]}, "currency": STRING,
                        "pricePerKWh": nullable(_DECIMAL_TEXT)}),
    "PriceRows": _object({"prices": {"type": "array", "items": _object({
        "start": {"oneOf": [INTEGER, STRING], "description": "Unix seconds, or ISO 8601 with a UTC offset"},
        "duration": {"type": "integer", "description": "hourly: 3600; market: 300, 900, 1800 or 3600"},
        "pricePerKWh": {"oneOf": [_DECIMAL_TEXT, {"type": "number"}]}}, ("start", "duration", "pricePerKWh"))}},
        ("prices",)),
    "PriceLoad": _object({"programId": ID, "inserted": INTEGER, "replaced": INTEGER, "unchanged": INTEGER}),
    "PriceWindow": _object({
        "programId": ID, "kind": {"enum": ["fixed", "hourly", "market"]}, "currency": STRING,
        "pricePerKWh": nullable(_DECIMAL_TEXT), "from": INTEGER, "to": INTEGER, "complete": BOOLEAN,
        "segments": {"type": "array", "items": _object({
            "start": INTEGER, "duration": INTEGER,
            "pricePerKWh": nullable({**_DECIMAL_TEXT, "description": "null: no price covers it"})})}}),
})
_load_prices = op("Load hourly or market prices (CSV or JSON)", {200: _answer("what changed", "PriceLoad")},
                  (PROGRAM_ID,), body="PriceRows",
                  errors={409: "the program has no pricing, or fixed pricing",
                          415: "Content-Type is neither text/csv nor application/json"})
_load_prices["requestBody"] = {"required": True, "content": {
    "text/csv": {"schema": {"type": "string", "description": "a header line start,duration,pricePerKWh, then one "
                                                             "price per line"}},
    JSON: {"schema": ref("PriceRows")}}}
PATHS.update({
    "/programs/{program_id}/pricing": {
        "put": op("Set the program's pricing", {200: _answer("it", "Pricing")}, (PROGRAM_ID,), "PricingInput"),
        "get": op("The program's pricing", {200: _answer("it", "Pricing")}, (PROGRAM_ID,))},
    "/programs/{program_id}/prices": {
        "post": _load_prices,
        "get": _described(op("The prices over a window", {200: _answer("the window cut where its price changes",
                                                                        "PriceWindow")}, (PROGRAM_ID,),
                             errors={400: "from and to missing or wrong"}),
                          "Query: from and to, Unix seconds (at most a year apart)")},
})

_MONEY = {**_DECIMAL_TEXT, "description": "an exact decimal amount, as text"}
_BATCH_STATES = ["pending", "billed", "rejected"]
COMPONENTS.update({
    "Credit": _object({
        "stageId": ID, "endDeviceId": ID, "endDeviceLFDI": LFDI, "customerId": nullable(ID),
        "accountId": nullable(ID), "servicePointId": nullable(ID), "currency": STRING,
        "baselineKWh": nullable(_DECIMAL_TEXT), "measuredKWh": nullable(_DECIMAL_TEXT),
        "avoidedKWh": nullable(_DECIMAL_TEXT), "paidKWh": _DECIMAL_TEXT, "energy": _MONEY, "perEvent": _MONEY,
        "reservation": _MONEY, "penalty": {**_MONEY, "description": "subtracted"}, "total": _MONEY,
        "quality": {"enum": ["complete", "estimated", "incomplete"]}, "computedAt": INTEGER,
        "billingBatchId": nullable(ID), "billedAt": nullable(INTEGER),
        "billingReason": nullable({**STRING, "description": "why billing last refused it"})}),
    "AccountCredits": _object({
        "accountId": ID, "items": {"type": "array", "items": ref("Credit")},
        "unbilled": {"type": "object", "additionalProperties": _MONEY, "description": "currency -> amount"},
        "pending": {"type": "object", "additionalProperties": _MONEY,
                    "description": "of the unbilled, what is on its way to billing"}}),
    "BillingRun": _object({"accountIds": {"type": "array", "items": ID}}),
    "BillingBatch": _object({
        "id": ID, "accountId": ID, "currency": STRING, "amount": _MONEY,
        "trigger": {"enum": ["periodic", "move-out", "unenrollment", "replacement", "operator"]},
        "created": INTEGER, "state": {"enum": _BATCH_STATES}, "reason": nullable(STRING),
        "settledAt": nullable(INTEGER), "credits": INTEGER}),
    "BillingBatches": _object({"batches": {"type": "array", "items": ref("BillingBatch")}}),
})
COMPONENTS["BillingBatchList"] = _items("BillingBatch")
PATHS.update({
    "/accounts/{account_id}/credits": {
        "get": _described(op("The account's settlement credits", {200: _answer("by stage", "AccountCredits")},
                             (ACCOUNT_ID,)), "Query: unbilled=true|false (default: all)")},
    "/billing/run": {
        "post": op("Send unbilled credits to billing now", {200: _answer("the batches queued", "BillingBatches")},
                   body="BillingRun")},
    "/billing/batches": {
        "get": _described(op("Billing batches", {200: _answer("by id", "BillingBatchList")}),
                          "Query (optional): state, accountId")},
    "/billing/batches/{batch_id}": {
        "get": op("A billing batch", {200: _answer("it", "BillingBatch")},
                  (_param("batch_id", "billing batch id"),))},
})

# -- interval data for settlement (routes_intervals) ------------------------------------------------------

KWH = {"type": "string", "pattern": "^-?[0-9]", "description": "kWh, the exact decimal as a string; positive: "
       "drawn from the grid at the service point, negative: delivered to it"}
_INTERVAL_READING = _object({
    "servicePoint": {"type": "string", "maxLength": 64, "description": "the service point's externalId"},
    "start": {"anyOf": [INTEGER, STRING], "description": "Unix seconds, or ISO 8601 with a UTC offset"},
    "duration": {"type": "integer", "minimum": 60, "maximum": 86400,
                 "description": "seconds; divides a day evenly (300, 900, 1800, 3600, ...)"},
    "kWh": {"anyOf": [{"type": "number"}, STRING], "description": "a decimal, read exactly as written; without "
            "flow, negative is energy delivered to the grid"},
    "quality": {"enum": ["actual", "estimated"], "description": "default actual"},
    "flow": {"enum": ["import", "export"], "description": "optional: import (drawn from the grid, the default) or "
             "export (delivered to it), kWh then a magnitude"}},
    ("servicePoint", "start", "duration", "kWh"))
COMPONENTS.update({
    "IntervalFile": _object({"readings": {"type": "array", "items": _INTERVAL_READING}}, ("readings",)),
    "IntervalLoad": _object({
        "batchId": nullable({**ID, "description": "the batch recorded; when nothing changed, an earlier batch of "
                                                 "the same content (null if none)"}),
        "rows": INTEGER, "inserted": INTEGER,
        "replaced": {"type": "integer", "description": "readings whose duration, kWh or quality changed"},
        "unchanged": INTEGER}, ("batchId", "rows", "inserted", "replaced", "unchanged")),
    "IntervalWindow": _object({
        "servicePointId": ID, "servicePoint": STRING, "source": {"enum": ["cis", "telemetry"]},
        "from": INTEGER, "to": INTEGER,
        "readings": {"type": "array", "items": _object({
            "start": INTEGER, "duration": INTEGER, "kWh": KWH, "quality": {"enum": ["actual", "estimated"]},
            "estimated": BOOLEAN}, ("start", "duration", "kWh", "quality", "estimated")),
            "description": "those that overlap the window, by start"},
        "gaps": {"type": "array", "items": _object({"start": INTEGER, "end": INTEGER, "duration": INTEGER},
                                                   ("start", "end", "duration")),
                 "description": "the spans of the window no reading covers (nothing is invented for them)"},
        "estimatedCount": INTEGER,
        "totalKWh": {**KWH, "description": "the sum of the readings listed (each whole)"},
        "coverage": _object({"seconds": INTEGER, "actual": INTEGER, "estimated": INTEGER, "missing": INTEGER,
                             "complete": BOOLEAN}, description="seconds of the window covered")},
        ("servicePointId", "servicePoint", "source", "from", "to", "readings", "gaps", "estimatedCount",
         "totalKWh", "coverage")),
})
_load = op("Load an interval file from the customer-billing system",
           {201: _answer("stored: something was inserted or replaced (a new batch)", "IntervalLoad"),
            200: _answer("nothing changed: every reading was stored already", "IntervalLoad")},
           body="IntervalFile", errors={413: "over interval_file_max_bytes (16 MiB by default)",
                                        415: "Content-Type is neither text/csv nor application/json"})
_load["requestBody"] = {"required": True, "content": {
    "text/csv": {"schema": {"type": "string", "description": "a header line servicePoint,start,duration,kWh "
                                                             "(quality and flow optional; any order), then one "
                                                             "reading a line"}},
    JSON: {"schema": ref("IntervalFile")}}}
PATHS.update({
    "/interval-data": {
        "post": _described(_load, "Query (optional): name= the file's name, kept with its batch. Every row is "
                           "checked (fields, a known service point, no interval twice or overlapping); a file with "
                           "any wrong row is refused whole (400, each problem with its line or index). A reading "
                           "is stored per service point and start: loading the same file again changes nothing, a "
                           "changed value replaces the stored one. See docs/settlement.md.")},
    "/service-points/{service_point_id}/intervals": {
        "get": _described(op("A service point's interval energy in a window, with its gaps",
                             {200: _answer("the readings, gaps and estimates", "IntervalWindow")},
                             (SERVICE_POINT_ID,), errors={400: "from, to or source missing or wrong"}),
                          "Query: from and to (required; Unix seconds or ISO 8601 with a UTC offset; at most "
                          "interval_window_max seconds apart), source=cis (the loaded files, the default) or "
                          "telemetry (derived from its devices' MirrorUsagePoints when read; docs/settlement.md)")},
})

COMPONENTS.update({
    "BaselineInput": _object({
        "method": {"type": "object", "description": "name: high-x-of-y, comparable-day or meter-before, and that "
                                                    "method's parameters (docs/settlement.md)"},
        "measurement": {"enum": ["auto", "cis", "telemetry"]}}, ("method",)),
    "Baseline": _object({"programId": ID, "method": {"type": "object"},
                         "measurement": {"enum": ["auto", "cis", "telemetry"]}}),
    "StageSettlement": _object({
        "eventMRID": STRING, "stageId": ID, "stagePosition": ID,
        "credits": {"type": "array", "items": ref("Credit")},
        "totals": {"type": "object", "additionalProperties": _MONEY, "description": "currency -> amount"}}),
})
PATHS.update({
    "/programs/{program_id}/baseline": {
        "put": op("Set the program's baseline method", {200: _answer("it", "Baseline")}, (PROGRAM_ID,),
                  "BaselineInput"),
        "get": op("The program's baseline method", {200: _answer("it (high-x-of-y until one is set)", "Baseline")},
                  (PROGRAM_ID,))},
    "/utility-events/{event_id}/stages/{position}/settlement": {
        "post": op("Settle the stage: kWh avoided and credits per device (again while unbilled)",
                   {200: _answer("the credits", "StageSettlement")}, (EVENT_ID, POSITION),
                   errors={409: "the stage has not ended"}),
        "get": op("The stage's credits", {200: _answer("as stored", "StageSettlement")}, (EVENT_ID, POSITION))},
})

COMPONENTS["Statement"] = _object({
    "customer": _object({"id": ID, "externalId": STRING, "name": STRING}),
    "accounts": {"type": "array", "items": _object({"id": ID, "externalId": STRING})},
    "from": INTEGER, "to": INTEGER,
    "events": {"type": "array", "items": {"type": "object", "description": "a Credit, with eventMRID, description, "
                                                                         "stagePosition, start, duration, outcome "
                                                                         "and profile ([start, end, baseline kWh, "
                                                                         "measured kWh] per interval)"}},
    "byEvent": {"type": "array", "items": _object({
        "eventMRID": STRING, "description": nullable(STRING), "stages": {"type": "array", "items": ID},
        "avoidedKWh": _DECIMAL_TEXT, "credits": {"type": "object", "additionalProperties": _MONEY}}),
        "description": "the customer's totals per event"},
    "avoidedKWh": _DECIMAL_TEXT,
    "production": {"type": "array", "items": _object({"servicePointId": ID, "servicePoint": STRING,
                                                        "producedKWh": _DECIMAL_TEXT})},
    "credits": {"type": "object", "additionalProperties": _MONEY},
    "billed": {"type": "object", "additionalProperties": _MONEY},
    "unbilled": {"type": "object", "additionalProperties": _MONEY}})
_statement_html = op("The customer's statement as an HTML document", {200: {"description": "text/html"}},
                     (_param("customer_id", "customer id"),), errors={400: "from and to missing or wrong"})
PATHS.update({
    "/customers/{customer_id}/statement": {
        "get": _described(op("The customer's statement", {200: _answer("it", "Statement")},
                             (_param("customer_id", "customer id"),), errors={400: "from and to missing or wrong"}),
                          "Query: from and to, Unix seconds: the stages that began in that period")},
    "/customers/{customer_id}/statement.html": {"get": _statement_html},
})

# -- the operator console (routes_console_*.py) --------------------------------------------------
_NULL_INT, _NULL_STR = nullable(INTEGER), nullable(STRING)
_POINTS = {"type": "array", "items": {"type": "array", "prefixItems": [INTEGER, {"type": "number"}],
                                      "minItems": 2, "maxItems": 2}, "description": "[epoch seconds, value]"}
_NAMED = nullable(_object({"id": ID, "name": STRING}, ("id", "name")))
COMPONENTS["DeviceSummary"] = _object({
    "end_device_id": ID, "lfdi": STRING, "sfdi": INTEGER, "enabled": BOOLEAN, "aggregator_lfdi": _NULL_STR,
    "customer": _NAMED, "service_point": _NAMED, "feeder": _NULL_STR, "last_contact": _NULL_INT},
    ("end_device_id", "lfdi", "sfdi", "enabled", "aggregator_lfdi", "customer", "service_point", "feeder",
     "last_contact"))
COMPONENTS["DeviceSummaryList"] = _items("DeviceSummary")
COMPONENTS["DeviceTree"] = _object({"lfdi": STRING, "resources": {"type": "array", "items": _object(
    {"href": STRING, "type": STRING, "depth": INTEGER, "status": INTEGER, "xml": STRING},
    ("href", "type", "depth", "status", "xml"))}}, ("lfdi", "resources"))
COMPONENTS["DeviceDERs"] = _object({"items": {"type": "array", "items": _object(
    {"href": STRING, "documents": _object({k: nullable({"type": "object"}) for k in (
        "DERCapability", "DERSettings", "DERStatus", "DERAvailability")})}, ("href", "documents"))}}, ("items",))
COMPONENTS["DeviceTelemetry"] = _object({"series": {"type": "array", "items": _object(
    {"mup": STRING, "description": _NULL_STR, "uom": _NULL_INT, "power_of_ten": INTEGER, "points": _POINTS},
    ("mup", "description", "uom", "power_of_ten", "points"))}}, ("series",))
COMPONENTS["DeviceResponses"] = _object({"items": {"type": "array", "items": _object(
    {"subject": STRING, "status": INTEGER, "status_name": STRING, "created_at": INTEGER, "control_id": _NULL_INT},
    ("subject", "status", "status_name", "created_at", "control_id"))}}, ("items",))
COMPONENTS["DeviceEnrollments"] = _object({"items": {"type": "array", "items": _object(
    {"enrollment_id": ID, "program_id": _NULL_INT, "program": _NULL_STR, "state": STRING, "sync_state": _NULL_STR,
     "last_error": _NULL_STR}, ("enrollment_id", "program_id", "program", "state", "sync_state", "last_error"))}},
    ("items",))
_WINDOW = {"start": INTEGER, "end": INTEGER, "status": STRING}
COMPONENTS["Timeline"] = _object({"items": {"type": "array", "items": _object({
    "kind": {"enum": ["utility-event", "control"]}, "id": ID, "program_id": INTEGER, "program": STRING,
    "description": _NULL_STR, **_WINDOW, "stages": {"type": "array", "items": _object(
        {"position": INTEGER, **_WINDOW, "control_id": _NULL_INT}, ("position", "start", "end", "control_id",
                                                                    "status"))}},
    ("kind", "id", "program_id", "program", "description", "start", "end", "status", "stages"))}}, ("items",))
COMPONENTS["ParticipationSummary"] = _object({
    "as_of": INTEGER,
    "counts": _object({k: INTEGER for k in ("reserved", "received", "started", "completed", "opted_out",
                                            "no_response")}),
    "devices": {"type": "array", "items": _object({"end_device_id": ID, "lfdi": STRING, "status": STRING},
                                                   ("end_device_id", "lfdi", "status"))}},
    ("as_of", "counts", "devices"))
COMPONENTS["PowerSeries"] = _object({"unit": {"const": "W"}, "start": INTEGER, "end": INTEGER, "points": _POINTS},
                                    ("unit", "start", "end", "points"))
COMPONENTS["ServiceTaskSummary"] = _object({"by_state": {"type": "object", "additionalProperties": INTEGER},
                                            "awaiting_approval": {"type": "array", "items": {"type": "object"}}},
                                           ("by_state", "awaiting_approval"))
COMPONENTS["EnrollmentSummary"] = _object({"by_sync_state": {"type": "object", "additionalProperties": INTEGER},
                                           "items": {"type": "array", "items": {"type": "object"}}},
                                          ("by_sync_state", "items"))
_BAD_QUERY = {400: "a query parameter is missing or wrong: each one named"}
_CONSOLE_EVENT = _param("event_id", "utility event id")
PATHS.update({
    "/devices/search": {"get": _described(op("Search EndDevices", {200: _answer("matches", "DeviceSummaryList")},
                                             errors=_BAD_QUERY),
                                          "Query: q; by (lfdi, sfdi, customer, service-point, feeder; absent: "
                                          "all); limit (1-500, 50)")},
    "/end-devices/{end_device_id}/summary": {"get": op("The EndDevice's summary", {
        200: _answer("it", "DeviceSummary")}, (END_DEVICE_ID,))},
    "/end-devices/{end_device_id}/tree": {"get": op("The 2030.5 tree as the device's client sees it", {
        200: _answer("each resource walked from /dcap", "DeviceTree")}, (END_DEVICE_ID,),
        errors={503: "the admin listener runs without the 2030.5 application"})},
    "/end-devices/{end_device_id}/ders": {"get": op("The device's DERs and their documents", {
        200: _answer("them", "DeviceDERs")}, (END_DEVICE_ID,))},
    "/end-devices/{end_device_id}/telemetry": {"get": _described(op("The device's mirrored readings", {
        200: _answer("per MirrorMeterReading", "DeviceTelemetry")}, (END_DEVICE_ID,), errors=_BAD_QUERY),
        "Query: since (epoch seconds; default: 24 h ago)")},
    "/end-devices/{end_device_id}/responses": {"get": op("The device's Responses, newest first", {
        200: _answer("them", "DeviceResponses")}, (END_DEVICE_ID,), errors=_BAD_QUERY)},
    "/end-devices/{end_device_id}/enrollments": {"get": op("The device's enrollments", {
        200: _answer("them", "DeviceEnrollments")}, (END_DEVICE_ID,))},
    "/timeline": {"get": _described(op("Events and utility events in a window", {200: _answer("them", "Timeline")},
                                       errors=_BAD_QUERY), "Query: from and to, epoch seconds")},
    "/controls/{control_id}/participation-summary": {"get": op("How far each called device got", {
        200: _answer("it", "ParticipationSummary")}, (CONTROL_ID,))},
    "/controls/{control_id}/power": {"get": op("The called devices' real power summed", {
        200: _answer("it", "PowerSeries")}, (CONTROL_ID,))},
    "/utility-events/{event_id}/participation": {"get": op("How far each called device got, over all stages", {
        200: _answer("it", "ParticipationSummary")}, (_CONSOLE_EVENT,))},
    "/utility-events/{event_id}/power": {"get": op("The called devices' real power summed", {
        200: _answer("it", "PowerSeries")}, (_CONSOLE_EVENT,))},
    "/service-tasks/summary": {"get": op("Service tasks by state, and those awaiting approval", {
        200: _answer("it", "ServiceTaskSummary")})},
    "/enrollments/summary": {"get": op("Enrollments by sync state, and the newest", {
        200: _answer("it", "EnrollmentSummary")})},
    "/sync/messages/{message_id}/retry": {"post": op("Send a failing sync message now, or a rejected one again", {
        200: {"description": "the message view, as GET /sync/messages/{id}"}},
        (_param("message_id", "sync message id"),), errors={409: "the message is neither failing nor rejected"})},
})
# -- observability (routes_observability) -----------------------------------------------------------------------
_EPOCH_OR_NULL = nullable(INTEGER)
_outbox = _object({"depth": INTEGER, "oldest_at": _EPOCH_OR_NULL, "failing": {"type": "array", "items": _object({
    "uri": STRING, "last_error": nullable(STRING), "attempts": INTEGER, "since": _EPOCH_OR_NULL})}},
    ("depth", "oldest_at", "failing"))
COMPONENTS.update({
    "Health": _object({"status": {"type": "string", "enum": ["ok"]}}, ("status",)),
    "Outboxes": _object({"notifications": _outbox, "sync": _outbox}, ("notifications", "sync")),
    "Connections": _object({"open": INTEGER, "clients": {"type": "array", "items": _object({
        "lfdi": nullable(STRING), "peer": STRING, "since": INTEGER, "requests": INTEGER})}}, ("open", "clients")),
    "Refusals": _object({
        "by_reason": {"type": "array", "items": _object({"reason": STRING, "kind": {"enum": ["tls", "http"]},
                                                         "count": INTEGER, "last_at": INTEGER})},
        "recent": {"type": "array", "items": _object({"at": INTEGER, "kind": STRING, "reason": STRING,
                                                      "status": nullable(INTEGER), "lfdi": nullable(STRING),
                                                      "path": nullable(STRING)})}}, ("by_reason", "recent")),
})
PATHS.update({
    "/metrics": {"get": _described(op("The server's metrics", {200: {"description": "Prometheus text format 0.0.4",
                                                                    "content": {"text/plain": {"schema": STRING}}}}),
                                   "Every worker's, summed; each metric is listed in docs/metrics.md.")},
    "/health": {"get": {**op("Whether the admin listener answers", {200: _answer("ok", "Health")}),
                        "security": [], "description": "No token needed."}},
    "/outboxes": {"get": op("The notification and enrollment-sync outboxes: depth, oldest item, failing receivers",
                            {200: _answer("both", "Outboxes")})},
    "/connections": {"get": op("The 2030.5 listener's open connections, every worker's",
                               {200: _answer("them", "Connections")})},
    "/refusals": {"get": _described(op("Refused 2030.5 clients: counts by reason, and the latest",
                                       {200: _answer("them", "Refusals")}, errors={400: "limit is wrong"}),
                                    "Query: limit (default 50, at most 200): how many of the latest to list. "
                                    "kind tls: the TLS handshake failed; http: a 4xx answer.")},
})

# -- the operator console's static files (console_files.py): no token --------------------------------------------
_REDIRECT = {"302": {"description": "to /console/"}}
_PAGE = {"200": {"description": "the console's page or one of its files (HTML, JavaScript, CSS)",
                 "content": {"text/html": {"schema": STRING}}},
         "404": _error("no console file of that name")}
PATHS.update({
    "/": {"get": {"summary": "The operator console", "security": [], "responses": _REDIRECT}},
    "/console": {"get": {"summary": "The operator console", "security": [], "responses": _REDIRECT}},
    "/console/": {"get": {"summary": "The operator console's page", "security": [], "responses": _PAGE}},
    "/console/{asset}": {"get": {"summary": "One of the console's files", "security": [], "responses": _PAGE,
                                 "parameters": [_param("asset", "a file's path under admin/console/", STRING)]}},
})

SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "der-gateway admin API", "version": "1",
             "description": "The operator's API: programs, events, groups, EndDevices and rates of the IEEE 2030.5 "
                            "server. JSON in and out; ids are integers; lists are {\"items\": [...]}. Every "
                            "error is {\"errors\": [{\"field\"?, \"reason\"}]}; a method a path does not support "
                            "answers 405."},
    "servers": [{"url": "/"}],
    "security": [{"bearer": []}],
    "paths": PATHS,
    "components": {"schemas": COMPONENTS,
                   "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                                  "description": "config.admin_token, or the generated one in "
                                                                 "data_dir/admin-token"}}},
}
