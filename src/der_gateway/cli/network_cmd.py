"""der-gateway network: import where service points sit on the network, and list the locations."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from ..config import Config
from ..domain import network
from ..domain.identifiers import Pen
from ..store.opening import open_store
from ..store.base import ImportSummary, NetworkImportRejected
from . import progress
from .progress import Progress

CHECK_BATCH = 500  # service points looked up at a time, each batch a step of the progress shown


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("network", help="import or list network locations (transformer, feeder, substation)")
    sub = p.add_subparsers(dest="action", required=True)
    imp = sub.add_parser("import", help="import a CSV or JSON file mapping service points to their locations")
    imp.add_argument("file", type=Path)
    imp.add_argument("--mode", choices=network.MODES, default="incremental",
                     help="initial: the file is the whole network; incremental (default): add or update its rows")
    imp.add_argument("--format", choices=network.FORMATS, help="default: from the file name (.csv or .json)")
    imp.add_argument("--data-dir", type=Path, help="default: the config's data_dir, or var")
    imp.add_argument("--config", type=Path, help="a TOML file of settings (for data_dir, store and pen)")
    imp.add_argument("--store", metavar="URL", help="a PostgreSQL URL, if the server keeps its data there")
    progress.add_option(imp)
    imp.set_defaults(run=run_import)
    listing = sub.add_parser("list", help="the locations with their groups")
    listing.add_argument("--data-dir", type=Path)
    listing.add_argument("--config", type=Path)
    listing.add_argument("--store", metavar="URL", help="a PostgreSQL URL, if the server keeps its data there")
    listing.set_defaults(run=run_list)


def _config(args: argparse.Namespace) -> Config:
    return Config.load(args.config, data_dir=args.data_dir, store=args.store)


async def _import(config: Config, rows: list[network.LocationRow], mode: str, pen: Pen,
                  shown: Progress) -> tuple[ImportSummary | None, list[dict[str, str]]]:
    store = await open_store(config.store, config.data_dir)
    try:
        unknown: set[str] = set()
        for batch in shown.batches(rows, CHECK_BATCH, "checking service points", "row"):
            unknown |= await store.unknown_service_points([r.service_point for r in batch])
        if unknown:
            return None, [network.problem(f"no service point {r.service_point}", r.field("servicePoint"))
                          for r in rows if r.service_point in unknown]
        shown.note(f"applying {len(rows)} rows in one transaction (all or nothing)")
        try:
            return await store.import_network_locations(rows, mode, pen), []
        except NetworkImportRejected as exc:
            return None, exc.errors
    finally:
        await store.close()


def run_import(args: argparse.Namespace) -> int:
    shown = Progress.of(args)
    config = _config(args)
    fmt = args.format or network.format_of(args.file.name)
    if fmt is None:
        print(f"der-gateway: cannot tell the format of {args.file}; give --format csv or --format json",
              file=sys.stderr)
        return 2
    try:
        raw = args.file.read_bytes()
    except OSError as exc:
        print(f"der-gateway: {exc}", file=sys.stderr)
        return 2
    rows, errors = network.parse(raw, fmt)
    summary = None
    if not errors:
        summary, errors = asyncio.run(_import(config, rows, args.mode, config.mrid_pen, shown))
    if errors or summary is None:
        shown.refused(str(args.file), errors, "nothing was imported")
        return 1
    shown.summary(f"imported {summary.rows} rows ({summary.mode}): {summary.service_points_changed} service "
                  f"points changed; locations {summary.locations_created} created, {summary.locations_moved} moved, "
                  f"{summary.locations_removed} removed; {summary.end_devices_moved} EndDevices moved between groups")
    return 0


async def _list(config: Config):
    store = await open_store(config.store, config.data_dir)
    try:
        return await store.network_locations()
    finally:
        await store.close()


def run_list(args: argparse.Namespace) -> int:
    locations = asyncio.run(_list(_config(args)))
    names = {r.id: r.name for r in locations}
    for r in locations:
        parent = f" under {names[r.parent_id]}" if r.parent_id is not None else ""
        print(f"{r.kind:<12} {r.name}{parent}: group {r.group_id}, {r.end_device_count} EndDevices, "
              f"{r.service_point_count} service points")
    return 0
