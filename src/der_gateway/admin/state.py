"""Typed keys for what the admin application holds."""

from __future__ import annotations

import asyncio

from aiohttp import web

from ..clock import Clock
from ..config import Config
from ..store import Store
from ..xsd import SchemaSet

CONFIG = web.AppKey("admin_config", Config)
STORE = web.AppKey("admin_store", Store)
SCHEMAS = web.AppKey("admin_schemas", SchemaSet)
CLOCK = web.AppKey("admin_clock", Clock)
TOKEN = web.AppKey("admin_token", str)
WRITE_LOCK = web.AppKey("admin_write_lock", asyncio.Lock)
PUBLIC = web.AppKey("admin_public_handlers", frozenset)  # the handlers of routes declared public
