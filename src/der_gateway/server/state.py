"""Typed keys for what the application holds."""

from __future__ import annotations

from typing import Protocol

from aiohttp import web

from ..clock import Clock
from ..config import Config
from ..domain.clients import Client
from ..store import Store
from ..xsd import SchemaSet


class Changed(Protocol):
    """What handlers tell of their writes (server.background.Background), so that it looks now."""

    def changed(self) -> None: ...


CONFIG = web.AppKey("config", Config)
STORE = web.AppKey("store", Store)
SCHEMAS = web.AppKey("schemas", SchemaSet)
CLOCK = web.AppKey("clock", Clock)
CLIENT = web.RequestKey("client", Client)
RESPONSE_CACHE = web.AppKey("response_cache", object)  # server.cache.ResponseCache
BACKGROUND = web.AppKey("background", Changed)
CONTACTS = web.AppKey("contacts", object)  # server.contacts.ContactLog
IDENTITIES = web.AppKey("identities", object)  # server.identity.ConnectionIdentities
