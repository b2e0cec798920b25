"""Typed keys for what the admin application holds."""

from __future__ import annotations

import asyncio
from typing import Protocol

from aiohttp import web

from ..clock import Clock
from ..config import Config
from ..store import Store
from ..observability.tracking import Tracking
from ..xsd import SchemaSet

CONFIG = web.AppKey("admin_config", Config)
STORE = web.AppKey("admin_store", Store)
SCHEMAS = web.AppKey("admin_schemas", SchemaSet)
CLOCK = web.AppKey("admin_clock", Clock)
TOKEN = web.AppKey("admin_token", str)
WRITE_LOCK = web.AppKey("admin_write_lock", asyncio.Lock)
PUBLIC = web.AppKey("admin_public_handlers", frozenset)  # the handlers of routes declared public


class DeviceView(Protocol):
    """The 2030.5 application asked as a client (server/in_process.py, given by the start-up wiring)."""

    async def get(self, lfdi: str, href: str) -> tuple[int, bytes]: ...


DEVICE_VIEW = web.AppKey("admin_device_view", DeviceView)
TRACKING = web.AppKey("admin_tracking", Tracking)
