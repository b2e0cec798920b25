"""Typed keys for what the application holds."""

from __future__ import annotations

from aiohttp import web

from ..clock import Clock
from ..config import Config
from ..domain.clients import Client
from ..store import Store
from ..xsd import SchemaSet

CONFIG = web.AppKey("config", Config)
STORE = web.AppKey("store", Store)
SCHEMAS = web.AppKey("schemas", SchemaSet)
CLOCK = web.AppKey("clock", Clock)
CLIENT = web.RequestKey("client", Client)
RESPONSE_CACHE = web.AppKey("response_cache", object)  # server.cache.ResponseCache
BACKGROUND = web.AppKey("background", object)  # server.background.Background: tell it of writes
