"""The bridge's notificationURI endpoint: an aiohttp listener that receives 2030.5 Notifications.

Each device subscribes with ``{base}/notify/{device name}``.  The listener
speaks plain http, or (``ssl_context``) https as 2030.5 has it: TLS 1.2 with
CCM8, the bridge's own certificate, and a client certificate required of the
server (the server's own, chaining to the same trust anchor).  A POSTed
Notification is parsed and handed to the handler with the device's name; the
handler only takes note (it schedules refetches), so the answer (204) goes back
at once and the server's delivery queue keeps moving.  Notifications for a
device this bridge does not know are acknowledged and dropped, since a 4xx would
make the server retry them for ever.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from urllib.parse import quote

from aiohttp import web

from der_gateway.sep import codec, model

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024

Handler = Callable[[str, model.Notification], bool]  # -> whether the device is known


class NotificationListener:
    def __init__(self, handler: Handler, host: str = "127.0.0.1", port: int = 0, *,
                 advertise: str | None = None, ssl_context: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.ssl_context = ssl_context  # https: 2030.5 TLS, the server presenting its certificate
        self.host = host
        self.port = port
        self.advertise = advertise.rstrip("/") if advertise else None
        self.received = 0
        self.rejected = 0
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        """What subscribers are told to POST to (``--notify-url``, else the listening address)."""
        if self.advertise:
            return self.advertise
        host = "127.0.0.1" if self.host in ("0.0.0.0", "", "::") else self.host
        host = f"[{host}]" if ":" in host else host
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{host}:{self.port}"

    def uri_for(self, device: str) -> str:
        return f"{self.base_url}/notify/{quote(device, safe='')}"

    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post("/notify/{device}", self._receive)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True, ssl_context=self.ssl_context)
        await site.start()
        # aiohttp declares _server an AbstractServer; the loop's Server it holds has the sockets
        sockets = site._server.sockets if site._server is not None else ()  # type: ignore[attr-defined]
        if sockets:
            self.port = sockets[0].getsockname()[1]

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            note = codec.decode(codec.parse_document(body, MAX_BODY), model.Notification)
        except (codec.DecodeError, ValueError) as exc:
            self.rejected += 1
            return web.Response(status=400, reason=" ".join(str(exc).split())[:200])
        self.received += 1
        device = request.match_info["device"]
        try:
            known = self.handler(device, note)
        except Exception:  # the handler's trouble is not the sender's
            log.exception("handling a notification for %s failed", device)
            known = True
        if not known:
            log.info("notification for unknown device %r about %s dropped", device, note.subscribedResource)
        return web.Response(status=204)
