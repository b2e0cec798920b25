"""Stored records as 2030.5 resources, with their hrefs and links."""

from __future__ import annotations

from ..config import Config
from ..sep import model
from ..store import EndDeviceRecord
from . import paths


def end_device(record: EndDeviceRecord, *, ders: int, log_events: int, config: Config) -> model.EndDevice:
    aus = config.profile == "csip-aus"
    return model.EndDevice(
        href=paths.edev(record.id),
        DERListLink=model.ListLink(href=paths.der_list(record.id), all=ders),
        deviceCategory=record.deviceCategory,
        lFDI=record.lFDI,
        LogEventListLink=model.ListLink(href=paths.log_event_list(record.id), all=log_events),
        sFDI=record.sFDI,
        changedTime=record.changedTime,
        enabled=record.enabled,
        FunctionSetAssignmentsListLink=model.ListLink(href=paths.fsa_list(record.id), all=0),
        postRate=record.postRate if record.postRate is not None else config.post_rate,
        RegistrationLink=model.Link(href=paths.registration(record.id)),
        ConnectionPointLink=model.Link(href=paths.connection_point(record.id)) if aus else None,
    )


def registration(record: EndDeviceRecord, config: Config) -> model.Registration:
    return model.Registration(href=paths.registration(record.id), pollRate=config.poll_rate,
                              dateTimeRegistered=record.dateTimeRegistered, pIN=record.pIN)


def der(edev_id: int, n: int) -> model.DER:
    def link(kind: str) -> model.Link:
        return model.Link(href=paths.der_document(edev_id, n, kind))

    return model.DER(href=paths.der(edev_id, n), DERAvailabilityLink=link("dera"),
                     DERCapabilityLink=link("dercap"), DERSettingsLink=link("derg"), DERStatusLink=link("ders"))
