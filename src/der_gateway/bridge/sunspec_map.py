"""SunSpec 700-series point values <-> IEEE 2030.5 DER resources, for the bridge.

Pure functions: no Modbus, no HTTP, no clock.  The mapping follows
``shared/reference/sunspec-mapping.md``; the places where no source gives the
mapping (marked † there) are marked † here too.

Inputs
------
A device is described by a *snapshot*: ``{model id: point dict}``, each dict as
pysunspec2's ``Model.get_dict()`` returns it: raw register values (scale
factors not applied), ``None`` where a point is not implemented, scale factors
as points of their own (``W_SF``), single groups as dicts (``PFWInj``) and
repeating groups as lists of dicts (``Crv[i].Pt[j]``).  ``snapshot(device)``
makes one from a scanned and read pysunspec2 device.  Point names, types, scale
factor names and access come from pysunspec2's JSON model definitions, never
from hand-typed offsets.

Outputs towards the device
--------------------------
``control_writes`` and friends return a *plan*: a list of ``Write`` (set one
point to a raw register value, scale factor already applied) and ``Await``
(poll a point until it reads a value: curve adoption).  Execute the steps in
order.  A point path is ``"WMaxLimPct"``, ``"PFWInj.PF"`` or
``"Crv[2].Pt[1].V"``: repeating groups counted from 1 as SunSpec counts them
(``Crv[1]`` is the first curve, the one AdptCrvReq=1 names), the convention of
``device_sims`` too; ``resolve_point`` finds the point in a pysunspec2 model.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, TypeVar

from sunspec2 import device as sunspec_device

from der_gateway.sep import model

Models = Mapping[int, Mapping[str, Any]]


class MappingError(ValueError):
    """A snapshot or a control that cannot be mapped (a required point is missing, a curve does not fit)."""


T = TypeVar("T")


def _given(value: T | None, name: str) -> T:
    """A control's field that the mode being mapped implies is set."""
    if value is None:
        raise MappingError(f"{name} is not given")
    return value


# -- 2030.5 code tables -----------------------------------------------------------

#: DERControlType bit positions, IEEE 2030.5-2018 (2013/2017 number them differently).
DER_CONTROL_BITS: dict[str, int] = {
    "charge": 0,
    "discharge": 1,
    "opModConnect": 2,
    "opModEnergize": 3,
    "opModFixedPFAbsorbW": 4,
    "opModFixedPFInjectW": 5,
    "opModFixedVar": 6,
    "opModFixedW": 7,
    "opModFreqDroop": 8,
    "opModFreqWatt": 9,
    "opModHFRTMayTrip": 10,
    "opModHFRTMustTrip": 11,
    "opModHVRTMayTrip": 12,
    "opModHVRTMomentaryCessation": 13,
    "opModHVRTMustTrip": 14,
    "opModLFRTMayTrip": 15,
    "opModLFRTMustTrip": 16,
    "opModLVRTMayTrip": 17,
    "opModLVRTMomentaryCessation": 18,
    "opModLVRTMustTrip": 19,
    "opModMaxLimW": 20,
    "opModTargetVar": 21,
    "opModTargetW": 22,
    "opModVoltVar": 23,
    "opModVoltWatt": 24,
    "opModWattPF": 25,
    "opModWattVar": 26,
}

#: The DERControlBase fields that are control modes (rampTms is not one).
CONTROL_MODES: tuple[str, ...] = tuple(name for name in DER_CONTROL_BITS if name.startswith("opMod"))

#: Modes with no 70x model behind them (legacy 134 / 131): always rejected.
UNMAPPED_MODES: frozenset[str] = frozenset({"opModFreqWatt", "opModWattPF"})

#: CSIP-AUS dynamic operating envelope modes: this bridge implements none of them.
DOE_MODES: tuple[str, ...] = ("opModImpLimW", "opModExpLimW", "opModGenLimW", "opModLoadLimW")

#: 702 CtrlModes bit -> (the model carrying its control points, DERControlType bits).
CTRL_MODES: dict[int, tuple[int, tuple[int, ...]]] = {
    0: (704, (20,)),  # MAX_W -> opModMaxLimW
    1: (704, (7, 22)),  # FIXED_W -> opModFixedW (+ opModTargetW †)
    2: (704, (6, 21)),  # FIXED_VAR -> opModFixedVar (+ opModTargetVar †)
    3: (704, (4, 5)),  # FIXED_PF -> opModFixedPFAbsorbW, opModFixedPFInjectW
    4: (705, (23,)),  # VOLT_VAR
    5: (711, (8,)),  # FREQ_WATT -> opModFreqDroop
    7: (707, (17, 18, 19)),  # LV_TRIP -> LVRT may trip, momentary cessation, must trip
    8: (708, (12, 13, 14)),  # HV_TRIP
    9: (712, (26,)),  # WATT_VAR
    10: (706, (24,)),  # VOLT_WATT
    12: (709, (15, 16)),  # LF_TRIP
    13: (710, (10, 11)),  # HF_TRIP
}

#: DERCurve.curveType each curve-linked mode requires.
CURVE_TYPES: dict[str, int] = {
    "opModFreqWatt": 0,
    "opModHFRTMayTrip": 1,
    "opModHFRTMustTrip": 2,
    "opModHVRTMayTrip": 3,
    "opModHVRTMomentaryCessation": 4,
    "opModHVRTMustTrip": 5,
    "opModLFRTMayTrip": 6,
    "opModLFRTMustTrip": 7,
    "opModLVRTMayTrip": 8,
    "opModLVRTMomentaryCessation": 9,
    "opModLVRTMustTrip": 10,
    "opModVoltVar": 11,
    "opModVoltWatt": 12,
    "opModWattPF": 13,
    "opModWattVar": 14,
}

# 2030.5 DERType
DER_TYPE_PV = 4
DER_TYPE_STORAGE = 80
DER_TYPE_PV_STORAGE = 83

# SunSpec enumerations used below
INVST_RUNNING, INVST_THROTTLED, INVST_FAULT = 3, 4, 6
ALRM_TO_ALARM_STATUS = {10: 1, 11: 2, 8: 3, 9: 4}  # 701 Alrm bit -> DERStatus.alarmStatus bit
ADOPT_COMPLETED, ADOPT_FAILED = 1, 2
WSETMOD_PCT, WSETMOD_WATTS = 0, 1
VARSETMOD_VARS = 4
VARSETMOD_OF_REFTYPE = {1: 0, 2: 1, 3: 2}  # FixedVar.refType -> VarSetMod (W_MAX_PCT, VAR_MAX_PCT, VAR_AVAIL_PCT)
OPCTL_STOP, OPCTL_START = 0, 1


# -- model definitions -------------------------------------------------------------

_STEP = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\[(\d+)\])?$")

_UNIMPLEMENTED: dict[str, Any] = {
    "int16": -0x8000, "uint16": 0xFFFF, "count": 0xFFFF, "enum16": 0xFFFF, "bitfield16": 0xFFFF,
    "int32": -0x80000000, "uint32": 0xFFFFFFFF, "enum32": 0xFFFFFFFF, "bitfield32": 0xFFFFFFFF,
    "int64": -0x8000000000000000, "uint64": 0xFFFFFFFFFFFFFFFF, "sunssf": -0x8000,
}

# The values a write may carry: the type's range less its not-implemented value.
_WRITABLE_RANGE: dict[str, tuple[int, int]] = {
    "int16": (-0x7FFF, 0x7FFF), "uint16": (0, 0xFFFE), "enum16": (0, 0xFFFE), "bitfield16": (0, 0x7FFF),
    "int32": (-0x7FFFFFFF, 0x7FFFFFFF), "uint32": (0, 0xFFFFFFFE), "enum32": (0, 0xFFFFFFFE),
    "bitfield32": (0, 0x7FFFFFFF),
}


def _parse(path: str) -> list[tuple[str, int | None]]:
    steps = []
    for part in path.split("."):
        match = _STEP.match(part)
        if match is None:
            raise KeyError(f"bad point path {path!r}")
        steps.append((match.group(1), None if match.group(2) is None else int(match.group(2))))
    return steps


@functools.cache
def _point_defs(mid: int) -> dict[str, dict[str, Any]]:
    """Every point of a model, keyed by its group-qualified name without indices ("Crv.Pt.V")."""
    defs: dict[str, dict[str, Any]] = {}

    def walk(group: Mapping[str, Any], prefix: str) -> None:
        for point in group.get("points", ()):
            defs[prefix + point["name"]] = point
        for sub in group.get("groups", ()):
            walk(sub, prefix + sub["name"] + ".")

    walk(sunspec_device.get_model_def(mid)["group"], "")
    return defs


