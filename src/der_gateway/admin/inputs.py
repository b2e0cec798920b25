"""Operator bodies for 2030.5 resources: which fields the operator sets, and the checks beyond the schema."""

from __future__ import annotations

import re
from typing import Any, Awaitable, Callable, TypeVar

from ..domain.refusals import Conflict
from ..domain.identifiers import Pen, new_mrid
from ..sep import codec, paths
from .http import conflict, error
from ..sep.json_form import join

T = TypeVar("T")

# DERControlBase links to DERCurves, and the DERCurveType (2030.5 Table 21) each must have
CURVE_LINKS = {
    "opModFreqWatt": 0, "opModHFRTMayTrip": 1, "opModHFRTMustTrip": 2, "opModHVRTMayTrip": 3,
    "opModHVRTMomentaryCessation": 4, "opModHVRTMustTrip": 5, "opModLFRTMayTrip": 6, "opModLFRTMustTrip": 7,
    "opModLVRTMayTrip": 8, "opModLVRTMomentaryCessation": 9, "opModLVRTMustTrip": 10, "opModVoltVar": 11,
    "opModVoltWatt": 12, "opModWattPF": 13, "opModWattVar": 14,
}
_CURVE_HREF = re.compile(r"/derp/([0-9]{1,18})/dc/([0-9]{1,18})")


def operator_fields(body: dict[str, Any], cls: type, allowed: tuple[str, ...]
                    ) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """The body's fields the operator may set; errors for the rest (the server's own fields, unknown keys)."""
    known = {p.name for p in codec.plan(cls)}
    errors = [error("set by the server" if key in known else "unknown field", key)
              for key in body if key not in allowed]
    return {k: v for k, v in body.items() if k in allowed}, errors


def mrid_of(fields: dict[str, Any], pen: Pen) -> Any:
    """The operator's mRID (upper-case, so that uniqueness is case-blind) or a new one."""
    value = fields.get("mRID")
    if value is None:
        return new_mrid(pen)
    return value.upper() if isinstance(value, str) else value


async def curve_link_errors(store, program_id: int, base: Any, path: str = "DERControlBase"
                            ) -> list[dict[str, str]]:
    """Each curve link in a DERControlBase must name a DERCurve of this program, of the matching curveType."""
    if not isinstance(base, dict):
        return []
    errors = []
    for name, curve_type in CURVE_LINKS.items():
        link = base.get(name)
        href = link.get("href") if isinstance(link, dict) else None
        if not isinstance(href, str):
            continue  # absent, or a shape error reported already
        field = join(path, f"{name}.href")
        m = _CURVE_HREF.fullmatch(href)
        if not m or int(m.group(1)) != program_id:
            errors.append(error(f"must be the href of a DERCurve of this program ({paths.curve_list(program_id)}/"
                                "{id})", field))
            continue
        curve = await store.curve(program_id, int(m.group(2)))
        if curve is None:
            errors.append(error(f"no DERCurve at {href}", field))
        elif curve.get("curveType") != curve_type:
            errors.append(error(f"the DERCurve at {href} has curveType {curve.get('curveType')}; "
                                f"{name} needs curveType {curve_type}", field))
    return errors


def curve_hrefs(data: dict[str, Any]) -> set[str]:
    """The DERCurve hrefs a stored DERControl or DefaultDERControl refers to."""
    base = data.get("DERControlBase") or {}
    return {base[name]["href"] for name in CURVE_LINKS if isinstance(base.get(name), dict)}


async def unique(write: Callable[[], Awaitable[T]], what: str) -> T:
    """Runs a store write whose only possible constraint failure is a taken mRID: 409 for that."""
    try:
        return await write()
    except Conflict:
        raise conflict(f"another {what} already has this mRID", "mRID") from None

