"""der-gateway tree: the live 2030.5 resource tree, as a client sees it or as the operator stores it."""

from __future__ import annotations

import argparse
import asyncio
import ssl
import sys
from pathlib import Path

import aiohttp

from ..clock import SystemClock
from ..config import DEFAULT_CIPHERS
from ..sep import paths
from ..services.der_controls import event_states
from ..store import EndDeviceRecord
from ..store import Store
from ..store.opening import open_store
from ..tls import client_context
from .events_cmd import event_fields
from .walk import FetchError, fields_text, modes, walk

SEP_XML = "application/sep+xml"


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("tree", help="print the 2030.5 resource tree a client sees (or, with --admin, the store)")
    p.add_argument("--url", default="https://127.0.0.1:8443", help="the server (default %(default)s)")
    p.add_argument("--certs-dir", type=Path, default=Path("certs"))
    p.add_argument("--cert", default="device1", help="certs-dir/NAME.pem and NAME.key to connect with")
    p.add_argument("--ciphers", default=DEFAULT_CIPHERS)
    p.add_argument("--depth", type=int, help="how many levels below /dcap to follow")
    p.add_argument("--limit", type=int, default=20, help="?l= for every list (default %(default)s)")
    p.add_argument("--admin", action="store_true", help="read the store in --data-dir instead of asking the server")
    p.add_argument("--data-dir", type=Path, default=Path("var"))
    p.add_argument("--store", metavar="URL", help="a PostgreSQL URL, if the server keeps its data there")
    p.add_argument("--now", type=int, metavar="EPOCH", help="with --admin: event states at this time (default: now)")
    p.set_defaults(run=run)


# -- as a client --------------------------------------------------------------------

async def client_tree(url: str, certs_dir: Path, cert: str, ciphers: str = DEFAULT_CIPHERS,
                      depth: int | None = None, limit: int = 20) -> list[str]:
    ctx = client_context(certs_dir, cert, ciphers)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as session:
        async def fetch(href: str) -> bytes | None:
            async with session.get(url.rstrip("/") + href, headers={"Accept": SEP_XML}) as resp:
                if resp.status == 404:
                    return None
                if resp.status >= 400:
                    raise FetchError(f"HTTP {resp.status} {resp.reason}")
                return await resp.read()
        return await walk(fetch, depth=depth, limit=limit)


# -- as the operator ---------------------------------------------------------------------

def _end_device_line(e: EndDeviceRecord) -> str:
    return f"EndDevice {paths.edev(e.id)}  " + fields_text({"lFDI": e.lFDI, "sFDI": e.sFDI, "enabled": e.enabled})


def _program_line(p) -> str:
    return f"DERProgram {paths.program(p.id)}  " + fields_text(
        {"mRID": p.mRID, "primacy": p.primacy, "description": p.description})


async def admin_tree(store: Store, now: int) -> list[str]:
    lines = ["programs"]
    for p in await store.programs():
        lines.append("  " + _program_line(p))
        default = await store.default_control(p.id)
        if default is not None:
            lines.append(f"    DefaultDERControl {paths.default_control(p.id)}  " + fields_text(
                {"mRID": default.get("mRID"), "modes": modes(default.get("DERControlBase", {}))}))
        for curve_id, data in await store.curves(p.id):
            lines.append(f"    DERCurve {paths.curve(p.id, curve_id)}  " + fields_text(
                {"mRID": data.get("mRID"), "curveType": data.get("curveType")}))
        records = await store.controls(p.id)
        states = event_states(records, now)
        for r in records:
            lines.append(f"    DERControl {paths.control(p.id, r.id)}  " + fields_text(event_fields(r, states[r.id])))
    lines.append("groups")
    grouped: set[int] = set()
    for g in await store.groups():
        lines.append(f"  FunctionSetAssignments {paths.fsa(g.id)}  "
                     + fields_text({"mRID": g.mRID, "description": g.description}))
        for p in await store.programs_of_group(g.id):
            lines.append("    " + _program_line(p))
        for end_device_id in await store.group_members(g.id):
            grouped.add(end_device_id)
            record = await store.end_device(end_device_id)
            if record is not None:  # not deleted since the members were read
                lines.append("    " + _end_device_line(record))
    lines.append("EndDevices in no group")
    lines.extend("  " + _end_device_line(e) for e in await store.all_end_devices() if e.id not in grouped)
    return lines


async def _admin(location: str | None, data_dir: Path, now: int) -> list[str]:
    store = await open_store(location, data_dir)
    try:
        return await admin_tree(store, now)
    finally:
        await store.close()


def run(args: argparse.Namespace) -> int:
    if args.admin:
        lines = asyncio.run(_admin(args.store, args.data_dir, args.now if args.now is not None else SystemClock().now()))
    else:
        try:
            lines = asyncio.run(client_tree(args.url, args.certs_dir, args.cert, args.ciphers, args.depth, args.limit))
        except (aiohttp.ClientError, ssl.SSLError, OSError) as exc:
            print(f"der-gateway: cannot read {args.url}/dcap: {exc}", file=sys.stderr)
            return 1
    print("\n".join(lines))
    return 0
