"""Resolving a path's EndDevice or mirror for the caller: what it may not see is not there (404)."""

from __future__ import annotations

from aiohttp import web

from ..domain.numerals import identifier
from ..store import EndDeviceRecord, MirrorUsagePointRecord
from ..sep import paths
from .http import Problem
from ..services.resources import Viewer
from .state import CLIENT, CLOCK, CONFIG, STORE


def viewer(request: web.Request) -> Viewer:
    app = request.app
    return Viewer(app[STORE], app[CONFIG], app[CLOCK], request[CLIENT])


def path_int(request: web.Request, name: str) -> int:
    value = identifier(request.match_info[name])
    if value is None:
        raise Problem(404, f"no resource at {request.path}")
    return value


async def visible_end_device(request: web.Request) -> EndDeviceRecord:
    """The EndDevice named by the path, if the caller may act for it; 404 otherwise.

    Another client's EndDevice answers exactly as a missing one does, so that
    its existence is not revealed.  An operator's grant lets a further client in.
    """
    record = await request.app[STORE].end_device(path_int(request, "edev"))
    if record is None or not await viewer(request).may_see_end_device(record):
        raise Problem(404, f"no EndDevice at {request.path}")
    return record


def names_aggregator_end_device(request: web.Request) -> bool:
    """Whether the path's EndDevice is the calling aggregator's own (CSIP-AUS), which is not stored."""
    return path_int(request, "edev") == paths.AGGREGATOR_EDEV_ID and viewer(request).has_aggregator_end_device


async def owned_mirror(request: web.Request, name: str) -> MirrorUsagePointRecord:
    """The MirrorUsagePoint the path names (/mup/{n}, or /upt/{n} for the UsagePoint it is mirrored as),
    if the caller made it; 404 otherwise."""
    record = await request.app[STORE].mirror_usage_point(path_int(request, name))
    if record is None or record.owner_lfdi != request[CLIENT].lfdi:
        raise Problem(404, f"no {'MirrorUsagePoint' if name == 'mup' else 'UsagePoint'} at {request.path}")
    return record
