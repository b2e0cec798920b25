"""An EndDevice's SubscriptionList (/edev/{id}/sub): what its client wants to be notified of."""

from __future__ import annotations

from aiohttp import web

from ...sep import codec, model
from .. import paths, resources
from ..access import path_int, viewer, visible_end_device
from ..http import RESOURCE_LIMIT, Problem, created, no_content, paging, read_resource, sep_response
from ..operations import farewell
from ..state import BACKGROUND, CLIENT, CONFIG, STORE

routes = web.RouteTableDef()


def _subscription(edev_id: int, sub_id: int, data: dict) -> model.Subscription:
    subscription = codec.from_data(model.Subscription, data)
    subscription.href = paths.subscription(edev_id, sub_id)
    return subscription


@routes.get("/edev/{edev}/sub")
async def list_subscriptions(request: web.Request) -> web.Response:
    record = await visible_end_device(request)
    page = paging(request)
    subs = await request.app[STORE].subscriptions(record.id)
    shown = subs[page.start:page.start + page.limit]
    return sep_response(model.SubscriptionList(
        href=paths.subscription_list(record.id), all=len(subs), results=len(shown),
        pollRate=await viewer(request).poll_rate("sub"),
        Subscription=[_subscription(record.id, s.id, s.data) for s in shown]))


@routes.post("/edev/{edev}/sub")
async def subscribe(request: web.Request) -> web.Response:
    record = await visible_end_device(request)
    config, store, client = request.app[CONFIG], request.app[STORE], request[CLIENT]
    posted = await read_resource(request, model.Subscription)
    resource = posted.subscribedResource.split("?", 1)[0]  # the standard: ignore query parameters
    if not await resources.in_scope(viewer(request), resource):
        raise Problem(400, f"{resource} is not a subscribable resource this client can see")
    if posted.encoding != 0:
        raise Problem(400, "only encoding 0 (XML) is supported")
    if not any(posted.notificationURI.startswith(prefix) for prefix in config.notification_allow):
        raise Problem(400, f"notificationURI {posted.notificationURI} is not allowed here "
                           f"(allowed: {', '.join(config.notification_allow) or 'none'})")
    if await store.count_subscriptions(client.lfdi, record.id) >= config.max_subscriptions_per_client:
        raise Problem(400, f"this client already has {config.max_subscriptions_per_client} subscriptions "
                           "for this EndDevice, the most allowed", RESOURCE_LIMIT)
    posted.href, posted.subscribedResource = None, resource
    sub_id = await store.add_subscription(record.id, client.lfdi, resource, codec.to_data(posted))
    return created(paths.subscription(record.id, sub_id))


async def _own_subscription(request: web.Request):
    record = await visible_end_device(request)
    subscription = await request.app[STORE].subscription(path_int(request, "sub"))
    if subscription is None or subscription.end_device_id != record.id:
        raise Problem(404, f"no Subscription at {request.path}")
    return record, subscription


@routes.get("/edev/{edev}/sub/{sub}")
async def get_subscription(request: web.Request) -> web.Response:
    record, subscription = await _own_subscription(request)
    return sep_response(_subscription(record.id, subscription.id, subscription.data))


@routes.delete("/edev/{edev}/sub/{sub}")
async def unsubscribe(request: web.Request) -> web.Response:
    _, subscription = await _own_subscription(request)
    await request.app[STORE].delete_subscriptions([subscription.id], [farewell(request.app[CONFIG], subscription)])
    request.app[BACKGROUND].changed()
    return no_content()
