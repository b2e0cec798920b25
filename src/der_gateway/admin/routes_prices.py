"""A program's pricing (fixed, hourly or market) and its prices per kWh over event timelines
(domain/settlement/prices.py): set the pricing, load prices as CSV or JSON, read them for a window."""

from __future__ import annotations

from typing import Annotated, TypedDict

from aiohttp import web

from ..domain.settlement.prices import (PRICE_FILE, PRICE_ROW, PRICING, Kind, Pricing as PricingRecord,
                                        PricingError, parse_prices, parse_pricing, price_segments)
from ..services.json_view import DecimalText, Id, doc
from .http import (WINDOW, ApiError, conflict, error, invalid, json_response, not_found, query_window, read_json,
                   read_upload)
from .routes_programs import program_of
from .state import CLOCK, CONFIG, STORE
from .routing import Answer, PlainBody, Route, Upload

MAX_WINDOW = 366 * 86_400


class Pricing(TypedDict):
    programId: Id
    kind: Kind
    currency: str
    pricePerKWh: DecimalText | None


class PriceLoad(TypedDict):
    programId: Id
    inserted: int
    replaced: int
    unchanged: int


class Segment(TypedDict):
    start: int
    duration: int
    pricePerKWh: Annotated[DecimalText | None, doc("null: no price covers it")]


PriceWindow = TypedDict("PriceWindow", {
    "programId": Id, "kind": Kind, "currency": str, "pricePerKWh": DecimalText | None, "from": int, "to": int,
    "segments": list[Segment], "complete": bool})


def pricing_view(program_id: int, p: PricingRecord) -> Pricing:
    return {"programId": program_id, "kind": p.kind, "currency": p.currency,
            "pricePerKWh": str(p.fixed_price) if p.fixed_price is not None else None}


async def put_pricing(request: web.Request) -> web.Response:
    program = await program_of(request)
    try:
        pricing = parse_pricing(await read_json(request))
    except PricingError as exc:
        raise invalid(exc.problems) from None
    await request.app[STORE].set_pricing(program.id, pricing)
    return json_response(pricing_view(program.id, pricing))


async def get_pricing(request: web.Request) -> web.Response:
    program = await program_of(request)
    pricing = await request.app[STORE].pricing(program.id)
    if pricing is None:
        raise not_found(f"pricing for program {program.id} (PUT /programs/{program.id}/pricing)")
    return json_response(pricing_view(program.id, pricing))


async def load_prices(request: web.Request) -> web.Response:
    """A text/csv (start,duration,pricePerKWh) or application/json ({"prices": [...]}) body; every bad row is
    named and nothing is loaded; loading the same prices again changes nothing."""
    store, config = request.app[STORE], request.app[CONFIG]
    program = await program_of(request)
    pricing = await store.pricing(program.id)
    if pricing is None or pricing.kind == "fixed":
        raise conflict(f"program {program.id} has {'fixed' if pricing else 'no'} pricing: set hourly or market "
                       f"pricing first (PUT /programs/{program.id}/pricing)")
    raw, fmt = await read_upload(request, config.admin_max_body_bytes)
    try:
        points = parse_prices(raw, fmt, pricing.kind)
    except PricingError as exc:
        raise invalid(exc.problems) from None
    except UnicodeDecodeError:
        raise invalid([error("the file must be UTF-8")]) from None
    loaded = await store.load_prices(program.id, points, request.app[CLOCK].now())
    view: PriceLoad = {"programId": program.id, "inserted": loaded.inserted, "replaced": loaded.replaced,
                       "unchanged": loaded.unchanged}
    return json_response(view)


async def get_prices(request: web.Request) -> web.Response:
    """?from=&to= (Unix seconds): the window cut where its price changes; a stretch no price covers has
    pricePerKWh null."""
    store = request.app[STORE]
    program = await program_of(request)
    start, end = query_window(request, MAX_WINDOW)
    pricing = await store.pricing(program.id)
    if pricing is None:
        raise ApiError(404, f"no pricing for program {program.id}")
    segments = price_segments(pricing, await store.prices(program.id, start, end), start, end)
    view: PriceWindow = {**pricing_view(program.id, pricing), "from": start, "to": end, "segments": [
        {"start": s.start, "duration": s.end - s.start,
         "pricePerKWh": str(s.price) if s.price is not None else None} for s in segments],
        "complete": all(s.price is not None for s in segments)}
    return json_response(view)


ROUTES: tuple[Route, ...] = (
    Route("PUT", "/programs/{program_id:[0-9]+}/pricing", put_pricing,
          "Set the program's pricing",
          {200: Answer("it", "Pricing")},
          body=PlainBody(PRICING)),
    Route("GET", "/programs/{program_id:[0-9]+}/pricing", get_pricing,
          "The program's pricing",
          {200: Answer("it", "Pricing")}),
    Route("POST", "/programs/{program_id:[0-9]+}/prices", load_prices,
          "Load hourly or market prices (CSV or JSON)",
          {200: Answer("what changed", "PriceLoad")},
          body=Upload(PlainBody(PRICE_FILE, nested={"prices": PlainBody(PRICE_ROW)}),
                      f"a header line {','.join(PRICE_ROW)}, then one price per line"),
          errors={409: "the program has no pricing, or fixed pricing",
                  415: "Content-Type is neither text/csv nor application/json"}),
    Route("GET", "/programs/{program_id:[0-9]+}/prices", get_prices,
          "The prices over a window",
          {200: Answer("the window cut where its price changes", "PriceWindow")},
          errors={400: "from and to missing or wrong"},
          query=WINDOW),
)
