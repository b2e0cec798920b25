"""der-gateway demo: a utility's event flowing to simulated inverters and back."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("demo", help="run a whole event through a simulated fleet, then stop")
    p.add_argument("--devices", type=int, default=20, help="fleet size (default 20)")
    p.add_argument("--event-seconds", type=int, default=20, help="the event's length (default 20)")
    p.add_argument("--lead-seconds", type=int, default=5, help="how far ahead the event starts (default 5)")
    p.add_argument("--data-dir", type=Path, default=Path("var/demo"), help="wiped and reused (default var/demo)")
    p.add_argument("--certs-dir", type=Path, default=Path("certs"))
    p.add_argument("--log-format", choices=("human", "json"),
                   help="the server's log lines as plain text (default) or one JSON object a line, on stderr")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..demo.run import run_demo, summary

    if args.devices < 1 or args.event_seconds < 1 or args.lead_seconds < 1:
        print("der-gateway demo: --devices, --event-seconds and --lead-seconds must be at least 1")
        return 2
    if args.log_format == "json":
        from ..observability.logs import configure
        configure("json")
    result = asyncio.run(run_demo(args.devices, args.event_seconds, args.lead_seconds, args.data_dir,
                                  args.certs_dir, lambda line: print(line, flush=True)))
    print(summary(result), flush=True)
    return 0 if result.ok else 1
