"""Who is calling, and what they may act for."""

from __future__ import annotations

from dataclasses import dataclass

from ..sep.identity import sfdi_from_lfdi


@dataclass(frozen=True)
class Client:
    """A TLS client, known by the LFDI of its certificate."""

    lfdi: str
    is_aggregator: bool = False

    @property
    def sfdi(self) -> int:
        return sfdi_from_lfdi(self.lfdi)

    def may_act_for(self, end_device_lfdi: str, owner_lfdi: str) -> bool:
        """A client acts for its own EndDevice and for those it registered."""
        return self.lfdi in (end_device_lfdi, owner_lfdi)
