"""The fleet launcher: N simulators on consecutive ports in one process and one event loop.

Python API (tests, ``der-gateway demo``)::

    async with Fleet.start(20, base_port=0, kinds=("pv", "battery")) as fleet:
        for dev in fleet.devices:
            dev.port, dev.serial, dev.inverter.read(701, "W")
        fleet.write_inventory("fleet.json")

``base_port=0`` gives each device a free port chosen by the OS; any other value
gives consecutive ports ``base_port, base_port + 1, ...``. One asyncio task
advances every device each ``tick`` seconds; requests advance their device too.

The inventory (:meth:`Fleet.inventory`, a JSON list) tells a bridge where each
device is and what it is::

    [{"name": "pv-0001", "kind": "pv", "host": "127.0.0.1", "port": 15020, "unit_id": 1,
      "serial": "SIM-PV00001", "manufacturer": "DERSim", "model": "DS-PV-5000",
      "nameplate": {"w_max": 5000, "va_max": 5000, ...}}, ...]
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import resource
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from . import profiles as _profiles
from .clock import Clock, SystemClock
from .inverter import Nameplate, SunSpecInverter
from .registers import BASE_ADDR
from .server import SimulatorServer

KINDS = ("pv", "battery")
_KIND_ALIASES = {"pv": "pv", "solar": "pv", "battery": "battery", "bat": "battery", "storage": "battery"}
PV_RATINGS = (3000, 3800, 5000, 6000, 7600, 8000, 10000)  # W
BATTERY_RATINGS = ((5000, 13500), (5000, 13500), (3300, 10000), (7600, 20000))  # (W, Wh)


def parse_kinds(kinds: str | Iterable[str]) -> tuple[str, ...]:
    items = kinds.split(",") if isinstance(kinds, str) else list(kinds)
    out = []
    for k in items:
        k = k.strip().lower()
        if not k:
            continue
        if k not in _KIND_ALIASES:
            raise ValueError(f"unknown device kind {k!r} (pv, battery)")
        out.append(_KIND_ALIASES[k])
    if not out:
        raise ValueError("no device kinds given")
    return tuple(out)


def make_nameplate(index: int, kind: str, seed: int = 0, serial_prefix: str = "SIM") -> Nameplate:
    """The nameplate of the fleet's ``index``-th device (0-based): ratings vary, serials are unique."""
    rng = random.Random(f"{seed}:{index}:{kind}")
    if kind == "pv":
        w = rng.choice(PV_RATINGS)
        return Nameplate.pv(w, serial=f"{serial_prefix}-PV{index + 1:05d}")
    w, wh = rng.choice(BATTERY_RATINGS)
    return Nameplate.battery(w, wh, serial=f"{serial_prefix}-BT{index + 1:05d}")


@dataclass
class SimulatedDevice:
    """One device of a fleet: what it is, where it listens, and its simulator."""

    name: str
    host: str
    port: int
    unit_id: int
    inverter: SunSpecInverter
    server: SimulatorServer

    @property
    def kind(self) -> str:
        return self.inverter.kind

    @property
    def nameplate(self) -> Nameplate:
        return self.inverter.nameplate

    @property
    def serial(self) -> str:
        return self.inverter.nameplate.serial

    def inventory_entry(self) -> dict:
        np = self.nameplate
        plate = {
            "w_max": np.w_max, "va_max": np.va_max, "var_max_inj": np.var_max_inj, "var_max_abs": np.var_max_abs,
            "v_nom": np.v_nom, "hz_nom": np.hz_nom, "phases": np.phases, "a_max": np.a_max,
            "version": np.version, "models": list(np.model_ids), "sunspec_base": BASE_ADDR,
        }
        if np.kind == "battery":
            plate.update({"wh_max": np.wh_max, "w_charge_max": np.w_charge_max, "w_discharge_max": np.w_discharge_max})
        return {
            "name": self.name, "kind": self.kind, "host": self.host, "port": self.port, "unit_id": self.unit_id,
            "serial": np.serial, "manufacturer": np.manufacturer, "model": np.model, "nameplate": plate,
        }


class _Starting:
    """What :meth:`Fleet.start` returns: await it, or use it as ``async with``."""

    def __init__(self, starter: Callable[[], "asyncio.Future[Fleet]"]) -> None:
        self._starter = starter
        self._fleet: Fleet | None = None

    def __await__(self):
        return self._starter().__await__()

    async def __aenter__(self) -> "Fleet":
        self._fleet = await self._starter()
        return self._fleet

    async def __aexit__(self, *exc) -> None:
        if self._fleet is not None:
            await self._fleet.stop()


