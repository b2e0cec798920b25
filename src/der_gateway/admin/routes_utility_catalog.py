"""The asset catalog (asset types with their DER registration flag, device models with their
nameplate specifications) and each program's rules (eligibility and event constraints)."""

from __future__ import annotations

from typing import Any, Sequence

from aiohttp import web

from ..domain.utility import bodies, rules
from ..services import utility_json as render
from ..store.utility_records import ProgramRulesRecord
from .http import found, json_response, no_content, path_id, read_json, read_query
from .routes_programs import program_of
from .routes_utility import valid
from .state import CLOCK, CONFIG, STORE
from .routing import NO_CONTENT, Answer, FieldsBody, Query, Route


# -- asset types -------------------------------------------------------------------------------------

async def _asset_type_id(request: web.Request) -> int:
    asset_type_id = path_id(request, "asset_type_id", "asset type")
    await found(await request.app[STORE].asset_type(asset_type_id), f"asset type {asset_type_id}")
    return asset_type_id


async def create_asset_type(request: web.Request) -> web.Response:
    values = valid(*bodies.parse_asset_type(await read_json(request)))
    asset_type = await request.app[STORE].create_asset_type(values)
    return json_response(render.asset_type(asset_type), 201, f"/asset-types/{asset_type.id}")


async def list_asset_types(request: web.Request) -> web.Response:
    return json_response({"items": [render.asset_type(t) for t in await request.app[STORE].asset_types()]})


async def get_asset_type(request: web.Request) -> web.Response:
    asset_type_id = path_id(request, "asset_type_id", "asset type")
    return json_response(render.asset_type(await found(await request.app[STORE].asset_type(asset_type_id),
                                                       f"asset type {asset_type_id}")))


async def patch_asset_type(request: web.Request) -> web.Response:
    asset_type_id = await _asset_type_id(request)
    values = valid(*bodies.parse_asset_type(await read_json(request), partial=True))
    return json_response(render.asset_type(await request.app[STORE].update_asset_type(asset_type_id, values)))


async def delete_asset_type(request: web.Request) -> web.Response:
    await request.app[STORE].delete_asset_type(await _asset_type_id(request))
    return no_content()


# -- device models -----------------------------------------------------------------------------------

async def _device_model_id(request: web.Request) -> int:
    model_id = path_id(request, "device_model_id", "device model")
    await found(await request.app[STORE].device_model(model_id), f"device model {model_id}")
    return model_id


async def create_device_model(request: web.Request) -> web.Response:
    values = valid(*bodies.parse_device_model(await read_json(request)))
    model = await request.app[STORE].create_device_model(values)
    return json_response(render.device_model(model), 201, f"/device-models/{model.id}")


MODELS_QUERY = (Query("manufacturer", "only this manufacturer's models"),)


async def list_device_models(request: web.Request) -> web.Response:
    manufacturer = read_query(request, MODELS_QUERY).get("manufacturer")
    return json_response({"items": [render.device_model(m)
                                    for m in await request.app[STORE].device_models(manufacturer)]})


async def get_device_model(request: web.Request) -> web.Response:
    model_id = path_id(request, "device_model_id", "device model")
    return json_response(render.device_model(await found(await request.app[STORE].device_model(model_id),
                                                         f"device model {model_id}")))


async def patch_device_model(request: web.Request) -> web.Response:
    model_id = await _device_model_id(request)
    values = valid(*bodies.parse_device_model(await read_json(request), partial=True))
    return json_response(render.device_model(await request.app[STORE].update_device_model(model_id, values)))


async def delete_device_model(request: web.Request) -> web.Response:
    await request.app[STORE].delete_device_model(await _device_model_id(request))
    return no_content()


# -- program rules -------------------------------------------------------------------------------------

async def put_program_rules(request: web.Request) -> web.Response:
    program = await program_of(request)
    values = valid(*bodies.parse_program_rules(await read_json(request)))
    return json_response(render.program_rules(await request.app[STORE].set_program_rules(
        program.id, values, request.app[CLOCK].now())))


async def get_program_rules(request: web.Request) -> web.Response:
    program = await program_of(request)
    stored = await request.app[STORE].program_rules(program.id)
    return json_response(render.program_rules(stored or ProgramRulesRecord(program.id, None, None, {}, {})))


