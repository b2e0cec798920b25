"""der-gateway prices: set a program's pricing, and load its hourly or market prices from a CSV or JSON file."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from ..config import Config
from ..domain.settlement.prices import KINDS, PricingError, parse_prices, parse_pricing
from ..store.opening import open_store
from ..store.price_records import PriceLoad
from . import progress
from .progress import Progress

# prices stored at a time, each batch one transaction and a step of the progress shown; loading the same prices
# again changes nothing, so a load cut short is finished by running it again
LOAD_BATCH = 500


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("prices", help="set a program's pricing, or load its prices (settlement)")
    sub = p.add_subparsers(dest="action", required=True)
    pricing = sub.add_parser("pricing", help="set the program's pricing: fixed (one price), hourly or market")
    pricing.add_argument("program", type=int)
    pricing.add_argument("--kind", choices=KINDS, required=True)
    pricing.add_argument("--currency", default="USD", help="ISO 4217 (default USD)")
    pricing.add_argument("--price", help="per kWh, for fixed pricing (an exact decimal)")
    pricing.set_defaults(run=run_pricing)
    load = sub.add_parser("load", help="load prices per kWh: CSV (start,duration,pricePerKWh) or JSON")
    load.add_argument("program", type=int)
    load.add_argument("file", type=Path)
    load.add_argument("--format", choices=("csv", "json"), help="default: from the file name")
    progress.add_option(load)
    load.set_defaults(run=run_load)
    for parser in (pricing, load):
        parser.add_argument("--data-dir", type=Path, help="default: the config's data_dir, or var")
        parser.add_argument("--config", type=Path, help="a TOML file of settings (for data_dir and store)")
        parser.add_argument("--store", metavar="URL", help="a PostgreSQL URL, if the server keeps its data there")


def _config(args: argparse.Namespace) -> Config:
    return Config.load(args.config, data_dir=args.data_dir, store=args.store)


def _fail(problems: list[dict[str, str]], what: str, shown: Progress | None = None) -> int:
    (shown or Progress(False)).refused(what, problems, "nothing was changed")
    return 1


async def _with_program(config: Config, program_id: int, act):
    store = await open_store(config.store, config.data_dir)
    try:
        if await store.program(program_id) is None:
            return None
        return await act(store)
    finally:
        await store.close()


def run_pricing(args: argparse.Namespace) -> int:
    body = {"kind": args.kind, "currency": args.currency, **({"pricePerKWh": args.price} if args.price else {})}
    try:
        pricing = parse_pricing(body)
    except PricingError as exc:
        return _fail(exc.problems, f"pricing of program {args.program}")

    async def set_it(store) -> bool:
        await store.set_pricing(args.program, pricing)
        return True
    if asyncio.run(_with_program(_config(args), args.program, set_it)) is None:
        print(f"der-gateway: no program {args.program}", file=sys.stderr)
        return 1
    price = f" at {pricing.fixed_price} {pricing.currency}/kWh" if pricing.fixed_price is not None else ""
    print(f"program {args.program}: {pricing.kind} pricing in {pricing.currency}{price}")
    return 0


def run_load(args: argparse.Namespace) -> int:
    shown = Progress.of(args)
    fmt = args.format or {".csv": "csv", ".json": "json"}.get(args.file.suffix.lower())
    if fmt is None:
        print(f"der-gateway: cannot tell the format of {args.file}; give --format csv or --format json",
              file=sys.stderr)
        return 2
    try:
        raw = args.file.read_bytes()
    except OSError as exc:
        print(f"der-gateway: {exc}", file=sys.stderr)
        return 2

    async def load(store):
        pricing = await store.pricing(args.program)
        if pricing is None or pricing.kind == "fixed":
            return f"program {args.program} has {'fixed' if pricing else 'no'} pricing: set hourly or market first"
        try:
            points = parse_prices(raw, fmt, pricing.kind)
        except (PricingError, UnicodeDecodeError) as exc:
            return exc
        total = PriceLoad(0, 0, 0)
        for batch in shown.batches(points, LOAD_BATCH, f"loading into program {args.program}", "price"):
            done = await store.load_prices(args.program, batch, int(time.time()))
            total = PriceLoad(total.inserted + done.inserted, total.replaced + done.replaced,
                              total.unchanged + done.unchanged)
        return total
    result = asyncio.run(_with_program(_config(args), args.program, load))
    if result is None:
        print(f"der-gateway: no program {args.program}", file=sys.stderr)
        return 1
    if isinstance(result, str):
        print(f"der-gateway: {result}", file=sys.stderr)
        return 1
    if isinstance(result, PricingError):
        return _fail(result.problems, str(args.file), shown)
    if isinstance(result, UnicodeDecodeError):
        print(f"der-gateway: {args.file}: not UTF-8", file=sys.stderr)
        return 1
    shown.summary(f"loaded {args.file} into program {args.program}: {result.inserted} new, {result.replaced} "
                  f"replaced, {result.unchanged} unchanged")
    return 0
