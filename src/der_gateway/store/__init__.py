"""Durable state behind a small async interface; see base.Store."""

from .base import (ControlRecord, EndDeviceCounts, EndDeviceRecord, GroupRecord, MeterReadingRecord,
                   MirrorUsagePointRecord, MridTaken, OutboxItem, Page, ProgramRecord, ReadingRecord, ReadingSetRecord,
                   ReadingTypeMissing, ResponseRecord, SubscriptionRecord)
from .interface import Store

__all__ = ["ControlRecord", "EndDeviceCounts", "EndDeviceRecord", "GroupRecord", "MeterReadingRecord",
           "MirrorUsagePointRecord", "MridTaken", "OutboxItem", "Page", "ProgramRecord", "ReadingRecord",
           "ReadingSetRecord", "ReadingTypeMissing", "ResponseRecord", "Store", "SubscriptionRecord"]
