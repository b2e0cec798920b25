"""Command line: ``python -m device_sims fleet ...`` or ``python -m device_sims one ...``.

    python -m device_sims fleet --count 20 --base-port 15020 --inventory fleet.json [--kinds pv,battery]
    python -m device_sims one --kind battery --port 15020 --rating 5000 --capacity 13500

Both run until interrupted (Ctrl-C / SIGTERM) or for ``--duration`` seconds,
and write the inventory file (JSON) for the bridge when ``--inventory`` is given.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from . import profiles
from .fleet import Fleet, parse_kinds
from .inverter import Nameplate


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--inventory", help="write the inventory JSON here")
    p.add_argument("--unit-id", type=int, default=1, help="Modbus unit id of every device (default 1)")
    p.add_argument("--tick", type=float, default=1.0, help="seconds between physics ticks (default 1.0)")
    p.add_argument("--seed", type=int, default=0, help="seed for nameplates and noise (default 0)")
    p.add_argument("--noise", type=float, default=0.02, help="relative noise on output (default 0.02)")
    p.add_argument("--pv-profile", default="clear-sky",
                   help="clear-sky | clear-sky@HOUR | constant:FRACTION (default clear-sky, by local time)")
    p.add_argument("--battery-profile", default="daily",
                   help="daily | daily@HOUR | constant:FRACTION (signed; default daily)")
    p.add_argument("--adopt-delay", type=float, default=0.5, help="seconds a 705 curve adoption takes (default 0.5)")
    p.add_argument("--hb-timeout", type=float, default=0.0,
                   help="revert controls when 715 ControllerHb stops changing for this long (0: off)")
    p.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds (0: run until stopped)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m device_sims", description="SunSpec Modbus TCP device simulators")
    sub = parser.add_subparsers(dest="command", required=True)
    f = sub.add_parser("fleet", help="start N simulators on consecutive ports")
    f.add_argument("--count", type=int, required=True)
    f.add_argument("--base-port", type=int, required=True, help="first port (0: any free ports)")
    f.add_argument("--kinds", default="pv,battery", help="kinds taken in turn (default pv,battery)")
    f.add_argument("--serial-prefix", default="SIM", help="serial numbers are PREFIX-PV00001, PREFIX-BT00002, ...")
    _common(f)
    o = sub.add_parser("one", help="start one simulator")
    o.add_argument("--kind", default="pv", help="pv or battery")
    o.add_argument("--port", type=int, required=True)
    o.add_argument("--rating", type=int, default=5000, help="W (default 5000)")
    o.add_argument("--capacity", type=int, default=13500, help="battery Wh (default 13500)")
    o.add_argument("--phases", type=int, default=1, choices=(1, 3))
    o.add_argument("--serial", default="SIM-ONE00001")
    o.add_argument("--manufacturer", default="DERSim")
    _common(o)
    return parser


async def _run(args: argparse.Namespace) -> int:
    common = dict(
        host=args.host, tick=args.tick, seed=args.seed, noise=args.noise,
        pv_profile=profiles.parse(args.pv_profile, "pv"),
        battery_profile=profiles.parse(args.battery_profile, "battery"),
        adopt_delay=args.adopt_delay, hb_timeout=args.hb_timeout, unit_id=args.unit_id, inventory=args.inventory,
    )
    if args.command == "fleet":
        starting = Fleet.start(args.count, base_port=args.base_port, kinds=parse_kinds(args.kinds),
                               serial_prefix=args.serial_prefix, **common)
    else:
        kind = parse_kinds(args.kind)[0]
        if kind == "pv":
            np = Nameplate.pv(args.rating, serial=args.serial, manufacturer=args.manufacturer, phases=args.phases)
        else:
            np = Nameplate.battery(args.rating, args.capacity, serial=args.serial, manufacturer=args.manufacturer,
                                   phases=args.phases)
        starting = Fleet.start(1, base_port=args.port, nameplates=[np], **common)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # pragma: no cover
            pass
    async with starting as fleet:
        ports = [d.port for d in fleet.devices]
        kinds = {}
        for d in fleet.devices:
            kinds[d.kind] = kinds.get(d.kind, 0) + 1
        mix = ", ".join(f"{n} {k}" for k, n in kinds.items())
        where = f"{args.host}:{ports[0]}" + (f"-{ports[-1]}" if len(ports) > 1 else "") if ports else "(none)"
        noun = "simulator" if len(fleet) == 1 else "simulators"
        print(f"device_sims: {len(fleet)} {noun} ({mix}) on {where}"
              + (f"; inventory {args.inventory}" if args.inventory else ""), flush=True)
        try:  # asyncio.timeout, not wait_for: a cancellation as stop is set is never lost
            async with asyncio.timeout(args.duration if args.duration > 0 else None):
                await stop.wait()
        except TimeoutError:
            pass
    print("device_sims: stopped", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return asyncio.run(_run(args))
    except OSError as exc:
        print(f"device_sims: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # pragma: no cover
        return 130


if __name__ == "__main__":
    sys.exit(main())
