"""Durable state behind a small async interface; see base.Store."""

from .base import (ControlRecord, EndDeviceRecord, GroupRecord, MirrorUsagePointRecord, MridTaken, OutboxItem,
                   Page, ProgramRecord, ResponseRecord, Store, SubscriptionRecord)

__all__ = ["ControlRecord", "EndDeviceRecord", "GroupRecord", "MirrorUsagePointRecord", "MridTaken", "OutboxItem",
           "Page", "ProgramRecord", "ResponseRecord", "Store", "SubscriptionRecord"]
