"""The demo, start to finish: server, fleet and bridge up; the fleet enrolled; a two-stage utility event (the
first stage reserving the devices it calls for a kW target) watched live, with each device's outcome; a summary;
everything stopped."""

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
from ..admin.app import TOKEN_FILE, write_token_file
from ..launch import start_server
from ..tls import client_context
from .enrollment import enroll_fleet
from .settlement import Settlement, settle
from .utility_event import LIMIT_PERCENT, Admin, StageResult, outcomes, schedule, watch


def _patience(devices: int) -> float:
    """Seconds to wait for the fleet to reach a state: generous, for a busy machine and a large fleet."""
    return 120.0 + 2.0 * devices


@dataclass
class DemoResult:
    devices: int
    w_before: float
    w_after: float
    stages: list[StageResult]
    readings_posted: int
    settlement: Settlement

    @property
    def ok(self) -> bool:
        reserved, everyone = self.stages
        chose = 0 < len(reserved.called) < self.devices or self.devices == 1
        return (chose and reserved.completed_by_all_called() and everyone.completed_by_all_called()
                and len(everyone.called) == self.devices
                and everyone.w_during < self.w_before * (LIMIT_PERCENT + 15) / 100 and self.settlement.ok)


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
    token_file = data_dir / TOKEN_FILE
    write_token_file(token_file, token)  # for the console's sign-in
    say(f"console  {server.admin_url}/console/ while the demo runs (the token is in {token_file})")
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

        # the forecast and the settlement's baseline (the half minute before each stage) read the telemetry the
        # bridge has posted
        needed = 40 // config.post_rate + 1
        await _until(lambda: all(s.readings_posted >= needed for s in bridge.states), patience,
                     "40 s of telemetry from every device")
        names = {lfdi.upper(): entry["name"] for entry, lfdi in pairs}
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as session:
            admin = Admin(session, server.admin_url)
            event, stages = await schedule(admin, enrolled.program_id, event_seconds, lead_seconds, names, say)
            await watch(admin, bridge, event, stages, patience, say)
            await _until(lambda: all(_reverted(s) for s in bridge.states), patience,
                         "every device to leave the event and be read again")
            w_after = _modbus_w(bridge)
            await outcomes(admin, event, stages, names, patience, say)
            money = await settle(admin, server.admin_url, event, stages, names, enrolled.customer_id,
                                 config.data_dir, patience, say)
        readings = sum(s.readings_posted for s in bridge.states)
    return DemoResult(len(inventory), w_before, w_after, stages, readings, money)


def _money(amounts: dict[str, str]) -> str:
    return ", ".join(f"{v} {k}" for k, v in amounts.items()) or "0"


def summary(result: DemoResult) -> str:
    lines = ["summary", f"  devices            {result.devices}"]
    for stage in result.stages:
        c = stage.counts
        target = "no target" if stage.target_kw is None else f"target {stage.target_kw:+.2f} kW"
        tally: dict[str, int] = {}
        for outcome in stage.outcomes.values():
            tally[outcome] = tally.get(outcome, 0) + 1
        lines += [
            f"  stage {stage.position}            called {len(stage.called)} of {result.devices} ({target}, "
            f"forecast {stage.forecast_kw:+.2f} kW); lowest total {stage.w_during:.0f} W",
            f"  stage {stage.position} responses  received {c.get('received', 0)}, started {c.get('started', 0)}, "
            f"completed {c.get('completed', 0)}",
            f"  stage {stage.position} outcomes   " + ", ".join(f"{k} {v}" for k, v in sorted(tally.items()))]
    lines += [
        f"  total W (Modbus)   before {result.w_before:.0f}, stage 1 {result.stages[0].w_during:.0f}, "
        f"stage 2 {result.stages[1].w_during:.0f}, after {result.w_after:.0f}",
        f"  telemetry posted   {result.readings_posted} readings",
        f"  credits            {_money(result.settlement.total)}; billed {_money(result.settlement.billed)} in "
        f"{result.settlement.batches} batch(es)",
        f"  statement          {result.settlement.statement}",
        f"  result             {'OK' if result.ok else 'INCOMPLETE'}"]
    return "\n".join(lines)
