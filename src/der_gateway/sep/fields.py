"""Field markers for the resource dataclasses: XML attributes and CSIP-AUS elements."""

from __future__ import annotations

from dataclasses import MISSING, field
from typing import Any

SEP_NS = "urn:ieee:std:2030.5:ns"
CSIPAUS_NS = "https://csipaus.org/ns"


def attribute(default: Any = MISSING) -> Any:
    return field(default=default, metadata={"xml": "attribute"})


def csipaus(default: Any = MISSING, *, many: bool = False) -> Any:
    if many:
        return field(default_factory=list, metadata={"ns": CSIPAUS_NS})
    return field(default=default, metadata={"ns": CSIPAUS_NS})
