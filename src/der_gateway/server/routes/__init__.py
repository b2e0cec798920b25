"""One module per function set; each exposes `routes`, an aiohttp RouteTableDef."""

from . import aggregator_api, der, discovery, end_devices, log_events, mirror_usage_points, programs, responses
from . import subscriptions, usage_points

ALL = (discovery.routes, end_devices.routes, programs.routes, der.routes, log_events.routes,
       mirror_usage_points.routes, usage_points.routes, responses.routes, subscriptions.routes,
       aggregator_api.routes)
