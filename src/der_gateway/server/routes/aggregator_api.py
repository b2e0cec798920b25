"""The aggregator-facing operations on the 2030.5 TLS listener: JSON, not 2030.5 XML.

    POST /api/v1/registerDERDevice      register a customer's DER and enroll it in a program
    POST /api/v1/interconnectDER        ask for an interconnection (engineering approves it)
    GET  /api/v1/service-tasks/{id}     follow a service task this aggregator's request created

The caller is its client certificate: only an aggregator the utility knows and
has not suspended may call (403 otherwise), and only for customers it is
authorised for (403, without saying whether the customer exists).  The
operations and their answers are the admin API's (admin/routes_utility_ops.py):
every problem at once as {"errors": [{"field", "reason"}]}, nothing created on a
refusal, and an optional Idempotency-Key header.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from ...services import utility_json as render
from ...services.inbound import INTERCONNECT, REGISTER, idempotency, inbound
from ...domain.utility import Caller, Rejected, problem
from ...refusal_status import status_of, status_of_outcome
from ..access import path_int
from ..state import BACKGROUND, CLIENT, CLOCK, CONFIG, SCHEMAS, STORE

PREFIX = "/api/v1"
JSON = "application/json"

routes = web.RouteTableDef()


def _errors(status: int, errors: list[dict[str, str]]) -> web.Response:
    return web.json_response({"errors": errors}, status=status)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


async def _aggregator(request: web.Request) -> tuple[str | None, web.Response | None]:
    """The calling aggregator's LFDI, or the refusal to answer."""
    lfdi = request[CLIENT].lfdi
    aggregator = await request.app[STORE].utility_aggregator(lfdi)
    if aggregator is None:
        return None, _errors(403, [problem("only an aggregator's certificate may call this operation")])
    if aggregator.status != "active":
        return None, _errors(403, [problem(f"rule aggregator: this aggregator is {aggregator.status}")])
    return lfdi, None


async def _body(request: web.Request) -> tuple[Any, web.Response | None]:
    if request.content_type != JSON:
        return None, _errors(415, [problem(f"Content-Type must be {JSON}, not {request.content_type or 'absent'}")])
    limit = request.app[CONFIG].max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        return None, _errors(413, [problem(f"the body exceeds the {limit}-byte limit")])
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return None, _errors(413, [problem(f"the body exceeds the {limit}-byte limit")])
    try:
        data = json.loads(raw, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:
        return None, _errors(400, [problem(f"malformed JSON: {exc}", "(body)")])
    if not isinstance(data, dict):
        return None, _errors(400, [problem("the body must be a JSON object", "(body)")])
    return data, None


async def _operation(request: web.Request, operation: str) -> web.Response:
    lfdi, refusal = await _aggregator(request)
    if refusal is not None:
        return refusal
    assert lfdi is not None  # not refused: an active aggregator's
    body, refusal = await _body(request)
    if refusal is not None:
        return refusal
    app = request.app
    try:
        idem = idempotency(request.headers, lfdi, operation, body)
        outcome = await inbound(app[STORE], app[SCHEMAS], app[CONFIG].issuer, app[CLOCK].now(), operation,
                                body, Caller(lfdi, aggregator=lfdi, certified=True), idem)
    except Rejected as exc:
        return _errors(status_of(exc), exc.errors)
    if BACKGROUND in app:
        app[BACKGROUND].changed()  # a new task for the monitor
    return web.Response(text=render.answer_text(outcome), status=status_of_outcome(outcome.outcome),
                        content_type=JSON)


@routes.post(PREFIX + "/" + REGISTER)
async def register_der_device(request: web.Request) -> web.Response:
    return await _operation(request, REGISTER)


@routes.post(PREFIX + "/" + INTERCONNECT)
async def interconnect_der(request: web.Request) -> web.Response:
    return await _operation(request, INTERCONNECT)


@routes.get(PREFIX + "/service-tasks/{task}")
async def get_service_task(request: web.Request) -> web.Response:
    """A task created by this aggregator's request; any other answers 404, as a missing one does."""
    lfdi, refusal = await _aggregator(request)
    if refusal is not None:
        return refusal
    task = await request.app[STORE].service_task(path_int(request, "task"))
    if task is None or (task.payload or {}).get("requestedBy") != lfdi:
        return _errors(404, [problem(f"no service task at {request.path}")])
    return web.json_response(render.service_task(task))