def point_def(mid: int, path: str) -> dict[str, Any]:
    """The pysunspec2 JSON definition of a point, e.g. ``point_def(704, "WMaxLimPct")["sf"] == "WMaxLimPct_SF"``."""
    key = ".".join(name for name, _ in _parse(path))
    try:
        return _point_defs(mid)[key]
    except KeyError:
        raise KeyError(f"model {mid} has no point {path!r}") from None


def _node(models: Models, mid: int, steps: Sequence[tuple[str, int | None]]) -> Any:
    node: Any = models.get(mid)
    for name, index in steps:
        if not isinstance(node, Mapping):
            return None
        node = node.get(name)
        if index is not None:  # counted from 1
            if not isinstance(node, Sequence) or isinstance(node, (str, bytes)) or not 1 <= index <= len(node):
                return None
            node = node[index - 1]
    return node


def value(models: Models, mid: int, path: str) -> Any:
    """A point's raw value, or None when the model or point is absent or not implemented."""
    raw = _node(models, mid, _parse(path))
    if raw is None:
        return None
    kind = point_def(mid, path)["type"]
    if kind == "string":
        text = str(raw).replace("\x00", "").strip() if not isinstance(raw, bytes) else raw.decode(errors="replace")
        return text or None
    if kind in _UNIMPLEMENTED and raw == _UNIMPLEMENTED[kind]:
        return None
    return raw


def scale_factor(models: Models, mid: int, path: str) -> int:
    """The point's scale factor: its SF point (same group first, then the model's top level), else 0.

    A scale factor that is not implemented counts as 0, as pysunspec2 does.
    """
    sf = point_def(mid, path).get("sf")
    if sf is None:
        return 0
    if isinstance(sf, int):
        return sf
    steps = _parse(path)
    if len(steps) > 1:
        group = _node(models, mid, steps[:-1])
        if isinstance(group, Mapping) and group.get(sf) is not None and group[sf] != _UNIMPLEMENTED["sunssf"]:
            return int(group[sf])
    found = value(models, mid, sf)
    return 0 if found is None else int(found)


def quantity(models: Models, mid: int, path: str) -> tuple[int, int] | None:
    """(raw, scale factor) of a numeric point, or None when it is not implemented."""
    raw = value(models, mid, path)
    if raw is None:
        return None
    return int(raw), scale_factor(models, mid, path)


def scaled(models: Models, mid: int, path: str) -> Fraction | None:
    """The point's value in its engineering unit (raw x 10^SF), exactly."""
    q = quantity(models, mid, path)
    return None if q is None else Fraction(q[0]) * Fraction(10) ** q[1]


def snapshot(device: Any) -> dict[int, dict[str, Any]]:
    """{model id: point dict} from a pysunspec2 device whose models have been read (first instance of each)."""
    out: dict[int, dict[str, Any]] = {}
    for key, instances in device.models.items():
        if isinstance(key, int) and instances:
            out[key] = instances[0].get_dict()
    return out


def resolve_point(sunspec_model: Any, path: str) -> Any:
    """The pysunspec2 Point a path names in a Model (or Group): ``resolve_point(m, "Crv[2].Pt[1].V")``.

    Paths count repeating groups from 1; pysunspec2's lists count from 0.
    """
    node = sunspec_model
    for name, index in _parse(path):
        node = getattr(node, name)
        if index is not None:
            node = node[index - 1]
    return node


# -- numbers --------------------------------------------------------------------------

def _round(x: Fraction | int) -> int:
    """Round half away from zero."""
    x = Fraction(x)
    n = math.floor(abs(x) + Fraction(1, 2))
    return n if x >= 0 else -n


def _fit(raw: int, sf: int, lo: int, hi: int) -> tuple[int, int]:
    """{value, multiplier} for a 2030.5 type whose value spans [lo, hi]: {raw, SF}, coarsened only if it must be."""
    value_, mult = int(raw), int(sf)
    if mult > 9:
        value_, mult = value_ * 10 ** (mult - 9), 9
    while (value_ < lo or value_ > hi or mult < -9) and mult < 9:
        value_, mult = _round(Fraction(value_, 10)), mult + 1
    return max(lo, min(hi, value_)), mult


_INT16 = (-0x8000, 0x7FFF)
_UINT16 = (0, 0xFFFF)
_VALUE_RANGE: dict[type, tuple[int, int]] = {
    model.ActivePower: _INT16,
    model.ReactivePower: _INT16,
    model.ApparentPower: _UINT16,
    model.VoltageRMS: _UINT16,
    model.CurrentRMS: _UINT16,
    model.AmpereHour: _UINT16,
    model.WattHour: _UINT16,
    model.ReactiveSusceptance: _UINT16,
}


def _measure(cls: type, models: Models, mid: int, path: str, *, negate: bool = False) -> Any:
    q = quantity(models, mid, path)
    if q is None:
        return None
    raw, sf = q
    lo, hi = _VALUE_RANGE[cls]
    v, m = _fit(-raw if negate else raw, sf, lo, hi)
    return cls(value=v, multiplier=m)


def _power_factor(models: Models, mid: int, path: str) -> model.PowerFactor | None:
    q = quantity(models, mid, path)
    if q is None:
        return None
    v, m = _fit(abs(q[0]), q[1], *_UINT16)
    return model.PowerFactor(displacement=v, multiplier=m)


def _hundredths(models: Models, mid: int, path: str, lo: int, hi: int, factor: int = 100) -> int | None:
    """The point's scaled value x factor (default: in hundredths), clamped to [lo, hi]."""
    x = scaled(models, mid, path)
    if x is None:
        return None
    return max(lo, min(hi, _round(x * factor)))


def _amount(v: Any) -> Fraction | None:
    """A 2030.5 {value, multiplier} as a number."""
    if v is None:
        return None
    return Fraction(v.value) * Fraction(10) ** v.multiplier


def _bits_hex(bits: int, width: int) -> str:
    return f"{bits:0{width}X}"


# -- DERCapability ------------------------------------------------------------------------

def is_storage(models: Models) -> bool:
    return 713 in models or 802 in models


def der_type(models: Models) -> int:
    """4 PV, 80 storage or 83 PV and storage, inferred from the models present †.

    Storage (713 or 802) with a 714 DC port of type PV is 83; storage alone is 80;
    no storage is PV.
    """
    if not is_storage(models):
        return DER_TYPE_PV
    ports = _node(models, 714, [("Prt", None)])
    if isinstance(ports, Sequence) and any(isinstance(p, Mapping) and p.get("PrtTyp") == 0 for p in ports):
        return DER_TYPE_PV_STORAGE
    return DER_TYPE_STORAGE


def modes_supported_bits(models: Models) -> int:
    """The DERControlType bitmap the device supports, from 702 CtrlModes (2030.5-2018 bit positions).

    A CtrlModes bit counts only if the model carrying its control points is
    present.  When CtrlModes is not implemented, the models present decide †.
    Connect and energize are set when 703 or 715 is present †; charge and
    discharge for storage.
    """
    ctrl = value(models, 702, "CtrlModes")
    bits = 0
    for ctrl_bit, (mid, der_bits) in CTRL_MODES.items():
        claimed = (ctrl >> ctrl_bit) & 1 if ctrl is not None else True
        if claimed and mid in models:
            for b in der_bits:
                bits |= 1 << b
    if 703 in models or 715 in models:
        bits |= 1 << DER_CONTROL_BITS["opModConnect"] | 1 << DER_CONTROL_BITS["opModEnergize"]
    if is_storage(models):
        bits |= 1 << DER_CONTROL_BITS["charge"] | 1 << DER_CONTROL_BITS["discharge"]
    return bits


