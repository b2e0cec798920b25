"""Typed keys for what the application holds."""

from __future__ import annotations

from aiohttp import web

from ..config import Config
from ..store import Store
from ..xsd import SchemaSet

CONFIG = web.AppKey("config", Config)
STORE = web.AppKey("store", Store)
SCHEMAS = web.AppKey("schemas", SchemaSet)
CLIENT = "client"  # request key: the calling domain.clients.Client
