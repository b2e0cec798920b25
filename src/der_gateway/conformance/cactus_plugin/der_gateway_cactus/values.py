"""2030.5 values from the numbers in cactus's admin instructions."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

INT16 = 32767
POWER_MODES = ("opModExpLimW", "opModImpLimW", "opModGenLimW", "opModLoadLimW")
SWITCH_MODES = ("opModConnect", "opModEnergize")


def active_power(watts: float) -> dict[str, int]:
    """An ActivePower (value Int16 times 10^multiplier) equal to watts, to the nearest representable value."""
    exact = Decimal(str(watts))
    multiplier = 0
    while exact != exact.to_integral_value() and multiplier > -3 and abs(exact) * 10 <= INT16:
        exact *= 10
        multiplier -= 1
    while abs(exact) > INT16:
        exact /= 10
        multiplier += 1
    return {"value": int(exact.to_integral_value()), "multiplier": multiplier}


def control_base(parameters: dict[str, Any]) -> dict[str, Any]:
    """The DERControlBase that the instruction's mode parameters describe."""
    base: dict[str, Any] = {}
    for mode in POWER_MODES:
        if parameters.get(mode) is not None:
            base[mode] = active_power(parameters[mode])
    for mode in SWITCH_MODES:
        if parameters.get(mode) is not None:
            base[mode] = bool(parameters[mode])
    if parameters.get("opModFixedW") is not None:  # SignedPerCent: hundredths of a percent
        base["opModFixedW"] = round(parameters["opModFixedW"] * 100)
    if parameters.get("rampTms") is not None:
        base["rampTms"] = int(parameters["rampTms"])
    return base
