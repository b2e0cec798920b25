"""The asset catalog: DER types, a device model's nameplate specification, and checks against it.

A specification is JSON: for each nameplate rating it constrains (a DERCapability
field with a value and a power-of-ten multiplier), {"min"?, "max"?, "required"?}
in base units (W, Wh, VA, var, V, A, Ah); and under "interconnection", ranges
for the interconnection attributes.  For example
{"rtgMaxW": {"min": 1000, "max": 10000, "required": true}, "rtgMaxWh": {"max": 13500},
 "interconnection": {"exportLimitW": {"max": 10000}, "inverterCount": {"max": 2}}}.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from . import Problem, join, problem
from .fields import F, check

# DERType (IEEE 2030.5 DERCapability.type)
DER_TYPES: dict[int, str] = {
    0: "not applicable / unknown", 1: "virtual or mixed DER", 2: "reciprocating engine", 3: "fuel cell",
    4: "photovoltaic system", 5: "combined heat and power", 6: "other generation system",
    80: "other storage system", 81: "electric vehicle", 82: "EVSE", 83: "combined PV and storage",
}

# DERCapability ratings that carry {value, multiplier}, with their base unit
RATINGS: dict[str, str] = {
    "rtgMaxA": "A", "rtgMaxAh": "Ah", "rtgMaxChargeRateVA": "VA", "rtgMaxChargeRateW": "W",
    "rtgMaxDischargeRateVA": "VA", "rtgMaxDischargeRateW": "W", "rtgMaxV": "V", "rtgMaxVA": "VA",
    "rtgMaxVar": "var", "rtgMaxVarNeg": "var", "rtgMaxW": "W", "rtgMaxWh": "Wh", "rtgMinV": "V",
    "rtgOverExcitedW": "W", "rtgUnderExcitedW": "W", "rtgVNom": "V",
}

# DERSettings limits that may not exceed the matching nameplate rating
SETTING_LIMITS: dict[str, str] = {
    "setMaxA": "rtgMaxA", "setMaxAh": "rtgMaxAh", "setMaxChargeRateVA": "rtgMaxChargeRateVA",
    "setMaxChargeRateW": "rtgMaxChargeRateW", "setMaxDischargeRateVA": "rtgMaxDischargeRateVA",
    "setMaxDischargeRateW": "rtgMaxDischargeRateW", "setMaxV": "rtgMaxV", "setMaxVA": "rtgMaxVA",
    "setMaxVar": "rtgMaxVar", "setMaxVarNeg": "rtgMaxVarNeg", "setMaxW": "rtgMaxW", "setMaxWh": "rtgMaxWh",
}

# interconnectDER's attributes
INTERCONNECTION: dict[str, F] = {
    "exportLimitW": F("int", required=True, minimum=0, maximum=2**40),
    "importLimitW": F("int", minimum=0, maximum=2**40),
    "inverterCount": F("int", minimum=1, maximum=1000),
    "phases": F("int", choices=(1, 2, 3)),
    "applicationRef": F("str"),
}
INTERCONNECTION_RANGED = ("exportLimitW", "importLimitW", "inverterCount", "phases")


def der_type_reason(value: Any) -> str | None:
    if type(value) is not int or value not in DER_TYPES:
        return "must be a DERType: " + ", ".join(f"{k} ({v})" for k, v in DER_TYPES.items())
    return None


def quantity(measure: Any) -> Decimal | None:
    """A {value, multiplier} measure in base units; None unless it is one."""
    if not isinstance(measure, dict):
        return None
    value, multiplier = measure.get("value"), measure.get("multiplier")
    if type(value) is not int or type(multiplier) is not int:
        return None
    return Decimal(value).scaleb(multiplier)


def show(amount: Decimal | float | int, unit: str) -> str:
    number = Decimal(str(amount)).normalize()
    text = f"{number:f}"
    return f"{text} {unit}"


def _range(data: Any, field: str, require_flag: bool) -> tuple[dict[str, Any], list[Problem]]:
    spec = {"min": F("num"), "max": F("num")}
    if require_flag:
        spec["required"] = F("bool")
    values, errors = check(data, spec, field)
    if not errors and "min" in values and "max" in values and values["min"] > values["max"]:
        errors.append(problem("min must not exceed max", field))
    return values, errors


def parse_spec(data: Any, field: str = "spec") -> tuple[dict[str, Any], list[Problem]]:
    """A device model's specification, checked; unknown ratings are errors."""
    if not isinstance(data, dict):
        return {}, [problem("must be a JSON object", field)]
    spec: dict[str, Any] = {}
    errors: list[Problem] = []
    for key, value in data.items():
        here = join(field, key)
        if key == "interconnection":
            if not isinstance(value, dict):
                errors.append(problem("must be a JSON object", here))
                continue
            ranges = {}
            for attr, limits in value.items():
                if attr not in INTERCONNECTION_RANGED:
                    errors.append(problem("unknown interconnection attribute; ranges apply to "
                                          + ", ".join(INTERCONNECTION_RANGED), join(here, attr)))
                    continue
                checked, problems = _range(limits, join(here, attr), False)
                errors += problems
                ranges[attr] = checked
            spec[key] = ranges
        elif key in RATINGS:
            checked, problems = _range(value, here, True)
            errors += problems
            spec[key] = checked
        else:
            errors.append(problem("unknown rating; a specification constrains " + ", ".join(RATINGS)
                                  + " and interconnection", here))
    return spec, errors


