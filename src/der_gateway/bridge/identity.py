"""Each Modbus device's own 2030.5 identity, and the inventory that lists the devices.

The bridge holds one (aggregator) certificate, but registers one EndDevice per
Modbus device, each with an identity of its own.  A device has no certificate,
so its LFDI is derived, deterministically, from what identifies it physically:
the first 160 bits of SHA-256 over ``"{PEN}:{manufacturer}:{serial}"`` (the PEN
of the party deriving it scopes the name space), as 40 upper-case hex digits;
its SFDI follows from the LFDI as for any 2030.5 device (IEEE 2030.5 §6.3.4).
The same device gets the same identity on every run and on every bridge.

The inventory is what ``device_sims.Fleet.write_inventory`` writes: a JSON list
of ``{name, kind, host, port, unit_id, serial, manufacturer, model, nameplate}``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from der_gateway.sep.identity import sfdi_from_lfdi

DEFAULT_PEN = 40732

# DeviceCategoryType bits (IEEE 2030.5-2018): 21 photovoltaic system, 23 combined PV and storage,
# 25 other storage system
CATEGORY_PV = 1 << 21
CATEGORY_PV_STORAGE = 1 << 23
CATEGORY_STORAGE = 1 << 25
_CATEGORIES = {"pv": CATEGORY_PV, "solar": CATEGORY_PV, "battery": CATEGORY_STORAGE, "storage": CATEGORY_STORAGE,
               "pv+storage": CATEGORY_PV_STORAGE, "hybrid": CATEGORY_PV_STORAGE}


class InventoryError(ValueError):
    """An inventory file that cannot be used: the message says which entry and why."""


def device_lfdi(manufacturer: str, serial: str, pen: int = DEFAULT_PEN) -> str:
    """The LFDI of a device without a certificate: SHA-256 over PEN, manufacturer and serial, cut to 160 bits."""
    if not serial.strip():
        raise ValueError("a device identity needs a serial number")
    text = f"{pen}:{manufacturer.strip()}:{serial.strip()}"
    return hashlib.sha256(text.encode()).hexdigest()[:40].upper()


@dataclass(frozen=True)
class DeviceIdentity:
    lfdi: str
    sfdi: int
    device_category: int  # DeviceCategoryType bits

    @property
    def category_hex(self) -> str:
        return f"{self.device_category:08X}"

    @classmethod
    def of(cls, manufacturer: str, serial: str, kind: str = "pv", pen: int = DEFAULT_PEN) -> DeviceIdentity:
        lfdi = device_lfdi(manufacturer, serial, pen)
        return cls(lfdi, sfdi_from_lfdi(lfdi), _CATEGORIES.get(kind.lower(), CATEGORY_PV))


@dataclass(frozen=True)
class DeviceSpec:
    """One inventory entry: where a Modbus device is and what it is."""

    name: str
    kind: str
    host: str
    port: int
    unit_id: int
    serial: str
    manufacturer: str
    model: str = ""
    nameplate: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def identity(self, pen: int = DEFAULT_PEN) -> DeviceIdentity:
        return DeviceIdentity.of(self.manufacturer, self.serial, self.kind, pen)

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any], index: int = 0) -> DeviceSpec:
        where = f"inventory entry {index}"
        if not isinstance(entry, Mapping):
            raise InventoryError(f"{where} is not an object")
        try:
            serial = str(entry["serial"]).strip()
            host = str(entry["host"])
            port = int(entry["port"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InventoryError(f"{where} needs host, port and serial ({exc})") from None
        if not serial:
            raise InventoryError(f"{where} has an empty serial")
        if not 0 < port < 65536:
            raise InventoryError(f"{where}: port {port} is out of range")
        return cls(name=str(entry.get("name") or serial), kind=str(entry.get("kind") or "pv"), host=host,
                   port=port, unit_id=int(entry.get("unit_id", 1)), serial=serial,
                   manufacturer=str(entry.get("manufacturer") or ""), model=str(entry.get("model") or ""),
                   nameplate=dict(entry.get("nameplate") or {}))


def load_inventory(source: str | os.PathLike | Iterable[Mapping[str, Any]]) -> list[DeviceSpec]:
    """Inventory entries from a JSON file or from a list of dicts; names and identities must be unique."""
    if isinstance(source, (str, os.PathLike)):
        try:
            entries = json.loads(Path(source).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InventoryError(f"cannot read inventory {source}: {exc}") from None
    else:
        entries = list(source)
    if not isinstance(entries, list):
        raise InventoryError("an inventory is a JSON list of devices")
    specs = [DeviceSpec.from_entry(e, i) for i, e in enumerate(entries)]
    names: set[str] = set()
    plates: set[tuple[str, str]] = set()
    for spec in specs:
        if spec.name in names:
            raise InventoryError(f"device name {spec.name!r} appears twice")
        if (spec.manufacturer, spec.serial) in plates:
            raise InventoryError(f"{spec.manufacturer} serial {spec.serial} appears twice")
        names.add(spec.name)
        plates.add((spec.manufacturer, spec.serial))
    return specs
