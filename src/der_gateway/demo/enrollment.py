"""The utility's side of the demo: a program, a customer, the catalog, and the fleet enrolled
through the aggregator's registerDERDevice, each enrollment task brought to Completed."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from ..domain.utility import tasks

DER_TYPE = {"pv": 4, "battery": 80}
# the program's settlement: a curtailment program pays for the load its devices add (the output they give up) at
# a fixed price, with credits per event and per kW reserved and penalties (docs/settlement.md); the baseline is
# the load of the half minute before each stage, as the demo's stages last seconds
SETTLEMENT_TERMS = {"currency": "USD", "perEvent": "0.50", "perKWReserved": "0.20", "optOutPenalty": "1.00",
                    "noResponsePenalty": "0.50", "paidEnergy": "curtailment"}
PRICING = {"kind": "fixed", "currency": "USD", "pricePerKWh": "0.12"}
BASELINE = {"method": {"name": "meter-before", "minutes": "0.5"}, "measurement": "telemetry"}
MODES = {"pv": "00100000", "battery": "00100003"}  # opModMaxLimW, plus charge and discharge for storage


@dataclass
class Enrolled:
    program_id: int
    program_mrid: str
    end_devices: dict[str, int]  # device name -> EndDevice id
    service_tasks: list[int]  # the enrollment tasks registerDERDevice created
    customer_id: int = 0


TASK_PATIENCE = 60.0  # seconds one service task may take to end (a busy machine is slow, a fault is not this slow)


class ApiError(RuntimeError):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


async def _call(session: aiohttp.ClientSession, method: str, url: str, body: Any = None,
                headers: dict[str, str] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    all_headers = {"Content-Type": "application/json", **(headers or {})} if data else dict(headers or {})
    async with session.request(method, url, data=data, headers=all_headers) as resp:
        raw = await resp.read()
        if resp.status >= 300:
            raise ApiError(f"{method} {url}: {resp.status} {raw[:500].decode(errors='replace')}", resp.status)
        return json.loads(raw) if raw else None


def _power(watts: int) -> dict[str, int]:
    return {"value": int(watts), "multiplier": 0}


def _admin(admin: aiohttp.ClientSession, admin_url: str, token: str):
    auth = {"Authorization": f"Bearer {token}"}

    async def call(method: str, path: str, body: Any = None) -> Any:
        return await _call(admin, method, admin_url + path, body, auth)
    return call


async def enroll_fleet(admin_url: str, token: str, aggregator: aiohttp.ClientSession, server_url: str,
                       aggregator_lfdi: str, devices: list[tuple[dict, str]], event_seconds: int) -> Enrolled:
    """devices: (inventory entry, the LFDI the bridge will give it)."""
    enrolled = await register_fleet(admin_url, token, aggregator, server_url, aggregator_lfdi, devices, event_seconds)
    await complete_tasks(admin_url, token, enrolled.service_tasks)
    return enrolled


async def register_fleet(admin_url: str, token: str, aggregator: aiohttp.ClientSession, server_url: str,
                         aggregator_lfdi: str, devices: list[tuple[dict, str]], event_seconds: int) -> Enrolled:
    """The catalog, and every device registered through registerDERDevice: its enrollment task is Pending."""
    async with aiohttp.ClientSession() as admin:
        call = _admin(admin, admin_url, token)

        program = await call("POST", "/programs", {"primacy": 1, "description": "Demo curtailment"})
        tariff = await call("POST", "/tariffs", {"code": "DEMO-DR", "description": "Demo curtailment credits",
                                                 "terms": {"settlement": SETTLEMENT_TERMS}})
        await call("PUT", f"/programs/{program['id']}/rules", {
            "code": "DEMO", "eligibility": {"derTypes": [4, 80, 83], "tariffId": tariff["id"]},
            "constraints": {"maxDurationSeconds": max(3600, event_seconds), "minNoticeSeconds": 1}})
        await call("PUT", f"/programs/{program['id']}/pricing", PRICING)
        await call("PUT", f"/programs/{program['id']}/baseline", BASELINE)
        customer = await call("POST", "/customers", {
            "externalId": "DEMO-1", "name": "Demo customer", "accounts": [{
                "externalId": "DEMO-A1",
                "servicePoints": [{"externalId": f"SP-{entry['name']}", "feeder": "F1", "transformer": "T1",
                                   "substation": "S1"} for entry, _ in devices]}]})
        asset_types = {kind: await call("POST", "/asset-types", {
            "code": kind.upper(), "derType": DER_TYPE[kind], "defaultProgramId": program["id"]})
            for kind in sorted({entry["kind"] for entry, _ in devices})}
        largest: dict[tuple[str, str, str], int] = {}
        for entry, _ in devices:
            key = (entry["kind"], entry["manufacturer"], entry["model"])
            largest[key] = max(largest.get(key, 0), entry["nameplate"]["w_max"])
        for (kind, manufacturer, model_name), w_max in largest.items():
            await call("POST", "/device-models", {
                "assetTypeId": asset_types[kind]["id"], "manufacturer": manufacturer, "model": model_name,
                "spec": {"rtgMaxW": {"min": 0, "max": w_max, "required": True}}})
        await call("PUT", f"/aggregators/{aggregator_lfdi}/customers/{customer['id']}")
        await call("PUT", f"/customers/{customer['id']}/tariffs/{tariff['id']}")

        end_devices: dict[str, int] = {}
        task_ids: list[int] = []
        for entry, lfdi in devices:
            plate = entry["nameplate"]
            registered = await _call(aggregator, "POST", server_url + "/api/v1/registerDERDevice", {
                "customer": "DEMO-1", "servicePoint": f"SP-{entry['name']}",
                "device": {"lFDI": lfdi, "manufacturer": entry["manufacturer"], "model": entry["model"],
                           "serialNumber": entry["serial"],
                           "nameplate": {"type": DER_TYPE[entry["kind"]], "modesSupported": MODES[entry["kind"]],
                                         "rtgMaxW": _power(plate["w_max"]), "rtgMaxVA": _power(plate["va_max"])},
                           "settings": {"setMaxW": _power(plate["w_max"]), "setGradW": 0}}},
                {"Idempotency-Key": f"demo-register-{entry['serial']}"})
            end_devices[entry["name"]] = registered["endDevice"]["id"]
            task_ids.append(registered["serviceTask"]["id"])
    return Enrolled(program["id"], program["mRID"], end_devices, task_ids, customer["id"])


async def complete_tasks(admin_url: str, token: str, task_ids: list[int]) -> None:
    """Every task ends Completed, processed by the operator's request or by the server's service-task monitor,
    which runs alongside and may take a task first."""
    async with aiohttp.ClientSession() as admin:
        call = _admin(admin, admin_url, token)
        for task_id in task_ids:
            task = await _ended(call, task_id)
            if task["state"] != "Completed":
                raise ApiError(f"enrollment task {task_id} ended {task['state']}: {task.get('reasons')}")


async def _ended(call, task_id: int) -> dict[str, Any]:
    """The task once it has ended: processed now if still Pending, else as whoever processed it left it."""
    deadline = time.monotonic() + TASK_PATIENCE
    while True:
        task = await call("GET", f"/service-tasks/{task_id}")
        if task["state"] == "Pending":
            try:
                return await call("POST", f"/service-tasks/{task_id}/process")
            except ApiError as refused:
                if refused.status != 409:
                    raise
                task = await call("GET", f"/service-tasks/{task_id}")
                if task["state"] == "Pending":  # refused for its own sake, not because the monitor took it
                    raise
        if task["state"] in tasks.FINAL:
            return task
        if time.monotonic() > deadline:
            raise TimeoutError(f"service task {task_id} is still {task['state']} after {TASK_PATIENCE:.0f} s")
        await asyncio.sleep(0.2)