def der_capability(models: Models, *, type: int | None = None) -> model.DERCapability:
    """DERCapability from 702 (nameplate), 713/802 (storage) and the models present.

    ``type`` overrides the inferred DERType.
    """
    if 702 not in models:
        raise MappingError("model 702 (DERCapacity) is required for DERCapability")
    rtg_max_w = _measure(model.ActivePower, models, 702, "WMaxRtg")
    if rtg_max_w is None:
        raise MappingError("702 WMaxRtg is not implemented; DERCapability needs rtgMaxW")
    normal = value(models, 702, "NorOpCatRtg")
    abnormal = value(models, 702, "AbnOpCatRtg")
    return model.DERCapability(
        modesSupported=_bits_hex(modes_supported_bits(models), 8),
        rtgAbnormalCategory=None if abnormal is None else abnormal + 1,
        rtgMaxA=_measure(model.CurrentRMS, models, 702, "AMaxRtg"),
        rtgMaxAh=_measure(model.AmpereHour, models, 802, "AHRtg"),
        rtgMaxChargeRateVA=_measure(model.ApparentPower, models, 702, "VAChaRteMaxRtg"),
        rtgMaxChargeRateW=_measure(model.ActivePower, models, 702, "WChaRteMaxRtg"),
        rtgMaxDischargeRateVA=_measure(model.ApparentPower, models, 702, "VADisChaRteMaxRtg"),
        rtgMaxDischargeRateW=_measure(model.ActivePower, models, 702, "WDisChaRteMaxRtg"),
        rtgMaxV=_measure(model.VoltageRMS, models, 702, "VMaxRtg"),
        rtgMaxVA=_measure(model.ApparentPower, models, 702, "VAMaxRtg"),
        rtgMaxVar=_measure(model.ReactivePower, models, 702, "VarMaxInjRtg"),
        # 702 holds the absorbed rating as a magnitude; 2030.5 makes it negative (it defaults to -rtgMaxVar)
        rtgMaxVarNeg=_measure(model.ReactivePower, models, 702, "VarMaxAbsRtg", negate=True),
        rtgMaxW=rtg_max_w,
        rtgMaxWh=(_measure(model.WattHour, models, 713, "WHRtg")
                  or _measure(model.WattHour, models, 802, "WHRtg")),
        rtgMinPFOverExcited=_power_factor(models, 702, "PFOvrExtRtg"),  # 702 marks these "Unused" †
        rtgMinPFUnderExcited=_power_factor(models, 702, "PFUndExtRtg"),
        rtgMinV=_measure(model.VoltageRMS, models, 702, "VMinRtg"),
        rtgNormalCategory=None if normal is None else normal + 1,  # SunSpec CAT_A=0, 2030.5 A=1
        rtgOverExcitedPF=_power_factor(models, 702, "WOvrExtRtgPF"),
        rtgOverExcitedW=_measure(model.ActivePower, models, 702, "WOvrExtRtg"),
        rtgReactiveSusceptance=_measure(model.ReactiveSusceptance, models, 702, "ReactSusceptRtg"),
        rtgUnderExcitedPF=_power_factor(models, 702, "WUndExtRtgPF"),
        rtgUnderExcitedW=_measure(model.ActivePower, models, 702, "WUndExtRtg"),
        rtgVNom=_measure(model.VoltageRMS, models, 702, "VNomRtg"),
        type=der_type(models) if type is None else type,
    )


# -- DERSettings ------------------------------------------------------------------------------

_ENABLE_POINTS: tuple[tuple[int, str, tuple[int, ...]], ...] = (
    (704, "PFWInjEna", (5,)),
    (704, "PFWAbsEna", (4,)),
    (704, "WMaxLimPctEna", (20,)),
    (705, "Ena", (23,)),
    (706, "Ena", (24,)),
    (707, "Ena", (17, 18, 19)),
    (708, "Ena", (12, 13, 14)),
    (709, "Ena", (15, 16)),
    (710, "Ena", (10, 11)),
    (711, "Ena", (8,)),
    (712, "Ena", (26,)),
)


def modes_enabled_bits(models: Models) -> int:
    """DERControlType bits whose SunSpec enable point (704, 705-712) reads ENABLED."""
    bits = 0
    for mid, point, der_bits in _ENABLE_POINTS:
        if value(models, mid, point) == 1:
            for b in der_bits:
                bits |= 1 << b
    if value(models, 704, "WSetEna") == 1:
        bits |= 1 << (22 if value(models, 704, "WSetMod") == WSETMOD_WATTS else 7)
    if value(models, 704, "VarSetEna") == 1:
        bits |= 1 << (21 if value(models, 704, "VarSetMod") == VARSETMOD_VARS else 6)
    return bits


def der_settings(models: Models, now: int) -> model.DERSettings:
    """DERSettings from 702 (settings), 703 (enter service) and 704 (ramp rate)."""
    set_max_w = _measure(model.ActivePower, models, 702, "WMax") or _measure(model.ActivePower, models, 702, "WMaxRtg")
    if set_max_w is None:
        raise MappingError("702 WMax and WMaxRtg are not implemented; DERSettings needs setMaxW")
    ramp = value(models, 704, "WRmp")  # %WMax/s (no SF) -> hundredths of %/s †
    return model.DERSettings(
        modesEnabled=_bits_hex(modes_enabled_bits(models), 8),
        setESDelay=_hundredths(models, 703, "ESDlyTms", 0, 0xFFFFFFFF),
        setESHighFreq=_hundredths(models, 703, "ESHzHi", 0, 0xFFFF),
        setESHighVolt=_hundredths(models, 703, "ESVHi", -0x8000, 0x7FFF),
        setESLowFreq=_hundredths(models, 703, "ESHzLo", 0, 0xFFFF),
        setESLowVolt=_hundredths(models, 703, "ESVLo", -0x8000, 0x7FFF),
        setESRampTms=_hundredths(models, 703, "ESRmpTms", 0, 0xFFFFFFFF),
        setESRandomDelay=_hundredths(models, 703, "ESRndTms", 0, 0xFFFFFFFF),
        setGradW=0 if ramp is None else min(0xFFFF, int(ramp) * 100),
        setMaxA=_measure(model.CurrentRMS, models, 702, "AMax"),
        setMaxChargeRateVA=_measure(model.ApparentPower, models, 702, "VAChaRteMax"),
        setMaxChargeRateW=_measure(model.ActivePower, models, 702, "WChaRteMax"),
        setMaxDischargeRateVA=_measure(model.ApparentPower, models, 702, "VADisChaRteMax"),
        setMaxDischargeRateW=_measure(model.ActivePower, models, 702, "WDisChaRteMax"),
        setMaxV=_measure(model.VoltageRMS, models, 702, "VMax"),
        setMaxVA=_measure(model.ApparentPower, models, 702, "VAMax"),
        setMaxVar=_measure(model.ReactivePower, models, 702, "VarMaxInj"),
        setMaxVarNeg=_measure(model.ReactivePower, models, 702, "VarMaxAbs", negate=True),
        setMaxW=set_max_w,
        setMinV=_measure(model.VoltageRMS, models, 702, "VMin"),
        setVNom=_measure(model.VoltageRMS, models, 702, "VNom"),
        updatedTime=now,
    )


# -- DERStatus -------------------------------------------------------------------------------------

def gen_connect_bits(models: Models) -> int | None:
    """ConnectStatusType bits: 0 connected (ConnSt), 2 operating (RUNNING/THROTTLED) †, 4 fault (FAULT, Alrm) †."""
    conn, inv, alarm = value(models, 701, "ConnSt"), value(models, 701, "InvSt"), value(models, 701, "Alrm")
    if conn is None and inv is None:
        return None
    bits = 0
    if conn == 1:
        bits |= 1 << 0
    if inv in (INVST_RUNNING, INVST_THROTTLED):
        bits |= 1 << 2
    if inv == INVST_FAULT or (alarm is not None and alarm != 0):
        bits |= 1 << 4
    return bits


def alarm_status_bits(models: Models) -> int | None:
    alarm = value(models, 701, "Alrm")
    if alarm is None:
        return None
    bits = 0
    for alrm_bit, status_bit in ALRM_TO_ALARM_STATUS.items():
        if (alarm >> alrm_bit) & 1:
            bits |= 1 << status_bit
    return bits


def der_status(models: Models, now: int) -> model.DERStatus:
    """DERStatus from 701 (state, alarms), 713 (state of charge) and 715 (local/remote)."""
    st, inv = value(models, 701, "St"), value(models, 701, "InvSt")
    connect = gen_connect_bits(models)
    alarms = alarm_status_bits(models)
    manufacturer = value(models, 701, "MnAlrmInfo")
    soc = _hundredths(models, 713, "SoC", 0, 10000)
    loc_rem = value(models, 715, "LocRemCtl")
    storage_mode = None
    if is_storage(models):
        w = value(models, 701, "W")
        if w is not None:
            storage_mode = 1 if w > 0 else 0 if w < 0 else 2  # discharging, charging, holding †
    connect_status = None if connect is None else model.ConnectStatusType(dateTime=now, value=_bits_hex(connect, 2))
    return model.DERStatus(
        alarmStatus=None if alarms is None else _bits_hex(alarms, 8),
        genConnectStatus=connect_status,
        inverterStatus=None if inv is None else model.InverterStatusType(dateTime=now, value=inv + 1),
        localControlModeStatus=(None if loc_rem is None
                                else model.LocalControlModeStatusType(dateTime=now, value=1 - loc_rem)),
        manufacturerStatus=(None if manufacturer is None
                            else model.ManufacturerStatusType(dateTime=now, value=manufacturer[:6])),
        operationalModeStatus=None if st is None else model.OperationalModeStatusType(dateTime=now, value=st + 1),
        readingTime=now,
        stateOfChargeStatus=None if soc is None else model.StateOfChargeStatusType(dateTime=now, value=soc),
        storageModeStatus=(None if storage_mode is None
                           else model.StorageModeStatusType(dateTime=now, value=storage_mode)),
        storConnectStatus=connect_status if is_storage(models) else None,
    )


