"""SunSpec snapshots and 2030.5 events for the bridge's pure logic.

Snapshots are built through pysunspec2's own model definitions
(``sunspec2.device.Model(id, data=...).get_dict()``), so a misspelt point name
fails here rather than being silently ignored: see ``model_dict``.
"""

from __future__ import annotations

import copy
from typing import Any

from sunspec2 import device as sunspec_device

from der_gateway.sep import model as m

NOW = 1_717_200_000
LFDI = "3E4F45AB31EDFE5B67E343E5E4562E31984E23E5"
PEN = 40732


def _flatten_names(data: Any, prefix: str = "") -> set[str]:
    names = set()
    if isinstance(data, dict):
        for key, item in data.items():
            if isinstance(item, (dict, list)):
                names |= _flatten_names(item, f"{prefix}{key}.")
            else:
                names.add(prefix + key)
    elif isinstance(data, list):
        for item in data:
            names |= _flatten_names(item, prefix)
    return names


def model_dict(mid: int, data: dict[str, Any]) -> dict[str, Any]:
    """The point dict pysunspec2 gives for a model holding ``data`` (unset points: None)."""
    result = sunspec_device.Model(mid, data=data).get_dict()
    unknown = _flatten_names(data) - _flatten_names(result)
    assert not unknown, f"model {mid} has no points {sorted(unknown)}"
    return result


COMMON = {"Mn": "Acme", "Md": "PV-5000", "SN": "PV0001", "Vr": "1.0.0", "DA": 1}

MEASURE_AC = {
    "ACType": 0, "St": 1, "InvSt": 3, "ConnSt": 1, "Alrm": 0, "DERMode": 1,
    "W": 3000, "VA": 3050, "Var": 200, "PF": 98, "A": 130, "LNV": 2301, "VL1": 2301, "Hz": 50012,
    "TotWhInj": 1234567, "TotWhAbs": 12, "TotVarhInj": 4000, "TotVarhAbs": 300, "ThrotPct": 0, "ThrotSrc": 0,
    "A_SF": -1, "V_SF": -1, "Hz_SF": -3, "W_SF": 0, "PF_SF": -2, "VA_SF": 0, "Var_SF": 0,
    "TotWh_SF": 0, "TotVarh_SF": 0, "Tmp_SF": 0,
}

CAPACITY = {
    "WMaxRtg": 5000, "WOvrExtRtg": 4500, "WOvrExtRtgPF": 90, "WUndExtRtg": 4500, "WUndExtRtgPF": 90,
    "VAMaxRtg": 5000, "VarMaxInjRtg": 2200, "VarMaxAbsRtg": 2200,
    "VNomRtg": 2300, "VMaxRtg": 2530, "VMinRtg": 2070, "AMaxRtg": 217, "PFOvrExtRtg": 80, "PFUndExtRtg": 80,
    "NorOpCatRtg": 1, "AbnOpCatRtg": 2, "CtrlModes": 0b11111,  # MAX_W FIXED_W FIXED_VAR FIXED_PF VOLT_VAR
    "WMax": 5000, "VAMax": 5000, "VarMaxInj": 2200, "VarMaxAbs": 2200, "VNom": 2300, "VMax": 2530, "VMin": 2070,
    "AMax": 217,
    "W_SF": 0, "PF_SF": -2, "VA_SF": 0, "Var_SF": 0, "V_SF": -1, "A_SF": -1,
}

ENTER_SERVICE = {"ES": 1, "ESVHi": 1100, "ESVLo": 880, "ESHzHi": 5015, "ESHzLo": 4700,
                 "ESDlyTms": 60, "ESRndTms": 120, "ESRmpTms": 300, "V_SF": -1, "Hz_SF": -2}