class Fleet:
    def __init__(self, devices: list[SimulatedDevice], tick: float, clock: Clock) -> None:
        self.devices = devices
        self.tick = tick
        self.clock = clock
        self.ticks = 0
        self._task: asyncio.Task | None = None
        self.inventory_path: Path | None = None

    # -- starting and stopping -------------------------------------------

    @classmethod
    def start(
        cls,
        count: int,
        *,
        base_port: int = 0,
        host: str = "127.0.0.1",
        kinds: str | Sequence[str] = KINDS,
        tick: float = 1.0,
        clock: Clock | None = None,
        seed: int = 0,
        serial_prefix: str = "SIM",
        pv_profile: Callable[[float], float] | None = None,
        battery_profile: Callable[[float], float] | None = None,
        noise: float = 0.02,
        adopt_delay: float = 0.5,
        hb_timeout: float = 0.0,
        unit_id: int = 1,
        nameplates: Sequence[Nameplate] | None = None,
        soc: float | None = None,
        inventory: str | os.PathLike | None = None,
    ) -> _Starting:
        """Start ``count`` simulators, kinds taken in turn from ``kinds`` (or one per given nameplate).

        Batteries start at ``soc`` % (default: a seeded draw between 30 and 80 %).
        """
        kinds_t = parse_kinds(kinds)
        if nameplates is not None:
            count = len(nameplates)
        if count < 0:
            raise ValueError("count must be >= 0")
        if tick <= 0:
            raise ValueError("tick must be > 0")

        async def starter() -> Fleet:
            clk = clock or SystemClock()
            _raise_fd_limit(count * 2 + 256)
            pv_p = pv_profile or _profiles.default_for("pv")
            bat_p = battery_profile or _profiles.default_for("battery")
            devices: list[SimulatedDevice] = []
            fleet = cls(devices, tick, clk)
            try:
                for i in range(count):
                    np = nameplates[i] if nameplates is not None else make_nameplate(
                        i, kinds_t[i % len(kinds_t)], seed, serial_prefix)
                    rng = random.Random(f"{seed}:{i}:physics")
                    inv = SunSpecInverter(
                        np,
                        unit_id=unit_id,
                        clock=clk,
                        profile=pv_p if np.kind == "pv" else bat_p,
                        seed=rng.randrange(1 << 30),
                        noise=noise,
                        soc=soc if soc is not None else round(rng.uniform(30.0, 80.0), 1),
                        adopt_delay=adopt_delay,
                        hb_timeout=hb_timeout,
                        orientation=round(rng.uniform(0.85, 1.0), 3) if np.kind == "pv" else 1.0,
                        min_step=min(0.05, tick / 2),
                    )
                    port = base_port + i if base_port else 0
                    server = SimulatorServer(inv, host, port)
                    try:
                        actual = await server.start()
                    except RuntimeError as exc:
                        raise OSError(f"cannot listen on {host}:{port}: {exc}") from exc
                    devices.append(SimulatedDevice(f"{np.kind}-{i + 1:04d}", host, actual, unit_id, inv, server))
            except BaseException:
                await fleet.stop()
                raise
            fleet._task = asyncio.create_task(fleet._tick_loop(), name="device_sims-tick")
            if inventory is not None:
                fleet.write_inventory(inventory)
            return fleet

        return _Starting(starter)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        for dev in self.devices:
            await dev.server.stop()
        # Let closed connections run their callbacks so that no socket outlives the fleet.
        for _ in range(3):
            await asyncio.sleep(0)

    async def _tick_loop(self) -> None:
        inverters = [d.inverter for d in self.devices]
        while True:
            await asyncio.sleep(self.tick)
            now = self.clock.now()
            for i, inv in enumerate(inverters):
                inv.advance(now)
                if i % 1000 == 999:
                    await asyncio.sleep(0)  # let requests in between slices of a large fleet
            self.ticks += 1

    async def wait_ticks(self, n: int = 1, timeout: float = 10.0) -> None:
        """Wait until the periodic tick has run ``n`` more times."""
        target = self.ticks + n
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.ticks < target:
            if loop.time() > deadline:
                raise TimeoutError("fleet tick did not run")
            await asyncio.sleep(min(self.tick / 4, 0.05))

    # -- what it is ------------------------------------------------------

    def __len__(self) -> int:
        return len(self.devices)

    def __iter__(self) -> Iterator[SimulatedDevice]:
        return iter(self.devices)

    def __getitem__(self, key: int | str) -> SimulatedDevice:
        if isinstance(key, int):
            return self.devices[key]
        for d in self.devices:
            if d.name == key or d.serial == key:
                return d
        raise KeyError(key)

    def inventory(self) -> list[dict]:
        return [d.inventory_entry() for d in self.devices]

    def write_inventory(self, path: str | os.PathLike) -> Path:
        """Write the inventory JSON (atomically: a reader never sees half a file)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(p.name + ".tmp")
        tmp.write_text(json.dumps(self.inventory(), indent=2) + "\n")
        os.replace(tmp, p)
        self.inventory_path = p
        return p

    def total_w(self) -> float:
        """The fleet's total active power as the simulators see it (not read over Modbus)."""
        return sum(d.inverter.w for d in self.devices)


def _raise_fd_limit(needed: int) -> None:
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != resource.RLIM_INFINITY and soft < needed:
            new = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    except (ValueError, OSError):  # pragma: no cover - best effort
        pass
