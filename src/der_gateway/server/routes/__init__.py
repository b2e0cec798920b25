"""One module per function set; each exposes `routes`, an aiohttp RouteTableDef."""

from . import der, discovery, end_devices, log_events, mirror_usage_points

ALL = (discovery.routes, end_devices.routes, der.routes, log_events.routes, mirror_usage_points.routes)