def nameplate_errors(nameplate: dict[str, Any], spec: dict[str, Any], model_name: str,
                     path: str = "device.nameplate") -> list[Problem]:
    """Where the nameplate (DERCapability data) lies outside the model's specification."""
    errors = []
    for rating, limits in spec.items():
        if rating not in RATINGS:
            continue
        unit, here = RATINGS[rating], join(path, rating)
        amount = quantity(nameplate.get(rating))
        if amount is None:
            if limits.get("required"):
                errors.append(problem(f"rule catalog: required by the specification of {model_name}", here))
            continue
        low, high = limits.get("min"), limits.get("max")
        if low is not None and amount < Decimal(str(low)):
            errors.append(problem(f"rule catalog: {show(amount, unit)} is below the minimum of {show(low, unit)} "
                                  f"for {model_name}", here))
        if high is not None and amount > Decimal(str(high)):
            errors.append(problem(f"rule catalog: {show(amount, unit)} is above the maximum of {show(high, unit)} "
                                  f"for {model_name}", here))
    return errors


def settings_errors(settings: dict[str, Any], nameplate: dict[str, Any], path: str = "device.settings"
                    ) -> list[Problem]:
    """Settings may not exceed the ratings they limit."""
    errors = []
    for setting, rating in SETTING_LIMITS.items():
        setting_amount, rating_amount = quantity(settings.get(setting)), quantity(nameplate.get(rating))
        if setting_amount is not None and rating_amount is not None and setting_amount > rating_amount:
            unit = RATINGS[rating]
            errors.append(problem(f"{show(setting_amount, unit)} exceeds the nameplate's {rating} "
                                  f"({show(rating_amount, unit)})", join(path, setting)))
    return errors


def interconnection_errors(attrs: dict[str, Any], spec: dict[str, Any], model_name: str,
                           path: str = "interconnection") -> list[Problem]:
    """The interconnection attributes against the model: its ranges, and export within what the inverters rate."""
    errors = []
    for attr, limits in (spec.get("interconnection") or {}).items():
        value = attrs.get(attr)
        if value is None:
            continue
        low, high = limits.get("min"), limits.get("max")
        if low is not None and value < low:
            errors.append(problem(f"rule catalog: {value} is below the minimum of {low:g} for {model_name}",
                                  join(path, attr)))
        if high is not None and value > high:
            errors.append(problem(f"rule catalog: {value} is above the maximum of {high:g} for {model_name}",
                                  join(path, attr)))
    rated = (spec.get("rtgMaxW") or {}).get("max")
    export = attrs.get("exportLimitW")
    if rated is not None and export is not None:
        ceiling = Decimal(str(rated)) * attrs.get("inverterCount", 1)
        if export > ceiling:
            errors.append(problem(f"rule catalog: {export} W exceeds what {attrs.get('inverterCount', 1)} "
                                  f"{model_name} inverter(s) can rate ({show(ceiling, 'W')})",
                                  join(path, "exportLimitW")))
    return errors
