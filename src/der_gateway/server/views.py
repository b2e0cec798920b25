"""Stored records as 2030.5 resources, with their hrefs and links."""

from __future__ import annotations

from ..sep import model, paths
from ..store import EndDeviceRecord


def registration(record: EndDeviceRecord, poll_rate: int) -> model.Registration:
    return model.Registration(href=paths.registration(record.id), pollRate=poll_rate,
                              dateTimeRegistered=record.dateTimeRegistered, pIN=record.pIN)


def der(edev_id: int, n: int) -> model.DER:
    def link(kind: str) -> model.Link:
        return model.Link(href=paths.der_document(edev_id, n, kind))

    return model.DER(href=paths.der(edev_id, n), DERAvailabilityLink=link("dera"),
                     DERCapabilityLink=link("dercap"), DERSettingsLink=link("derg"), DERStatusLink=link("ders"))
