"""Request bodies a 2030.5 client sends, built with the project's model and codec."""

from __future__ import annotations

from der_gateway.sep import codec, model
from der_gateway.sep.identity import sfdi_from_lfdi


def end_device(lfdi: str, changed: int = 1700000000, category: str | None = "00040000") -> bytes:
    return codec.encode(model.EndDevice(lFDI=lfdi, sFDI=sfdi_from_lfdi(lfdi), changedTime=changed,
                                        deviceCategory=category))


def power(value: int, multiplier: int = 0) -> model.ActivePower:
    return model.ActivePower(multiplier=multiplier, value=value)


def der_capability(rtg_max_w: int = 5000) -> model.DERCapability:
    return model.DERCapability(
        modesSupported="00500088", rtgMaxA=model.CurrentRMS(multiplier=0, value=21),
        rtgMaxVA=model.ApparentPower(multiplier=0, value=rtg_max_w),
        rtgMaxVar=model.ReactivePower(multiplier=0, value=2200),
        rtgMaxW=power(rtg_max_w), rtgMinPFOverExcited=model.PowerFactor(displacement=85, multiplier=-2),
        rtgVNom=model.VoltageRMS(multiplier=0, value=240), type=4)


def der_settings(set_max_w: int = 5000) -> model.DERSettings:
    return model.DERSettings(modesEnabled="00000088", setGradW=100, setMaxVA=model.ApparentPower(multiplier=0, value=set_max_w),
                             setMaxW=power(set_max_w), updatedTime=1700000000)


def der_status() -> model.DERStatus:
    return model.DERStatus(genConnectStatus=model.ConnectStatusType(dateTime=1700000000, value="01"),
                           inverterStatus=model.InverterStatusType(dateTime=1700000000, value=4),
                           operationalModeStatus=model.OperationalModeStatusType(dateTime=1700000000, value=2),
                           readingTime=1700000000)


def der_availability() -> model.DERAvailability:
    return model.DERAvailability(availabilityDuration=3600, readingTime=1700000000, statWAvail=power(4200))


def mirror_usage_point(device_lfdi: str, mrid: str = "0A" * 12 + "000D8C5E", readings: int = 1) -> bytes:
    mmrs = [mirror_meter_reading(f"{i:02X}" * 12 + "000D8C5E", 3000 + i) for i in range(readings)]
    return codec.encode(model.MirrorUsagePoint(
        mRID=mrid, description="site export", roleFlags="49", serviceCategoryKind=0, status=1,
        deviceLFDI=device_lfdi, MirrorMeterReading=mmrs))


def mirror_meter_reading(mrid: str, value: int, start: int = 1700000000) -> model.MirrorMeterReading:
    return model.MirrorMeterReading(
        mRID=mrid, description="average real power",
        MirrorReadingSet=[model.MirrorReadingSet(
            mRID=mrid[:-8] + "00000001", timePeriod=model.DateTimeInterval(duration=300, start=start),
            Reading=[model.Reading(value=value, timePeriod=model.DateTimeInterval(duration=300, start=start))])],
        ReadingType=model.ReadingType(accumulationBehaviour=12, commodity=1, dataQualifier=2, flowDirection=19,
                                      intervalLength=300, kind=37, phase=0, powerOfTenMultiplier=0, uom=38))


def log_event(event_id: int, created: int) -> bytes:
    return codec.encode(model.LogEvent(createdDateTime=created, details="comms restored", functionSet=0,
                                       logEventCode=1, logEventID=event_id, logEventPEN=40732, profileID=2))
