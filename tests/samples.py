"""One realistic, schema-valid instance of every 2030.5 root resource.

``sample(cls, profile)`` builds a fresh instance each call, so tests may mutate
what they get.  Optional elements, nested types and lists (two items each) are
populated broadly, so that encode/decode round trips exercise element order.

Profiles:

* ``"csip"``: plain IEEE 2030.5-2018; no CSIP-AUS fields are set.
* ``"csip-aus"``: CSIP-AUS v1.2; the resources it extends (DERCapability,
  DERSettings, EndDevice, DERControlBase in DERControl / DefaultDERControl, and
  the lists holding them) carry the CSIP-AUS fields, and ConnectionPoint exists.

Notification samples have no ``Resource`` child: that slot is polymorphic
(needs xsi:type), which the codec does not support yet.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from der_gateway.sep import model as m
from der_gateway.sep.identity import sfdi_from_lfdi

PROFILES = ("csip", "csip-aus")

# -- identities and times ------------------------------------------------------

LFDI = "3E4F45AB31EDFE5B67E343E5E4562E31984E23E5"
SFDI = sfdi_from_lfdi(LFDI)  # 167261211391
LFDI_2 = "8F1A0C27D5B94E6A3C1D2E3F405162738495A6B7"
SFDI_2 = sfdi_from_lfdi(LFDI_2)

MRID_PROGRAM = "A1B2C3D4E5F60718293A4B5C6D7E8F90"
MRID_CONTROL = "5F2E8A7C1B3D4E6F8091A2B3C4D5E6F7"
MRID_CONTROL_2 = "5F2E8A7C1B3D4E6F8091A2B3C4D5E6F8"
MRID_DEFAULT = "0D1C2B3A495867768594A3B2C1D0E0F1"
MRID_FSA = "10000000000000000000000000000A01"
MRID_FSA_2 = "10000000000000000000000000000A02"
MRID_CURVE = "C0FFEE00C0FFEE00C0FFEE00C0FFEE01"
MRID_CURVE_2 = "C0FFEE00C0FFEE00C0FFEE00C0FFEE02"
MRID_MUP = "E1D2C3B4A5968778695A4B3C2D1E0F01"
MRID_MMR = "E1D2C3B4A5968778695A4B3C2D1E0F02"
MRID_MMR_2 = "E1D2C3B4A5968778695A4B3C2D1E0F03"
MRID_MRS = "E1D2C3B4A5968778695A4B3C2D1E0F04"
MRID_MRS_2 = "E1D2C3B4A5968778695A4B3C2D1E0F05"
MRID_RSET = "FEEDFACE00000000000000000000AA01"
MRID_RSET_2 = "FEEDFACE00000000000000000000AA02"

NOW = 1_717_200_000  # 2024-06-01T00:00:00Z
TZ_OFFSET = 36_000  # Australia/Sydney, +10:00

# DERControlType bitmaps (HexBinary32), as a typical smart inverter reports them
MODES_SUPPORTED = "00500088"
DOE_MODES_SUPPORTED = "0F"  # opModExpLimW, opModImpLimW, opModGenLimW, opModLoadLimW
DOE_MODES_ENABLED = "03"  # opModExpLimW, opModImpLimW


def _w(value: int, multiplier: int = 0) -> m.ActivePower:
    return m.ActivePower(multiplier=multiplier, value=value)


def _va(value: int, multiplier: int = 0) -> m.ApparentPower:
    return m.ApparentPower(multiplier=multiplier, value=value)


def _var(value: int, multiplier: int = 0) -> m.ReactivePower:
    return m.ReactivePower(multiplier=multiplier, value=value)


def _v(value: int, multiplier: int = 0) -> m.VoltageRMS:
    return m.VoltageRMS(multiplier=multiplier, value=value)


def _pf(displacement: int) -> m.PowerFactor:
    return m.PowerFactor(displacement=displacement, multiplier=-3)


# -- function set assignments, time, device capability --------------------------

def device_capability(aus: bool = False) -> m.DeviceCapability:
    return m.DeviceCapability(
        href="/dcap",
        pollRate=900,
        DERProgramListLink=m.ListLink(href="/derp", all=2),
        ResponseSetListLink=m.ListLink(href="/rsps", all=1),
        TimeLink=m.Link(href="/tm"),
        EndDeviceListLink=m.ListLink(href="/edev", all=2),
        MirrorUsagePointListLink=m.ListLink(href="/mup", all=1),
        SelfDeviceLink=m.Link(href="/sdev"),
    )


def time(aus: bool = False) -> m.Time:
    return m.Time(
        href="/tm",
        pollRate=900,
        currentTime=NOW,
        dstEndTime=1_712_419_200,  # 2024-04-07 03:00 AEDT
        dstOffset=3600,
        dstStartTime=1_728_144_000,  # 2024-10-06 02:00 AEST
        localTime=NOW + TZ_OFFSET,
        quality=7,
        tzOffset=TZ_OFFSET,
    )


def function_set_assignments(aus: bool = False, n: int = 1) -> m.FunctionSetAssignments:
    return m.FunctionSetAssignments(
        href=f"/edev/3/fsa/{n}",
        subscribable=0,
        DERProgramListLink=m.ListLink(href=f"/edev/3/fsa/{n}/derp", all=1),
        ResponseSetListLink=m.ListLink(href="/rsps", all=2),
        TimeLink=m.Link(href="/tm"),
        mRID=MRID_FSA if n == 1 else MRID_FSA_2,
        description=f"FSA {n} - DNSP zone substation",
        version=n,
    )


def function_set_assignments_list(aus: bool = False) -> m.FunctionSetAssignmentsList:
    return m.FunctionSetAssignmentsList(
        href="/edev/3/fsa",
        subscribable=1,
        all=2,
        results=2,
        pollRate=900,
        FunctionSetAssignments=[function_set_assignments(aus, 1), function_set_assignments(aus, 2)],
    )


# -- end devices ---------------------------------------------------------------

def end_device(aus: bool = False, n: int = 3) -> m.EndDevice:
    lfdi, sfdi = (LFDI, SFDI) if n == 3 else (LFDI_2, SFDI_2)
    return m.EndDevice(
        href=f"/edev/{n}",
        subscribable=0,
        ConfigurationLink=m.Link(href=f"/edev/{n}/cfg"),
        DERListLink=m.ListLink(href=f"/edev/{n}/der", all=1),
        deviceCategory="00020000",
        DeviceInformationLink=m.Link(href=f"/edev/{n}/di"),
        DeviceStatusLink=m.Link(href=f"/edev/{n}/ds"),
        lFDI=lfdi,
        LogEventListLink=m.ListLink(href=f"/edev/{n}/lel", all=2),
        PowerStatusLink=m.Link(href=f"/edev/{n}/ps"),
        sFDI=sfdi,
        changedTime=NOW - 86_400,
        enabled=True,
        FunctionSetAssignmentsListLink=m.ListLink(href=f"/edev/{n}/fsa", all=2),
        postRate=300,
        RegistrationLink=m.Link(href=f"/edev/{n}/rg"),
        SubscriptionListLink=m.ListLink(href=f"/edev/{n}/sub", all=2),
        ConnectionPointLink=m.Link(href=f"/edev/{n}/cp") if aus else None,
    )


def end_device_list(aus: bool = False) -> m.EndDeviceList:
    return m.EndDeviceList(
        href="/edev",
        subscribable=1,
        all=2,
        results=2,
        pollRate=900,
        EndDevice=[end_device(aus, 3), end_device(aus, 4)],
    )


def registration(aus: bool = False) -> m.Registration:
    return m.Registration(href="/edev/3/rg", pollRate=86_400, dateTimeRegistered=NOW - 86_400, pIN=111115)


def connection_point(aus: bool = True) -> m.ConnectionPoint:
    return m.ConnectionPoint(href="/edev/3/cp", connectionPointId="4102345678")  # an NMI


# -- DER -------------------------------------------------------------------------

def der(aus: bool = False, n: int = 1) -> m.DER:
    base = f"/edev/3/der/{n}"
    return m.DER(
        href=base,
        subscribable=0,
        AssociatedDERProgramListLink=m.ListLink(href=f"{base}/derp", all=1),
        AssociatedUsagePointLink=m.Link(href="/mup/1"),
        CurrentDERProgramLink=m.Link(href="/derp/1"),
        DERAvailabilityLink=m.Link(href=f"{base}/dera"),
        DERCapabilityLink=m.Link(href=f"{base}/dercap"),
        DERSettingsLink=m.Link(href=f"{base}/derg"),
        DERStatusLink=m.Link(href=f"{base}/ders"),
    )


def der_list(aus: bool = False) -> m.DERList:
    return m.DERList(href="/edev/3/der", all=2, results=2, pollRate=900, DER=[der(aus, 1), der(aus, 2)])


def der_capability(aus: bool = False) -> m.DERCapability:
    return m.DERCapability(
        href="/edev/3/der/1/dercap",
        modesSupported=MODES_SUPPORTED,
        rtgAbnormalCategory=2,
        rtgMaxA=m.CurrentRMS(multiplier=0, value=32),
        rtgMaxAh=m.AmpereHour(multiplier=0, value=200),
        rtgMaxChargeRateVA=_va(5000),
        rtgMaxChargeRateW=_w(5000),
        rtgMaxDischargeRateVA=_va(5000),
        rtgMaxDischargeRateW=_w(5000),
        rtgMaxV=_v(253),
        rtgMaxVA=_va(5000),
        rtgMaxVar=_var(3000),
        rtgMaxVarNeg=_var(-3000),
        rtgMaxW=_w(5000),
        rtgMaxWh=m.WattHour(multiplier=3, value=10),
        rtgMinPFOverExcited=_pf(800),
        rtgMinPFUnderExcited=_pf(800),
        rtgMinV=_v(216),
        rtgNormalCategory=1,
        rtgOverExcitedPF=_pf(900),
        rtgOverExcitedW=_w(4500),
        rtgReactiveSusceptance=m.ReactiveSusceptance(multiplier=-3, value=12),
        rtgUnderExcitedPF=_pf(900),
        rtgUnderExcitedW=_w(4500),
        rtgVNom=_v(230),
        type=88,  # combined PV and storage
        # Required by the model (CSIP-AUS makes it mandatory) but not part of
        # plain 2030.5: leave it unset for the "csip" profile.
        doeModesSupported=DOE_MODES_SUPPORTED if aus else None,  # type: ignore[arg-type]
    )


def der_settings(aus: bool = False) -> m.DERSettings:
    return m.DERSettings(
        href="/edev/3/der/1/derg",
        subscribable=0,
        modesEnabled=MODES_SUPPORTED,
        setESDelay=6000,
        setESHighFreq=5015,
        setESHighVolt=2530,
        setESLowFreq=4700,
        setESLowVolt=2160,
        setESRampTms=3000,
        setESRandomDelay=1200,
        setGradW=1667,
        setMaxA=m.CurrentRMS(multiplier=0, value=32),
        setMaxChargeRateW=_w(5000),
        setMaxDischargeRateW=_w(5000),
        setMaxV=_v(253),
        setMaxVA=_va(5000),
        setMaxVar=_var(3000),
        setMaxVarNeg=_var(-3000),
        setMaxW=_w(5000),
        setMaxWh=m.WattHour(multiplier=3, value=10),
        setMinPFOverExcited=_pf(850),
        setMinPFUnderExcited=_pf(850),
        setMinV=_v(216),
        setSoftGradW=50,
        setVNom=_v(230),
        setVRef=_v(230),
        setVRefOfs=_v(0),
        updatedTime=NOW - 3600,
        doeModesEnabled=DOE_MODES_ENABLED if aus else None,
    )


def der_status(aus: bool = False) -> m.DERStatus:
    return m.DERStatus(
        href="/edev/3/der/1/ders",
        subscribable=0,
        alarmStatus="00000000",
        genConnectStatus=m.ConnectStatusType(dateTime=NOW - 60, value="07"),
        inverterStatus=m.InverterStatusType(dateTime=NOW - 60, value=4),
        localControlModeStatus=m.LocalControlModeStatusType(dateTime=NOW - 60, value=1),
        manufacturerStatus=m.ManufacturerStatusType(dateTime=NOW - 60, value="OK"),
        operationalModeStatus=m.OperationalModeStatusType(dateTime=NOW - 60, value=2),
        readingTime=NOW,
        stateOfChargeStatus=m.StateOfChargeStatusType(dateTime=NOW - 60, value=8050),
        storageModeStatus=m.StorageModeStatusType(dateTime=NOW - 60, value=1),
        storConnectStatus=m.ConnectStatusType(dateTime=NOW - 60, value="07"),
    )


def der_availability(aus: bool = False) -> m.DERAvailability:
    return m.DERAvailability(
        href="/edev/3/der/1/dera",
        subscribable=0,
        availabilityDuration=7200,
        maxChargeDuration=10_800,
        readingTime=NOW,
        reserveChargePercent=2000,
        reservePercent=1000,
        statVarAvail=_var(3000),
        statWAvail=_w(5000),
    )


# -- metering mirrors ---------------------------------------------------------------

def _reading_type(kind: int = 37) -> m.ReadingType:
    return m.ReadingType(
        accumulationBehaviour=12,
        commodity=1,
        dataQualifier=2,
        flowDirection=1,
        intervalLength=300,
        kind=kind,
        phase=0,
        powerOfTenMultiplier=0,
        uom=38,  # W
    )


def _reading(value: int, start: int, local_id: str | None = None) -> m.Reading:
    return m.Reading(
        qualityFlags="01",
        timePeriod=m.DateTimeInterval(duration=300, start=start),
        value=value,
        localID=local_id,
    )


def mirror_reading_set(aus: bool = False, n: int = 1) -> m.MirrorReadingSet:
    start = NOW - 600 * n
    return m.MirrorReadingSet(
        mRID=MRID_MRS if n == 1 else MRID_MRS_2,
        description=f"set {n}",
        version=0,
        timePeriod=m.DateTimeInterval(duration=600, start=start),
        Reading=[_reading(4200, start, "01"), _reading(4350, start + 300, "02")],
    )


def mirror_meter_reading(aus: bool = False, n: int = 1) -> m.MirrorMeterReading:
    return m.MirrorMeterReading(
        href=f"/mup/1/mr/{n}",
        mRID=MRID_MMR if n == 1 else MRID_MMR_2,
        description="Site active power" if n == 1 else "Site reactive power",
        version=1,
        lastUpdateTime=NOW - 300,
        MirrorReadingSet=[mirror_reading_set(aus, 1), mirror_reading_set(aus, 2)],
        nextUpdateTime=NOW + 300,
        Reading=_reading(4500 if n == 1 else 1200, NOW - 300),
        ReadingType=_reading_type(37 if n == 1 else 38),
    )


def mirror_meter_reading_list(aus: bool = False) -> m.MirrorMeterReadingList:
    return m.MirrorMeterReadingList(
        href="/mup/1/mr",
        all=2,
        results=2,
        MirrorMeterReading=[mirror_meter_reading(aus, 1), mirror_meter_reading(aus, 2)],
    )


def mirror_usage_point(aus: bool = False, n: int = 1) -> m.MirrorUsagePoint:
    return m.MirrorUsagePoint(
        href=f"/mup/{n}",
        mRID=MRID_MUP[:-1] + str(n),
        description=f"Site meter {n}",
        version=0,
        roleFlags="0003",
        serviceCategoryKind=0,
        status=1,
        deviceLFDI=LFDI,
        MirrorMeterReading=[mirror_meter_reading(aus, 1), mirror_meter_reading(aus, 2)],
        postRate=300,
    )


def mirror_usage_point_list(aus: bool = False) -> m.MirrorUsagePointList:
    return m.MirrorUsagePointList(
        href="/mup",
        all=2,
        results=2,
        pollRate=900,
        MirrorUsagePoint=[mirror_usage_point(aus, 1), mirror_usage_point(aus, 2)],
    )


# -- the mirror as UsagePoint (Metering) ----------------------------------------------

def reading_type(aus: bool = False) -> m.ReadingType:
    found = _reading_type(37)
    found.href = "/upt/1/mr/1/rt"
    return found


def reading(aus: bool = False, n: int = 1) -> m.Reading:
    found = _reading(4200 + 150 * (n - 1), NOW - 1200 + 300 * (n - 1), f"{n:02X}")
    found.href = f"/upt/1/mr/1/rs/1/r/{n}"
    found.subscribable = 0
    return found


def reading_list(aus: bool = False) -> m.ReadingList:
    return m.ReadingList(href="/upt/1/mr/1/rs/1/r", all=2, results=2, Reading=[reading(aus, 1), reading(aus, 2)])


def reading_set(aus: bool = False, n: int = 1) -> m.ReadingSet:
    return m.ReadingSet(
        href=f"/upt/1/mr/1/rs/{n}",
        mRID=MRID_MRS if n == 1 else MRID_MRS_2,
        description=f"set {n}",
        version=0,
        timePeriod=m.DateTimeInterval(duration=600, start=NOW - 600 * n),
        ReadingListLink=m.ListLink(href=f"/upt/1/mr/1/rs/{n}/r", all=2),
    )


def reading_set_list(aus: bool = False) -> m.ReadingSetList:
    return m.ReadingSetList(href="/upt/1/mr/1/rs", all=2, results=2, ReadingSet=[reading_set(aus, 1),
                                                                                  reading_set(aus, 2)])


def meter_reading(aus: bool = False, n: int = 1) -> m.MeterReading:
    base = f"/upt/1/mr/{n}"
    return m.MeterReading(
        href=base,
        mRID=MRID_MMR if n == 1 else MRID_MMR_2,
        description="Site active power" if n == 1 else "Site reactive power",
        version=1,
        RateComponentListLink=m.ListLink(href="/tp/1/rc", all=0),
        ReadingLink=m.Link(href=f"{base}/r"),
        ReadingSetListLink=m.ListLink(href=f"{base}/rs", all=2),
        ReadingTypeLink=m.Link(href=f"{base}/rt"),
    )


def meter_reading_list(aus: bool = False) -> m.MeterReadingList:
    return m.MeterReadingList(href="/upt/1/mr", all=2, results=2,
                              MeterReading=[meter_reading(aus, 1), meter_reading(aus, 2)])


def usage_point(aus: bool = False, n: int = 1) -> m.UsagePoint:
    return m.UsagePoint(
        href=f"/upt/{n}",
        mRID=MRID_MUP[:-1] + str(n),
        description=f"Site meter {n}",
        version=0,
        roleFlags="0003",
        serviceCategoryKind=0,
        status=1,
        deviceLFDI=LFDI,
        MeterReadingListLink=m.ListLink(href=f"/upt/{n}/mr", all=2),
    )


def usage_point_list(aus: bool = False) -> m.UsagePointList:
    return m.UsagePointList(href="/upt", all=2, results=2, pollRate=900,
                            UsagePoint=[usage_point(aus, 1), usage_point(aus, 2)])


# -- log events --------------------------------------------------------------------

def log_event(aus: bool = False, n: int = 1) -> m.LogEvent:
    return m.LogEvent(
        href=f"/edev/3/lel/{n}",
        createdDateTime=NOW - 120 * n,
        details="over-voltage trip" if n == 1 else "reconnected",
        extendedData=n,
        functionSet=11,  # DER
        logEventCode=n,
        logEventID=100 + n,
        logEventPEN=40_732,
        profileID=0,
    )


def log_event_list(aus: bool = False) -> m.LogEventList:
    return m.LogEventList(
        href="/edev/3/lel",
        subscribable=1,
        all=2,
        results=2,
        pollRate=900,
        LogEvent=[log_event(aus, 1), log_event(aus, 2)],
    )


# -- DER programs and controls --------------------------------------------------------

def der_program(aus: bool = False, n: int = 1) -> m.DERProgram:
    base = f"/derp/{n}"
    return m.DERProgram(
        href=base,
        subscribable=1,
        mRID=MRID_PROGRAM[:-1] + str(n),
        description=f"DNSP program {n}",
        version=3,
        ActiveDERControlListLink=m.ListLink(href=f"{base}/actderc", all=1),
        DefaultDERControlLink=m.Link(href=f"{base}/dderc"),
        DERControlListLink=m.ListLink(href=f"{base}/derc", all=2),
        DERCurveListLink=m.ListLink(href=f"{base}/dc", all=2),
        primacy=n,
    )


def der_program_list(aus: bool = False) -> m.DERProgramList:
    return m.DERProgramList(
        href="/derp",
        subscribable=1,
        all=2,
        results=2,
        pollRate=900,
        DERProgram=[der_program(aus, 1), der_program(aus, 2)],
    )


def der_control_base(aus: bool = False) -> m.DERControlBase:
    return m.DERControlBase(
        opModConnect=True,
        opModEnergize=True,
        opModFixedPFAbsorbW=m.PowerFactorWithExcitation(displacement=950, excitation=False, multiplier=-3),
        opModFixedPFInjectW=m.PowerFactorWithExcitation(displacement=950, excitation=True, multiplier=-3),
        opModFixedVar=m.FixedVar(refType=1, value=-500),
        opModFixedW=-2500,
        opModFreqDroop=m.FreqDroopType(dBOF=36, dBUF=36, kOF=40, kUF=40, openLoopTms=100),
        opModFreqWatt=m.Link(href="/derp/1/dc/3"),
        opModVoltVar=m.Link(href="/derp/1/dc/1"),
        opModVoltWatt=m.Link(href="/derp/1/dc/2"),
        opModMaxLimW=8000,
        opModTargetVar=_var(-1000),
        opModTargetW=_w(5000),
        rampTms=600,
        opModImpLimW=_w(10_000) if aus else None,
        opModExpLimW=_w(5000) if aus else None,
        opModGenLimW=_w(7, 3) if aus else None,
        opModLoadLimW=_w(7, 3) if aus else None,
    )


def der_control(aus: bool = False, n: int = 1) -> m.DERControl:
    start = NOW + 3600 * n
    return m.DERControl(
        href=f"/derp/1/derc/{n}",
        replyTo="/rsps/1/rsp",
        responseRequired="03",
        subscribable=0,
        mRID=MRID_CONTROL if n == 1 else MRID_CONTROL_2,
        description=f"Export limit window {n}",
        version=0,
        creationTime=NOW,
        EventStatus=m.EventStatus(
            currentStatus=0,
            dateTime=NOW,
            potentiallySuperseded=n == 2,
            potentiallySupersededTime=NOW if n == 2 else None,
            reason="Scheduled",
        ),
        interval=m.DateTimeInterval(duration=1800, start=start),
        randomizeDuration=60,
        randomizeStart=-30,
        DERControlBase=der_control_base(aus),
        deviceCategory="00020000",
    )


def der_control_list(aus: bool = False) -> m.DERControlList:
    return m.DERControlList(
        href="/derp/1/derc",
        subscribable=1,
        all=2,
        results=2,
        DERControl=[der_control(aus, 1), der_control(aus, 2)],
    )


def default_der_control(aus: bool = False) -> m.DefaultDERControl:
    return m.DefaultDERControl(
        href="/derp/1/dderc",
        subscribable=1,
        mRID=MRID_DEFAULT,
        description="Default export 1.5 kW",
        version=2,
        DERControlBase=der_control_base(aus),
        setESDelay=6000,
        setESHighFreq=5015,
        setESHighVolt=2530,
        setESLowFreq=4700,
        setESLowVolt=2160,
        setESRampTms=3000,
        setESRandomDelay=1200,
        setGradW=1667,
        setSoftGradW=50,
    )


def der_curve(aus: bool = False, n: int = 1) -> m.DERCurve:
    return m.DERCurve(
        href=f"/derp/1/dc/{n}",
        mRID=MRID_CURVE if n == 1 else MRID_CURVE_2,
        description="Volt-VAr AS4777.2" if n == 1 else "Volt-Watt AS4777.2",
        version=1,
        autonomousVRefEnable=False,
        autonomousVRefTimeConstant=300,
        creationTime=NOW - 86_400,
        CurveData=[
            m.CurveData(excitation=True, xvalue=207, yvalue=44),
            m.CurveData(xvalue=220, yvalue=0),
            m.CurveData(excitation=False, xvalue=265, yvalue=-60),
        ] if n == 1 else [
            m.CurveData(xvalue=253, yvalue=100),
            m.CurveData(xvalue=260, yvalue=20),
        ],
        curveType=11 if n == 1 else 12,  # opModVoltVar, opModVoltWatt
        openLoopTms=500,
        rampDecTms=100,
        rampIncTms=100,
        rampPT1Tms=50,
        vRef=100,
        xMultiplier=0,
        yMultiplier=0,
        yRefType=3 if n == 1 else 0,
    )


def der_curve_list(aus: bool = False) -> m.DERCurveList:
    return m.DERCurveList(href="/derp/1/dc", all=2, results=2, DERCurve=[der_curve(aus, 1), der_curve(aus, 2)])


# -- subscriptions and notifications --------------------------------------------------------

def subscription(aus: bool = False, n: int = 1) -> m.Subscription:
    return m.Subscription(
        href=f"/edev/3/sub/{n}",
        subscribedResource="/derp/1/derc" if n == 1 else "/edev/3/der/1/ders",
        Condition=m.Condition(attributeIdentifier=0, lowerThreshold=100, upperThreshold=5000) if n == 2 else None,
        encoding=0,
        level="+S1",
        limit=10,
        notificationURI=f"https://client.example.com:8443/notify/{n}",
    )


def subscription_list(aus: bool = False) -> m.SubscriptionList:
    return m.SubscriptionList(
        href="/edev/3/sub",
        all=2,
        results=2,
        pollRate=900,
        Subscription=[subscription(aus, 1), subscription(aus, 2)],
    )


def notification(aus: bool = False) -> m.Notification:
    return m.Notification(
        href="/notify/1",
        subscribedResource="/derp/1/derc",
        newResourceURI="/derp/1/derc/3",
        status=0,
        subscriptionURI="/edev/3/sub/1",
    )


# -- responses and errors ------------------------------------------------------------

def response_set(aus: bool = False, n: int = 1) -> m.ResponseSet:
    return m.ResponseSet(
        href=f"/rsps/{n}",
        mRID=MRID_RSET if n == 1 else MRID_RSET_2,
        description=f"Response set {n}",
        version=0,
        ResponseListLink=m.ListLink(href=f"/rsps/{n}/rsp", all=2),
    )


def response_set_list(aus: bool = False) -> m.ResponseSetList:
    return m.ResponseSetList(
        href="/rsps",
        all=2,
        results=2,
        pollRate=900,
        ResponseSet=[response_set(aus, 1), response_set(aus, 2)],
    )


def response(aus: bool = False, n: int = 1) -> m.Response:
    return m.Response(
        href=f"/rsps/1/rsp/{n}",
        createdDateTime=NOW + 10 * n,
        endDeviceLFDI=LFDI,
        status=1 if n == 1 else 2,  # received, started
        subject=MRID_CONTROL,
    )


def response_list(aus: bool = False) -> m.ResponseList:
    return m.ResponseList(href="/rsps/1/rsp", all=2, results=2, Response=[response(aus, 1), response(aus, 2)])


def der_control_response(aus: bool = False) -> m.DERControlResponse:
    return m.DERControlResponse(
        href="/rsps/1/rsp/3",
        createdDateTime=NOW + 3600,
        endDeviceLFDI=LFDI,
        status=3,  # completed
        subject=MRID_CONTROL,
    )


def error(aus: bool = False) -> m.Error:
    return m.Error(maxRetryDuration=60, reasonCode=1)


# -- registry --------------------------------------------------------------------------

BUILDERS: dict[type, Callable[[bool], Any]] = {
    m.DeviceCapability: device_capability,
    m.Time: time,
    m.EndDeviceList: end_device_list,
    m.EndDevice: end_device,
    m.Registration: registration,
    m.FunctionSetAssignmentsList: function_set_assignments_list,
    m.FunctionSetAssignments: function_set_assignments,
    m.DERList: der_list,
    m.DER: der,
    m.DERCapability: der_capability,
    m.DERSettings: der_settings,
    m.DERStatus: der_status,
    m.DERAvailability: der_availability,
    m.MirrorUsagePointList: mirror_usage_point_list,
    m.MirrorUsagePoint: mirror_usage_point,
    m.MirrorMeterReadingList: mirror_meter_reading_list,
    m.MirrorMeterReading: mirror_meter_reading,
    m.LogEventList: log_event_list,
    m.LogEvent: log_event,
    m.DERProgramList: der_program_list,
    m.DERProgram: der_program,
    m.DERControlList: der_control_list,
    m.DERControl: der_control,
    m.DefaultDERControl: default_der_control,
    m.DERCurveList: der_curve_list,
    m.DERCurve: der_curve,
    m.SubscriptionList: subscription_list,
    m.Subscription: subscription,
    m.Notification: notification,
    m.ResponseSetList: response_set_list,
    m.ResponseSet: response_set,
    m.ResponseList: response_list,
    m.Response: response,
    m.DERControlResponse: der_control_response,
    m.Error: error,
    m.UsagePointList: usage_point_list,
    m.UsagePoint: usage_point,
    m.MeterReadingList: meter_reading_list,
    m.MeterReading: meter_reading,
    m.ReadingType: reading_type,
    m.ReadingSetList: reading_set_list,
    m.ReadingSet: reading_set,
    m.ReadingList: reading_list,
    m.Reading: reading,
    m.ConnectionPoint: connection_point,
}

# Root classes whose csip-aus sample sets CSIP-AUS fields (so it is not plain 2030.5).
CSIPAUS_EXTENDED: frozenset[type] = frozenset({
    m.DERCapability, m.DERSettings, m.EndDevice, m.EndDeviceList,
    m.DERControl, m.DERControlList, m.DefaultDERControl, m.ConnectionPoint,
})


def classes(profile: str = "csip") -> tuple[type, ...]:
    """The root classes that exist under profile."""
    if profile == "csip":
        return m.ROOT_ELEMENTS
    if profile == "csip-aus":
        return m.ROOT_ELEMENTS + m.CSIPAUS_ROOT_ELEMENTS
    raise ValueError(f"unknown profile {profile!r}")


def sample(cls: type, profile: str = "csip") -> Any:
    """A fresh, schema-valid instance of root class cls for profile."""
    if cls not in classes(profile):
        raise ValueError(f"{cls.__name__} is not a root resource under profile {profile!r}")
    return BUILDERS[cls](profile == "csip-aus")