CONTROLS_AC = {
    "PFWInjEna": 0, "PFWInjEnaRvrt": 0, "PFWInjRvrtTms": 0, "PFWInjRvrtRem": 0,
    "PFWAbsEna": 0, "PFWAbsEnaRvrt": 0, "PFWAbsRvrtTms": 0, "PFWAbsRvrtRem": 0,
    "WMaxLimPctEna": 0, "WMaxLimPct": 1000, "WMaxLimPctRvrt": 1000, "WMaxLimPctEnaRvrt": 0,
    "WMaxLimPctRvrtTms": 0, "WMaxLimPctRvrtRem": 0,
    "WSetEna": 0, "WSetMod": 0, "WSet": 0, "WSetRvrt": 0, "WSetPct": 0, "WSetPctRvrt": 0, "WSetEnaRvrt": 0,
    "WSetRvrtTms": 0, "WSetRvrtRem": 0,
    "VarSetEna": 0, "VarSetMod": 0, "VarSetPri": 1, "VarSet": 0, "VarSetRvrt": 0, "VarSetPct": 0,
    "VarSetPctRvrt": 0, "VarSetEnaRvrt": 0, "VarSetRvrtTms": 0, "VarSetRvrtRem": 0,
    "WRmp": 10, "WRmpRef": 1, "VarRmp": 10, "AntiIslEna": 1,
    "PF_SF": -2, "WMaxLimPct_SF": -1, "WSet_SF": 0, "WSetPct_SF": -1, "VarSet_SF": 0, "VarSetPct_SF": -1,
    "PFWInj": {"PF": 100, "Ext": 0}, "PFWInjRvrt": {"PF": 100, "Ext": 0},
    "PFWAbs": {"PF": 100, "Ext": 0}, "PFWAbsRvrt": {"PF": 100, "Ext": 0},
}


def _vv_curve(read_only: int, points: list[tuple[int, int]]) -> dict[str, Any]:
    return {"ActPt": len(points), "DeptRef": 1, "Pri": 1, "VRef": 1000, "VRefAutoEna": 0, "VRefAutoTms": 0,
            "RspTms": 5, "ReadOnly": read_only,
            "Pt": [{"V": v, "Var": q} for v, q in points]}


DEFAULT_VV = [(920, 300), (967, 0), (1033, 0), (1080, -300)]  # % VNom x10, % VarMax x10

VOLT_VAR = {
    "Ena": 0, "AdptCrvReq": 0, "AdptCrvRslt": 1, "NPt": 4, "NCrv": 3, "RvrtTms": 0, "RvrtRem": 0, "RvrtCrv": 0,
    "V_SF": -1, "DeptRef_SF": -1, "RspTms_SF": 0,
    "Crv": [_vv_curve(1, DEFAULT_VV), _vv_curve(0, DEFAULT_VV), _vv_curve(0, DEFAULT_VV)],
}

DER_CTL = {"LocRemCtl": 0, "DERHb": 7, "ControllerHb": 0, "AlarmReset": 0, "OpCtl": 1}

STORAGE = {"WHRtg": 13500, "WHAvail": 6750, "SoC": 500, "SoH": 1000, "Sta": 0, "WH_SF": 0, "Pct_SF": -1}

FREQ_DROOP = {
    "Ena": 0, "AdptCtlReq": 0, "AdptCtlRslt": 1, "NCtl": 2, "RvrtTms": 0, "RvrtRem": 0, "RvrtCtl": 0,
    "Db_SF": -3, "K_SF": -3, "RspTms_SF": -1,
    "Ctl": [{"DbOf": 36, "DbUf": 36, "KOf": 50, "KUf": 50, "RspTms": 50, "PMin": 0, "ReadOnly": 1},
            {"DbOf": 36, "DbUf": 36, "KOf": 50, "KUf": 50, "RspTms": 50, "PMin": 0, "ReadOnly": 0}],
}


def _trip_sub(points: list[tuple[int, int]]) -> dict[str, Any]:
    return {"ActPt": len(points), "Pt": [{"V": v, "Tms": t} for v, t in points]}


