"""A small utility world built through the store's public methods: a program with rules, a customer with an
account and a service point, an asset type, a device model; and a registered (then enrolled) device."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from der_gateway.domain.identifiers import Issuer, Pen
from der_gateway.domain.utility import Caller
from der_gateway.domain.utility.requests import DeviceIn, RegisterIn
from der_gateway.sep.identity import sfdi_from_lfdi
from der_gateway.store.utility_records import (AssetTypeRecord, Created, CustomerRecord, DeviceModelRecord,
                                               ServiceTaskRecord)

NOW = 1_800_000_000
ISSUER = Issuer(Pen(40732), registration_pin=111115)
ADMIN = Caller("admin")
NAMEPLATE = {"type": 4, "modesSupported": "00000001", "rtgMaxW": {"value": 5000, "multiplier": 0},
             "rtgMaxVA": {"value": 5000, "multiplier": 0}, "rtgMaxVar": {"value": 3000, "multiplier": 0},
             "rtgMinPFOverExcited": {"displacement": 800, "multiplier": -3}}
SPEC = {"rtgMaxW": {"min": 1000, "max": 10000, "required": True}}


@dataclass
class World:
    program: int
    customer: CustomerRecord
    service_point: int
    asset_type: AssetTypeRecord
    model: DeviceModelRecord


def customer_values(ext: str, sp: str, **extra) -> dict[str, Any]:
    return {"externalId": ext, "name": f"Customer {ext}", "status": "active",
            "accounts": [{"externalId": f"ACC-{ext}", "servicePoints": [
                {"externalId": sp, "address": "1 Main St", "substation": "S1", "feeder": "F1",
                 "transformer": "T1"}]}], **extra}


async def build(store) -> World:
    program = await store.create_program(f"{1:024X}{40732:08X}", "solar soak", 5)
    await store.set_program_rules(program, {"code": "SOAK", "eligibility": {"derTypes": [4]}, "constraints": {}},
                                  NOW)
    customer = await store.create_customer(customer_values("C1", "SP1"))
    asset_type = await store.create_asset_type({"code": "PV", "description": "solar", "derType": 4,
                                                "requiresInterconnection": False, "defaultProgramId": program})
    model = await store.create_device_model({"assetTypeId": asset_type.id, "manufacturer": "Acme",
                                             "model": "Sun 5", "spec": SPEC})
    return World(program, customer, customer.detail.accounts[0].service_points[0].id, asset_type, model)


def register_request(n: int, *, customer: int | str = "C1", service_point: int | str = "SP1",
                     program: int | str | None = None, nameplate: dict | None = None,
                     manufacturer: str = "Acme", model: str = "Sun 5") -> RegisterIn:
    lfdi = f"{0xD000 + n:09X}" + "A" * 31  # the sFDI comes from the first 36 bits
    device = DeviceIn(lfdi, sfdi_from_lfdi(lfdi), manufacturer, model, f"SN{n}", "1",
                      nameplate or NAMEPLATE, {"setMaxW": {"value": 4000, "multiplier": 0}})
    return RegisterIn(customer, service_point, device, program, None)


async def register(store, n: int, **kwargs) -> Created:
    created = await store.register_der_device(register_request(n, **kwargs), ADMIN, NOW, None, ISSUER)
    assert isinstance(created, Created) and created.outcome == "created"
    return created


async def run_task(store, task_id: int, now: int = NOW + 1) -> ServiceTaskRecord:
    await store.claim_service_task(task_id, now)
    return await store.finish_service_task(task_id, now, ISSUER)


async def enrolled(store, n: int) -> Created:
    created = await register(store, n)
    task = await run_task(store, created.service_task.id)
    assert task.state == "Completed", task
    return created
