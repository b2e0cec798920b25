"""Entry point: der-gateway <command>."""

from __future__ import annotations

import argparse
import sys

from . import aggregators_cmd, bridge_cmd, certs_cmd, conformance_cmd, demo_cmd, events_cmd, network_cmd
from . import intervals_cmd, prices_cmd, serve_cmd, tree_cmd


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="der-gateway", description="An IEEE 2030.5 server for DER.")
    commands = parser.add_subparsers(dest="command", required=True)
    demo_cmd.register(commands)
    certs_cmd.register(commands)
    serve_cmd.register(commands)
    aggregators_cmd.register(commands)
    tree_cmd.register(commands)
    events_cmd.register(commands)
    network_cmd.register(commands)
    prices_cmd.register(commands)
    bridge_cmd.register(commands)
    conformance_cmd.register(commands)
    intervals_cmd.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args) or 0


if __name__ == "__main__":
    sys.exit(main())