# -- DERAvailability --------------------------------------------------------------------------------

def _first(*candidates: Any) -> Any:
    return next((c for c in candidates if c is not None), None)


def der_availability(models: Models, now: int) -> model.DERAvailability:
    """DERAvailability: statWAvail from W (unthrottled) †, statVarAvail from VarMaxInj †, storage from 713 †.

    For storage, reservePercent is the full discharge rate while energy remains,
    and availabilityDuration the seconds that energy lasts at it; likewise
    reserveChargePercent and maxChargeDuration for the room left to charge.
    """
    w = scaled(models, 701, "W")
    stat_w = None
    if w is not None:
        throttle = value(models, 701, "ThrotPct")
        if value(models, 701, "InvSt") == INVST_THROTTLED and throttle is not None and 0 < throttle < 100:
            w = w / (1 - Fraction(throttle, 100))
        raw, mult = _fit(max(0, _round(w)), 0, *_INT16)
        stat_w = model.ActivePower(value=raw, multiplier=mult)
    stat_var = _measure(model.ReactivePower, models, 702, "VarMaxInj") or _measure(
        model.ReactivePower, models, 702, "VarMaxInjRtg")
    duration = charge_duration = reserve = reserve_charge = None
    if 713 in models:
        energy = scaled(models, 713, "WHAvail")
        rating = scaled(models, 713, "WHRtg")
        soc = scaled(models, 713, "SoC")
        discharge = _first(scaled(models, 702, "WDisChaRteMax"), scaled(models, 702, "WDisChaRteMaxRtg"),
                           scaled(models, 702, "WMax"), scaled(models, 702, "WMaxRtg"))
        charge = _first(scaled(models, 702, "WChaRteMax"), scaled(models, 702, "WChaRteMaxRtg"),
                        scaled(models, 702, "WMax"), scaled(models, 702, "WMaxRtg"))
        if energy is not None:
            reserve = 10000 if energy > 0 else 0
            if discharge:
                duration = min(0xFFFFFFFF, _round(energy * 3600 / discharge))
        if rating is not None and soc is not None:
            room = max(Fraction(0), rating * (1 - soc / 100))
            reserve_charge = 10000 if room > 0 else 0
            if charge:
                charge_duration = min(0xFFFFFFFF, _round(room * 3600 / charge))
    return model.DERAvailability(
        availabilityDuration=duration,
        maxChargeDuration=charge_duration,
        readingTime=now,
        reserveChargePercent=reserve_charge,
        reservePercent=reserve,
        statVarAvail=stat_var,
        statWAvail=stat_w,
    )


# -- telemetry (701) -> MirrorMeterReading ---------------------------------------------------------

KIND_POWER, KIND_ENERGY = 37, 12
FLOW_FORWARD, FLOW_REVERSE = 1, 19
QUALIFIER_AVERAGE, QUALIFIER_MAX, QUALIFIER_MIN = 2, 8, 9
ACCUMULATION_SUMMATION = 9

# (701 point, uom, phase, flowDirection); energy points have a flowDirection
TELEMETRY_POINTS: tuple[tuple[str, int, int, int | None], ...] = (
    ("W", 38, 0, None), ("WL1", 38, 128, None), ("WL2", 38, 64, None), ("WL3", 38, 32, None),
    ("Var", 63, 0, None), ("VarL1", 63, 128, None), ("VarL2", 63, 64, None), ("VarL3", 63, 32, None),
    ("VA", 61, 0, None), ("VAL1", 61, 128, None), ("VAL2", 61, 64, None), ("VAL3", 61, 32, None),
    ("PF", 65, 0, None), ("PFL1", 65, 128, None), ("PFL2", 65, 64, None), ("PFL3", 65, 32, None),
    ("A", 5, 0, None), ("AL1", 5, 128, None), ("AL2", 5, 64, None), ("AL3", 5, 32, None),
    ("LNV", 29, 0, None),
    ("VL1", 29, 129, None), ("VL2", 29, 65, None), ("VL3", 29, 33, None),
    ("VL1L2", 29, 132, None), ("VL2L3", 29, 66, None), ("VL3L1", 29, 40, None),
    ("Hz", 33, 0, None),
    ("TotWhInj", 72, 0, FLOW_REVERSE), ("TotWhAbs", 72, 0, FLOW_FORWARD),
    ("TotVarhInj", 73, 0, FLOW_REVERSE), ("TotVarhAbs", 73, 0, FLOW_FORWARD),
)

_INT48 = (-(2 ** 47), 2 ** 47)


@dataclass(frozen=True)
class Telemetry:
    """One 701 measurement as a 2030.5 reading: value x 10^reading_type.powerOfTenMultiplier."""

    key: str  # the 701 point name: "W", "WL1", "TotWhInj", ...
    reading_type: model.ReadingType
    value: int
    time: int

    @property
    def amount(self) -> Fraction:
        return Fraction(self.value) * Fraction(10) ** (self.reading_type.powerOfTenMultiplier or 0)


def reading_type(key: str, multiplier: int, *, data_qualifier: int = QUALIFIER_AVERAGE,
                 interval: int | None = None) -> model.ReadingType:
    """The ReadingType of a 701 point (see TELEMETRY_POINTS)."""
    for point, uom, phase, flow in TELEMETRY_POINTS:
        if point == key:
            break
    else:
        raise KeyError(f"701 point {key!r} is not telemetry")
    energy = flow is not None
    return model.ReadingType(
        accumulationBehaviour=ACCUMULATION_SUMMATION if energy else None,
        commodity=1,
        dataQualifier=None if energy else data_qualifier,
        flowDirection=flow,
        intervalLength=None if energy else interval,
        kind=KIND_ENERGY if energy else KIND_POWER,
        phase=phase or None,
        powerOfTenMultiplier=multiplier,
        uom=uom,
    )


def telemetry_readings(model701: Mapping[str, Any], now: int, *, data_qualifier: int = QUALIFIER_AVERAGE,
                       interval: int | None = None) -> list[Telemetry]:
    """Readings for every implemented 701 measurement; the scale factor becomes the powerOfTenMultiplier.

    The total voltage is LNV (or LLV when LNV is not implemented).
    ``data_qualifier`` and ``interval`` describe the power-type readings:
    2 average, 8 maximum, 9 minimum over ``interval`` seconds.
    """
    models = {701: model701}
    out = []
    for key, _uom, _phase, _flow in TELEMETRY_POINTS:
        point = key
        if key == "LNV" and value(models, 701, "LNV") is None:
            point = "LLV"
        q = quantity(models, 701, point)
        if q is None:
            continue
        raw, mult = _fit(q[0], q[1], *_INT48)
        out.append(Telemetry(key, reading_type(key, mult, data_qualifier=data_qualifier, interval=interval), raw, now))
    return out


def average_telemetry(samples: Sequence[Sequence[Telemetry]]) -> list[Telemetry]:
    """Average (or, for energy counters, take the latest of) several telemetry_readings results.

    Each key keeps the reading type of its latest sample; values are averaged in
    that multiplier, time is the latest sample's.
    """
    by_key: dict[str, list[Telemetry]] = {}
    for sample in samples:
        for t in sample:
            by_key.setdefault(t.key, []).append(t)
    out = []
    for key, items in by_key.items():
        last = max(items, key=lambda t: t.time)
        if last.reading_type.kind == KIND_ENERGY:
            out.append(last)
            continue
        mult = last.reading_type.powerOfTenMultiplier or 0
        mean = sum((t.amount for t in items), Fraction(0)) / len(items)
        out.append(Telemetry(key, last.reading_type, _round(mean / Fraction(10) ** mult), last.time))
    return out


def telemetry_mrid(lfdi: str, key: str, pen: int) -> str:
    """A stable mRID for a device's reading: 96 bits of SHA-256 over (LFDI, key), then the PEN."""
    digest = hashlib.sha256(f"{lfdi.upper()}:{key}".encode()).hexdigest()[:24].upper()
    return f"{digest}{pen:08X}"


def mirror_meter_reading(t: Telemetry, *, lfdi: str, pen: int, period: int | None = None,
                         with_type: bool = True, start: int | None = None) -> model.MirrorMeterReading:
    """A MirrorMeterReading carrying one reading (its timePeriod: the ``period`` seconds from ``start``, or up
    to its time)."""
    time_period = None if period is None else model.DateTimeInterval(
        duration=period, start=t.time - period if start is None else start)
    return model.MirrorMeterReading(
        mRID=telemetry_mrid(lfdi, t.key, pen),
        description=t.key,
        lastUpdateTime=t.time,
        Reading=model.Reading(timePeriod=time_period, value=t.value),
        ReadingType=t.reading_type if with_type else None,
    )