TRIP_LV = {
    "Ena": 1, "AdptCrvReq": 0, "AdptCrvRslt": 1, "NPt": 3, "NCrvSet": 2, "V_SF": 0, "Tms_SF": -2,
    "Crv": [
        {"ReadOnly": 1, "MustTrip": _trip_sub([(50, 16), (70, 200), (88, 2100)]),
         "MayTrip": _trip_sub([(50, 100), (70, 1000), (88, 2000)]),
         "MomCess": _trip_sub([(50, 1), (50, 2), (50, 3)])},
        {"ReadOnly": 0, "MustTrip": _trip_sub([(0, 0), (0, 0), (0, 0)]),
         "MayTrip": _trip_sub([(0, 0), (0, 0), (0, 0)]),
         "MomCess": _trip_sub([(0, 0), (0, 0), (0, 0)])},
    ],
}


def pv_inverter(**overrides: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """A 5 kW PV inverter: models 1, 701, 702, 703, 704, 705 and 715. ``overrides``: {"m702": {...}}."""
    data = {1: COMMON, 701: MEASURE_AC, 702: CAPACITY, 703: ENTER_SERVICE, 704: CONTROLS_AC, 705: VOLT_VAR,
            715: DER_CTL}
    return _build(data, overrides)


def battery_inverter(**overrides: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """The same with storage (713) and charge/discharge ratings."""
    capacity = dict(CAPACITY, WChaRteMaxRtg=5000, WDisChaRteMaxRtg=5000, WChaRteMax=4000, WDisChaRteMax=5000,
                    VAChaRteMaxRtg=5000, VADisChaRteMaxRtg=5000)
    data = {1: dict(COMMON, Md="BAT-5000"), 701: MEASURE_AC, 702: capacity, 703: ENTER_SERVICE, 704: CONTROLS_AC,
            705: VOLT_VAR, 713: STORAGE, 715: DER_CTL}
    return _build(data, overrides)


def _build(data: dict[int, dict[str, Any]], overrides: dict[str, dict[str, Any]]) -> dict[int, dict[str, Any]]:
    data = {mid: copy.deepcopy(points) for mid, points in data.items()}
    for key, changes in overrides.items():
        mid = int(key.lstrip("m"))
        if changes is None:
            data.pop(mid, None)
        else:
            data.setdefault(mid, {}).update(copy.deepcopy(changes))
    return {mid: model_dict(mid, points) for mid, points in data.items()}


# -- 2030.5 side -------------------------------------------------------------------------------------

def volt_var_curve(points: list[tuple[int, int]] | None = None, **fields: Any) -> m.DERCurve:
    points = points or [(9200, 3000), (9670, 0), (10300, 0), (10700, -3000)]
    values = dict(mRID="C0FFEE00C0FFEE00C0FFEE00C0FFEE01", creationTime=NOW - 3600, curveType=11,
                  CurveData=[m.CurveData(xvalue=x, yvalue=y) for x, y in points],
                  xMultiplier=-2, yMultiplier=-2, yRefType=2, openLoopTms=500)
    values.update(fields)
    return m.DERCurve(**values)


def control(mrid: str, start: int, duration: int, base: m.DERControlBase | None = None, *, created: int | None = None,
            status: int = 0, status_time: int | None = None, randomize_start: int | None = None,
            randomize_duration: int | None = None, response_required: str | None = "03",
            reply_to: str | None = "/rsps/1/rsp") -> m.DERControl:
    return m.DERControl(
        href=f"/derp/1/derc/{mrid[-4:]}",
        replyTo=reply_to,
        responseRequired=response_required,
        mRID=mrid,
        creationTime=NOW - 600 if created is None else created,
        EventStatus=m.EventStatus(currentStatus=status, dateTime=NOW - 600 if status_time is None else status_time,
                                  potentiallySuperseded=False),
        interval=m.DateTimeInterval(duration=duration, start=start),
        randomizeDuration=randomize_duration,
        randomizeStart=randomize_start,
        DERControlBase=base or m.DERControlBase(opModMaxLimW=5000),
    )


def default_control(mrid: str = "0D1C2B3A495867768594A3B2C1D0E0F1", **base: Any) -> m.DefaultDERControl:
    return m.DefaultDERControl(mRID=mrid, DERControlBase=m.DERControlBase(**(base or {"opModMaxLimW": 10000})),
                               setESDelay=30000, setGradW=1000)


def mrid(n: int) -> str:
    return f"{n:024X}{PEN:08X}"
