"""What a device's 2030.5 documents say, for its score and its forecast.

The documents are the plain data of their sep.model classes (codec.to_data), as the store keeps them:
DERCapability (nameplate), DERSettings, DERStatus and DERAvailability.  Quantities with a multiplier
(ActivePower, WattHour) become plain watts and watt-hours; percentages in hundredths become percents.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

# ConnectStatusType bits (2030.5 DERStatus genConnectStatus / storConnectStatus)
CONNECTED, AVAILABLE, OPERATING, TEST, FAULT = 0, 1, 2, 3, 4
OPERATIONAL_MODE_OFF = 1  # OperationalModeStatusType: 0 not applicable, 1 off, 2 operational, 3 test
INVERTER_FAULT = 7  # InverterStatusType: one or more faults
STORAGE_DER_TYPES = frozenset({80, 81, 82, 83})  # DERType: storage, and the combined PV/storage kinds


def quantity(value: Any) -> float | None:
    """An ActivePower, WattHour, ... ({"value", "multiplier"}) in its base unit; None if absent."""
    if not isinstance(value, Mapping) or not isinstance(value.get("value"), int):
        return None
    return float(value["value"]) * 10.0 ** int(value.get("multiplier") or 0)


def _first(*values: float | None) -> float | None:
    return next((v for v in values if v is not None), None)


def _bits(status: Any) -> int | None:
    if not isinstance(status, Mapping) or not isinstance(status.get("value"), str):
        return None
    try:
        return int(status["value"], 16)
    except ValueError:
        return None


@dataclass(frozen=True)
class DeviceFacts:
    """A device as its DER documents describe it (None: not known)."""

    max_w: float | None  # setMaxW, else the nameplate's rtgMaxW
    max_charge_w: float | None  # setMaxChargeRateW, else rtgMaxChargeRateW
    energy_wh: float | None  # setMaxWh, else rtgMaxWh (storage)
    storage: bool
    connected: bool | None  # DERStatus: genConnectStatus (or storConnectStatus) bit 0
    fault: bool  # a connect status's fault bit, or inverterStatus 7
    off: bool  # operationalModeStatus 1 (off)
    state_of_charge: float | None  # percent
    status_time: int | None  # DERStatus readingTime
    available_w: float | None  # DERAvailability statWAvail
    availability_time: int | None  # DERAvailability readingTime
    settings_time: int | None  # DERSettings updatedTime


def device_facts(dercap: Mapping[str, Any] | None, derg: Mapping[str, Any] | None,
                 ders: Mapping[str, Any] | None, dera: Mapping[str, Any] | None) -> DeviceFacts:
    cap, settings, status, availability = dercap or {}, derg or {}, ders or {}, dera or {}
    connect = [b for b in (_bits(status.get("genConnectStatus")), _bits(status.get("storConnectStatus")))
               if b is not None]
    inverter = status.get("inverterStatus") or {}
    mode = status.get("operationalModeStatus") or {}
    soc = status.get("stateOfChargeStatus") or {}
    energy = _first(quantity(settings.get("setMaxWh")), quantity(cap.get("rtgMaxWh")))
    return DeviceFacts(
        max_w=_first(quantity(settings.get("setMaxW")), quantity(cap.get("rtgMaxW"))),
        max_charge_w=_first(quantity(settings.get("setMaxChargeRateW")), quantity(cap.get("rtgMaxChargeRateW"))),
        energy_wh=energy,
        storage=cap.get("type") in STORAGE_DER_TYPES or energy is not None
        or status.get("storConnectStatus") is not None,
        connected=any(b >> CONNECTED & 1 for b in connect) if connect else None,
        fault=any(b >> FAULT & 1 for b in connect) or inverter.get("value") == INVERTER_FAULT,
        off=mode.get("value") == OPERATIONAL_MODE_OFF,
        state_of_charge=soc["value"] / 100 if isinstance(soc.get("value"), int) else None,
        status_time=status.get("readingTime"),
        available_w=quantity(availability.get("statWAvail")),
        availability_time=availability.get("readingTime"),
        settings_time=settings.get("updatedTime"),
    )
