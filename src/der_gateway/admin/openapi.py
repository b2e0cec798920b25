"""The admin API's OpenAPI 3.1 description, served at GET /openapi.json: made from the Route declarations.

Request bodies are described from the specs their handlers validate with (admin/routing.py); the 2030.5
objects inside them (DERControlBase, CurveData, ...) from the sep.model dataclasses.  The component schemas
here describe the answers, and the bodies not yet read through a declared spec.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Iterable, Mapping

from ..sep import codec, model
from . import routes_events, routes_programs
from ..domain.utility import bodies, requests
from .routes_rates import RESOURCES
from .routes_utility_ops import DEVICE_PARTS
from ..domain.utility.fields import F
from ..sep.json_form import DECIMAL_TEXT, Plain, required_fields
from .routing import Answer, Body, FieldsBody, Named, PlainBody, Query, Route, SepBody, Upload
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
PIN: Schema = {"type": "integer", "minimum": 100000, "maximum": 999999,
       "description": "the Registration pIN: six digits, the last the check digit of the first five (all six "
                      "digits sum to a multiple of 10), as the device's installer is given it"}
ID = {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}
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
    """The JSON form of a sep.model class (codec.to_data), limited to fields if given.  An optional field may be
    null, which json_form takes as absent."""
    plans = [p for p in codec.plan(cls) if fields is None or p.name in fields]
    required = [p.name for p in plans if p.name in required_fields(cls) and p.name not in optional]
    properties = {}
    for p in plans:
        field = _field_schema(p)
        if p.csipaus:
            field = {**field, "description": "CSIP-AUS; accepted only when the server runs the csip-aus profile"}
        properties[p.name] = field if p.name in required else nullable(field)
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
    "Program": _object({"id": ID, "href": HREF, "mRID": STRING, "description": nullable(STRING),
                        "primacy": INTEGER, "version": INTEGER,
                        "groups": {"type": "array", "items": ID, "description": "groups it is assigned to"}},
                       ("id", "href", "mRID", "description", "primacy", "version", "groups")),
    "DefaultDERControl": _extend(sep_object(model.DefaultDERControl, routes_programs.DEFAULT_CONTROL_FIELDS),
                                 {"href": HREF}),
    "DERCurve": _extend(sep_object(model.DERCurve, routes_programs.CURVE_FIELDS + ("creationTime",)),
                        {"id": ID, "href": HREF}),
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
    "Group": _object({"id": ID, "href": HREF, "mRID": STRING, "description": nullable(STRING), "version": INTEGER,
                      "programs": {"type": "array", "items": ID}, "endDeviceCount": INTEGER,
                      "endDevices": {"type": "array", "items": ID,
                                     "description": "member EndDevice ids; not in lists"}},
                     ("id", "href", "mRID", "description", "version", "programs", "endDeviceCount")),
    "MembershipChange": _object({
        "id": ID, "groupId": ID, "endDeviceId": ID, "change": {"enum": ["joined", "left"]},
        "at": {**INTEGER, "description": "Unix time"},
        "actor": {**STRING, "description": "who: operator, enrollment, unenrollment, retirement, move-out, "
                                           "sync-rejection, network"},
        "reason": STRING}),
    "MembersAdded": _object({"added": INTEGER, "endDeviceCount": INTEGER}, ("added", "endDeviceCount")),
    "EndDevice": _object({
        "id": ID, "href": HREF, "lFDI": LFDI, "sFDI": INTEGER, "owner": LFDI, "deviceCategory": nullable(STRING),
        "enabled": BOOLEAN, "postRate": nullable(INTEGER), "changedTime": INTEGER, "dateTimeRegistered": INTEGER,
        "pIN": PIN, "groups": {"type": "array", "items": ID, "description": "not in lists"},
        "access": {"type": "array", "items": LFDI, "description": "granted clients; not in lists"}},
        ("id", "href", "lFDI", "sFDI", "owner", "deviceCategory", "enabled", "postRate", "changedTime",
         "dateTimeRegistered", "pIN")),
    "ClientAccess": _object({"lfdi": LFDI, "granted": BOOLEAN,
                             "revokedAt": nullable({**INTEGER, "description": "when access was revoked"})},
                            ("lfdi", "granted", "revokedAt")),
    "Subscription": _object({"id": ID, "href": HREF, "client": {**LFDI, "description": "the subscribing client"},
                             "subscribedResource": HREF, "notificationURI": STRING, "limit": nullable(INTEGER)},
                            ("id", "href", "client", "subscribedResource", "notificationURI", "limit")),
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

















# -- enrollment sync and network locations (routes_sync, routes_network) -------------------------
# Query parameters are described in each operation's description.

_SYNC_STATES = ["queued", "sent", "acknowledged", "rejected"]
_LOCATION_KINDS = ["substation", "feeder", "transformer"]
COMPONENTS.update({
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



# -- the utility's side: customers, catalog, aggregators, program rules, tariffs, registration and
# enrollment (routes_utility, routes_utility_catalog, routes_utility_ops) --------------------------

_NULL_STRING = nullable(STRING)
_STATUS = {"enum": ["active", "inactive"]}
_TASK_STATES = ["Pending", "Processing", "Completed", "Error", "Cancelled"]
_RANGE = _object({"min": {"type": "number"}, "max": {"type": "number"}})
_PROBLEMS = {"type": "array", "items": _object({"field": STRING, "reason": STRING}, ("reason",))}
for _cls in (model.DERCapability, model.DERSettings):
    for _part, _part_cls in _nested_classes(_cls, {}).items():
        COMPONENTS.setdefault(_part, sep_object(_part_cls, description="IEEE 2030.5 " + _part))

COMPONENTS.update({
    "ServicePoint": _object({"id": ID, "accountId": ID, "customerId": ID, "externalId": STRING,
                             "address": _NULL_STRING, "substation": _NULL_STRING, "feeder": _NULL_STRING,
                             "transformer": _NULL_STRING}, ("id", "accountId", "externalId")),
    "Account": _object({"id": ID, "customerId": ID, "externalId": STRING, "status": _STATUS,
                        "servicePoints": {"type": "array", "items": ref("ServicePoint")}},
                       ("id", "customerId", "externalId", "status", "servicePoints")),
    "Customer": _object({
        "id": ID, "externalId": STRING, "name": STRING, "status": _STATUS,
        "accounts": {"type": "array", "items": ref("Account"), "description": "not in lists"},
        "tariffs": {"type": "array", "items": _object({"tariffId": ID, "code": STRING, "acceptedAt": INTEGER}),
                    "description": "tariffs accepted; not in lists"},
        "aggregators": {"type": "array", "items": LFDI, "description": "authorised aggregators; not in lists"}},
        ("id", "externalId", "name", "status")),
    "Tariff": _object({"id": ID, "code": STRING, "description": _NULL_STRING, "terms": {"type": "object"}},
                      ("id", "code", "description", "terms")),
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
    "DeviceModel": _object({"id": ID, "assetTypeId": ID, "manufacturer": STRING, "model": STRING,
                            "spec": ref("NameplateSpec")}, ("id", "assetTypeId", "manufacturer", "model", "spec")),
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
    "ProgramRules": _object({"programId": ID, "code": _NULL_STRING, "groupId": nullable(ID),
                             "eligibility": ref("Eligibility"), "constraints": ref("Constraints")},
                            ("programId", "code", "groupId", "eligibility", "constraints")),
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


# -- utility events with stages (routes_utility_events) ----------------------------------------------

_STAGE_STATUSES = ["SCHEDULED", "IN PROGRESS", "COMPLETED", "CANCELED"]
_OUTCOMES = ["participated", "partially", "opted out", "failed", "no response", "cancelled"]
COMPONENTS.update({
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

_DECIMAL_TEXT = {"type": "string", "pattern": r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$",
                 "description": "an exact decimal, as text"}
COMPONENTS.update({
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
    "BillingBatch": _object({
        "id": ID, "accountId": ID, "currency": STRING, "amount": _MONEY,
        "trigger": {"enum": ["periodic", "move-out", "unenrollment", "replacement", "operator"]},
        "created": INTEGER, "state": {"enum": _BATCH_STATES}, "reason": nullable(STRING),
        "settledAt": nullable(INTEGER), "credits": INTEGER}),
    "BillingBatches": _object({"batches": {"type": "array", "items": ref("BillingBatch")}}),
})
COMPONENTS["BillingBatchList"] = _items("BillingBatch")

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

COMPONENTS.update({
    "Baseline": _object({"programId": ID, "method": {"type": "object"},
                         "measurement": {"enum": ["auto", "cis", "telemetry"]}}),
    "StageSettlement": _object({
        "eventMRID": STRING, "stageId": ID, "stagePosition": ID,
        "credits": {"type": "array", "items": ref("Credit")},
        "totals": {"type": "object", "additionalProperties": _MONEY, "description": "currency -> amount"}}),
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


# -- the document, from the routes ----------------------------------------------------------------------

def plain_field(rule: Plain) -> Schema:
    """What json_form.check_plain accepts of one field (null aside)."""
    one: Schema = {**_KINDS[rule.kind]}
    if rule.items is not None:
        one["items"] = plain_field(rule.items)
    if rule.min_items is not None:
        one["minItems"] = rule.min_items
    if rule.max_items is not None:
        one["maxItems"] = rule.max_items
    if rule.unique:
        one["uniqueItems"] = True
    if rule.max_length is not None:
        one["maxLength"] = rule.max_length
    if rule.pattern is not None:
        one["pattern"] = f"^{rule.pattern}$"
    if rule.choices is not None:
        one = {"enum": list(rule.choices)}
    if rule.minimum is not None:
        one["minimum"] = rule.minimum
    if rule.maximum is not None:
        one["maximum"] = rule.maximum
    if rule.description:
        one["description"] = rule.description
    return one


def plain_schema(spec: Mapping[str, Plain]) -> Schema:
    """What json_form.check_plain accepts."""
    properties = {name: nullable(plain_field(rule)) if rule.nullable else plain_field(rule)
                  for name, rule in spec.items()}
    return _object(properties, tuple(n for n, r in spec.items() if r.required))


_KINDS: dict[type, Schema] = {
    int: INTEGER, float: {"type": "number"}, bool: BOOLEAN, str: STRING, dict: {"type": "object"},
    list: {"type": "array"},
    Decimal: {"anyOf": [{"type": "number"}, {"type": "string", "pattern": f"^{DECIMAL_TEXT}$"}],
              "description": "an exact decimal: a number, or its text"}}
_UTILITY_KINDS: dict[str, Schema] = {
    "str": {"type": "string", "minLength": 1}, "int": INTEGER, "num": {"type": "number"}, "bool": BOOLEAN,
    "ref": {"anyOf": [ID, {"type": "string", "minLength": 1}]}, "lfdi": LFDI,
    "hex32": {"type": "string", "pattern": "^[0-9A-Fa-f]{1,8}$"}, "object": {"type": "object"},
    "list": {"type": "array"}}


def fields_schema(spec: Mapping[str, F], nested: Mapping[str, str | Schema], partial: bool = False) -> Schema:
    """What domain.utility.fields.check accepts; nested refines the object and list fields."""
    properties = {}
    for name, rule in spec.items():
        known = nested.get(name)
        if known is not None:
            one: Schema = ref(known) if isinstance(known, str) else known
        elif rule.fields is not None:
            one = fields_schema(rule.fields, {})
        else:
            one = {**_UTILITY_KINDS[rule.kind]}
        if rule.kind == "str":
            one["maxLength"] = rule.max_length
        if rule.minimum is not None:
            one["minimum"] = rule.minimum
        if rule.maximum is not None:
            one["maximum"] = rule.maximum
        if rule.choices is not None:
            one = {"enum": list(rule.choices)}
        if rule.description:
            one = {**one, "description": rule.description}
        properties[name] = nullable(one) if rule.nullable else one
    return _object(properties, () if partial else tuple(n for n, r in spec.items() if r.required))


def body_schema(body: Body) -> Schema:
    if isinstance(body, SepBody):
        schema = sep_object(body.cls, body.fields, body.optional, body.description)
        return _extend(schema, plain_schema(body.extra)["properties"],
                       tuple(n for n, r in body.extra.items() if r.required)) if body.extra else schema
    if isinstance(body, PlainBody):
        schema = plain_schema(body.spec)
        for name, part in body.nested.items():
            one = body_schema(part)
            schema["properties"][name] = {**schema["properties"][name], "items": one} \
                if body.spec[name].kind is list else one
    elif isinstance(body, FieldsBody):
        schema = fields_schema(body.spec, body.nested, body.partial)
    elif isinstance(body, Named):
        return ref(body.component)
    else:
        raise TypeError(body)
    return {**schema, "description": body.description} if body.description else schema


def request_body(body: Body) -> Schema:
    if isinstance(body, Upload):
        content = {"text/csv": {"schema": {"type": "string", "description": body.csv}},
                   JSON: {"schema": body_schema(body.json)}}
    else:
        content = {JSON: {"schema": body_schema(body)}}
    return {"required": True, "content": content}


# the path parameters, by name: an id where the route admits only digits, else these
PATH_PARAMETERS: dict[str, tuple[str, Schema]] = {
    "program_id": ("program id", ID), "curve_id": ("DERCurve id", ID),
    "control_id": ("event (DERControl) id", ID), "group_id": ("group (FunctionSetAssignments) id", ID),
    "end_device_id": ("EndDevice id", ID), "client_lfdi": ("the LFDI of the client certificate given access", LFDI),
    "lfdi": ("the client certificate's LFDI", LFDI),
    "subscription_id": ("Subscription id (the last part of its href)", ID),
    "endpoint_id": ("sync endpoint id", ID), "message_id": ("sync message id", ID),
    "location_id": ("network location id", ID), "customer_id": ("customer id", ID),
    "account_id": ("account id", ID), "service_point_id": ("service point id", ID),
    "tariff_id": ("tariff id", ID), "asset_type_id": ("asset type id", ID),
    "device_model_id": ("device model id", ID), "task_id": ("service task id", ID),
    "enrollment_id": ("enrollment id", ID), "der_asset_id": ("DER asset id", ID),
    "event_id": ("utility event id", ID), "position": ("the stage's position in its event (1, 2, ...)", ID),
    "batch_id": ("billing batch id", ID), "asset": ("a file's path under admin/console/", STRING),
}
_PARAMETER = re.compile(r"\{([^}:]+)(?::[^}]+)?\}")


def openapi_path(path: str) -> str:
    """/programs/{program_id:[0-9]+} as /programs/{program_id}."""
    return _PARAMETER.sub(lambda m: "{" + m.group(1) + "}", path)


def query_schema(q: Query) -> Schema:
    if q.kind is bool:
        return BOOLEAN
    if q.kind is int:
        return {"type": "integer", "minimum": q.minimum, "maximum": q.maximum}
    return {"enum": list(q.choices)} if q.choices is not None else STRING


def _error(description: str) -> Schema:
    return {"description": description, "content": {JSON: {"schema": ref("Errors")}}}


def _answer(answer: Answer) -> Schema:
    out: Schema = {"description": answer.description}
    if answer.schema is not None:
        schema = ref(answer.schema) if isinstance(answer.schema, str) else answer.schema
        out["content"] = {answer.media: {"schema": schema}}
    return out


def operation(route: Route) -> Schema:
    params = _PARAMETER.findall(route.path)
    responses = {str(status): _answer(answer) for status, answer in route.ok.items()}
    if not route.public:
        responses["401"] = _error("no bearer token, or a wrong one")
    if params:
        responses["404"] = _error("no such resource")
    if route.body is not None:
        responses["400"] = _error("invalid: every wrong field, each named; nothing is stored")
        responses["413"] = _error("body over the size limit (1 MiB by default)")
        responses["415"] = _error("Content-Type is not application/json")
    if route.query:
        responses["400"] = _error("a query parameter is missing, unknown or wrong")
    for status, description in route.errors.items():
        responses[str(status)] = _error(description)
    op: Schema = {"summary": route.summary, "responses": dict(sorted(responses.items()))}
    if route.description:
        op["description"] = route.description
    parameters = [{"name": name, "in": "path", "required": True, "description": PATH_PARAMETERS[name][0],
                   "schema": PATH_PARAMETERS[name][1]} for name in params]
    parameters += [{"name": q.name, "in": "query", "required": q.required, "description": q.description,
                    "schema": query_schema(q)} for q in route.query]
    if parameters:
        op["parameters"] = parameters
    if route.body is not None:
        op["requestBody"] = request_body(route.body)
    if route.public:
        op["security"] = []
    return op


def document(routes: Iterable[Route]) -> dict[str, Any]:
    """The OpenAPI description of these routes."""
    paths: dict[str, dict[str, Schema]] = {}
    for route in routes:
        paths.setdefault(openapi_path(route.path), {})[route.method.lower()] = operation(route)
    return {
        "openapi": "3.1.0",
        "info": {"title": "der-gateway admin API", "version": "1",
                 "description": "The operator's API: programs, events, groups, EndDevices and rates of the IEEE "
                                "2030.5 server. JSON in and out; ids are integers; lists are {\"items\": [...]}. "
                                "Every error is {\"errors\": [{\"field\"?, \"reason\"}]}; a method a path does "
                                "not support answers 405."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {"schemas": COMPONENTS,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                                      "description": "config.admin_token, or the generated one in "
                                                                     "data_dir/admin-token"}}},
    }


# the 2030.5 parts of a device: what domain.utility.requests hands to json_form, less the server's fields
COMPONENTS["DERCapabilityInput"] = sep_object(
    model.DERCapability, tuple(p.name for p in codec.plan(model.DERCapability)
                               if p.name not in requests.NAMEPLATE_SERVER_FIELDS),
    description="a DERCapability (2030.5 JSON form), within the model's spec")
COMPONENTS["DERSettingsInput"] = sep_object(
    model.DERSettings, tuple(p.name for p in codec.plan(model.DERSettings)
                             if p.name not in requests.SETTINGS_SERVER_FIELDS),
    description="a DERSettings without updatedTime (the server's); limits may not exceed the nameplate")
COMPONENTS["DeviceInput"] = fields_schema(requests.DEVICE, DEVICE_PARTS)
COMPONENTS["ServicePointInput"] = {**fields_schema(bodies.SERVICE_POINT, {}),
                                   "description": "substation, feeder and transformer name its network location"}
COMPONENTS["AccountInput"] = fields_schema(bodies.ACCOUNT, {"servicePoints": {"type": "array",
                                                                               "items": ref("ServicePointInput")}})


# -- the operator console (routes_console_*.py) --------------------------------------------------
_NULL_INT, _NULL_STR = nullable(INTEGER), nullable(STRING)
# each point [epoch seconds, value] (as a plain list of two numbers: schemathesis reads prefixItems as draft-4 items)
_POINTS = {"type": "array", "items": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
           "description": "[epoch seconds, value]"}
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
    "all": {**INTEGER, "description": "how many devices are called (the counts summed)"},
    "s": {**INTEGER, "description": "the index of the first device listed"},
    "devices": {"type": "array", "description": "a page of the called devices, by EndDevice id (s, l)",
                "items": _object({"end_device_id": ID, "lfdi": STRING, "status": STRING},
                                 ("end_device_id", "lfdi", "status"))}},
    ("as_of", "counts", "all", "s", "devices"))
COMPONENTS["PowerSeries"] = _object({"unit": {"const": "W"}, "start": INTEGER, "end": INTEGER, "points": _POINTS},
                                    ("unit", "start", "end", "points"))
COMPONENTS["ServiceTaskSummary"] = _object({"by_state": {"type": "object", "additionalProperties": INTEGER},
                                            "awaiting_approval": {"type": "array", "items": {"type": "object"}}},
                                           ("by_state", "awaiting_approval"))
COMPONENTS["EnrollmentSummary"] = _object({"by_sync_state": {"type": "object", "additionalProperties": INTEGER},
                                           "items": {"type": "array", "items": {"type": "object"}}},
                                          ("by_sync_state", "items"))
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
