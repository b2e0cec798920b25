"""der-gateway events: every DER event with its state and how the targeted devices responded."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from ..clock import SystemClock
from ..domain.events import EventState
from ..services.der_controls import event_states
from ..store import ControlRecord, ResponseRecord
from ..store.opening import open_store
from .walk import iso, status_word

# Response.status (IEEE 2030.5 Table 27) grouped into the columns shown; the rest count as "other"
PARTICIPATION = {1: "received", 11: "received", 2: "started", 3: "completed",
                 4: "opted out", 8: "opted out", 10: "opted out", 252: "rejected", 253: "rejected", 254: "rejected"}
COLUMNS = ("received", "started", "completed", "opted out", "rejected", "other", "no response")
HEADINGS = ("id", "program", "mRID", "start", "duration", "status", "program status") + COLUMNS


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("events", help="list every DER event with its status and device responses")
    p.add_argument("--data-dir", type=Path, default=Path("var"))
    p.add_argument("--store", metavar="URL", help="a PostgreSQL URL, if the server keeps its data there")
    p.add_argument("--program", type=int, metavar="ID", help="only this program's events")
    p.add_argument("--now", type=int, metavar="EPOCH", help="evaluate event states at this time (default: now)")
    p.set_defaults(run=run)


def event_fields(record: ControlRecord, state: EventState) -> dict[str, Any]:
    """How the operator sees an event (also used by `tree --admin`)."""
    return {"mRID": record.mRID, "start": iso(record.start), "duration": f"{record.duration}s",
            "status": status_word(int(state.status)), "programStatus": state.program_event_status,
            "active": state.active}


async def targeted_lfdis(store, program_id: int) -> set[str]:
    """LFDIs of the enabled EndDevices in groups holding the program: those its events address."""
    return {lfdi.upper() for _, lfdi in await store.targeted_end_devices(program_id)}


async def called_lfdis(store, record: ControlRecord, targeted: set[str]) -> set[str]:
    """Those the event called: a utility event stage's from its participation record (never from today's
    groups); another event's, the program's `targeted` devices now."""
    if await store.stage_of_control(record.id) is None:
        return targeted
    return {p.lfdi.upper() for p in await store.participation(record.id)}


def participation(responses: list[ResponseRecord], targeted: set[str]) -> dict[str, int]:
    """Counts of each device's latest response, and of targeted devices that have not responded."""
    latest = {r.end_device_lfdi.upper(): r.status for r in responses}  # ordered by device, then time received
    counts = dict.fromkeys(COLUMNS, 0)
    for status in latest.values():
        counts[PARTICIPATION.get(status, "other")] += 1
    counts["no response"] = len(targeted - latest.keys())
    return counts


async def event_rows(store, now: int, program_id: int | None = None) -> list[tuple[str, ...]]:
    rows = []
    for program in await store.programs():
        if program_id is not None and program.id != program_id:
            continue
        records = await store.controls(program.id)
        states = event_states(records, now)
        targeted = await targeted_lfdis(store, program.id)
        for r in records:
            f = event_fields(r, states[r.id])
            counts = participation(await store.responses(r.id), await called_lfdis(store, r, targeted))
            label = f"{program.id} {program.description}" if program.description else str(program.id)
            rows.append((str(r.id), label, f["mRID"], f["start"], f["duration"], f["status"], f["programStatus"],
                         *(str(counts[c]) for c in COLUMNS)))
    return rows


def table(rows: list[tuple[str, ...]], headings: tuple[str, ...] = HEADINGS) -> str:
    widths = [max(len(x) for x in column) for column in zip(headings, *rows)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [headings, *rows])


async def _events(location: str | None, data_dir: Path, now: int, program_id: int | None) -> list[tuple[str, ...]]:
    store = await open_store(location, data_dir)
    try:
        return await event_rows(store, now, program_id)
    finally:
        await store.close()


def run(args: argparse.Namespace) -> int:
    now = args.now if args.now is not None else SystemClock().now()
    rows = asyncio.run(_events(args.store, args.data_dir, now, args.program))
    print(table(rows) if rows else "no events")
    return 0
