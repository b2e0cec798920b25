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


def aggregator_subscription_limit(per_end_device: int, end_devices_acted_for: int) -> int:
    """The subscriptions an aggregator may hold in its own EndDevice's SubscriptionList (CSIP-AUS): as many
    as a client may hold per EndDevice, for itself and for each EndDevice it acts for."""
    return per_end_device * (1 + end_devices_acted_for)
