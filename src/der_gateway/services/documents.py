"""2030.5 documents as this deployment writes them."""

from __future__ import annotations

import asyncio
from typing import Any

from ..config import Config
from ..sep import codec


def encode(config: Config, resource: Any, comment: str | None = None) -> bytes:
    """Under csip-aus every document declares the CSIP-AUS namespace, which is how clients tell the profile
    (py20305 looks for it on /dcap)."""
    return codec.encode(resource, csipaus=config.profile == "csip-aus", comment=comment)


async def encode_paced(config: Config, resource: Any) -> bytes:
    """encode(), letting the event loop serve others between batches of a long list's items
    (sep.codec.encode_steps): one page of 100 EndDevices would otherwise hold the loop for milliseconds."""
    steps = codec.encode_steps(resource, csipaus=config.profile == "csip-aus")
    while True:
        try:
            next(steps)
        except StopIteration as written:
            return written.value
        await asyncio.sleep(0)
