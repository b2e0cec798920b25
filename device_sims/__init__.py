"""SunSpec 700-series device simulators: PV and battery inverters on Modbus TCP.

Each simulator is a pymodbus Modbus TCP server (one unit id, default 1) whose
register image is built from pysunspec2's model definitions: ``SunS`` at
40000, then models 1, 701, 702, 703, 704, 705, (713 for a battery), 715, then
the end model. Run a fleet with ``python -m device_sims fleet --count N
--base-port P --inventory FILE`` or, from Python, ``async with
Fleet.start(N) as fleet: ...``.

How a client controls a device
==============================

Write with function 6 or 16 (pysunspec2: set ``point.cvalue`` then
``model.write()``, which writes only the points it changed). Scale factors are
read from the device (``*_SF`` points); the simulator uses W_SF=0 for ratings up
to 32.7 kW, WMaxLimPct_SF=-1, WSetPct_SF=-1, VarSetPct_SF=-1, PF_SF=-3, 705
V_SF=-1 and DeptRef_SF=-1. Writes take effect at once (the next read shows the
new outputs); the periodic tick only moves the physics and the timers on.

* **Limit active power** (2030.5 opModMaxLimW): 704 ``WMaxLimPct`` (% of 702
  ``WMax``), then ``WMaxLimPctEna=1``. Caps injection (W > 0). Disable with
  ``WMaxLimPctEna=0``.
* **Set active power** (opModFixedW / opModTargetW): 704 ``WSetMod`` (0
  W_MAX_PCT, 1 WATTS), ``WSet`` (W, signed, battery: negative charges) or
  ``WSetPct`` (% of WMax, signed), then ``WSetEna=1``. A PV inverter cannot
  exceed what its array offers; a battery is held within its charge/discharge
  ratings and stops at 0 % / 100 % SoC.
* **Fixed power factor** (opModFixedPFInjectW / AbsorbW): 704 ``PFWInj.PF``
  (0 < PF <= 1) and ``PFWInj.Ext`` (0 OVER_EXCITED: injects vars, 1
  UNDER_EXCITED: absorbs), then ``PFWInjEna=1``; ``PFWAbs.*``/``PFWAbsEna``
  apply while charging (W < 0).
* **Fixed reactive power** (opModFixedVar / TargetVar): 704 ``VarSetMod`` (0
  %WMax, 1 %VarMaxInj/Abs, 2 %available, 3 %VAMax, 4 VARS), ``VarSetPct`` or
  ``VarSet``, then ``VarSetEna=1``. Fixed PF wins over VarSet, which wins over
  volt-var.
* **Reversion** of each 704 function: write its ``*RvrtTms`` (seconds, 0 = none)
  and the values to fall back to (``WMaxLimPctRvrt``, ``WMaxLimPctEnaRvrt``;
  ``WSetRvrt``/``WSetPctRvrt``/``WSetEnaRvrt``; ``VarSetRvrt``/...;
  ``PFWInjRvrt.*``/``PFWInjEnaRvrt``) *before* the setpoint and Ena. The timer
  (re)starts whenever the setpoint, the mode, the Ena or the RvrtTms is written
  while Ena=1; ``*RvrtRem`` counts down; at zero the setpoint takes its Rvrt
  value and Ena takes its EnaRvrt value (0 by default: the control is undone).
  To keep a control in force, rewrite it (e.g. ``WMaxLimPctEna=1``) within
  RvrtTms.
* **Energize / permit service** (opModEnergize): 703 ``ES`` 0 ceases to
  energize: W=Var=0, InvSt STANDBY, ConnSt DISCONNECTED. ``ES=1`` re-enters
  service after ``ESDlyTms`` (+ random up to ``ESRndTms``; InvSt STARTING and
  ``ESDlyRemTms`` counting down meanwhile) and ramps over ``ESRmpTms``
  (defaults: 0 s).
* **Connect** (opModConnect): 715 ``OpCtl`` 0 STOP: W=0, St OFF, InvSt OFF, ConnSt
  DISCONNECTED; 1 START reconnects (with the 703 enter-service delay and ramp);
  2 ENTER_STANDBY: W=0, still connected; 3 EXIT_STANDBY resumes (reads back as 1).
* **Volt-var** (opModVoltVar): curve 1 of 705 is the active curve and is
  read-only. Write a curve into ``Crv[2]`` or ``Crv[3]`` (``ActPt``, ``DeptRef``
  1 = VAR_MAX_PCT, ``VRef``, ``RspTms``, ``Pt[i].V`` in % of VNom,
  ``Pt[i].Var`` in % of the DeptRef base), then ``AdptCrvReq=n``:
  ``AdptCrvRslt`` reads 0 IN_PROGRESS, then after ``adopt_delay`` (0.5 s by
  default) 1 COMPLETED with the curve copied into curve 1, or 2 FAILED (ActPt
  outside 1..NPt, V not increasing, Var outside ±100 %). Then ``Ena=1``: Var
  follows the active curve against the measured voltage. With the curve's
  ``Pri`` = 1 REACTIVE (the default) vars take precedence and W gives way at
  the VA rating; with 0 ACTIVE vars get only what VAMax leaves (``VarSetPri``
  does the same for VarSet). 705 ``RvrtTms``
  (re)starts on writes of Ena, AdptCrvReq or RvrtTms; at zero, curve
  ``RvrtCrv`` (2..NCrv) is adopted, or with ``RvrtCrv=0`` the function is
  disabled (Ena=0). RspTms is stored, not simulated (the response is immediate).
* **Heartbeat**: 715 ``DERHb`` counts seconds. The 715 model has no controller
  heartbeat timeout point; a simulator started with ``hb_timeout`` > 0 reverts
  all enabled controls when ``ControllerHb`` has been written once and then not
  changed for ``hb_timeout`` seconds. ``AlarmReset=1`` clears latched alarms
  (and a fault injected with ``inject_fault``).
* **Settings**: 702 ``WMax``, ``VAMax``, ``VarMaxInj``, ``VarMaxAbs``,
  ``W(Dis)ChaRteMax`` (battery) are writable up to their ratings and bound the
  outputs.

Writes that are refused
-----------------------

A write is applied whole or not at all. It is refused with Modbus exception
2 (ILLEGAL DATA ADDRESS) when any register it covers is not part of a
writable point that this device implements: read-only points (measurements,
ratings, ``*RvrtRem``, ``AdptCrvRslt``), scale factors, the active curve
``Crv[1]``, unimplemented points, the ``SunS`` marker and the model headers.
It is refused with exception 3 (ILLEGAL DATA VALUE) when a point would get a
value outside its enumeration or range (``WMaxLimPct`` 0..100 %,
``WSetPct``/``VarSetPct`` -100..100 %, ``PF`` in (0, 1], settings above their
ratings, ``AdptCrvReq``/``RvrtCrv`` above NCrv, ``ActPt`` outside 1..NPt).
Coil writes get exception 1.

Measurements (701)
------------------

W, VA, Var, PF (sign of Var), A, LNV (and LLV for three-phase), Hz, per-phase
WL1/VAL1/VarL1/PFL1/AL1/VL1 (L2, L3 for three-phase), TotWhInj/TotWhAbs and
TotVarhInj/TotVarhAbs accumulating, TmpCab, St, InvSt (RUNNING, THROTTLED while a
limit holds output below what is available, SLEEPING for PV with no sun,
STANDBY, STARTING, OFF, FAULT), ConnSt, Alrm, ThrotPct, ThrotSrc. 713 SoC moves
with W (discharging lowers it) and WHAvail = WHRtg × SoC.
"""

from .clock import ManualClock, SystemClock
from .fleet import Fleet, SimulatedDevice, make_nameplate
from .inverter import BATTERY_MODELS, PV_MODELS, Nameplate, SunSpecInverter
from .registers import BASE_ADDR, RegisterImage
from .server import SimulatorServer

__all__ = [
    "BASE_ADDR",
    "BATTERY_MODELS",
    "Fleet",
    "ManualClock",
    "Nameplate",
    "PV_MODELS",
    "RegisterImage",
    "SimulatedDevice",
    "SimulatorServer",
    "SunSpecInverter",
    "SystemClock",
    "make_nameplate",
]