async def delete_program_rules(request: web.Request) -> web.Response:
    program = await program_of(request)
    if await request.app[STORE].program_rules(program.id) is not None:
        await request.app[STORE].clear_program_rules(program.id, request.app[CLOCK].now())
    return no_content()


async def event_constraint_errors(request: web.Request, program_id: int, interval: Any, now: int,
                                  earlier_starts: Sequence[int] = ()) -> list[dict[str, str]]:
    """Why the program's rules refuse an event over this interval (if it is well formed), rule by rule;
    earlier_starts: events of the program not stored yet (a utility event's earlier stages), counted as its own."""
    if not isinstance(interval, dict):
        return []
    start, duration = interval.get("start"), interval.get("duration")
    if type(start) is not int or type(duration) is not int or duration < 0:
        return []
    constraints, starts = await request.app[STORE].event_constraints(program_id)
    if not constraints:
        return []
    return rules.event_constraint_errors(constraints, start=start, duration=duration, now=now,
                                         other_starts=starts + list(earlier_starts),
                                         zone_name=request.app[CONFIG].timezone)


ROUTES: tuple[Route, ...] = (
    Route("POST", "/asset-types", create_asset_type,
          "Create an asset type",
          {201: Answer("created", "AssetType")},
          body=FieldsBody(bodies.ASSET_TYPE, description="derType: a 2030.5 DERType (0, 1-6, 80-83)"),
          errors={409: "an external id or code is taken"}),
    Route("GET", "/asset-types", list_asset_types,
          "List asset types",
          {200: Answer("all", "AssetTypeList")}),
    Route("GET", "/asset-types/{asset_type_id:[0-9]+}", get_asset_type,
          "Get an asset type",
          {200: Answer("it", "AssetType")}),
    Route("PATCH", "/asset-types/{asset_type_id:[0-9]+}", patch_asset_type,
          "Change an asset type",
          {200: Answer("it", "AssetType")},
          body=FieldsBody(bodies.ASSET_TYPE_PATCH, partial=True)),
    Route("DELETE", "/asset-types/{asset_type_id:[0-9]+}", delete_asset_type,
          "Delete an asset type",
          NO_CONTENT,
          errors={409: "still in use (named in the answer)"}),
    Route("POST", "/device-models", create_device_model,
          "Add a device model (manufacturer, model, nameplate specification)",
          {201: Answer("created", "DeviceModel")},
          body=FieldsBody(bodies.DEVICE_MODEL, {"spec": "NameplateSpec"},
                          "manufacturer and model together are unique (409)"),
          errors={409: "an external id or code is taken"}),
    Route("GET", "/device-models", list_device_models,
          "List device models",
          {200: Answer("by manufacturer, model", "DeviceModelList")},
          query=MODELS_QUERY),
    Route("GET", "/device-models/{device_model_id:[0-9]+}", get_device_model,
          "Get a device model",
          {200: Answer("it", "DeviceModel")}),
    Route("PATCH", "/device-models/{device_model_id:[0-9]+}", patch_device_model,
          "Change a device model's asset type or specification",
          {200: Answer("it", "DeviceModel")},
          body=FieldsBody(bodies.DEVICE_MODEL_PATCH, {"spec": "NameplateSpec"}, partial=True)),
    Route("DELETE", "/device-models/{device_model_id:[0-9]+}", delete_device_model,
          "Delete a device model",
          NO_CONTENT,
          errors={409: "still in use (named in the answer)"}),
    Route("PUT", "/programs/{program_id:[0-9]+}/rules", put_program_rules,
          "Set the program's eligibility and event constraints",
          {200: Answer("them", "ProgramRules")},
          body=FieldsBody(bodies.PROGRAM_RULES, {"eligibility": "Eligibility", "constraints": "Constraints"},
                          "Replaces the rules; synced ('program-rules'). code names the program in "
                          "registerDERDevice."),
          errors={409: "the code is taken; or, for a program without rules so far, groups holding it have members "
                       "not enrolled in it (each one, with why): with rules it reaches devices only through their "
                       "enrollment"}),
    Route("GET", "/programs/{program_id:[0-9]+}/rules", get_program_rules,
          "Get the program's rules",
          {200: Answer("them (empty when none)", "ProgramRules")}),
    Route("DELETE", "/programs/{program_id:[0-9]+}/rules", delete_program_rules,
          "Drop the program's rules",
          NO_CONTENT),
)
