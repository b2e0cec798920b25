"""The inbound operations' bodies: registerDERDevice, interconnectDER, and a device replacement.

Shape only: what the body says, each problem named by its field.  The 2030.5
parts (the nameplate, a DERCapability, and the settings, a DERSettings) are
judged by a `sep_check(cls, data, path)` the caller supplies, which answers the
stored form (codec.to_data) of a schema-valid object or the problems found.
Whether the customer, the model or the program exist is for the store to say.

Each parse_* answers (request, problems).  The request is None when the body is
too broken to act on; otherwise the problems (if any) are ones the caller should
report together with what the stored state shows, so that every problem comes
back at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ...sep import model
from ...sep.identity import sfdi_from_lfdi
from . import Problem, join, problem
from .catalog import INTERCONNECTION, settings_errors
from .fields import F, check

SepCheck = Callable[[type, dict[str, Any], str], tuple[dict[str, Any] | None, list[Problem]]]

NAMEPLATE_SERVER_FIELDS = ("href",)
SETTINGS_SERVER_FIELDS = ("href", "subscribable", "updatedTime")

DEVICE = {"lFDI": F("lfdi", required=True),
          "sFDI": F("int", minimum=0, maximum=2**40 - 1, description="must be the one derived from lFDI"),
          "manufacturer": F("str", required=True), "model": F("str", required=True),
          "serialNumber": F("str", required=True), "deviceCategory": F("hex32"),
          "nameplate": F("object", required=True,
                         description="a DERCapability (2030.5 JSON form), within the model's spec"),
          "settings": F("object", description="a DERSettings without updatedTime (the server's); limits may not "
                                              "exceed the nameplate")}
# a replacement: manufacturer/model, nameplate and settings default to the old device's
REPLACEMENT = {**DEVICE, "manufacturer": F("str"), "model": F("str"),
               "nameplate": F("object", description="as in registerDERDevice; default: the old device's")}
REGISTER = {"customer": F("ref", required=True), "servicePoint": F("ref", required=True),
            "device": F("object", required=True),
            "program": F("ref", nullable=True, description="id, rules code or mRID; default: the asset type's"),
            "aggregator": F("lfdi", description="admin only: act for this aggregator (it must be active and "
                                                "authorised); it then owns the EndDevice")}
INTERCONNECT = {"customer": F("ref", required=True), "servicePoint": F("ref", required=True),
                "device": F("object", required=True, fields={
                    "manufacturer": F("str", required=True), "model": F("str", required=True),
                    "serialNumber": F("str", required=True), "lFDI": F("lfdi")}),
                "interconnection": F("object", required=True, fields=INTERCONNECTION),
                "aggregator": F("lfdi", description="admin only: act for this aggregator")}


@dataclass(frozen=True)
class DeviceIn:
    lfdi: str
    sfdi: int
    manufacturer: str
    model: str
    serial: str
    device_category: str | None
    nameplate: dict[str, Any] | None  # DERCapability data
    settings: dict[str, Any] | None  # DERSettings data


@dataclass(frozen=True)
class RegisterIn:
    customer: int | str
    service_point: int | str
    device: DeviceIn
    program: int | str | None
    aggregator: str | None


@dataclass(frozen=True)
class InterconnectIn:
    customer: int | str
    service_point: int | str
    manufacturer: str
    model: str
    serial: str
    lfdi: str | None
    attributes: dict[str, Any]
    aggregator: str | None


@dataclass(frozen=True)
class ReplaceIn:
    device: DeviceIn  # manufacturer/model/nameplate may be empty strings/None: the old asset's


def _sep_part(cls: type, data: Any, path: str, server_fields: tuple[str, ...], extra: dict[str, Any],
              sep_check: SepCheck) -> tuple[dict[str, Any] | None, list[Problem]]:
    if data is None:
        return None, []
    if not isinstance(data, dict):
        return None, [problem("must be a JSON object", path)]
    errors = [problem("set by the server", join(path, k)) for k in data if k in server_fields]
    clean = {k: v for k, v in data.items() if k not in server_fields}
    clean.update(extra)
    built, problems = sep_check(cls, clean, path)
    return (built if not problems else None), errors + problems


def _identity(values: dict[str, Any], path: str, errors: list[Problem]) -> int:
    lfdi = values.get("lFDI")
    if lfdi is None:
        return 0
    sfdi = sfdi_from_lfdi(lfdi)
    if "sFDI" in values and values["sFDI"] != sfdi:
        errors.append(problem(f"is not derived from the lFDI (that would be {sfdi})", join(path, "sFDI")))
    return sfdi


def parse_device(data: Any, path: str, sep_check: SepCheck, now: int, *, catalog_optional: bool = False
                 ) -> tuple[DeviceIn | None, list[Problem]]:
    spec = REPLACEMENT if catalog_optional else DEVICE
    values, errors = check(data, spec, path)
    sfdi = _identity(values, path, errors)
    nameplate, problems = _sep_part(model.DERCapability, values.get("nameplate"), join(path, "nameplate"),
                                    NAMEPLATE_SERVER_FIELDS, {}, sep_check)
    errors += problems
    settings, problems = _sep_part(model.DERSettings, values.get("settings"), join(path, "settings"),
                                   SETTINGS_SERVER_FIELDS, {"updatedTime": now}, sep_check)
    errors += problems
    if errors:
        return None, errors
    # usable, though perhaps wrong: the caller may judge the rest of the request beside these
    semantic = settings_errors(settings, nameplate, join(path, "settings")) if nameplate and settings else []
    return DeviceIn(values["lFDI"], sfdi, values.get("manufacturer", ""), values.get("model", ""),
                    values["serialNumber"], values.get("deviceCategory"), nameplate, settings), semantic


def parse_register(data: Any, sep_check: SepCheck, now: int) -> tuple[RegisterIn | None, list[Problem]]:
    values, errors = check(data, REGISTER)
    device = None
    if "device" in values:
        device, problems = parse_device(values["device"], "device", sep_check, now)
        errors += problems
    if device is None or len(errors) > len(problems):
        return None, errors
    return RegisterIn(values["customer"], values["servicePoint"], device, values.get("program"),
                      values.get("aggregator")), errors


def parse_interconnect(data: Any) -> tuple[InterconnectIn | None, list[Problem]]:
    values, errors = check(data, INTERCONNECT)
    if errors:
        return None, errors
    device = values["device"]
    return InterconnectIn(values["customer"], values["servicePoint"], device["manufacturer"], device["model"],
                          device["serialNumber"], device.get("lFDI"), values["interconnection"],
                          values.get("aggregator")), []


def parse_replace(data: Any, sep_check: SepCheck, now: int) -> tuple[ReplaceIn | None, list[Problem]]:
    """The new device: lFDI and serialNumber; manufacturer, model and nameplate default to the old one's."""
    device, errors = parse_device(data, "", sep_check, now, catalog_optional=True)
    if device is not None and bool(device.manufacturer) != bool(device.model):
        return None, errors + [problem("give both manufacturer and model, or neither (to keep the old device's)",
                                       "model" if device.manufacturer else "manufacturer")]
    return (ReplaceIn(device) if device is not None else None), errors
