"""SunSpec register images, built from pysunspec2's model definitions.

The image starts at Modbus address 40000 with the ``SunS`` marker, then each
model (ID, L, body) as pysunspec2 encodes it from ``sunspec2/models/json``
(``sunspec2.device.Model(model_id, data={...}).get_mb()``), then the end model
(0xFFFF, 0). Nothing here knows an offset by heart: every point's address,
size, type, access and scale factor comes from walking the pysunspec2 model.

Points are named ``(model_id, path)`` where ``path`` is the point's name,
``Group.Point`` inside a fixed group (``"PFWInj.PF"``) and ``Group[n].Point``
inside a repeating group, counted from 1 as SunSpec does
(``"Crv[2].Pt[1].V"``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import sunspec2.device as ss_device
import sunspec2.mb as ss_mb

BASE_ADDR = 40000
SUNS_MARKER = (0x5375, 0x6E53)  # "SunS"
END_MODEL = (0xFFFF, 0)

_SIGNED = {"int16", "sunssf", "int32", "int64"}
# Types whose "not implemented" value (0) is also an ordinary value.
_ZERO_IS_A_VALUE = {"pad", "acc16", "acc32", "acc64"}


@dataclass(frozen=True, slots=True)
class PointRef:
    """Where one point lives in the image, and what it is (from its pysunspec2 definition)."""

    model_id: int
    path: str
    offset: int  # registers from BASE_ADDR
    size: int  # registers
    type: str
    access: str  # "R" or "RW"
    sf: str | int | None  # the name of the scale-factor point in the same model, or a fixed SF
    symbols: frozenset[int] | None  # allowed values of an enum
    unimpl: int | str  # the "not implemented" value of the type

    @property
    def address(self) -> int:
        return BASE_ADDR + self.offset


def _to_regs(data: bytes) -> list[int]:
    if len(data) % 2:
        data += b"\0"
    return list(struct.unpack(f">{len(data) // 2}H", data))


def _from_regs(regs: Sequence[int]) -> bytes:
    return struct.pack(f">{len(regs)}H", *regs)


class RegisterImage:
    """A device's register image and the map of its points.

    ``regs[i]`` is the register at address ``BASE_ADDR + i``. The list may be
    swapped for another of the same content with :meth:`adopt` (the Modbus
    server keeps its own copy and edits it in place).
    """

    def __init__(self, models: Iterable[tuple[int, Mapping]]):
        regs: list[int] = list(SUNS_MARKER)
        self.points: dict[tuple[int, str], PointRef] = {}
        self.groups: dict[tuple[int, str], tuple[int, int]] = {}  # (offset, length) of a group instance
        self.models: dict[int, tuple[int, int]] = {}  # model id -> (offset of ID, L)
        self.model_order: list[int] = []
        for model_id, data in models:
            model = ss_device.Model(model_id, data=dict(data))
            if model.error_info:
                raise ValueError(f"model {model_id}: {model.error_info.strip()}")
            body = _to_regs(model.get_mb())
            base = len(regs)
            if body[0] != model_id or body[1] != len(body) - 2:
                raise ValueError(f"model {model_id}: pysunspec2 encoded ID/L {body[:2]} for {len(body)} registers")
            if model_id in self.models:
                raise ValueError(f"model {model_id} appears twice")
            self.models[model_id] = (base, body[1])
            self.model_order.append(model_id)
            regs.extend(body)
            self._walk(model_id, model, base, "")
        regs.extend(END_MODEL)
        self.regs: list[int] = regs
        self.size = len(regs)
        # Which point owns each register (None for the marker, the end model and pads).
        self.owner: list[PointRef | None] = [None] * self.size
        for ref in self.points.values():
            for i in range(ref.offset, ref.offset + ref.size):
                self.owner[i] = ref

    # -- building -------------------------------------------------------

    def _walk(self, model_id: int, group, base: int, prefix: str) -> None:
        for name, point in group.points.items():
            pdef = point.pdef
            ptype = pdef["type"]
            sf = pdef.get("sf")
            if sf is not None:
                try:
                    sf = int(sf)
                except ValueError:
                    pass
            symbols = None
            if pdef.get("symbols") and ptype.startswith("enum"):
                symbols = frozenset(int(s["value"]) for s in pdef["symbols"])
            unimpl = ss_mb.unimpl_value.get(ptype, 0)
            ref = PointRef(
                model_id=model_id,
                path=prefix + name,
                offset=base + point.offset,
                size=int(point.len),
                type=ptype,
                access=pdef.get("access", "R"),
                sf=sf,
                symbols=symbols,
                unimpl=unimpl,
            )
            self.points[(model_id, ref.path)] = ref
        for gname, sub in group.groups.items():
            if isinstance(sub, list):
                for index, g in enumerate(sub, start=1):
                    path = f"{prefix}{gname}[{index}]"
                    self._record_group(model_id, path, g, base)
                    self._walk(model_id, g, base, path + ".")
            else:
                path = f"{prefix}{gname}"
                self._record_group(model_id, path, sub, base)
                self._walk(model_id, sub, base, path + ".")

    def _record_group(self, model_id: int, path: str, group, base: int) -> None:
        first = min((p.offset for p in group.points.values()), default=None)
        if first is not None:
            self.groups[(model_id, path)] = (base + first, int(group.len))

    def adopt(self, registers: list[int]) -> None:
        """Make ``registers`` (a list of at least ``size`` registers) the image, copying the current content in."""
        if registers is self.regs:
            return
        if len(registers) < self.size:
            raise ValueError("register list too short for the image")
        registers[: self.size] = self.regs
        self.regs = registers

    # -- access ---------------------------------------------------------

    def ref(self, model_id: int, path: str) -> PointRef:
        try:
            return self.points[(model_id, path)]
        except KeyError:
            raise KeyError(f"no point {path!r} in model {model_id}") from None

    def has(self, model_id: int, path: str | None = None) -> bool:
        if path is None:
            return model_id in self.models
        return (model_id, path) in self.points

    def decode(self, ref: PointRef):
        """The raw value of a point (an int, or a str for strings), or None when not implemented."""
        regs = self.regs
        o = ref.offset
        size = ref.size
        if ref.type == "string":
            raw = _from_regs(regs[o : o + size])
            text = raw.split(b"\0", 1)[0].decode("utf-8", "replace")
            return text or None
        if size == 1:
            v = regs[o]
            if ref.type in _SIGNED and v & 0x8000:
                v -= 0x10000
        elif size == 2:
            v = (regs[o] << 16) | regs[o + 1]
            if ref.type in _SIGNED and v & 0x80000000:
                v -= 1 << 32
        elif size == 4:
            v = (regs[o] << 48) | (regs[o + 1] << 32) | (regs[o + 2] << 16) | regs[o + 3]
            if ref.type in _SIGNED and v & (1 << 63):
                v -= 1 << 64
        else:
            raise TypeError(f"unsupported point size {size} for {ref.path}")
        if v == ref.unimpl and ref.type not in _ZERO_IS_A_VALUE:
            return None
        return v

    def encode(self, ref: PointRef, value) -> None:
        """Store a raw value (None stores the type's "not implemented" value)."""
        regs = self.regs
        o = ref.offset
        size = ref.size
        if value is None:
            value = ref.unimpl
        if ref.type == "string":
            data = str(value).encode("utf-8")[: size * 2].ljust(size * 2, b"\0")
            regs[o : o + size] = _to_regs(data)
            return
        v = int(value)
        if size == 1:
            regs[o] = v & 0xFFFF
        elif size == 2:
            v &= 0xFFFFFFFF
            regs[o] = v >> 16
            regs[o + 1] = v & 0xFFFF
        elif size == 4:
            v &= (1 << 64) - 1
            regs[o] = v >> 48
            regs[o + 1] = (v >> 32) & 0xFFFF
            regs[o + 2] = (v >> 16) & 0xFFFF
            regs[o + 3] = v & 0xFFFF
        else:
            raise TypeError(f"unsupported point size {size} for {ref.path}")

    def get(self, model_id: int, path: str):
        return self.decode(self.ref(model_id, path))

    def set(self, model_id: int, path: str, value) -> None:
        self.encode(self.ref(model_id, path), value)

    def sf_of(self, ref: PointRef) -> int | None:
        """The scale factor that applies to a point: 0 when it has none, None when its SF point is not implemented."""
        if ref.sf is None:
            return 0
        if isinstance(ref.sf, int):
            return ref.sf
        return self.get(ref.model_id, ref.sf)

    def get_scaled(self, model_id: int, path: str) -> float | None:
        ref = self.ref(model_id, path)
        raw = self.decode(ref)
        if raw is None:
            return None
        sf = self.sf_of(ref)
        return raw * 10.0 ** sf if sf else float(raw)

    def set_scaled(self, model_id: int, path: str, value: float | None) -> None:
        ref = self.ref(model_id, path)
        if value is None:
            self.encode(ref, None)
            return
        sf = self.sf_of(ref) or 0
        self.encode(ref, round(value / 10.0**sf))

    def model_span(self, model_id: int) -> tuple[int, int]:
        """(offset of the model's ID register, number of registers including ID and L)."""
        base, length = self.models[model_id]
        return base, length + 2

    def snapshot(self) -> list[int]:
        return list(self.regs[: self.size])