def mirror_usage_point(lfdi: str, telemetry: Iterable[Telemetry], *, pen: int,
                       description: str | None = None) -> model.MirrorUsagePoint:
    """The MirrorUsagePoint to POST to /mup for a device: roleFlags isMirror and isDER, one reading per key."""
    return model.MirrorUsagePoint(
        mRID=telemetry_mrid(lfdi, "mup", pen),
        description=description,
        roleFlags="0009",
        serviceCategoryKind=0,
        status=1,
        deviceLFDI=lfdi.upper(),
        MirrorMeterReading=[
            model.MirrorMeterReading(mRID=telemetry_mrid(lfdi, t.key, pen), description=t.key,
                                     ReadingType=t.reading_type)
            for t in telemetry
        ],
    )


def mirror_meter_reading_list(telemetry: Sequence[Telemetry], *, lfdi: str, pen: int, period: int | None = None,
                              start: int | None = None) -> model.MirrorMeterReadingList:
    """The readings to POST to a MirrorUsagePoint's location."""
    readings = [mirror_meter_reading(t, lfdi=lfdi, pen=pen, period=period, with_type=False, start=start)
                for t in telemetry]
    return model.MirrorMeterReadingList(all=len(readings), results=len(readings), MirrorMeterReading=readings)


# -- plans: what to write to the device -----------------------------------------------------------

@dataclass(frozen=True)
class Write:
    """Write one point: ``value`` is the raw register value, its scale factor already applied."""

    model: int
    point: str
    value: int


@dataclass(frozen=True)
class Await:
    """Read ``point`` until it equals ``value`` (or ``failed``, which means the device refused)."""

    model: int
    point: str
    value: int
    failed: int | None = None
    timeout: float = 10.0


Step = Write | Await


def batches(steps: Sequence[Step]) -> list[tuple[int, list[Write]] | Await]:
    """Consecutive writes to one model, grouped (one Modbus write each), with the Awaits between them."""
    out: list[tuple[int, list[Write]] | Await] = []
    for step in steps:
        if isinstance(step, Write) and out and isinstance(out[-1], tuple) and out[-1][0] == step.model:
            out[-1][1].append(step)
        elif isinstance(step, Write):
            out.append((step.model, [step]))
        else:
            out.append(step)
    return out


def apply_plan(models: Models, steps: Iterable[Step]) -> dict[int, dict[str, Any]]:
    """A copy of the snapshot with the plan's writes applied (Awaits are assumed to succeed)."""
    out = {mid: copy.deepcopy(dict(points)) for mid, points in models.items()}
    for step in steps:
        if not isinstance(step, Write):
            continue
        node: Any = out.setdefault(step.model, {})
        steps_ = _parse(step.point)
        for name, index in steps_[:-1]:
            node = node[name] if index is None else node[name][index - 1]
        name, index = steps_[-1]
        if index is None:
            node[name] = step.value
        else:
            node[name][index - 1] = step.value
    return out


def control_modes(base: model.DERControlBase | None) -> set[str]:
    """The control modes a DERControlBase sets (DOE modes included; rampTms is not a mode)."""
    if base is None:
        return set()
    return {name for name in CONTROL_MODES + DOE_MODES if getattr(base, name) is not None}


def _int_bits(bitmap: str | int | None) -> int:
    if bitmap is None:
        return 0
    return bitmap if isinstance(bitmap, int) else int(bitmap or "0", 16)


# The SunSpec "function" each mode is written through; modes sharing a function share its points.
_FUNCTION_OF_MODE: dict[str, str] = {
    "opModMaxLimW": "WMaxLimPct",
    "opModFixedW": "WSet",
    "opModTargetW": "WSet",
    "opModFixedVar": "VarSet",
    "opModTargetVar": "VarSet",
    "opModFixedPFInjectW": "PFWInj",
    "opModFixedPFAbsorbW": "PFWAbs",
    "opModEnergize": "Energize",
    "opModConnect": "Connect",
    "opModVoltVar": "705",
    "opModVoltWatt": "706",
    "opModWattVar": "712",
    "opModFreqDroop": "711",
    "opModLVRTMayTrip": "707", "opModLVRTMomentaryCessation": "707", "opModLVRTMustTrip": "707",
    "opModHVRTMayTrip": "708", "opModHVRTMomentaryCessation": "708", "opModHVRTMustTrip": "708",
    "opModLFRTMayTrip": "709", "opModLFRTMustTrip": "709",
    "opModHFRTMayTrip": "710", "opModHFRTMustTrip": "710",
}


def functions(base: model.DERControlBase | None) -> set[str]:
    """The SunSpec functions a control drives ("WMaxLimPct", "WSet", "705", "WRmp", ...)."""
    out = {_FUNCTION_OF_MODE[m] for m in control_modes(base) if m in _FUNCTION_OF_MODE}
    if base is not None and base.rampTms:
        out.add("WRmp")
    return out


@dataclass(frozen=True)
class _Fn704:
    enable: str
    ena_rvrt: str
    tms: str
    rvrt: tuple[tuple[str, str], ...]  # (setpoint, its reversion point)


_FN704: dict[str, _Fn704] = {
    "WMaxLimPct": _Fn704("WMaxLimPctEna", "WMaxLimPctEnaRvrt", "WMaxLimPctRvrtTms",
                         (("WMaxLimPct", "WMaxLimPctRvrt"),)),
    "WSet": _Fn704("WSetEna", "WSetEnaRvrt", "WSetRvrtTms", (("WSet", "WSetRvrt"), ("WSetPct", "WSetPctRvrt"))),
    "VarSet": _Fn704("VarSetEna", "VarSetEnaRvrt", "VarSetRvrtTms",
                     (("VarSet", "VarSetRvrt"), ("VarSetPct", "VarSetPctRvrt"))),
    "PFWInj": _Fn704("PFWInjEna", "PFWInjEnaRvrt", "PFWInjRvrtTms",
                     (("PFWInj.PF", "PFWInjRvrt.PF"), ("PFWInj.Ext", "PFWInjRvrt.Ext"))),
    "PFWAbs": _Fn704("PFWAbsEna", "PFWAbsEnaRvrt", "PFWAbsRvrtTms",
                     (("PFWAbs.PF", "PFWAbsRvrt.PF"), ("PFWAbs.Ext", "PFWAbsRvrt.Ext"))),
}


@dataclass(frozen=True)
class _CurveModel:
    mid: int
    group: str  # the repeating group of stored curves
    count: str  # the point holding how many there are
    req: str  # adopt request
    rslt: str  # adopt result
    rvrt: str | None  # the curve to revert to (None: the model has no reversion timer)


_CURVE_MODELS: dict[str, _CurveModel] = {
    "705": _CurveModel(705, "Crv", "NCrv", "AdptCrvReq", "AdptCrvRslt", "RvrtCrv"),
    "706": _CurveModel(706, "Crv", "NCrv", "AdptCrvReq", "AdptCrvRslt", "RvrtCrv"),
    "712": _CurveModel(712, "Crv", "NCrv", "AdptCrvReq", "AdptCrvRslt", "RvrtCrv"),
    "711": _CurveModel(711, "Ctl", "NCtl", "AdptCtlReq", "AdptCtlRslt", "RvrtCtl"),
    "707": _CurveModel(707, "Crv", "NCrvSet", "AdptCrvReq", "AdptCrvRslt", None),
    "708": _CurveModel(708, "Crv", "NCrvSet", "AdptCrvReq", "AdptCrvRslt", None),
    "709": _CurveModel(709, "Crv", "NCrvSet", "AdptCrvReq", "AdptCrvRslt", None),
    "710": _CurveModel(710, "Crv", "NCrvSet", "AdptCrvReq", "AdptCrvRslt", None),
}

# DERCurve.yRefType -> the model's DeptRef
_DEPT_REF: dict[int, dict[int, int]] = {
    705: {1: 0, 2: 1, 3: 2},  # %setMaxW, %setMaxVar, %statVarAvail -> W_MAX_PCT, VAR_MAX_PCT, VAR_AVAL_PCT
    712: {1: 0, 2: 1, 3: 2},
    706: {1: 0, 7: 1},  # %setMaxW, %statWAvail -> W_MAX_PCT, W_AVAL_PCT
}

