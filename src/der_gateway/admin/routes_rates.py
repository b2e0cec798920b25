"""Poll and post rates the server advertises, per resource, over the configured defaults."""

from __future__ import annotations

from typing import Annotated, NotRequired, TypedDict

from aiohttp import web

from ..services.json_view import Js

from ..services.resources import subscribed_lists_rated
from .http import error, invalid, json_response, read_json
from .state import CONFIG, STORE
from .routing import Answer, PlainBody, Route
from ..sep.json_form import Plain, check_plain

# the resources whose pollRate (and, for EndDevice and MirrorUsagePoint, postRate) the server advertises
RESOURCES = ("dcap", "tm", "edev", "fsa", "derp", "der", "mup", "upt", "lel", "rsps", "sub")
POSTING = ("edev", "mup")

RATE = Plain(int, nullable=True, minimum=1, maximum=2**32 - 1)
SET = {"resource": Plain(str, required=True, choices=RESOURCES), "pollRate": RATE,
       "postRate": Plain(int, nullable=True, minimum=1, maximum=2**32 - 1,
                         description=f"only for {', '.join(POSTING)}")}


class Rate(TypedDict):
    resource: Annotated[str, Js(enum=list(RESOURCES))]
    pollRate: int | None
    effectivePollRate: int
    postRate: NotRequired[int | None]
    effectivePostRate: NotRequired[int]


def _view(resource: str, rates: dict, config) -> Rate:
    poll, post = rates.get(resource, (None, None))
    view: Rate = {"resource": resource, "pollRate": poll,
                  "effectivePollRate": poll if poll is not None else config.poll_rate}
    if resource in POSTING:
        view["postRate"] = post
        view["effectivePostRate"] = post if post is not None else config.post_rate
    return view


async def set_rate(request: web.Request) -> web.Response:
    """Replaces the resource's rates: an omitted or null rate falls back to the configured default."""
    store, config = request.app[STORE], request.app[CONFIG]
    values, errors = check_plain(await read_json(request), SET)
    resource = values.get("resource")
    if resource is not None and values.get("postRate") is not None and resource not in POSTING:
        errors.append(error(f"only {' and '.join(POSTING)} have a postRate", "postRate"))
    if errors:
        raise invalid(errors)
    resource = values["resource"]  # required
    rates = (values.get("pollRate"), values.get("postRate"))
    if (await store.rates()).get(resource, (None, None)) != rates:
        await store.set_rate(resource, *rates, changed=await subscribed_lists_rated(store, resource))
    return json_response(_view(resource, await store.rates(), config))


async def list_rates(request: web.Request) -> web.Response:
    rates = await request.app[STORE].rates()
    return json_response({"items": [_view(r, rates, request.app[CONFIG]) for r in RESOURCES]})


ROUTES: tuple[Route, ...] = (
    Route("PUT", "/rates", set_rate,
          "Set a resource's pollRate (and postRate)",
          {200: Answer("the rates now", "Rate")},
          body=PlainBody(SET, "Replaces the resource's rates; omitted or null: the configured default.")),
    Route("GET", "/rates", list_rates,
          "The rates of every resource",
          {200: Answer("all", "RateList")}),
)
