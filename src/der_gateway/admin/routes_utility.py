"""The utility's records: customers with their accounts and service points, tariffs and their
acceptance, and aggregators with the customers they may act for.

Bodies are checked by domain.utility (every problem at once, named by field);
the store judges what needs the stored state (a taken external id: 409) in the
transaction that writes, and a refusal stores nothing.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..domain.settlement.credits import parse_terms
from ..domain.settlement.prices import PricingError
from ..domain.utility import Problem, bodies
from ..domain.utility.fields import check
from ..services import utility_json as render
from .http import found, invalid, json_response, no_content, path_id, path_lfdi, read_json
from .state import CLOCK, STORE
from .routing import NO_CONTENT, Answer, FieldsBody, Named, Route


def valid(values: dict[str, Any], errors: list[Problem]) -> dict[str, Any]:
    if errors:
        raise invalid(errors)
    return values


# -- customers ------------------------------------------------------------------------------------

async def _customer_id(request: web.Request) -> int:
    customer_id = path_id(request, "customer_id", "customer")
    await found(await request.app[STORE].customer(customer_id), f"customer {customer_id}")
    return customer_id


async def create_customer(request: web.Request) -> web.Response:
    values = valid(*bodies.parse_customer(await read_json(request)))
    customer = await request.app[STORE].create_customer(values)
    return json_response(render.customer(customer), 201, f"/customers/{customer.id}")


async def list_customers(request: web.Request) -> web.Response:
    return json_response({"items": [render.customer(c) for c in await request.app[STORE].customers()]})


async def get_customer(request: web.Request) -> web.Response:
    customer_id = path_id(request, "customer_id", "customer")
    customer = await found(await request.app[STORE].customer(customer_id), f"customer {customer_id}")
    return json_response(render.customer(customer))


async def patch_customer(request: web.Request) -> web.Response:
    customer_id = await _customer_id(request)
    values = valid(*check(await read_json(request), bodies.CUSTOMER_PATCH, partial=True))
    return json_response(render.customer(await request.app[STORE].update_customer(customer_id, values,
                                                                                  request.app[CLOCK].now())))


async def delete_customer(request: web.Request) -> web.Response:
    await request.app[STORE].delete_customer(await _customer_id(request))
    return no_content()


async def add_account(request: web.Request) -> web.Response:
    customer_id = await _customer_id(request)
    values = valid(*bodies.parse_account(await read_json(request)))
    account = await request.app[STORE].add_account(customer_id, values)
    return json_response(render.account(account), 201, f"/accounts/{account.id}")


async def _account_id(request: web.Request) -> int:
    account_id = path_id(request, "account_id", "account")
    await found(await request.app[STORE].account(account_id), f"account {account_id}")
    return account_id


async def get_account(request: web.Request) -> web.Response:
    account_id = path_id(request, "account_id", "account")
    return json_response(render.account(await found(await request.app[STORE].account(account_id),
                                                    f"account {account_id}")))


async def patch_account(request: web.Request) -> web.Response:
    account_id = await _account_id(request)
    values = valid(*check(await read_json(request), bodies.ACCOUNT_PATCH, partial=True))
    return json_response(render.account(await request.app[STORE].update_account(account_id, values)))


async def add_service_point(request: web.Request) -> web.Response:
    account_id = await _account_id(request)
    values = valid(*check(await read_json(request), bodies.SERVICE_POINT))
    sp = await request.app[STORE].add_service_point(account_id, values)
    return json_response(render.service_point(sp), 201, f"/service-points/{sp.id}")


async def _service_point_id(request: web.Request) -> int:
    sp_id = path_id(request, "service_point_id", "service point")
    await found(await request.app[STORE].service_point(sp_id), f"service point {sp_id}")
    return sp_id


async def get_service_point(request: web.Request) -> web.Response:
    sp_id = path_id(request, "service_point_id", "service point")
    return json_response(render.service_point(await found(await request.app[STORE].service_point(sp_id),
                                                          f"service point {sp_id}")))


async def patch_service_point(request: web.Request) -> web.Response:
    sp_id = await _service_point_id(request)
    values = valid(*check(await read_json(request), bodies.SERVICE_POINT_PATCH, partial=True))
    return json_response(render.service_point(await request.app[STORE].update_service_point(sp_id, values)))


async def delete_service_point(request: web.Request) -> web.Response:
    await request.app[STORE].delete_service_point(await _service_point_id(request))
    return no_content()


async def _set_tariff(request: web.Request, accepted: bool) -> web.Response:
    store = request.app[STORE]
    customer_id = await _customer_id(request)
    tariff_id = path_id(request, "tariff_id", "tariff")
    await found(await store.tariff(tariff_id), f"tariff {tariff_id}")
    await store.set_tariff_acceptance(customer_id, tariff_id, accepted, request.app[CLOCK].now())
    return no_content()


async def accept_tariff(request: web.Request) -> web.Response:
    return await _set_tariff(request, True)


async def withdraw_tariff(request: web.Request) -> web.Response:
    return await _set_tariff(request, False)


# -- tariffs ------------------------------------------------------------------------------------------

async def _tariff_id(request: web.Request) -> int:
    tariff_id = path_id(request, "tariff_id", "tariff")
    await found(await request.app[STORE].tariff(tariff_id), f"tariff {tariff_id}")
    return tariff_id


def _settlement_terms(values: dict[str, Any]) -> dict[str, Any]:
    """The terms' "settlement" object, if any, must be incentive terms settlement can read
    (domain/settlement/credits.py)."""
    if "terms" in values:
        try:
            parse_terms(values["terms"])
        except PricingError as exc:
            raise invalid(exc.problems) from None
    return values


async def create_tariff(request: web.Request) -> web.Response:
    values = _settlement_terms(valid(*check(await read_json(request), bodies.TARIFF)))
    tariff = await request.app[STORE].create_tariff(values)
    return json_response(render.tariff(tariff), 201, f"/tariffs/{tariff.id}")


async def list_tariffs(request: web.Request) -> web.Response:
    return json_response({"items": [render.tariff(t) for t in await request.app[STORE].tariffs()]})


async def get_tariff(request: web.Request) -> web.Response:
    tariff_id = path_id(request, "tariff_id", "tariff")
    return json_response(render.tariff(await found(await request.app[STORE].tariff(tariff_id), f"tariff {tariff_id}")))


async def patch_tariff(request: web.Request) -> web.Response:
    tariff_id = await _tariff_id(request)
    values = _settlement_terms(valid(*check(await read_json(request), bodies.TARIFF_PATCH, partial=True)))
    return json_response(render.tariff(await request.app[STORE].update_tariff(tariff_id, values)))


async def delete_tariff(request: web.Request) -> web.Response:
    await request.app[STORE].delete_tariff(await _tariff_id(request))
    return no_content()


# -- aggregators -----------------------------------------------------------------------------------------

async def _aggregator(request: web.Request) -> str:
    lfdi = path_lfdi(request, "lfdi")
    await found(await request.app[STORE].utility_aggregator(lfdi), f"aggregator {lfdi}")
    return lfdi


async def create_aggregator(request: web.Request) -> web.Response:
    values = valid(*bodies.parse_aggregator(await read_json(request)))
    aggregator = await request.app[STORE].save_aggregator(values["lFDI"], values, request.app[CLOCK].now(),
                                                          create=True)
    return json_response(render.aggregator(aggregator), 201, f"/aggregators/{aggregator.lfdi}")


async def list_aggregators(request: web.Request) -> web.Response:
    return json_response({"items": [render.aggregator(a) for a in await request.app[STORE].utility_aggregators()]})


async def get_aggregator(request: web.Request) -> web.Response:
    lfdi = path_lfdi(request, "lfdi")
    return json_response(render.aggregator(await found(await request.app[STORE].utility_aggregator(lfdi),
                                                       f"aggregator {lfdi}")))


async def patch_aggregator(request: web.Request) -> web.Response:
    lfdi = await _aggregator(request)
    values = valid(*bodies.parse_aggregator(await read_json(request), partial=True))
    return json_response(render.aggregator(await request.app[STORE].save_aggregator(
        lfdi, values, request.app[CLOCK].now(), create=False)))


async def _authorise(request: web.Request, authorised: bool) -> web.Response:
    lfdi = await _aggregator(request)
    customer_id = await _customer_id(request)
    await request.app[STORE].set_aggregator_customer(lfdi, customer_id, authorised, request.app[CLOCK].now())
    return no_content()


async def authorise_customer(request: web.Request) -> web.Response:
    return await _authorise(request, True)


async def deauthorise_customer(request: web.Request) -> web.Response:
    return await _authorise(request, False)


# an id or an external id each (bodies.parse_aggregator)
CUSTOMER_REFS = {"type": "array",
                 "items": {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "string", "minLength": 1}]}}

ROUTES: tuple[Route, ...] = (
    Route("POST", "/customers", create_customer,
          "Create a customer with its accounts and service points",
          {201: Answer("created", "Customer")},
          body=FieldsBody(bodies.CUSTOMER, {"accounts": {"type": "array",
                                                         "items": {"$ref": "#/components/schemas/AccountInput"}}},
                          "External ids (customer, accounts, service points) are unique: a taken one is 409."),
          errors={409: "an external id or code is taken"}),
    Route("GET", "/customers", list_customers,
          "List customers",
          {200: Answer("all, by id", "CustomerList")}),
    Route("GET", "/customers/{customer_id:[0-9]+}", get_customer,
          "Get a customer with accounts, service points, tariffs and aggregators",
          {200: Answer("it", "Customer")}),
    Route("PATCH", "/customers/{customer_id:[0-9]+}", patch_customer,
          "Change a customer's name or status; deactivating an active customer (a move-out) unenrolls its devices "
          "at once, with the reason, and cancels its open tasks",
          {200: Answer("it", "Customer")},
          body=FieldsBody(bodies.CUSTOMER_PATCH, partial=True)),
    Route("DELETE", "/customers/{customer_id:[0-9]+}", delete_customer,
          "Delete a customer",
          NO_CONTENT,
          errors={409: "it has DER assets"}),
    Route("POST", "/customers/{customer_id:[0-9]+}/accounts", add_account,
          "Add an account (with service points)",
          {201: Answer("created", "Account")},
          body=Named("AccountInput"),
          errors={409: "an external id or code is taken"}),
    Route("PUT", "/customers/{customer_id:[0-9]+}/tariffs/{tariff_id:[0-9]+}", accept_tariff,
          "Record the customer's acceptance of a tariff",
          NO_CONTENT),
    Route("DELETE", "/customers/{customer_id:[0-9]+}/tariffs/{tariff_id:[0-9]+}", withdraw_tariff,
          "Withdraw it",
          NO_CONTENT),
    Route("GET", "/accounts/{account_id:[0-9]+}", get_account,
          "Get an account",
          {200: Answer("it", "Account")}),
    Route("PATCH", "/accounts/{account_id:[0-9]+}", patch_account,
          "Change an account's status",
          {200: Answer("it", "Account")},
          body=FieldsBody(bodies.ACCOUNT_PATCH, partial=True)),
    Route("POST", "/accounts/{account_id:[0-9]+}/service-points", add_service_point,
          "Add a service point",
          {201: Answer("created", "ServicePoint")},
          body=Named("ServicePointInput"),
          errors={409: "an external id or code is taken"}),
    Route("GET", "/service-points/{service_point_id:[0-9]+}", get_service_point,
          "Get a service point",
          {200: Answer("it", "ServicePoint")}),
    Route("PATCH", "/service-points/{service_point_id:[0-9]+}", patch_service_point,
          "Change a service point's address or network location",
          {200: Answer("it", "ServicePoint")},
          body=FieldsBody(bodies.SERVICE_POINT_PATCH, partial=True)),
    Route("DELETE", "/service-points/{service_point_id:[0-9]+}", delete_service_point,
          "Delete a service point",
          NO_CONTENT,
          errors={409: "it has DER assets"}),
    Route("POST", "/tariffs", create_tariff,
          "Create a tariff",
          {201: Answer("created", "Tariff")},
          body=FieldsBody(bodies.TARIFF),
          errors={409: "an external id or code is taken"}),
    Route("GET", "/tariffs", list_tariffs,
          "List tariffs",
          {200: Answer("all", "TariffList")}),
    Route("GET", "/tariffs/{tariff_id:[0-9]+}", get_tariff,
          "Get a tariff",
          {200: Answer("it", "Tariff")}),
    Route("PATCH", "/tariffs/{tariff_id:[0-9]+}", patch_tariff,
          "Change a tariff",
          {200: Answer("it", "Tariff")},
          body=FieldsBody(bodies.TARIFF_PATCH, partial=True)),
    Route("DELETE", "/tariffs/{tariff_id:[0-9]+}", delete_tariff,
          "Delete a tariff",
          NO_CONTENT,
          errors={409: "still in use (named in the answer)"}),
    Route("POST", "/aggregators", create_aggregator,
          "Add an aggregator",
          {201: Answer("created", "Aggregator")},
          body=FieldsBody(bodies.AGGREGATOR, {"customers": CUSTOMER_REFS},
                          "customers: those it may act for. Every change is synced ('aggregator')."),
          errors={409: "the LFDI is known already"}),
    Route("GET", "/aggregators", list_aggregators,
          "List aggregators",
          {200: Answer("all, by name", "AggregatorList")}),
    Route("GET", "/aggregators/{lfdi}", get_aggregator,
          "Get an aggregator",
          {200: Answer("it", "Aggregator")},
          errors={400: "lfdi is not 40 hex digits"}),
    Route("PATCH", "/aggregators/{lfdi}", patch_aggregator,
          "Change an aggregator (suspend it, say)",
          {200: Answer("it", "Aggregator")},
          body=FieldsBody(bodies.AGGREGATOR_PATCH, {"customers": CUSTOMER_REFS}, "customers replaces the set",
                          partial=True)),
    Route("PUT", "/aggregators/{lfdi}/customers/{customer_id:[0-9]+}", authorise_customer,
          "Authorise the aggregator for a customer",
          NO_CONTENT,
          errors={400: "lfdi is not 40 hex digits"}),
    Route("DELETE", "/aggregators/{lfdi}/customers/{customer_id:[0-9]+}", deauthorise_customer,
          "Withdraw that",
          NO_CONTENT,
          errors={400: "lfdi is not 40 hex digits"}),
)
