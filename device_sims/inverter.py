"""A SunSpec 700-series inverter's behaviour: a PV inverter or a battery inverter.

The register image (see :mod:`device_sims.registers`) is the device's whole
face: controls are read from it when a client writes them, and measurements
are written into it before every request is answered (:meth:`publish`).
Physics and timers advance on the fleet's periodic tick and on every request
(:meth:`advance`), keeping per-tick work to a few float operations so that one
process can run thousands of devices.

Sign conventions (SunSpec's): W > 0 injects (generates, discharges), W < 0
absorbs (charges); Var > 0 injects reactive power (over-excited); PF carries
the sign of Var (negative when absorbing vars). Write handling, validation
and the meaning of each control are described in ``device_sims/__init__.py``.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterable

from . import profiles as _profiles
from .clock import Clock, SystemClock
from .registers import BASE_ADDR, PointRef, RegisterImage

PV_MODELS = (1, 701, 702, 703, 704, 705, 715)
BATTERY_MODELS = (1, 701, 702, 703, 704, 705, 713, 715)

# Modbus exception codes returned by :meth:`SunSpecInverter.write`.
ILLEGAL_ADDRESS = 2
ILLEGAL_VALUE = 3

# 701 enums
ST_OFF, ST_ON = 0, 1
INV_OFF, INV_SLEEPING, INV_STARTING, INV_RUNNING, INV_THROTTLED, INV_SHUTTING_DOWN, INV_FAULT, INV_STANDBY = range(8)
CONN_DISCONNECTED, CONN_CONNECTED = 0, 1
# 701 Alrm bits
ALRM_GROUND_FAULT = 1 << 0
ALRM_OVER_FREQUENCY = 1 << 8
ALRM_UNDER_FREQUENCY = 1 << 9
ALRM_AC_OVER_VOLT = 1 << 10
ALRM_AC_UNDER_VOLT = 1 << 11
ALRM_OVER_TEMP = 1 << 7
# 701 ThrotSrc / 702 CtrlModes bits
MODE_MAX_W, MODE_FIXED_W, MODE_FIXED_VAR, MODE_FIXED_PF, MODE_VOLT_VAR = (1 << i for i in range(5))
CTRL_MODES = MODE_MAX_W | MODE_FIXED_W | MODE_FIXED_VAR | MODE_FIXED_PF | MODE_VOLT_VAR
# 715 OpCtl
OP_STOP, OP_START, OP_ENTER_STANDBY, OP_EXIT_STANDBY = 0, 1, 2, 3
# 705 AdptCrvRslt
ADPT_IN_PROGRESS, ADPT_COMPLETED, ADPT_FAILED = 0, 1, 2

# 704 functions with a reversion timer: what restarts the timer, and what the reversion restores.
REVERSIONS: dict[str, dict] = {
    "PFWInj": {
        "ena": "PFWInjEna", "ena_rvrt": "PFWInjEnaRvrt", "tms": "PFWInjRvrtTms", "rem": "PFWInjRvrtRem",
        "pairs": (("PFWInj.PF", "PFWInjRvrt.PF"), ("PFWInj.Ext", "PFWInjRvrt.Ext")),
        "triggers": ("PFWInjEna", "PFWInj.PF", "PFWInj.Ext", "PFWInjRvrtTms"),
    },
    "PFWAbs": {
        "ena": "PFWAbsEna", "ena_rvrt": "PFWAbsEnaRvrt", "tms": "PFWAbsRvrtTms", "rem": "PFWAbsRvrtRem",
        "pairs": (("PFWAbs.PF", "PFWAbsRvrt.PF"), ("PFWAbs.Ext", "PFWAbsRvrt.Ext")),
        "triggers": ("PFWAbsEna", "PFWAbs.PF", "PFWAbs.Ext", "PFWAbsRvrtTms"),
    },
    "WMaxLimPct": {
        "ena": "WMaxLimPctEna", "ena_rvrt": "WMaxLimPctEnaRvrt", "tms": "WMaxLimPctRvrtTms",
        "rem": "WMaxLimPctRvrtRem",
        "pairs": (("WMaxLimPct", "WMaxLimPctRvrt"),),
        "triggers": ("WMaxLimPctEna", "WMaxLimPct", "WMaxLimPctRvrtTms"),
    },
    "WSet": {
        "ena": "WSetEna", "ena_rvrt": "WSetEnaRvrt", "tms": "WSetRvrtTms", "rem": "WSetRvrtRem",
        "pairs": (("WSet", "WSetRvrt"), ("WSetPct", "WSetPctRvrt")),
        "triggers": ("WSetEna", "WSetMod", "WSet", "WSetPct", "WSetRvrtTms"),
    },
    "VarSet": {
        "ena": "VarSetEna", "ena_rvrt": "VarSetEnaRvrt", "tms": "VarSetRvrtTms", "rem": "VarSetRvrtRem",
        "pairs": (("VarSet", "VarSetRvrt"), ("VarSetPct", "VarSetPctRvrt")),
        "triggers": ("VarSetEna", "VarSetMod", "VarSetPri", "VarSet", "VarSetPct", "VarSetRvrtTms"),
    },
}
_TRIGGER_TO_FUNC = {t: f for f, spec in REVERSIONS.items() for t in spec["triggers"]}

# 702 settings that may not exceed their rating.
_SETTING_RATING = {
    "WMax": "WMaxRtg", "WMaxOvrExt": "WOvrExtRtg", "WMaxUndExt": "WUndExtRtg", "VAMax": "VAMaxRtg",
    "VarMaxInj": "VarMaxInjRtg", "VarMaxAbs": "VarMaxAbsRtg", "WChaRteMax": "WChaRteMaxRtg",
    "WDisChaRteMax": "WDisChaRteMaxRtg", "VAChaRteMax": "VAChaRteMaxRtg", "VADisChaRteMax": "VADisChaRteMaxRtg",
    "AMax": "AMaxRtg",
}

VV_NCRV = 3
VV_NPT = 4
# IEEE 1547-2018 category B default volt-var curve: V in % of VNom, Var in % of VarMaxInj/Abs.
VV_DEFAULT_CURVE = ((92.0, 44.0), (98.0, 0.0), (102.0, 0.0), (108.0, -44.0))


def _sf_for(max_abs: float, limit: int, finest: int) -> int:
    """The finest scale factor (not finer than ``finest``) that fits ``max_abs`` under ``limit``."""
    sf = finest
    while max_abs / 10.0**sf > limit:
        sf += 1
    return sf


@dataclass(frozen=True)
class Nameplate:
    """What one device is: its ratings and identity."""

    kind: str  # "pv" or "battery"
    w_max: int  # W
    va_max: int  # VA
    var_max_inj: int  # var
    var_max_abs: int  # var
    serial: str
    manufacturer: str = "DERSim"
    model: str = ""
    version: str = "1.0.0"
    v_nom: float = 240.0  # V, line to neutral
    hz_nom: float = 60.0
    phases: int = 1  # 1 or 3
    wh_max: int | None = None  # battery energy rating, Wh
    w_charge_max: int | None = None
    w_discharge_max: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("pv", "battery"):
            raise ValueError(f"kind must be 'pv' or 'battery', not {self.kind!r}")
        if self.phases not in (1, 3):
            raise ValueError("phases must be 1 or 3")
        if self.kind == "battery" and not self.wh_max:
            raise ValueError("a battery needs wh_max")
        if not self.model:
            object.__setattr__(self, "model", self.default_model_name())

    def default_model_name(self) -> str:
        if self.kind == "pv":
            return f"DS-PV-{self.w_max}"
        return f"DS-BAT-{self.w_max}-{(self.wh_max or 0) / 1000:g}"

    @classmethod
    def pv(cls, w_max: int, serial: str, **kw) -> "Nameplate":
        kw.setdefault("va_max", w_max)
        kw.setdefault("var_max_inj", round(0.44 * kw["va_max"]))
        kw.setdefault("var_max_abs", round(0.44 * kw["va_max"]))
        return cls(kind="pv", w_max=w_max, serial=serial, **kw)

    @classmethod
    def battery(cls, w_max: int, wh_max: int, serial: str, **kw) -> "Nameplate":
        kw.setdefault("va_max", w_max)
        kw.setdefault("var_max_inj", round(0.44 * kw["va_max"]))
        kw.setdefault("var_max_abs", round(0.44 * kw["va_max"]))
        kw.setdefault("w_charge_max", w_max)
        kw.setdefault("w_discharge_max", w_max)
        return cls(kind="battery", w_max=w_max, wh_max=wh_max, serial=serial, **kw)

    @property
    def a_max(self) -> float:
        return round(self.va_max / (self.v_nom * self.phases), 1)

    @property
    def model_ids(self) -> tuple[int, ...]:
        return BATTERY_MODELS if self.kind == "battery" else PV_MODELS

    def to_dict(self) -> dict:
        d = asdict(self)
        d["a_max"] = self.a_max
        d["models"] = list(self.model_ids)
        return d


def build_models(np: Nameplate, unit_id: int = 1, soc: float = 50.0) -> list[tuple[int, dict]]:
    """The initial point values of each model, raw (already divided by their scale factors)."""
    w_sf = _sf_for(max(np.w_max, np.va_max, np.var_max_inj, np.var_max_abs, np.w_charge_max or 0), 32767, 0)
    a_sf = _sf_for(np.a_max * 1.2, 32767, -2)
    sc = 10.0**w_sf
    v_sf = -1
    a_sf_rtg = _sf_for(np.a_max, 65535, -1)
    three = np.phases == 3
    battery = np.kind == "battery"

    m1 = {"Mn": np.manufacturer, "Md": np.model, "Opt": np.kind, "Vr": np.version, "SN": np.serial, "DA": unit_id}

    m701 = {
        "ACType": 2 if three else 0, "St": ST_ON, "InvSt": INV_RUNNING, "ConnSt": CONN_CONNECTED,
        "Alrm": 0, "DERMode": 1,
        "W": 0, "VA": 0, "Var": 0, "PF": 1000, "A": 0,
        "LNV": round(np.v_nom * 10),
        "Hz": round(np.hz_nom * 1000),
        "TotWhInj": 0, "TotWhAbs": 0, "TotVarhInj": 0, "TotVarhAbs": 0,
        "TmpCab": 250,
        "WL1": 0, "VAL1": 0, "VarL1": 0, "PFL1": 1000, "AL1": 0, "VL1": round(np.v_nom * 10),
        "TotWhInjL1": 0, "TotWhAbsL1": 0, "TotVarhInjL1": 0, "TotVarhAbsL1": 0,
        "ThrotPct": 0, "ThrotSrc": 0,
        "A_SF": a_sf, "V_SF": v_sf, "Hz_SF": -3, "W_SF": w_sf, "PF_SF": -3, "VA_SF": w_sf, "Var_SF": w_sf,
        "TotWh_SF": 0, "TotVarh_SF": 0, "Tmp_SF": -1,
    }
    if three:
        vll = round(np.v_nom * math.sqrt(3) * 10)
        m701["LLV"] = vll
        for ph in ("L2", "L3"):
            m701.update({f"W{ph}": 0, f"VA{ph}": 0, f"Var{ph}": 0, f"PF{ph}": 1000, f"A{ph}": 0,
                         f"V{ph}": round(np.v_nom * 10), f"TotWhInj{ph}": 0, f"TotWhAbs{ph}": 0,
                         f"TotVarhInj{ph}": 0, f"TotVarhAbs{ph}": 0})
        m701.update({"VL1L2": vll, "VL2L3": vll, "VL3L1": vll})

    m702 = {
        "WMaxRtg": round(np.w_max / sc), "WOvrExtRtg": round(np.w_max / sc), "WOvrExtRtgPF": 900,
        "WUndExtRtg": round(np.w_max / sc), "WUndExtRtgPF": 900,
        "VAMaxRtg": round(np.va_max / sc), "VarMaxInjRtg": round(np.var_max_inj / sc),
        "VarMaxAbsRtg": round(np.var_max_abs / sc),
        "VNomRtg": round(np.v_nom * 10), "VMaxRtg": round(np.v_nom * 1.1 * 10), "VMinRtg": round(np.v_nom * 0.88 * 10),
        "AMaxRtg": round(np.a_max / 10.0**a_sf_rtg), "PFOvrExtRtg": 900, "PFUndExtRtg": 900,
        "NorOpCatRtg": 1, "AbnOpCatRtg": 1, "CtrlModes": CTRL_MODES,
        "WMax": round(np.w_max / sc), "WMaxOvrExt": round(np.w_max / sc), "WOvrExtPF": 900,
        "WMaxUndExt": round(np.w_max / sc), "WUndExtPF": 900,
        "VAMax": round(np.va_max / sc), "VarMaxInj": round(np.var_max_inj / sc), "VarMaxAbs": round(np.var_max_abs / sc),
        "VNom": round(np.v_nom * 10), "VMax": round(np.v_nom * 1.1 * 10), "VMin": round(np.v_nom * 0.88 * 10),
        "AMax": round(np.a_max / 10.0**a_sf_rtg), "PFOvrExt": 900, "PFUndExt": 900,
        "W_SF": w_sf, "PF_SF": -3, "VA_SF": w_sf, "Var_SF": w_sf, "V_SF": v_sf, "A_SF": a_sf_rtg,
    }
    if battery:
        m702.update({
            "WChaRteMaxRtg": round((np.w_charge_max or np.w_max) / sc),
            "WDisChaRteMaxRtg": round((np.w_discharge_max or np.w_max) / sc),
            "VAChaRteMaxRtg": round(np.va_max / sc), "VADisChaRteMaxRtg": round(np.va_max / sc),
            "WChaRteMax": round((np.w_charge_max or np.w_max) / sc),
            "WDisChaRteMax": round((np.w_discharge_max or np.w_max) / sc),
            "VAChaRteMax": round(np.va_max / sc), "VADisChaRteMax": round(np.va_max / sc),
        })

    m703 = {
        "ES": 1, "ESVHi": 1050, "ESVLo": 917, "ESHzHi": round((np.hz_nom + 0.1) * 100),
        "ESHzLo": round((np.hz_nom - 0.5) * 100), "ESDlyTms": 0, "ESRndTms": 0, "ESRmpTms": 0, "ESDlyRemTms": 0,
        "V_SF": -1, "Hz_SF": -2,
    }

    pf_unity = {"PF": 1000, "Ext": 0}
    m704 = {
        "PFWInjEna": 0, "PFWInjEnaRvrt": 0, "PFWInjRvrtTms": 0, "PFWInjRvrtRem": 0,
        "PFWAbsEna": 0, "PFWAbsEnaRvrt": 0, "PFWAbsRvrtTms": 0, "PFWAbsRvrtRem": 0,
        "WMaxLimPctEna": 0, "WMaxLimPct": 1000, "WMaxLimPctRvrt": 1000, "WMaxLimPctEnaRvrt": 0,
        "WMaxLimPctRvrtTms": 0, "WMaxLimPctRvrtRem": 0,
        "WSetEna": 0, "WSetMod": 0, "WSet": 0, "WSetRvrt": 0, "WSetPct": 0, "WSetPctRvrt": 0, "WSetEnaRvrt": 0,
        "WSetRvrtTms": 0, "WSetRvrtRem": 0,
        "VarSetEna": 0, "VarSetMod": 1, "VarSetPri": 0, "VarSet": 0, "VarSetRvrt": 0, "VarSetPct": 0,
        "VarSetPctRvrt": 0, "VarSetEnaRvrt": 0, "VarSetRvrtTms": 0, "VarSetRvrtRem": 0,
        "PF_SF": -3, "WMaxLimPct_SF": -1, "WSet_SF": w_sf, "WSetPct_SF": -1, "VarSet_SF": w_sf, "VarSetPct_SF": -1,
        "PFWInj": dict(pf_unity), "PFWInjRvrt": dict(pf_unity), "PFWAbs": dict(pf_unity), "PFWAbsRvrt": dict(pf_unity),
    }

    def curve(read_only: int) -> dict:
        return {
            "ActPt": VV_NPT, "DeptRef": 1, "Pri": 1, "VRef": 1000, "VRefAuto": 1000, "VRefAutoEna": 0,
            "VRefAutoTms": 5000, "RspTms": 5, "ReadOnly": read_only,
            "Pt": [{"V": round(v * 10), "Var": round(q * 10)} for v, q in VV_DEFAULT_CURVE],
        }

    m705 = {
        "Ena": 0, "AdptCrvReq": 0, "AdptCrvRslt": ADPT_COMPLETED, "NPt": VV_NPT, "NCrv": VV_NCRV,
        "RvrtTms": 0, "RvrtRem": 0, "RvrtCrv": 0, "V_SF": -1, "DeptRef_SF": -1, "RspTms_SF": 0,
        "Crv": [curve(1)] + [curve(0) for _ in range(VV_NCRV - 1)],
    }

    m715 = {"LocRemCtl": 0, "DERHb": 0, "ControllerHb": 0, "AlarmReset": 0, "OpCtl": OP_START}

    models: list[tuple[int, dict]] = [(1, m1), (701, m701), (702, m702), (703, m703), (704, m704), (705, m705)]
    if battery:
        wh_sf = _sf_for(np.wh_max or 0, 65535, 0)
        models.append((713, {
            "WHRtg": round((np.wh_max or 0) / 10.0**wh_sf),
            "WHAvail": round((np.wh_max or 0) * soc / 100 / 10.0**wh_sf),
            "SoC": round(soc * 10), "SoH": 1000, "Sta": 0, "WH_SF": wh_sf, "Pct_SF": -1,
        }))
    models.append((715, m715))
    return models


@dataclass
class _Controls:
    """The control points, read from the image whenever a client writes (never per tick)."""

    wmax: float = 0.0
    vamax: float = 0.0
    varmax_inj: float = 0.0
    varmax_abs: float = 0.0
    wcha_max: float = 0.0
    wdischa_max: float = 0.0
    es: bool = True
    opctl: int = OP_START
    pfinj_ena: bool = False
    pfinj_pf: float = 1.0
    pfinj_ext: int = 0
    pfabs_ena: bool = False
    pfabs_pf: float = 1.0
    pfabs_ext: int = 0
    wmaxlim_ena: bool = False
    wmaxlim_pct: float = 100.0
    wset_ena: bool = False
    wset_mod: int = 0
    wset_w: float = 0.0
    wset_pct: float = 0.0
    varset_ena: bool = False
    varset_mod: int = 1
    varset_var: float = 0.0
    varset_pct: float = 0.0
    vv_ena: bool = False
    vv_dept_ref: int = 1
    vv_pri: int = 1
    varset_pri: int = 0
    vv_vref: float = 100.0
    vv_curve: list[tuple[float, float]] = field(default_factory=list)


class SunSpecInverter:
    """One simulated device: its register image, its controls and its physics."""

    def __init__(
        self,
        nameplate: Nameplate,
        *,
        unit_id: int = 1,
        clock: Clock | None = None,
        profile: Callable[[float], float] | None = None,
        seed: int | None = None,
        noise: float = 0.02,
        soc: float = 50.0,
        adopt_delay: float = 0.5,
        hb_timeout: float = 0.0,
        orientation: float = 1.0,
        min_step: float = 0.05,
    ) -> None:
        self.nameplate = nameplate
        self.kind = nameplate.kind
        self.unit_id = unit_id
        self.clock: Clock = clock or SystemClock()
        self.profile = profile or _profiles.default_for(self.kind)
        self.rng = random.Random(seed)
        self.noise = noise
        self.adopt_delay = adopt_delay
        self.hb_timeout = hb_timeout
        self.orientation = orientation  # PV: this array's share of the profile (tilt, shading)
        self.min_step = min_step
        self.grid_v_pu = 1.0  # the grid's voltage at this device, per unit of VNom (tests move it)
        self.grid_hz: float | None = None  # None: nominal
        self.requests = 0  # Modbus requests served (reads and writes)
        self.writes = 0

        self.image = RegisterImage(build_models(nameplate, unit_id, soc))
        img = self.image
        self._writable = bytearray(img.size)
        for ref in img.points.values():
            if ref.access == "RW" and img.decode(ref) is not None:
                if ref.model_id == 705 and ref.path.startswith("Crv[1]."):
                    continue  # the active curve is read-only; adopt another one into it
                for i in range(ref.offset, ref.offset + ref.size):
                    self._writable[i] = 1
        self._refs = {(ref.model_id, ref.path): ref for ref in img.points.values()}
        self._sf_cache: dict[int, float] = {}
        self._has = set(img.models)
        self.w_sf = img.get(701, "W_SF")
        self._a_scale = 10.0 ** (img.get(701, "A_SF") or 0)
        self._wh_scale = 10.0 ** (img.get(713, "WH_SF") or 0) if 713 in img.models else 1.0

        now = self.clock.now()
        self.t_start = now
        self.t_last = now
        self.t_computed = -math.inf
        # Physics state.
        self.w = 0.0
        self.var = 0.0
        self.va = 0.0
        self.pf = 1.0
        self.v = nameplate.v_nom
        self.hz = nameplate.hz_nom
        self.avail = 0.0
        self.soc = float(soc) if self.kind == "battery" else 0.0
        self.wh_inj = self.wh_abs = self.varh_inj = self.varh_abs = 0.0
        self.tmp = 25.0
        self.throt_src = 0
        self.throt_pct = 0.0
        self.alarms = 0  # latched alarm bits (cleared by 715 AlarmReset)
        self.fault = False
        self.inv_st = INV_RUNNING
        self.st = ST_ON
        self.conn_st = CONN_CONNECTED
        self.ready_at = now  # entered service at start
        self.ramp_until = now
        # Timers (absolute clock times), None when not running.
        self.rvrt_deadline: dict[str, float | None] = {f: None for f in REVERSIONS}
        self.vv_deadline: float | None = None
        self.adopt_due: float | None = None
        self.adopt_req = 0
        self.hb_last_change: float | None = None
        self.ctl = _Controls()
        self._load_controls()
        self._compute(now)
        self.publish(now)

    # ------------------------------------------------------------------
    # Reading points (Python API; Modbus clients read registers)

    def get(self, model_id: int, path: str):
        """A point's raw value as a client would read it now (None when not implemented)."""
        self.advance()
        self.publish()
        return self.image.get(model_id, path)

    def read(self, model_id: int, path: str) -> float | None:
        """A point's scaled value as a client would read it now."""
        self.advance()
        self.publish()
        return self.image.get_scaled(model_id, path)

    @property
    def serial(self) -> str:
        return self.nameplate.serial

    # ------------------------------------------------------------------
    # Helpers on the image

    def _raw(self, mid: int, path: str):
        return self.image.decode(self._refs[(mid, path)])

    def _scaled(self, mid: int, path: str, default: float = 0.0) -> float:
        v = self.image.get_scaled(mid, path)
        return default if v is None else v

    def _put(self, mid: int, path: str, raw) -> None:
        self.image.encode(self._refs[(mid, path)], raw)

    def _put_scaled(self, mid: int, path: str, value: float) -> None:
        ref = self._refs[(mid, path)]
        sf = self.image.sf_of(ref) or 0
        self.image.encode(ref, round(value / 10.0**sf) if sf else round(value))

    # ------------------------------------------------------------------
    # Controls

    def _load_controls(self) -> None:
        c = self.ctl
        np = self.nameplate
        s = self._scaled
        c.wmax = s(702, "WMax", np.w_max)
        c.vamax = s(702, "VAMax", np.va_max)
        c.varmax_inj = s(702, "VarMaxInj", np.var_max_inj)
        c.varmax_abs = s(702, "VarMaxAbs", np.var_max_abs)
        if self.kind == "battery":
            c.wcha_max = s(702, "WChaRteMax", np.w_charge_max or np.w_max)
            c.wdischa_max = s(702, "WDisChaRteMax", np.w_discharge_max or np.w_max)
        c.es = self._raw(703, "ES") == 1
        c.opctl = self._raw(715, "OpCtl")
        c.pfinj_ena = self._raw(704, "PFWInjEna") == 1
        c.pfinj_pf = s(704, "PFWInj.PF", 1.0)
        c.pfinj_ext = self._raw(704, "PFWInj.Ext") or 0
        c.pfabs_ena = self._raw(704, "PFWAbsEna") == 1
        c.pfabs_pf = s(704, "PFWAbs.PF", 1.0)
        c.pfabs_ext = self._raw(704, "PFWAbs.Ext") or 0
        c.wmaxlim_ena = self._raw(704, "WMaxLimPctEna") == 1
        c.wmaxlim_pct = s(704, "WMaxLimPct", 100.0)
        c.wset_ena = self._raw(704, "WSetEna") == 1
        c.wset_mod = self._raw(704, "WSetMod") or 0
        c.wset_w = s(704, "WSet")
        c.wset_pct = s(704, "WSetPct")
        c.varset_ena = self._raw(704, "VarSetEna") == 1
        c.varset_mod = self._raw(704, "VarSetMod") or 0
        c.varset_var = s(704, "VarSet")
        c.varset_pct = s(704, "VarSetPct")
        c.vv_ena = self._raw(705, "Ena") == 1
        c.vv_dept_ref = self._raw(705, "Crv[1].DeptRef") or 0
        c.vv_pri = self._raw(705, "Crv[1].Pri") or 0
        c.varset_pri = self._raw(704, "VarSetPri") or 0
        c.vv_vref = s(705, "Crv[1].VRef", 100.0)
        n = self._raw(705, "Crv[1].ActPt") or 0
        c.vv_curve = [(s(705, f"Crv[1].Pt[{i}].V"), s(705, f"Crv[1].Pt[{i}].Var")) for i in range(1, n + 1)]

    def write(self, offset: int, values: list[int], now: float | None = None) -> int | None:
        """Apply a client's write of ``values`` at register ``offset`` (from 40000).

        Returns None when applied, or a Modbus exception code: ILLEGAL_ADDRESS (2)
        when any register written is not part of a writable, implemented point
        (read-only points, scale factors, the active volt-var curve, points
        this device does not implement, the marker and model headers), or
        ILLEGAL_VALUE (3) when a point would get a value outside its enum or
        range. A rejected write changes nothing.
        """
        now = self.clock.now() if now is None else now
        n = len(values)
        img = self.image
        if offset < 0 or offset + n > img.size:
            return ILLEGAL_ADDRESS
        writable = self._writable
        for i in range(offset, offset + n):
            if not writable[i]:
                return ILLEGAL_ADDRESS
        touched: list[PointRef] = []
        owner = img.owner
        for i in range(offset, offset + n):
            ref = owner[i]
            if ref is not None and (not touched or touched[-1] is not ref):
                touched.append(ref)
        before = {(r.model_id, r.path): img.decode(r) for r in touched if r.path in ("ES", "OpCtl", "AlarmReset", "ControllerHb")}
        old = img.regs[offset : offset + n]
        img.regs[offset : offset + n] = [v & 0xFFFF for v in values]
        for ref in touched:
            if not self._valid(ref):
                img.regs[offset : offset + n] = old
                return ILLEGAL_VALUE
        self.writes += 1
        self._on_written(touched, before, now)
        return None

    def _valid(self, ref: PointRef) -> bool:
        img = self.image
        raw = img.decode(ref)
        if ref.symbols is not None:
            return raw in ref.symbols
        mid, path = ref.model_id, ref.path
        if raw is None:
            return True  # writing "not implemented" back is tolerated
        if mid == 704:
            v = img.get_scaled(mid, path)
            if path in ("WMaxLimPct", "WMaxLimPctRvrt"):
                return 0.0 <= v <= 100.0
            if path in ("WSetPct", "WSetPctRvrt", "VarSetPct", "VarSetPctRvrt"):
                return -100.0 <= v <= 100.0
            if path.endswith(".PF"):
                return 0.0 < v <= 1.0
            if path in ("WSet", "WSetRvrt"):
                lo = -self.nameplate.w_max if self.kind == "battery" else 0
                return lo <= v <= self.nameplate.w_max
            if path in ("VarSet", "VarSetRvrt"):
                return -self.nameplate.var_max_abs <= v <= self.nameplate.var_max_inj
            return True
        if mid == 705:
            if path in ("AdptCrvReq", "RvrtCrv"):
                return 0 <= raw <= VV_NCRV
            if path.endswith(".ActPt"):
                return 1 <= raw <= VV_NPT
            return True
        if mid == 702 and path in _SETTING_RATING:
            rating = img.get(702, _SETTING_RATING[path])
            return rating is None or 0 <= raw <= rating
        if mid == 1 and path == "DA":
            return 1 <= raw <= 247
        return True

    def _on_written(self, touched: list[PointRef], before: dict, now: float) -> None:
        names_704: set[str] = set()
        vv_timer = False
        for ref in touched:
            mid, path = ref.model_id, ref.path
            if mid == 704:
                names_704.add(path)
            elif mid == 703 and path == "ES":
                if before.get((703, "ES")) != 1 and self._raw(703, "ES") == 1:
                    self._enter_service(now)
            elif mid == 715:
                if path == "OpCtl":
                    old, new = before.get((715, "OpCtl")), self._raw(715, "OpCtl")
                    if old == OP_STOP and new in (OP_START, OP_EXIT_STANDBY, OP_ENTER_STANDBY):
                        self._enter_service(now)
                    if new == OP_EXIT_STANDBY:
                        self._put(715, "OpCtl", OP_START)
                elif path == "AlarmReset":
                    if self._raw(715, "AlarmReset") == 1:
                        self.alarms = 0
                        self.fault = False
                    self._put(715, "AlarmReset", 0)
                elif path == "ControllerHb":
                    if before.get((715, "ControllerHb")) != self._raw(715, "ControllerHb") or self.hb_last_change is None:
                        self.hb_last_change = now
            elif mid == 705:
                if path == "AdptCrvReq":
                    req = self._raw(705, "AdptCrvReq") or 0
                    if req:
                        self.adopt_req = req
                        self.adopt_due = now + self.adopt_delay
                        self._put(705, "AdptCrvRslt", ADPT_IN_PROGRESS)
                    vv_timer = True
                elif path in ("Ena", "RvrtTms"):
                    vv_timer = True
        for func in {_TRIGGER_TO_FUNC[n] for n in names_704 if n in _TRIGGER_TO_FUNC}:
            spec = REVERSIONS[func]
            tms = self._raw(704, spec["tms"]) or 0
            self.rvrt_deadline[func] = now + tms if (self._raw(704, spec["ena"]) == 1 and tms > 0) else None
        if vv_timer:
            tms = self._raw(705, "RvrtTms") or 0
            self.vv_deadline = now + tms if (self._raw(705, "Ena") == 1 and tms > 0) else None
        self._load_controls()
        self._compute(now)
        self.publish(now)

    def _enter_service(self, now: float) -> None:
        dly = self._raw(703, "ESDlyTms") or 0
        rnd = self._raw(703, "ESRndTms") or 0
        ramp = self._raw(703, "ESRmpTms") or 0
        self.ready_at = now + dly + (self.rng.uniform(0, rnd) if rnd else 0.0)
        self.ramp_until = self.ready_at + ramp

    def _revert(self, func: str) -> None:
        spec = REVERSIONS[func]
        for point, rvrt in spec["pairs"]:
            value = self._raw(704, rvrt)
            if value is not None:
                self._put(704, point, value)
        ena = self._raw(704, spec["ena_rvrt"])
        self._put(704, spec["ena"], ena if ena in (0, 1) else 0)
        self.rvrt_deadline[func] = None

    def _revert_volt_var(self) -> None:
        crv = self._raw(705, "RvrtCrv") or 0
        if 2 <= crv <= VV_NCRV and self._curve_ok(crv):
            self._copy_curve(crv)
        elif crv != 1:
            self._put(705, "Ena", 0)
        self.vv_deadline = None

    def _curve_ok(self, n: int) -> bool:
        act = self._raw(705, f"Crv[{n}].ActPt")
        if act is None or not 1 <= act <= VV_NPT:
            return False
        if self._raw(705, f"Crv[{n}].DeptRef") not in (0, 1, 2, 3):
            return False
        last = -math.inf
        for i in range(1, act + 1):
            v = self._raw(705, f"Crv[{n}].Pt[{i}].V")
            q = self.image.get_scaled(705, f"Crv[{n}].Pt[{i}].Var")
            if v is None or q is None or v <= last or not -100.0 <= q <= 100.0:
                return False
            last = v
        return True

    def _copy_curve(self, n: int) -> None:
        img = self.image
        src_off, length = img.groups[(705, f"Crv[{n}]")]
        dst_off, _ = img.groups[(705, "Crv[1]")]
        keep = self._raw(705, "Crv[1].ReadOnly")
        img.regs[dst_off : dst_off + length] = img.regs[src_off : src_off + length]
        self._put(705, "Crv[1].ReadOnly", keep)

    # ------------------------------------------------------------------
    # Time

    def advance(self, now: float | None = None) -> None:
        """Move the device to ``now``: integrate energy and SoC, run timers, and recompute outputs."""
        now = self.clock.now() if now is None else now
        dt = now - self.t_last
        if dt <= 0:
            return
        self.t_last = now
        # Energy over the interval, at the outputs that held during it.
        w, var = self.w, self.var
        h = dt / 3600.0
        if w >= 0:
            self.wh_inj += w * h
        else:
            self.wh_abs -= w * h
        if var >= 0:
            self.varh_inj += var * h
        else:
            self.varh_abs -= var * h
        if self.kind == "battery" and w:
            wh = self.nameplate.wh_max or 1
            self.soc = min(100.0, max(0.0, self.soc - w * h / wh * 100.0))
        changed = self._timers(now)
        if changed:
            self._load_controls()
        if changed or now - self.t_computed >= self.min_step or (
            self.kind == "battery" and (self.soc <= 0.0 or self.soc >= 100.0)
        ):
            self._compute(now)

    def _timers(self, now: float) -> bool:
        changed = False
        for func, deadline in self.rvrt_deadline.items():
            if deadline is not None and now >= deadline:
                self._revert(func)
                changed = True
        if self.vv_deadline is not None and now >= self.vv_deadline:
            self._revert_volt_var()
            changed = True
        if self.adopt_due is not None and now >= self.adopt_due:
            n = self.adopt_req
            if self._curve_ok(n):
                if n != 1:
                    self._copy_curve(n)
                self._put(705, "AdptCrvRslt", ADPT_COMPLETED)
            else:
                self._put(705, "AdptCrvRslt", ADPT_FAILED)
            self.adopt_due = None
            changed = True
        if self.hb_timeout > 0 and self.hb_last_change is not None and now - self.hb_last_change > self.hb_timeout:
            # The controller stopped its heartbeat: fall back as if every reversion timer had run out.
            for func, spec in REVERSIONS.items():
                if self._raw(704, spec["ena"]) == 1:
                    self._revert(func)
            if self._raw(705, "Ena") == 1:
                self._revert_volt_var()
            self.hb_last_change = None
            changed = True
        return changed

    # ------------------------------------------------------------------
    # Physics

    def _compute(self, now: float) -> None:
        self.t_computed = now
        np = self.nameplate
        c = self.ctl
        rng = self.rng
        battery = self.kind == "battery"
        noise = rng.gauss(0.0, self.noise) if self.noise else 0.0
        wmax = min(c.wmax, np.w_max)
        src = 0

        # What the source offers (PV) or what the dispatch asks for (battery).
        p = self.profile(now)
        if battery:
            natural = p * wmax * (1.0 + noise)
            avail = min(c.wdischa_max, wmax) if self.soc > 0.0 else 0.0
        else:
            natural = max(0.0, min(np.w_max, p * self.orientation * np.w_max * (1.0 + noise)))
            avail = natural
        target = natural
        if c.wset_ena:
            target = c.wset_w if c.wset_mod == 1 else c.wset_pct / 100.0 * wmax
            src |= MODE_FIXED_W
            if not battery:
                target = max(0.0, min(target, natural))
        uncapped = target
        hi = wmax
        lo = 0.0
        if battery:
            hi = min(hi, c.wdischa_max)
            lo = -min(c.wcha_max, wmax)
        if c.wmaxlim_ena:
            cap = c.wmaxlim_pct / 100.0 * wmax
            if target > cap:
                target = cap
                src |= MODE_MAX_W
            hi = min(hi, cap)
        w = max(lo, min(hi, target))
        if battery:
            if self.soc <= 0.0 and w > 0:
                w = 0.0
            if self.soc >= 100.0 and w < 0:
                w = 0.0

        # Operating state.
        st, conn = ST_ON, CONN_CONNECTED
        if self.fault:
            inv, st, conn = INV_FAULT, ST_OFF, CONN_DISCONNECTED
        elif c.opctl == OP_STOP:
            inv, st, conn = INV_OFF, ST_OFF, CONN_DISCONNECTED
        elif not c.es:
            inv, conn = INV_STANDBY, CONN_DISCONNECTED
        elif c.opctl == OP_ENTER_STANDBY:
            inv = INV_STANDBY
        elif now < self.ready_at:
            inv, conn = INV_STARTING, CONN_DISCONNECTED
        else:
            inv = INV_RUNNING
        if inv != INV_RUNNING:
            w = 0.0
        elif now < self.ramp_until:
            span = self.ramp_until - self.ready_at
            w *= (now - self.ready_at) / span if span > 0 else 1.0
        if inv == INV_RUNNING and not battery and natural <= 0.0:
            inv = INV_SLEEPING

        # Reactive power.
        var = 0.0
        pf_inj = c.pfinj_ena and w >= 0
        pf_abs = c.pfabs_ena and w < 0
        if inv == INV_RUNNING:
            if pf_inj or pf_abs:
                pf, ext = (c.pfinj_pf, c.pfinj_ext) if pf_inj else (c.pfabs_pf, c.pfabs_ext)
                var = abs(w) * math.tan(math.acos(min(1.0, pf))) * (1.0 if ext == 0 else -1.0)
                src |= MODE_FIXED_PF
            elif c.varset_ena:
                pct = c.varset_pct / 100.0
                mod = c.varset_mod
                if mod == 0:
                    var = pct * wmax
                elif mod == 1:
                    var = pct * (c.varmax_inj if pct >= 0 else c.varmax_abs)
                elif mod == 2:
                    var = pct * math.sqrt(max(0.0, c.vamax**2 - w**2))
                elif mod == 3:
                    var = pct * c.vamax
                else:
                    var = c.varset_var
                src |= MODE_FIXED_VAR
            elif c.vv_ena and c.vv_curve:
                x = self._voltage_pu(w, wmax) * 100.0 - (c.vv_vref - 100.0)
                y = _interp(c.vv_curve, x) / 100.0
                ref = c.vv_dept_ref
                if ref == 0:
                    var = y * wmax
                elif ref == 1:
                    var = y * (c.varmax_inj if y >= 0 else c.varmax_abs)
                elif ref == 2:
                    var = y * math.sqrt(max(0.0, c.vamax**2 - w**2))
                else:
                    var = y * c.vamax
                src |= MODE_VOLT_VAR
        vamax = c.vamax
        if src & MODE_FIXED_PF:
            # Power factor priority: hold the PF, giving up active power if vars or VA run out.
            k = 1.0
            if var > c.varmax_inj > 0:
                k = c.varmax_inj / var
            elif var < -c.varmax_abs < 0:
                k = -c.varmax_abs / var
            va = math.hypot(w, var) * k
            if va > vamax > 0:
                k *= vamax / va
            if k < 1.0:
                w *= k
                var *= k
        else:
            var = max(-c.varmax_abs, min(c.varmax_inj, var))
            reactive_first = (src & MODE_VOLT_VAR and c.vv_pri == 1) or (src & MODE_FIXED_VAR and c.varset_pri == 1)
            if w * w + var * var > vamax * vamax and reactive_first:
                # Reactive power priority (Pri=REACTIVE): active power gives way.
                var = max(-vamax, min(vamax, var))
                w = math.copysign(math.sqrt(vamax * vamax - var * var), w)
            elif w * w + var * var > vamax * vamax:
                # Active power priority: vars get what the VA rating leaves.
                if abs(w) >= vamax:
                    w = math.copysign(vamax, w)
                    var = 0.0
                else:
                    var = math.copysign(math.sqrt(vamax * vamax - w * w), var)

        # Measurements.
        va = math.hypot(w, var)
        self.w, self.var, self.va = w, var, va
        self.pf = (abs(w) / va if va > 0 else 1.0) * (-1.0 if var < 0 else 1.0)
        self.v = np.v_nom * self._voltage_pu(w, wmax) + (rng.gauss(0.0, 0.1) if self.noise else 0.0)
        base_hz = self.grid_hz if self.grid_hz is not None else np.hz_nom
        self.hz = base_hz + (rng.gauss(0.0, 0.003) if self.noise else 0.0)
        self.tmp = 25.0 + 20.0 * abs(w) / np.w_max
        alarms = self.alarms
        if self.v > np.v_nom * 1.1:
            alarms |= ALRM_AC_OVER_VOLT
        elif self.v < np.v_nom * 0.88 and inv != INV_OFF:
            alarms |= ALRM_AC_UNDER_VOLT
        if self.hz > np.hz_nom * 1.02:
            alarms |= ALRM_OVER_FREQUENCY
        elif self.hz < np.hz_nom * 0.975:
            alarms |= ALRM_UNDER_FREQUENCY
        self.alarm_bits = alarms
        self.avail = avail
        if battery:
            curtailed = uncapped - w if src & MODE_MAX_W else 0.0
            reference = uncapped
        else:
            curtailed = natural - w if src & (MODE_MAX_W | MODE_FIXED_W) else 0.0
            reference = natural
        if inv == INV_RUNNING and curtailed > 0.01 * np.w_max:
            inv = INV_THROTTLED
            self.throt_pct = min(100.0, 100.0 * curtailed / reference) if reference > 0 else 0.0
        else:
            self.throt_pct = 0.0
        self.throt_src = src
        self.inv_st, self.st, self.conn_st = inv, st, conn

    def _voltage_pu(self, w: float, wmax: float) -> float:
        # The grid's voltage plus a little rise from this device's own injection.
        return self.grid_v_pu + 0.01 * (w / wmax if wmax else 0.0)

    def inject_fault(self, alarm_bits: int = ALRM_GROUND_FAULT) -> None:
        """Trip with a latched alarm until a client writes 715 AlarmReset=1."""
        self.alarms |= alarm_bits
        self.fault = True
        self._compute(self.clock.now())

    # ------------------------------------------------------------------
    # Registers

    def publish(self, now: float | None = None) -> None:
        """Write the current measurements, states and timers into the image."""
        now = self.clock.now() if now is None else now
        put = self._put
        np = self.nameplate
        w_scale = 10.0 ** self.w_sf
        w = self.w
        var = self.var
        va = self.va
        a = va / (self.v * np.phases) if self.v > 0 else 0.0
        put(701, "St", self.st)
        put(701, "InvSt", self.inv_st)
        put(701, "ConnSt", self.conn_st)
        put(701, "Alrm", self.alarm_bits)
        put(701, "W", round(w / w_scale))
        put(701, "VA", round(va / w_scale))
        put(701, "Var", round(var / w_scale))
        put(701, "PF", round(self.pf * 1000))
        a_sf = self._a_scale
        put(701, "A", round(a * np.phases / a_sf))
        v_raw = round(self.v * 10)
        put(701, "LNV", v_raw)
        put(701, "Hz", round(self.hz * 1000))
        put(701, "TotWhInj", int(self.wh_inj))
        put(701, "TotWhAbs", int(self.wh_abs))
        put(701, "TotVarhInj", int(self.varh_inj))
        put(701, "TotVarhAbs", int(self.varh_abs))
        put(701, "TmpCab", round(self.tmp * 10))
        put(701, "ThrotPct", round(self.throt_pct))
        put(701, "ThrotSrc", self.throt_src)
        put(701, "MnAlrmInfo", "FAULT" if self.fault else None)
        n = np.phases
        phases = ("L1",) if n == 1 else ("L1", "L2", "L3")
        for ph in phases:
            put(701, f"W{ph}", round(w / n / w_scale))
            put(701, f"VA{ph}", round(va / n / w_scale))
            put(701, f"Var{ph}", round(var / n / w_scale))
            put(701, f"PF{ph}", round(self.pf * 1000))
            put(701, f"A{ph}", round(a / a_sf))
            put(701, f"V{ph}", v_raw)
            put(701, f"TotWhInj{ph}", int(self.wh_inj / n))
            put(701, f"TotWhAbs{ph}", int(self.wh_abs / n))
            put(701, f"TotVarhInj{ph}", int(self.varh_inj / n))
            put(701, f"TotVarhAbs{ph}", int(self.varh_abs / n))
        if n == 3:
            vll = round(self.v * math.sqrt(3) * 10)
            put(701, "LLV", vll)
            for p in ("VL1L2", "VL2L3", "VL3L1"):
                put(701, p, vll)
        # 703
        put(703, "ESDlyRemTms", max(0, math.ceil(self.ready_at - now)) if now < self.ready_at else 0)
        # 704 / 705 reversion time remaining
        for func, spec in REVERSIONS.items():
            dl = self.rvrt_deadline[func]
            put(704, spec["rem"], max(0, math.ceil(dl - now)) if dl is not None else 0)
        put(705, "RvrtRem", max(0, math.ceil(self.vv_deadline - now)) if self.vv_deadline is not None else 0)
        # 713
        if self.kind == "battery":
            put(713, "SoC", round(self.soc * 10))
            put(713, "WHAvail", round((np.wh_max or 0) * self.soc / 100.0 / self._wh_scale))
        # 715
        put(715, "DERHb", int(now - self.t_start) & 0xFFFFFFFF)

    # ------------------------------------------------------------------

    def state(self) -> dict:
        """The simulator's own view (floats, not registers): for logs and tests."""
        return {
            "w": self.w, "var": self.var, "va": self.va, "pf": self.pf, "v": self.v, "hz": self.hz,
            "soc": self.soc if self.kind == "battery" else None, "inv_st": self.inv_st, "conn_st": self.conn_st,
            "wh_inj": self.wh_inj, "wh_abs": self.wh_abs, "throt_src": self.throt_src,
        }


def _interp(points: Iterable[tuple[float, float]], x: float) -> float:
    pts = list(points)
    if not pts:
        return 0.0
    if x <= pts[0][0]:
        return pts[0][1]
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0) if x1 > x0 else y1
    return pts[-1][1]


__all__ = [
    "BASE_ADDR", "BATTERY_MODELS", "Nameplate", "PV_MODELS", "REVERSIONS", "SunSpecInverter", "build_models",
]
