"""`der-gateway demo`, README.md's main job, run as a user runs it; and its enrollment step when the server's
service-task monitor gets to the tasks first."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys

import aiohttp

from device_sims.fleet import Fleet
from der_gateway.bridge.identity import device_lfdi
from der_gateway.demo.enrollment import complete_tasks, register_fleet
from der_gateway.tls import client_context


def _demo(tmp_path, *options: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "der_gateway", "demo", *options, "--data-dir", str(tmp_path / "var"),
         "--certs-dir", str(tmp_path / "certs")],
        capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _assert_whole_event(out: str, devices: int) -> None:
    """Stage 1 reserved some of the fleet for its target and only they took part; stage 2 called every device;
    each device's outcome is printed."""
    assert f"enrolled {devices} devices" in out and "every enrollment task Completed" in out
    reserved = int(out.split("stage 1            called ")[1].split(" of ")[0])
    assert 0 < reserved < devices
    assert f"stage 1 responses  received {reserved}, started {reserved}, completed {reserved}" in out
    assert f"stage 1 outcomes   participated {reserved}\n" in out
    assert f"stage 2            called {devices} of {devices} (no target" in out
    assert f"stage 2 responses  received {devices}, started {devices}, completed {devices}" in out
    assert f"stage 2 outcomes   participated {devices}\n" in out
    table = out.split("reserved  score forecast kW  why\n")[1].split("stage 2 ")[0].splitlines()
    assert len(table) == devices and sum(" yes " in row for row in table) == reserved
    assert all("not needed: the target of" in row for row in table if " no " in row)
    outcomes = out.split("outcome  device")[1].split("settled  device")[0].splitlines()[1:]
    assert len(outcomes) == devices
    assert sum(row.split()[1] == "participated" for row in outcomes) == reserved
    # the money: each called device settled, the credits billed and acknowledged, a statement written
    settled = out.split("settled  device")[1].split("billing  batch")[0].splitlines()[1:]
    assert len(settled) == devices and all("USD" in row for row in settled)
    credited = out.split("  credits            ")[1].split("\n")[0]
    assert re.fullmatch(r"(-?[0-9]+\.[0-9]{2}) USD; billed \1 USD in 1 batch\(es\)", credited), credited
    page = out.split("  statement          ")[1].split("\n")[0]
    assert page.endswith("statement-DEMO-1.html")
    assert "result             OK" in out
    line = out.split("total W (Modbus)")[1].split("\n")[0]
    w = {k: float(v) for k, v in re.findall(r"(before|stage 1|stage 2|after) (\d+)", line)}
    before, first, second, after = w["before"], w["stage 1"], w["stage 2"], w["after"]
    forecast_kw = float(out.split("stage 1            called ")[1].split("forecast ")[1].split(" kW")[0])
    assert forecast_kw < 0 and before - first > 0.5 * -forecast_kw * 1000  # the reserved devices' cap, measured
    assert second < 0.45 * before and after > 0.8 * before


def test_demo_runs_a_whole_event_and_exits_cleanly(tmp_path):
    out = _demo(tmp_path, "--devices", "3", "--event-seconds", "4", "--lead-seconds", "5")
    _assert_whole_event(out, 3)


def test_demo_at_its_default_fleet_size(tmp_path):
    out = _demo(tmp_path, "--event-seconds", "4", "--lead-seconds", "5")
    _assert_whole_event(out, 20)


async def test_enrollment_takes_the_end_the_monitor_gave_each_task(make_harness, identities):
    harness = make_harness(service_task_interval=None)  # the monitor runs only when the test says
    server = await harness.start()
    token = harness.config.admin_token
    try:
        async with Fleet.start(4, base_port=0, kinds=("pv", "battery")) as fleet:
            pairs = [(e, device_lfdi(e["manufacturer"], e["serial"])) for e in fleet.inventory()]
        tls = client_context(harness.config.certs_dir, "aggregator")
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls)) as aggregator:
            enrolled = await register_fleet(server.admin_url, token, aggregator, server.url,
                                            identities["aggregator"].lfdi, pairs, 10)
        assert [(await server.store.service_task(t)).state for t in enrolled.service_tasks] == ["Pending"] * 4

        # the monitor has taken the first task and is still at its work; one pass of it ends the others
        first = enrolled.service_tasks[0]
        await server.store.claim_service_task(first, server.background.clock.now())
        assert await server.background.service_tasks.run_once() == 3

        completing = asyncio.create_task(complete_tasks(server.admin_url, token, enrolled.service_tasks))
        await asyncio.sleep(1)
        assert not completing.done()  # it waits for the task in Processing, rather than failing on its 409
        await server.store.finish_service_task(first, server.background.clock.now(), harness.config.issuer)
        await asyncio.wait_for(completing, 60)

        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as admin:
            for task_id in enrolled.service_tasks:
                async with admin.get(f"{server.admin_url}/service-tasks/{task_id}") as resp:
                    assert (await resp.json())["state"] == "Completed"
                async with admin.post(f"{server.admin_url}/service-tasks/{task_id}/process") as resp:
                    assert resp.status == 409  # the admin API still refuses to process an ended task
            for end_device in enrolled.end_devices.values():
                async with admin.get(f"{server.admin_url}/end-devices/{end_device}") as resp:
                    assert (await resp.json())["enabled"] is True
    finally:
        await harness.stop()
