"""der-gateway conformance: the CSIP-AUS certification harness (cactus) against fresh servers, as a table."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from ..conformance import harness, runner


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("conformance", help="run the CSIP-AUS conformance procedures (cactus) with --strict")
    p.add_argument("procedures", nargs="*", metavar="ID", help="procedures to run (default: all)")
    p.add_argument("--quick", action="store_true",
                   help=f"leave out the procedures that take minutes ({', '.join(runner.LONG)})")
    p.add_argument("--jobs", type=int, default=2, help="procedures run at once, each with its own server")
    p.add_argument("--work-dir", type=Path, default=Path("var/conformance"),
                   help="venvs, certificates and each procedure's logs (default var/conformance)")
    p.add_argument("--python", help="a Python 3.12+ for cactus (default: found on PATH or in pyenv)")
    p.add_argument("--timeout", type=int, default=300, help="seconds allowed per procedure")
    p.add_argument("--extended-seconds", type=int, default=3600,
                   help=f"how long {runner.EXTENDED} (72 simulated hours) runs before it is stopped")
    p.add_argument("--not-strict", dest="strict", action="store_false", help="let warnings pass")
    p.add_argument("--markdown", type=Path, help="also write the result table to this file")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    work_dir = args.work_dir.resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    try:
        python = harness.find_python(args.python)
        print(f"installing cactus in {work_dir} with {python} (log: {work_dir / 'install.log'})", flush=True)
        installed = harness.install(work_dir, python, work_dir / "install.log")
        procedures = args.procedures or sorted(installed.procedures())
    except harness.HarnessError as exc:
        print(f"conformance: {exc}", file=sys.stderr)
        return 1
    if args.quick:
        procedures = [p for p in procedures if p not in runner.LONG]
    plan = runner.Plan(work_dir, procedures, jobs=args.jobs, timeout=args.timeout,
                       extended_seconds=args.extended_seconds, strict=args.strict)
    results = asyncio.run(runner.run_plan(plan, installed))
    text = runner.table(results)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    print(f"logs: {work_dir / 'runs'}/<procedure>/")
    return 0 if all(r.passed for r in results) else 2
