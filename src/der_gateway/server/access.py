"""Resolving a path's EndDevice for the caller: what it may not see is not there (404)."""

from __future__ import annotations

from aiohttp import web

from ..domain.clients import Client
from ..store import EndDeviceRecord
from .http import Problem
from .state import CLIENT, STORE


def path_int(request: web.Request, name: str) -> int:
    raw = request.match_info[name]
    if not raw.isdigit() or len(raw) > 18:
        raise Problem(404, f"no resource at {request.path}")
    return int(raw)


async def visible_end_device(request: web.Request) -> EndDeviceRecord:
    """The EndDevice named by the path, if the caller may act for it; 404 otherwise.

    Another client's EndDevice answers exactly as a missing one does, so that
    its existence is not revealed.
    """
    client: Client = request[CLIENT]
    record = await request.app[STORE].end_device(path_int(request, "edev"))
    if record is None or not client.may_act_for(record.lFDI, record.owner_lfdi):
        raise Problem(404, f"no EndDevice at {request.path}")
    return record
