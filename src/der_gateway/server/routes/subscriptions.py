"""An EndDevice's SubscriptionList (/edev/{id}/sub): what its client wants to be notified of.

Under CSIP-AUS an aggregator subscribes through the list of its own EndDevice
(/edev/0/sub, see resources.aggregator_end_device), to the resources of any
EndDevice it acts for; its subscriptions there are stored with no EndDevice.
"""

from __future__ import annotations

from aiohttp import web

from ...domain.clients import aggregator_subscription_limit
from ...sep import codec, model, paths
from ...store import SubscriptionRecord
from ...services import resources
from ..access import names_aggregator_end_device, path_int, viewer, visible_end_device
from ..http import RESOURCE_LIMIT, Problem, created, no_content, paging, read_resource, sep_response
from ...services.der_controls import farewell
from ..state import BACKGROUND, CLIENT, CONFIG, STORE

routes = web.RouteTableDef()


def _subscription(edev_id: int | None, sub_id: int, data: dict) -> model.Subscription:
    subscription = codec.from_data(model.Subscription, data)
    subscription.href = paths.subscription(edev_id, sub_id)
    return subscription


async def _list_holder(request: web.Request) -> int | None:
    """The EndDevice whose SubscriptionList the path names; None: the calling aggregator's own."""
    if names_aggregator_end_device(request):
        return None
    return (await visible_end_device(request)).id


@routes.get("/edev/{edev}/sub")
async def list_subscriptions(request: web.Request) -> web.Response:
    edev_id = await _list_holder(request)
    page = paging(request)
    shown = await request.app[STORE].subscription_page(edev_id, request[CLIENT].lfdi, page.start, page.limit)
    return sep_response(model.SubscriptionList(
        href=paths.subscription_list(edev_id), all=shown.all, results=len(shown.items),
        pollRate=await viewer(request).poll_rate("sub"),
        Subscription=[_subscription(edev_id, s.id, s.data) for s in shown.items]))


async def _limit(request: web.Request, edev_id: int | None) -> int:
    """How many subscriptions the client may hold in this list."""
    per_end_device = request.app[CONFIG].max_subscriptions_per_client
    if edev_id is not None:
        return per_end_device
    acted_for = await request.app[STORE].end_devices_visible_to(request[CLIENT].lfdi, 0, 0)
    return aggregator_subscription_limit(per_end_device, acted_for.all)


@routes.post("/edev/{edev}/sub")
async def subscribe(request: web.Request) -> web.Response:
    edev_id = await _list_holder(request)
    config, store, client = request.app[CONFIG], request.app[STORE], request[CLIENT]
    if edev_id is not None and viewer(request).has_aggregator_end_device:
        own = paths.subscription_list(None)
        raise Problem(403, f"under CSIP-AUS an aggregator subscribes through its own EndDevice's "
                           f"SubscriptionList, {own}, not through those of the EndDevices it acts for")
    posted = await read_resource(request, model.Subscription)
    resource = posted.subscribedResource.split("?", 1)[0]  # the standard: ignore query parameters
    if not await resources.in_scope(viewer(request), resource):
        raise Problem(400, f"{resource} is not a subscribable resource this client can see")
    if posted.encoding != 0:
        raise Problem(400, "only encoding 0 (XML) is supported")
    if not any(posted.notificationURI.startswith(prefix) for prefix in config.notification_allow):
        raise Problem(400, f"notificationURI {posted.notificationURI} is not allowed here "
                           f"(allowed: {', '.join(config.notification_allow) or 'none'})")
    if refusal := config.notification_policy.uri_refusal(posted.notificationURI):
        raise Problem(400, f"notificationURI {posted.notificationURI} is not allowed here: {refusal}")
    limit = await _limit(request, edev_id)
    if await store.count_subscriptions(client.lfdi, edev_id) >= limit:
        raise Problem(400, f"this client already has {limit} subscriptions in this SubscriptionList, "
                           "the most allowed", RESOURCE_LIMIT)
    posted.href, posted.subscribedResource = None, resource
    sub_id = await store.add_subscription(edev_id, client.lfdi, resource, codec.to_data(posted))
    return created(paths.subscription(edev_id, sub_id))


async def _own_subscription(request: web.Request) -> tuple[int | None, SubscriptionRecord]:
    edev_id = await _list_holder(request)
    subscription = await request.app[STORE].subscription(path_int(request, "sub"))
    if (subscription is None or subscription.end_device_id != edev_id
            or (edev_id is None and subscription.client_lfdi != request[CLIENT].lfdi)):
        raise Problem(404, f"no Subscription at {request.path}")
    return edev_id, subscription


@routes.get("/edev/{edev}/sub/{sub}")
async def get_subscription(request: web.Request) -> web.Response:
    edev_id, subscription = await _own_subscription(request)
    return sep_response(_subscription(edev_id, subscription.id, subscription.data))


@routes.delete("/edev/{edev}/sub/{sub}")
async def unsubscribe(request: web.Request) -> web.Response:
    edev_id, subscription = await _own_subscription(request)
    await request.app[STORE].delete_subscriptions([subscription.id], [farewell(request.app[CONFIG], subscription)])
    request.app[BACKGROUND].changed()
    return no_content()
