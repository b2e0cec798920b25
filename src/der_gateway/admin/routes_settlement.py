"""Settlement of utility events: each program's baseline method and measurement source, a stage's credits
(computed on demand once it has ended; computed again while unbilled, as data arrives), and a customer's
statement (JSON, or an HTML document to hand over)."""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from aiohttp import web

from ..domain.settlement.baseline_parameters import method_document, parse_method
from ..services import settlement, settlement_json, statement, statement_html
from .http import WINDOW, error, invalid, json_response, not_found, path_id, query_window, read_json
from .routes_programs import program_of
from .routes_utility_events import utility_event_of, _stage_of
from .state import CLOCK, CONFIG, STORE
from ..sep.json_form import Plain, check_plain
from ..services.json_view import Id, Js
from .routing import Answer, PlainBody, Route

BASELINE = {
    "method": Plain(dict, required=True, description="name: high-x-of-y, comparable-day or meter-before, and that "
                                                     "method's parameters (docs/settlement.md)"),
    "measurement": Plain(str, choices=settlement.MEASUREMENTS, description="default auto")}


class Baseline(TypedDict):
    programId: Id
    method: dict[str, Any]
    measurement: Annotated[str, Js(enum=list(settlement.MEASUREMENTS))]


class StageSettlement(TypedDict):
    eventMRID: str
    stageId: Id
    stagePosition: Id
    credits: list[settlement_json.Credit]
    totals: settlement_json.Totals


async def put_baseline(request: web.Request) -> web.Response:
    """{"method": {"name": "high-x-of-y" | "comparable-day" | "meter-before", ...parameters},
    "measurement": "auto" | "cis" | "telemetry"} (docs/settlement.md)."""
    program = await program_of(request)
    values, errors = check_plain(await read_json(request), BASELINE)
    measurement = values.get("measurement", "auto")
    method = None
    if "method" in values:
        try:
            method = parse_method(values["method"])
        except ValueError as exc:
            field, _, reason = str(exc).partition(": ")
            errors.append(error(reason or str(exc), f"method.{field}" if reason else "method"))
    if errors or method is None:
        raise invalid(errors)
    document = method_document(method)
    await request.app[STORE].set_baseline_method(program.id, document, measurement)
    view: Baseline = {"programId": program.id, "method": document, "measurement": measurement}
    return json_response(view)


async def get_baseline(request: web.Request) -> web.Response:
    """The program's baseline method (high-x-of-y with its defaults, measured "auto", until one is set)."""
    program = await program_of(request)
    method, measurement = await settlement.program_method(request.app[STORE], program.id)
    view: Baseline = {"programId": program.id, "method": method_document(method), "measurement": measurement}
    return json_response(view)


async def settle(request: web.Request) -> web.Response:
    store = request.app[STORE]
    event = await utility_event_of(request)
    stage = _stage_of(event, request)
    settled = await settlement.settle_and_export(store, request.app[CONFIG], request.app[CLOCK], event.mrid, stage)
    return json_response(_answer(event.mrid, stage.id, stage.position, settled.credits))


async def get_settlement(request: web.Request) -> web.Response:
    event = await utility_event_of(request)
    stage = _stage_of(event, request)
    return json_response(_answer(event.mrid, stage.id, stage.position,
                                 await request.app[STORE].credits(stage_id=stage.id)))


def _answer(event_mrid: str, stage_id: int, position: int, credits: list) -> StageSettlement:
    return {"eventMRID": event_mrid, "stageId": stage_id, "stagePosition": position,
            "credits": [settlement_json.credit(c) for c in credits], "totals": settlement_json.totals(credits)}


ROUTES: tuple[Route, ...] = (
    Route("PUT", "/programs/{program_id:[0-9]+}/baseline", put_baseline,
          "Set the program's baseline method",
          {200: Answer("it", "Baseline")},
          body=PlainBody(BASELINE)),
    Route("GET", "/programs/{program_id:[0-9]+}/baseline", get_baseline,
          "The program's baseline method",
          {200: Answer("it (high-x-of-y until one is set)", "Baseline")}),
    Route("POST", "/utility-events/{event_id:[0-9]+}/stages/{position:[0-9]+}/settlement", settle,
          "Settle the stage: kWh avoided and credits per device (again while unbilled)",
          {200: Answer("the credits", "StageSettlement")},
          errors={409: "the stage has not ended"}),
    Route("GET", "/utility-events/{event_id:[0-9]+}/stages/{position:[0-9]+}/settlement", get_settlement,
          "The stage's credits",
          {200: Answer("as stored", "StageSettlement")}),
)


async def _statement(request: web.Request) -> statement.Statement:
    customer_id = path_id(request, "customer_id", "customer")
    start, end = query_window(request, statement.MAX_PERIOD)
    if await request.app[STORE].customer(customer_id) is None:
        raise not_found(f"customer {customer_id}")
    return await statement.statement(request.app[STORE], customer_id, start, end)


async def get_statement(request: web.Request) -> web.Response:
    """?from=&to= (Unix seconds): the stages that began in the period."""
    return json_response(await _statement(request))


async def get_statement_html(request: web.Request) -> web.Response:
    return web.Response(text=statement_html.render(await _statement(request)), content_type="text/html")


ROUTES += (
    Route("GET", "/customers/{customer_id:[0-9]+}/statement", get_statement,
          "The customer's statement",
          {200: Answer("it", "Statement")},
          errors={400: "from and to missing or wrong"},
          description="The stages that began in the period from to to.", query=WINDOW),
    Route("GET", "/customers/{customer_id:[0-9]+}/statement.html", get_statement_html,
          "The customer's statement as an HTML document",
          {200: Answer("text/html")},
          errors={400: "from and to missing or wrong"}, query=WINDOW),
)
