"""2030.5 documents as this deployment writes them."""

from __future__ import annotations

from typing import Any

from ..config import Config
from ..sep import codec


def encode(config: Config, resource: Any, comment: str | None = None) -> bytes:
    """Under csip-aus every document declares the CSIP-AUS namespace, which is how clients tell the profile
    (py20305 looks for it on /dcap)."""
    return codec.encode(resource, csipaus=config.profile == "csip-aus", comment=comment)
