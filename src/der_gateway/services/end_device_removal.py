"""Deleting an EndDevice with everything under it: a client's DELETE /edev/{id} and the operator's
DELETE /end-devices/{id} alike."""

from __future__ import annotations

from ..config import Config
from ..store import EndDeviceRecord
from ..sep import paths
from . import resources
from .der_controls import farewell


async def delete_end_device(store, config: Config, record: EndDeviceRecord) -> None:
    """Removes the EndDevice, its DERs, log events, group memberships, grants and SubscriptionList.

    Each subscription in its SubscriptionList ends with a last Notification: status 4 (deleted) for
    one watching the EndDevice or its FunctionSetAssignmentsList, 1 for the rest.  Other clients'
    subscriptions to those two end the same way through the change log, and the clients that listed
    the EndDevice are told their EndDeviceList changed.  Call Background.changed() afterwards.
    """
    gone = {paths.edev(record.id), paths.fsa_list(record.id)}
    listed_by = await resources.end_device_audience(store, record)
    subscriptions = await store.subscriptions(record.id)
    farewells = [farewell(config, s, 4 if s.resource in gone else 1) for s in subscriptions]
    await store.delete_subscriptions([s.id for s in subscriptions], farewells)
    await store.delete_end_device(record.id, changed=[(href, 4) for href in sorted(gone)]
                                  + [resources.end_device_list_change(*listed_by)])
