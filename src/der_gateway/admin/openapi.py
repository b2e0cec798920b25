"""The admin API's OpenAPI 3.1 description, served at GET /openapi.json: made from the Route declarations.

Request bodies are described from the specs their handlers validate with (admin/routing.py); the 2030.5
objects inside them (DERControlBase, CurveData, ...) from the sep.model dataclasses.  Most answers are
TypedDict views declared beside the code that renders them (VIEWS, schemas by services/json_view.py); the
component schemas written here describe the rest (2030.5 resources with the server's fields, the error
shape, stored JSON documents, the answers of the utility's inbound operations).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Iterable, Mapping

from ..observability import tracking
from ..sep import codec, model
from ..services import interval_json, participation_json, settlement_json, stage_json, statement, utility_json
from . import (routes_billing, routes_console_devices, routes_console_events, routes_console_ops, routes_events,
               routes_network, routes_notifications, routes_observability, routes_participation, routes_prices,
               routes_programs, routes_rates, routes_settlement, routes_sync, views)
from ..domain.utility import bodies, requests
from .routes_utility_ops import DEVICE_PARTS
from ..domain.utility.fields import F
from ..sep.json_form import DECIMAL_TEXT, Plain, required_fields
from .routing import Answer, Body, FieldsBody, Named, PlainBody, Query, Route, Rows, SepBody, Upload
from ..services.json_view import Href, Id, Lfdi, type_schema, view_schema

JSON = "application/json"
Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


INTEGER = {"type": "integer"}
STRING = {"type": "string"}
BOOLEAN = {"type": "boolean"}
LFDI, ID, HREF = type_schema(Lfdi), type_schema(Id), type_schema(Href)


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


COMPONENTS: dict[str, Schema] = {
    "Errors": _object({"errors": {"type": "array", "items": _object(
        {"field": {"type": "string", "description": "the JSON field (dotted path, list indexes) at fault"},
         "reason": STRING}, ("reason",))}}, ("errors",)),
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
}
COMPONENTS.update({name: sep_object(cls, description="IEEE 2030.5 " + name) for name, cls in _SEP_PARTS.items()})
for _cls in (model.DERCapability, model.DERSettings):
    for _part, _part_cls in _nested_classes(_cls, {}).items():
        COMPONENTS.setdefault(_part, sep_object(_part_cls, description="IEEE 2030.5 " + _part))

# the answers declared as TypedDicts (services/json_view.py) by the code that renders them: each is the component of
# its class's name (added at the end of this module)
VIEWS: list[type] = [
    views.Program, views.Group, views.MembershipChange, views.MembersAdded, views.EndDevice, views.ClientAccess,
    views.Subscription, views.Deleted, routes_notifications.NotificationBacklog, routes_rates.Rate,
    routes_events.Participation,
    routes_network.NetworkLocation, utility_json.NetworkImport, routes_sync.SyncEndpoint, routes_sync.SyncMessage,
    routes_sync.SyncMessagePage,
    utility_json.ServicePoint, utility_json.Account, utility_json.Customer, utility_json.Tariff,
    utility_json.AssetType, utility_json.DeviceModel, utility_json.Aggregator, utility_json.ProgramRules,
    utility_json.DERAsset, utility_json.Enrollment, utility_json.ServiceTask,
    participation_json.DeviceScore, participation_json.DeviceScores, routes_participation.Forecast,
    stage_json.StageTransition, stage_json.Stage, stage_json.UtilityEvent, stage_json.Participant,
    stage_json.StageOutcomes, stage_json.ReservedDevice, stage_json.StageReservation,
    routes_prices.Pricing, routes_prices.PriceLoad, routes_prices.PriceWindow,
    settlement_json.Credit, routes_billing.AccountCredits, settlement_json.BillingBatch, routes_billing.BillingBatches,
    routes_settlement.Baseline, routes_settlement.StageSettlement, statement.Statement,
    interval_json.IntervalLoad, interval_json.IntervalWindow,
    routes_console_devices.DeviceSummary, routes_console_devices.DeviceTree, routes_console_devices.DeviceDERs,
    routes_console_devices.DeviceTelemetry, routes_console_devices.DeviceResponses,
    routes_console_devices.DeviceEnrollments, routes_console_events.Timeline, routes_console_events.ParticipationSummary,
    routes_console_events.PowerSeries, routes_console_ops.ServiceTaskSummary, routes_console_ops.EnrollmentSummary,
    routes_observability.Health, routes_observability.Outboxes, tracking.Connections, tracking.Refusals,
]
for _name in ("Program", "DERCurve", "Control", "Group", "EndDevice", "Rate", "Subscription", "MembershipChange",
              "SyncEndpoint", "NetworkLocation", "Customer", "Tariff", "AssetType", "DeviceModel", "Aggregator",
              "ServiceTask", "Enrollment", "DERAsset", "UtilityEvent", "BillingBatch", "DeviceSummary"):
    COMPONENTS[_name + "List"] = _items(_name)


# -- the rest, written here: stored JSON documents, and the answers of the utility's inbound operations --------

_RANGE = _object({"min": {"type": "number"}, "max": {"type": "number"}})

COMPONENTS.update({
    "NameplateSpec": {"type": "object", "description": "per DERCapability rating (rtgMaxW, rtgMaxWh, rtgMaxVA, "
                                                       "rtgMaxVar, rtgVNom, ...): {min?, max?, required?} in base "
                                                       "units (W, Wh, VA, var, V, A, Ah); interconnection: "
                                                       "{exportLimitW|importLimitW|inverterCount|phases: {min?, "
                                                       "max?}}",
                      "additionalProperties": _object({"min": {"type": "number"}, "max": {"type": "number"},
                                                       "required": BOOLEAN}, closed=False)},
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
    "ServiceTaskCreated": _object({"serviceTask": ref("ServiceTask")}, ("serviceTask",)),
    "EnrollmentCreated": _object({"enrollment": ref("Enrollment"), "serviceTask": ref("ServiceTask")},
                                 ("enrollment", "serviceTask")),
    "Registration": _object({
        "derAsset": ref("DERAsset"),
        "endDevice": view_schema(utility_json.EndDeviceRegistered),
        "enrollment": ref("Enrollment"), "serviceTask": ref("ServiceTask")},
        ("derAsset", "endDevice", "enrollment", "serviceTask")),
})


# -- the document, from the routes ----------------------------------------------------------------------

def plain_field(rule: Plain) -> Schema:
    """What json_form.check_plain accepts of one field (null aside)."""
    if isinstance(rule.kind, tuple):
        one: Schema = {"anyOf": [_KINDS[k] for k in rule.kind]}
    else:
        one = {**_KINDS[rule.kind]}
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
    elif isinstance(body, Rows):
        schema = {"type": "array", "items": body_schema(body.item)}
        if body.min_items is not None:
            schema["minItems"] = body.min_items
        if body.wrapped is not None:
            schema = {"anyOf": [schema, _object({body.wrapped: schema}, (body.wrapped,))]}
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


_VIEW_NAMES = {cls: cls.__name__ for cls in VIEWS}
_TWICE = sorted(set(_VIEW_NAMES.values()) & set(COMPONENTS))
if _TWICE or len(set(_VIEW_NAMES.values())) < len(VIEWS):
    raise ValueError(f"a component is declared twice: {_TWICE}")
COMPONENTS.update({name: view_schema(cls, _VIEW_NAMES) for cls, name in _VIEW_NAMES.items()})
