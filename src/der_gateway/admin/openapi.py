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
from .validation import required_fields
from .views import RESPONSE_STATUS_NAMES

JSON = "application/json"
Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


INTEGER = {"type": "integer"}
STRING = {"type": "string"}
BOOLEAN = {"type": "boolean"}
LFDI = {"type": "string", "pattern": "^[0-9A-Fa-f]{40}$", "description": "40 hex digits"}
ID = {"type": "integer", "minimum": 1}
HREF = {"type": "string", "description": "the 2030.5 resource's href on the device-facing server"}


# -- 2030.5 objects, from sep.model -------------------------------------------------

def _field_schema(p: codec.FieldPlan) -> Schema:
    if p.nested is not None:
        one = ref(p.nested.__name__)
    else:
        one = {int: INTEGER, bool: BOOLEAN, str: STRING}[p.scalar]
    return {"type": "array", "items": one} if p.many else one


def sep_object(cls: type, fields: tuple[str, ...] | None = None, optional: tuple[str, ...] = (),
               description: str | None = None) -> Schema:
    """The JSON form of a sep.model class (codec.to_data), limited to fields if given."""
    plans = [p for p in codec.plan(cls) if fields is None or p.name in fields]
    properties = {}
    for p in plans:
        schema = _field_schema(p)
        if p.csipaus:
            schema = {**schema, "description": "CSIP-AUS; accepted only when the server runs the csip-aus profile"}
        properties[p.name] = schema
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
        "cancelledAt": nullable(INTEGER)}),
    "Participation": _object({
        "controlId": ID, "mRID": STRING,
        "targeted": {"type": "integer", "description": "enabled EndDevices in groups the program is assigned to"},
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
    "MembersAdded": _object({"added": INTEGER, "endDeviceCount": INTEGER}, ("added", "endDeviceCount")),
    "EndDeviceCreate": _object({
        "lFDI": LFDI, "sFDI": {"type": "integer", "description": "must be the one derived from lFDI"},
        "deviceCategory": {"type": "string", "pattern": "^[0-9A-Fa-f]{1,8}$"},
        "owner": {**LFDI, "description": "the client certificate's LFDI that may act for it (default: its own)"}},
        ("lFDI",)),
    "EndDevicePatch": _object({"enabled": BOOLEAN, "postRate": nullable({"type": "integer", "minimum": 1})}),
    "EndDevice": _object({
        "id": ID, "href": HREF, "lFDI": LFDI, "sFDI": INTEGER, "owner": LFDI, "deviceCategory": nullable(STRING),
        "enabled": BOOLEAN, "postRate": nullable(INTEGER), "changedTime": INTEGER, "dateTimeRegistered": INTEGER,
        "pIN": INTEGER, "groups": {"type": "array", "items": ID, "description": "not in lists"},
        "access": {"type": "array", "items": LFDI, "description": "granted clients; not in lists"}},
        ("id", "href", "lFDI", "sFDI", "owner", "deviceCategory", "enabled", "postRate", "changedTime",
         "dateTimeRegistered", "pIN")),
    "RateSet": _object({"resource": {"enum": list(RESOURCES)},
                        "pollRate": nullable({"type": "integer", "minimum": 1}),
                        "postRate": nullable({"type": "integer", "minimum": 1,
                                              "description": f"only for {', '.join(POSTING)}"})},
                       ("resource",), "Replaces the resource's rates; omitted or null: the configured default."),
    "Rate": _object({"resource": {"enum": list(RESOURCES)}, "pollRate": nullable(INTEGER),
                     "effectivePollRate": INTEGER, "postRate": nullable(INTEGER), "effectivePostRate": INTEGER},
                    ("resource", "pollRate", "effectivePollRate")),
}
COMPONENTS.update({name: sep_object(cls, description="IEEE 2030.5 " + name) for name, cls in _SEP_PARTS.items()})
for _name in ("Program", "DERCurve", "Control", "Group", "EndDevice", "Rate"):
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
        "get": op("List the program's events with their status now",
                  {200: _answer("start ascending, newest first", "ControlList")}, (PROGRAM_ID,)),
        "delete": op("Delete all the program's events", {200: _answer("how many", "Deleted")}, (PROGRAM_ID,))},
    "/controls/{control_id}": {
        "get": op("Get an event with its status now", {200: _answer("the event", "Control")}, (CONTROL_ID,))},
    "/controls/{control_id}/cancel": {
        "post": op("Cancel an event", {200: _answer("the cancelled event", "Control")}, (CONTROL_ID,),
                   errors={409: "already cancelled, superseded or completed"})},
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
                   "MembersAdd")},
    "/groups/{group_id}/members/{end_device_id}": {
        "put": op("Add an EndDevice to the group", NO_CONTENT, (GROUP_ID, END_DEVICE_ID)),
        "delete": op("Remove an EndDevice from the group", NO_CONTENT, (GROUP_ID, END_DEVICE_ID))},
    "/groups/{group_id}/programs/{program_id}": {
        "put": op("Assign a program to the group", NO_CONTENT, (GROUP_ID, PROGRAM_ID)),
        "delete": op("Unassign a program from the group", NO_CONTENT, (GROUP_ID, PROGRAM_ID))},
    "/end-devices": {
        "post": op("Create an EndDevice, or get the one with this lFDI",
                   {200: _answer("it existed", "EndDevice"), 201: _answer("created", "EndDevice")},
                   body="EndDeviceCreate",
                   errors={409: "it exists with another owner or deviceCategory, or its sFDI is taken"}),
        "get": op("List EndDevices", {200: _answer("all, by id", "EndDeviceList")})},
    "/end-devices/{end_device_id}": {
        "get": op("Get an EndDevice with its groups and grants", {200: _answer("it", "EndDevice")},
                  (END_DEVICE_ID,)),
        "patch": op("Enable or disable an EndDevice, or set its postRate", {200: _answer("it", "EndDevice")},
                    (END_DEVICE_ID,), "EndDevicePatch")},
    "/end-devices/{end_device_id}/access/{client_lfdi}": {
        "put": op("Let a further client act for the EndDevice", NO_CONTENT, (END_DEVICE_ID, CLIENT_LFDI),
                  errors={400: "client_lfdi is not 40 hex digits"}),
        "delete": op("Revoke that", NO_CONTENT, (END_DEVICE_ID, CLIENT_LFDI),
                     errors={400: "client_lfdi is not 40 hex digits"})},
    "/rates": {
        "put": op("Set a resource's pollRate (and postRate)", {200: _answer("the rates now", "Rate")},
                  body="RateSet"),
        "get": op("The rates of every resource", {200: _answer("all", "RateList")})},
    "/clients/{lfdi}/mirror-usage-points": {
        "delete": op("Delete every MirrorUsagePoint the client posted", {200: _answer("how many", "Deleted")},
                     (LFDI_PARAM,), errors={400: "lfdi is not 40 hex digits"})},
}

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
