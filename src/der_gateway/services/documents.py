"""2030.5 documents as this deployment writes them."""

from __future__ import annotations

from typing import Any

from ..config import Config
from ..sep import codec
from .pacing import Turns


def encode(config: Config, resource: Any, comment: str | None = None) -> bytes:
    """Under csip-aus every document declares the CSIP-AUS namespace, which is how clients tell the profile
    (py20305 looks for it on /dcap)."""
    return codec.encode(resource, csipaus=config.profile == "csip-aus", comment=comment)


async def encode_paced(config: Config, resource: Any, turns: Turns | None = None) -> bytes:
    """encode(), in turns of the event loop (pacing.Turns), a long list's items written one at a time
    (sep.codec.encode_steps): one page of 100 EndDevices would otherwise hold the loop for milliseconds."""
    steps = codec.encode_steps(resource, csipaus=config.profile == "csip-aus", batch=1)
    turns = turns or Turns()
    while True:
        try:
            next(steps)
        except StopIteration as written:
            return written.value
        await turns.between()
