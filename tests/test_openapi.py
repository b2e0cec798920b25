"""The admin API's OpenAPI document: valid, complete, and true of the running API.

Schemathesis sends generated requests, valid and invalid by the document, to every operation of a real
server with seeded data, and checks that each answer is documented: no 500, a documented status, the
documented content type, a body that matches its schema.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import aiohttp
import pytest
import requests
from aiohttp import web
from aiohttp.test_utils import TestServer
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, negative_data_rejection,
                                               response_schema_conformance, status_code_conformance)

from der_gateway.admin.app import ROUTES, SPEC, create_admin_app
from der_gateway.admin.openapi import document, openapi_path
from der_gateway.admin.routing import Answer, Route
from der_gateway.config import Config
from der_gateway.launch import RunningServer, start_server

TOKEN = "test-admin-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# negative_data_rejection: what the document calls invalid is refused (a 4xx), so it is no stricter than the API
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection]


def test_the_document_is_valid_openapi_3_1():
    validate(SPEC)
    assert SPEC["openapi"] == "3.1.0"


def test_every_route_is_documented_and_every_operation_is_a_route():
    app = create_admin_app(Config(admin_token=TOKEN), None, None)
    served = {(openapi_path(r.resource.canonical), r.method.lower()) for r in app.router.routes()}
    described = {(path, method) for path, operations in SPEC["paths"].items() for method in operations}
    assert served == described and len(served) == len(ROUTES)
    assert all(isinstance(route, Route) for route in ROUTES)


def test_registration_takes_only_routes(monkeypatch):
    from der_gateway.admin import app as admin_app
    monkeypatch.setattr(admin_app, "ROUTES", admin_app.ROUTES + (("GET", "/old-form", None),))
    with pytest.raises(TypeError, match="not a Route"):
        create_admin_app(Config(admin_token=TOKEN), None, None)


async def test_a_public_route_answers_without_the_token(monkeypatch):
    from der_gateway.admin import app as admin_app

    async def hello(request: web.Request) -> web.Response:
        return web.json_response({"hello": True})

    public = Route("GET", "/hello", hello, "A public greeting", {200: Answer("it", {"type": "object"})}, public=True)
    monkeypatch.setattr(admin_app, "ROUTES", admin_app.ROUTES + (public,))
    operation = document([public])["paths"]["/hello"]["get"]
    assert operation["security"] == [] and "401" not in operation["responses"]
    async with TestServer(create_admin_app(Config(admin_token=TOKEN), None, None)) as server:
        async with aiohttp.ClientSession() as session:
            async with session.get(server.make_url("/hello")) as answer:
                assert answer.status == 200 and await answer.json() == {"hello": True}
            async with session.get(server.make_url("/openapi.json")) as answer:
                assert answer.status == 401


def test_bodies_are_described_from_what_validation_takes():
    def body(path: str, method: str) -> dict[str, Any]:
        return SPEC["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]

    program = body("/programs", "post")
    assert set(program["properties"]) == {"mRID", "description", "primacy"} and program["required"] == ["primacy"]
    assert program["additionalProperties"] is False
    rate = body("/rates", "put")
    assert rate["properties"]["resource"]["enum"][0] == "dcap" and rate["required"] == ["resource"]
    customer_patch = body("/customers/{customer_id}", "patch")
    assert "required" not in customer_patch and customer_patch["properties"]["status"] == {
        "enum": ["active", "inactive"]}
    lfdi = body("/end-devices", "post")["properties"]["lFDI"]
    assert lfdi["pattern"] == "^[0-9A-Fa-f]{40}$"


# request bodies once described by a hand-written component, now made from the table their parser reads
DERIVED_BODIES = {
    "MembersAdd": ("/groups/{group_id}/members", "post", "der_gateway.admin.routes_groups", "MEMBERS_ADD"),
    "BillingRun": ("/billing/run", "post", "der_gateway.admin.routes_billing", "BILLING_RUN"),
    "BaselineInput": ("/programs/{program_id}/baseline", "put", "der_gateway.admin.routes_settlement", "BASELINE"),
    "PricingInput": ("/programs/{program_id}/pricing", "put", "der_gateway.domain.settlement.prices", "PRICING"),
    "ForecastRequest": ("/programs/{program_id}/forecast", "post", "der_gateway.admin.routes_participation",
                        "FORECAST_EXTRA"),
    "UtilityEventInput": ("/utility-events", "post", "der_gateway.admin.routes_utility_events", "EVENT"),
    "RegisterDERDevice": ("/registerDERDevice", "post", "der_gateway.domain.utility.requests", "REGISTER"),
    "InterconnectDER": ("/interconnectDER", "post", "der_gateway.domain.utility.requests", "INTERCONNECT"),
    "DeviceReplacement": ("/der-assets/{der_asset_id}/replace", "post", "der_gateway.domain.utility.requests",
                          "REPLACEMENT"),
}


@pytest.mark.parametrize("component", sorted(DERIVED_BODIES))
def test_a_converted_body_is_derived_from_its_parser_table(component: str):
    from importlib import import_module
    from der_gateway.admin.openapi import COMPONENTS
    path, method, module, table = DERIVED_BODIES[component]
    spec = getattr(import_module(module), table)
    schema = SPEC["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
    assert component not in COMPONENTS and component not in SPEC["components"]["schemas"]
    assert "$ref" not in schema and set(spec) <= set(schema["properties"])
    assert {name for name, rule in spec.items() if rule.required} <= set(schema.get("required", ()))
    for name, rule in spec.items():
        assert ({"type": "null"} in schema["properties"][name].get("anyOf", ())) == rule.nullable, name


def test_the_plain_kinds_are_documented_as_they_are_checked():
    """Each kind a converted body uses: check_plain and the schema made from the same table agree."""
    from decimal import Decimal
    from jsonschema import Draft202012Validator
    from der_gateway.admin.openapi import plain_schema
    from der_gateway.sep.json_form import Plain, check_plain
    spec = {"ids": Plain(list, items=Plain(int, minimum=1, maximum=9), min_items=1, max_items=3, unique=True),
            "price": Plain(Decimal), "kw": Plain(float), "method": Plain(dict), "code": Plain(str, pattern="[A-Z]{3}")}
    validator = Draft202012Validator(plain_schema(spec))
    for body in ({}, {"ids": [1, 2]}, {"ids": []}, {"ids": [1, 2, 3, 4]}, {"ids": [1, 1]}, {"ids": [0]},
                 {"ids": ["1"]}, {"ids": 1}, {"price": "0.125"}, {"price": 0.1}, {"price": "1e3"}, {"price": True},
                 {"price": " 1"}, {"kw": 2}, {"kw": 2.5}, {"kw": "2"}, {"kw": False}, {"method": {}},
                 {"method": []}, {"code": "USD"}, {"code": "usd"}, {"other": 1}, {"ids": None}):
        _, errors = check_plain(body, spec)
        assert validator.is_valid(body) == (not errors), (body, errors)
    _, errors = check_plain({"ids": [1, "x", 0]}, spec)
    assert [e["field"] for e in errors] == ["ids[1]", "ids[2]"]


def _prices_accepted(body: Any) -> bool:
    from der_gateway.domain.settlement.prices import PricingError, parse_prices
    try:
        parse_prices(json.dumps(body), "json", "market")
    except PricingError:
        return False
    return True


def _intervals_accepted(body: Any) -> bool:
    from der_gateway.domain.settlement.interval_files import parse
    return not parse(json.dumps(body), "json", 100)[1]


def _locations_accepted(body: Any) -> bool:
    from der_gateway.domain.network import parse
    return not parse(json.dumps(body), "json")[1]


_PRICE = {"start": 1800, "duration": 900, "pricePerKWh": "0.12"}
_READING = {"servicePoint": "SP-1", "start": 1800, "duration": 900, "kWh": "1.25"}
_ROW = {"servicePoint": "SP-1", "transformer": "T1", "feeder": "F1", "substation": "S1"}


def _without(row: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != key}


# the uploads whose JSON form is documented from the row table its parser reads: (path, the parser's verdict,
# bodies).  Each body is judged alike by both; rules beyond a row's shape (a market price's durations, ISO 8601
# text, overlaps) are the parser's alone and are left out here.
UPLOAD_BODIES = {
    "PriceRows": ("/programs/{program_id}/prices", _prices_accepted, [
        {"prices": [_PRICE]}, {"prices": [{**_PRICE, "start": "1970-01-01T00:30:00Z"}]},
        {"prices": [{**_PRICE, "duration": "900"}]}, {"prices": [{**_PRICE, "pricePerKWh": 0.5}]},
        {"prices": []}, {"prices": [_PRICE], "other": 1}, {}, {"prices": "x"}, {"prices": [1]},
        {"prices": [{**_PRICE, "extra": 1}]}, {"prices": [_without(_PRICE, "start")]},
        {"prices": [{**_PRICE, "start": None}]}, {"prices": [{**_PRICE, "start": True}]},
        {"prices": [{**_PRICE, "start": 1.5}]}, {"prices": [{**_PRICE, "duration": []}]},
        {"prices": [{**_PRICE, "pricePerKWh": "1,5"}]}, {"prices": [{**_PRICE, "pricePerKWh": {}}]}]),
    "IntervalFile": ("/interval-data", _intervals_accepted, [
        {"readings": [_READING]}, {"readings": [{**_READING, "quality": "estimated", "flow": "export"}]},
        {"readings": [{**_READING, "quality": None, "flow": None}]}, {"readings": [{**_READING, "kWh": 1.5}]},
        {"readings": [{**_READING, "start": "2027-01-15T08:00:00+10:00", "duration": "900"}]},
        {"readings": [{**_READING, "servicePoint": 1001}]},
        {"readings": []}, {"readings": [_READING], "other": 1}, {}, {"readings": [1]},
        {"readings": [{**_READING, "extra": 1}]}, {"readings": [_without(_READING, "kWh")]},
        {"readings": [{**_READING, "kWh": None}]}, {"readings": [{**_READING, "kWh": True}]},
        {"readings": [{**_READING, "quality": "bad"}]}, {"readings": [{**_READING, "flow": "sideways"}]},
        {"readings": [{**_READING, "duration": 30}]}, {"readings": [{**_READING, "duration": 172800}]},
        {"readings": [{**_READING, "start": 1.5}]}, {"readings": [{**_READING, "servicePoint": "x" * 65}]},
        {"readings": [{**_READING, "servicePoint": False}]}]),
    "NetworkLocationRows": ("/network-locations/import", _locations_accepted, [
        [_ROW], [_ROW, {**_ROW, "servicePoint": "SP-2"}], {"items": [_ROW]},
        [], {"items": []}, {"rows": [_ROW]}, {"items": [_ROW], "other": 1}, "x", [1], [{**_ROW, "extra": "1"}],
        [_without(_ROW, "feeder")], [{**_ROW, "feeder": None}], [{**_ROW, "feeder": 5}],
        [{**_ROW, "feeder": "F" * 65}]]),
}


@pytest.mark.parametrize("component", sorted(UPLOAD_BODIES))
def test_an_upload_is_documented_as_its_parser_reads_it(component: str):
    from jsonschema import Draft202012Validator
    from der_gateway.admin.openapi import COMPONENTS
    path, accepted, bodies = UPLOAD_BODIES[component]
    content = SPEC["paths"][path]["post"]["requestBody"]["content"]
    assert component not in COMPONENTS and "$ref" not in json.dumps(content)
    validator = Draft202012Validator(content["application/json"]["schema"])
    verdicts = [(body, validator.is_valid(body), accepted(body)) for body in bodies]
    assert [v for v in verdicts if v[1] != v[2]] == []
    assert {documented for _, documented, _ in verdicts} == {True, False}


# -- schemathesis against a running server ----------------------------------------------------------


class ServerThread:
    """A real server (2030.5 over TLS, and the admin API) on an event loop of its own, for a synchronous client."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: RunningServer | None = None

    def run(self, coroutine: Any, timeout: float = 300) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def start(self) -> str:
        self.thread.start()
        self.server = self.run(start_server(self.config))
        assert self.server.admin_url is not None
        return self.server.admin_url

    def stop(self) -> None:
        if self.server is not None:
            self.run(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(60)
        self.loop.close()


def _seed(url: str) -> dict[str, Any]:
    """One of each thing; the path parameters that name them."""
    def ok(method: str, path: str, body: Any = None) -> Any:
        answer = requests.request(method, url + path, json=body, headers=AUTH, timeout=120)
        assert answer.status_code in (200, 201, 204), (path, answer.status_code, answer.text)
        return answer.json() if answer.content else None

    program = ok("POST", "/programs", {"primacy": 10, "description": "seeded"})
    group = ok("POST", "/groups", {"description": "seeded"})
    device = ok("POST", "/end-devices", {"lFDI": secrets.token_hex(20).upper()})
    ok("PUT", f"/groups/{group['id']}/programs/{program['id']}")
    ok("PUT", f"/groups/{group['id']}/members/{device['id']}")
    curve = ok("POST", f"/programs/{program['id']}/curves", {
        "curveType": 11, "yRefType": 3, "xMultiplier": 0, "yMultiplier": 0,
        "CurveData": [{"xvalue": 90, "yvalue": 30}, {"xvalue": 110, "yvalue": -30}]})
    control = ok("POST", f"/programs/{program['id']}/controls", {
        "interval": {"start": int(time.time()) + 3600, "duration": 600},
        "DERControlBase": {"opModConnect": True}})
    customer = ok("POST", "/customers", {"externalId": "C1", "name": "Seeded", "accounts": [
        {"externalId": "A1", "servicePoints": [{"externalId": "SP1", "substation": "S1", "feeder": "F1",
                                                "transformer": "T1"}]}]})
    account = customer["accounts"][0]
    tariff = ok("POST", "/tariffs", {"code": "T1", "terms": {}})
    asset_type = ok("POST", "/asset-types", {"code": "PV", "derType": 4})
    return {"program_id": program["id"], "group_id": group["id"], "end_device_id": device["id"],
            "curve_id": curve["id"], "control_id": control["id"], "customer_id": customer["id"],
            "account_id": account["id"], "service_point_id": account["servicePoints"][0]["id"],
            "tariff_id": tariff["id"], "asset_type_id": asset_type["id"], "lfdi": device["lFDI"],
            "client_lfdi": device["lFDI"]}


@pytest.fixture(scope="module")
def running_admin(tmp_path_factory: pytest.TempPathFactory, certs_dir: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    data_dir = tmp_path_factory.mktemp("openapi") / "var"
    server = ServerThread(Config(port=0, admin_port=0, admin_token=TOKEN, data_dir=data_dir, certs_dir=certs_dir))
    url = server.start()
    try:
        yield url, _seed(url)
    finally:
        server.stop()


schema = schemathesis.openapi.from_dict(json.loads(json.dumps(SPEC)))
schema.config.generation.update(modes=[schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE],
                                max_examples=8, deterministic=True, no_shrink=True)
schema.config.checks.negative_data_rejection.expected_statuses = ["400", "401", "404", "405", "409", "413", "415"]


def _call(case: schemathesis.Case, running_admin: tuple[str, dict[str, Any]]) -> None:
    url, seeded = running_admin
    if case.meta is not None and case.meta.generation.mode is schemathesis.GenerationMode.POSITIVE:
        # valid requests name the seeded resources (invalid ones keep their generated path: those answer 404)
        case.path_parameters = {name: seeded.get(name, value) for name, value in (case.path_parameters or {}).items()}
    case.call_and_validate(base_url=url, headers=AUTH, checks=CHECKS, timeout=120, allow_redirects=False)


SETTINGS = settings(max_examples=8, deadline=None, derandomize=True, database=None,
                    phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))


@schema.exclude(method="DELETE").parametrize()
@SETTINGS
def test_the_api_answers_as_documented(case, running_admin):
    _call(case, running_admin)


@schema.include(method="DELETE").parametrize()
@SETTINGS
def test_deletions_answer_as_documented(case, running_admin):
    """After the rest, which need the seeded resources."""
    _call(case, running_admin)