# trip-curve modes -> (model, sub-curve, y point)
_TRIP_CURVES: dict[str, tuple[int, str, str]] = {
    "opModLVRTMustTrip": (707, "MustTrip", "V"), "opModLVRTMayTrip": (707, "MayTrip", "V"),
    "opModLVRTMomentaryCessation": (707, "MomCess", "V"),
    "opModHVRTMustTrip": (708, "MustTrip", "V"), "opModHVRTMayTrip": (708, "MayTrip", "V"),
    "opModHVRTMomentaryCessation": (708, "MomCess", "V"),
    "opModLFRTMustTrip": (709, "MustTrip", "Hz"), "opModLFRTMayTrip": (709, "MayTrip", "Hz"),
    "opModHFRTMustTrip": (710, "MustTrip", "Hz"), "opModHFRTMayTrip": (710, "MayTrip", "Hz"),
}

_CURVE_MODE_MODEL: dict[str, int] = {"opModVoltVar": 705, "opModVoltWatt": 706, "opModWattVar": 712}
_CURVE_POINTS: dict[int, tuple[str, str]] = {705: ("V", "Var"), 706: ("V", "W"), 712: ("W", "Var")}  # (x, y)

Image = list[tuple[str, int]]  # (path inside one stored curve, raw value)


def writable_slots(models: Models, fn: str) -> list[int]:
    """The numbers (from 1) of the stored curves (controls) the device lets us write.

    ReadOnly RW counts; when ReadOnly is not implemented, every curve but the
    first (the device's active curve) counts.
    """
    cm = _CURVE_MODELS[fn]
    stored = _node(models, cm.mid, [(cm.group, None)])
    n = value(models, cm.mid, cm.count)
    if not isinstance(stored, Sequence):
        return []
    n = len(stored) if n is None else min(n, len(stored))
    flags = {i: value(models, cm.mid, f"{cm.group}[{i}].ReadOnly") for i in range(1, n + 1)}
    if all(f is None for f in flags.values()):
        return list(range(2, n + 1)) if n > 1 else list(range(1, n + 1))
    return [i for i, f in flags.items() if f == 0]


def _stored_image(models: Models, fn: str, index: int) -> Image:
    """The writable points of stored curve ``index`` (from 1), as they read (to copy it elsewhere)."""
    cm = _CURVE_MODELS[fn]
    root = _node(models, cm.mid, [(cm.group, index)])
    image: Image = []

    def walk(node: Mapping[str, Any], prefix: str, def_prefix: str) -> None:
        for name, item in node.items():
            if isinstance(item, Mapping):
                walk(item, f"{prefix}{name}.", f"{def_prefix}{name}.")
            elif isinstance(item, list):
                for j, sub in enumerate(item, start=1):
                    if isinstance(sub, Mapping):
                        walk(sub, f"{prefix}{name}[{j}].", f"{def_prefix}{name}.")
            else:
                pdef = _point_defs(cm.mid).get(f"{cm.group}.{def_prefix}{name}")
                if pdef is None or pdef.get("access") != "RW":
                    continue
                v = value(models, cm.mid, f"{cm.group}[{index}].{prefix}{name}")
                if v is not None:
                    image.append((f"{prefix}{name}", int(v)))

    if isinstance(root, Mapping):
        walk(root, "", "")
    return image


