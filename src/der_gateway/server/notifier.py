"""Turns logged changes into Notifications for the subscriptions that watch them.

Each change names a resource href (and, for a deletion, the status to send).
The subscriber's Notification carries the resource as that subscriber's client
would GET it, cut to the subscription's limit.  Changes are replaced by their
notifications in one transaction, so none is lost or sent twice.

A list each client sees its own part of (the EndDeviceList) changes only for
some clients: such a change names them (its audience), and a change to an
EndDevice is a change to the EndDeviceList of every client that lists it.
Clients whose access the operator has revoked are sent nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..clock import Clock
from ..config import Config
from ..domain.clients import Client
from ..sep import model, paths
from ..services.documents import encode
from ..services.resources import Viewer, end_device_audience, render

LIST_TYPES = (model.List, model.SubscribableList)
_END_DEVICE = re.compile(r"^/edev/([0-9]+)$")


@dataclass
class _Change:
    status: int
    audience: set[str] | None  # None: every subscriber
    last: int  # the latest change id: subscriptions made after it was logged have nothing to hear

    def merge(self, status: int, audience: tuple[str, ...] | None, change_id: int) -> None:
        self.status = max(self.status, status)
        self.last = max(self.last, change_id)
        if self.audience is not None:
            self.audience = None if audience is None else self.audience | set(audience)


class Notifier:
    def __init__(self, store, config: Config, clock: Clock) -> None:
        self.store = store
        self.config = config
        self.clock = clock

    async def _by_resource(self, changes: list[tuple[int, str, int, tuple[str, ...] | None]]) -> dict[str, _Change]:
        latest: dict[str, _Change] = {}

        def note(href: str, status: int, audience: tuple[str, ...] | None, change_id: int) -> None:
            if href in latest:
                latest[href].merge(status, audience, change_id)
            else:
                latest[href] = _Change(status, set(audience) if audience is not None else None, change_id)

        for change_id, href, status, audience in changes:
            note(href, status, audience, change_id)
            m = _END_DEVICE.match(href)
            if m and not status:
                record = await self.store.end_device(int(m.group(1)))
                if record is not None:
                    note(paths.EDEV_LIST, 0, await end_device_audience(self.store, record), change_id)
        return latest

    async def fan_out_pending(self, batch: int = 1000) -> int:
        """Handles up to `batch` pending changes; returns how many notifications it queued."""
        changes = await self.store.pending_changes(batch)
        if not changes:
            return 0
        queued: list[tuple[int, str, bytes]] = []
        ended: list[int] = []
        rendered: dict[tuple[str, str, int], model.Resource | None] = {}
        revoked_clients: dict[str, bool] = {}
        for href, change in (await self._by_resource(changes)).items():
            status = change.status
            for sub in await self.store.subscriptions_to(href):
                if change.audience is not None and sub.client_lfdi not in change.audience:
                    continue
                if sub.after_change >= change.last:
                    continue
                if sub.client_lfdi not in revoked_clients:
                    revoked_clients[sub.client_lfdi] = (await self.store.client_revoked_at(sub.client_lfdi) is not None
                                                        or await self.store.aggregator_suspended(sub.client_lfdi))
                revoked = revoked_clients[sub.client_lfdi]
                subscription_href = paths.subscription(sub.end_device_id, sub.id)
                if status:
                    ended.append(sub.id)
                    if revoked:
                        continue
                    note = model.Notification(subscribedResource=href, status=status,
                                              subscriptionURI=subscription_href)
                elif revoked:
                    continue
                else:
                    limit = sub.data.get("limit", 1)
                    key = (href, sub.client_lfdi, limit)
                    if key not in rendered:
                        client = Client(sub.client_lfdi, await self.store.is_aggregator(sub.client_lfdi))
                        rendered[key] = await render(Viewer(self.store, self.config, self.clock, client), href, limit)
                    resource = rendered[key]
                    if resource is None:  # no longer visible to this client: nothing to tell
                        continue
                    if limit == 0 and not isinstance(resource, LIST_TYPES):
                        resource = None
                    note = model.Notification(subscribedResource=href, Resource=resource, status=0,
                                              subscriptionURI=subscription_href)
                queued.append((sub.id, sub.data["notificationURI"], encode(self.config, note)))
        if not await self.store.fan_out([c[0] for c in changes], queued, ended):
            return 0
        return len(queued)
