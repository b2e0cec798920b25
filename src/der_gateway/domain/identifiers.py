"""mRIDs: 128 bits, the last 32 of them the creating organisation's IANA Private Enterprise Number."""

from __future__ import annotations

import secrets


def new_mrid(pen: int) -> str:
    return f"{secrets.randbits(96):024X}{pen:08X}"
