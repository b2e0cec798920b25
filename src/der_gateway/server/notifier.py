"""Turns logged changes into Notifications for the subscriptions that watch them.

Each change names a resource href (and, for a deletion, the status to send).
The subscriber's Notification carries the resource as that subscriber's client
would GET it, cut to the subscription's limit.  Changes are replaced by their
notifications in one transaction, so none is lost or sent twice.
"""

from __future__ import annotations

from ..clock import Clock
from ..config import Config
from ..domain.clients import Client
from ..sep import model
from . import paths
from .http import encode
from .resources import Viewer, render

LIST_TYPES = (model.List, model.SubscribableList)


class Notifier:
    def __init__(self, store, config: Config, clock: Clock) -> None:
        self.store = store
        self.config = config
        self.clock = clock

    async def fan_out_pending(self, batch: int = 1000) -> int:
        """Handles up to `batch` pending changes; returns how many notifications it queued."""
        changes = await self.store.pending_changes(batch)
        if not changes:
            return 0
        latest: dict[str, int] = {}
        for _, href, status in changes:
            latest[href] = max(status, latest.get(href, 0))
        queued: list[tuple[int, str, bytes]] = []
        ended: list[int] = []
        rendered: dict[tuple[str, str, int], model.Resource | None] = {}
        for href, status in latest.items():
            for sub in await self.store.subscriptions_to(href):
                subscription_href = paths.subscription(sub.end_device_id, sub.id)
                if status:
                    ended.append(sub.id)
                    note = model.Notification(subscribedResource=href, status=status,
                                              subscriptionURI=subscription_href)
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
        await self.store.fan_out([c[0] for c in changes], queued, ended)
        return len(queued)
