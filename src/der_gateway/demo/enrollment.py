"""The utility's side of the demo: a program, a customer, the catalog, and the fleet enrolled
through the aggregator's registerDERDevice, each enrollment task processed to Completed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aiohttp

DER_TYPE = {"pv": 4, "battery": 80}
MODES = {"pv": "00100000", "battery": "00100003"}  # opModMaxLimW, plus charge and discharge for storage


@dataclass
class Enrolled:
    program_id: int
    program_mrid: str
    end_devices: dict[str, int]  # device name -> EndDevice id


class ApiError(RuntimeError):
    pass


async def _call(session: aiohttp.ClientSession, method: str, url: str, body: Any = None,
                headers: dict[str, str] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    all_headers = {"Content-Type": "application/json", **(headers or {})} if data else dict(headers or {})
    async with session.request(method, url, data=data, headers=all_headers) as resp:
        raw = await resp.read()
        if resp.status >= 300:
            raise ApiError(f"{method} {url}: {resp.status} {raw[:500].decode(errors='replace')}")
        return json.loads(raw) if raw else None


def _power(watts: int) -> dict[str, int]:
    return {"value": int(watts), "multiplier": 0}


async def enroll_fleet(admin_url: str, token: str, aggregator: aiohttp.ClientSession, server_url: str,
                       aggregator_lfdi: str, devices: list[tuple[dict, str]], event_seconds: int) -> Enrolled:
    """devices: (inventory entry, the LFDI the bridge will give it)."""
    auth = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as admin:
        async def call(method: str, path: str, body: Any = None) -> Any:
            return await _call(admin, method, admin_url + path, body, auth)

        program = await call("POST", "/programs", {"primacy": 1, "description": "Demo curtailment"})
        await call("PUT", f"/programs/{program['id']}/rules", {
            "code": "DEMO", "eligibility": {"derTypes": [4, 80, 83]},
            "constraints": {"maxDurationSeconds": max(3600, event_seconds), "minNoticeSeconds": 1}})
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

        end_devices: dict[str, int] = {}
        tasks = []
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
            tasks.append(registered["serviceTask"]["id"])
        for task_id in tasks:
            task = await call("POST", f"/service-tasks/{task_id}/process")
            if task["state"] != "Completed":
                raise ApiError(f"enrollment task {task_id} ended {task['state']}: {task.get('reasons')}")
    return Enrolled(program["id"], program["mRID"], end_devices)
