"""Settlement credits per account, and their billing: run it now, and the batches sent (each acknowledged by
billing at POST /sync/messages/{id}/ack, as every sync message is)."""

from __future__ import annotations

from typing import Annotated, TypedDict

from aiohttp import web

from ..services import billing
from ..services import settlement_json as render
from ..services.settlement_json import BATCH_STATES
from ..services.json_view import Id, doc
from .http import error, invalid, json_response, not_found, path_id, read_json, read_query
from .routes_utility import _account_id
from .state import CLOCK, STORE
from ..sep.json_form import Plain, check_plain
from .routing import Answer, PlainBody, Query, Route

BILLING_RUN = {"accountIds": Plain(list, nullable=True, items=Plain(int, minimum=1, maximum=2**63 - 1),
                                   description="account ids; absent or null: every account")}


class AccountCredits(TypedDict):
    accountId: Id
    items: list[render.Credit]
    unbilled: render.Totals
    pending: Annotated[render.Totals, doc("of the unbilled, what is on its way to billing")]


class BillingBatches(TypedDict):
    batches: list[render.BillingBatch]


CREDITS_QUERY = (Query("unbilled", "true: the unbilled credits only; false: the billed ones; absent: all", bool),)
BATCHES_QUERY = (Query("state", "only batches in this state", choices=BATCH_STATES),
                 Query("accountId", "only this account's batches", int))


async def account_credits(request: web.Request) -> web.Response:
    """?unbilled=true|false (default: every credit)."""
    account_id = await _account_id(request)
    store = request.app[STORE]
    credits = await store.credits(account_id=account_id, unbilled=read_query(request, CREDITS_QUERY).get("unbilled"))
    unbilled_now = [c for c in credits if c.billed_at is None]
    view: AccountCredits = {
        "accountId": account_id, "items": [render.credit(c) for c in credits], "unbilled": render.totals(unbilled_now),
        "pending": render.totals(c for c in unbilled_now if c.billing_batch_id is not None)}
    return json_response(view)


async def run_billing(request: web.Request) -> web.Response:
    """{"accountIds": [...]} (optional: every account): each account's unbilled credits not already on their way,
    as a batch per currency to every billing endpoint."""
    values, errors = check_plain(await read_json(request), BILLING_RUN)
    ids = values.get("accountIds")
    if errors:
        raise invalid(errors)
    store = request.app[STORE]
    for i, account_id in enumerate(ids or []):
        if await store.account(account_id) is None:
            errors.append(error(f"no account {account_id}", f"accountIds[{i}]"))
    if errors:
        raise invalid(errors)
    batches = await billing.bill(store, request.app[CLOCK], ids, "operator")
    view: BillingBatches = {"batches": [render.batch(b) for b in batches]}
    return json_response(view)


async def list_batches(request: web.Request) -> web.Response:
    """?state=pending|billed|rejected, ?accountId=N."""
    query = read_query(request, BATCHES_QUERY)
    batches = await request.app[STORE].billing_batches(state=query.get("state"), account_id=query.get("accountId"))
    return json_response({"items": [render.batch(b) for b in batches]})


async def get_batch(request: web.Request) -> web.Response:
    batch_id = path_id(request, "batch_id", "billing batch")
    found = await request.app[STORE].billing_batch(batch_id)
    if found is None:
        raise not_found(f"billing batch {batch_id}")
    return json_response(render.batch(found))


ROUTES: tuple[Route, ...] = (
    Route("GET", "/accounts/{account_id:[0-9]+}/credits", account_credits,
          "The account's settlement credits",
          {200: Answer("by stage", "AccountCredits")},
          query=CREDITS_QUERY),
    Route("POST", "/billing/run", run_billing,
          "Send unbilled credits to billing now",
          {200: Answer("the batches queued", "BillingBatches")},
          body=PlainBody(BILLING_RUN)),
    Route("GET", "/billing/batches", list_batches,
          "Billing batches",
          {200: Answer("by id", "BillingBatchList")},
          query=BATCHES_QUERY),
    Route("GET", "/billing/batches/{batch_id:[0-9]+}", get_batch,
          "A billing batch",
          {200: Answer("it", "BillingBatch")}),
)