class _Planner:
    def __init__(self, models: Models, settings: model.DERSettings | None,
                 curves: Mapping[str, model.DERCurve] | None) -> None:
        self.models = models
        self.settings = settings
        self.curves = curves or {}
        self.steps: list[Step] = []

    # -- primitives

    def implemented(self, mid: int, path: str) -> bool:
        return value(self.models, mid, path) is not None

    def raw(self, mid: int, path: str, amount: Fraction | int) -> int:
        """The raw register value for an engineering amount, by the point's scale factor, clamped to its type."""
        sf = scale_factor(self.models, mid, path)
        r = _round(Fraction(amount) / Fraction(10) ** sf)
        lo, hi = _WRITABLE_RANGE.get(point_def(mid, path)["type"], (-(2 ** 63), 2 ** 64))
        return max(lo, min(hi, r))

    def put(self, mid: int, path: str, raw: int, *, optional: bool = False) -> None:
        """Write a raw value; optional points are written only if the device implements them."""
        if optional and not self.implemented(mid, path):
            return
        self.steps.append(Write(mid, path, int(raw)))

    def settings_watts(self, name: str) -> Fraction | None:
        return None if self.settings is None else _amount(getattr(self.settings, name))

    # -- 704 functions: the setpoint values a control asks for (enable excluded), in write order

    def values_704(self, fn: str, base: model.DERControlBase) -> list[tuple[str, int]]:
        if fn == "WMaxLimPct":
            limit = Fraction(_given(base.opModMaxLimW, "opModMaxLimW"), 100)
            return [("WMaxLimPct", self.raw(704, "WMaxLimPct", limit))]
        if fn == "WSet":
            if base.opModFixedW is not None:
                if base.opModFixedW >= 0:
                    return [("WSetMod", WSETMOD_PCT),
                            ("WSetPct", self.raw(704, "WSetPct", Fraction(base.opModFixedW, 100)))]
                # negative: a percentage of setMaxChargeRateW, written in watts
                charge = self.settings_watts("setMaxChargeRateW") or self.settings_watts("setMaxW")
                if charge is None:
                    raise MappingError("opModFixedW below zero needs setMaxChargeRateW or setMaxW")
                watts = charge * Fraction(base.opModFixedW, 10000)
                return [("WSetMod", WSETMOD_WATTS), ("WSet", self.raw(704, "WSet", watts))]
            return [("WSetMod", WSETMOD_WATTS),
                    ("WSet", self.raw(704, "WSet", _given(_amount(base.opModTargetW), "opModTargetW")))]
        if fn == "VarSet":
            if base.opModFixedVar is not None:
                mode = VARSETMOD_OF_REFTYPE.get(base.opModFixedVar.refType)
                if mode is None:
                    raise MappingError(f"opModFixedVar refType {base.opModFixedVar.refType} has no VarSetMod")
                return [("VarSetMod", mode),
                        ("VarSetPct", self.raw(704, "VarSetPct", Fraction(base.opModFixedVar.value, 100)))]
            return [("VarSetMod", VARSETMOD_VARS),
                    ("VarSet", self.raw(704, "VarSet", _given(_amount(base.opModTargetVar), "opModTargetVar")))]
        pf = (_given(base.opModFixedPFInjectW, "opModFixedPFInjectW") if fn == "PFWInj"
              else _given(base.opModFixedPFAbsorbW, "opModFixedPFAbsorbW"))
        displacement = Fraction(pf.displacement) * Fraction(10) ** pf.multiplier
        # excitation true = absorbing vars (under-excited, Ext 1); false = over-excited (Ext 0)
        return [(f"{fn}.PF", self.raw(704, f"{fn}.PF", displacement)), (f"{fn}.Ext", 1 if pf.excitation else 0)]

    def apply_704(self, fn: str, base: model.DERControlBase, remaining: int | None,
                  fallback: model.DERControlBase | None, before: Models | None) -> None:
        spec = _FN704[fn]
        values = self.values_704(fn, base)
        # the reversion (fail-safe) first, so the timer never runs with stale fallback values
        if self.implemented(704, spec.tms):
            if remaining is None:
                self.put(704, spec.tms, 0)
            else:
                if fallback is not None and fn in functions(fallback):
                    target, enable = dict(self.values_704(fn, fallback)), 1
                elif before is not None:
                    target = {p: value(before, 704, p) for p, _ in spec.rvrt}
                    enable = value(before, 704, spec.enable) or 0
                else:
                    target, enable = {}, 0
                for point, rvrt_point in spec.rvrt:
                    if target.get(point) is not None:
                        self.put(704, rvrt_point, int(target[point]), optional=True)
                self.put(704, spec.ena_rvrt, enable, optional=True)
                self.put(704, spec.tms, max(1, remaining))
        for path, raw in values:
            self.put(704, path, raw, optional=path.endswith("Mod"))
        self.put(704, spec.enable, 1)

    def revert_704(self, fn: str, before: Models | None) -> None:
        spec = _FN704[fn]
        self.put(704, spec.tms, 0, optional=True)
        if before is None:
            self.put(704, spec.enable, 0)
            return
        for path in ([f"{fn}Mod"] if fn in ("WSet", "VarSet") else []) + [p for p, _ in spec.rvrt]:
            v = value(before, 704, path)
            if v is not None:
                self.put(704, path, int(v), optional=True)
        self.put(704, spec.enable, value(before, 704, spec.enable) or 0)

    # -- connect / energize

    def on_off_targets(self, base: model.DERControlBase) -> dict[tuple[int, str], int]:
        """(model, point) -> raw for opModEnergize (703 ES) and opModConnect (715 OpCtl) †.

        Each falls back to the other's point when its own model is absent; when
        both land on one point, it is on only if both are.
        """
        out: dict[tuple[int, str], int] = {}
        for mode, own, other in (("opModEnergize", (703, "ES"), (715, "OpCtl")),
                                 ("opModConnect", (715, "OpCtl"), (703, "ES"))):
            wanted = getattr(base, mode)
            if wanted is None:
                continue
            target = own if own[0] in self.models else other
            if target[0] not in self.models:
                raise MappingError(f"{mode} needs model 703 or 715")
            on = OPCTL_START if target[1] == "OpCtl" else 1
            off = OPCTL_STOP if target[1] == "OpCtl" else 0
            raw = on if wanted else off
            out[target] = min(out.get(target, raw), raw)
        return out

    # -- curves

    def curve_image(self, mode: str, curve: model.DERCurve) -> Image:
        """A DERCurve as the points of one stored 705/706/712 curve."""
        mid = _CURVE_MODE_MODEL[mode]
        if curve.curveType != CURVE_TYPES[mode]:
            raise MappingError(f"{mode} links a curve of type {curve.curveType}, not {CURVE_TYPES[mode]}")
        dept = _DEPT_REF[mid].get(curve.yRefType)
        if dept is None:
            raise MappingError(f"{mode}: yRefType {curve.yRefType} has no DeptRef in model {mid}")
        npt = value(self.models, mid, "NPt")
        if npt is not None and len(curve.CurveData) > npt:
            raise MappingError(f"{mode}: {len(curve.CurveData)} points, but model {mid} holds {npt}")
        xs, ys = _CURVE_POINTS[mid]
        xmul, ymul = Fraction(10) ** curve.xMultiplier, Fraction(10) ** curve.yMultiplier
        vref_scale = Fraction(1)
        image: Image = [("ActPt", len(curve.CurveData)), ("DeptRef", dept)]
        if mid == 705:
            if curve.vRef is not None:
                if any(self.implemented(705, f"Crv[{i}].VRef") for i in (1, 2)):
                    image.append(("VRef", self.raw(705, "Crv.VRef", Fraction(curve.vRef, 100))))
                else:  # no VRef point: the x values carry it (x x vRef/10000)
                    vref_scale = Fraction(curve.vRef, 10000)
            if curve.autonomousVRefEnable is not None:
                image.append(("VRefAutoEna", 1 if curve.autonomousVRefEnable else 0))
            if curve.autonomousVRefTimeConstant is not None:
                image.append(("VRefAutoTms", self.raw(705, "Crv.VRefAutoTms",
                                                      Fraction(curve.autonomousVRefTimeConstant, 100))))
        if mid in (705, 706) and curve.openLoopTms is not None:
            image.append(("RspTms", self.raw(mid, "Crv.RspTms", Fraction(curve.openLoopTms, 100))))
        for j, point in enumerate(curve.CurveData, start=1):
            image.append((f"Pt[{j}].{xs}", self.raw(mid, f"Crv.Pt.{xs}", point.xvalue * xmul * vref_scale)))
            image.append((f"Pt[{j}].{ys}", self.raw(mid, f"Crv.Pt.{ys}", point.yvalue * ymul)))
        return image

    def droop_image(self, droop: model.FreqDroopType) -> Image:
        return [
            ("DbOf", self.raw(711, "Ctl.DbOf", Fraction(droop.dBOF, 1000))),  # thousandths of Hz -> Hz
            ("DbUf", self.raw(711, "Ctl.DbUf", Fraction(droop.dBUF, 1000))),
            ("KOf", self.raw(711, "Ctl.KOf", Fraction(droop.kOF, 1000))),  # thousandths -> per unit
            ("KUf", self.raw(711, "Ctl.KUf", Fraction(droop.kUF, 1000))),
            ("RspTms", self.raw(711, "Ctl.RspTms", Fraction(droop.openLoopTms, 100))),  # hundredths of s -> s
        ]

    def trip_image(self, fn: str, base: model.DERControlBase) -> Image:
        """A whole trip-curve set: the active set's sub-curves, with those the control sets replaced."""
        mid = int(fn)
        replaced: dict[str, Image] = {}
        for mode, (m, sub, y) in _TRIP_CURVES.items():
            link = getattr(base, mode)
            if m != mid or link is None:
                continue
            curve = self.curve(mode, link)
            if curve.curveType != CURVE_TYPES[mode]:
                raise MappingError(f"{mode} links a curve of type {curve.curveType}, not {CURVE_TYPES[mode]}")
            npt = value(self.models, mid, "NPt")
            if npt is not None and len(curve.CurveData) > npt:
                raise MappingError(f"{mode}: {len(curve.CurveData)} points, but model {mid} holds {npt}")
            xmul, ymul = Fraction(10) ** curve.xMultiplier, Fraction(10) ** curve.yMultiplier
            image: Image = [(f"{sub}.ActPt", len(curve.CurveData))]
            for j, point in enumerate(curve.CurveData, start=1):  # x: duration (s), y: % voltage or Hz
                image.append((f"{sub}.Pt[{j}].Tms", self.raw(mid, f"Crv.{sub}.Pt.Tms", point.xvalue * xmul)))
                image.append((f"{sub}.Pt[{j}].{y}", self.raw(mid, f"Crv.{sub}.Pt.{y}", point.yvalue * ymul)))
            replaced[sub] = image
        kept = [(p, v) for p, v in _stored_image(self.models, fn, 1) if p.split(".")[0] not in replaced]
        return kept + [item for image in replaced.values() for item in image]

    def curve(self, mode: str, link: model.Link) -> model.DERCurve:
        curve = self.curves.get(link.href)
        if curve is None:
            raise MappingError(f"{mode} links {link.href}, which was not supplied")
        return curve

    def adopt(self, fn: str, slot: int, image: Image) -> None:
        cm = _CURVE_MODELS[fn]
        for path, raw in image:
            self.put(cm.mid, f"{cm.group}[{slot}].{path}", raw)
        self.put(cm.mid, cm.req, slot)
        self.steps.append(Await(cm.mid, cm.rslt, ADOPT_COMPLETED, failed=ADOPT_FAILED))

    def image_for(self, fn: str, base: model.DERControlBase) -> Image:
        if fn == "711":
            return self.droop_image(_given(base.opModFreqDroop, "opModFreqDroop"))
        if fn in ("705", "706", "712"):
            mode = next(m for m, mid in _CURVE_MODE_MODEL.items() if str(mid) == fn)
            return self.curve_image(mode, self.curve(mode, getattr(base, mode)))
        return self.trip_image(fn, base)

    def apply_curve(self, fn: str, base: model.DERControlBase, remaining: int | None,
                    fallback: model.DERControlBase | None, before: Models | None) -> None:
        cm = _CURVE_MODELS[fn]
        slots = writable_slots(self.models, fn)
        if not slots:
            raise MappingError(f"model {cm.mid} has no writable curve")
        self.adopt(fn, slots[0], self.image_for(fn, base))
        if cm.rvrt is not None and self.implemented(cm.mid, "RvrtTms"):
            # fail-safe: stage the fallback (or the curve active before) in a second slot and revert to it
            target: Image | None = None
            if remaining is not None and len(slots) > 1:
                if fallback is not None and fn in functions(fallback):
                    try:
                        target = self.image_for(fn, fallback)
                    except MappingError:
                        target = None
                elif before is not None and value(before, cm.mid, "Ena") == 1:
                    target = _stored_image(before, fn, 1)
            if target and remaining is not None:  # (a target is staged only with a remaining time)
                for path, raw in target:
                    self.put(cm.mid, f"{cm.group}[{slots[1]}].{path}", raw)
                self.put(cm.mid, cm.rvrt, slots[1])
                self.put(cm.mid, "RvrtTms", max(1, remaining))
            elif remaining is not None:
                self.put(cm.mid, cm.rvrt, 0)  # no curve to go back to: reversion curve 0 disables †
                self.put(cm.mid, "RvrtTms", max(1, remaining))
            else:
                self.put(cm.mid, "RvrtTms", 0)
        self.put(cm.mid, "Ena", 1)

    def revert_curve(self, fn: str, before: Models | None) -> None:
        cm = _CURVE_MODELS[fn]
        if cm.rvrt is not None:
            self.put(cm.mid, "RvrtTms", 0, optional=True)
        if before is None:
            if cm.rvrt is not None:  # trip curves are protection: never switch them off blind
                self.put(cm.mid, "Ena", 0)
            return
        slots = writable_slots(self.models, fn)
        image = _stored_image(before, fn, 1)
        if slots and image:
            self.adopt(fn, slots[0], image)
        enable = value(before, cm.mid, "Ena")
        if enable is not None:
            self.put(cm.mid, "Ena", int(enable))

    # -- ramp

    def apply_ramp(self, ramp_tms: int) -> None:
        # the whole range in rampTms hundredths of a second -> %WMax per second †
        self.put(704, "WRmp", max(1, min(0xFFFE, math.ceil(Fraction(10000, ramp_tms)))), optional=True)

    def revert_ramp(self, before: Models | None) -> None:
        previous = None if before is None else value(before, 704, "WRmp")
        if previous is None and self.settings is not None and self.settings.setGradW:
            previous = self.settings.setGradW // 100
        if previous is not None:
            self.put(704, "WRmp", int(previous), optional=True)


