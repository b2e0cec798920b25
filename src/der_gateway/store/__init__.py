"""Durable state behind a small async interface; see base.Store."""

from .base import EndDeviceRecord, MirrorUsagePointRecord, Page, Store

__all__ = ["EndDeviceRecord", "MirrorUsagePointRecord", "Page", "Store"]
