"""der-gateway aggregators: which client certificates act for the EndDevices they register."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from ..sep.identity import normalize_lfdi
from ..store.opening import open_store


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("aggregators", help="list or add aggregator certificates (by LFDI)")
    sub = p.add_subparsers(dest="action", required=True)
    add = sub.add_parser("add", help="let the certificate with this LFDI register EndDevices for others")
    add.add_argument("lfdi")
    add.add_argument("--name", required=True)
    add.add_argument("--data-dir", type=Path, default=Path("var"))
    add.add_argument("--store", metavar="URL", help="a PostgreSQL URL, if the server keeps its data there")
    add.set_defaults(run=run_add)
    listing = sub.add_parser("list")
    listing.add_argument("--data-dir", type=Path, default=Path("var"))
    listing.add_argument("--store", metavar="URL", help="a PostgreSQL URL, if the server keeps its data there")
    listing.set_defaults(run=run_list)


async def _add(location: str | None, data_dir: Path, lfdi: str, name: str) -> None:
    store = await open_store(location, data_dir)
    try:
        await store.add_aggregator(lfdi, name)
    finally:
        await store.close()


async def _list(location: str | None, data_dir: Path) -> list[tuple[str, str]]:
    store = await open_store(location, data_dir)
    try:
        return await store.aggregators()
    finally:
        await store.close()


def run_add(args: argparse.Namespace) -> int:
    try:
        lfdi = normalize_lfdi(args.lfdi)
    except ValueError as exc:
        print(f"der-gateway: {exc}")
        return 2
    asyncio.run(_add(args.store, args.data_dir, lfdi, args.name))
    print(f"aggregator {args.name} LFDI {lfdi}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    for lfdi, name in asyncio.run(_list(args.store, args.data_dir)):
        print(f"{name:<20} LFDI {lfdi}")
    return 0