_ORDER_704 = ("WMaxLimPct", "WSet", "VarSet", "PFWInj", "PFWAbs")
_ORDER_CURVES = ("705", "706", "712", "711", "707", "708", "709", "710")


def control_writes(base: model.DERControlBase, settings: model.DERSettings | None, models: Models, *,
                   curves: Mapping[str, model.DERCurve] | None = None, remaining: int | None = None,
                   fallback: model.DERControlBase | None = None, before: Models | None = None) -> list[Step]:
    """The plan that puts a control into force on the device.

    ``models`` is the device's current snapshot (for scale factors, curve
    slots and which optional points exist); ``settings`` its DERSettings
    (setMaxW, setMaxChargeRateW).  ``curves`` maps each DERCurveLink href the
    control uses to its DERCurve.

    ``remaining``: seconds until the control's (effective) end.  The 704
    functions get it as their reversion timer (``*RvrtTms``), reverting to
    ``fallback``'s value for the function (the DefaultDERControl's base) if it
    has one, else to what ``before`` (the snapshot before the bridge first
    controlled the device) holds, else to disabled.  Curves revert likewise
    to a copy staged in a second writable slot, or to ``RvrtCrv=0``
    (disabled †).  ``remaining=None`` (a default control, open ended) clears
    the timers.

    Order: the ramp rate first; a disconnect or de-energize next; then for each
    704 function its reversion values and timer, its setpoint(s), and its
    enable last; curves written, adopted (``Await`` AdptCrvRslt COMPLETED),
    their reversion, then enabled; a connect or energize last.  Controls that
    cannot be mapped raise MappingError: check ``unsupported_modes`` first.
    """
    plan = _Planner(models, settings, curves)
    fns = functions(base)
    if "WRmp" in fns:
        plan.apply_ramp(_given(base.rampTms, "rampTms"))
    on_off = plan.on_off_targets(base)
    for (mid, point), raw in on_off.items():
        if raw == 0:
            plan.put(mid, point, raw)
    for fn in _ORDER_704:
        if fn in fns:
            plan.apply_704(fn, base, remaining, fallback, before)
    for fn in _ORDER_CURVES:
        if fn in fns:
            plan.apply_curve(fn, base, remaining, fallback, before)
    for (mid, point), raw in on_off.items():
        if raw != 0:
            plan.put(mid, point, raw)
    return plan.steps


def revert_writes(base: model.DERControlBase, models: Models, *, before: Models | None = None,
                  settings: model.DERSettings | None = None, keep: Iterable[str] = ()) -> list[Step]:
    """The plan that undoes a control: each function it drove goes back to how ``before`` had it.

    Without ``before``, 704 functions and 705/706/711/712 are disabled, the
    device is energized and started, and trip curves are left alone.  Timers
    are cleared first.  Functions named in ``keep`` (see ``functions``) are
    left as they are: the control that follows will set them.
    """
    plan = _Planner(models, settings, None)
    fns = functions(base) - set(keep)
    for fn in _ORDER_704:
        if fn in fns:
            plan.revert_704(fn, before)
    for fn in _ORDER_CURVES:
        if fn in fns:
            plan.revert_curve(fn, before)
    if "WRmp" in fns:
        plan.revert_ramp(before)
    for mode, (mid, point) in (("opModEnergize", (703, "ES")), ("opModConnect", (715, "OpCtl"))):
        if _FUNCTION_OF_MODE[mode] not in fns:
            continue
        if mid not in models:
            mid, point = (715, "OpCtl") if mid == 703 else (703, "ES")
        # ES is a state worth restoring; OpCtl is a command whose reading says little: start †
        previous = None if before is None or point == "OpCtl" else value(before, mid, point)
        plan.put(mid, point, 1 if previous is None else int(previous))
    # drop a write that a later one repeats (energize and connect may share a point)
    seen: set[tuple[int, str]] = set()
    steps: list[Step] = []
    for step in reversed(plan.steps):
        if isinstance(step, Write):
            if (step.model, step.point) in seen:
                continue
            seen.add((step.model, step.point))
        steps.append(step)
    return steps[::-1]


def transition_writes(old: model.DERControlBase | None, new: model.DERControlBase | None,
                      settings: model.DERSettings | None, models: Models, *,
                      curves: Mapping[str, model.DERCurve] | None = None, remaining: int | None = None,
                      fallback: model.DERControlBase | None = None, before: Models | None = None) -> list[Step]:
    """From one control in force to the next: revert what only the old one drove, then apply the new one."""
    steps: list[Step] = []
    if old is not None:
        steps += revert_writes(old, models, before=before, settings=settings, keep=functions(new))
    if new is not None:
        steps += control_writes(new, settings, models, curves=curves, remaining=remaining,
                                fallback=fallback, before=before)
    return steps


def enter_service_writes(default: model.DefaultDERControl, models: Models) -> list[Step]:
    """A DefaultDERControl's enter-service settings as 703 writes (hundredths -> s, %, Hz); setGradW as WRmp †."""
    plan = _Planner(models, None, None)
    if 703 in models:
        for field_name, point, divisor in (("setESHighVolt", "ESVHi", 100), ("setESLowVolt", "ESVLo", 100),
                                           ("setESHighFreq", "ESHzHi", 100), ("setESLowFreq", "ESHzLo", 100),
                                           ("setESDelay", "ESDlyTms", 100), ("setESRandomDelay", "ESRndTms", 100),
                                           ("setESRampTms", "ESRmpTms", 100)):
            v = getattr(default, field_name)
            if v is not None:
                plan.put(703, point, plan.raw(703, point, Fraction(v, divisor)))
    if default.setGradW is not None and 704 in models:
        plan.put(704, "WRmp", min(0xFFFE, default.setGradW // 100), optional=True)
    return plan.steps


def heartbeat_write(counter: int) -> Write:
    """715 ControllerHb: write an incrementing counter (once a second) so the device knows the bridge lives."""
    return Write(715, "ControllerHb", counter % 0xFFFFFFFF)


def unsupported_modes(base: model.DERControlBase, modesSupported: str | int | None, *,
                      curves: Mapping[str, model.DERCurve] | None = None,
                      models: Models | None = None) -> set[str]:
    """The modes of a control the device cannot carry out: non-empty means respond 252 (rejected).

    A mode is unsupported when its DERControlType bit is not in modesSupported;
    always for FreqWatt and WattPF (no 70x model) and the CSIP-AUS DOE modes; when its parameters have no SunSpec
    equivalent (FixedVar refType other than 1-3); and, given ``curves`` and
    ``models``, when its curve is missing, of the wrong type, has a yRefType
    the model cannot take, more points than the model holds, or there is no
    writable curve slot.
    """
    bits = _int_bits(modesSupported)
    out = {m for m in control_modes(base)
           if m in DOE_MODES or m in UNMAPPED_MODES or not (bits >> DER_CONTROL_BITS[m]) & 1}
    if base.opModFixedVar is not None and base.opModFixedVar.refType not in VARSETMOD_OF_REFTYPE:
        out.add("opModFixedVar")
    if curves is not None:
        for mode in control_modes(base) & set(CURVE_TYPES):
            if mode in out:
                continue
            curve = curves.get(getattr(base, mode).href)
            if curve is None or curve.curveType != CURVE_TYPES[mode]:
                out.add(mode)
                continue
            mid = _CURVE_MODE_MODEL.get(mode) or _TRIP_CURVES.get(mode, (None,))[0]
            curve_mid = _CURVE_MODE_MODEL.get(mode)
            if curve_mid is not None and curve.yRefType not in _DEPT_REF[curve_mid]:
                out.add(mode)
            elif models is not None and mid is not None:
                npt = value(models, mid, "NPt")
                if (npt is not None and len(curve.CurveData) > npt) or not writable_slots(models, str(mid)):
                    out.add(mode)
    if models is not None and base.opModFreqDroop is not None and "opModFreqDroop" not in out:
        if not writable_slots(models, "711"):
            out.add("opModFreqDroop")
    return out
