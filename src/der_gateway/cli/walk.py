"""Walk a 2030.5 resource tree from /dcap, one indented line per resource.

The walk only needs `fetch(href) -> bytes | None` (None for 404; it may be a
coroutine function and may raise FetchError), so it runs against a live
server, a test double or a directory of saved documents alike.
"""

from __future__ import annotations

import dataclasses
import inspect
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable

from ..sep import codec, model
from ..sep.walk import children

Fetch = Callable[[str], "bytes | None | Awaitable[bytes | None]"]

STATUS_WORDS = {0: "scheduled", 1: "active", 2: "cancelled", 3: "cancelled-random", 4: "superseded"}
_ROOTS = tuple(codec.ROOTS.values())


class FetchError(Exception):
    """A GET that failed other than by 404; the message says how (e.g. "HTTP 403")."""


# -- formatting -----------------------------------------------------------------

def iso(epoch: int | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def status_word(status: int) -> str:
    return STATUS_WORDS.get(status, f"status{status}")


def modes(base: Any) -> str:
    """The DERControlBase fields set, from a dataclass or its plain data."""
    names = base.keys() if isinstance(base, dict) else [
        f.name for f in dataclasses.fields(base) if getattr(base, f.name) is not None]
    return ",".join(names) or "-"


def watts(value: Any) -> str | None:
    if value is None:
        return None
    return f"{value.value * 10 ** value.multiplier:g}W"


def _control_fields(c: model.DERControl) -> dict[str, Any]:
    return {"mRID": c.mRID, "start": iso(c.interval.start), "duration": f"{c.interval.duration}s",
            "status": status_word(c.EventStatus.currentStatus), "modes": modes(c.DERControlBase)}


_FIELDS: dict[type, Callable[[Any], dict[str, Any]]] = {
    model.DeviceCapability: lambda d: {"pollRate": d.pollRate},
    model.Time: lambda t: {"currentTime": iso(t.currentTime)},
    model.EndDevice: lambda e: {"lFDI": e.lFDI, "sFDI": e.sFDI, "enabled": e.enabled},
    model.Registration: lambda r: {"pIN": r.pIN},
    model.FunctionSetAssignments: lambda f: {"mRID": f.mRID, "description": f.description},
    model.DERProgram: lambda p: {"primacy": p.primacy, "description": p.description},
    model.DERControl: _control_fields,
    model.DefaultDERControl: lambda d: {"mRID": d.mRID, "modes": modes(d.DERControlBase)},
    model.DERCurve: lambda c: {"mRID": c.mRID, "curveType": c.curveType},
    model.DERCapability: lambda c: {"rtgMaxW": watts(c.rtgMaxW)},
    model.DERSettings: lambda s: {"setMaxW": watts(s.setMaxW)},
    model.DERStatus: lambda s: {"readingTime": iso(s.readingTime)},
    model.DERAvailability: lambda a: {"readingTime": iso(a.readingTime)},
    model.MirrorUsagePoint: lambda m: {"mRID": m.mRID, "deviceLFDI": m.deviceLFDI},
    model.UsagePoint: lambda u: {"mRID": u.mRID, "deviceLFDI": u.deviceLFDI},
    model.MeterReading: lambda m: {"mRID": m.mRID, "description": m.description},
    model.ReadingType: lambda t: {"uom": t.uom, "powerOfTenMultiplier": t.powerOfTenMultiplier},
    model.ReadingSet: lambda s: {"mRID": s.mRID, "start": iso(s.timePeriod.start)},
    model.Reading: lambda r: {"value": r.value, "start": iso(r.timePeriod.start) if r.timePeriod else None},
    model.Subscription: lambda s: {"subscribedResource": s.subscribedResource, "notificationURI": s.notificationURI},
    model.ResponseSet: lambda r: {"mRID": r.mRID, "description": r.description},
    model.Response: lambda r: {"subject": r.subject, "status": r.status, "endDeviceLFDI": r.endDeviceLFDI},
    model.LogEvent: lambda e: {"logEventID": e.logEventID, "created": iso(e.createdDateTime)},
    model.ConnectionPoint: lambda c: {"connectionPointId": c.connectionPointId},
}


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    text = str(v)
    return f'"{text}"' if not text or any(ch.isspace() for ch in text) else text


def fields_text(values: dict[str, Any]) -> str:
    return " ".join(f"{k}={_value(v)}" for k, v in values.items() if v is not None)


def describe(obj: Any) -> str:
    """One line: element name, href and the fields worth seeing."""
    if isinstance(obj, (model.List, model.SubscribableList)):
        values = {"all": obj.all, "results": obj.results}
    else:
        fmt = next((f for cls, f in _FIELDS.items() if type(obj) is cls), None)
        fmt = fmt or next((f for cls, f in _FIELDS.items() if isinstance(obj, cls)), lambda _: {})
        values = fmt(obj)
    head = f"{type(obj).__name__} {obj.href or ''}".rstrip()
    text = fields_text(values)
    return f"{head}  {text}" if text else head


# -- the walk -----------------------------------------------------------------------

async def walk(fetch: Fetch, root: str = "/dcap", *, depth: int | None = None, limit: int = 20) -> list[str]:
    """The tree under root, depth first, each href fetched at most once; list links get ?l=limit.

    Resources a list holds are shown from the list, not fetched again (so Responses are only listed).
    """
    lines: list[str] = []
    seen: set[str | None] = set()

    async def get(href: str) -> bytes | None:
        body = fetch(href)
        return await body if inspect.isawaitable(body) else body

    async def show(obj: Any, level: int) -> None:
        lines.append("  " * level + describe(obj))
        if depth is None or level < depth:
            await expand(obj, level + 1)

    async def expand(obj: Any, level: int) -> None:
        links, items = children(obj)
        for item in items:
            if item.href in seen:  # listed twice (e.g. active and all controls): no second subtree
                lines.append("  " * level + describe(item))
                continue
            seen.add(item.href)
            await show(item, level)
        for name, link in links:
            await node(link, name, level)

    async def node(link: model.Link, name: str, level: int) -> None:
        href = link.href
        pad = "  " * level
        if href in seen:
            lines.append(f"{pad}{name} {href} (see above)")
            return
        seen.add(href)
        try:
            body = await get(f"{href}?l={limit}" if isinstance(link, model.ListLink) else href)
        except FetchError as exc:
            lines.append(f"{pad}{name} {href} ({exc})")
            return
        if body is None:
            lines.append(f"{pad}{name} {href} (not found)")
            return
        try:
            obj: Any = codec.decode_bytes(body, _ROOTS)
        except codec.DecodeError as exc:
            lines.append(f"{pad}{name} {href} (undecodable: {exc})")
            return
        await show(obj, level)

    await node(model.Link(href=root), "DeviceCapability", 0)
    return lines
