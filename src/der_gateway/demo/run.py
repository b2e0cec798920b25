"""The demo, start to finish: server, fleet and bridge up; the fleet enrolled; one curtailment event
watched live; a summary; everything stopped."""

from __future__ import annotations

import asyncio
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import aiohttp

from device_sims import profiles
from device_sims.fleet import Fleet

from .. import pki
from ..bridge.agent import DeviceState
from ..bridge.identity import device_lfdi
from ..bridge.runtime import Bridge
from ..config import Config
from ..launch import start_server
from ..tls import client_context
from .enrollment import enroll_fleet

LIMIT_PERCENT = 30  # the event caps every device at this share of its setMaxW


def _patience(devices: int) -> float:
    """Seconds to wait for the fleet to reach a state: generous, for a busy machine and a large fleet."""
    return 120.0 + 2.0 * devices


@dataclass
class DemoResult:
    devices: int
    w_before: float
    w_during: float
    w_after: float
    counts: dict[str, int]
    readings_posted: int

    @property
    def ok(self) -> bool:
        complete = self.counts.get("completed", 0) == self.devices
        return complete and self.w_during < self.w_before * (LIMIT_PERCENT + 15) / 100


async def _until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what}")
        await asyncio.sleep(0.2)


def _modbus_w(bridge: Bridge) -> float:
    """The fleet's total W as the bridge last read it over Modbus."""
    return sum(s.last_w or 0.0 for s in bridge.states)


def _sampled_since(bridge: Bridge, moment: float) -> Callable[[], bool]:
    return lambda: all(s.last_sample_at is not None and s.last_sample_at > moment for s in bridge.states)


def _reverted(state: DeviceState) -> bool:
    """No event in force on the device any more, and its output read since that was written."""
    if state.applied is not None and state.applied[0] == "event":
        return False
    return state.applied_at is None or (state.last_sample_at is not None and state.last_sample_at > state.applied_at)


async def run_demo(devices: int, event_seconds: int, lead_seconds: int, data_dir: Path, certs_dir: Path,
                   say: Callable[[str], None] = print) -> DemoResult:
    if pki.ensure_pki(certs_dir):
        say(f"generated a test PKI in {certs_dir}/")
    aggregator = next(c for c in pki.read_manifest(certs_dir) if c.kind == "aggregator")
    shutil.rmtree(data_dir, ignore_errors=True)
    token = secrets.token_urlsafe(24)
    config = Config(port=0, admin_port=0, admin_token=token, data_dir=data_dir, certs_dir=certs_dir,
                    notification_allow=("http://127.0.0.1:",), notification_allow_addresses=("127.0.0.1/32",),
                    post_rate=5, poll_rate=10, service_task_interval=0.5)
    server = await start_server(config)
    say(f"server   {server.url}/dcap (admin API {server.admin_url}), data in {data_dir}/")
    try:
        fleet = await Fleet.start(devices, base_port=0, kinds=("pv", "battery"), tick=0.5,
                                  pv_profile=profiles.ClearSky(hour=12),
                                  battery_profile=profiles.Constant(0.6))
        try:
            return await _with_fleet(server, fleet, aggregator.lfdi, token, config, event_seconds,
                                     lead_seconds, say)
        finally:
            await fleet.stop()
    finally:
        await server.stop()


async def _with_fleet(server, fleet: Fleet, aggregator_lfdi: str, token: str, config: Config,
                      event_seconds: int, lead_seconds: int, say: Callable[[str], None]) -> DemoResult:
    inventory = fleet.inventory()
    kinds = {k: sum(1 for e in inventory if e["kind"] == k) for k in ("pv", "battery")}
    say(f"fleet    {len(inventory)} SunSpec Modbus simulators ({kinds['pv']} PV, {kinds['battery']} battery) "
        f"on 127.0.0.1:{inventory[0]['port']}..{inventory[-1]['port']}")

    patience = _patience(len(inventory))
    tls = client_context(config.certs_dir, "aggregator")
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls)) as aggregator:
        pairs = [(e, device_lfdi(e["manufacturer"], e["serial"])) for e in inventory]
        enrolled = await enroll_fleet(server.admin_url, token, aggregator, server.url, aggregator_lfdi, pairs,
                                      event_seconds)
    say(f"enrolled {len(enrolled.end_devices)} devices in program {enrolled.program_id} through registerDERDevice; "
        "every enrollment task Completed")

    async with Bridge.start(inventory, server.url, config.certs_dir, cert="aggregator",
                            listen=("127.0.0.1", 0)) as bridge:
        await bridge.wait_ready(timeout=patience)
        await _until(lambda: all(s.program_lists and s.last_w is not None for s in bridge.states), patience,
                     "every device to find its program")
        say(f"bridge   {len(bridge)} EndDevices registered, subscribed at {bridge.listen_url}")
        await _until(_sampled_since(bridge, time.time()), patience, "a fresh reading of every device")
        w_before = _modbus_w(bridge)

        start = int(time.time()) + lead_seconds
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as admin:
            async with admin.post(f"{server.admin_url}/programs/{enrolled.program_id}/controls", json={
                    "description": "Demo curtailment", "interval": {"start": start, "duration": event_seconds},
                    "DERControlBase": {"opModMaxLimW": LIMIT_PERCENT * 100}}) as resp:
                event = await resp.json()
                if resp.status != 201:
                    raise RuntimeError(f"creating the event failed: {event}")
            say(f"event    {event['mRID']}: opModMaxLimW {LIMIT_PERCENT}% from +{lead_seconds} s "
                f"for {event_seconds} s")
            say(f"{'t':>5}  {'phase':<10} {'received':>8} {'started':>7} {'completed':>9}  {'total W':>9}")
            end = start + event_seconds
            w_during = w_before
            counts: dict[str, int] = {}
            while True:
                now = time.time()
                async with admin.get(f"{server.admin_url}/controls/{event['id']}/participation") as resp:
                    counts = (await resp.json())["responseCounts"]
                phase = "scheduled" if now < start else "active" if now < end else "completed"
                w = _modbus_w(bridge)
                if start + 2 <= now < end:
                    w_during = min(w_during, w)
                say(f"{now - start:>+5.0f}  {phase:<10} {counts.get('received', 0):>8} "
                    f"{counts.get('started', 0):>7} {counts.get('completed', 0):>9}  {w:>9.0f}")
                if now > end + 3 and counts.get("completed", 0) >= len(inventory):
                    break
                if now > end + patience:
                    break
                await asyncio.sleep(1)
        await _until(lambda: all(_reverted(s) for s in bridge.states), patience,
                     "every device to leave the event and be read again")
        w_after = _modbus_w(bridge)
        readings = sum(s.readings_posted for s in bridge.states)
    return DemoResult(len(inventory), w_before, w_during, w_after, counts, readings)


def summary(result: DemoResult) -> str:
    c = result.counts
    return "\n".join([
        "summary",
        f"  devices            {result.devices}",
        f"  responses          received {c.get('received', 0)}, started {c.get('started', 0)}, "
        f"completed {c.get('completed', 0)}",
        f"  total W (Modbus)   before {result.w_before:.0f}, during {result.w_during:.0f}, "
        f"after {result.w_after:.0f}",
        f"  telemetry posted   {result.readings_posted} readings",
        f"  result             {'OK' if result.ok else 'INCOMPLETE'}",
    ])
